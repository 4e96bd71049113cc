"""The printer worker where timing decides: cancellations, a stop and a failing disk mid-rush.

The worker runs in the test's event loop on a real SQLite file and prints to the emulator
over loopback TCP; orders and cancellations go through the real lifecycle (`apply_order`).
The moment a race needs is reached through the worker's checkpoints (the seam the daemon's
crash points go through), never by a sleep, never by patching the worker's methods.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator
from drivers.errors import ConnectionLostError
from drivers.transports.tcp import TcpTransport
from edge.db import Database, Durability
from edge.jobs import Job
from edge.orders.intake import Lifecycle, apply_order
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute
from edge.printing.checkpoints import Point
from edge.printing.render import PrinterSettings, TicketStyle, render_job
from edge.printing.worker import PrinterWorker
from tests.conftest import load_order

LIFE = Lifecycle((PrinterRoute("kitchen"),))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "edge.db") as database:
        yield database


@pytest.fixture
async def kitchen() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


def doc(n: int, **changes: Any) -> dict[str, Any]:
    d = load_order("ubereats_delivery", id=f"ord_q{n}", **changes)
    d["source"] = {**d["source"], "display_id": f"Q{n}"}
    return d


async def receive(db: Database, d: dict[str, Any]) -> None:
    payload = json.dumps(d)
    order = Order.model_validate_json(payload)
    await db.write(lambda c: apply_order(c, order, payload, LIFE), Durability.FULL)


async def cancel(db: Database, n: int) -> None:
    await receive(db, doc(n, revision=2, status="cancelled"))


async def job_states(db: Database) -> dict[tuple[str, str], tuple[str, int]]:
    def read(c: sqlite3.Connection) -> dict[tuple[str, str], tuple[str, int]]:
        rows = c.execute("SELECT order_id, ticket, state, attempts FROM jobs ORDER BY id")
        return {(r["order_id"], r["ticket"]): (r["state"], r["attempts"]) for r in rows}

    return await db.read(read)


def tickets(emu: PrinterEmulator) -> list[str]:
    """What came out, in order: `Q1`, `Q1 REPRINT`, `Q3 CANCELLED`…"""
    out = []
    for job in emu.jobs:
        [n] = re.findall(r"Uber Eats (Q\d+)", job.text)
        marks = [m for m in ("REPRINT", "CANCELLED") if m in job.text]
        out.append(" ".join([n, *marks]))
    return out


Action = Callable[[int, Sequence[Job]], Awaitable[None]]


class At:
    """Checkpoints that run the test's action at a moment: `action(n, jobs)` at its n-th pass."""

    def __init__(self, **actions: Action) -> None:
        self.actions = {Point(name): action for name, action in actions.items()}
        self.passes: Counter[Point] = Counter()

    async def reached(self, point: Point, jobs: Sequence[Job]) -> None:
        self.passes[point] += 1
        action = self.actions.get(point)
        if action is not None:
            await action(self.passes[point], jobs)


def worker(
    db: Database, emu: PrinterEmulator, at: At | None = None, **settings: Any
) -> PrinterWorker:
    printer = PrinterSettings(name="kitchen", uri=emu.uri, fault_poll_s=0.05, **settings)
    return PrinterWorker(
        printer, db, TicketStyle(timezone="Europe/Paris"), on_events=lambda: None, checkpoints=at
    )


async def run_until(w: PrinterWorker, done: Callable[[], Awaitable[bool]]) -> None:
    """Run the worker until `done()` holds after one of its database writes, then stop it."""
    changed = asyncio.Event()
    write = w.db.write

    async def noticing(*args: Any, **kw: Any) -> Any:
        result = await write(*args, **kw)
        changed.set()
        return result

    w.db.write = noticing  # type: ignore[method-assign]
    task = asyncio.create_task(w.run())
    try:
        async with asyncio.timeout(10):
            while True:
                changed.clear()  # before looking: a write meanwhile is not missed
                if await done():
                    break
                await changed.wait()
    finally:
        w.stop()
        await asyncio.gather(task, return_exceptions=True)
        w.db.write = write  # type: ignore[method-assign]


