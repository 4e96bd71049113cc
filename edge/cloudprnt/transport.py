"""The printer transport of a CloudPRNT printer: a write is one job in its mailbox.

`write` returns once the printer has confirmed the job printed; every wait has a deadline
(the printer's liveness, `job_timeout_s`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.escpos.status import PrinterStatus
from drivers.transports.base import PrinterTransport
from edge.cloudprnt.mailbox import Mailbox, Slot, SlotState
from edge.cloudprnt.protocol import StatusClass, normalise_mac, printer_status
from edge.cloudprnt.registry import Registry
from edge.printing.render import PrinterSettings

log = logging.getLogger(__name__)


def mac_of(uri: str) -> str:
    """The MAC of a `cloudprnt://00:11:62:AA:BB:CC` URI."""
    mac = normalise_mac(urlsplit(uri).netloc) if uri.startswith("cloudprnt://") else None
    if mac is None:
        raise UnsupportedTransportError(f"{uri!r} is not cloudprnt://<the printer's MAC>")
    return mac


class CloudPrntTransport(PrinterTransport):
    """One connection to a CloudPRNT printer: open while it polls; a write is one job."""

    def __init__(
        self,
        printer: PrinterSettings,
        *,
        registry: Registry,
        mailbox: Mailbox,
        job_timeout_s: float,
        server_port: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            printer.uri,
            connect_timeout=printer.connect_timeout_s,
            write_timeout=printer.write_timeout_s,
        )
        self.mac = mac_of(printer.uri)
        self.width_chars = printer.width
        self.job_timeout_s = job_timeout_s
        self._registry = registry
        self._mailbox = mailbox
        self._server_port = server_port
        self._clock = clock
        self._opened = False
        self._slot: Slot | None = None
        self._after_write: PrinterStatus | None = None  # what the printer said with its job

    async def open(self) -> None:
        """DeviceUnavailableError unless the printer polled within 2 × poll interval + 5 s."""
        if not self._registry.online(self.mac):
            record = self._registry.get(self.mac)
            last = record.last_poll_at if record is not None else None
            since = (
                f"for {self._clock() - last:.0f} s"
                if last is not None
                else "since the daemon started"
            )
            raise DeviceUnavailableError(
                f"CloudPRNT printer {self.mac} has not polled {since} (offline; its Server URL "
                f"should be http://<this box>:{self._server_port}/cloudprnt)"
            )
        self._opened = True

    @property
    def is_open(self) -> bool:
        return self._opened and self._registry.online(self.mac)

    @property
    def bytes_per_second(self) -> float | None:
        return None

    @property
    def stream_key(self) -> str:
        return f"cloudprnt://{self.mac}"

    async def write(self, data: bytes) -> None:
        """Offer `data` as one job and wait for the printer's confirmation."""
        slot = self._mailbox.put(data, self.width_chars)
        self._slot, self._after_write = slot, None
        while True:
            mark = self._mailbox.changed.mark()
            wait = self._outcome(slot, len(data))
            if wait is None:
                return
            await self._mailbox.changed.wait(mark, wait)

    def _outcome(self, slot: Slot, size: int) -> float | None:
        """None once the printer confirmed (or stopped with an error); else how long to wait
        for news before the next deadline; raises what ends the attempt."""
        state, mac, timeout = slot.state, self.mac, self.job_timeout_s
        if state in (SlotState.CONFIRMED, SlotState.STOPPED):
            said = printer_status(slot.code) if slot.code is not None else None
            self._after_write = said or self._registry.last_state(mac)
            return None
        if state is SlotState.FAILED and slot.error is not None:
            raise slot.error
        if state in (SlotState.UNKNOWN, SlotState.FAILED):
            raise ConnectionLostError(
                f"CloudPRNT printer {mac} fetched the ticket and answered "
                f"{slot.code or 'nothing we understand'}: it may have printed",
                sent=size,
            )
        if state is SlotState.WITHDRAWN:
            raise ConnectionLostError(f"the ticket for {mac} was taken back", sent=0)
        now = self._clock()
        if state is SlotState.FETCHED:
            assert slot.fetched_at is not None
            left = slot.fetched_at + timeout - now
            if left > 0:
                return left
            self._mailbox.settle(slot, SlotState.UNKNOWN)
            raise ConnectionLostError(
                f"CloudPRNT printer {mac} fetched the ticket and did not confirm it within "
                f"{timeout:g} s: it may have printed",
                sent=size,
            )
        # Waiting or offered: nothing of it can be on paper yet.
        record = self._registry.get(mac)
        status = record.status if record is not None else None
        if status is not None and status.kind is StatusClass.PRINTER_ERROR:
            self._mailbox.settle(slot, SlotState.WITHDRAWN)
            raise WriteTimeoutError(
                f"CloudPRNT printer {mac} reports {status} before it fetched the ticket", sent=0
            )
        last_poll = record.last_poll_at if record is not None else None
        offline_left = (
            last_poll + self._registry.offline_after(record) - now if last_poll is not None else 0
        )
        if offline_left <= 0:
            self._mailbox.settle(slot, SlotState.WITHDRAWN)
            raise ConnectionLostError(
                f"CloudPRNT printer {mac} stopped polling before it fetched the ticket", sent=0
            )
        fetch_left = slot.put_at + timeout - now
        if fetch_left <= 0:
            self._mailbox.settle(slot, SlotState.WITHDRAWN)
            raise WriteTimeoutError(
                f"CloudPRNT printer {mac} polls but did not fetch the ticket within {timeout:g} s",
                sent=0,
            )
        return min(offline_left, fetch_left)

    async def wait_taken(self) -> None:
        """Nothing to wait for: `write` returned on the printer's confirmation."""
        return

    async def read(self, n: int, timeout: float) -> bytes:
        """No bytes come back from a CloudPRNT printer: its status comes with its polls."""
        return b""

    async def reported_status(self) -> PrinterStatus:
        """What the printer said with the job just written, else in its last poll (or its
        confirmation); offline once it stopped polling."""
        if self._after_write is not None:
            said, self._after_write = self._after_write, None
            return said
        state = self._registry.last_state(self.mac)
        if not self._registry.online(self.mac):
            return dataclasses.replace(state, online=False)
        return state

    async def close(self) -> None:
        """Take back a job not yet fetched (one fetched and unconfirmed counts as unknown)."""
        self._opened = False
        if self._slot is not None and self._mailbox.slot is self._slot:
            self._mailbox.clear()
        self._slot = None
