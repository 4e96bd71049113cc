"""Order → ticket bytes at the printer → events, through a real broker and the real daemon."""

from __future__ import annotations

import json
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


def start_edge(
    tmp_path: Path, broker: Broker, printers: list[dict], procs: list[EdgeProcess], **kw
) -> EdgeProcess:
    config = write_config(tmp_path / "edge.toml", broker_url=broker.url, printers=printers, **kw)
    proc = EdgeProcess(config).start()
    procs.append(proc)
    return proc


async def test_order_prints_kitchen_ticket_and_reports_events(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    start_edge(
        tmp_path, broker, [{"name": "kitchen", "uri": kitchen.uri}], edge_processes, locale="fr"
    )
    connected = await cloud.wait_event("edge.connected")
    # last_seq names the event just before edge.connected (the first printer.status, here)
    assert connected[0]["data"]["last_seq"] == connected[0]["seq"] - 1

    await cloud.send_order(load_order("ubereats_delivery"))
    [job] = await kitchen.wait_for_jobs(1)
    decoded = job.decoded
    assert job.raw.startswith(b"\x1b@\x1bt\x10"), (
        "every job starts with ESC @ then ESC t 16 (cp1252)"
    )
    assert not decoded.raw_utf8_suspect
    assert decoded.cut
    text = decoded.text
    for expected in (
        "Uber Eats A1B2C",
        "LIVRAISON",
        "2x Cheeseburger",
        "+ Bacon",
        "Crème brûlée",
        "sans oignons",
        "ALLERGIES: ARACHIDES",
        "Reçue à 19:02",
    ):
        assert expected in text, expected
    assert "RÉIMPRESSION" not in text

    printed = await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    assert printed[0]["data"] == {
        "printer": "kitchen",
        "ticket": "kitchen",
        "copies": 1,
        "reprint": False,
        "job": 1,
    }
    received = cloud.of_type("order.received")
    assert received[0]["data"] == {"revision": 1, "duplicate": False}
    assert received[0]["store_id"] == "st_test"
    seqs = [e["seq"] for e in cloud.events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    # presence is retained and online
    _, payload, _ = await cloud.wait_message("/out/presence")
    presence = json.loads(payload)
    assert presence["online"] is True
    assert presence["device_id"].startswith("dev_")


async def test_duplicates_print_once_and_are_answered(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    start_edge(tmp_path, broker, [{"name": "kitchen", "uri": kitchen.uri}], edge_processes)
    await cloud.wait_event("edge.connected")
    order = load_order("ubereats_delivery")
    for _ in range(3):
        await cloud.send_order(order)
    received = await cloud.wait_event("order.received", count=3, order_id="ord_ue_0001")
    assert [e["data"]["duplicate"] for e in received] == [False, True, True]
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    # a later copy after printing is still only a duplicate
    await cloud.send_order(order)
    await cloud.wait_event("order.received", count=4, order_id="ord_ue_0001")
    await cloud.send_command({"id": "cmd_sync", "name": "ping"})
    await cloud.wait_message("/out/replies")
    assert len(kitchen.jobs) == 1


@pytest.mark.parametrize(
    ("payload", "reason", "order_id"),
    [
        (b"{not json", "invalid_json", None),
        (b"[1, 2]", "invalid", None),
        (
            json.dumps(load_order("ubereats_delivery", revision="1")).encode(),
            "invalid",
            "ord_ue_0001",
        ),
        (json.dumps(load_order("ubereats_delivery", items=[])).encode(), "invalid", "ord_ue_0001"),
        (
            json.dumps(load_order("ubereats_delivery", id="bad id with spaces")).encode(),
            "invalid",
            None,
        ),
        (
            json.dumps(load_order("ubereats_delivery", status="maybe")).encode(),
            "invalid",
            "ord_ue_0001",
        ),
        (
            json.dumps(load_order("ubereats_delivery", placed_at="yesterday")).encode(),
            "invalid",
            "ord_ue_0001",
        ),
        ("\udcff".encode("utf-8", "surrogatepass"), "invalid_json", None),
        (
            json.dumps({**load_order("ubereats_delivery"), "notes": "x" * 300_000}).encode(),
            "too_large",
            "ord_ue_0001",
        ),
    ],
    ids=[
        "not-json",
        "not-object",
        "string-revision",
        "no-items",
        "bad-id",
        "bad-status",
        "bad-time",
        "bad-utf8",
        "too-large",
    ],
)
async def test_malformed_orders_are_rejected_and_the_daemon_keeps_serving(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes,
    payload: bytes,
    reason: str,
    order_id: str | None,
) -> None:
    proc = start_edge(tmp_path, broker, [{"name": "kitchen", "uri": kitchen.uri}], edge_processes)
    await cloud.wait_event("edge.connected")
    await cloud.send_order(payload)
    [rejected] = await cloud.wait_event("order.rejected")
    assert rejected["data"]["reason"] == reason
    assert rejected["order_id"] == order_id
    assert rejected["data"]["errors"]
    # still serving: a good order prints
    await cloud.send_order(load_order("self_delivery_with_tip"))
    await cloud.wait_event("order.printed", order_id="ord_web_0003")
    with proc.db() as db:
        [row] = db.execute("SELECT reason, length(payload) AS n FROM dead_letters").fetchall()
    assert row["reason"] == reason
    assert row["n"] == len(payload)
    assert len(kitchen.jobs) == 1


async def test_commands_reply_once_per_id_and_honour_response_topic(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    start_edge(tmp_path, broker, [{"name": "kitchen", "uri": kitchen.uri}], edge_processes)
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    await cloud.subscribe("cloud/replies/#")
    reprint = {"id": "cmd_r1", "name": "reprint", "args": {"order_id": "ord_ue_0001"}}
    await cloud.send_command(reprint, response_topic="cloud/replies/1", correlation=b"corr-1")
    await cloud.send_command(reprint, response_topic="cloud/replies/1", correlation=b"corr-2")
    await cloud.wait_for(
        lambda _: sum(t == "cloud/replies/1" for t, _, _ in cloud.messages) >= 2, what="2 replies"
    )
    replies = [
        (json.loads(p), props.CorrelationData)
        for t, p, props in cloud.messages
        if t == "cloud/replies/1"
    ]
    assert replies[0][0] == replies[1][0]
    assert replies[0][0]["ok"] is True
    assert replies[0][0]["result"]["printers"] == ["kitchen"]
    assert [c for _, c in replies] == [b"corr-1", b"corr-2"]
    jobs = await kitchen.wait_for_jobs(2)
    assert "REPRINT" in jobs[1].text
    # carried out once
    await cloud.wait_event("order.printed", count=2, order_id="ord_ue_0001")
    await cloud.send_command({"id": "cmd_unknown", "name": "self_destruct"})
    await cloud.send_command({"id": "cmd_nf", "name": "reprint", "args": {"order_id": "nope"}})
    await cloud.send_command({"id": 42, "name": "ping"})  # unreadable id: dead-lettered, no reply
    await cloud.send_command({"id": "cmd_status", "name": "status"})
    await cloud.wait_for(
        lambda _: sum(t.endswith("/out/replies") for t, _, _ in cloud.messages) >= 3,
        what="3 replies",
    )
    out = {
        json.loads(p)["id"]: json.loads(p)
        for t, p, _ in cloud.messages
        if t.endswith("/out/replies")
    }
    assert out["cmd_unknown"]["error"]["code"] == "unknown_command"
    assert out["cmd_nf"]["error"]["code"] == "not_found"
    status = out["cmd_status"]["result"]
    assert status["printers"][0]["name"] == "kitchen"
    assert status["cloud"]["connected"] is True
    assert len(kitchen.jobs) == 2
