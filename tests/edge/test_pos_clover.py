"""The Clover connector against the strict fake: atomic orders once, found again after a doubt."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edge.orders.model import Order
from edge.pos import PosTransientError
from edge.pos.clover import CloverConnector
from edge.pos.model import Attempt, InjectionPlan
from tests.conftest import load_order
from tests.support.clover_inventory import link, pos_id
from tests.support.fake_clover import FakeClover

PLAN = InjectionPlan(store_id="st_demo", location_id="")


def order(name: str, **changes: Any) -> Order:
    doc = load_order(name, **changes)
    if name == "self_delivery_with_tip":  # its second modifier is not linked in the sample
        doc["items"][0]["modifiers"][1]["pos_id"] = "mod_oeuf"
    return Order.model_validate_json(json.dumps(link(doc)))


def attempt(o: Order, tries: int = 0, step: str = "create", age: float = 5.0) -> Attempt:
    return Attempt(
        step=step,
        reference=PLAN.reference(o),
        tries=tries,
        first_at=time.time() - age,
        progress={},
    )


@pytest.fixture
async def pos(clover: FakeClover) -> AsyncIterator[CloverConnector]:
    async with CloverConnector(
        token=clover.token, merchant_id=clover.merchant_id, base_url=clover.url, timeout=2.0
    ) as connector:
        yield connector


@pytest.mark.parametrize(
    ("fixture", "changes"),
    [
        ("ubereats_delivery", {}),
        ("self_delivery_with_tip", {}),
        ("deliveroo_pickup_scheduled", {}),
        ("doordash_pending", {"status": "accepted", "type": "dine_in"}),
        ("large_catering_order", {}),
    ],
)
async def test_every_order_goes_in_once_and_paid_with_its_tender(
    clover: FakeClover, pos: CloverConnector, fixture: str, changes: dict[str, Any]
) -> None:
    o = order(fixture, **changes)
    await pos.read_menu()
    injected = await pos.inject(o, PLAN, attempt(o))
    closed = await pos.close_ticket(o, injected, PLAN, attempt(o, step="pay"))
    assert list(clover.orders) == [injected.pos_order_id]
    assert PLAN.reference(o) in clover.orders[injected.pos_order_id]["title"]
    assert closed.payment_id in clover.payments
    # the partner's tender was created once; a second order finds it by its labelKey
    again = order(fixture, **changes, id="ord_second", revision=1)
    second = await pos.inject(again, PLAN, attempt(again))
    await pos.close_ticket(again, second, PLAN, attempt(again, step="pay"))
    partner_tenders = [t for t in clover.tenders.values() if "storeedge" in str(t.get("labelKey"))]
    assert len(partner_tenders) == 1


async def test_a_lost_answer_after_clover_created_the_order_is_found_not_repeated(
    clover: FakeClover, pos: CloverConnector
) -> None:
    o = order("ubereats_delivery")
    clover.fail_next(
        502, after_processing=True, path=f"/v3/merchants/{clover.merchant_id}/atomic_order/orders"
    )
    with pytest.raises(PosTransientError):
        await pos.inject(o, PLAN, attempt(o))
    assert len(clover.orders) == 1
    again = await pos.inject(o, PLAN, attempt(o, tries=1))
    assert list(clover.orders) == [again.pos_order_id]


async def test_a_payment_whose_answer_was_lost_is_not_posted_twice(
    clover: FakeClover, pos: CloverConnector
) -> None:
    o = order("ubereats_delivery")
    injected = await pos.inject(o, PLAN, attempt(o))
    clover.fail_next(
        500,
        after_processing=True,
        path=f"/v3/merchants/{clover.merchant_id}/orders/{injected.pos_order_id}/payments",
    )
    with pytest.raises(PosTransientError):
        await pos.close_ticket(o, injected, PLAN, attempt(o, step="pay"))
    await pos.close_ticket(o, injected, PLAN, attempt(o, tries=1, step="pay"))
    assert len(clover.payments) == 1


async def test_void_deletes_once(clover: FakeClover, pos: CloverConnector) -> None:
    o = order("ubereats_delivery")
    injected = await pos.inject(o, PLAN, attempt(o))
    await pos.void(injected.pos_order_id)
    await pos.void(injected.pos_order_id)
    assert clover.deleted == {injected.pos_order_id}


async def test_a_price_clover_charges_differently_is_reported(
    clover: FakeClover, pos: CloverConnector
) -> None:
    clover.set_price(pos_id("itm_frites"), 500)  # the order says 4.50
    o = order("ubereats_delivery")
    injected = await pos.inject(o, PLAN, attempt(o))
    assert [(d.line, d.ours, d.pos) for d in injected.differences] == [("l2", 450, 500)]


async def test_a_rate_limit_is_transient_and_says_how_long_to_wait(
    clover: FakeClover, pos: CloverConnector
) -> None:
    o = order("ubereats_delivery")
    clover.fail_next(429, retry_after=3)
    with pytest.raises(PosTransientError) as caught:
        await pos.inject(o, PLAN, attempt(o))
    assert caught.value.retry_after == 3
    assert clover.orders == {}


async def test_a_hang_before_the_work_times_out_and_creates_nothing(
    clover: FakeClover, pos: CloverConnector
) -> None:
    o = order("ubereats_delivery")
    clover.hang_next(path=f"/v3/merchants/{clover.merchant_id}/atomic_order/orders")
    with pytest.raises(PosTransientError, match="timed out"):
        await pos.inject(o, PLAN, attempt(o))
    assert clover.orders == {}
