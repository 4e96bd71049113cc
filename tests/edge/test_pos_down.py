"""POS down for minutes: tickets print at once, each order is injected once when the POS returns,
in arrival order (Square, Toast and Clover, each against its strict fake; one body for all three).

The arrival order is its own test: with the outage as it really happens in a test (seconds),
the jittered retries decide the order by chance; its test moves the retry schedule on to what
minutes of outage leave, so that the order is decided by the daemon, every run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support import clover_inventory, toast_menu
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess
from tests.support.fake_clover import FakeClover
from tests.support.fake_square import FakeSquare
from tests.support.fake_toast import FakeToast
from tests.support.pos_daemon import pos_edge, pos_section, unique
from tests.support.square_spec import SPEC_MISSING as SQUARE_SPEC_MISSING
from tests.support.square_spec import SPEC_PATH as SQUARE_SPEC_PATH
from tests.support.toast_spec import SPEC_MISSING as TOAST_SPEC_MISSING
from tests.support.toast_spec import specs_present as toast_specs_present

Json = dict[str, Any]
ORDERS = 5
# No sleeping: every wait below is for events. These only bound how long a broken daemon is
# waited for (retries back off while the POS is down; Clover waits 20 s for a late listing).
PRINT_TIMEOUT_S = 30.0
INJECT_TIMEOUT_S = 120.0
OUTAGE_S = 300.0  # how long ago the POS went down, in the fast-forwarded outage
OUTAGE_TRIES = 7  # tries of each job by then (2, 4, … s of backoff, up to the 120 s cap)
LATE_S = 5.0  # how much later than the others the late job's next try falls


class Fake(Protocol):
    """What the test needs of every vendor's fake (FakeSquare, FakeToast, FakeClover)."""

    url: str
    orders: dict[str, Json]
    violations: list[str]

    async def refuse(self) -> None: ...

    async def reset(self) -> None: ...


@dataclass
class Vendor:
    """One POS: its running fake, the [pos] section naming it, and how orders link to its menu."""

    name: str
    fake: Fake
    link: Callable[[Json], Json]


def _as_is(doc: Json) -> Json:
    return doc  # the sample orders are linked to the Square catalog of the fake


def _fake_for(kind: str) -> AbstractAsyncContextManager[Any]:
    if kind == "square":
        if not SQUARE_SPEC_PATH.is_file():
            pytest.skip(SQUARE_SPEC_MISSING)
        return FakeSquare()
    if kind == "toast":
        if not toast_specs_present():
            pytest.skip(TOAST_SPEC_MISSING)
        return FakeToast()
    return FakeClover()


LINKS: dict[str, Callable[[Json], Json]] = {
    "square": _as_is,
    "toast": toast_menu.link,
    "clover": clover_inventory.link,
}


@pytest.fixture(params=["square", "toast", "clover"])
async def vendor(request: pytest.FixtureRequest) -> AsyncIterator[Vendor]:
    kind: str = request.param
    async with _fake_for(kind) as fake:
        yield Vendor(kind, fake, LINKS[kind])
        assert fake.violations == [], f"a request broke {kind}'s document"


def make_edge(
    tmp_path: Path, broker: Broker, kitchen: PrinterEmulator, vendor: Vendor, procs: list
) -> EdgeProcess:
    section = pos_section(tmp_path, vendor.name, vendor.fake)
    return pos_edge(tmp_path, broker, kitchen, section, procs)


def platform_order(n: int, vendor: Vendor) -> Json:
    """The Uber Eats sample as the n-th distinct order (its own ids and display id)."""
    doc = load_order("ubereats_delivery", id=f"ord_{n}")
    doc["source"] = {
        **doc["source"],
        "partner_order_id": f"6f1c22aa-81d3-4b7e-9c1d-2f0b5e7a9e{n:02d}",
        "display_id": f"D{n:04d}",
    }
    return vendor.link(doc)


