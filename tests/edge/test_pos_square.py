"""The Square connector against a loopback fake Square that checks every request by the spec."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from edge.orders.model import Order
from edge.pos import (
    Category,
    InjectionPlan,
    Menu,
    MenuItem,
    MenuModifier,
    MenuVariation,
    ModifierList,
    PosPermanentError,
    PosTransientError,
    PriceDifference,
    unlinked_lines,
)
from edge.pos.square import SquareConnector, retry_after
from tests.conftest import load_order
from tests.support.attempts import fresh_attempt
from tests.support.fake_square import FakeSquare
from tests.support.square_spec import SPEC_MISSING, SPEC_PATH, SpecViolation, validate_request

Json = dict[str, Any]
PLAN = InjectionPlan(
    store_id="st_demo",
    location_id="LBASTILLE1",
    tenders={"ubereats": "EXTERNAL", "deliveroo": "OTHER"},
)
NEW = fresh_attempt("create", "se-test")


def order(name: str, **changes: Any) -> Order:
    return Order.model_validate_json(json.dumps(load_order(name, **changes)))


def linked_self_delivery(**changes: Any) -> Order:
    """The self-delivery sample with its free-text "Œuf" linked to the POS modifier."""
    doc = load_order("self_delivery_with_tip", **changes)
    doc["items"][0]["modifiers"][1]["pos_id"] = "mod_oeuf"
    return Order.model_validate_json(json.dumps(doc))


def connect(fake: FakeSquare, timeout: float = 5.0) -> SquareConnector:
    return SquareConnector(
        token=fake.token, location_id=fake.location_id, base_url=fake.url, timeout=timeout
    )


@pytest.fixture
async def pos(square: FakeSquare) -> AsyncIterator[SquareConnector]:
    async with connect(square) as connector:
        yield connector


async def test_order_becomes_one_square_order_with_catalog_lines(
    square: FakeSquare, pos: SquareConnector
) -> None:
    ue = order("ubereats_delivery")
    injected = await pos.inject(ue, PLAN, NEW)

    [body] = square.posted("/v2/orders")
    sent = body["order"]
    assert [li["catalog_object_id"] for li in sent["line_items"]] == [
        "itm_cheese",
        "itm_frites",
        "itm_creme_brulee",
    ]
    assert [li["quantity"] for li in sent["line_items"]] == ["2", "1", "2"]
    assert [
        (m["catalog_object_id"], m["quantity"]) for m in sent["line_items"][0]["modifiers"]
    ] == [
        ("mod_bacon", "1"),
        ("mod_cuisson_ap", "1"),
    ]
    assert sent["line_items"][0]["note"] == "sans oignons"
    assert sent["reference_id"] == ue.source.partner_order_id
    assert sent["source"] == {"name": "Uber Eats A1B2C"}
    assert sent["ticket_name"] == "Uber Eats A1B2C"
    assert "taxes" not in sent, "taxes are the POS's to compute"
    assert sent["pricing_options"] == {"auto_apply_taxes": True}
    [fulfillment] = sent["fulfillments"]
    assert fulfillment["type"] == "DELIVERY"
    details = fulfillment["delivery_details"]
    assert details["courier_provider_name"] == "Uber Eats"
    assert details["recipient"]["display_name"] == "Élodie M."
    assert "Allergies: peanuts" in details["note"]
    assert square.requests[0].headers["Authorization"] == f"Bearer {square.token}"
    assert square.requests[0].headers["Square-Version"] == "2025-08-20"

    assert list(square.orders) == [injected.pos_order_id]
    assert injected.pos_total == 4550
    assert injected.currency == "EUR"
    assert injected.differences == ()
    assert injected.subtotal_difference == 0


async def test_partner_courier_keeps_the_tip(square: FakeSquare, pos: SquareConnector) -> None:
    doc = load_order("ubereats_delivery")
    doc["totals"]["tip"] = 200
    injected = await pos.inject(Order.model_validate_json(json.dumps(doc)), PLAN, NEW)
    [body] = square.posted("/v2/orders")
    assert "service_charges" not in body["order"]
    assert injected.tip_sent == 0


async def test_self_delivery_tip_and_address_go_to_the_pos(
    square: FakeSquare, pos: SquareConnector
) -> None:
    injected = await pos.inject(linked_self_delivery(), PLAN, NEW)
    [body] = square.posted("/v2/orders")
    fee, tip = body["order"]["service_charges"]
    assert fee["name"] == "Delivery fee", "the fee as Square's fee construct, not in a price"
    assert fee["amount_money"] == {"amount": 250, "currency": "EUR"}
    assert tip["amount_money"] == {"amount": 300, "currency": "EUR"}
    assert tip["calculation_phase"] == "TOTAL_PHASE"
    assert tip["taxable"] is False
    details = body["order"]["fulfillments"][0]["delivery_details"]
    assert "courier_provider_name" not in details
    assert details["recipient"]["phone_number"] == "+33612345678"
    assert details["recipient"]["address"]["address_line_1"] == "12 rue de la Roquette"
    assert details["dropoff_notes"] == "Code porte 4521"
    assert injected.tip_sent == 300
    assert injected.pos_total == 2200 + 250 + 300


async def test_pickup_gets_its_tip_and_a_scheduled_pickup(
    square: FakeSquare, pos: SquareConnector
) -> None:
    doc = load_order("deliveroo_pickup_scheduled")
    doc["totals"]["tip"] = 150
    await pos.inject(Order.model_validate_json(json.dumps(doc)), PLAN, NEW)
    sent = square.posted("/v2/orders")[0]["order"]
    assert sent["service_charges"][0]["amount_money"]["amount"] == 150
    [fulfillment] = sent["fulfillments"]
    assert fulfillment["type"] == "PICKUP"
    assert fulfillment["pickup_details"]["schedule_type"] == "SCHEDULED"
    assert fulfillment["pickup_details"]["pickup_at"].startswith(doc["scheduled_for"][:16])
    assert sent["line_items"][0]["modifiers"][0]["quantity"] == "2"


async def test_dine_in_has_no_fulfillment(square: FakeSquare, pos: SquareConnector) -> None:
    await pos.inject(order("doordash_pending", type="dine_in", status="accepted"), PLAN, NEW)
    assert "fulfillments" not in square.posted("/v2/orders")[0]["order"]


async def test_unlinked_modifier_stops_before_any_request(
    square: FakeSquare, pos: SquareConnector
) -> None:
    with pytest.raises(PosPermanentError) as err:
        await pos.inject(order("self_delivery_with_tip"), PLAN, NEW)
    assert err.value.unlinked == ["l1/m2"]
    assert square.requests == []


async def test_same_revision_twice_is_one_pos_order(
    square: FakeSquare, pos: SquareConnector
) -> None:
    first = await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    second = await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    assert second.pos_order_id == first.pos_order_id
    assert len(square.orders) == 1
    keys = {b["idempotency_key"] for b in square.posted("/v2/orders")}
    assert len(keys) == 1

    await pos.inject(order("ubereats_delivery", revision=2), PLAN, NEW)
    assert len(square.orders) == 2, "a new revision is a new request"


async def test_crash_after_square_created_the_order_is_still_one_order(
    square: FakeSquare,
) -> None:
    # Square creates the order but its answer never reaches us; then the process dies.
    square.fail_next(502, after_processing=True)
    async with connect(square) as before_crash:
        with pytest.raises(PosTransientError):
            await before_crash.inject(order("ubereats_delivery"), PLAN, NEW)
    square.hang_next(after_processing=True)
    async with connect(square, timeout=0.3) as before_crash:
        with pytest.raises(PosTransientError):
            await before_crash.inject(order("ubereats_delivery"), PLAN, NEW)
    async with connect(square) as after_restart:
        injected = await after_restart.inject(order("ubereats_delivery"), PLAN, NEW)
    assert list(square.orders) == [injected.pos_order_id]


async def test_server_error_is_transient_then_succeeds(
    square: FakeSquare, pos: SquareConnector
) -> None:
    square.fail_next(500)
    with pytest.raises(PosTransientError) as err:
        await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    assert err.value.retry_after is None
    assert square.orders == {}
    await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    assert len(square.orders) == 1


async def test_rate_limit_carries_retry_after(square: FakeSquare, pos: SquareConnector) -> None:
    square.fail_next(429, retry_after=7)
    with pytest.raises(PosTransientError) as err:
        await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    assert err.value.retry_after == 7.0


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("2.5") == 2.5
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after(None) is None
    assert retry_after("soon") is None


async def test_refused_connection_is_transient(square: FakeSquare, pos: SquareConnector) -> None:
    await square.refuse()
    with pytest.raises(PosTransientError, match="cannot reach Square"):
        await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    status = await pos.check_link()
    assert not status.ok
    await square.reset()
    assert (await pos.check_link()).ok


async def test_hang_times_out_as_transient(square: FakeSquare) -> None:
    square.hang_next()
    async with connect(square, timeout=0.2) as pos:
        with pytest.raises(PosTransientError, match="timed out"):
            await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    assert square.hung.is_set()
    assert square.orders == {}


@pytest.mark.parametrize(
    ("unknown", "unlinked"), [("itm_frites", ["l2"]), ("mod_cuisson_ap", ["l1/m2"])]
)
async def test_unknown_catalog_object_is_permanent_and_named(
    square: FakeSquare, pos: SquareConnector, unknown: str, unlinked: list[str]
) -> None:
    square.reject_catalog_ids({unknown})
    with pytest.raises(PosPermanentError) as err:
        await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    assert err.value.unlinked == unlinked
    assert unknown in err.value.reason
    assert square.orders == {}


async def test_wrong_token_is_permanent(square: FakeSquare) -> None:
    async with SquareConnector(
        token="revoked", location_id=square.location_id, base_url=square.url, timeout=5
    ) as pos:
        with pytest.raises(PosPermanentError, match="401"):
            await pos.inject(order("ubereats_delivery"), PLAN, NEW)
        status = await pos.check_link()
    assert not status.ok
    assert "UNAUTHORIZED" in status.detail


async def test_check_link_names_the_location(pos: SquareConnector) -> None:
    status = await pos.check_link()
    assert status.ok
    assert status.location_name == "Burger Lab Bastille"


async def test_price_difference_is_recorded_not_hidden(
    square: FakeSquare, pos: SquareConnector
) -> None:
    square.set_price("itm_frites", 500)
    injected = await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    assert injected.differences == (PriceDifference("l2", ours=450, pos=500),)
    assert injected.subtotal_difference == 50
    assert injected.pos_total == 4600


async def test_read_menu_pages_through_the_catalog() -> None:
    if not SPEC_PATH.is_file():
        pytest.skip(SPEC_MISSING)
    async with FakeSquare(page_size=7, extra_items=6) as square, connect(square) as pos:
        menu = await pos.read_menu()
        lists = [r for r in square.requests if r.path == "/v2/catalog/list"]
        assert len(lists) > 3
        assert "cursor" not in lists[0].query
        assert all(r.query.get("cursor") for r in lists[1:])
        assert lists[0].query["types"] == "ITEM,MODIFIER_LIST,CATEGORY,IMAGE,TAX"
        assert square.violations == []
    items = {i.name: i for i in menu.items}
    assert len(items) == 15 + 6
    cheese = items["Cheeseburger"]
    assert [(v.id, v.price) for v in cheese.variations] == [
        ("itm_cheese", 1250),
        ("itm_cheese_double", 1650),
    ]
    assert cheese.modifier_list_ids == ("ml_supplements", "ml_cuisson")
    assert cheese.category_ids == ("cat_burgers", "lbl_burger")  # its brand is a category
    supplements = next(ml for ml in menu.modifier_lists if ml.id == "ml_supplements")
    assert [(m.id, m.name, m.price) for m in supplements.modifiers] == [
        ("mod_bacon", "Bacon", 150),
        ("mod_extra_cheese", "Extra cheese", 100),
        ("mod_oignons_confits", "Oignons confits", 0),
    ]
    assert Category("cat_drinks", "Boissons") in menu.categories
    assert unlinked_lines(order("ubereats_delivery"), menu) == []
    assert unlinked_lines(order("self_delivery_with_tip"), menu) == ["l1/m2"]


def test_unlinked_lines_finds_missing_and_unknown_ids() -> None:
    menu = Menu(
        items=(
            MenuItem("i1", "Pizza", (), (MenuVariation("itm_pizza_reine", "N", 1200, "EUR"),), ()),
        ),
        modifier_lists=(
            ModifierList("ml", "Taille", (MenuModifier("mod_taille_l", "L", 300, "EUR"),)),
        ),
        categories=(),
    )
    sample = order("self_delivery_with_tip")
    assert unlinked_lines(sample) == ["l1/m2"]
    assert unlinked_lines(sample, menu) == ["l1/m2", "l2"]


async def test_void_cancels_the_order_once(square: FakeSquare, pos: SquareConnector) -> None:
    injected = await pos.inject(order("ubereats_delivery"), PLAN, NEW)
    await pos.void(injected.pos_order_id)
    assert square.orders[injected.pos_order_id]["state"] == "CANCELED"
    await pos.void(injected.pos_order_id)
    assert len([r for r in square.requests if r.method == "PUT"]) == 1


async def test_partner_payment_is_recorded_and_closes_the_ticket(
    square: FakeSquare, pos: SquareConnector
) -> None:
    deliveroo = order("deliveroo_pickup_scheduled")
    injected = await pos.inject(deliveroo, PLAN, NEW)
    assert PLAN.should_close(deliveroo)
    closed = await pos.close_ticket(deliveroo, injected, PLAN, NEW)
    again = await pos.close_ticket(deliveroo, injected, PLAN, NEW)
    assert again == closed
    [payment] = square.payments.values()
    assert payment["id"] == closed.payment_id
    assert payment["external_details"]["type"] == "OTHER"
    assert payment["external_details"]["source"] == "Deliveroo #4821"
    assert payment["external_details"]["source_id"] == "gb:8a7f0c1e"
    assert payment["amount_money"] == {"amount": 2280, "currency": "EUR"}
    assert payment["status"] == "COMPLETED"
    assert square.posted("/v2/payments")[0]["source_id"] == "EXTERNAL"
    assert square.orders[injected.pos_order_id]["state"] == "COMPLETED"
    with pytest.raises(PosPermanentError, match="refund"):
        await pos.void(injected.pos_order_id)


def test_spec_rejects_an_integer_quantity() -> None:
    if not SPEC_PATH.is_file():
        pytest.skip(SPEC_MISSING)
    good = {
        "idempotency_key": "k1",
        "order": {"location_id": "L1", "line_items": [{"catalog_object_id": "x", "quantity": "1"}]},
    }
    validate_request("POST", "/v2/orders", body=json.dumps(good).encode())
    bad = json.loads(json.dumps(good))
    bad["order"]["line_items"][0]["quantity"] = 1
    with pytest.raises(SpecViolation, match="is not of type 'string'"):
        validate_request("POST", "/v2/orders", body=json.dumps(bad).encode())


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 1},  # Square quantities are strings
        {"tax_free": True},  # not a field Square knows
        {"total_money": {"amount": 1, "currency": "EUR"}},  # read-only
    ],
)
async def test_fake_answers_400_to_requests_off_spec(square: FakeSquare, change: Json) -> None:
    line = {"catalog_object_id": "itm_coca", "quantity": "1", **change}
    body = {
        "idempotency_key": "k1",
        "order": {"location_id": square.location_id, "line_items": [line]},
    }
    headers = {"Authorization": f"Bearer {square.token}", "Square-Version": "2025-08-20"}
    async with httpx.AsyncClient(base_url=square.url, timeout=5) as client:
        response = await client.post("/v2/orders", json=body, headers=headers)
    assert response.status_code == 400
    assert "rejected by the Square spec" in response.json()["errors"][0]["detail"]
    assert square.orders == {}
    assert len(square.violations) == 1
    square.violations.clear()
