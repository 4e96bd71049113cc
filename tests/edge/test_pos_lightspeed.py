"""The Lightspeed K connector against the strict fake: submitted once, its answer awaited."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from edge.orders.model import Order
from edge.pos import PosPending, PosPermanentError, PosTransientError
from edge.pos.lightspeed import REFRESH_SECRET, LightspeedKConnector
from edge.pos.model import Attempt, InjectionPlan
from tests.conftest import load_order
from tests.support.fake_lightspeed_k import FakeLightspeedK
from tests.support.lightspeed_menu import link
from tests.support.memory_secrets import MemorySecrets

PLAN = InjectionPlan(store_id="st_demo", location_id="")


def order(name: str, **changes: Any) -> Order:
    doc = load_order(name, **changes)
    if name == "self_delivery_with_tip":  # its second modifier is not linked in the sample
        doc["items"][0]["modifiers"][1]["pos_id"] = "mod_oeuf"
    return Order.model_validate_json(json.dumps(link(doc)))


def attempt(
    o: Order, tries: int = 0, progress: Mapping[str, Any] | None = None, events: tuple = ()
) -> Attempt:
    return Attempt(
        step="create",
        reference=PLAN.reference(o),
        tries=tries,
        first_at=time.time() - 5,
        progress=dict(progress or {}),
        events=events,
    )


@pytest.fixture
def secrets() -> MemorySecrets:
    return MemorySecrets()


@pytest.fixture
async def pos(lsk: FakeLightspeedK, secrets: MemorySecrets) -> AsyncIterator[LightspeedKConnector]:
    async with LightspeedKConnector(
        client_id="edge-box",
        client_secret="edge-box-secret",
        initial_refresh_token=lsk.refresh_token,
        business_location_id=45454565682155,
        endpoint_id="store-edge",
        secrets=secrets,
        base_url=lsk.url,
        timeout=2.0,
    ) as connector:
        yield connector


async def submit_and_answer(
    pos: LightspeedKConnector, lsk: FakeLightspeedK, o: Order, tries: int = 0
) -> Any:
    """Submit; relay the notifications the fake sent, as the cloud does; ask again."""
    first = attempt(o, tries=tries)
    with pytest.raises(PosPending):
        await pos.inject(o, PLAN, first)
    await lsk.settle()
    events = tuple(n for n in lsk.notifications if n.get("thirdPartyReference") == first.reference)
    return await pos.inject(o, PLAN, attempt(o, 1, first.progress, events))


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
async def test_every_order_type_reaches_the_till_once(
    lsk: FakeLightspeedK, pos: LightspeedKConnector, fixture: str, changes: dict[str, Any]
) -> None:
    o = order(fixture, **changes)
    injected = await submit_and_answer(pos, lsk, o)
    assert list(lsk.orders) == [injected.pos_order_id]
    assert lsk.orders[injected.pos_order_id]["thirdPartyReference"] == PLAN.reference(o)
    expected = "local" if o.type == "dine_in" else "toGo"
    assert lsk.orders[injected.pos_order_id]["orderType"] == expected


async def test_a_resent_order_is_adopted_through_the_409(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    o = order("ubereats_delivery")
    with pytest.raises(PosPending):
        await pos.inject(o, PLAN, attempt(o))
    await lsk.settle()
    # a try whose submission was never recorded (a crash after the 200) sends it again
    again = attempt(o, tries=1)
    with pytest.raises(PosPending):
        await pos.inject(o, PLAN, again)
    assert "submitted_at" in again.progress
    await lsk.settle()
    assert len(lsk.orders) == 1


async def test_a_refused_order_is_a_permanent_error_naming_the_reason(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    lsk.fail_next_result("Customer email clash")
    with pytest.raises(PosPermanentError, match="Customer email clash"):
        await submit_and_answer(pos, lsk, order("ubereats_delivery"))
    assert lsk.orders == {}


async def test_a_lost_relay_is_made_up_by_the_receipt_of_the_closed_order(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    o = order("ubereats_delivery")  # paid: the embedded payment closes the account
    first = attempt(o)
    with pytest.raises(PosPending):
        await pos.inject(o, PLAN, first)
    await lsk.settle()
    injected = await pos.inject(o, PLAN, attempt(o, 1, first.progress))  # nothing relayed
    assert list(lsk.orders) == [injected.pos_order_id]


async def test_no_answer_at_all_waits_then_says_to_look_at_the_till(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    o = order("ubereats_delivery")
    lsk.drop_next_result()
    first = attempt(o)
    with pytest.raises(PosPending):
        await pos.inject(o, PLAN, first)
    with pytest.raises(PosPending):
        await pos.inject(o, PLAN, attempt(o, 1, first.progress))
    long_ago = {"submitted_at": time.time() - 3600}
    with pytest.raises(PosPermanentError, match="look for it there"):
        await pos.inject(o, PLAN, attempt(o, 2, long_ago))


async def test_not_ready_is_transient_and_says_why(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    lsk.set_ready(False, why="salesPeriod")
    with pytest.raises(PosTransientError, match="sales period is closed"):
        await pos.inject(order("ubereats_delivery"), PLAN, attempt(order("ubereats_delivery")))
    assert lsk.posted("/o/op/1/order/toGo") == []


async def test_the_rotated_refresh_token_is_kept_before_it_is_used(
    lsk: FakeLightspeedK, pos: LightspeedKConnector, secrets: MemorySecrets
) -> None:
    assert (await pos.check_link()).ok
    assert json.loads(secrets.values[REFRESH_SECRET])["token"] == lsk.refresh_token
    lsk.expire_token()
    await pos.read_menu()
    assert lsk.refreshes == 2
    assert json.loads(secrets.values[REFRESH_SECRET])["token"] == lsk.refresh_token


async def test_cancellation_cannot_be_done_through_the_api(pos: LightspeedKConnector) -> None:
    with pytest.raises(PosPermanentError, match="on the till"):
        await pos.void("A17700.1")


async def test_the_menu_walks_every_screen_once(pos: LightspeedKConnector) -> None:
    menu = await pos.read_menu()
    skus = [v.id for item in menu.items for v in item.variations]
    assert len(skus) == len(set(skus))
    assert link(load_order("ubereats_delivery"))["items"][0]["pos_id"] in skus
    cuisson = [ml for ml in menu.modifier_lists if ml.min_selected == 1 and ml.max_selected == 1]
    assert cuisson, "the required cooking group"
