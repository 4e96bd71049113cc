"""A printer's connection and status, as its worker keeps them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from drivers.errors import DriverError
from drivers.escpos.status import PrinterStatus, StatusByteError
from drivers.realtime import NoStatusAnswer, query_status
from drivers.transports import PrinterTransport, transport_for
from edge import audit, outbox
from edge.db import Database, Durability
from edge.printing import answering
from edge.printing.drawer import DrawerWatch
from edge.printing.failures import FailureKind
from edge.printing.render import PrinterSettings

log = logging.getLogger(__name__)

# A clean status read on the same open connection this recently (typically the check after
# the previous ticket) is the pre-job check of the next one.
FRESH_STATUS_S = 0.25


#: Makes the transport of a printer for one connection: the seam where tests (and new kinds
#: of printers) put their own transport instead of the URI's.
TransportFactory = Callable[[PrinterSettings], PrinterTransport]


def transport_of(printer: PrinterSettings) -> PrinterTransport:
    """The transport the printer's URI names, with its deadlines (the default factory)."""
    return transport_for(
        printer.uri,
        connect_timeout=printer.connect_timeout_s,
        write_timeout=printer.write_timeout_s,
    )


class PrinterLink:
    """The connection to one printer and what it last said; `printer.status` on change.

    Its worker owns it: one task uses the connection at a time.
    """

    def __init__(
        self,
        printer: PrinterSettings,
        db: Database,
        on_events: Callable[[], None],
        transports: TransportFactory | None = None,
    ) -> None:
        self.printer = printer
        self.db = db
        self.on_events = on_events
        self.transports = transports or transport_of
        self.status: PrinterStatus | None = None
        self.online: bool | None = None
        self.answers_status = True
        self.last_error: str | None = None
        self.transport: PrinterTransport | None = None
        self._answered_at: float | None = None  # when a status answer was last understood
        self._clean_at: float | None = None  # monotonic time of the last clean status read
        # Whether the database remembers this printer (at this URI) answering status
        # requests; None until read. It makes a stalled printer met at start-up a stall.
        self._remembered: bool | None = None
        self._announced_answers = True  # what the last printer.status said of it
        drawer = printer.drawer
        self.drawer_watch = DrawerWatch(drawer) if drawer is not None else None

    def snapshot(self) -> dict[str, Any]:
        """What `status` reports for this printer."""
        s = self.status
        return {
            "name": self.printer.name,
            "uri": self.printer.uri,
            "online": self.online,
            "paper": s.paper if s else None,
            "cover_open": s.cover_open if s else None,
            "answers_status": self.answers_status,
            "last_error": self.last_error,
            **({"drawer_open": s.drawer_open if s else None} if self.drawer_watch else {}),
        }

    def fresh_clean_status(self) -> bool:
        """A clean status read on this very connection moments ago stands for the pre-job check."""
        return (
            self.transport is not None
            and self.transport.is_open
            and self._clean_at is not None
            and time.monotonic() - self._clean_at < FRESH_STATUS_S
        )

    async def connected_status(self) -> FailureKind | None:
        await self.connect()
        return await self.check_status()

    async def connect(self) -> None:
        if self.transport is not None and self.transport.is_open:
            return
        self.transport = self.transports(self.printer)
        try:
            await self.transport.open()
        except DriverError:
            self.transport = None
            await self.set_status(online=False, status=None, error=FailureKind.UNREACHABLE)
            raise
        self.answers_status = self.transport.bidirectional

    async def disconnect(self) -> None:
        self._clean_at = None
        transport, self.transport = self.transport, None
        if transport is not None:
            await transport.close()

    async def check_status(self, *, after_job: bool = False) -> FailureKind | None:
        """The fault that forbids printing now, or None (also when the printer cannot say).

        After a job the answer also tells that the printer took every byte of it, so it may
        take as long as a write.
        """
        transport = self.transport
        if transport is not None and not self.answers_status and after_job:
            # All it can tell: it took every byte (the peer acknowledged them, the line drained).
            await transport.wait_taken()
        if transport is None or not self.answers_status:
            if self.online is not True:
                await self.set_status(online=True, status=None, error=None)
            return None
        await self._recall()
        try:
            # A printer that reports its state by itself (CloudPRNT) is not asked.
            status = await transport.reported_status()
            if status is None:
                status = await query_status(
                    transport,
                    self.printer.status_timeout_s,
                    first_timeout=self.printer.write_timeout_s if after_job else None,
                    drawer_open_high=self.printer.drawer.open_high if self.printer.drawer else None,
                )
        except NoStatusAnswer:
            if after_job or self._answered_recently():
                log.warning("printer %s answers status no more: stalled or busy", self.printer.name)
                # Stalled, or busy with another sender (a port-9100 printer serves one
                # connection at a time): jobs wait, as for a fault.
                await self.set_status(online=False, status=None, error=FailureKind.NOT_RESPONDING)
                return FailureKind.NOT_RESPONDING
            log.info(
                "printer %s does not answer status requests; printing blind", self.printer.name
            )
            self.answers_status = False
            await self._remember(answers=False)
            await self.set_status(online=True, status=None, error=None)
            return None
        except StatusByteError as err:
            log.warning(
                "printer %s answered garbage to a status request: %s", self.printer.name, err
            )
            await self.set_status(online=True, status=None, error="garbled_status")
            return None
        self._answered_at = time.time()
        await self._remember(answers=True)
        self._clean_at = time.monotonic() if status.fault is None else None
        fault = FailureKind.of_fault(status.fault) if status.fault is not None else None
        await self.set_status(online=status.online, status=status, error=fault)
        return fault

    async def _recall(self) -> None:
        """Read once whether this printer is known to answer: if so, silence at start-up is
        a stall (tickets wait) until `silent_after_s`, not a model that cannot answer."""
        if self._remembered is not None:
            return
        self._remembered = await self.db.read(
            lambda c: answering.remembered(c, self.printer.name, self.printer.uri)
        )
        if self._remembered and self._answered_at is None:
            self._answered_at = time.time()

    async def _remember(self, *, answers: bool) -> None:
        if self._remembered is answers:
            return
        await self.db.write(
            lambda c: answering.remember(c, self.printer.name, self.printer.uri, answers),
            Durability.NORMAL,
        )
        self._remembered = answers

    def _answered_recently(self) -> bool:
        """Whether silence now means a stall rather than a model that never answers."""
        return (
            self._answered_at is not None
            and time.time() - self._answered_at < self.printer.silent_after_s
        )

    async def set_status(
        self, *, online: bool, status: PrinterStatus | None, error: str | None
    ) -> None:
        changed = (
            online != self.online
            or (status is not None and (self.status is None or status != self.status))
            or self.answers_status != self._announced_answers
        )
        self.online = online
        self._announced_answers = self.answers_status
        if status is not None:
            self.status = status
        self.last_error = error
        left_open_s = (
            self.drawer_watch.observe(status.drawer_open)
            if self.drawer_watch is not None and status is not None
            else None
        )
        if not changed and left_open_s is None:
            return
        s = self.status
        data = {
            "printer": self.printer.name,
            "online": online,
            "paper": s.paper if s else None,
            "cover_open": s.cover_open if s else None,
            "error": error,
            # ours: false for a printer printed blind (it answers no status request)
            "answers_status": self.answers_status,
            # ours, for a printer with a cash drawer: its sensor (None: not read)
            **({"drawer_open": s.drawer_open if s else None} if self.drawer_watch else {}),
        }
        await self.db.write(
            lambda c: self._record_status(c, data if changed else None, left_open_s),
            Durability.NORMAL,
        )
        self.on_events()

    def _record_status(
        self, conn: Any, data: dict[str, Any] | None, left_open_s: float | None
    ) -> None:
        if data is not None:
            outbox.add_event(conn, "printer.status", None, data)
        if left_open_s is not None:
            minutes = round(left_open_s / 60.0, 2)
            log.warning("printer %s: cash drawer open for %.1f min", self.printer.name, minutes)
            left = {"printer": self.printer.name, "open_min": minutes}
            outbox.add_event(conn, "drawer.left_open", None, left)
            audit.record(
                conn, audit.AuditKind.DRAWER_LEFT_OPEN, audit.SYSTEM, self.printer.name, left
            )
