"""A misbehaving printer, end to end: what reaches the paper, the broker and SQLite.

The daemon runs as a child process against a real mosquitto and a printer emulator on
loopback TCP; every wait is on an event, a printed job or an emulator condition.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator, RecordedJob
from edge.config import load_config
from edge.jobs import Job
from edge.printing.render import PrinterSettings, TicketStyle, render_job
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import Event, FakeCloud
from tests.support.edge_process import EdgeProcess, write_config

ORDER_ID = "ord_ue_0001"  # the ubereats_delivery fixture
REPRINT = "REPRINT"


@pytest.fixture
async def kitchen() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


def start_edge(
    tmp_path: Path,
    broker: Broker,
    emu: PrinterEmulator,
    procs: list[EdgeProcess],
    **printer: Any,
) -> EdgeProcess:
    """The daemon with one printer, `kitchen`, served by `emu`; `printer` overrides its keys."""
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": emu.uri, **printer}],
    )
    proc = EdgeProcess(config).start()
    procs.append(proc)
    return proc


def order(n: int) -> dict[str, Any]:
    """A distinct small order, numbered so its ticket says `Uber Eats Q<n>`."""
    doc = load_order("ubereats_delivery", id=f"ord_q{n}")
    doc["source"] = {**doc["source"], "display_id": f"Q{n}"}
    return doc


def catering_order() -> dict[str, Any]:
    """The catering fixture grown to 200 lines with notes: a ticket far above socket buffers."""
    doc = load_order("large_catering_order")
    lines = []
    for n, item in zip(range(1, 201), itertools.cycle(doc["items"]), strict=False):
        lines.append(
            {
                **item,
                "id": f"l{n}",
                "name": f"Plat {n:03d} {item['name']}",
                "notes": "bien cuit, sauce à part, sans sel ajouté, pas de coriandre; " * 5,
            }
        )
    doc["items"] = lines
    return doc


def complete(emu: PrinterEmulator) -> list[RecordedJob]:
    """Jobs that reached their cut."""
    return [job for job in emu.jobs if job.complete]


def seq(event: Event) -> int:
    value: int = event["seq"]
    return value


def job_rows(proc: EdgeProcess) -> list[dict[str, Any]]:
    """The print jobs in SQLite, oldest first."""
    with proc.db() as db:
        rows = db.execute("SELECT * FROM jobs WHERE kind = 'print' ORDER BY id").fetchall()
    return [dict(row) for row in rows]


def assert_whole_ticket(job: RecordedJob, display_id: str) -> None:
    assert job.complete, "the job reached its cut"
    assert job.raw.startswith(b"\x1b@\x1bt\x10"), "ESC @ then ESC t 16 before anything else"
    assert job.decoded.cut
    assert f"Uber Eats {display_id}" in job.text


# ---- 1. unreachable ---------------------------------------------------------------------


async def test_refused_connection_retries_and_prints_once_unmarked(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", online=True)  # first known, at start-up
    kitchen.refuse()

    await cloud.send_order(load_order("ubereats_delivery"))
    [failed, *_] = await cloud.wait_event("print.failed", order_id=ORDER_ID)
    assert failed["data"]["printer"] == "kitchen"
    assert failed["data"]["will_retry"] is True
    assert failed["data"]["reason"] == "unreachable"
    [down] = await cloud.wait_event("printer.status", online=False)
    assert down["data"]["printer"] == "kitchen"
    assert kitchen.jobs == []

    await kitchen.accept()
    [printed] = await cloud.wait_event("order.printed", order_id=ORDER_ID)
    assert printed["data"]["reprint"] is False, "nothing was sent before: no REPRINT"
    up = (await cloud.wait_event("printer.status", count=2, online=True))[-1]
    assert seq(down) < seq(up) < seq(printed)
    assert all(seq(e) < seq(printed) for e in cloud.of_type("print.failed"))

    [job] = kitchen.jobs
    assert_whole_ticket(job, "A1B2C")
    assert REPRINT not in job.text
    [row] = job_rows(proc)
    assert row["state"] == "done"
    assert row["reprint"] == 0


# ---- 2. faults reported by DLE EOT ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason", "reported"),
    [
        ({"paper_out": True}, "paper_out", {"paper": "out"}),
        ({"cover_open": True}, "cover_open", {"cover_open": True}),
        ({"offline": True}, "offline", {"paper": "ok", "cover_open": False}),
    ],
    ids=["paper-out", "cover-open", "offline"],
)
async def test_fault_holds_the_ticket_until_cleared(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes,
    fault: dict[str, bool],
    reason: str,
    reported: dict[str, Any],
) -> None:
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", online=True)  # first known, at start-up
    kitchen.set_fault(**fault)

    await cloud.send_order(load_order("ubereats_delivery"))
    [stopped] = await cloud.wait_event("printer.status", online=False, **reported)
    assert stopped["data"]["error"] == reason
    [failed] = await cloud.wait_event("print.failed", order_id=ORDER_ID)
    assert failed["data"]["reason"] == reason
    assert failed["data"]["will_retry"] is True

    # Let the daemon poll the stopped printer a few more times: still nothing is sent.
    polled = kitchen.status_requests
    await kitchen.wait_until(
        lambda: kitchen.status_requests >= polled + 9, what="three more status polls"
    )
    assert kitchen.jobs == []
    assert kitchen.held_bytes == 0, "no ticket byte is sent to a stopped printer"
    [row] = job_rows(proc)
    assert row["state"] == "queued"
    assert row["attempts"] == 0, "a fault holds the job without burning attempts"

    kitchen.clear_faults()
    [printed] = await cloud.wait_event("order.printed", order_id=ORDER_ID)
    assert printed["data"]["reprint"] is False
    ok = (await cloud.wait_event("printer.status", count=2, online=True))[-1]
    assert ok["data"]["paper"] == "ok"
    assert ok["data"]["cover_open"] is False
    assert ok["data"]["error"] is None
    assert seq(stopped) < seq(failed) < seq(ok) < seq(printed)
    # Events arrive in seq order: every print.failed is in by now. One per fault, not per poll.
    assert cloud.of_type("print.failed") == [failed]

    [job] = kitchen.jobs
    assert_whole_ticket(job, "A1B2C")
    assert REPRINT not in job.text


# ---- 3. stalled mid-job ----------------------------------------------------------------------


async def test_stall_mid_job_times_out_and_the_retry_says_reprint(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    proc = start_edge(tmp_path, broker, kitchen, edge_processes, write_timeout_s=0.5)
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", online=True)  # the start-up status check
    polled = kitchen.status_requests
    big = catering_order()

    await cloud.send_order(big)
    # The printer answers the status check before the job, then stops reading.
    await kitchen.wait_until(
        lambda: kitchen.status_requests >= polled + 3, what="the status check before the job"
    )
    kitchen.stall()
    [failed] = await cloud.wait_event("print.failed", order_id=big["id"], reason="write_timeout")
    assert failed["data"]["will_retry"] is True

    # Still stalled, the printer answers nothing: the job waits instead of going out blind.
    [stalled] = await cloud.wait_event("printer.status", online=False, error="not_responding")
    await kitchen.wait_until(lambda: kitchen.connections >= 5, what="three more polls")
    assert complete(kitchen) == []
    [row] = job_rows(proc)
    assert (row["state"], row["reprint"], row["attempts"]) == ("queued", 1, 1)

    kitchen.resume()
    [printed] = await cloud.wait_event("order.printed", order_id=big["id"])
    assert printed["data"]["reprint"] is True, "part of the ticket reached the printer"
    back = (await cloud.wait_event("printer.status", online=True, count=2))[-1]
    assert seq(failed) < seq(stalled) < seq(back) < seq(printed)
    reasons = [e["data"]["reason"] for e in cloud.of_type("print.failed")]
    assert reasons == ["write_timeout", "not_responding"], "one event per cause, not per poll"

    jobs = complete(kitchen)
    unmarked = [job for job in jobs if REPRINT not in job.text]
    assert len(unmarked) <= 1, "beyond `copies`, no ticket prints again unmarked"
    assert all(REPRINT in job.text for job in jobs[1:]), "every copy after the first says REPRINT"
    last = jobs[-1]
    assert REPRINT in last.text
    assert_whole_ticket(last, "Z9Y8X")
    for n in range(1, 201):
        assert f"Plat {n:03d}" in last.text, f"line {n} is on the ticket"

    [row] = job_rows(proc)
    assert (row["state"], row["reprint"], row["attempts"]) == ("done", 1, 2)


async def test_restarted_into_a_stalled_printer_the_tickets_wait_and_nothing_is_announced(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    """A printer seen answering status requests, stalled while the daemon was down, is a
    stalled printer after the restart, not a model that never answers: no blind printing and
    no `order.printed` for tickets it never took."""
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")
    await cloud.send_order(order(1))
    await cloud.wait_event("order.printed", order_id="ord_q1")
    assert proc.terminate() == 0
    kitchen.stall()  # accepts connections, reads nothing, answers nothing

    proc.start()
    for n in (2, 3, 4):
        await cloud.send_order(order(n))
    await cloud.wait_event("print.failed", order_id="ord_q2", reason="not_responding")
    await kitchen.wait_until(lambda: kitchen.connections >= 1, what="the daemon asking again")
    assert cloud.of_type("order.printed") == cloud.of_type("order.printed", order_id="ord_q1")
    assert [row["state"] for row in job_rows(proc)] == ["done", "queued", "queued", "queued"]
    assert "printing blind" not in proc.log()

    kitchen.resume()
    for n in (2, 3, 4):
        [printed] = await cloud.wait_event("order.printed", order_id=f"ord_q{n}")
        assert printed["data"]["reprint"] is False, "nothing of it had gone out"
    tickets = complete(kitchen)
    assert [t.text.count("Uber Eats Q") for t in tickets] == [1, 1, 1, 1]
    assert all(REPRINT not in t.text for t in tickets)


# ---- 4. connection dropped mid-job ------------------------------------------------------------


async def test_dropped_connection_mid_job_reprints_complete(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")
    # The status check before the job sends 3 requests of 3 bytes; drop 200 bytes into the job.
    kitchen.drop_after(9 + 200)

    await cloud.send_order(load_order("ubereats_delivery"))
    [printed] = await cloud.wait_event("order.printed", order_id=ORDER_ID)
    assert printed["data"]["reprint"] is True
    [failed, *_] = cloud.of_type("print.failed", order_id=ORDER_ID)
    assert failed["data"]["will_retry"] is True
    assert seq(failed) < seq(printed)

    jobs = await kitchen.wait_for_jobs(2, include_incomplete=True)
    partial, reprint = jobs
    assert not partial.complete
    assert 0 < len(partial.raw) <= 200
    assert_whole_ticket(reprint, "A1B2C")
    assert REPRINT in reprint.text
    assert len(complete(kitchen)) == 1

    [row] = job_rows(proc)
    assert row["state"] == "done"
    assert row["reprint"] == 1


# ---- 5 and 6. status answers that cannot be trusted ---------------------------------------


async def test_printer_that_never_answers_status_prints_blind(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    kitchen.status_mode = "silent"
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")

    for n in (1, 2):
        await cloud.send_order(order(n))
        [printed] = await cloud.wait_event("order.printed", order_id=f"ord_q{n}")
        assert printed["data"]["reprint"] is False

    first, second = kitchen.jobs
    assert_whole_ticket(first, "Q1")
    assert_whole_ticket(second, "Q2")
    assert all(REPRINT not in job.text for job in kitchen.jobs)
    assert kitchen.status_requests > 0, "the daemon did ask"
    assert cloud.of_type("print.failed") == []
    [status] = cloud.of_type("printer.status")
    assert status["data"]["online"] is True
    assert [row["state"] for row in job_rows(proc)] == ["done", "done"]


async def test_printer_answering_garbage_to_status_still_prints(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    kitchen.status_mode = "garbage"
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")

    for n in (1, 2):
        await cloud.send_order(order(n))
        await cloud.wait_event("order.printed", order_id=f"ord_q{n}")

    first, second = kitchen.jobs
    assert_whole_ticket(first, "Q1")
    assert_whole_ticket(second, "Q2")
    assert all(REPRINT not in job.text for job in kitchen.jobs)
    assert cloud.of_type("print.failed") == []
    [status, *_] = cloud.of_type("printer.status")
    assert status["data"]["error"] == "garbled_status"
    assert "garbage" in proc.log()
    assert proc.proc is not None
    assert proc.proc.poll() is None, "the daemon is still running"
    # and still answers the cloud
    await cloud.send_command({"id": "cmd_alive", "name": "ping"})
    await cloud.wait_message("/out/replies")


# ---- 7. a queue built up while the printer was down ------------------------------------------


@pytest.mark.parametrize("down", ["unreachable", "paper_out"])
async def test_orders_queued_while_down_print_in_order_once(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes,
    down: str,
) -> None:
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")
    if down == "unreachable":
        kitchen.refuse()
    else:
        kitchen.set_fault(paper_out=True)

    numbers = range(1, 6)
    for n in numbers:
        await cloud.send_order(order(n))
    for n in numbers:
        await cloud.wait_event("order.received", order_id=f"ord_q{n}")
    # Let the daemon try the printer a few times while every job is queued.
    if down == "unreachable":
        await cloud.wait_event("print.failed", reason=down, count=3)
    else:
        await cloud.wait_event("print.failed", reason=down)
        polled = kitchen.status_requests
        await kitchen.wait_until(lambda: kitchen.status_requests >= polled + 9, what="polls")
    assert kitchen.jobs == []
    assert kitchen.held_bytes == 0

    if down == "unreachable":
        await kitchen.accept()
    else:
        kitchen.clear_faults()
    printed = await cloud.wait_event("order.printed", count=len(numbers))
    assert [e["order_id"] for e in printed] == [f"ord_q{n}" for n in numbers]
    assert all(e["data"]["reprint"] is False for e in printed)

    tickets = await kitchen.wait_for_jobs(len(numbers))
    assert len(kitchen.jobs) == len(numbers), "each ticket exactly once"
    for n, job in zip(numbers, tickets, strict=True):
        assert_whole_ticket(job, f"Q{n}")
        assert REPRINT not in job.text
    rows = job_rows(proc)
    assert [row["state"] for row in rows] == ["done"] * len(numbers)
    # Rendered ahead while the printer was away: the very bytes of a rendering now.
    config = load_config(proc.config)
    style = TicketStyle(locale=config.store.locale, timezone=config.store.timezone)
    printer = PrinterSettings(name="kitchen", uri=kitchen.uri)
    with proc.db() as db:
        for row, job in zip(rows, tickets, strict=True):
            [payload] = db.execute("SELECT payload FROM orders WHERE id = ?", (row["order_id"],))
            fresh = render_job(Job.from_row(row), payload[0], printer, style)
            assert job.raw == fresh


async def test_a_rush_dropped_mid_write_reprints_only_what_may_have_printed(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    """Queued tickets go out in one write; after a drop part-way no ticket prints twice unmarked."""
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", online=True)
    kitchen.refuse()
    numbers = range(1, 7)
    for n in numbers:
        await cloud.send_order(order(n))
    for n in numbers:
        await cloud.wait_event("order.received", order_id=f"ord_q{n}")
    await cloud.wait_event("print.failed", reason="unreachable")

    one_ticket = 9 + 560  # status requests, then about one ticket's bytes
    kitchen.drop_after(int(2.5 * one_ticket))  # the rush's connection breaks in ticket 3
    await kitchen.accept()
    printed = await cloud.wait_event("order.printed", count=len(numbers))
    assert sorted(e["order_id"] for e in printed) == [f"ord_q{n}" for n in numbers]

    by_ticket: dict[int, list[RecordedJob]] = {n: [] for n in numbers}
    for job in complete(kitchen):
        [n] = [n for n in numbers if f"Uber Eats Q{n}" in job.text]
        by_ticket[n].append(job)
    for n, copies in by_ticket.items():
        assert copies, f"ticket Q{n} printed"
        unmarked = [c for c in copies if REPRINT not in c.text]
        assert len(unmarked) <= 1, f"ticket Q{n}: never two unmarked copies"
    # TCP cannot tell how much of a write the printer took before the drop: every ticket of
    # the broken rush may have printed, so every further copy says REPRINT.
    reprinted = {e["order_id"] for e in printed if e["data"]["reprint"]}
    assert reprinted, "the tickets of the broken write say REPRINT"
    assert [row["state"] for row in job_rows(proc)] == ["done"] * len(numbers)


async def test_printer_answering_status_late_is_still_believed(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    """Answers that come late, within the status deadline, still hold jobs on a fault."""
    kitchen.status_mode = "late"
    kitchen.status_delay_s = 0.2  # the test config waits 0.5 s for an answer
    start_edge(tmp_path, broker, kitchen, edge_processes, status_interval_s=0.3)
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", online=True)

    kitchen.set_fault(cover_open=True)
    # the idle check reads the late answer
    await cloud.wait_event("printer.status", online=False, cover_open=True)
    await cloud.send_order(order(1))
    [failed] = await cloud.wait_event("print.failed", order_id="ord_q1")
    assert failed["data"]["reason"] == "cover_open"
    assert kitchen.jobs == []
    assert kitchen.held_bytes == 0

    kitchen.clear_faults()
    [printed] = await cloud.wait_event("order.printed", order_id="ord_q1")
    assert printed["data"]["reprint"] is False
    [job] = await kitchen.wait_for_jobs(1)
    assert REPRINT not in job.text


# ---- a rush in several batches ------------------------------------------------------------


def copies_by_ticket(emu: PrinterEmulator, numbers: range) -> dict[int, list[RecordedJob]]:
    """The complete tickets the printer holds, by order number, in the order they came."""
    by_ticket: dict[int, list[RecordedJob]] = {n: [] for n in numbers}
    for job in complete(emu):
        [n] = [n for n in numbers if f"Uber Eats Q{n}" in job.text]
        by_ticket[n].append(job)
    return by_ticket


async def test_a_rush_broken_in_its_second_batch_keeps_the_first_and_third_unmarked(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    """Batches of two: the first, confirmed by the printer, never prints again; the third,
    prepared while the printer took the second in, goes back to the queue as it was."""
    proc = start_edge(tmp_path, broker, kitchen, edge_processes, batch_max_jobs=2)
    await cloud.wait_event("edge.connected")
    await cloud.send_order(order(0))
    [warm_up] = await kitchen.wait_for_jobs(1)
    ticket = len(warm_up.raw)  # Q0 … Q6 tickets are the same length
    await cloud.wait_event("order.printed", order_id="ord_q0")
    kitchen.refuse()
    kitchen.drop_now()  # also the connection kept open for the next ticket of a rush
    numbers = range(1, 7)
    for n in numbers:
        await cloud.send_order(order(n))
    for n in numbers:
        await cloud.wait_event("order.received", order_id=f"ord_q{n}")
    await cloud.wait_event("print.failed", reason="unreachable", order_id="ord_q1")

    status = 9  # DLE EOT 1, 2, 4 before and after each batch
    kitchen.drop_after(status + 2 * ticket + status + ticket // 2)  # breaks inside Q3
    kitchen.jobs.clear()
    await kitchen.accept()
    printed = await cloud.wait_event("order.printed", count=len(numbers) + 1)
    reprint = {e["order_id"]: e["data"]["reprint"] for e in printed if e["order_id"] != "ord_q0"}
    assert sorted(reprint) == [f"ord_q{n}" for n in numbers]

    by_ticket = copies_by_ticket(kitchen, numbers)
    for n in (1, 2, 5, 6):
        [only] = by_ticket[n]
        assert REPRINT not in only.text, f"Q{n} printed once, unmarked"
        assert reprint[f"ord_q{n}"] is False
    assert REPRINT in by_ticket[3][-1].text, "Q3 was cut short: its copy after says REPRINT"
    for n in (3, 4):
        assert by_ticket[n], f"Q{n} printed"
        assert sum(REPRINT not in c.text for c in by_ticket[n]) <= 1
    rows = job_rows(proc)[1:]
    assert [row["state"] for row in rows] == ["done"] * len(numbers)
    attempts = {row["order_id"]: row["attempts"] for row in rows}
    # Q5 and Q6 were never written before the break: one attempt each, when they printed.
    assert attempts["ord_q5"] == attempts["ord_q6"] == 1


async def test_a_ticket_that_cannot_be_rendered_fails_alone_and_the_daemon_keeps_printing(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    """An order the ticket code trips on (here a stored order damaged on disk while the
    daemon was stopped), taken in while the printer is away and rendered ahead, then again at
    its turn: that job fails, the others print."""
    proc = start_edge(tmp_path, broker, kitchen, edge_processes)
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", online=True)
    kitchen.refuse()
    await cloud.send_order(order(1))
    await cloud.send_order(order(2))
    await cloud.wait_event("order.received", order_id="ord_q2")
    await cloud.wait_event("print.failed", reason="unreachable")
    assert proc.terminate() == 0
    with proc.db() as db:
        db.execute("UPDATE orders SET payload = '{\"items\": 12' WHERE id = 'ord_q1'")
        db.commit()

    proc.start()
    await cloud.wait_event("edge.connected", count=2)
    await kitchen.accept()
    [failed] = await cloud.wait_event("print.failed", order_id="ord_q1", reason="unprintable")
    assert failed["data"]["will_retry"] is False
    assert "Invalid JSON" in failed["data"]["detail"]
    await cloud.wait_event("order.printed", order_id="ord_q2")
    [only] = await kitchen.wait_for_jobs(1)
    assert_whole_ticket(only, "Q2")
    assert proc.proc is not None
    assert proc.proc.poll() is None, "the daemon is still running"
    assert [row["state"] for row in job_rows(proc)] == ["failed", "done"]


async def test_a_printer_that_never_answers_status_and_stops_taking_data_fails_over(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    """Reachable, but its writes time out, and it cannot say why: after `failover_after_s`
    the ticket goes to the backup (reachable is not the same as able to print)."""
    kitchen.status_mode = "silent"
    async with PrinterEmulator(name="bar") as bar:
        config = write_config(
            tmp_path / "edge.toml",
            broker_url=broker.url,
            printers=[
                {
                    "name": "kitchen",
                    "uri": kitchen.uri,
                    "backup": "bar",
                    "failover_after_s": 0.5,
                    "write_timeout_s": 0.5,
                },
                {"name": "bar", "uri": bar.uri, "brands": ["Pasta Nostra"]},
            ],
        )
        edge_processes.append(proc := EdgeProcess(config).start())
        await cloud.wait_event("edge.connected")
        kitchen.stall()
        big = catering_order()
        await cloud.send_order(big)
        await cloud.wait_event("print.failed", order_id=big["id"], reason="write_timeout")
        [failover] = await cloud.wait_event("printer.failover")
        assert failover["data"] == {**failover["data"], "printer": "kitchen", "backup": "bar"}
        [printed] = await cloud.wait_event("order.printed", order_id=big["id"], printer="bar")
        assert printed["data"]["reprint"] is True, "part of it may be in the kitchen printer"
        [ticket] = await bar.wait_for_jobs(1)
        assert "Meant for printer kitchen" in ticket.text
        assert_whole_ticket(ticket, "Z9Y8X")
        assert [row["printer"] for row in job_rows(proc)] == ["bar"]
