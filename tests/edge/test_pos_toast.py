"""The Toast connector against the strict fake: every order once, found again after a doubt."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edge.orders.model import Order
from edge.pos import PosPermanentError, PosTransientError
from edge.pos.model import Attempt, InjectionPlan, rule_violations
from edge.pos.toast import ToastConnector
from tests.conftest import load_order
from tests.support.attempts import fresh_attempt
from tests.support.fake_toast import FakeToast
from tests.support.toast_menu import link, pos_id

# The restaurant's own website is paid into Toast's "Online" type (configured: the names differ).
PLAN = InjectionPlan(
    store_id="st_demo",
    location_id="",
    delivery_state="MA",
    tenders={"website": pos_id("pt_online")},
)


def order(name: str, **changes: Any) -> Order:
    doc = load_order(name, **changes)
    if name == "self_delivery_with_tip":  # its second modifier is not linked in the sample
        doc["items"][0]["modifiers"][1]["pos_id"] = "mod_oeuf"
    return Order.model_validate_json(json.dumps(link(doc)))


def attempt(o: Order, tries: int = 0) -> Attempt:
    return Attempt(
        step="create",
        reference=PLAN.reference(o),
        tries=tries,
        first_at=time.time() - 5,
        progress={},
    )


@pytest.fixture
async def pos(toast: FakeToast) -> AsyncIterator[ToastConnector]:
    async with ToastConnector(
        client_id=toast.client_id,
        client_secret=toast.client_secret,
        restaurant_guid=toast.restaurant_guid,
        base_url=toast.url,
        timeout=2.0,
    ) as connector:
        yield connector


@pytest.mark.parametrize(
    ("fixture", "changes"),
    [
        ("ubereats_delivery", {}),
        ("self_delivery_with_tip", {}),
        ("deliveroo_pickup_scheduled", {"scheduled_for": "2030-01-01T12:30:00+01:00"}),
        ("doordash_pending", {"status": "accepted", "type": "dine_in"}),
        ("large_catering_order", {}),
    ],
)
async def test_every_order_type_goes_in_once_and_paid(
    toast: FakeToast, pos: ToastConnector, fixture: str, changes: dict[str, Any]
) -> None:
    o = order(fixture, **changes)
    injected = await pos.inject(o, PLAN, attempt(o))
    closed = await pos.close_ticket(o, injected, PLAN, attempt(o))
    assert list(toast.orders) == [injected.pos_order_id]
    created = toast.orders[injected.pos_order_id]
    assert created["externalId"] == f"storeedge:{PLAN.reference(o)}"
    payments = [p for c in created["checks"] for p in c["payments"]]
    assert len(payments) == 1
    assert payments[0]["otherPayment"]["guid"] == closed.tender
    assert toast.payment_mismatches == []
    # one login, the menu, three configuration lists (paged), prices, orders
    assert toast.logins == 1


async def test_a_timeout_after_toast_created_the_order_finds_it_instead_of_a_second(
    toast: FakeToast, pos: ToastConnector
) -> None:
    o = order("ubereats_delivery")
    toast.hang_next(after_processing=True, path="/orders/v2/orders")
    with pytest.raises(PosTransientError):
        await pos.inject(o, PLAN, attempt(o))
    assert len(toast.orders) == 1, "the fake did the work"
    again = await pos.inject(o, PLAN, attempt(o, tries=1))
    assert list(toast.orders) == [again.pos_order_id]


async def test_an_unknown_outcome_with_nothing_created_creates_it_once(
    toast: FakeToast, pos: ToastConnector
) -> None:
    o = order("ubereats_delivery")
    toast.fail_next(500, path="/orders/v2/orders")
    with pytest.raises(PosTransientError):
        await pos.inject(o, PLAN, attempt(o))
    assert toast.orders == {}
    injected = await pos.inject(o, PLAN, attempt(o, tries=1))
    assert list(toast.orders) == [injected.pos_order_id]


async def test_a_second_create_with_our_reference_is_refused_and_adopted(
    toast: FakeToast, pos: ToastConnector
) -> None:
    o = order("ubereats_delivery")
    first = await pos.inject(o, PLAN, attempt(o))
    # a try that believed nothing was sent (tries=0) still ends on the same order
    second = await pos.inject(o, PLAN, attempt(o))
    assert second.pos_order_id == first.pos_order_id
    assert len(toast.orders) == 1


async def test_an_expired_token_is_renewed_once(toast: FakeToast, pos: ToastConnector) -> None:
    o = order("ubereats_delivery")
    await pos.check_link()
    toast.expire_token()
    await pos.inject(o, PLAN, attempt(o))
    assert toast.logins == 2


async def test_wrong_credentials_are_a_permanent_error(toast: FakeToast) -> None:
    async with ToastConnector(
        client_id="nope",
        client_secret="nope",
        restaurant_guid=toast.restaurant_guid,
        base_url=toast.url,
    ) as bad:
        status = await bad.check_link()
    assert not status.ok
    assert "client_id" in status.detail


async def test_required_modifier_rule_is_checked_from_the_menu(pos: ToastConnector) -> None:
    menu = await pos.read_menu()
    doc = link(load_order("ubereats_delivery"))
    cuisson = pos_id("mod_cuisson_ap")
    doc["items"][0]["modifiers"] = [
        m for m in doc["items"][0]["modifiers"] if m["pos_id"] != cuisson
    ]
    broken = rule_violations(Order.model_validate_json(json.dumps(doc)), menu)
    assert len(broken) == 1
    assert "line l1" in broken[0], broken


async def test_void_then_void_again(toast: FakeToast, pos: ToastConnector) -> None:
    o = order("ubereats_delivery")
    injected = await pos.inject(o, PLAN, attempt(o))
    await pos.void(injected.pos_order_id)
    await pos.void(injected.pos_order_id)
    assert toast.voided == {injected.pos_order_id}


async def test_an_unknown_guid_is_refused_permanently(
    toast: FakeToast, pos: ToastConnector
) -> None:
    o = order("ubereats_delivery")
    toast.reject_guids({pos_id("itm_frites")})
    with pytest.raises(PosPermanentError):
        await pos.inject(o, PLAN, fresh_attempt("create", PLAN.reference(o)))
    assert toast.orders == {}


async def test_a_dish_note_goes_to_the_kitchen_as_a_special_request(
    toast: FakeToast, pos: ToastConnector
) -> None:
    o = order("ubereats_delivery")  # the cheeseburger line says "sans oignons"
    injected = await pos.inject(o, PLAN, attempt(o))
    burger = toast.orders[injected.pos_order_id]["checks"][0]["selections"][0]
    requests = [m for m in burger["modifiers"] if m.get("selectionType") == "SPECIAL_REQUEST"]
    assert [m["displayName"] for m in requests] == ["sans oignons"]
    assert injected.differences == (), "a special request costs nothing"


async def test_a_price_toast_charges_differently_is_reported(
    toast: FakeToast, pos: ToastConnector
) -> None:
    toast.set_price(pos_id("itm_frites"), "5.00")  # the order says 4.50
    o = order("ubereats_delivery")
    injected = await pos.inject(o, PLAN, attempt(o))
    assert [(d.line, d.ours, d.pos) for d in injected.differences] == [("l2", 450, 500)]
