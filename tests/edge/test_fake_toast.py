"""The fake Toast itself: every endpoint's happy path, its strictness and its fault controls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from openapi_spec_validator import validate

from tests.conftest import FIXTURES, load_order
from tests.support.fake_toast import FakeToast
from tests.support.fake_toast_http import LOGIN
from tests.support.toast_menu import (
    ITEMS,
    OPTIONS,
    RESTAURANT_GUID,
    ToastMenu,
    item_group,
    link,
    option_group,
    pos_id,
)
from tests.support.toast_spec import EXTRA_SPEC, SPEC_MISSING, specs_present

Json = dict[str, Any]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CREDENTIALS = {
    "clientId": "toast-client-id",
    "clientSecret": "toast-client-secret",
    "userAccessType": "TOAST_MACHINE_CLIENT",
}
VOID_ALL = {"selections": {"voidAll": True}, "payments": {"voidAll": True}}
CUSTOMER = {
    "firstName": "Élodie",
    "lastName": "Martin",
    "phone": "+33 6 12 34 56 78",
    "email": "elodie.martin@example.fr",
}
ADDRESS = {"address1": "12 rue de la Roquette", "city": "Paris", "state": "IF", "zipCode": "75011"}
WINDOW = {"startDate": "2026-11-23T00:00:00.000+0000", "endDate": "2026-11-24T00:00:00.000+0000"}
ORDERS = "/orders/v2/orders"
PRICES = "/orders/v2/prices"
BULK = "/orders/v2/ordersBulk"


class Clock:
    """A settable clock for the fake."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Api:
    """An httpx client logged in to the fake, with the restaurant header."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(path, headers=self.headers, params=params)

    async def post(self, path: str, body: Any, timeout: float = 5) -> httpx.Response:
        return await self.client.post(path, headers=self.headers, json=body, timeout=timeout)


@pytest.fixture
async def toast() -> AsyncIterator[FakeToast]:
    if not specs_present():
        pytest.skip(SPEC_MISSING)
    async with FakeToast(clock=Clock()) as fake:
        yield fake
        assert fake.violations == [], "a request broke Toast's API description"


@pytest.fixture
async def client(toast: FakeToast) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=toast.url, timeout=5) as c:
        yield c


async def login(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post(LOGIN, json=CREDENTIALS)
    assert r.status_code == 200, r.text
    token = r.json()["token"]["accessToken"]
    return {"Authorization": f"Bearer {token}", "Toast-Restaurant-External-ID": RESTAURANT_GUID}


@pytest.fixture
async def api(client: httpx.AsyncClient) -> Api:
    return Api(client, await login(client))


def selection(item: str, qty: int = 1, *mods: str) -> Json:
    """A Toast selection of one of our fixture items, with fixture modifiers."""
    modifiers = [
        {
            "optionGroup": {"guid": option_group(m, item)},
            "item": {"guid": pos_id(m)},
            "quantity": qty,
        }
        for m in mods
    ]
    return {
        "item": {"guid": pos_id(item)},
        "itemGroup": {"guid": item_group(item)},
        "quantity": qty,
        "modifiers": modifiers,
    }


def order_of(*selections: Json, dining: str = "do_dine_in", **changes: Any) -> Json:
    return {
        "diningOption": {"guid": pos_id(dining)},
        "checks": [{"selections": list(selections)}],
        **changes,
    }


def toast_order(doc: Json) -> Json:
    """A fixture order as Toast takes it: unlinked modifiers left out, a modifier of quantity
    2 sent twice (Toast: a modifier's quantity is its item's)."""
    selections = []
    for item in doc["items"]:
        mods = [m["pos_id"] for m in item["modifiers"] if m["pos_id"] for _ in range(m["quantity"])]
        selections.append(selection(item["pos_id"], item["quantity"], *mods))
    return order_of(*selections)


def burger(*mods: str) -> Json:
    return order_of(selection("itm_cheese", 1, *mods))


def delivery(external_id: str = "STOREEDGE:se-1", **check: Any) -> Json:
    """Two portions of fries (9.00) delivered by Uber Eats."""
    return {
        "externalId": external_id,
        "diningOption": {"guid": pos_id("do_ubereats")},
        "deliveryInfo": ADDRESS,
        "checks": [{"selections": [selection("itm_frites", 2)], "customer": CUSTOMER, **check}],
    }


def pay(amount: Any, tip: float = 0.0, kind: str = "pt_ubereats", **more: Any) -> Json:
    return {
        "type": "OTHER",
        "otherPayment": {"guid": pos_id(kind)},
        "amount": amount,
        "tipAmount": tip,
        **more,
    }


def first_selection(order: Json) -> Json:
    return order["checks"][0]["selections"][0]  # type: ignore[no-any-return]


def assert_error(r: httpx.Response, status: int, *words: str) -> None:
    """A Toast ErrorMessage with this status whose message holds these words."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status
    assert isinstance(body["code"], int)
    assert {"message", "messageKey", "fieldName", "requestId", "developerMessage"} <= set(body)
    for word in words:
        assert word in body["message"], body["message"]


