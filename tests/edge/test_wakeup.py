"""Wake-ups are never lost: one that comes while a worker looks for work wakes its next wait."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from edge.db import Database, Durability
from edge.orders.intake import Lifecycle, apply_order
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute
from edge.scheduler import MAX_SLEEP_S, Scheduler
from edge.wakeup import Wakeup
from tests.conftest import load_order

T = TypeVar("T")
LIFE = Lifecycle((PrinterRoute("kitchen"),), release_lead_s=1800.0)


async def test_a_wake_up_before_the_wait_is_kept() -> None:
    wake = Wakeup()
    mark = wake.mark()
    wake.set()  # while the worker was looking
    async with asyncio.timeout(5):
        assert await wake.wait(mark, timeout=None) is True
    assert await wake.wait(wake.mark(), timeout=0.01) is False, "nothing new since"


class LookingDatabase:
    """The scheduler's database, with `during_look` run right after its next read: what the
    rest of the daemon does while the scheduler looks for the next release time."""

    def __init__(self, db: Database, during_look: Callable[[], Awaitable[None]]) -> None:
        self.db = db
        self.health = db.health
        self.during_look: Callable[[], Awaitable[None]] | None = during_look

    async def write(
        self, fn: Callable[[sqlite3.Connection], T], durability: Durability = Durability.FULL
    ) -> T:
        return await self.db.write(fn, durability)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result = await self.db.read(fn)
        if self.during_look is not None:
            hook, self.during_look = self.during_look, None
            await hook()
        return result


def _scheduled_order() -> Order:
    doc = load_order("ubereats_delivery", id="ord_later")
    doc["scheduled_for"] = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    return Order.model_validate_json(json.dumps(doc))


async def test_a_release_queued_while_the_scheduler_looks_is_released_at_once(
    tmp_path: Path,
) -> None:
    released = asyncio.Event()
    async with Database(tmp_path / "edge.db") as db:
        scheduler: Scheduler

        async def queue_a_due_release() -> None:
            order = _scheduled_order()

            def store(conn: sqlite3.Connection) -> Any:
                apply_order(conn, order, order.model_dump_json(), LIFE)
                # due now: a release time that came while the scheduler was looking
                conn.execute(
                    "UPDATE jobs SET not_before = ? WHERE kind = 'release'", (time.time(),)
                )

            await db.write(store)
            scheduler.wake.set()  # what intake does after its commit

        looking = LookingDatabase(db, queue_a_due_release)
        scheduler = Scheduler(looking, LIFE, lambda _intake: released.set())  # type: ignore[arg-type]
        task = asyncio.create_task(scheduler.run())
        try:
            # Far less than the blind sleep the lost wake-up cost (MAX_SLEEP_S).
            async with asyncio.timeout(MAX_SLEEP_S / 6):
                await released.wait()
        finally:
            task.cancel()
        row = await db.read(
            lambda c: c.execute("SELECT released FROM orders WHERE id = 'ord_later'").fetchone()
        )
    assert row[0] == 1
