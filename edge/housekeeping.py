"""Quiet-time maintenance: event retention, and giving memory back after a rush."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import sqlite3
import time
from collections.abc import Callable

from edge import audit, outbox
from edge.db import Database, Durability
from edge.errors import StorageError

log = logging.getLogger(__name__)

# Maintenance runs once the daemon has had nothing to do for this long …
QUIET_S = 5.0
# … and at least this often on a box that is never quiet.
MAX_INTERVAL_S = 600.0
# Command replies are kept to answer a repeated command id; the cloud repeats within hours.
COMMAND_RETENTION_S = 7 * 86400.0
# Rejected payloads are kept for a human to look at.
DEAD_LETTER_RETENTION_S = 30 * 86400.0
# Finished orders stay for reprints and questions this long; an order with work left never goes.
ORDER_RETENTION_S = 90 * 86400.0
# The audit log (payments, drawer openings, staff changes) outlives orders: a year of money
# questions. The database refuses to delete younger entries (migration 7's trigger).
AUDIT_RETENTION_S = audit.RETENTION_S


def _malloc_trim() -> Callable[[int], int] | None:
    try:  # the C library already loaded in this process: no search for it on disk
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def _confirmed_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'confirmed_seq'").fetchone()
    return int(row[0]) if row else 0


class Housekeeping:
    """Prunes the outbox by retention and returns freed heap to the OS after busy periods."""

    def __init__(
        self, db: Database, retention_s: float, retention_max: int, *, offline: bool = False
    ) -> None:
        self.db = db
        self.offline = offline
        self.retention_s = retention_s
        self.retention_max = retention_max
        self.activity = asyncio.Event()
        self._trim = _malloc_trim()

    def poke(self) -> None:
        """Something happened (an order, a ticket): maintenance waits for the next quiet."""
        self.activity.set()

    async def run(self) -> None:
        """Run maintenance after each busy period, until cancelled."""
        while True:
            try:
                async with asyncio.timeout(MAX_INTERVAL_S):
                    await self.activity.wait()
                    await self._quiet()
            except TimeoutError:
                pass
            try:
                await self.maintain()
            except StorageError:
                pass  # reported once by the storage health; pruning waits for the next pass
            except Exception:  # maintenance must never stop the daemon
                log.exception("housekeeping: maintenance failed")

    async def _quiet(self) -> None:
        while True:
            self.activity.clear()
            try:
                async with asyncio.timeout(QUIET_S):
                    await self.activity.wait()
            except TimeoutError:
                return

    async def maintain(self) -> None:
        """One maintenance pass."""

        def _prune(conn: sqlite3.Connection) -> int:
            now = time.time()
            conn.execute("DELETE FROM commands WHERE received_at < ?", (now - COMMAND_RETENTION_S,))
            conn.execute(
                "DELETE FROM dead_letters WHERE received_at < ?", (now - DEAD_LETTER_RETENTION_S,)
            )
            _prune_orders(conn, now - ORDER_RETENTION_S)
            audit.purge(conn, now)
            if self.offline:  # no cloud to publish to: events are a local log, kept for retention
                return outbox.prune_local(conn, self.retention_s, self.retention_max)
            return outbox.prune(conn, _confirmed_seq(conn), self.retention_s, self.retention_max)

        pruned = await self.db.write(_prune, Durability.NORMAL)
        if pruned:
            log.info("pruned %d events past retention or confirmed", pruned)
        gc.collect()
        if self._trim is not None:
            self._trim(0)


def _prune_orders(conn: sqlite3.Connection, before: float) -> None:
    """Drop orders last changed before `before` whose jobs are all finished, with their jobs."""
    old = (
        "SELECT id FROM orders o WHERE o.updated_at < ? AND NOT EXISTS ("
        " SELECT 1 FROM jobs j WHERE j.order_id = o.id AND j.state IN ('queued', 'running'))"
    )
    conn.execute(f"DELETE FROM jobs WHERE order_id IN ({old})", (before,))
    conn.execute(f"DELETE FROM pos_attempts WHERE order_id IN ({old})", (before,))
    conn.execute(f"DELETE FROM orders WHERE id IN ({old})", (before,))
    # A relayed POS event no attempt names any more (its order is gone) has told all it can.
    conn.execute(
        "DELETE FROM pos_events WHERE stored_at < ? AND (reference IS NULL OR reference NOT IN"
        " (SELECT reference FROM pos_attempts))",
        (before,),
    )