def take_violations(toast: FakeToast, count: int) -> None:
    assert len(toast.violations) == count, toast.violations
    toast.violations.clear()


# authentication


async def test_login_answers_a_bearer_token_and_counts(
    toast: FakeToast, client: httpx.AsyncClient
) -> None:
    r = await client.post(LOGIN, json=CREDENTIALS)
    assert r.status_code == 200
    assert r.json()["status"] == "SUCCESS"
    token = r.json()["token"]
    assert (token["tokenType"], token["expiresIn"]) == ("Bearer", 86400)
    assert token["accessToken"]
    assert toast.logins == 1


async def test_wrong_credentials_are_401_and_no_login(
    toast: FakeToast, client: httpx.AsyncClient
) -> None:
    assert_error(await client.post(LOGIN, json={**CREDENTIALS, "clientSecret": "x"}), 401)
    assert toast.logins == 0


async def test_an_off_spec_login_is_a_violation(
    toast: FakeToast, client: httpx.AsyncClient
) -> None:
    r = await client.post(LOGIN, json={"clientId": "toast-client-id", "clientSecret": "x"})
    assert_error(r, 400, "userAccessType")
    take_violations(toast, 1)


async def test_a_bad_or_expired_token_is_401_until_the_client_logs_in_again(
    toast: FakeToast, api: Api
) -> None:
    good = api.headers["Authorization"]
    api.headers["Authorization"] = "Bearer forged"
    assert_error(await api.get("/menus/v2/metadata"), 401)
    api.headers["Authorization"] = good
    toast.expire_token()
    assert_error(await api.get("/menus/v2/metadata"), 401)
    api.headers = await login(api.client)
    assert (await api.get("/menus/v2/metadata")).status_code == 200
    assert toast.logins == 2


async def test_the_token_lifetime() -> None:
    async with FakeToast(token_lifetime_s=0) as fake, httpx.AsyncClient(base_url=fake.url) as c:
        assert (await c.post(LOGIN, json=CREDENTIALS)).json()["token"]["expiresIn"] == 0
        assert (await c.get("/menus/v2/metadata", headers=await login(c))).status_code == 401
        assert fake.violations == []


# menus and configuration


def menu_items(group: Json) -> list[Json]:
    nested = [i for g in group["menuGroups"] for i in menu_items(g)]
    return [*group["menuItems"], *nested]


