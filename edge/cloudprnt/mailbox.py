"""One printer's mailbox: a single job slot, offered, fetched and confirmed by the printer.

The printer's requests move the slot (`polled`, `fetch`, `confirm`); the transport that put
the job waits on `changed` and reads the outcome. Everything here is synchronous: one event
loop, no awaits between a request and the state it leaves.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from drivers.errors import DriverError, UnsupportedTransportError
from edge.cloudprnt.protocol import (
    SERVED,
    Confirmation,
    MediaType,
    StatusClass,
    StatusCode,
    confirmation,
    media_offer,
)
from edge.cloudprnt.registry import PrinterRecord
from edge.wakeup import Wakeup

log = logging.getLogger(__name__)


class SlotState(StrEnum):
    """Where a job put in a printer's mailbox stands."""

    WAITING = "waiting"  # not offered now (the printer is busy, in error, or has not polled)
    OFFERED = "offered"  # the last poll answer offered it (jobReady, a token)
    FETCHED = "fetched"  # the printer GOT it: from here it may be on paper
    CONFIRMED = "confirmed"  # the printer confirmed it printed (a 2xx code)
    STOPPED = "stopped"  # the printer reported an error (4xx) while it had it: maybe printed
    FAILED = "failed"  # it cannot print there (no media type left, rendering failed)
    UNKNOWN = "unknown"  # fetched, never confirmed in time (or with a code we cannot read)
    WITHDRAWN = "withdrawn"  # taken back before the printer fetched it


#: states a slot never leaves
FINAL = frozenset(
    {
        SlotState.CONFIRMED,
        SlotState.STOPPED,
        SlotState.FAILED,
        SlotState.UNKNOWN,
        SlotState.WITHDRAWN,
    }
)


class Fetch(StrEnum):
    """The answer to a GET."""

    SERVE = "serve"  # 200 with the job in the media type asked for
    NO_JOB = "no_job"  # 404
    UNSUPPORTED = "unsupported"  # 415: a media type we do not offer


class Tokens:
    """Job tokens unique per offer, and across restarts (a late confirmation of a job of the
    previous run must not confirm a new one)."""

    def __init__(self) -> None:
        self._boot = secrets.token_hex(3)
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._boot}-{next(self._count)}"


@dataclass(eq=False)
class Slot:
    """One job in a mailbox: its ESC/POS bytes, and what the printer did with it."""

    data: bytes
    width_chars: int
    put_at: float
    media: list[MediaType] = field(default_factory=lambda: list(SERVED))  # still in play
    state: SlotState = SlotState.WAITING
    token: str | None = None  # of the current offer
    tokens: set[str] = field(default_factory=set)  # of every offer of this job
    offered: list[MediaType] = field(default_factory=list)  # what the current offer listed
    fetched_media: MediaType | None = None
    fetched_at: float | None = None
    code: StatusCode | None = None  # the code that settled it
    error: DriverError | None = None  # why it failed
    rejected: list[str] = field(default_factory=list)  # "image/png: 510 …", for the error
    renders: dict[MediaType, bytes] = field(default_factory=dict)  # a GET's content, kept
    render_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def final(self) -> bool:
        return self.state in FINAL