async def orders_sent_while_down(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    vendor: Vendor, edge_processes: list,
) -> tuple[EdgeProcess, list[str]]:  # fmt: skip
    """The POS refuses; the daemon starts and takes ORDERS orders: every kitchen ticket prints,
    every order is tried in the POS (one `pos.error`, will_retry) and none is in it."""
    fake = vendor.fake
    await fake.refuse()  # down from the start: no connection kept alive
    edge = make_edge(tmp_path, broker, kitchen, vendor, edge_processes).start()
    await cloud.wait_event("edge.connected")
    ids = [f"ord_{n}" for n in range(1, ORDERS + 1)]
    for n in range(1, ORDERS + 1):
        await cloud.send_order(platform_order(n, vendor))

    for order_id in ids:  # printing never waits for the POS
        await cloud.wait_event(
            "order.printed", order_id=order_id, ticket="kitchen", timeout=PRINT_TIMEOUT_S
        )
    for order_id in ids:  # each was tried, and will be again
        [error] = await cloud.wait_event("pos.error", order_id=order_id, timeout=PRINT_TIMEOUT_S)
        assert error["data"]["will_retry"] is True, error
        assert error["data"]["manual_entry_required"] is False, error
    assert fake.orders == {}
    assert cloud.of_type("order.injected") == []
    return edge, ids


async def injected_once_each(cloud: FakeCloud, vendor: Vendor, ids: list[str]) -> list[Json]:
    """Wait for the ORDERS `order.injected`: one POS order per platform order, no other."""
    await cloud.wait_event("order.injected", count=ORDERS, timeout=INJECT_TIMEOUT_S)
    injected = unique(cloud.of_type("order.injected"))
    assert sorted(e["order_id"] for e in injected) == ids, "each order injected once"
    pos_ids = {e["order_id"]: e["data"]["pos_order_id"] for e in injected}
    assert len(set(pos_ids.values())) == ORDERS, "one POS order per platform order"
    assert set(pos_ids.values()) == set(vendor.fake.orders), "and no other POS order"
    assert all(e["data"]["pos"] == vendor.name for e in injected)
    kitchen_prints = [
        e for e in unique(cloud.of_type("order.printed", ticket="kitchen")) if e["order_id"] in ids
    ]
    assert sorted(e["order_id"] for e in kitchen_prints) == ids, "each ticket printed once"
    return injected


async def test_pos_down_prints_at_once_and_injects_each_order_once_when_it_returns(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    vendor: Vendor, edge_processes: list,
) -> None:  # fmt: skip
    _, ids = await orders_sent_while_down(tmp_path, broker, cloud, kitchen, vendor, edge_processes)
    await vendor.fake.reset()  # the POS is back
    await injected_once_each(cloud, vendor, ids)


def fast_forward_the_outage(edge: EdgeProcess, late: str) -> None:
    """The daemon's POS retry state as minutes of outage leave it (the daemon is stopped):
    the first tries were minutes ago, each job backed off to the cap, and each job's jittered
    next try falls at its own time: all are past except `late`'s, a little ahead."""
    now = time.time()
    with contextlib.closing(edge.db()) as conn, conn:
        conn.execute("UPDATE pos_attempts SET first_at = first_at - ?", (OUTAGE_S,))
        conn.execute(
            "UPDATE jobs SET state = 'queued', attempts = ?, next_attempt_at = ?"
            " WHERE kind = 'inject'",
            (OUTAGE_TRIES, now - 1),
        )
        conn.execute(
            "UPDATE jobs SET next_attempt_at = ? WHERE kind = 'inject' AND order_id = ?",
            (now + LATE_S, late),
        )


async def test_pos_down_injects_in_arrival_order_when_it_returns(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator,
    vendor: Vendor, edge_processes: list,
) -> None:  # fmt: skip
    edge, ids = await orders_sent_while_down(
        tmp_path, broker, cloud, kitchen, vendor, edge_processes
    )
    # Minutes are not waited for: the daemon is stopped and its retry schedule moved on to
    # what a long outage leaves (backoffs at the cap, jittered; ord_2's next try a bit later).
    assert await asyncio.to_thread(edge.terminate) == 0
    fast_forward_the_outage(edge, late=ids[1])
    await vendor.fake.reset()  # the POS is back
    edge.start()
    await cloud.wait_event("edge.connected", count=2)
    injected = await injected_once_each(cloud, vendor, ids)
    in_seq = [e["order_id"] for e in sorted(injected, key=lambda e: e["seq"])]
    assert in_seq == ids, "injected in the order the orders arrived"