async def test_the_menu_has_groups_sizes_and_a_required_modifier_group(api: Api) -> None:
    meta = (await api.get("/menus/v2/metadata")).json()
    assert meta["restaurantGuid"] == RESTAURANT_GUID
    menu = (await api.get("/menus/v2/menus")).json()
    groups = {g["guid"]: g for g in menu["modifierGroupReferences"].values()}
    options = menu["modifierOptionReferences"]
    items = [i for m in menu["menus"] for g in m["menuGroups"] for i in menu_items(g)]
    by_guid = {i["guid"]: i for i in items}

    cuisson = groups[pos_id("mg_cuisson")]
    assert pos_id("mg_cuisson") in {
        menu["modifierGroupReferences"][str(r)]["guid"]
        for r in by_guid[pos_id("itm_cheese")]["modifierGroupReferences"]
    }
    assert (cuisson["name"], cuisson["requiredMode"]) == ("Cuisson", "REQUIRED")
    assert (cuisson["minSelections"], cuisson["maxSelections"]) == (1, 1)
    ap = {options[str(r)]["guid"] for r in cuisson["modifierOptionReferences"]}
    assert pos_id("mod_cuisson_ap") in ap

    reine = by_guid[pos_id("itm_pizza_reine")]
    assert (reine["price"], reine["pricingStrategy"]) == (None, "SIZE_PRICE")
    sizes = groups[reine["pricingRules"]["sizeSpecificPricingGuid"]]
    prices = {
        options[str(r)]["name"]: options[str(r)]["price"] for r in sizes["modifierOptionReferences"]
    }
    assert prices == {"Normale": 12.0, "Grande": 15.0}

    assert sum(i["guid"] == pos_id("itm_frites") for i in items) == 2  # in two groups
    drinks = next(g for g in menu["menus"][0]["menuGroups"] if g["name"] == "Boissons")
    assert [g["name"] for g in drinks["menuGroups"]] == ["Softs", "Eaux"]


async def every_page(api: Api, path: str) -> tuple[list[Json], int]:
    objects: list[Json] = []
    params: dict[str, str] = {}
    for pages in range(1, 10):
        r = await api.get(path, **params)
        assert r.status_code == 200, r.text
        objects += r.json()
        token = r.headers.get("Toast-Next-Page-Token")
        if token is None:
            return objects, pages
        params = {"pageToken": token}
    raise AssertionError("endless pages")


async def test_the_configuration_pages_with_the_next_page_token(api: Api) -> None:
    dining, pages = await every_page(api, "/config/v2/diningOptions")
    assert pages == 2
    assert {d["behavior"] for d in dining} == {"DINE_IN", "TAKE_OUT", "DELIVERY"}
    assert any(d["curbside"] and d["behavior"] == "TAKE_OUT" for d in dining)
    payment_types, pages = await every_page(api, "/config/v2/alternatePaymentTypes")
    assert pages == 2
    assert {"Uber Eats", "Deliveroo", "DoorDash", "Online"} <= {p["name"] for p in payment_types}
    charges, pages = await every_page(api, "/config/v2/serviceCharges")
    assert pages == 1
    assert {(c["name"], c["amountType"]) for c in charges} == {
        ("Delivery fee", "OPEN"),
        ("Service fee", "OPEN"),
    }
    assert_error(await api.get("/config/v2/diningOptions", pageToken="bad"), 400, "pageToken")
    later = await api.get("/config/v2/diningOptions", lastModified="2026-11-02T00:00:00.000+0000")
    assert later.json() == []


async def test_the_restaurant_header_query_parameters_routes_and_content_type(
    toast: FakeToast, api: Api
) -> None:
    restaurant = api.headers.pop("Toast-Restaurant-External-ID")
    assert_error(await api.get("/menus/v2/menus"), 400, "toast-restaurant-external-id")
    api.headers["Toast-Restaurant-External-ID"] = pos_id("elsewhere")
    assert_error(await api.get("/menus/v2/menus"), 403)  # a refusal, not a violation
    api.headers["Toast-Restaurant-External-ID"] = restaurant
    assert_error(await api.get("/menus/v2/menus", full="1"), 400, "full")
    assert_error(await api.get("/orders/v2/payments"), 404)  # not an operation the fake serves
    r = await api.client.post(
        PRICES, headers={**api.headers, "Content-Type": "text/plain"}, content=b"{}"
    )
    assert_error(r, 415)
    take_violations(toast, 4)


# prices and orders


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
async def test_every_fixture_order_keeps_the_menu_rules(
    toast: FakeToast, api: Api, name: str
) -> None:
    r = await api.post(PRICES, toast_order(load_order(name)))
    assert r.status_code == 200, r.text
    assert "guid" not in r.json()
    assert "guid" not in r.json()["checks"][0]
    assert toast.orders == {}  # /prices persists nothing


