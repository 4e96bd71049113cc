"""Toast's whole menu read from the strict fake over loopback HTTP and normalized.

Toast does not paginate: a read is the menu metadata, the published menus document (the
whole menu, downloaded again only when Toast published since) and the stock inventory.
Regenerate the golden file with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_menu_toast.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.config import MenuConfig
from edge.menu.rules import Rules
from edge.pos import PosTransientError
from edge.pos.menu import Menu, MenuItem
from edge.pos.paging import PageReader
from edge.pos.toast import ToastConnector
from tests.edge.test_pos_toast import PLAN, attempt, order
from tests.support.fake_toast import INVENTORY, MENUS, METADATA, FakeToast
from tests.support.golden import assert_golden, menu_text
from tests.support.sleeps import Sleeps
from tests.support.toast_menu import pos_id
from tests.support.toast_spec import SPEC_MISSING, specs_present

pytestmark = pytest.mark.skipif(not specs_present(), reason=SPEC_MISSING)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "menus" / "toast.json"
READ = [METADATA, MENUS, INVENTORY]  # the requests of one read, in order


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


def requested(toast: FakeToast) -> list[str]:
    return [r.path for r in toast.requests if r.method == "GET"]


def by_name(menu: Menu) -> dict[str, MenuItem]:
    return {i.name: i for i in menu.items}


async def test_the_recorded_menu_reads_as_its_golden_file(
    toast: FakeToast, pos: ToastConnector
) -> None:
    pages = PageReader()
    menu = await pos.read_menu(pages)
    assert_golden(GOLDEN, menu_text(menu))
    assert pages.pages == 3
    assert requested(toast) == READ
    assert Menu.from_doc(menu.to_doc()) == menu


async def test_what_the_restaurant_set_in_toast_is_in_the_menu(pos: ToastConnector) -> None:
    menu = await pos.read_menu()
    items = by_name(menu)
    lists = {ml.id: ml for ml in menu.modifier_lists}
    categories = {c.id: c.name for c in menu.categories}

    # brands and hide tags, the group's tags inherited by its items
    assert items["Cheeseburger"].labels == ("Burger",)
    assert items["Pâtes carbonara"].labels == ("Pasta",)
    assert items["Burger du chef"].labels == ("Burger", "Hide from delivery")
    assert items["Formule midi"].labels == ("Masquer",)
    assert items["Frites maison"].labels == ()
    assert items["Veggie burger"].labels == ("Burger", "Végétarien")

    # no variations in Toast: sizes are a required group whose options carry the price
    vanille = items["Vanille"]
    assert [(v.id, v.price) for v in vanille.variations] == [(vanille.id, 0)]
    taille = lists[vanille.modifier_list_ids[0]]
    assert (taille.name, taille.min_selected, taille.max_selected) == ("Taille", 1, 1)
    assert [(m.name, m.price) for m in taille.modifiers] == [("Petite", 350), ("Grande", 500)]
    toppings = lists[vanille.modifier_list_ids[1]]
    assert (toppings.required, toppings.max_selected) == (False, None)
    assert vanille.image_url is not None
    assert vanille.image_url.startswith("https://s3.amazonaws.com/toasttab/")
    assert [categories[c] for c in vanille.category_ids] == ["Glaces"]

    # a nested group: "Sauce piquante" opens "Niveau de piment"
    sauce = next(ml for ml in menu.modifier_lists if ml.name == "Sauce")
    piquante = next(m for m in sauce.modifiers if m.name == "Sauce piquante")
    assert piquante.price == 50
    assert [lists[g].name for g in piquante.modifier_list_ids] == ["Niveau de piment"]
    assert lists[piquante.modifier_list_ids[0]].required

    # one item in two groups of two menus
    assert [categories[c] for c in items["Frites maison"].category_ids] == [
        "Accompagnements",
        "Accompagnements traiteur",
    ]
    # unavailable: hidden from ordering partners, out of stock; running low is available
    assert not items["Café gourmand"].available
    assert not items["Pâtes au pesto"].available
    assert items["Tiramisù"].available
    modifiers = {m.name: m for ml in menu.modifier_lists for m in ml.modifiers}
    coulis = modifiers["Coulis de fraise"]
    assert not coulis.available
    assert all(i.tax_included is True for i in menu.items)
    assert menu.currency is None


async def test_brands_and_hide_tags_apply_to_the_read_menu(pos: ToastConnector) -> None:
    menu = await pos.read_menu()
    config = MenuConfig(brand_labels={"Burger Lab": "Burger", "Pasta Nostra": "Pasta"})
    rules = Rules(config, ["Burger Lab", "Pasta Nostra"], store_id="st_demo", pos="toast")
    published = rules.apply(menu)
    names = {b.brand: {i["name"] for i in b.doc["items"]} for b in published.brands}
    assert "Cheeseburger" in names["Burger Lab"]
    assert "Cheeseburger" not in names["Pasta Nostra"]
    assert "Pâtes carbonara" in names["Pasta Nostra"] - names["Burger Lab"]
    assert "Frites maison" in names["Burger Lab"] & names["Pasta Nostra"]
    hidden = {i.name for i in menu.items if i.id in published.hidden}
    assert hidden == {"Burger du chef", "Formule midi"}
    assert published.uncategorized == ()  # every Toast item sits in a menu group


async def test_a_429_is_waited_out_for_its_retry_after(
    toast: FakeToast, pos: ToastConnector
) -> None:
    toast.fail_next(429, retry_after=7, path=MENUS)
    sleeps = Sleeps()
    pages = PageReader(sleep=sleeps)
    menu = await pos.read_menu(pages)
    assert sleeps.delays == [7.0]
    assert (pages.pages, pages.retries) == (3, 1)
    assert requested(toast) == [METADATA, MENUS, MENUS, INVENTORY]
    assert menu_text(menu) == GOLDEN.read_text(encoding="utf-8")


async def test_a_5xx_past_the_tries_bound_is_transient(
    toast: FakeToast, pos: ToastConnector
) -> None:
    for _ in range(3):
        toast.fail_next(503, path=MENUS)
    sleeps = Sleeps()
    with pytest.raises(PosTransientError):
        await pos.read_menu(PageReader(tries=3, sleep=sleeps))
    assert len(sleeps.delays) == 2
    assert requested(toast).count(MENUS) == 3
    assert toast.server.faults == []


async def test_an_unpublished_menu_is_not_downloaded_again_but_the_stock_is(
    toast: FakeToast, pos: ToastConnector
) -> None:
    first = await pos.read_menu()
    toast.menu.set_stock(pos_id("itm_cheese"), "OUT_OF_STOCK")
    toast.menu.set_stock(pos_id("itm_pesto"), "IN_STOCK")
    toast.requests.clear()
    again = await pos.read_menu()
    assert requested(toast) == [METADATA, INVENTORY]
    assert not by_name(again)["Cheeseburger"].available
    assert by_name(again)["Pâtes au pesto"].available
    assert by_name(first)["Cheeseburger"].available

    toast.set_price(pos_id("itm_frites"), "5.00")  # Toast publishes: lastUpdated moves on
    toast.requests.clear()
    moved = await pos.read_menu()
    assert requested(toast) == READ
    assert by_name(moved)["Frites maison"].variations[0].price == 500


async def test_without_the_stock_scope_the_menu_is_still_read(
    toast: FakeToast, pos: ToastConnector, caplog: pytest.LogCaptureFixture
) -> None:
    toast.stock_readable = False
    with caplog.at_level(logging.WARNING, logger="edge.pos.toast"):
        menu = await pos.read_menu()
    assert by_name(menu)["Pâtes au pesto"].available  # the stock is unknown
    assert not by_name(menu)["Café gourmand"].available  # visibility still applies
    assert "stock:read" in caplog.text


async def test_a_toast_without_the_stock_api_still_gives_its_menu(
    toast: FakeToast, pos: ToastConnector
) -> None:
    toast.fail_next(404, path=INVENTORY)
    menu = await pos.read_menu()
    assert by_name(menu)["Pâtes au pesto"].available  # the stock is unknown
    assert not by_name(menu)["Café gourmand"].available  # visibility still applies


async def test_an_order_goes_in_after_the_menu_was_read_for_the_sync(
    toast: FakeToast, pos: ToastConnector
) -> None:
    await pos.read_menu(PageReader())
    o = order("ubereats_delivery")
    injected = await pos.inject(o, PLAN, attempt(o))
    assert injected.pos_order_id in toast.orders
