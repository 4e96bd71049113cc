"""Clover through the daemon: a crash or a lost answer after Clover did the work, one order."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.clover_inventory import link
from tests.support.edge_process import EdgeProcess
from tests.support.fake_clover import FakeClover
from tests.support.pos_daemon import pos_edge, pos_section, unique

PARTNER_TENDER_KEY = "com.storeedge.tender.ubereats"


def make_edge(
    tmp_path: Path, broker: Broker, kitchen: PrinterEmulator, clover: FakeClover, procs: list
) -> EdgeProcess:
    return pos_edge(tmp_path, broker, kitchen, pos_section(tmp_path, "clover", clover), procs)


@pytest.fixture
async def running_edge(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    clover: FakeClover, edge_processes: list,
) -> EdgeProcess:  # fmt: skip
    """The daemon with the kitchen printer and Clover, connected to the broker."""
    edge = make_edge(tmp_path, broker, kitchen, clover, edge_processes).start()
    await cloud.wait_event("edge.connected")
    return edge


def ue_order(**changes: Any) -> dict:
    return link(load_order("ubereats_delivery", **changes))


def live_orders(clover: FakeClover) -> list[str]:
    return [order_id for order_id in clover.orders if order_id not in clover.deleted]


async def test_injected_once_printed_and_paid_with_the_partner_tender(
    running_edge: EdgeProcess, cloud: FakeCloud, clover: FakeClover
) -> None:
    await cloud.send_order(ue_order())
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="kitchen")
    [created] = clover.orders.values()
    assert injected["data"]["pos"] == "clover"
    assert injected["data"]["pos_order_id"] == created["id"]
    assert "A1B2C" in created["title"], "staff find the partner's display id in the title"
    assert injected["data"]["closed"] is True, "a paid partner order is closed with its tender"
    [payment] = clover.payments.values()
    assert payment["order"]["id"] == created["id"]
    assert payment["amount"] == created["total"] == injected["data"]["pos_total"]
    assert clover.tenders[payment["tender"]["id"]]["labelKey"] == PARTNER_TENDER_KEY
    assert [p["id"] for p in created["payments"]["elements"]] == [payment["id"]]
    assert clover.deleted == set()


async def test_crash_after_clover_created_the_order_adopts_it(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    clover: FakeClover, edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, clover, edge_processes)
    edge.start(EDGE_CRASH_AT="after_pos_request")
    await cloud.wait_event("edge.connected")
    await cloud.send_order(ue_order())
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    assert len(clover.orders) == 1, "Clover has the order; we never recorded it"

    edge.start()
    await cloud.wait_event("order.injected", order_id="ord_ue_0001", timeout=30)
    injected = unique(cloud.of_type("order.injected", order_id="ord_ue_0001"))
    [pos_order_id] = clover.orders
    assert [e["data"]["pos_order_id"] for e in injected] == [pos_order_id], "found again, once"
    assert clover.deleted == set()
    assert len(clover.payments) == 1, "paid once"
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="kitchen")
    await cloud.send_command({"id": "cmd_sync", "name": "ping"})  # a round trip to the daemon
    await cloud.wait_message("/out/replies")
    printed = unique(cloud.of_type("order.printed", order_id="ord_ue_0001", ticket="kitchen"))
    unmarked = [e for e in printed if not e["data"].get("reprint")]
    # The kill may land after the kitchen ticket reached the paper and before its event was
    # committed: then that ticket prints again marked REPRINT and only the reprint has an event.
    assert len(unmarked) <= 1, printed
    on_paper = [job for job in kitchen.jobs if "REPRINT" not in job.text]
    assert len(on_paper) == 1, "one kitchen ticket; a second one would say REPRINT"


async def test_answer_lost_after_clover_created_the_order_one_order(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    clover: FakeClover, edge_processes: list,
) -> None:  # fmt: skip
    clover.fail_next(502, after_processing=True, path="/atomic_order/orders")
    make_edge(tmp_path, broker, kitchen, clover, edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_order(ue_order())
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert error["data"]["will_retry"] is True
    assert len(clover.orders) == 1, "Clover did the work; the answer was lost"
    # the fake lists the order at once, so the retry finds it without the 20 s settle wait
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001", timeout=15)
    assert list(clover.orders) == [injected["data"]["pos_order_id"]]
    assert len(clover.posted("/atomic_order/orders")) == 1, "never created a second time"
    assert clover.deleted == set()
    assert len(clover.payments) == 1


async def test_cancellation_after_injection_deletes_it(
    running_edge: EdgeProcess, cloud: FakeCloud, clover: FakeClover
) -> None:
    await cloud.send_order(ue_order())
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.send_order(link(load_order("ubereats_delivery_cancelled_rev2")))
    [cancelled] = await cloud.wait_event("order.cancelled", order_id="ord_ue_0001")
    assert cancelled["data"]["voided_in_pos"] is True
    assert clover.deleted == {injected["data"]["pos_order_id"]}
    assert live_orders(clover) == []
    assert len(clover.orders) == 1


async def test_revision_after_injection_deletes_and_injects_the_new_one(
    running_edge: EdgeProcess, cloud: FakeCloud, clover: FakeClover
) -> None:
    await cloud.send_order(ue_order())
    [first] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="kitchen")
    changed = ue_order(revision=2)
    changed["items"] = changed["items"][:2]
    await cloud.send_order(changed)
    [_, second] = await cloud.wait_event("order.injected", order_id="ord_ue_0001", count=2)
    assert second["data"]["revision"] == 2
    assert second["data"]["replaced_pos_order_id"] == first["data"]["pos_order_id"]
    assert clover.deleted == {first["data"]["pos_order_id"]}
    assert live_orders(clover) == [second["data"]["pos_order_id"]]
    assert len(clover.orders) == 2
    new = clover.orders[second["data"]["pos_order_id"]]
    assert len(new["lineItems"]["elements"]) == 3, "2 cheeseburgers and the fries: no dessert"
    assert [p["order"]["id"] for p in clover.payments.values()] == [
        first["data"]["pos_order_id"],
        second["data"]["pos_order_id"],
    ]
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="updated")