async def test_prices_are_toast_s_own_with_the_tax_included(api: Api) -> None:
    priced = (await api.post(PRICES, toast_order(load_order("ubereats_delivery")))).json()
    check = priced["checks"][0]
    assert (check["amount"], check["taxAmount"], check["totalAmount"]) == (41.36, 4.14, 45.5)
    burgers = check["selections"][0]  # 2 x (12.50 + bacon 1.50 + cuisson 0) = 28.00
    assert (burgers["receiptLinePrice"], burgers["tax"], burgers["price"]) == (12.5, 2.55, 25.45)
    assert burgers["preDiscountPrice"] == burgers["price"]
    assert [m["displayName"] for m in burgers["modifiers"]] == ["Bacon", "À point"]
    pizza = (await api.post(PRICES, toast_order(load_order("self_delivery_with_tip")))).json()
    assert pizza["checks"][0]["totalAmount"] == 21.0  # size "Grande" 15.00 + 2 Coca 3.00
    assert first_selection(pizza)["receiptLinePrice"] == 15.0


async def test_an_order_is_persisted_with_guids_prices_charges_and_payment(
    toast: FakeToast, api: Api
) -> None:
    fee = {"serviceCharge": {"guid": pos_id("svc_delivery")}, "chargeAmount": 2.5}
    body = delivery(appliedServiceCharges=[fee], payments=[pay(11.5, tip=3)])
    r = await api.post(ORDERS, body)
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["externalId"] == "STOREEDGE:se-1"
    assert set(toast.orders) == {order["guid"]}
    check = order["checks"][0]
    assert (check["amount"], check["taxAmount"], check["totalAmount"]) == (10.68, 0.82, 11.5)
    assert check["paymentStatus"] == "CLOSED"
    assert first_selection(order)["guid"]
    assert check["appliedServiceCharges"][0]["name"] == "Delivery fee"
    assert check["payments"][0]["orderGuid"] == order["guid"]
    assert check["customer"]["phone"] == "33612345678"  # Toast keeps the digits
    assert order["estimatedFulfillmentDate"] == "2026-11-23T12:15:00.000+0000"
    assert (await api.get(f"{ORDERS}/{order['guid']}")).json() == order
    assert toast.payment_mismatches == []


async def test_an_external_id_is_unique_and_found_in_orders_bulk(api: Api) -> None:
    first = await api.post(ORDERS, delivery())
    assert_error(await api.post(ORDERS, delivery()), 409, "STOREEDGE:se-1")
    found = (await api.get(BULK, **WINDOW)).json()
    mine = [o["guid"] for o in found if o.get("externalId") == "STOREEDGE:se-1"]
    assert mine == [first.json()["guid"]]
    assert_error(await api.post(ORDERS, delivery("se-2")), 400, "naming authority")


@pytest.mark.parametrize("path", [PRICES, ORDERS])
async def test_modifier_rules_name_the_group_and_the_item(api: Api, path: str) -> None:
    r = await api.post(path, burger("mod_bacon"))
    assert_error(r, 400, "'Cuisson'", "'Cheeseburger'", "required")
    assert_error(await api.post(path, burger("mod_cuisson_s", "mod_cuisson_bc")), 400, "at most 1")
    assert_error(
        await api.post(path, burger("mod_cuisson_s", "mod_bacon", "mod_bacon")), 400, "'Bacon'"
    )
    two = burger("mod_cuisson_s")
    first_selection(two)["quantity"] = 2
    assert_error(await api.post(path, two), 400, "quantity", "'Saignant'")
    foreign = burger("mod_cuisson_s")
    first_selection(foreign)["modifiers"][0]["optionGroup"] = {"guid": pos_id("mg_options")}
    assert_error(await api.post(path, foreign), 400, "'Options'", "does not apply")
    stranger = burger("mod_cuisson_s")
    first_selection(stranger)["modifiers"][0]["item"] = {"guid": pos_id("mod_bacon")}
    assert_error(await api.post(path, stranger), 400, "not an option of 'Cuisson'")
    double_parmesan = order_of(selection("itm_carbo", 1, "mod_parmesan", "mod_parmesan"))
    assert (await api.post(path, double_parmesan)).status_code == 200
    note = burger("mod_cuisson_ap")
    request = {"selectionType": "SPECIAL_REQUEST", "displayName": "sans oignons"}
    first_selection(note)["modifiers"].append(request)
    r = await api.post(path, note)
    assert r.status_code == 200, r.text
    assert first_selection(r.json())["modifiers"][1]["displayName"] == "sans oignons"


