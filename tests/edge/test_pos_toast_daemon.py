"""Toast through the daemon: a crash or a lost answer after Toast did the work, one Toast order."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess
from tests.support.fake_toast import FakeToast
from tests.support.pos_daemon import pos_edge, pos_section, unique
from tests.support.toast_menu import link, pos_id


def make_edge(
    tmp_path: Path, broker: Broker, kitchen: PrinterEmulator, toast: FakeToast, procs: list
) -> EdgeProcess:
    return pos_edge(tmp_path, broker, kitchen, pos_section(tmp_path, "toast", toast), procs)


@pytest.fixture
async def running_edge(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, toast: FakeToast,
    edge_processes: list,
) -> EdgeProcess:  # fmt: skip
    """The daemon with the kitchen printer and Toast, connected to the broker."""
    edge = make_edge(tmp_path, broker, kitchen, toast, edge_processes).start()
    await cloud.wait_event("edge.connected")
    return edge


def ue_order(**changes: Any) -> dict:
    return link(load_order("ubereats_delivery", **changes))


async def test_injected_once_printed_and_paid(
    running_edge: EdgeProcess, cloud: FakeCloud, toast: FakeToast
) -> None:
    await cloud.send_order(ue_order())
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    [created] = toast.orders.values()
    assert injected["data"]["pos"] == "toast"
    assert injected["data"]["pos_order_id"] == created["guid"]
    assert injected["data"]["closed"] is True
    assert toast.payment_mismatches == []


async def test_crash_after_toast_created_the_order_adopts_it(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, toast: FakeToast,
    edge_processes: list,
) -> None:  # fmt: skip
    edge = make_edge(tmp_path, broker, kitchen, toast, edge_processes)
    edge.start(EDGE_CRASH_AT="after_pos_request")
    await cloud.wait_event("edge.connected")
    await cloud.send_order(ue_order())
    assert await asyncio.to_thread(edge.wait_exit) == -signal.SIGKILL
    assert len(toast.orders) == 1, "Toast has the order; we never recorded it"

    edge.start()
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    assert len(toast.orders) == 1, "found again by our reference, not created twice"
    assert injected["data"]["pos_order_id"] in toast.orders
    printed = await cloud.wait_event("order.printed", order_id="ord_ue_0001")
    assert [e["data"]["reprint"] for e in unique(printed)] == [False], printed


async def test_answer_lost_after_toast_did_the_work_one_order(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, toast: FakeToast,
    edge_processes: list,
) -> None:  # fmt: skip
    toast.fail_next(502, after_processing=True, path="/orders/v2/orders")
    make_edge(tmp_path, broker, kitchen, toast, edge_processes).start()
    await cloud.wait_event("edge.connected")
    await cloud.send_order(ue_order())
    [error] = await cloud.wait_event("pos.error", order_id="ord_ue_0001")
    assert error["data"]["will_retry"] is True
    await cloud.wait_event("order.injected", order_id="ord_ue_0001", timeout=30)
    assert len(toast.orders) == 1


async def test_cancellation_after_injection_voids_it(
    running_edge: EdgeProcess, cloud: FakeCloud, toast: FakeToast
) -> None:
    await cloud.send_order(ue_order())
    [injected] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    await cloud.send_order(link(load_order("ubereats_delivery_cancelled_rev2")))
    [cancelled] = await cloud.wait_event("order.cancelled", order_id="ord_ue_0001")
    assert cancelled["data"]["voided_in_pos"] is True
    assert toast.voided == {injected["data"]["pos_order_id"]}


async def test_revision_after_injection_voids_and_injects_the_new_one(
    running_edge: EdgeProcess, cloud: FakeCloud, toast: FakeToast
) -> None:
    await cloud.send_order(ue_order())
    [first] = await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    changed = ue_order(revision=2)
    changed["items"] = changed["items"][:2]
    await cloud.send_order(changed)
    [_, second] = await cloud.wait_event("order.injected", order_id="ord_ue_0001", count=2)
    assert second["data"]["replaced_pos_order_id"] == first["data"]["pos_order_id"]
    assert toast.voided == {first["data"]["pos_order_id"]}
    live = [o for o in toast.orders.values() if not o["voided"]]
    assert [o["guid"] for o in live] == [second["data"]["pos_order_id"]]
    await cloud.wait_event("order.printed", order_id="ord_ue_0001", ticket="updated")


async def test_pos_status_says_which_ids_are_in_use_and_where_each_came_from(
    running_edge: EdgeProcess, cloud: FakeCloud, toast: FakeToast
) -> None:
    await cloud.send_order(ue_order())
    await cloud.wait_event("order.injected", order_id="ord_ue_0001")
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "edge",
            "pos",
            "status",
            "--json",
            "--config",
            str(running_edge.config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    ids = json.loads(result.stdout)["ids"]
    assert ids["dining_option ubereats/delivery"]["id"] == pos_id("do_take_out")
    assert "TAKE_OUT" in ids["dining_option ubereats/delivery"]["from"]
    assert ids["payment_type ubereats"] == {"id": pos_id("pt_ubereats"), "from": "name 'uber eats'"}
