"""Lightspeed K through the daemon: its answers relayed by the cloud on in/pos-events."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess
from tests.support.fake_lightspeed_k import FakeLightspeedK
from tests.support.lightspeed_menu import link
from tests.support.pos_daemon import pos_edge, pos_section

LOCATION = 45454565682155


@pytest.fixture
async def lsk(cloud: FakeCloud) -> AsyncIterator[FakeLightspeedK]:
    async def relay(notification: dict[str, Any]) -> None:  # what the cloud does
        body = {"pos": "lightspeed_k", "received_at": "2026-12-04T12:00:00Z", "body": notification}
        await cloud.publish("in/pos-events", body)

    async with FakeLightspeedK(business_location_id=LOCATION, on_notification=relay) as fake:
        yield fake
        assert fake.violations == [], "a request broke our Lightspeed K document"
        assert fake.callback_errors == []


def make_edge(
    tmp_path: Path, broker: Broker, kitchen: PrinterEmulator, lsk: FakeLightspeedK, procs: list
) -> EdgeProcess:
    section = pos_section(tmp_path, "lightspeed_k", lsk)
    return pos_edge(tmp_path, broker, kitchen, section, procs)


@pytest.fixture
async def running_edge(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    lsk: FakeLightspeedK, edge_processes: list,
) -> EdgeProcess:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, lsk, edge_processes).start()
    await cloud.wait_event("edge.connected")
    return edge


def ue_order(**changes: Any) -> dict:
    return link(load_order("ubereats_delivery", **changes))


async def test_the_relayed_answer_completes_the_injection(
    running_edge: EdgeProcess, cloud: FakeCloud, lsk: FakeLightspeedK
) -> None:
    await cloud.send_order(ue_order())
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    [account] = lsk.orders
    assert injected["data"]["pos"] == "lightspeed_k"
    assert injected["data"]["pos_order_id"] == account
    assert cloud.of_type("pos.error") == []


async def test_a_refusal_asks_for_manual_entry(
    running_edge: EdgeProcess, cloud: FakeCloud, kitchen: PrinterEmulator, lsk: FakeLightspeedK
) -> None:
    lsk.fail_next_result("Item 1001 is restricted")
    await cloud.send_order(ue_order())
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert "Item 1001 is restricted" in error["data"]["reason"]
    assert error["data"]["manual_entry_required"] is True
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="manual_entry")


async def test_crash_after_submitting_one_order_on_the_till(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    lsk: FakeLightspeedK, edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, lsk, edge_processes)
    edge.start(EDGE_CRASH_AT="after_pos_request")
    await cloud.wait_event("edge.connected")
    await cloud.send_order(ue_order())
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    await lsk.settle()
    assert len(lsk.orders) == 1, "Lightspeed has it; we never recorded the submission"
    edge.start()
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001", timeout=30)
    assert len(lsk.orders) == 1
    assert injected["data"]["pos_order_id"] in lsk.orders


async def test_cancellation_after_injection_tells_staff_to_void_it_on_the_till(
    running_edge: EdgeProcess, cloud: FakeCloud, lsk: FakeLightspeedK
) -> None:
    await cloud.send_order(ue_order())
    await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.send_order(link(load_order("ubereats_delivery_cancelled_rev2")))
    [cancelled] = await cloud.wait_event("order.cancelled", order_id="ord_ue_0001")
    assert cancelled["data"]["voided_in_pos"] is False
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert "on the till" in error["data"]["reason"]
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="cancellation")


async def test_pos_events_that_name_no_order_are_kept_and_acknowledged(
    running_edge: EdgeProcess, cloud: FakeCloud
) -> None:
    stray = {"pos": "lightspeed_k", "body": {"type": "ORDER", "status": "CLOSED"}}
    await cloud.publish("in/pos-events", stray)
    await cloud.publish("in/pos-events", b"not json")
    await cloud.send_command({"id": "cmd_sync", "name": "ping"})
    await cloud.wait_message("/out/replies")
    with sqlite3.connect(f"file:{running_edge.db_path}?mode=ro", uri=True) as db:
        kept = db.execute("SELECT pos, reference, body FROM pos_events").fetchall()
        dead = db.execute("SELECT topic, reason FROM dead_letters").fetchall()
    assert kept == [("lightspeed_k", None, '{"type": "ORDER", "status": "CLOSED"}')]
    assert dead == [("stores/st_test/in/pos-events", "invalid_json")]


async def test_a_revision_after_injection_asks_for_manual_entry_not_a_second_order(
    running_edge: EdgeProcess, cloud: FakeCloud, lsk: FakeLightspeedK
) -> None:
    await cloud.send_order(ue_order())
    await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    changed = ue_order(revision=2)
    changed["items"] = changed["items"][:2]
    await cloud.send_order(changed)
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert error["data"]["manual_entry_required"] is True
    assert "on the till" in error["data"]["reason"]
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="updated")
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="manual_entry")
    assert len(lsk.orders) == 1


async def test_answer_lost_after_lightspeed_took_the_order_one_order_on_the_till(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    lsk: FakeLightspeedK, edge_processes: list,
) -> None:  # fmt: skip
    lsk.fail_next(502, after_processing=True, path="/o/op/1/order/toGo")
    make_edge(tmp_path, broker, kitchen, lsk, edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_order(ue_order())
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert error["data"]["will_retry"] is True
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001", timeout=30)
    # whether the retry came before the relayed answer (a 409) or after it (no request)
    assert list(lsk.orders) == [injected["data"]["pos_order_id"]]
