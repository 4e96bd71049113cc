"""Orders into the POS through the daemon: Square (fake, spec-validated), printing unaffected."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess
from tests.support.fake_square import FakeSquare
from tests.support.pos_daemon import pos_edge, pos_section


def make_edge(
    tmp_path: Path,
    broker: Broker,
    kitchen: PrinterEmulator,
    square: FakeSquare,
    procs: list[EdgeProcess],
) -> EdgeProcess:
    return pos_edge(tmp_path, broker, kitchen, pos_section(tmp_path, "square", square), procs)


@pytest.fixture
async def running_edge(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    square: FakeSquare,
    edge_processes: list[EdgeProcess],
) -> EdgeProcess:
    """The daemon with the kitchen printer and Square, connected to the broker."""
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes).start()
    await cloud.wait_event("edge.connected")
    return edge


def linked_self_delivery() -> dict:
    doc = load_order("self_delivery_with_tip")
    doc["items"][0]["modifiers"][1]["pos_id"] = "mod_oeuf"
    return doc


async def test_order_is_injected_once_and_printed(
    running_edge: EdgeProcess, cloud: FakeCloud, kitchen: PrinterEmulator, square: FakeSquare
) -> None:
    await cloud.send_order(load_order("ubereats_delivery"))
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    [pos_order] = square.orders.values()
    assert injected["data"]["pos_order_id"] == pos_order["id"]
    assert injected["data"]["pos"] == "square"
    assert [line["catalog_object_id"] for line in pos_order["line_items"]] == [
        "itm_cheese",
        "itm_frites",
        "itm_creme_brulee",
    ]
    assert injected["data"]["closed"] is True, "a paid partner order is closed with its tender"
    # a re-sent order is a duplicate: no second POS order
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.wait_event("order.received", order_id="ord_ue_0001", duplicate=True)
    await cloud.send_command({"id": "cmd_sync", "name": "ping"})
    await cloud.wait_message("/out/replies")
    assert len(square.orders) == 1


async def test_pos_down_delays_only_injection(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    square: FakeSquare,
    edge_processes,
) -> None:
    await square.refuse()  # down from the start: no connection kept alive
    make_edge(tmp_path, broker, kitchen, square, edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")  # printing never waits
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert error["data"]["will_retry"] is True
    assert error["data"]["manual_entry_required"] is False
    assert square.orders == {}
    await square.reset()
    await cloud.wait_event("order.injected", order_id="ord_ue_0001", timeout=30)
    assert len(square.orders) == 1


async def test_crash_between_the_pos_call_and_our_commit_still_one_pos_order(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    square: FakeSquare,
    edge_processes,
) -> None:
    edge = make_edge(tmp_path, broker, kitchen, square, edge_processes)
    edge.start(EDGE_CRASH_AT="after_pos_request")
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    assert len(square.orders) == 1, "Square has the order; we never recorded it"

    edge.start()
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    assert len(square.orders) == 1, "the same idempotency key: the same order"
    assert injected["data"]["pos_order_id"] in square.orders


async def test_unlinked_line_asks_for_manual_entry_without_calling_the_pos(
    running_edge: EdgeProcess, cloud: FakeCloud, kitchen: PrinterEmulator, square: FakeSquare
) -> None:
    await cloud.send_order(load_order("self_delivery_with_tip"))  # "Œuf" has no pos_id
    [error] = await cloud.wait_event("pos.error", order_id="ord_web_0003")
    assert error["data"]["manual_entry_required"] is True
    assert error["data"]["will_retry"] is False
    assert error["data"]["unlinked"] == ["l1/m2"]
    await cloud.wait_event("order.printed", order_id="ord_web_0003", ticket="manual_entry")
    jobs = await kitchen.wait_for_jobs(2)
    assert any("MANUAL ENTRY" in job.text for job in jobs)
    assert square.orders == {}
    assert square.posted("/v2/orders") == []


async def test_cancellation_voids_the_pos_order(
    running_edge: EdgeProcess, cloud: FakeCloud, kitchen: PrinterEmulator, square: FakeSquare
) -> None:
    order = load_order("ubereats_delivery", payment={"method": "partner", "paid": False})
    await cloud.send_order(order)
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.send_order(load_order("ubereats_delivery_cancelled_rev2"))
    [cancelled] = await cloud.wait_event("order.cancelled", order_id="ord_ue_0001")
    assert cancelled["data"]["voided_in_pos"] is True
    assert square.orders[injected["data"]["pos_order_id"]]["state"] == "CANCELED"


async def test_injection_off_for_a_channel_through_cloud_settings(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    square: FakeSquare,
    edge_processes,
) -> None:
    await cloud.publish("in/settings", {"pos": {"disabled_partners": ["ubereats"]}}, retain=True)
    make_edge(tmp_path, broker, kitchen, square, edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.send_order(linked_self_delivery())
    await cloud.wait_event("order.injected", order_id="ord_web_0003")
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    assert [o["reference_id"] for o in square.orders.values()] == ["W-2026-11-23-0042"]
    assert cloud.of_type("order.injected", order_id="ord_ue_0001") == []


async def test_revision_of_an_open_injected_order_voids_it_and_injects_the_new_one(
    running_edge: EdgeProcess, cloud: FakeCloud, square: FakeSquare
) -> None:
    unpaid = {"method": "partner", "paid": False}  # left open in Square: it can be voided
    await cloud.send_order(load_order("ubereats_delivery", payment=unpaid))
    [first] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    changed = load_order("ubereats_delivery", payment=unpaid, revision=2)
    changed["items"] = changed["items"][:2]
    await cloud.send_order(changed)
    [_, second] = await cloud.wait_event("order.injected", order_id="ord_ue_0001", count=2)
    assert second["data"]["replaced_pos_order_id"] == first["data"]["pos_order_id"]
    assert square.orders[first["data"]["pos_order_id"]]["state"] == "CANCELED"
    live = [o for o in square.orders.values() if o["state"] != "CANCELED"]
    assert [o["id"] for o in live] == [second["data"]["pos_order_id"]]
    assert len(live[0]["line_items"]) == 2
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="updated")


async def test_revision_of_a_paid_square_order_asks_for_manual_entry_not_a_second_order(
    running_edge: EdgeProcess, cloud: FakeCloud, square: FakeSquare
) -> None:
    await cloud.send_order(load_order("ubereats_delivery"))  # paid: closed in Square
    await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    changed = load_order("ubereats_delivery", revision=2)
    changed["items"] = changed["items"][:2]
    await cloud.send_order(changed)
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert error["data"]["manual_entry_required"] is True
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="manual_entry")
    assert len(square.orders) == 1
