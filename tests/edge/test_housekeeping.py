"""Quiet-time maintenance: retention pruning online and offline."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from edge import outbox
from edge.db import Database
from edge.housekeeping import Housekeeping


def _age(conn: sqlite3.Connection, seconds: float) -> None:
    conn.execute("UPDATE events SET created_at = created_at - ?", (seconds,))


async def test_online_prune_keeps_unpublished_and_drops_published_past_retention(
    tmp_path: Path,
) -> None:
    async with Database(tmp_path / "edge.db") as db:
        await db.write(lambda c: [outbox.add_event(c, "order.received", f"o{i}") for i in range(4)])
        old = time.time() - 7200

        def publish_two_long_ago(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE events SET published_at = ? WHERE seq <= 2", (old,))

        await db.write(publish_two_long_ago)
        await Housekeeping(db, retention_s=3600, retention_max=1000).maintain()
        left = await db.read(
            lambda c: [r[0] for r in c.execute("SELECT seq FROM events ORDER BY seq")]
        )
        assert left == [3, 4], "published past retention: gone; never published: kept"


async def test_offline_prune_bounds_the_local_log(tmp_path: Path) -> None:
    async with Database(tmp_path / "edge.db") as db:
        await db.write(lambda c: [outbox.add_event(c, "order.received", f"o{i}") for i in range(5)])
        await db.write(lambda c: _age(c, 7200))
        await db.write(lambda c: [outbox.add_event(c, "order.received", f"n{i}") for i in range(5)])
        await Housekeeping(db, retention_s=3600, retention_max=3, offline=True).maintain()
        left = await db.read(
            lambda c: [r[0] for r in c.execute("SELECT seq FROM events ORDER BY seq")]
        )
        assert left == [8, 9, 10]
        seq = await db.write(lambda c: outbox.add_event(c, "order.received", "later"))
        assert seq == 11, "seq keeps increasing after pruning"


async def test_old_command_replies_and_dead_letters_are_pruned(tmp_path: Path) -> None:
    async with Database(tmp_path / "edge.db") as db:
        old = time.time() - 40 * 86400

        def fill(conn: sqlite3.Connection) -> None:
            for received, name in ((old, "old"), (time.time(), "new")):
                conn.execute(
                    "INSERT INTO commands (id, name, reply, received_at)"
                    " VALUES (?, 'ping', '{}', ?)",
                    (name, received),
                )
                conn.execute(
                    "INSERT INTO dead_letters (topic, payload, reason, received_at)"
                    " VALUES (?, x'00', 'invalid', ?)",
                    (name, received),
                )

        await db.write(fill)
        await Housekeeping(db, retention_s=3600, retention_max=1000).maintain()
        commands = await db.read(lambda c: [r[0] for r in c.execute("SELECT id FROM commands")])
        letters = await db.read(
            lambda c: [r[0] for r in c.execute("SELECT topic FROM dead_letters")]
        )
        assert commands == ["new"]
        assert letters == ["new"]


async def test_finished_orders_are_pruned_after_retention_never_ones_with_work_left(
    tmp_path: Path,
) -> None:
    from edge import jobs
    from edge.housekeeping import ORDER_RETENTION_S
    from edge.jobs import JobState

    async with Database(tmp_path / "edge.db") as db:
        old = time.time() - ORDER_RETENTION_S - 86400

        def fill(conn: sqlite3.Connection) -> None:
            for order_id, updated, state in (
                ("old_done", old, "done"),
                ("old_waiting", old, "queued"),
                ("new_done", time.time(), "done"),
            ):
                conn.execute(
                    "INSERT INTO orders (id, revision, status, payload, partner, display_id,"
                    " received_at, updated_at) VALUES (?, 1, 'accepted', '{}', 'p', 'd', ?, ?)",
                    (order_id, updated, updated),
                )
                job = jobs.add_print_job(
                    conn, printer="kitchen", ticket="kitchen", order_id=order_id, revision=1
                )
                jobs.set_state(conn, job, JobState(state))

        await db.write(fill)
        await Housekeeping(db, retention_s=3600, retention_max=1000).maintain()
        left = await db.read(lambda c: sorted(r[0] for r in c.execute("SELECT id FROM orders")))
        assert left == ["new_done", "old_waiting"], "an order with a ticket still to print stays"
        job_orders = await db.read(
            lambda c: sorted(r[0] for r in c.execute("SELECT order_id FROM jobs"))
        )
        assert job_orders == ["new_done", "old_waiting"]
