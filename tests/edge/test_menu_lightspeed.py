"""Lightspeed K's whole menu read from the strict fake over loopback HTTP and normalized.

A read is the menu list, one load per menu (Lightspeed does not paginate a menu: each is one
page), the item availability of every SKU read (50 SKUs a request, `page`/`size` pages) and
the Financial API's businesses for the currency. Regenerate the golden file with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_menu_lightspeed.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.config import MenuConfig
from edge.menu.rules import Rules
from edge.pos import PosPending, PosTransientError
from edge.pos.lightspeed import LightspeedKConnector
from edge.pos.menu import Menu, MenuItem, ModifierList, ModifierRule
from edge.pos.paging import PageReader
from tests.edge.test_pos_lightspeed import PLAN, attempt, order
from tests.support.fake_lightspeed_k import FakeLightspeedK
from tests.support.golden import assert_golden, menu_text
from tests.support.lightspeed_menu import MENU_CARTE, MENU_TRAITEUR, pos_id
from tests.support.memory_secrets import MemorySecrets
from tests.support.sleeps import Sleeps

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "menus" / "lightspeed.json"
LIST = "/o/op/1/menu/list"
CARTE = f"/o/op/2/menu/load/{MENU_CARTE}"
TRAITEUR = f"/o/op/2/menu/load/{MENU_TRAITEUR}"
AVAILABILITY = "/o/op/1/itemAvailability"
BUSINESSES = "/f/data/businesses"
# the requests of one read with pages of 2 restricted items (the fixture has 4 in one batch)
READ = [LIST, CARTE, TRAITEUR, AVAILABILITY, AVAILABILITY, BUSINESSES]


async def connect(lsk: FakeLightspeedK) -> LightspeedKConnector:
    connector = LightspeedKConnector(
        client_id="edge-box",
        client_secret="edge-box-secret",
        initial_refresh_token=lsk.refresh_token,
        business_location_id=45454565682155,
        endpoint_id="store-edge",
        secrets=MemorySecrets(),
        base_url=lsk.url,
        timeout=2.0,
    )
    connector.availability_page_size = 2  # the fixture's restricted items span two pages
    return connector


@pytest.fixture
async def pos(lsk: FakeLightspeedK) -> AsyncIterator[LightspeedKConnector]:
    async with await connect(lsk) as connector:
        yield connector


def requested(lsk: FakeLightspeedK) -> list[str]:
    return [r.path for r in lsk.requests if r.path != "/oauth/token"]


def by_name(menu: Menu) -> dict[str, MenuItem]:
    return {i.name: i for i in menu.items}


def lists_of(menu: Menu) -> dict[str, ModifierList]:
    return {ml.id: ml for ml in menu.modifier_lists}


async def test_the_recorded_menu_reads_as_its_golden_file(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    pages = PageReader()
    menu = await pos.read_menu(pages)
    assert_golden(GOLDEN, menu_text(menu))
    assert requested(lsk) == READ
    assert pages.pages == len(READ)
    loads = [r.query for r in lsk.requests if r.path in (CARTE, TRAITEUR)]
    assert all(q == {"businessLocationId": "45454565682155", "richContent": "true"} for q in loads)
    asked = [r for r in lsk.requests if r.path == AVAILABILITY]
    assert [r.query["page"] for r in asked] == ["0", "1"]
    assert asked[0].body == asked[1].body
    assert isinstance(asked[0].body, dict)
    assert len(asked[0].body["skus"]) == len(set(asked[0].body["skus"])) <= 50
    assert Menu.from_doc(menu.to_doc()) == menu


async def test_what_the_restaurant_set_in_lightspeed_is_in_the_menu(
    pos: LightspeedKConnector,
) -> None:
    menu = await pos.read_menu()
    items = by_name(menu)
    lists = lists_of(menu)
    categories = {c.id: c.name for c in menu.categories}

    # labels: the screens on the way to the item, of every place it sits
    assert items["Cheeseburger"].labels == ("Burger", "Nos burgers")
    assert items["Veggie burger"].labels == ("Burger",)
    assert items["Pâtes carbonara"].labels == ("Pasta", "Pâtes")
    assert items["Burger du chef"].labels == ("Burger", "Nos burgers", "Hide from delivery")
    assert items["Formule midi"].labels == ("Suggestions", "Masquer")
    assert items["Frites maison"].labels == ("Accompagnements", "Suggestions")
    assert items["Coca-Cola 33 cl"].labels == ("Boissons", "Coca-Cola", "Boissons traiteur")
    # categories: the screens it sits on directly
    assert [categories[c] for c in items["Cheeseburger"].category_ids] == ["Nos burgers"]
    assert [categories[c] for c in items["Frites maison"].category_ids] == [
        "Accompagnements",
        "Suggestions",
    ]
    assert all(i.category_ids for i in menu.items)  # every entry sits on a screen

    # no variations in Lightspeed K: one carrying the SKU; sizes are a required group
    vanille = items["Vanille"]
    assert [(v.id, v.name, v.price) for v in vanille.variations] == [("1601", "Vanille", 350)]
    taille, toppings = (lists[g] for g in vanille.modifier_list_ids)
    assert (taille.name, taille.min_selected, taille.max_selected) == ("Taille", 1, 1)
    assert [(m.name, m.price) for m in taille.modifiers] == [("Petite", 0), ("Grande", 150)]
    assert (toppings.required, toppings.max_selected) == (False, None)
    assert vanille.description == "Glace artisanale à la vanille de Madagascar"
    assert vanille.image_url is not None
    assert vanille.image_url.endswith("_raw.image/png")
    assert items["Burger du chef"].description == "La création du moment : demandez en salle !"

    # groups: product modifiers (bounds), production instructions (one or several, free)
    cheese = items["Cheeseburger"]
    supplements, cuisson, preparation = (lists[g] for g in cheese.modifier_list_ids)
    assert (supplements.min_selected, supplements.max_selected) == (0, 3)
    assert (cuisson.required, cuisson.max_selected) == (True, 1)
    assert [m.id for m in cuisson.modifiers] == [pos_id("mod_cuisson_s"), "2012", "2013"]
    assert preparation.id == "pi:236025632784609"
    assert (preparation.min_selected, preparation.max_selected) == (0, None)
    assert {m.price for m in preparation.modifiers} == {0}
    pates = lists[items["Pâtes carbonara"].modifier_list_ids[1]]
    assert (pates.name, pates.max_selected) == ("Cuisson des pâtes", 1)

    # nested: a product modifier's instructions, a combo choice's own groups
    steak = next(m for m in supplements.modifiers if m.name == "Steak supplémentaire")
    assert (steak.id, steak.price) == ("2003", 300)
    assert [lists[g].name for g in steak.modifier_list_ids] == ["Cuisson du steak"]
    formule = items["Formule burger"]
    burger, boisson = (lists[g] for g in formule.modifier_list_ids)
    assert (burger.id, burger.required, burger.max_selected) == ("4010", True, 1)
    choice = burger.modifiers[0]
    assert (choice.id, choice.price) == ("1001", 0)
    assert choice.modifier_list_ids == cheese.modifier_list_ids
    assert [(m.name, m.price) for m in boisson.modifiers][1] == ("Coca-Cola 50 cl", 100)

    # availability: count 0 is sold out, a few left is available
    assert not items["Pâtes au pesto"].available
    assert not items["Pâtes au pesto"].variations[0].available
    assert items["Tiramisù"].available
    coulis = next(m for m in toppings.modifiers if m.name == "Coulis de fraise")
    assert not coulis.available

    # prices, open prices, tax, currency; items that cannot be sold alone are left out
    assert items["Plat du jour"].variations[0].price is None
    assert items["Pâtes carbonara"].variations[0].price == 1390
    assert "Sauce maison" not in items
    assert items["Bacon"].variations[0].price == 150  # a product modifier on a screen
    assert "BLB-DEGUSTATION-AUTOMNE-2026" in menu.variation_ids()
    assert all(i.tax_included is True for i in menu.items)
    assert menu.currency == "EUR"
    assert all(not i.modifier_rules for i in menu.items)


async def test_brands_and_hide_screens_apply_to_the_read_menu(pos: LightspeedKConnector) -> None:
    menu = await pos.read_menu()
    config = MenuConfig(brand_labels={"Burger Lab": "Burger", "Pasta Nostra": "Pasta"})
    rules = Rules(config, ["Burger Lab", "Pasta Nostra"], store_id="st_demo", pos="lightspeed_k")
    published = rules.apply(menu)
    names = {b.brand: {i["name"] for i in b.doc["items"]} for b in published.brands}
    assert "Cheeseburger" in names["Burger Lab"] - names["Pasta Nostra"]
    assert "Pâtes carbonara" in names["Pasta Nostra"] - names["Burger Lab"]
    assert "Frites maison" in names["Burger Lab"] & names["Pasta Nostra"]
    hidden = {i.name for i in menu.items if i.id in published.hidden}
    assert hidden == {"Burger du chef", "Formule midi"}
    assert published.uncategorized == ()
    # no variations: Vanille is published once, its sizes a required group
    assert "Vanille" in names["Burger Lab"]
    assert not any(n.endswith(" - Vanille") for n in names["Burger Lab"])


async def test_a_429_on_a_middle_page_is_waited_out_for_its_retry_after(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    lsk.fail_next(429, retry_after=7, path=TRAITEUR)
    sleeps = Sleeps()
    pages = PageReader(sleep=sleeps)
    menu = await pos.read_menu(pages)
    assert sleeps.delays == [7.0]
    assert (pages.pages, pages.retries) == (len(READ), 1)
    assert requested(lsk) == [LIST, CARTE, TRAITEUR, *READ[2:]]
    assert menu_text(menu) == GOLDEN.read_text(encoding="utf-8")


async def test_a_failed_availability_page_is_read_again(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    lsk.fail_next(502, path=AVAILABILITY)
    sleeps = Sleeps()
    menu = await pos.read_menu(PageReader(sleep=sleeps))
    assert len(sleeps.delays) == 1
    assert requested(lsk).count(AVAILABILITY) == 3
    assert not by_name(menu)["Pâtes au pesto"].available


async def test_a_5xx_past_the_tries_bound_is_transient(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    for _ in range(3):
        lsk.fail_next(503, path=CARTE)
    sleeps = Sleeps()
    with pytest.raises(PosTransientError):
        await pos.read_menu(PageReader(tries=3, sleep=sleeps))
    assert len(sleeps.delays) == 2
    assert requested(lsk) == [LIST, CARTE, CARTE, CARTE]
    assert lsk.server.faults == []


async def test_the_stock_is_read_again_each_time(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    await pos.read_menu()
    lsk.set_stock(pos_id("itm_cheese"), 0)
    lsk.set_stock(pos_id("itm_pesto"), None)
    lsk.set_price(pos_id("itm_frites"), "5.00")
    menu = await pos.read_menu()
    assert not by_name(menu)["Cheeseburger"].available
    assert by_name(menu)["Pâtes au pesto"].available
    assert by_name(menu)["Frites maison"].variations[0].price == 500


async def test_an_item_with_its_own_bounds_for_a_shared_group_carries_them(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    tree = lsk.catalog.trees[MENU_CARTE]
    double = tree["menuEntryGroups"][0]["menuEntry"][0]["menuEntry"][1]
    assert double["productName"] == "Cheeseburger double"
    double["menuModifierGroups"][0]["maximumSelection"] = 5
    menu = await pos.read_menu()
    item = by_name(menu)["Cheeseburger double"]
    assert item.modifier_rules == (ModifierRule("2000", 0, 5),)
    rules = {r.group.id: (r.min_selected, r.max_selected) for r in menu.rules_of(item)}
    assert rules["2000"] == (0, 5)
    assert lists_of(menu)["2000"].max_selected == 3  # the group's own, as first read


async def test_without_the_financial_scope_the_currency_is_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeLightspeedK(scope="orders-api") as lsk:
        async with await connect(lsk) as pos:
            with caplog.at_level(logging.INFO, logger="edge.pos.lightspeed"):
                menu = await pos.read_menu()
        assert lsk.violations == []
    assert menu.currency is None
    assert "Financial API" in caplog.text
    assert len(menu.items) == 31


async def test_an_order_goes_in_after_the_menu_was_read_for_the_sync(
    lsk: FakeLightspeedK, pos: LightspeedKConnector
) -> None:
    await pos.read_menu(PageReader())
    lsk.requests.clear()
    o = order("ubereats_delivery")
    with pytest.raises(PosPending):  # submitted: Lightspeed answers by webhook
        await pos.inject(o, PLAN, attempt(o))
    assert LIST not in requested(lsk)  # the index came with the menu read
    body = lsk.posted("/o/op/1/order/toGo")[0]
    assert body["items"][0]["sku"] == pos_id("itm_cheese")
