"""The fake Lightspeed K-Series itself: strict about every request, faithful to the facts sheet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import FIXTURES, load_order
from tests.support.fake_lightspeed_k import FakeLightspeedK
from tests.support.lightspeed_menu import (
    BUSINESS_LOCATION_ID,
    MENU_CARTE,
    MENU_TRAITEUR,
    instruction_ids,
    link,
    pos_id,
)
from tests.support.lightspeed_spec import SPEC_PATH, raw_spec

Json = dict[str, Any]
BL = BUSINESS_LOCATION_ID
TO_GO = "/o/op/1/order/toGo"
LOCAL = "/o/op/1/order/local"
PAY = "/o/op/1/pay"
FORM = {"client_id": "edge-box", "client_secret": "edge-box-secret"}
INSTRUCTIONS = instruction_ids()
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeLightspeedK]:
    async with FakeLightspeedK() as f:
        yield f
        assert f.violations == [], "the fake refused a request (or its own answer)"
        assert f.callback_errors == []


async def refresh(client: httpx.AsyncClient, fake: FakeLightspeedK) -> httpx.Response:
    form = FORM | {"grant_type": "refresh_token", "refresh_token": fake.refresh_token}
    return await client.post("/oauth/token", data=form)


@pytest.fixture
async def api(fake: FakeLightspeedK) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as client:
        token = (await refresh(client, fake)).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def lines_of(order_doc: Json) -> list[Json]:
    """What a connector sends for an order document linked to Lightspeed ids."""
    lines = []
    for item in link(order_doc)["items"]:
        line: Json = {"sku": item["pos_id"], "quantity": item["quantity"]}
        mods = [m for m in item.get("modifiers") or [] if m.get("pos_id")]
        if pis := [{"modifierId": m["pos_id"]} for m in mods if m["pos_id"] in INSTRUCTIONS]:
            line["modifiers"] = pis
        subs = [m for m in mods if m["pos_id"] not in INSTRUCTIONS]
        if subs:
            line["subItems"] = [{"sku": m["pos_id"], "quantity": m["quantity"]} for m in subs]
        lines.append(line)
    return lines


def to_go(reference: str = "ue-0001", **changes: Any) -> Json:
    body: Json = {
        "businessLocationId": BL,
        "thirdPartyReference": reference,
        "endpointId": "store-edge",
        "accountProfileCode": "DELIVERY",
        "maxTimeToAttemptOrderDeliverToPos": 300000,
        "customerInfo": {"firstName": "Élodie", "contactNumberAsE164": "+33612345678"},
        "items": lines_of(load_order("ubereats_delivery")),
    }
    return body | changes


def soon(minutes: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


async def place(api: httpx.AsyncClient, fake: FakeLightspeedK, body: Json) -> Json:
    """POST an order, expect the 200 acknowledgement, return the notification it produced."""
    before = len(fake.notifications)
    response = await api.post(TO_GO if "tableNumber" not in body else LOCAL, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    await fake.settle()
    assert len(fake.notifications) > before
    return fake.notifications[before]


def spring_codes(response: httpx.Response) -> list[tuple[str, str]]:
    body = response.json()
    assert response.status_code == 400
    assert body["error"] == "Bad Request"
    assert body["message"].startswith("Validation failed for object=")
    return [(e["field"], e["code"]) for e in body["errors"]]


# the document and the catalog


def test_the_document_is_ours_and_openapi_core_reads_it() -> None:
    from openapi_spec_validator import validate

    doc: Any = raw_spec()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert "THIS DOCUMENT IS OURS" in doc["info"]["description"]
    assert SPEC_PATH.name == "lightspeed_k.yaml"
    order = doc["components"]["schemas"]["ToGoOrder"]
    assert order["additionalProperties"] is False
    assert order["properties"]["maxTimeToAttemptOrderDeliverToPos"]["minimum"] == 60000


def test_every_fixture_id_has_a_lightspeed_id_and_link_copies() -> None:
    for name in FIXTURE_NAMES:
        doc = load_order(name)
        linked = link(doc)
        assert linked is not doc
        for item, orig in zip(linked["items"], doc["items"], strict=True):
            assert item["pos_id"] == pos_id(orig["pos_id"])
            assert item["pos_id"] != orig["pos_id"]
    assert pos_id("itm_cheese") == "1001"
    assert pos_id("mod_cuisson_ap") == "2012"  # a product modifier: a SKU
    assert pos_id("mod_0") == "236025632784600"  # a production instruction: an id string
    assert load_order("ubereats_delivery")["items"][0]["pos_id"] == "itm_cheese"


# auth


async def test_refresh_tokens_rotate_and_an_old_one_is_refused(fake: FakeLightspeedK) -> None:
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as client:
        first = fake.refresh_token
        answer = (await refresh(client, fake)).json()
        assert answer["token_type"] == "bearer"
        assert answer["expires_in"] == 3600
        assert "orders-api" in answer["scope"].split()
        assert answer["refresh_token"] == fake.refresh_token != first
        reused = FORM | {"grant_type": "refresh_token", "refresh_token": first}
        again = await client.post("/oauth/token", data=reused)
        assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
        wrong = reused | {"client_secret": "nope", "refresh_token": fake.refresh_token}
        refused = await client.post("/oauth/token", data=wrong)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        assert fake.refreshes == 1
        extra = reused | {"refresh_token": fake.refresh_token, "scope": "orders-api"}
        off_spec = await client.post("/oauth/token", data=extra)
        assert (off_spec.status_code, off_spec.json()["error"]) == (400, "invalid_request")
    assert len(fake.violations) == 1
    assert "unknown form fields ['scope']" in fake.violations[0]
    fake.violations.clear()


async def test_a_bearer_token_is_required_and_expires(fake: FakeLightspeedK) -> None:
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as client:
        anonymous = await client.get("/o/op/data/businesses")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "invalid_token"
        assert "invalid_token" in anonymous.headers["WWW-Authenticate"]
        token = (await refresh(client, fake)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/o/op/data/businesses", headers=auth)).status_code == 200
        fake.expire_token()
        assert (await client.get("/o/op/data/businesses", headers=auth)).status_code == 401
        token = (await refresh(client, fake)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/o/op/data/businesses", headers=auth)).status_code == 200
    async with FakeLightspeedK(token_lifetime_s=0.05) as short:
        async with httpx.AsyncClient(base_url=short.url, timeout=5) as client:
            token = (await refresh(client, short)).json()["access_token"]
            await asyncio.sleep(0.1)
            late = await client.get(
                "/o/op/data/businesses", headers={"Authorization": f"Bearer {token}"}
            )
            assert late.status_code == 401
            assert late.json()["error_description"] == "Access token expired"
        assert short.violations == []


# discovery and menus


async def test_discovery_readiness_profiles_menus_and_webhook(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    businesses = (await api.get("/o/op/data/businesses")).json()
    assert businesses[0]["businessLocations"] == [{"id": BL, "name": "Burger Lab Bastille"}]
    q: Json = {"businessLocationId": BL}
    ready = (await api.get("/o/op/1/onlineOrderReadiness", params=q)).json()
    assert ready["status"] == "READY"
    assert ready["posStatus"] == {
        "salesPeriod": "OPENED",
        "acceptingOnlineOrders": True,
        "availableDevices": True,
    }
    fake.set_ready(False)
    closed = (await api.get("/o/op/1/onlineOrderReadiness", params=q)).json()
    assert (closed["status"], closed["posStatus"]["salesPeriod"]) == ("NOT_READY", "CLOSED")
    fake.set_ready(False, why="availableDevices")
    fake.set_ready(True)
    assert (await api.get("/o/op/1/onlineOrderReadiness", params=q)).json()["status"] == "READY"
    profiles = (await api.get("/o/op/data/account-profiles", params=q)).json()
    modes = {p["code"]: p["deliveryMode"] for p in profiles["accountProfileList"]}
    assert modes == {"TAKEAWAY": "TAKE_AWAY", "DELIVERY": "DELIVERY", "EATIN": "NONE"}
    menus = (await api.get("/o/op/1/menu/list", params=q)).json()
    assert [m["ikentooMenuId"] for m in menus] == [MENU_CARTE, MENU_TRAITEUR]
    hook = (await api.get("/o/wh/1/webhook/store-edge")).json()
    assert hook["endpointId"] == "store-edge"
    assert {"resource": "order", "name": "DELIVERED"} in hook["subscribeTo"]
    missing = await api.get("/o/wh/1/webhook/other-box")
    assert missing.status_code == 404
    assert missing.json()["message"] == "endpoint ID not found for other-box"
    other = await api.get("/o/op/1/menu/list", params={"businessLocationId": 1})
    assert other.status_code == 403


def walk(entries: list[Json]) -> list[Json]:
    found = []
    for entry in entries:
        found.append(entry)
        if entry["@type"] == "group":
            found += walk(entry["menuEntry"])
    return found


async def test_the_menu_is_a_tree_of_screens_with_modifier_groups(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    q: Json = {"businessLocationId": BL, "accountProfile": "DELIVERY"}
    menu = (await api.get(f"/o/op/2/menu/load/{MENU_CARTE}", params=q)).json()
    assert {g["@type"] for g in menu["menuEntryGroups"]} == {"group"}
    entries = walk(menu["menuEntryGroups"])
    kinds = {e["@type"] for e in entries}
    assert kinds == {"group", "menuItem", "menuDeal", "menuProductModifier"}
    skus = [e["sku"] for e in entries if e["@type"] == "menuItem"]
    assert skus.count("1301") == 2  # the same SKU on two screens
    by_sku = {e["sku"]: e for e in entries if "sku" in e}
    burger = by_sku["1001"]
    assert burger["productPrice"] == 12.5
    cuisson = next(g for g in burger["menuModifierGroups"] if g["description"] == "Cuisson")
    assert (cuisson["mustSelectAnItem"], cuisson["minimumSelection"]) == (True, 1)
    assert cuisson["maximumSelection"] == 1
    assert [m["sku"] for m in cuisson["productModifiers"]] == ["2011", "2012", "2013"]
    pates = next(
        g for g in by_sku["1201"]["menuModifierGroups"] if g["description"] == "Suppléments pâtes"
    )
    assert pates["maximumSelection"] is None
    assert burger["productionInstructionList"][0]["productionIntructionGroupId"] > 0
    assert by_sku["1310"]["asSubItem"] is True
    assert len(by_sku["BLB-DEGUSTATION-AUTOMNE-2026"]["sku"]) > 25
    deal = by_sku["4001"]
    assert [g["sku"] for g in deal["menuDealGroups"]] == ["4010", "4020"]
    assert "itemRichData" not in burger
    fake.set_price("1001", 13.9, profile="DELIVERY")
    delivery = (await api.get(f"/o/op/2/menu/load/{MENU_CARTE}", params=q)).json()
    takeaway_q = q | {"accountProfile": "TAKEAWAY", "richContent": "true"}
    takeaway = (await api.get(f"/o/op/2/menu/load/{MENU_CARTE}", params=takeaway_q)).json()
    for_delivery, for_takeaway = (
        next(e for e in walk(m["menuEntryGroups"]) if e.get("sku") == "1001")
        for m in (delivery, takeaway)
    )
    assert for_delivery["productPrice"] == 13.9
    assert for_takeaway["productPrice"] == 12.5
    assert for_takeaway["itemRichData"]["allergenCodes"] == ["gluten", "milk"]
    catering = (await api.get(f"/o/op/2/menu/load/{MENU_TRAITEUR}", params=q)).json()
    assert {e["sku"] for e in walk(catering["menuEntryGroups"]) if "sku" in e} >= {"3000", "3009"}
    unknown = await api.get("/o/op/2/menu/load/1", params=q)
    assert unknown.status_code == 404
    fake.fail_next(503)
    down = await api.get(f"/o/op/2/menu/load/{MENU_CARTE}", params=q)
    assert down.status_code == 503
    assert down.json()["status"] == "503"
    assert down.json()["apiSubExceptions"] == []


async def test_item_availability_pages_and_the_currency_of_the_business(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    path = "/o/op/1/itemAvailability"
    q: Json = {"businessLocationId": BL, "size": 1}
    skus = {"skus": ["1001", "1202", "1402", "9999"]}
    first = (await api.post(path, params=q, json=skus)).json()
    assert [(d["sku"], d["count"]) for d in first["data"]] == [("1202", 0)]
    assert first["metadata"] | {"warnings": []} == {
        "warnings": [],
        "current": {"page": 0, "pageSize": 1},
        "total": 2,
        "totalPages": 2,
    }
    second = (await api.post(path, params=q | {"page": 1}, json=skus)).json()
    assert [(d["sku"], d["count"]) for d in second["data"]] == [("1402", 3)]
    fake.set_stock("1001", 0)
    fake.set_stock("1202", None)
    again = (await api.post(path, params={"businessLocationId": BL}, json=skus)).json()
    assert [(d["sku"], d["count"]) for d in again["data"]] == [("1001", 0), ("1402", 3)]
    too_many = await api.post(path, params=q, json={"skus": [str(n) for n in range(51)]})
    assert too_many.status_code == 400
    too_big = await api.post(path, params=q | {"size": 101}, json=skus)
    assert too_big.status_code == 400
    assert len(fake.violations) == 2
    fake.violations.clear()

    businesses = (await api.get("/f/data/businesses", params={"page": 0, "size": 10})).json()
    (business,) = businesses["_embedded"]["businessList"]
    assert business["currencyCode"] == "EUR"
    assert business["businessLocations"][0]["blID"] == BL
    beyond = (await api.get("/f/data/businesses", params={"page": 1, "size": 10})).json()
    assert beyond["_embedded"]["businessList"] == []


async def test_off_spec_queries_are_recorded_and_refused(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    missing = await api.get("/o/op/1/onlineOrderReadiness")
    assert missing.status_code == 400
    assert missing.json()["message"] == (
        "Required request parameter 'businessLocationId' for method parameter type Long "
        "is not present"
    )
    unknown = await api.get("/o/op/1/menu/list", params={"businessLocationId": BL, "page": 2})
    assert unknown.status_code == 400
    nowhere = await api.get("/o/op/1/menu/discounts", params={"businessLocationId": BL})
    assert nowhere.status_code == 404
    assert len(fake.violations) == 3
    fake.violations.clear()


# placing orders


@pytest.mark.parametrize("name", FIXTURE_NAMES)
async def test_every_fixture_order_satisfies_the_menu_rules(
    api: httpx.AsyncClient, fake: FakeLightspeedK, name: str
) -> None:
    doc = load_order(name)
    note = await place(api, fake, to_go(f"ref-{name}"[:48], items=lines_of(doc)))
    assert note["status"] == "SUCCESS", note.get("reason")
    account = fake.orders[note["ikentooAccountIdentifier"]]
    assert account["thirdPartyReference"] == f"ref-{name}"[:48]
    if name.startswith("ubereats"):
        assert account["total"] == doc["totals"]["subtotal"] / 100


async def test_success_carries_the_account_and_prices_from_the_menu(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    note = await place(api, fake, to_go())
    assert note["type"] == "ORDER"
    assert note["businessLocationId"] == BL
    assert note["ikentooAccountIdentifier"] == "A17700.1"
    account = note["account"]
    assert account["ikaccountId"] == "A17700.1"
    assert account["currentAmount"] == 45.5
    assert account["paidAmount"] == 0.0
    assert "thirdPartyReference" not in account
    burger = account["salesEntries"][0]
    assert (burger["itemSku"], burger["quantity"], burger["amountWithTax"]) == ("1001", 2.0, 25.0)
    assert [(s["itemSku"], s["quantity"]) for s in burger["subLineItems"]] == [
        ("2001", 2.0),
        ("2012", 2.0),
    ]
    assert account["openDate"].endswith("+0000")
    assert len(fake.orders) == 1


async def test_off_spec_orders_get_the_spring_400_and_are_recorded(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    body = to_go()
    del body["thirdPartyReference"]
    assert spring_codes(await api.post(TO_GO, json=body)) == [("thirdPartyReference", "NotNull")]
    first = (await api.post(TO_GO, json=body)).json()["errors"][0]
    assert first["codes"][:2] == [
        "NotNull.toGoOrder.thirdPartyReference",
        "NotNull.thirdPartyReference",
    ]
    assert first["objectName"] == "toGoOrder"
    assert first["defaultMessage"] == "must not be null"
    two_overrides = {"sku": "1301", "quantity": 1, "discountAmountOverride": 1.0}
    two_overrides["discountPercentOverride"] = 10.0
    numeric_id = {"sku": "1301", "quantity": 1, "modifiers": [{"modifierId": 236025632784600}]}
    long_sku = {"sku": "BLB-DEGUSTATION-AUTOMNE-2026", "quantity": 1}
    cases: list[tuple[Json, tuple[str, str]]] = [
        (to_go("x" * 49), ("thirdPartyReference", "Size")),
        (to_go(maxTimeToAttemptOrderDeliverToPos=30000),
         ("maxTimeToAttemptOrderDeliverToPos", "Min")),
        (to_go(items=[long_sku]), ("items[0].sku", "Size")),
        (to_go(collectionCode="123456789"), ("collectionCode", "Size")),
        (to_go(orderCollectionTimeAsIso8601="2020-01-01T12:00:00Z"),
         ("orderCollectionTimeAsIso8601", "Future")),
        (to_go(items=[two_overrides]), ("items[0]", "SingleDiscountOverride")),
        (to_go(customerInfo={"firstName": "Ana", "thirdPartyReference": "c-1"}),
         ("customerInfo", "CustomerReferenceWithoutEmail")),
        (to_go(customerInfo={"firstName": ""}), ("customerInfo.firstName", "Size")),
        (to_go(tableNumber_typo=1), ("tableNumber_typo", "UnknownProperty")),
        (to_go(items=[numeric_id]), ("items[0].modifiers[0].modifierId", "typeMismatch")),
    ]  # fmt: skip
    for body, expected in cases:
        assert expected in spring_codes(await api.post(TO_GO, json=body)), expected
    local = {k: v for k, v in to_go("loc-1").items() if k != "accountProfileCode"}
    local["tableNumber"] = "12"
    local["items"] = [{"sku": "1301", "quantity": 1, "discountPercentOverride": 10.0}]
    codes = spring_codes(await api.post(LOCAL, json=local))
    assert codes == [("items[0].discountCode", "DiscountCodeRequired")]
    assert len(fake.violations) == len(cases) + 3
    assert fake.posted(TO_GO)
    assert not fake.notifications
    assert not fake.orders
    fake.violations.clear()


async def test_a_reused_reference_is_409_per_location_and_unknown_endpoint_400(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    await place(api, fake, to_go("ref-1", scheduledTimeForOrderAsIso8601=soon()))
    again = await api.post(TO_GO, json=to_go("ref-1"))
    assert again.status_code == 409
    assert again.json() == {"status": "fail", "msg": "reference has already been used ref-1"}
    unknown = await api.post(TO_GO, json=to_go("ref-2", endpointId="nobody"))
    assert spring_codes(unknown) == [("endpointId", "EndpointNotFound")]
    assert unknown.json()["errors"][0]["defaultMessage"] == "endpoint ID not found for nobody"
    await place(api, fake, to_go("ref-3", collectionCode="A1B2C"))
    taken = await api.post(TO_GO, json=to_go("ref-4", collectionCode="A1B2C"))
    assert spring_codes(taken) == [("collectionCode", "Unique")]
    elsewhere = await api.post(TO_GO, json=to_go("ref-1", businessLocationId=BL + 1))
    assert elsewhere.status_code == 403
    await fake.settle()
    assert len(fake.orders) == 2
    assert len(fake.notifications) == 2


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([{"sku": "9999", "quantity": 1}], "Item not found for sku 9999"),
        ([{"sku": "1001", "quantity": 1}], "Cuisson of Cheeseburger requires at least 1"),
        (
            [{"sku": "1001", "quantity": 1, "subItems": [{"sku": "2011", "quantity": 1},
                                                         {"sku": "2013", "quantity": 1}]}],
            "Cuisson of Cheeseburger allows at most 1",
        ),
        ([{"sku": "1301", "quantity": 1, "subItems": [{"sku": "2001", "quantity": 1}]}],
         "Sub-item sku 2001 is not an option of Frites maison"),
        ([{"sku": "1310", "quantity": 1}], "cannot be sold on its own"),
        ([{"sku": "1301", "quantity": 1, "customItemPrice": 1.0}], "does not allow a custom price"),
        ([{"sku": "1301", "quantity": 1, "modifiers": [{"modifierId": "236025632784600"}]}],
         "Production instruction 236025632784600 not found"),
        ([{"sku": "4001", "quantity": 1, "subItems": [{"sku": "1003", "quantity": 1}]}],
         "Boisson of Formule burger requires at least 1"),
    ],
)  # fmt: skip
async def test_menu_rules_fail_the_order_asynchronously(
    api: httpx.AsyncClient, fake: FakeLightspeedK, items: list[Json], reason: str
) -> None:
    note = await place(api, fake, to_go(items=items))
    assert note["status"] == "FAILURE"
    assert reason in note["reason"]
    assert "ikentooAccountIdentifier" not in note
    assert fake.orders == {}


async def test_combos_custom_prices_and_discounts_are_priced_the_vendor_way(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    items = [
        {"sku": "4001", "quantity": 1, "subItems": [
            {"sku": "1001", "quantity": 1, "subItems": [{"sku": "2012", "quantity": 1}]},
            {"sku": "1502", "quantity": 1},
        ]},
        {"sku": "1901", "quantity": 2, "customItemName": "Blanquette", "customItemPrice": 14.0},
        {"sku": "1301", "quantity": 2, "discountCode": "PCT10"},
        {"sku": "1201", "quantity": 1, "modifiers": [{"modifierId": "236025632784620"}],
         "subItems": [{"sku": "2041", "quantity": 2}]},
    ]  # fmt: skip
    note = await place(api, fake, to_go(items=items))
    assert note["status"] == "SUCCESS", note.get("reason")
    # 15.90 + 1.00 (50 cl) + 2 × 14.00 + 2 × 4.50 − 10 % + 13.90 + 2 × 1.00
    assert note["account"]["currentAmount"] == 15.9 + 1.0 + 28.0 + 8.1 + 15.9
    pasta = note["account"]["salesEntries"][3]
    assert pasta["modifiers"] == [{"name": "Al dente", "quantity": 1}]
    assert note["account"]["salesEntries"][1]["itemName"] == "Blanquette"


async def test_a_customer_email_keeps_its_reference(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    ana = {"firstName": "Ana", "email": "ana@example.com", "thirdPartyReference": "cust-1"}
    assert (await place(api, fake, to_go("r1", customerInfo=ana)))["status"] == "SUCCESS"
    clash = ana | {"thirdPartyReference": "cust-2"}
    note = await place(api, fake, to_go("r2", customerInfo=clash))
    assert note["status"] == "FAILURE"
    assert "different external reference" in note["reason"]


# scripted and held results


async def test_scripted_results_fail_drop_or_time_out(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    fake.fail_next_result("Printer out of paper")
    note = await place(api, fake, to_go("r1"))
    assert (note["status"], note["reason"]) == ("FAILURE", "Printer out of paper")
    fake.drop_next_result()
    assert (await api.post(TO_GO, json=to_go("r2"))).status_code == 200
    await fake.settle()
    assert len(fake.notifications) == 1
    fake.time_out_next_result()
    assert (await place(api, fake, to_go("r3")))["status"] == "ABANDONED"
    fake.time_out_next_result("FAILURE")
    assert (await place(api, fake, to_go("r4")))["status"] == "FAILURE"
    assert fake.orders == {}
    assert (await place(api, fake, to_go("r5")))["status"] == "SUCCESS"


async def test_held_results_wait_for_release_and_go_to_the_callback() -> None:
    relayed: list[Json] = []

    async def relay(note: Json) -> None:
        relayed.append(note)

    async with FakeLightspeedK(hold_results=True, on_notification=relay) as fake:
        async with httpx.AsyncClient(base_url=fake.url, timeout=5) as api:
            token = (await refresh(api, fake)).json()["access_token"]
            api.headers["Authorization"] = f"Bearer {token}"
            assert (await api.post(TO_GO, json=to_go("h1"))).status_code == 200
            assert (await api.post(TO_GO, json=to_go("h2"))).status_code == 200
            await fake.settle()
            assert fake.notifications == []
            assert fake.orders == {}
            await fake.release_results()
        assert [n["thirdPartyReference"] for n in relayed] == ["h1", "h2"]
        assert relayed == fake.notifications
        assert relayed[0] is not fake.notifications[0]
        assert fake.violations == []


async def test_not_ready_holds_orders_until_the_pos_is_back(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    fake.set_ready(False, why="acceptingOnlineOrders")
    assert (await api.post(TO_GO, json=to_go("late"))).status_code == 200
    await fake.settle()
    assert fake.notifications == []
    fake.set_ready(True)
    assert (await fake.wait_notifications(1))[0]["status"] == "SUCCESS"


async def test_no_success_notification_without_the_delivered_subscription() -> None:
    async with FakeLightspeedK(subscribe_delivered=False, provide_account=False) as fake:
        async with httpx.AsyncClient(base_url=fake.url, timeout=5) as api:
            token = (await refresh(api, fake)).json()["access_token"]
            api.headers["Authorization"] = f"Bearer {token}"
            payment = {"paymentAmount": 47.5, "tipAmount": 2.0, "paymentMethod": "OOPAYMENT"}
            assert (await api.post(TO_GO, json=to_go(payment=payment))).status_code == 200
            await fake.settle()
        assert [n["status"] for n in fake.notifications] == ["CLOSED"]
        assert "account" not in fake.notifications[0]
        assert len(fake.orders) == 1
        assert fake.violations == []


# payments, lookups, receipts, lifecycle


async def test_an_embedded_payment_closes_the_account_and_the_receipt_appears(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    payment = {"paymentAmount": 47.5, "tipAmount": 2.0, "paymentMethod": "OOPAYMENT"}
    await place(api, fake, to_go("paid-1", payment=payment))
    assert [n["status"] for n in fake.notifications] == ["SUCCESS", "CLOSED"]
    closed = fake.notifications[1]["account"]
    assert (closed["paidAmount"], closed["currentAmount"]) == (45.5, 45.5)
    assert closed["paymentEntries"][0]["externalReference"] == "paid-1"
    assert closed["closeDate"].endswith("+0000")
    params = {"externalReferenceId": f"TASK:OO-{BL}-paid-1"}
    sale = (await api.get(f"/f/finance/{BL}/saleByExternalReference", params=params)).json()
    assert sale["accountFiscId"] == fake.notifications[0]["ikentooAccountIdentifier"]
    assert sale["externalReferences"] == [f"TASK:OO-{BL}-paid-1"]
    assert (sale["type"], sale["receiptId"]) == ("SALE", "R17700.1")
    assert sale["payments"][0]["tip"] == "2.00"
    assert sale["payments"][0]["netAmountWithTax"] == "45.50"
    await place(api, fake, to_go("open-1"))
    open_params = {"externalReferenceId": f"TASK:OO-{BL}-open-1"}
    not_closed = await api.get(f"/f/finance/{BL}/saleByExternalReference", params=open_params)
    assert not_closed.status_code == 404
    async with (
        FakeLightspeedK(scope="orders-api") as narrow,
        httpx.AsyncClient(base_url=narrow.url, timeout=5) as client,
    ):
        token = (await refresh(client, narrow)).json()["access_token"]
        forbidden = await client.get(
            f"/f/finance/{BL}/saleByExternalReference",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert forbidden.status_code == 403


async def test_pay_adds_payments_and_says_so_by_notification(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    account_id = (await place(api, fake, to_go("o-1")))["ikentooAccountIdentifier"]

    async def pay(reference: str, amount: float, account: str = account_id) -> Json:
        body = {"businessLocationId": BL, "endpointId": "store-edge", "paymentAmount": amount,
                "thirdPartyPaymentReference": reference, "iKaccountIdentifier": account,
                "paymentMethod": "OOPAYMENT", "tipAmount": 1.0, "taskTtlInMs": 60000}  # fmt: skip
        before = len(fake.notifications)
        response = await api.post(PAY, json=body)
        assert response.json() == {"status": "ok"}, response.text
        await fake.settle()
        return fake.notifications[before]

    first = await pay("p-1", 20.0)
    assert (first["type"], first["status"], first["thirdPartyReference"]) == (
        "PAYMENT",
        "SUCCESS",
        "p-1",
    )
    reused = {"businessLocationId": BL, "endpointId": "store-edge", "paymentAmount": 1.0,
              "thirdPartyPaymentReference": "p-1"}  # fmt: skip
    again = await api.post(PAY, json=reused)
    assert again.status_code == 400
    assert again.json()["message"] == "reference has already been used p-1"
    over = await pay("p-2", 100.0)
    assert (over["status"], over["errors"]["account"]["type"]) == ("FAILURE", "OVERPAID")
    lost = await pay("p-3", 1.0, account="A17700.99")
    assert lost["errors"]["account"]["type"] == "ACCOUNT_NOT_FOUND"
    await pay("p-4", 25.5)
    assert fake.notifications[-1]["status"] == "CLOSED"
    assert fake.orders[account_id]["status"] == "CLOSED"
    assert fake.orders[account_id]["tips"] == 2.0
    late = await pay("p-5", 1.0)
    assert late["errors"]["account"]["type"] == "ACCOUNT_ALREADY_CLOSED"
    fake.time_out_next_result()
    timed_out = await pay("p-6", 1.0)
    assert timed_out["errors"]["timeout"]["errorKey"] == "errors.payment.pos.task_timeout"
    short = await api.post(PAY, json=reused | {"thirdPartyPaymentReference": "p-7",
                                               "taskTtlInMs": 1000})  # fmt: skip
    assert short.status_code == 400
    assert len(fake.violations) == 1
    fake.violations.clear()


async def test_account_lookup_by_identifier(api: httpx.AsyncClient, fake: FakeLightspeedK) -> None:
    account_id = (await place(api, fake, to_go()))["ikentooAccountIdentifier"]
    q: Json = {"businessLocationId": BL}
    snapshot = (await api.get(f"/o/op/1/order/accounts/{account_id}", params=q)).json()
    assert snapshot["ikaccountId"] == account_id
    assert snapshot["currentAmount"] == 45.5
    bad = await api.get("/o/op/1/order/accounts/-1", params=q)
    assert (bad.status_code, bad.json()["message"]) == (400, "Invalid account identifier")
    unknown = await api.get("/o/op/1/order/accounts/A17700.42", params=q)
    assert (unknown.status_code, unknown.json()["message"]) == (
        404,
        f"account not found for BL {BL}",
    )


async def test_local_orders_and_updates_of_an_open_account(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    table = {"businessLocationId": BL, "thirdPartyReference": "t12-1", "endpointId": "store-edge",
             "customerInfo": {"firstName": "Table 12"}, "tableNumber": "12", "clientCount": 4,
             "items": [{"sku": "1301", "quantity": 2, "course": 1}]}  # fmt: skip
    note = await place(api, fake, table)
    account_id = note["ikentooAccountIdentifier"]
    assert (note["account"]["tableNumber"], note["account"]["name"]) == (12, "Table 12")
    more = table | {"thirdPartyReference": "t12-2", "accountIdentifier": account_id,
                    "items": [{"sku": "1402", "quantity": 1}]}  # fmt: skip
    update = await place(api, fake, more)
    assert update["ikentooAccountIdentifier"] == account_id
    assert update["account"]["currentAmount"] == 9.0 + 6.9
    moved = await place(api, fake, more | {"thirdPartyReference": "t12-3", "tableNumber": "13"})
    assert (moved["status"], moved["reason"]) == (
        "FAILURE",
        "tableNumber cannot be changed on an existing order",
    )
    assert fake.orders[account_id]["references"] == ["t12-1", "t12-2"]
    assert len(fake.orders) == 1


async def test_staff_at_the_till_ready_cancel_and_close(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    first = (await place(api, fake, to_go("c-1")))["ikentooAccountIdentifier"]
    second = (await place(api, fake, to_go("c-2")))["ikentooAccountIdentifier"]
    await fake.mark_ready(first)
    await fake.cancel(first)
    await fake.close(second)
    statuses = [(n["thirdPartyReference"], n["status"]) for n in fake.notifications[2:]]
    assert statuses == [("c-1", "READY_FOR_PICKUP"), ("c-1", "CANCELLED"), ("c-2", "CLOSED")]
    assert fake.orders[first]["status"] == "CANCELLED"
    with pytest.raises(ValueError, match="CANCELLED"):
        await fake.cancel(first)
    params = {"externalReferenceId": f"TASK:OO-{BL}-c-2"}
    sale = (await api.get(f"/f/finance/{BL}/saleByExternalReference", params=params)).json()
    assert sale["payments"][0]["code"] == "CASH"


# faults


async def test_fail_next_with_retry_after_skips_token_requests_and_can_aim(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    fake.fail_next(429, retry_after=2)
    assert (await refresh(api, fake)).status_code == 200  # not consumed by the token request
    api.headers["Authorization"] = f"Bearer {fake.access_token}"
    limited = await api.get("/o/op/data/businesses")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    fake.fail_next(500, path=TO_GO)
    assert (await api.get("/o/op/data/businesses")).status_code == 200
    failed = await api.post(TO_GO, json=to_go("f-1"))
    assert failed.status_code == 500
    await fake.settle()
    assert fake.notifications == []
    fake.fail_next(503, path="/oauth/token")
    assert (await refresh(api, fake)).status_code == 503


async def test_after_processing_the_order_exists_and_the_retry_gets_409(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    fake.fail_next(502, after_processing=True, path=TO_GO)
    assert (await api.post(TO_GO, json=to_go("ap-1"))).status_code == 502
    assert (await api.post(TO_GO, json=to_go("ap-1"))).status_code == 409
    await fake.settle()
    assert [n["status"] for n in fake.notifications] == ["SUCCESS"]
    assert len(fake.orders) == 1


async def test_hang_next_never_answers_and_sets_hung(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    fake.hang_next(after_processing=True, path=TO_GO)
    with pytest.raises(httpx.ReadTimeout):
        await api.post(TO_GO, json=to_go("hang-1"), timeout=0.3)
    assert fake.hung.is_set()
    await fake.settle()
    assert fake.notifications[0]["status"] == "SUCCESS"


async def test_refuse_then_reset_listens_again_on_the_same_port(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    await place(api, fake, to_go("before"))
    port = fake.port
    await fake.refuse()
    with pytest.raises(httpx.ConnectError):
        await api.get("/o/op/data/businesses")
    fake.fail_next(500)
    await fake.reset()
    assert fake.port == port
    assert (await api.get("/o/op/data/businesses")).status_code == 200
    assert len(fake.orders) == 1


async def test_the_fakes_own_answers_are_checked(
    api: httpx.AsyncClient, fake: FakeLightspeedK
) -> None:
    del fake.webhooks["store-edge"]["url"]
    broken = await api.get("/o/wh/1/webhook/store-edge")
    assert broken.status_code == 500
    assert len(fake.violations) == 1
    assert fake.violations[0].startswith("answer to GET")
    fake.violations.clear()