class Mailbox:
    """The single slot of one printer (one job offered at a time) and its changes."""

    def __init__(
        self, mac: str, tokens: Callable[[], str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.mac = mac
        self.tokens = tokens
        self.clock = clock
        self.slot: Slot | None = None
        self.changed = Wakeup()
        # Media types the printer answered 510/512 to (it cannot take that kind at all): not
        # offered with its next jobs, which would each wait a poll more for the fallback.
        self.incompatible: set[MediaType] = set()

    def put(self, data: bytes, width_chars: int) -> Slot:
        """A new job, in place of whatever the slot held (taken back, as by `clear`)."""
        self.clear()
        media = [m for m in SERVED if m not in self.incompatible] or list(SERVED)
        self.slot = Slot(data, width_chars, self.clock(), media=media)
        self.changed.set()
        return self.slot

    def clear(self) -> None:
        """Take the job back: withdrawn if not fetched, unknown if fetched and unconfirmed."""
        slot, self.slot = self.slot, None
        if slot is not None and not slot.final:
            fetched = slot.state is SlotState.FETCHED
            self.settle(slot, SlotState.UNKNOWN if fetched else SlotState.WITHDRAWN)

    def settle(
        self,
        slot: Slot,
        state: SlotState,
        *,
        code: StatusCode | None = None,
        error: DriverError | None = None,
    ) -> None:
        """Put the slot in a final state."""
        slot.state, slot.code, slot.error = state, code, error
        log.debug("cloudprnt %s: job %s", self.mac, state)
        self.changed.set()

    # ---- the printer's requests -----------------------------------------------------------

    def polled(self, record: PrinterRecord) -> Slot | None:
        """A poll: the job to offer in its answer, or None. A printer error while it has the
        job stops it there; while it is only offered, the offer is withdrawn."""
        slot = self.slot
        self.changed.set()  # a poll is news for the waiting transport (status, liveness)
        if slot is None or slot.final:
            return None
        status = record.status
        if slot.state is SlotState.FETCHED:
            if status is not None and status.kind is StatusClass.PRINTER_ERROR:
                self.settle(slot, SlotState.STOPPED, code=status)
            return None
        if not record.ready:
            slot.state = SlotState.WAITING
            return None
        media = media_offer(slot.media, record.encodings)
        if not media:
            self._unsupported(slot, record.encodings)
            return None
        if slot.state is SlotState.WAITING or media != slot.offered:
            slot.token = self.tokens()
            slot.tokens.add(slot.token)
            slot.offered = media
            slot.state = SlotState.OFFERED
        return slot

    def fetch(self, token: str | None, media: MediaType | None) -> tuple[Fetch, Slot | None]:
        """A GET: serve the job (marked fetched: it may print from now on), or why not."""
        slot = self.slot
        if slot is None or slot.final or (token is not None and token not in slot.tokens):
            return Fetch.NO_JOB, None
        if slot.state is SlotState.FETCHED:  # the same GET again: the same content
            same = media in (None, slot.fetched_media)
            return (Fetch.SERVE if same else Fetch.UNSUPPORTED), slot
        offered = slot.offered or slot.media
        chosen = media if media is not None else offered[0] if offered else None
        if chosen is None or chosen not in offered:
            return Fetch.UNSUPPORTED, slot
        slot.state = SlotState.FETCHED
        slot.fetched_media = chosen
        slot.fetched_at = self.clock()
        self.changed.set()
        return Fetch.SERVE, slot

    def confirm(self, token: str | None, code: StatusCode | None) -> Confirmation | None:
        """A DELETE (or GET&delete): what its code means for the job, or None when it names
        no live job (already confirmed, of a previous run: answered 200 all the same)."""
        slot = self.slot
        if slot is None or slot.final or (token is not None and token not in slot.tokens):
            return None
        meaning = confirmation(code)
        if slot.state is not SlotState.FETCHED:
            # It never fetched this job: only "none of the offered types will do" is believed.
            if meaning is Confirmation.NEXT_MEDIA:
                for media in list(slot.offered):
                    self._reject(slot, media, code)
                self._after_rejection(slot)
            else:
                log.warning(
                    "cloudprnt %s: confirmation %s for a job it never fetched: ignored",
                    self.mac,
                    code,
                )
            return meaning
        if meaning is Confirmation.PRINTED:
            self.settle(slot, SlotState.CONFIRMED, code=code)
        elif meaning is Confirmation.PRINTER_ERROR:
            self.settle(slot, SlotState.STOPPED, code=code)
        elif meaning is Confirmation.RETRY:
            slot.state, slot.fetched_media = SlotState.WAITING, None  # not printed: again
            self.changed.set()
        elif meaning is Confirmation.NEXT_MEDIA and slot.fetched_media is not None:
            self._reject(slot, slot.fetched_media, code)
            self._after_rejection(slot)
        else:
            self.settle(slot, SlotState.UNKNOWN, code=code)
        return meaning

    # ---- media types ------------------------------------------------------------------------

    def _reject(self, slot: Slot, media: MediaType, code: StatusCode | None) -> None:
        if media in slot.media:
            slot.media.remove(media)
            slot.rejected.append(f"{media.value}: {code}")
        if code is not None and code.code[:3] in ("510", "512"):
            self.incompatible.add(media)
            log.warning("CloudPRNT printer %s does not take %s (%s)", self.mac, media, code)

    def _after_rejection(self, slot: Slot) -> None:
        if slot.media:
            slot.state, slot.fetched_media, slot.offered = SlotState.WAITING, None, []
            self.changed.set()
        else:
            self._unsupported(slot, None)

    def _unsupported(self, slot: Slot, encodings: tuple[str, ...] | None) -> None:
        if encodings is not None and not slot.rejected:
            reason = f"it takes only {', '.join(encodings)}"
        else:
            reason = f"it refused {'; '.join(slot.rejected) or 'them'}"
        served = ", ".join(media.value for media in SERVED)
        error = UnsupportedTransportError(
            f"CloudPRNT printer {self.mac} takes none of the media types we serve ({served}): "
            f"{reason}"
        )
        self.settle(slot, SlotState.FAILED, error=error)
