"""Releases scheduled orders `release_lead_min` before `scheduled_for`, durably across restarts."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable

from edge import jobs
from edge.db import Database, Durability
from edge.errors import StorageError
from edge.jobs import JobState
from edge.orders.intake import Intake, Lifecycle, release
from edge.orders.model import Order
from edge.wakeup import Wakeup

log = logging.getLogger(__name__)

# The contract promises a release within 5 s of its time; never sleep longer than this blind.
MAX_SLEEP_S = 60.0
# After an unexpected failure, pause before trying again (within the 5 s promise on recovery).
ERROR_PAUSE_S = 2.0


class Scheduler:
    """Waits for the next release time (or a wake-up) and releases what is due."""

    def __init__(
        self, db: Database, life: Lifecycle, on_released: Callable[[Intake], None]
    ) -> None:
        self.db = db
        self.life = life
        self.on_released = on_released
        self.wake = Wakeup()

    async def run(self) -> None:
        """Release due orders until cancelled."""
        while True:
            mark = self.wake.mark()  # before looking: a release queued meanwhile wakes us
            try:
                intake = await self.db.write(self._release_due, Durability.FULL)
                if intake.printers or intake.scheduler:
                    self.on_released(intake)
                wakeup = await self.db.read(lambda c: jobs.next_wakeup(c, "release"))
            except StorageError:  # reported once by the storage health; due releases wait
                await self.db.health.wait_change(ERROR_PAUSE_S)
                continue
            except Exception:  # a bug must not stop the daemon
                log.exception("scheduler: releasing due orders failed; trying again")
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            timeout = (
                MAX_SLEEP_S if wakeup is None else min(MAX_SLEEP_S, max(wakeup - time.time(), 0))
            )
            await self.wake.wait(mark, timeout)

    def _release_due(self, conn: sqlite3.Connection) -> Intake:
        intake = Intake()
        for job in jobs.due_release_jobs(conn, time.time()):
            row = conn.execute(
                "SELECT payload, status, released FROM orders WHERE id = ?", (job.order_id,)
            ).fetchone()
            jobs.set_state(conn, job.id, JobState.DONE)
            if row is None or row["status"] != "accepted" or row["released"]:
                continue
            order = Order.model_validate_json(row["payload"])
            log.info("releasing scheduled order %s", order.id)
            release(conn, order, self.life, intake, announce=True)
            intake.scheduler = True
        return intake