async def test_unknown_guids_are_404_and_a_misplaced_item_400(toast: FakeToast, api: Api) -> None:
    unknown = burger("mod_cuisson_s")
    first_selection(unknown)["item"] = {"guid": pos_id("itm_nope")}
    assert_error(await api.post(ORDERS, unknown), 404, "Menu item")
    elsewhere = burger("mod_cuisson_s")
    first_selection(elsewhere)["itemGroup"] = {"guid": pos_id("grp_nope")}
    assert_error(await api.post(ORDERS, elsewhere), 404, "Menu group")
    misplaced = burger("mod_cuisson_s")
    first_selection(misplaced)["itemGroup"] = {"guid": pos_id("grp_desserts")}
    assert_error(await api.post(ORDERS, misplaced), 400, "'Cheeseburger'", "'Desserts'")
    nowhere = {**delivery(), "diningOption": {"guid": pos_id("do_x")}}
    assert_error(await api.post(ORDERS, nowhere), 404, "Dining option")
    assert_error(await api.post(ORDERS, delivery(payments=[pay(9, kind="pt_x")])), 404, "payment")
    fee = {"serviceCharge": {"guid": pos_id("svc_x")}, "chargeAmount": 1}
    assert_error(await api.post(ORDERS, delivery(appliedServiceCharges=[fee])), 404, "Service")
    open_fee = {"serviceCharge": {"guid": pos_id("svc_service")}}
    r = await api.post(ORDERS, delivery(appliedServiceCharges=[open_fee]))
    assert_error(r, 400, "chargeAmount")
    toast.reject_guids({pos_id("itm_frites")})
    assert_error(await api.post(ORDERS, delivery()), 404, pos_id("itm_frites"))
    await toast.reset()
    assert (await api.post(ORDERS, delivery())).status_code == 200
    assert len(toast.orders) == 1


async def test_what_each_dining_option_requires(api: Api) -> None:
    no_address = delivery()
    del no_address["deliveryInfo"]
    assert_error(await api.post(PRICES, no_address), 400, "deliveryInfo", "DELIVERY")
    anonymous = delivery()
    del anonymous["checks"][0]["customer"]
    assert_error(await api.post(PRICES, anonymous), 400, "customer", "DELIVERY")
    takeout = {**anonymous, "diningOption": {"guid": pos_id("do_take_out")}}
    del takeout["deliveryInfo"]
    assert_error(await api.post(PRICES, takeout), 400, "customer", "TAKE_OUT")
    no_state = {**delivery(), "deliveryInfo": {**ADDRESS, "state": "Paris"}}
    assert_error(await api.post(PRICES, no_state), 400, "state")
    accented = delivery(customer={**CUSTOMER, "email": "élodie@example.fr"})
    assert_error(await api.post(PRICES, accented), 400, "email")
    twelve = {**delivery(), "requiredPrepTime": "PT12M"}
    assert_error(await api.post(PRICES, twelve), 400, "five minutes")
    curbside = {
        **delivery(),
        "diningOption": {"guid": pos_id("do_curbside")},
        "curbsidePickupInfo": {"transportColor": "bleu"},
    }
    assert_error(await api.post(PRICES, curbside), 400, "transportDescription")
    assert (await api.post(PRICES, delivery())).status_code == 200


async def test_a_scheduled_order_is_promised_in_the_future(api: Api) -> None:
    past = {**delivery(), "promisedDate": "2026-11-23T11:00:00.000+0000"}
    assert_error(await api.post(ORDERS, past), 400, "future")
    later = {**delivery(), "promisedDate": "2026-11-23T18:30:00.000+0000"}
    order = (await api.post(ORDERS, later)).json()
    assert order["approvalStatus"] == "FUTURE"
    assert order["promisedDate"] == order["estimatedFulfillmentDate"] == later["promisedDate"]


