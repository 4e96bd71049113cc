"""Crash safety: SIGKILL the daemon at chosen points and check what survived (CONTRACT §2, §7)."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config


@pytest.fixture
async def kitchen() -> PrinterEmulator:
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


def make_edge(
    tmp_path: Path, url: str, kitchen: PrinterEmulator, procs: list[EdgeProcess], **kw
) -> EdgeProcess:
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}],
        **kw,
    )
    proc = EdgeProcess(config)
    procs.append(proc)
    return proc


async def test_kill_between_receipt_and_commit_the_broker_redelivers(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    edge = make_edge(tmp_path, broker.url, kitchen, edge_processes).start(
        EDGE_CRASH_AT="before_commit"
    )
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    with edge.db() as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0, "nothing was committed"

    edge.start()  # same client id, persistent session: the unacknowledged order comes back
    [received] = await cloud.wait_event("order.received", order_id="ord_ue_0001")
    assert received["data"]["duplicate"] is False
    [job] = await kitchen.wait_for_jobs(1)
    assert "A1B2C" in job.text
    assert "REPRINT" not in job.text
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")


async def test_kill_after_commit_before_puback_prints_once(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    edge = make_edge(tmp_path, broker.url, kitchen, edge_processes).start(
        EDGE_CRASH_AT="after_commit"
    )
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    with edge.db() as db:
        [row] = db.execute("SELECT id, revision FROM orders").fetchall()
        assert tuple(row) == ("ord_ue_0001", 1)
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0] == 1

    edge.start()
    # the stored order prints; the broker's redelivery is recognised as a duplicate
    received = await cloud.wait_event("order.received", count=2, order_id="ord_ue_0001")
    assert sorted(e["data"]["duplicate"] for e in received) == [False, True]
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    assert len(kitchen.jobs) == 1
    assert "REPRINT" not in kitchen.jobs[0].text


async def test_kill_after_bytes_reached_printer_reprints_marked(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    edge = make_edge(tmp_path, broker.url, kitchen, edge_processes).start(
        EDGE_CRASH_AT="after_print"
    )
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    first = await kitchen.wait_for_jobs(1)
    assert "REPRINT" not in first[0].text

    edge.start()
    jobs = await kitchen.wait_for_jobs(2)
    assert "REPRINT" in jobs[1].text, "a copy after a possible print must say REPRINT"
    [printed] = await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    assert printed["data"]["reprint"] is True
    assert len(kitchen.jobs) == 2


async def test_kill_while_job_running_before_bytes_reprints_marked_once(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    edge = make_edge(tmp_path, broker.url, kitchen, edge_processes).start(
        EDGE_CRASH_AT="before_print"
    )
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    with edge.db() as db:
        assert db.execute("SELECT state FROM jobs").fetchone()[0] == "running"

    edge.start()
    [job] = await kitchen.wait_for_jobs(1)
    # we cannot know whether the printer got it: the only copy says REPRINT, never two unmarked
    assert "REPRINT" in job.text
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")


async def test_kill_inside_a_rush_keeps_confirmed_batches_and_marks_only_the_one_in_flight(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    """Batches of two, killed right after the second batch's bytes: the first batch was
    recorded done before them (printed once), the second says REPRINT from then on, and the
    third had not been touched."""
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": kitchen.uri, "batch_max_jobs": 2}],
    )
    edge = EdgeProcess(config)
    edge_processes.append(edge)
    edge.start(EDGE_CRASH_AT="after_print#2")
    await cloud.wait_event("edge.connected")
    kitchen.refuse()
    numbers = range(1, 7)
    for n in numbers:
        doc = load_order("ubereats_delivery", id=f"ord_q{n}")
        doc["source"] = {**doc["source"], "display_id": f"Q{n}"}
        await cloud.send_order(doc)
    for n in numbers:
        await cloud.wait_event("order.received", order_id=f"ord_q{n}")
    await kitchen.accept()
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    with edge.db() as db:
        states = [r[0] for r in db.execute("SELECT state FROM jobs ORDER BY id")]
    assert states == ["done", "done", "running", "running", "queued", "queued"]
    await kitchen.wait_for_jobs(4)

    edge.start()
    printed = await cloud.wait_event("order.printed", count=len(numbers))
    reprint = {e["order_id"]: e["data"]["reprint"] for e in printed}
    assert reprint == {f"ord_q{n}": n in (3, 4) for n in numbers}
    jobs = await kitchen.wait_for_jobs(8)
    texts = {n: [j.text for j in jobs if f"Uber Eats Q{n}" in j.text] for n in numbers}
    assert {n: len(t) for n, t in texts.items()} == {1: 1, 2: 1, 3: 2, 4: 2, 5: 1, 6: 1}
    for n, copies in texts.items():
        assert "REPRINT" not in copies[0], f"Q{n}: the first copy is unmarked"
        assert all("REPRINT" in c for c in copies[1:]), f"Q{n}: every later copy says REPRINT"


async def test_broker_restart_mid_stream_loses_nothing(
    tmp_path: Path, broker: Broker, kitchen: PrinterEmulator, edge_processes
) -> None:
    make_edge(tmp_path, broker.url, kitchen, edge_processes).start()
    base = load_order("ubereats_delivery")
    async with FakeCloud(broker.port) as cloud:
        await cloud.wait_event("edge.connected")
        for i in range(5):
            await cloud.send_order({**base, "id": f"ord_a{i}"})
        await cloud.wait_event("order.printed", count=5)
        first_seqs = [e["seq"] for e in cloud.events]
    broker.restart()  # in-memory broker: sessions and queued messages are gone
    async with FakeCloud(broker.port) as cloud:
        [connected] = await cloud.wait_event("edge.connected")
        assert connected["data"]["last_seq"] >= max(first_seqs)
        for i in range(5):
            await cloud.send_order({**base, "id": f"ord_b{i}"})
        await cloud.wait_event("order.printed", count=5)
        # the cloud re-sends an order it had no acknowledgement for: a duplicate, no ticket
        await cloud.send_order({**base, "id": "ord_a0"})
        await cloud.wait_event("order.received", order_id="ord_a0", duplicate=True)
        # no gap in the stream after the reconnect
        seqs = [e["seq"] for e in cloud.events if e["seq"] >= connected["seq"]]
        assert seqs == list(range(connected["seq"], connected["seq"] + len(seqs)))
    jobs = await kitchen.wait_for_jobs(10)
    assert len(jobs) == 10


async def test_scheduled_order_released_after_restart_without_broker(
    tmp_path: Path, broker: Broker, kitchen: PrinterEmulator, edge_processes
) -> None:
    edge = make_edge(tmp_path, broker.url, kitchen, edge_processes, release_lead_min=30).start()
    scheduled_for = datetime.now(UTC) + timedelta(minutes=30, seconds=3)
    order = load_order("deliveroo_pickup_scheduled", scheduled_for=scheduled_for.isoformat())
    async with FakeCloud(broker.port) as cloud:
        await cloud.wait_event("edge.connected")
        await cloud.send_order(order)
        [scheduled] = await cloud.wait_event("order.scheduled", order_id="ord_dr_0002")
        assert scheduled["data"]["release_at"].startswith(
            (scheduled_for - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
        )
    assert kitchen.jobs == []
    edge.kill()
    broker.stop()  # no cloud at all from here on

    edge.start()
    [job] = await kitchen.wait_for_jobs(1, timeout=30)
    assert "#4821" in job.text
    assert "REPRINT" not in job.text

    broker.start()  # when the cloud is back, what happened meanwhile is reported in order
    async with FakeCloud(broker.port) as cloud:
        await cloud.wait_event("order.printed", order_id="ord_dr_0002", timeout=30)
        types = [e["type"] for e in cloud.events if e.get("order_id") == "ord_dr_0002"]
        assert types.index("order.released") < types.index("order.printed")


async def test_sigterm_shuts_down_cleanly_with_presence_offline(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    edge = make_edge(tmp_path, broker.url, kitchen, edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.wait_event("order.printed")
    assert await asyncio.to_thread(edge.terminate) == 0
    async with FakeCloud(broker.port, store="st_test") as late:
        # a newcomer reads the retained presence: offline, said by the edge itself (not the will)
        _, payload, _ = await late.wait_message("/out/presence")
        presence = json.loads(payload)
    assert presence["online"] is False
    assert "stopped" in edge.log()
