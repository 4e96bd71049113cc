"""Opening the cash drawers wired to printers, each opening audited and published."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from edge import audit, outbox
from edge.audit import AuditKind
from edge.db import Database, Durability
from edge.printing.drawer import DrawerUnavailableError
from edge.till.errors import TillError, TillErrorCode

log = logging.getLogger(__name__)

# How long a kick may wait for its printer (a ticket being written goes first).
KICK_DEADLINE_S = 15.0


class DrawerPrinter(Protocol):
    """What the till needs of a printer's worker."""

    async def kick_drawer(self, deadline_s: float) -> bool: ...


class CashDrawers:
    """The drawers of this box, by the name of the printer each is wired to."""

    def __init__(
        self,
        db: Database,
        printers: Mapping[str, DrawerPrinter],
        on_events: Callable[[], None],
        *,
        deadline_s: float = KICK_DEADLINE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.printers = dict(printers)
        self.on_events = on_events
        self.deadline_s = deadline_s
        self.clock = clock

    def pick(self, printer: str) -> str:
        """The drawer's printer: the one named, else the first printer with a drawer."""
        if printer:
            if printer not in self.printers:
                raise TillError(
                    TillErrorCode.NO_DRAWER, f"printer {printer!r} has no cash drawer (cash_drawer)"
                )
            return printer
        if not self.printers:
            raise TillError(
                TillErrorCode.NO_DRAWER, "no printer has a cash drawer (cash_drawer = true)"
            )
        return next(iter(self.printers))

    async def open(
        self, staff: str, reason: str, printer: str, *, sale: str | None = None
    ) -> dict[str, Any]:
        """Kick the drawer; `sale` is the cash payment it follows (None: no sale).

        Audited before the kick (a crash cannot hide an opening) and after it; the
        `drawer.opened` event goes out once the printer took the kick.
        """
        name = self.pick(printer)
        what = {"printer": name, "reason": reason, "sale": sale is not None}
        if sale is not None:
            what["payment_id"] = sale
        await self.db.write(
            lambda c: audit.record(
                c, AuditKind.DRAWER_OPENING, staff, name, what, now=self.clock()
            ),
            Durability.FULL,
        )
        try:
            realtime = await self.printers[name].kick_drawer(self.deadline_s)
        except DrawerUnavailableError as err:
            log.warning("cash drawer on %s not opened: %s", name, err)
            failed = {**what, "error": str(err)}
            await self.db.write_when_stored(
                lambda c: audit.record(
                    c,
                    AuditKind.DRAWER_OPEN_FAILED,
                    staff,
                    name,
                    failed,
                    now=self.clock(),
                ),
                Durability.FULL,
            )
            raise TillError(
                TillErrorCode.PRINTER_UNAVAILABLE, f"the drawer on {name} did not open: {err}"
            ) from err
        event = {"staff": staff, "reason": reason, "printer": name, "sale": sale is not None}
        if sale is not None:
            event["payment_id"] = sale

        def opened(conn: sqlite3.Connection) -> None:
            audit.record(conn, AuditKind.DRAWER_OPENED, staff, name, {**what, "realtime": realtime})
            outbox.add_event(conn, "drawer.opened", None, event)

        await self.db.write_when_stored(opened, Durability.FULL)
        self.on_events()
        log.info("cash drawer on %s opened by %s (%s)", name, staff, reason)
        return {"printer": name, "opened": True, "sale": sale is not None}