async def test_payments(toast: FakeToast, api: Api) -> None:
    # Toast's guide: a payment that is not the /prices total is accepted and left to the
    # restaurant; the fake accepts it, leaves the check OPEN and records the mismatch
    r = await api.post(ORDERS, delivery(payments=[pay(8)]))
    assert r.json()["checks"][0]["paymentStatus"] == "OPEN"
    assert len(toast.payment_mismatches) == 1
    assert "9.00" in toast.payment_mismatches[0]
    card = delivery(payments=[{**pay(9), "type": "CREDIT"}])
    assert_error(await api.post(PRICES, card), 400, "OTHER")
    assert_error(await api.post(PRICES, delivery(payments=[pay("9.00")])), 400, "amount")
    take_violations(toast, 1)  # an amount as a string breaks the schema
    async with (
        FakeToast(clock=Clock(), refuse_payment_mismatch=True) as strict,
        httpx.AsyncClient(base_url=strict.url) as c,
    ):
        r = await c.post(ORDERS, headers=await login(c), json=delivery(payments=[pay(8)]))
        assert_error(r, 400, "totalAmount")


async def test_fields_toast_does_not_define_are_violations(toast: FakeToast, api: Api) -> None:
    invented = {**delivery(), "notes": "Sonner deux fois"}
    assert_error(await api.post(ORDERS, invented), 400, "notes")
    assert_error(await api.post(PRICES, {"diningOption": {"guid": pos_id("do_dine_in")}}), 400)
    assert toast.orders == {}
    take_violations(toast, 2)


async def test_orders_bulk_answers_a_modified_window_by_pages(toast: FakeToast, api: Api) -> None:
    clock = toast.clock
    assert isinstance(clock, Clock)
    guids = []
    for n in range(3):
        clock.now = NOW + timedelta(minutes=n)
        guids.append((await api.post(ORDERS, delivery(f"STOREEDGE:se-{n}"))).json()["guid"])
    clock.now = NOW + timedelta(days=2)
    assert (await api.post(ORDERS, delivery("STOREEDGE:se-later"))).status_code == 200
    r = await api.get(BULK, **WINDOW, pageSize="2")
    assert set(r.links) == {"first", "self", "next"}
    seen = [o["guid"] for o in r.json()]
    r = await api.client.get(r.links["next"]["url"], headers=api.headers)
    seen += [o["guid"] for o in r.json()]
    assert "next" not in r.links
    assert seen == guids
    assert [o["guid"] for o in (await api.get(BULK, businessDate="20261123")).json()] == guids
    no_fraction = {"startDate": "2026-11-23T00:00:00Z", "endDate": "2026-11-24T00:00:00Z"}
    for bad in ({**WINDOW, "pageSize": "101"}, {"startDate": WINDOW["startDate"]}, no_fraction):
        assert_error(await api.get(BULK, **bad), 400)
    take_violations(toast, 3)


async def test_void(toast: FakeToast, api: Api) -> None:
    order = (await api.post(ORDERS, delivery(payments=[pay(9)]))).json()
    path = f"{ORDERS}/{order['guid']}/void"
    assert_error(await api.post(path, {"selections": {"voidAll": True}}), 400, "voidAll")
    voided = await api.post(path, VOID_ALL)
    assert voided.json()["voided"] is True
    assert voided.json()["checks"][0]["payments"][0]["paymentStatus"] == "VOIDED"
    assert toast.voided == {order["guid"]}
    again = await api.post(path, VOID_ALL)  # voiding twice is harmless
    assert again.status_code == 200
    assert again.json() == voided.json()
    card = (await api.post(ORDERS, delivery("STOREEDGE:se-2"))).json()
    toast.add_pos_card_payment(card["guid"])
    assert_error(await api.post(f"{ORDERS}/{card['guid']}/void", VOID_ALL), 400, "OTHER")
    assert_error(await api.post(f"{ORDERS}/{pos_id('nope')}/void", VOID_ALL), 404)
    assert_error(await api.get(f"{ORDERS}/not-a-guid"), 400, "malformed")


# fault controls


async def test_fail_next_spares_the_login_and_can_aim_at_a_path(
    toast: FakeToast, client: httpx.AsyncClient
) -> None:
    toast.fail_next(503)
    toast.fail_next(429, retry_after=7, path=ORDERS)
    api = Api(client, await login(client))  # the login takes none of them
    assert_error(await api.get("/menus/v2/metadata"), 503)
    assert (await api.get("/menus/v2/metadata")).status_code == 200
    r = await api.post(ORDERS, delivery())
    assert_error(r, 429)
    assert r.headers["Retry-After"] == "7"
    assert toast.orders == {}
    toast.fail_next(500, path=LOGIN)
    assert_error(await client.post(LOGIN, json=CREDENTIALS), 500)


