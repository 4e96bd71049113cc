"""The fake Clover itself: every endpoint's happy path, its strictness (our OpenAPI document judges
each request and each answer), Clover's documented behaviours and the fault controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import load_order
from tests.support.clover_inventory import (
    CLOVER_ID,
    build_inventory,
    link,
    pos_id,
    rule_problems,
)
from tests.support.fake_clover import RATE_LIMIT_HEADERS, FakeClover
from tests.support.fake_clover_routes import ALL_PERMISSIONS

Json = dict[str, Any]
UA = "store-edge/0.1.0 (test)"
FIXTURES = [
    "deliveroo_pickup_scheduled",
    "doordash_pending",
    "large_catering_order",
    "self_delivery_with_tip",
    "ubereats_delivery",
    "ubereats_delivery_cancelled_rev2",
]
DAY_MS = 86_400_000


def connect(fake: FakeClover, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token or fake.token}", "User-Agent": UA}
    return httpx.AsyncClient(base_url=fake.url + fake.base_path, headers=headers, timeout=5)


@pytest.fixture
async def api(clover: FakeClover) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(clover) as client:
        yield client


def cart_of(order_doc: Json, **fields: Any) -> Json:
    """An atomic-order body for a linked sample order: n of a dish = n line items, each with its
    own modifications; unlinked modifiers are left out here (a connector would refuse them)."""
    lines = []
    for item in order_doc["items"]:
        for _ in range(item["quantity"]):
            line: Json = {"item": {"id": item["pos_id"]}}
            if item.get("notes"):
                line["note"] = item["notes"]
            line["modifications"] = [
                {"modifier": {"id": m["pos_id"]}}
                for m in item["modifiers"]
                if m.get("pos_id")
                for _ in range(m["quantity"])
            ]
            lines.append(line)
    return {"orderCart": {"lineItems": lines, **fields}}


def line(fixture_id: str, *mods: str, **fields: Any) -> Json:
    return {
        "item": {"id": pos_id(fixture_id)},
        "modifications": [{"modifier": {"id": pos_id(m)}} for m in mods],
        **fields,
    }


CHEESE = line("itm_cheese", "mod_bacon", "mod_cuisson_ap")  # 1250 + 150


async def create(api: httpx.AsyncClient, **cart: Any) -> Json:
    body = {"orderCart": {"lineItems": [CHEESE, line("itm_frites")], **cart}}
    r = await api.post("/atomic_order/orders", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# ---- menu and fixtures --------------------------------------------------------------------


def test_every_fixture_id_has_a_clover_id_in_the_menu_and_keeps_the_rules() -> None:
    inv = build_inventory()
    for name in FIXTURES:
        doc = link(load_order(name))
        for item in doc["items"]:
            if item.get("pos_id"):
                assert CLOVER_ID.match(item["pos_id"]), name
                assert item["pos_id"] in inv.items, name
            for mod in item["modifiers"]:
                if mod.get("pos_id"):
                    assert mod["pos_id"] in inv.modifiers, (name, mod)
        assert rule_problems(inv, doc) == [], name
    assert load_order("ubereats_delivery")["items"][0]["pos_id"] == "itm_cheese", "deep copy"
    assert pos_id("itm_cheese") == pos_id("itm_cheese") != pos_id("mod_cheese")
    # the required group is real: a cheeseburger without a cooking breaks it
    assert rule_problems(inv, {"items": [{"pos_id": pos_id("itm_cheese"), "modifiers": []}]})


async def test_every_fixture_becomes_one_order(clover: FakeClover, api: httpx.AsyncClient) -> None:
    for name in FIXTURES:
        r = await api.post("/atomic_order/orders", json=cart_of(link(load_order(name))))
        assert r.status_code == 200, (name, r.text)
    assert len(clover.orders) == len(FIXTURES)
    assert clover.rule_breaches == []
    catering = list(clover.orders.values())[2]
    assert len(catering["lineItems"]["elements"]) == sum(
        i["quantity"] for i in load_order("large_catering_order")["items"]
    )


# ---- merchant, order types, tenders ---------------------------------------------------------


async def test_merchant(clover: FakeClover) -> None:
    async with connect(clover) as client:
        r = await client.get(clover.url + clover.base_path)  # no trailing slash
    assert r.status_code == 200
    assert r.json()["id"] == clover.merchant_id
    assert r.json()["name"]


async def test_order_types_are_found_by_label_once_created(api: httpx.AsyncClient) -> None:
    r = await api.get("/order_types")
    labels = [t["label"] for t in r.json()["elements"]]
    assert labels == ["Dine In", "To Go", "Delivery"]
    assert r.headers["X-Clover-Allowed-Filter-Fields"] == "id,deletedTime"
    r = await api.post("/order_types", json={"label": "Uber Eats", "taxable": True})
    assert r.status_code == 200
    created = r.json()
    assert CLOVER_ID.match(created["id"])
    assert created["label"] == "Uber Eats"
    r = await api.get("/order_types")
    assert [t["id"] for t in r.json()["elements"] if t["label"] == "Uber Eats"] == [created["id"]]
    r = await api.get("/order_types", params={"filter": f"id={created['id']}"})
    assert [t["label"] for t in r.json()["elements"]] == ["Uber Eats"]


async def test_tenders_found_by_label_key_and_not_unique(
    clover: FakeClover, api: httpx.AsyncClient
) -> None:
    r = await api.get("/tenders", params={"filter": "labelKey=com.clover.tender.external_payment"})
    assert [t["label"] for t in r.json()["elements"]] == ["External Payment"]
    key = "com.ourco.tender.ubereats"
    r = await api.get("/tenders", params={"filter": f"labelKey={key}"})
    assert r.json()["elements"] == []
    tender = {"label": "Uber Eats", "labelKey": key, "enabled": True, "visible": True,
              "opensCashDrawer": False}  # fmt: skip
    first = (await api.post("/tenders", json=tender)).json()
    assert (first["labelKey"], first["editable"]) == (key, True)
    await api.post("/tenders", json=tender)  # no uniqueness is documented: a second one
    r = await api.get("/tenders", params={"filter": f"labelKey={key}"})
    assert len(r.json()["elements"]) == 2
    assert len(clover.tenders) == 5


# ---- atomic orders ------------------------------------------------------------------------


async def test_checkout_computes_and_persists_nothing(
    clover: FakeClover, api: httpx.AsyncClient
) -> None:
    cart = cart_of(link(load_order("ubereats_delivery")))
    r = await api.post("/atomic_order/checkouts", json=cart)
    assert r.status_code == 200
    body = r.json()
    assert (body["subtotal"], body["total"], body["totalTaxAmount"], body["isVat"]) == (
        4550, 4550, 414, True
    )  # fmt: skip
    assert body["taxSummaries"][0]["rate"] == 1_000_000
    assert [li["name"] for li in body["orderCart"]["lineItems"]][:2] == ["Cheeseburger"] * 2
    assert clover.orders == {}


async def test_discounts_service_charge_and_tax_order(
    clover: FakeClover, api: httpx.AsyncClient
) -> None:
    [charge] = clover.service_charges  # 10 %
    cheese = {**CHEESE, "discounts": [{"name": "line 50 %", "percentage": 50}]}  # 1400 -> 700
    cart = {
        "lineItems": [cheese, line("itm_frites"), {"name": "Delivery fee", "price": 250}],
        "discounts": [{"name": "10 %", "percentage": 10}, {"name": "promo", "amount": -40}],
        "serviceCharge": {"id": charge},
    }
    r = await api.post("/atomic_order/checkouts", json={"orderCart": cart})
    body = r.json()
    assert body["subtotal"] == 700 + 450 + 250
    # 1400 - 140 - 40 = 1220; service 122; VAT part of 1220 at 10 %: 110.9 -> 111
    assert (body["total"], body["totalTaxAmount"]) == (1220 + 122, 111)
    assert body["orderCart"]["serviceCharge"]["amount"] == 122


async def test_tax_added_when_not_vat_and_none_for_untaxed_order_type() -> None:
    async with FakeClover(vat=False) as fake, connect(fake) as api:
        body: Json = {"orderCart": {"lineItems": [line("itm_frites")]}}
        r = await api.post("/atomic_order/checkouts", json=body)
        assert (r.json()["total"], r.json()["totalTaxAmount"]) == (495, 45)
        untaxed = (await api.post("/order_types", json={"label": "Staff", "taxable": False})).json()
        body["orderCart"]["orderType"] = {"id": untaxed["id"]}
        r = await api.post("/atomic_order/checkouts", json=body)
        assert (r.json()["total"], r.json()["totalTaxAmount"]) == (450, 0)
        assert fake.violations == []


async def test_create_order(clover: FakeClover, api: httpx.AsyncClient) -> None:
    types = (await api.get("/order_types")).json()["elements"]
    delivery = next(t["id"] for t in types if t["label"] == "Delivery")
    order = await create(
        api, title="UE A1B2C", note="Élodie", orderType={"id": delivery},
        clientCreatedTime=1_795_000_000_000, state="open", groupLineItems=False,
    )  # fmt: skip
    assert list(clover.orders) == [order["id"]]
    assert CLOVER_ID.match(order["id"])
    assert (order["state"], order["paymentState"], order["total"]) == ("open", "OPEN", 1850)
    assert order["orderType"] == {"id": delivery}
    [cheese, frites] = order["lineItems"]["elements"]
    assert (cheese["name"], cheese["price"], cheese["priceWithModifiers"]) == (
        "Cheeseburger", 1250, 1400
    )  # fmt: skip
    assert [m["name"] for m in cheese["modifications"]["elements"]] == ["Bacon", "À point"]
    assert frites["item"] == {"id": pos_id("itm_frites")}
    assert clover.posted("/atomic_order/orders")[0]["orderCart"]["title"] == "UE A1B2C"


async def test_price_override_and_modifier_override(api: httpx.AsyncClient) -> None:
    lines = [
        line("itm_frites", price=400),
        {**line("itm_cheese"), "modifications": [
            {"modifier": {"id": pos_id("mod_cuisson_ap")}, "name": "Rosé", "amount": 20},
        ]},
    ]  # fmt: skip
    r = await api.post("/atomic_order/checkouts", json={"orderCart": {"lineItems": lines}})
    assert r.json()["total"] == 400 + 1250 + 20


@pytest.mark.parametrize(
    ("cart", "code", "details"),
    [
        ({}, "cart_is_empty_or_missing", None),
        ({"orderCart": {"lineItems": []}}, "cart_is_empty_or_missing", None),
        ({"orderCart": {"lineItems": [{"item": {"id": "ZZZZZZZZZZZZZ"}}]}},
         "item_does_not_exist", "ZZZZZZZZZZZZZ"),
        ({"orderCart": {"lineItems": [line("itm_cheese", "mod_oeuf")]}},
         "invalid_modifier", pos_id("mod_oeuf")),
        ({"orderCart": {"lineItems": [{**line("itm_frites"), "modifications": [
            {"modifier": {"id": "YYYYYYYYYYYYY"}}]}]}}, "invalid_modifier", "YYYYYYYYYYYYY"),
        ({"orderCart": {"lineItems": [CHEESE],
                        "discounts": [{"name": "x", "amount": -1, "percentage": 5}]}},
         "invalid_discount_attribute", None),
        ({"orderCart": {"lineItems": [CHEESE], "serviceCharge": {"id": "XXXXXXXXXXXXX"}}},
         "service_charge_does_not_exist", "XXXXXXXXXXXXX"),
        ({"orderCart": {"lineItems": [CHEESE], "orderType": {"id": "XXXXXXXXXXXXX"}}},
         "bad_request", None),
    ],
)  # fmt: skip
async def test_atomic_order_refusals(
    clover: FakeClover, api: httpx.AsyncClient, cart: Json, code: str, details: str | None
) -> None:
    for path in ("/atomic_order/checkouts", "/atomic_order/orders"):
        r = await api.post(path, json=cart)
        assert r.status_code == 400
        assert r.json()["message"] == code
        assert r.json()["details"] == (details or r.json()["details"])
    assert clover.orders == {}


@pytest.mark.parametrize(
    ("cart", "why"),
    [
        ({"lineItems": [{"item": {"id": "itm_cheese"}}]}, "^[0-9A-Z]{13}$"),
        ({"lineItems": [CHEESE], "discounts": [{"name": "promo", "amount": 300}]}, "maximum"),
        ({"lineItems": [{**CHEESE, "quantity": 2}]}, "quantity"),
        ({"lineItems": [CHEESE], "externalReferenceId": "ue-1"}, "externalReferenceId"),
        ({"lineItems": [CHEESE], "customers": []}, "customers"),
        ({"lineItems": [{"name": "Delivery fee"}]}, "any of"),
        ({"lineItems": [{**CHEESE, "modifications": [{"id": pos_id("mod_bacon")}]}]}, "modifier"),
        ({"lineItems": [{"name": "Fee", "price": 2.5}]}, "integer"),
        ({"lineItems": [CHEESE], "title": "T" * 128}, "too long"),
        ({"lineItems": [CHEESE], "discounts": [{"amount": -100}]}, "name"),
    ],
)
async def test_off_spec_carts_are_recorded_and_refused(
    clover: FakeClover, api: httpx.AsyncClient, cart: Json, why: str
) -> None:
    r = await api.post("/atomic_order/orders", json={"orderCart": cart})
    assert r.status_code == 400
    assert r.json()["message"] == "bad_request"
    [violation] = clover.violations
    assert why in violation
    assert clover.orders == {}
    clover.violations.clear()


async def test_more_than_3000_line_items_is_refused(
    clover: FakeClover, api: httpx.AsyncClient
) -> None:
    lines = [{"name": "Mini", "price": 1}] * 3001
    r = await api.post("/atomic_order/checkouts", json={"orderCart": {"lineItems": lines}})
    assert r.status_code == 400
    assert "maxItems: 3000" in clover.violations.pop()


# ---- orders: list, get, delete, payments -------------------------------------------------------


async def test_list_orders_filters_and_pages(clover: FakeClover, api: httpx.AsyncClient) -> None:
    a = await create(api, title="UE A", note="key:a")
    b = await create(api, title="UE AB", note="key:b")
    c = await create(api, title="DD C")

    async def ids(*filters: str, **params: Any) -> list[str]:
        query: list[tuple[str, Any]] = [("filter", f) for f in filters]
        query += [(k, str(v)) for k, v in params.items()]
        r = await api.get("/orders", params=query)
        assert r.status_code == 200, r.text
        return [o["id"] for o in r.json()["elements"]]

    assert await ids() == [c["id"], b["id"], a["id"]]  # newest first
    assert await ids("title=UE A") == [a["id"]]  # exact match
    assert await ids("note=key:b") == [b["id"]]
    assert await ids("title!=UE A", "createdTime>=0") == [c["id"], b["id"]]
    now = clover.clock()
    assert await ids(f"createdTime>={now - 60_000}", f"createdTime<={now}") == [
        c["id"], b["id"], a["id"]
    ]  # fmt: skip
    assert await ids(f"createdTime>{now + 1}") == []
    assert await ids(f"id in ('{a['id']}','{c['id']}')") == [c["id"], a["id"]]
    assert await ids(limit=2) == [c["id"], b["id"]]
    assert await ids(limit=2, offset=2) == [a["id"]]
    r = await api.get("/orders", params={"expand": "lineItems"})
    assert len(r.json()["elements"][0]["lineItems"]["elements"]) == 2
    r = await api.get("/orders")
    assert "lineItems" not in r.json()["elements"][0]
    assert "title" in r.headers["X-Clover-Allowed-Filter-Fields"]


async def test_new_orders_appear_in_lists_after_the_index_lag() -> None:
    async with FakeClover(index_lag=2) as fake, connect(fake) as api:
        order = await create(api, title="UE LAG")
        seen = []
        for _ in range(3):
            r = await api.get("/orders", params={"filter": "title=UE LAG"})
            seen.append([o["id"] for o in r.json()["elements"]])
        assert seen == [[], [], [order["id"]]]
        assert (await api.get(f"/orders/{order['id']}")).status_code == 200  # by id at once
        assert fake.violations == []


async def test_time_filters_only_look_at_the_last_90_days_of_the_range() -> None:
    now = [1_800_000_000_000]
    async with FakeClover(clock=lambda: now[0]) as fake, connect(fake) as api:
        order = await create(api)
        t0 = now[0]

        async def found(upper: int) -> bool:
            query: list[tuple[str, Any]] = [
                ("filter", f"createdTime>={t0 - 1}"),
                ("filter", f"createdTime<={upper}"),
            ]
            r = await api.get("/orders", params=query)
            return [o["id"] for o in r.json()["elements"]] == [order["id"]]

        assert await found(t0 + 89 * DAY_MS)
        assert not await found(t0 + 91 * DAY_MS)
        now[0] = t0 + 91 * DAY_MS  # open-ended ranges end now
        r = await api.get("/orders", params={"filter": f"createdTime>={t0 - 1}"})
        assert r.json()["elements"] == []
        assert fake.violations == []


async def test_get_order_with_expansions(clover: FakeClover, api: httpx.AsyncClient) -> None:
    order = await create(api, discounts=[{"name": "promo", "amount": -50}])
    r = await api.get(f"/orders/{order['id']}", params={"expand": "payments,lineItems"})
    body = r.json()
    assert body["payments"] == {"elements": []}
    assert len(body["lineItems"]["elements"]) == 2
    assert "discounts" not in body
    r = await api.get(
        f"/orders/{order['id']}", params=[("expand", "discounts"), ("expand", "serviceCharge")]
    )
    assert r.json()["discounts"]["elements"][0]["amount"] == -50
    assert "lineItems" not in r.json()
    r = await api.get(
        f"/orders/{order['id']}", params={"expand": "lineItems,payments,refunds,credits"}
    )
    assert r.status_code == 400
    assert "at most three" in clover.violations.pop()
    assert (await api.get("/orders/ZZZZZZZZZZZZZ")).status_code == 404


async def test_nested_expansions_are_capped_at_100(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/atomic_order/orders", json={"orderCart": {"lineItems": [line("itm_frites")] * 150}}
    )
    order = r.json()
    assert len(order["lineItems"]["elements"]) == 100
    r = await api.get(f"/orders/{order['id']}", params={"expand": "lineItems"})
    assert len(r.json()["lineItems"]["elements"]) == 100
    assert r.json()["total"] == 150 * 450


async def test_payment_with_an_existing_tender(clover: FakeClover, api: httpx.AsyncClient) -> None:
    order = await create(api)
    tender = (await api.post("/tenders", json={"label": "Uber Eats"})).json()
    body = {"tender": {"id": tender["id"]}, "amount": 1000, "tipAmount": 200, "taxAmount": 90,
            "externalPaymentId": "ue-A1B2C-pay", "note": "Uber Eats"}  # fmt: skip
    r = await api.post(f"/orders/{order['id']}/payments", json=body)
    assert r.status_code == 200
    payment = r.json()
    assert (payment["tender"]["id"], payment["result"]) == (tender["id"], "SUCCESS")
    assert list(clover.payments) == [payment["id"]]
    r = await api.get(f"/orders/{order['id']}", params={"expand": "payments"})
    assert r.json()["paymentState"] == "PARTIALLY_PAID"
    assert r.json()["payments"]["elements"][0]["externalPaymentId"] == "ue-A1B2C-pay"
    await api.post(f"/orders/{order['id']}/payments", json={**body, "amount": 850})
    r = await api.get(f"/orders/{order['id']}")
    assert r.json()["paymentState"] == "PAID"


async def test_payment_refusals(clover: FakeClover, api: httpx.AsyncClient) -> None:
    order = await create(api)
    path = f"/orders/{order['id']}/payments"
    r = await api.post(path, json={"tender": {"id": "NOSUCHTENDER1"}, "amount": 100})
    assert r.status_code == 400
    assert "NOSUCHTENDER1" in r.json()["message"]
    assert clover.violations == []  # a well-formed request Clover refuses
    cash = next(iter(clover.tenders))
    for body, why in [
        ({"tender": {"id": cash}, "amount": 0}, "minimum"),
        ({"tender": {"id": cash}, "amount": 5, "externalPaymentId": "x" * 33}, "too long"),
        ({"tender": {"id": cash}, "amount": 5, "note": "n" * 256}, "note: fails maxLength: 255"),
        ({"amount": 5}, "tender"),
    ]:
        r = await api.post(path, json=body)
        assert r.status_code == 400
        assert why in clover.violations.pop()
    assert (await api.post("/orders/ZZZZZZZZZZZZZ/payments", json={
        "tender": {"id": cash}, "amount": 5})).status_code == 404  # fmt: skip
    assert clover.payments == {}


async def test_delete_order(clover: FakeClover, api: httpx.AsyncClient) -> None:
    order = await create(api, title="UE DEL")
    r = await api.delete(f"/orders/{order['id']}")
    assert (r.status_code, r.content) == (200, b"")
    assert clover.deleted == {order["id"]}
    assert order["id"] in clover.orders  # still counted as created
    assert (await api.get(f"/orders/{order['id']}")).status_code == 404
    r = await api.get("/orders", params={"filter": "title=UE DEL"})
    assert r.json()["elements"] == []
    assert (await api.delete(f"/orders/{order['id']}")).status_code == 404  # twice: 404


# ---- inventory ----------------------------------------------------------------------------


async def test_items_come_in_pages(clover: FakeClover, api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    pages = 0
    while True:
        r = await api.get("/items", params={"limit": 10, "offset": len(seen)})
        elements = r.json()["elements"]
        pages += 1
        seen += [i["id"] for i in elements]
        if len(elements) < 10:
            break
    assert pages == 3
    assert seen == list(clover.inventory.items)
    r = await api.get("/items", params={"orderBy": "price DESC", "limit": 1})
    assert r.json()["elements"][0]["name"] == "Double cheeseburger"


async def test_item_expansions_and_variants(clover: FakeClover, api: httpx.AsyncClient) -> None:
    r = await api.get(
        "/items",
        params={"expand": "categories,tags,modifierGroups", "filter": f"id={pos_id('itm_cheese')}"},
    )
    [cheese] = r.json()["elements"]
    assert [c["name"] for c in cheese["categories"]["elements"]] == ["Burgers"]
    assert [g["name"] for g in cheese["modifierGroups"]["elements"]] == ["Suppléments", "Cuisson"]
    cuisson = cheese["modifierGroups"]["elements"][1]
    assert (cuisson["minRequired"], cuisson["maxAllowed"]) == (1, 1)
    group = clover.inventory.items[pos_id("itm_coca")]["itemGroup"]["id"]
    r = await api.get("/items", params={"filter": f"itemGroup.id={group}", "expand": "options"})
    variants = r.json()["elements"]
    assert [(v["name"], v["price"]) for v in variants] == [
        ("Coca-Cola 33 cl", 300), ("Coca-Cola 50 cl", 450)
    ]  # fmt: skip
    assert all(v["itemGroup"] == {"id": group} for v in variants)
    assert [v["options"]["elements"][0]["name"] for v in variants] == ["33 cl", "50 cl"]
    r = await api.get("/items", params={"filter": "available=false"})
    assert [i["name"] for i in r.json()["elements"]] == ["Salade de saison"]
    r = await api.get("/items", params={"filter": f"modifierGroup.id={cuisson['id']}"})
    assert len(r.json()["elements"]) == 2
    r = await api.get("/items", params={"expand": "categories,tags,modifierGroups,taxRates"})
    assert r.status_code == 400
    assert "at most three" in clover.violations.pop()
    r = await api.get("/items", params={"expand": "itemGroup"})  # not expandable
    assert r.status_code == 400
    assert "expand" in clover.violations.pop()


async def test_modifier_groups_categories_and_tags(api: httpx.AsyncClient) -> None:
    r = await api.get("/modifier_groups", params={"expand": "modifiers"})
    groups = {g["name"]: g for g in r.json()["elements"]}
    cuisson = groups["Cuisson"]
    assert (cuisson["minRequired"], cuisson["maxAllowed"]) == (1, 1)
    names = [m["name"] for m in cuisson["modifiers"]["elements"]]
    assert names == ["Saignant", "À point", "Bien cuit"]
    assert cuisson["modifierIds"].split(",") == [m["id"] for m in cuisson["modifiers"]["elements"]]
    assert groups["Suppléments"]["modifiers"]["elements"][0]["price"] == 150
    r = await api.get("/categories")
    cats = r.json()["elements"]
    assert [c["sortOrder"] for c in cats] == sorted(c["sortOrder"] for c in cats)
    assert "modifiedTime" not in cats[0]
    assert "items" not in cats[0]
    r = await api.get("/categories", params={"expand": "items"})
    burgers = r.json()["elements"][0]
    assert "modifiedTime" in burgers
    assert [i["name"] for i in burgers["items"]["elements"]] == [
        "Cheeseburger", "Double cheeseburger", "Veggie burger"
    ]  # fmt: skip
    r = await api.get("/tags", params={"expand": "items", "filter": "name=Bar"})
    [bar] = r.json()["elements"]
    assert {i["name"] for i in bar["items"]["elements"]} >= {"Coca-Cola 33 cl", "Eau minérale"}


async def test_modifiers_and_item_groups_have_their_own_lists(
    clover: FakeClover, api: httpx.AsyncClient
) -> None:
    r = await api.get("/modifiers", params={"limit": 8, "offset": 16})
    assert r.status_code == 200
    assert r.headers["X-Clover-Allowed-Filter-Fields"] == "id"
    tail = r.json()["elements"]
    assert len(tail) == len(clover.inventory.modifiers) - 16 < 8  # a short page: the last
    truffe = next(m for m in tail if m["name"] == "Sauce truffe")
    assert truffe["available"] is False
    assert clover.inventory.modifier_groups[truffe["modifierGroup"]["id"]]["name"] == "Sauces"
    r = await api.get("/item_groups", params={"expand": "attributes,items"})
    groups = {g["name"]: g for g in r.json()["elements"]}
    assert set(groups) == {"Coca-Cola", "Vanille"}
    vanille = groups["Vanille"]
    assert [a["name"] for a in vanille["attributes"]["elements"]] == ["Taille"]
    assert [i["name"] for i in vanille["items"]["elements"]] == ["Vanille Petite", "Vanille Grande"]
    assert (await api.get("/item_groups", params={"expand": "options"})).status_code == 400
    assert "expand" in clover.violations.pop()
    r = await api.get("/modifiers", params={"expand": "modifierGroup"})  # nothing expands
    assert r.status_code == 400
    assert "expand" in clover.violations.pop()


async def test_big_menus_page_and_nested_lists_stop_at_100() -> None:
    async with FakeClover(extra_items=150) as fake, connect(fake) as api:
        r = await api.get("/items")
        assert len(r.json()["elements"]) == 100  # default limit
        r = await api.get("/items", params={"limit": 100, "offset": 100})
        assert len(r.json()["elements"]) == len(fake.inventory.items) - 100
        r = await api.get("/categories", params={"expand": "items", "filter": "name=Pâtes"})
        assert len(r.json()["elements"][0]["items"]["elements"]) == 100
        r = await api.get("/items", params={"limit": 1001})
        assert r.status_code == 400  # our judgment: refused, not clamped
        assert "maximum" in fake.violations.pop()
        assert fake.violations == []


# ---- Clover's auth and request rules ---------------------------------------------------------


async def test_bad_token_wrong_merchant_and_missing_permission_are_all_401() -> None:
    async with FakeClover(permissions=ALL_PERMISSIONS - {"MERCHANT_W"}) as fake:
        async with connect(fake, token="not-the-token") as api:
            assert (await api.get("/tenders")).status_code == 401
        async with connect(fake) as api:
            assert (await api.get("/tenders")).status_code == 200
            r = await api.post("/tenders", json={"label": "Uber Eats"})
            assert r.status_code == 401  # a missing permission: 401, never 403
            r = await api.get(f"{fake.url}/v3/merchants/OTHERMERCHANT/items")
            assert r.status_code == 401
        async with httpx.AsyncClient(base_url=fake.url + fake.base_path) as bare:
            assert (await bare.get("/items")).status_code == 401
        assert fake.violations == []


async def test_missing_user_agent_is_refused(clover: FakeClover, api: httpx.AsyncClient) -> None:
    del api.headers["User-Agent"]
    r = await api.get("/items")
    assert r.status_code == 400
    assert "User-Agent" in clover.violations.pop()


async def test_unknown_endpoints_and_parameters_are_violations(
    clover: FakeClover, api: httpx.AsyncClient
) -> None:
    r = await api.post("/orders", json={"state": "open"})  # the classic flow is not ours
    assert r.status_code == 405
    assert "not an endpoint" in clover.violations.pop()
    r = await api.get("/print_event/ABCDEFGHIJKLM")
    assert r.status_code == 404
    assert "not an endpoint" in clover.violations.pop()
    r = await api.get("/items", params={"access_token": "x"})
    assert r.status_code == 400
    assert "access_token" in clover.violations.pop()
    r = await api.get("/orders", params={"filter": "customerName=x"})
    assert r.status_code == 400
    assert "filter" in clover.violations.pop()


async def test_off_spec_answers_are_caught(clover: FakeClover, api: httpx.AsyncClient) -> None:
    clover.set_price(pos_id("itm_frites"), -1)  # Clover never sends a negative item price
    r = await api.get("/items")
    assert r.status_code == 500
    assert clover.violations.pop().startswith("answer to GET")


# ---- fault controls -----------------------------------------------------------------------


async def test_fail_next_and_path_targeting(clover: FakeClover, api: httpx.AsyncClient) -> None:
    clover.fail_next(500)
    assert (await api.get("/tenders")).status_code == 500
    assert (await api.get("/tenders")).status_code == 200
    clover.fail_next(502, after_processing=True, path="/atomic_order/orders")
    assert (await api.get("/order_types")).status_code == 200  # not the targeted path
    r = await api.post("/atomic_order/orders", json={"orderCart": {"lineItems": [CHEESE]}})
    assert r.status_code == 502
    assert len(clover.orders) == 1  # Clover did it, the client never heard
    clover.fail_next(503, path=f"{clover.base_path}/atomic_order/orders")
    r = await api.post("/atomic_order/orders", json={"orderCart": {"lineItems": [CHEESE]}})
    assert r.status_code == 503
    assert len(clover.orders) == 1


async def test_rate_limited(clover: FakeClover, api: httpx.AsyncClient) -> None:
    clover.fail_next(429, retry_after=1)
    r = await api.get("/items")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    for name, value in RATE_LIMIT_HEADERS.items():
        assert r.headers[name] == value
    assert r.content == b""


async def test_too_many_requests_in_flight_trip_the_concurrency_limit(
    clover: FakeClover, api: httpx.AsyncClient
) -> None:
    for _ in range(5):
        clover.hang_next()
    hung = [asyncio.create_task(api.get("/tenders")) for _ in range(5)]
    for _ in range(200):
        if len(clover.requests) == 5:
            break
        await asyncio.sleep(0.01)
    r = await api.get("/tenders")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    for task in hung:
        task.cancel()
    await asyncio.gather(*hung, return_exceptions=True)


async def test_hang_next(clover: FakeClover, api: httpx.AsyncClient) -> None:
    clover.hang_next(path="/atomic_order/orders")
    assert (await api.get("/tenders")).status_code == 200
    body = {"orderCart": {"lineItems": [CHEESE]}}
    with pytest.raises(httpx.ReadTimeout):
        await api.post("/atomic_order/orders", json=body, timeout=0.3)
    assert clover.hung.is_set()
    assert clover.orders == {}
    clover.hang_next(after_processing=True)
    with pytest.raises(httpx.ReadTimeout):
        await api.post("/atomic_order/orders", json=body, timeout=0.3)
    assert len(clover.orders) == 1


async def test_refuse_and_reset(clover: FakeClover, api: httpx.AsyncClient) -> None:
    await create(api)
    port = clover.port
    await clover.refuse()
    with pytest.raises(httpx.ConnectError):
        await api.get("/tenders")
    clover.fail_next(500)
    clover.expire_token()
    await clover.reset()
    assert clover.port == port
    assert (await api.get("/tenders")).status_code == 200  # faults and expiry cleared
    assert len(clover.orders) == 1


async def test_expired_token_refresh_and_single_use_refresh_tokens(clover: FakeClover) -> None:
    async with connect(clover) as api:
        clover.expire_token()
        assert (await api.get("/tenders")).status_code == 401
    clover.fail_next(500)  # faults wait for a non-auth request
    old = clover.refresh_token
    async with httpx.AsyncClient(base_url=clover.url, headers={"User-Agent": UA}) as auth:
        r = await auth.post(
            "/oauth/v2/refresh", json={"client_id": clover.client_id, "refresh_token": old}
        )
        assert r.status_code == 200
        pair = r.json()
        assert set(pair) == {
            "access_token", "access_token_expiration", "refresh_token", "refresh_token_expiration"
        }  # fmt: skip
        r = await auth.post(
            "/oauth/v2/refresh", json={"client_id": clover.client_id, "refresh_token": old}
        )
        assert r.status_code == 401  # refresh tokens are single-use
        r = await auth.post("/oauth/v2/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 400
        assert "client_id" in clover.violations.pop()
    async with connect(clover, token=pair["access_token"]) as api:
        assert (await api.get("/tenders")).status_code == 500  # the queued fault
        assert (await api.get("/tenders")).status_code == 200
    assert clover.posted("/oauth/v2/refresh")[0]["refresh_token"] == old