async def test_an_order_cancelled_during_the_status_check_is_not_printed(
    db: Database, kitchen: PrinterEmulator
) -> None:
    for n in (1, 2):
        await receive(db, doc(n))

    async def cancel_q2(n: int, _: Sequence[Job]) -> None:
        if n == 1:
            await cancel(db, 2)

    w = worker(db, kitchen, At(status_checked=cancel_q2))

    async def settled() -> bool:
        return (await job_states(db))[("ord_q1", "kitchen")][0] == "done"

    await run_until(w, settled)
    assert tickets(kitchen) == ["Q1"]
    assert (await job_states(db))[("ord_q2", "kitchen")] == ("cancelled", 0)


async def test_a_cancelled_order_in_the_prepared_batch_goes_back_cancelled_not_queued(
    db: Database, kitchen: PrinterEmulator
) -> None:
    """Paper runs out while the printer takes batch 1; Q3, in batch 2 (marked running while
    prepared), is cancelled then: batch 2 goes back to the queue, without Q3's ticket."""
    for n in (1, 2, 3, 4):
        await receive(db, doc(n))

    async def paper_out(_: int, __: Sequence[Job]) -> None:
        if not kitchen.faults.paper_out and kitchen.jobs == []:
            kitchen.set_fault(paper_out=True)  # while the printer takes batch 1 in

    async def cancel_q3(n: int, _: Sequence[Job]) -> None:
        if n == 2:  # the prepared batch: Q3 and Q4, running
            await cancel(db, 3)

    w = worker(db, kitchen, At(after_print=paper_out, marked_running=cancel_q3), batch_max_jobs=2)
    held = False

    async def all_done() -> bool:
        nonlocal held
        states = await job_states(db)
        if not held and states[("ord_q1", "kitchen")] == ("queued", 1):
            held = True  # batch 1 held after the fault: the paper is replaced
            kitchen.clear_faults()
        return all(state in ("done", "cancelled") for state, _ in states.values())

    await run_until(w, all_done)
    states = await job_states(db)
    assert states[("ord_q3", "kitchen")] == ("cancelled", 0), "not printed, attempts as they were"
    assert states[("ord_q4", "kitchen")] == ("done", 1)
    # Batch 1 may have printed before the paper ran out: its copies now say REPRINT. Q3's
    # cancellation ticket, queued last, still prints (Q3 counted as maybe printed then).
    assert tickets(kitchen) == ["Q1", "Q2", "Q1 REPRINT", "Q2 REPRINT", "Q4", "Q3 CANCELLED"]


async def test_a_stop_during_a_rush_finishes_the_batch_in_the_printer_only(
    db: Database, kitchen: PrinterEmulator
) -> None:
    for n in (1, 2, 3, 4):
        await receive(db, doc(n))

    async def stop(_: int, __: Sequence[Job]) -> None:
        w.stop()

    w = worker(db, kitchen, At(after_print=stop), batch_max_jobs=2)
    await asyncio.wait_for(w.run(), 10)

    assert tickets(kitchen) == ["Q1", "Q2"]
    states = await job_states(db)
    assert [states[(f"ord_q{n}", "kitchen")] for n in (1, 2, 3, 4)] == [
        ("done", 1),
        ("done", 1),
        ("queued", 0),
        ("queued", 0),
    ], "the prepared batch goes back untouched"


async def test_a_failing_disk_mid_rush_leaves_no_job_running(
    db: Database, kitchen: PrinterEmulator
) -> None:
    """Recording batch 1 done fails once: every job left running goes back to the head of the
    queue marked REPRINT, and prints again in order; none stays running."""
    for n in (1, 2, 3, 4):
        await receive(db, doc(n))
    failed = False

    async def failing_once(_: int, __: Sequence[Job]) -> None:
        nonlocal failed
        if not failed:
            failed = True
            raise sqlite3.OperationalError("disk I/O error")

    w = worker(db, kitchen, At(recording_done=failing_once), batch_max_jobs=2, retry_max_s=0.05)

    async def all_done() -> bool:
        return all(state == "done" for state, _ in (await job_states(db)).values())

    await run_until(w, all_done)
    assert failed
    # Batch 2 was in the printer when recording batch 1 failed: all four go back, in order.
    assert tickets(kitchen) == [
        *("Q1", "Q2", "Q3", "Q4"),
        *("Q1 REPRINT", "Q2 REPRINT", "Q3 REPRINT", "Q4 REPRINT"),
    ]