async def test_a_fault_after_processing_hides_an_order_that_was_made(
    toast: FakeToast, api: Api
) -> None:
    toast.fail_next(502, after_processing=True, path=ORDERS)
    assert_error(await api.post(ORDERS, delivery()), 502)
    assert len(toast.orders) == 1
    assert_error(await api.post(ORDERS, delivery()), 409)  # the retry meets the first try


@pytest.mark.parametrize("after", [False, True])
async def test_hang_next(toast: FakeToast, api: Api, after: bool) -> None:
    toast.hang_next(after_processing=after, path=ORDERS)
    assert (await api.get("/menus/v2/metadata")).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        await api.post(ORDERS, delivery(), timeout=0.3)
    assert toast.hung.is_set()
    assert len(toast.orders) == (1 if after else 0)


async def test_refuse_then_reset_on_the_same_port_keeps_the_orders(
    toast: FakeToast, api: Api
) -> None:
    guid = (await api.post(ORDERS, delivery())).json()["guid"]
    port = toast.port
    await toast.refuse()
    with pytest.raises(httpx.ConnectError):
        await api.get("/menus/v2/metadata")
    toast.fail_next(500)
    await toast.reset()
    assert toast.port == port
    assert (await api.get("/menus/v2/metadata")).status_code == 200  # the fault was cleared
    assert (await api.get(f"{ORDERS}/{guid}")).status_code == 200


async def test_set_price_moves_the_menu_on(toast: FakeToast, api: Api) -> None:
    before = (await api.get("/menus/v2/metadata")).json()["lastUpdated"]
    clock = toast.clock
    assert isinstance(clock, Clock)
    clock.now = NOW + timedelta(hours=1)
    toast.set_price("itm_frites", "5.00")
    assert (await api.get("/menus/v2/metadata")).json()["lastUpdated"] > before
    assert (await api.post(PRICES, delivery())).json()["checks"][0]["totalAmount"] == 10.0


async def test_an_off_spec_answer_of_the_fake_is_a_500_and_recorded(
    toast: FakeToast, api: Api
) -> None:
    toast.menu_updated = 20261123  # type: ignore[assignment]
    assert_error(await api.get("/menus/v2/metadata"), 500, "off-spec")
    assert toast.violations[0].startswith("answer to GET /menus/v2/metadata")
    take_violations(toast, 1)


# ids


def test_every_fixture_id_stands_for_a_menu_entity() -> None:
    docs = [load_order(p.stem) for p in FIXTURES.glob("*.json")]
    items = {i["pos_id"] for d in docs for i in d["items"]}
    mods = {m["pos_id"] for d in docs for i in d["items"] for m in i["modifiers"] if m["pos_id"]}
    assert items <= set(ITEMS)
    assert mods <= set(OPTIONS)
    menu = ToastMenu()  # the recorded menu has every id we name
    assert {pos_id(i) for i in ITEMS} == set(menu.items)
    assert {pos_id(o) for o in OPTIONS} == set(menu.options)
    linked = link(load_order("ubereats_delivery"))
    assert linked["items"][0]["pos_id"] == pos_id("itm_cheese")
    assert linked["items"][0]["modifiers"][1]["pos_id"] == pos_id("mod_cuisson_ap")
    assert load_order("ubereats_delivery")["items"][0]["pos_id"] == "itm_cheese"
    assert pos_id("itm_cheese") != pos_id("itm_veggie")


def test_our_extra_document_is_openapi_and_says_it_is_ours() -> None:
    doc = yaml.safe_load(EXTRA_SPEC.read_text("utf-8"))
    validate(doc)
    assert doc["info"]["description"].startswith("OURS")
    assert set(doc["paths"]) == {
        LOGIN,
        "/config/v2/diningOptions",
        "/config/v2/alternatePaymentTypes",
        "/config/v2/serviceCharges",
        "/stock/v1/inventory",
    }