async def test_after_a_batch_broke_the_head_ticket_goes_out_alone_until_one_prints(
    db: Database, kitchen: PrinterEmulator
) -> None:
    """A batch that failed after bytes went out is not sent whole again: a printer that keeps
    breaking on big writes would otherwise print the same tickets over and over."""
    for n in range(1, 8):
        await receive(db, doc(n))
    failed = False
    sizes_after_failure: list[int] = []

    async def noting_failure(_: int, __: Sequence[Job]) -> None:
        nonlocal failed
        failed = True

    async def noting_batch(_: int, batch: Sequence[Job]) -> None:
        if failed:
            sizes_after_failure.append(len(batch))

    at = At(attempt_failed=noting_failure, marked_running=noting_batch)
    w = worker(db, kitchen, at, batch_max_jobs=2, retry_initial_s=0.01)
    [(job, payload)] = await db.read(_first_job)
    ticket = len(render_job(job, payload, w.printer, w.style))
    status = 9  # DLE EOT 1, 2, 4 before and after each batch
    kitchen.drop_after(status + 2 * ticket + status + ticket // 2)  # breaks inside Q3

    async def all_done() -> bool:
        return all(state == "done" for state, _ in (await job_states(db)).values())

    await run_until(w, all_done)
    assert failed
    assert sizes_after_failure[:2] == [1, 1], "Q3 alone, and Q4 prepared alone behind it"
    assert 2 in sizes_after_failure[2:], "batches again once a ticket printed"
    printed = tickets(kitchen)
    assert [t for t in printed if t.startswith(("Q1", "Q2"))] == ["Q1", "Q2"]
    assert [t for t in printed if t.startswith(("Q5", "Q6", "Q7"))] == ["Q5", "Q6", "Q7"]


def _first_job(c: sqlite3.Connection) -> list[tuple[Job, str]]:
    row = c.execute(
        "SELECT jobs.*, orders.payload AS payload FROM jobs"
        " JOIN orders ON orders.id = jobs.order_id ORDER BY jobs.id LIMIT 1"
    ).fetchone()
    return [(Job.from_row(row), row["payload"])]


async def test_a_connection_lost_after_the_bytes_left_prints_the_second_copy_marked(
    db: Database, kitchen: PrinterEmulator
) -> None:
    """Through the worker's transport seam (no private method patched): the first write
    reaches the printer, then the connection drops; the ticket may be on paper, so the
    copy printed on the next connection says REPRINT."""
    await receive(db, doc(1))
    made: list[TcpTransport] = []

    class DropsAfterFirstTicket(TcpTransport):
        async def write(self, data: bytes) -> None:
            await super().write(data)
            if len(made) == 1 and data.startswith(b"\x1b@"):  # a ticket, not a status query
                await self.wait_taken()  # the printer has every byte
                await self.close()
                raise ConnectionLostError("hung up after taking the bytes", sent=len(data))

    def transports(printer: PrinterSettings) -> TcpTransport:
        made.append(DropsAfterFirstTicket(printer.uri))
        return made[-1]

    printer = PrinterSettings(name="kitchen", uri=kitchen.uri, fault_poll_s=0.05)
    w = PrinterWorker(
        printer,
        db,
        TicketStyle(timezone="Europe/Paris"),
        on_events=lambda: None,
        transports=transports,
    )

    async def printed() -> bool:
        return (await job_states(db))[("ord_q1", "kitchen")][0] == "done"

    await run_until(w, printed)
    assert len(made) == 2, "a new connection after the lost one"
    assert tickets(kitchen) == ["Q1", "Q1 REPRINT"]
