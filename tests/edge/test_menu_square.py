"""Square's whole catalog read from the strict fake over loopback HTTP and normalized.

ListCatalog pages with a cursor; the fake serves the recorded catalog
(tests/fixtures/menus/square/catalog.json) `PAGE_SIZE` objects a page, so it spans several.
Regenerate the golden file with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_menu_square.py`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.config import MenuConfig
from edge.menu.rules import Rules
from edge.orders.model import Order
from edge.pos import PosTransientError
from edge.pos.menu import Menu, MenuItem, ModifierRule
from edge.pos.paging import PageReader
from edge.pos.square import SquareConnector
from edge.pos.square_menu import CATALOG_TYPES, CatalogReader
from tests.conftest import load_order
from tests.edge.test_pos_square import NEW, PLAN
from tests.support.fake_square import PAGE_SIZE, FakeSquare
from tests.support.golden import assert_golden, menu_text
from tests.support.sleeps import Sleeps
from tests.support.square_catalog import build_catalog
from tests.support.square_spec import SPEC_MISSING, SPEC_PATH

pytestmark = pytest.mark.skipif(not SPEC_PATH.is_file(), reason=SPEC_MISSING)

Json = dict[str, Any]
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "menus" / "square.json"
LIST = "/v2/catalog/list"
PAGES = math.ceil(len(build_catalog()) / PAGE_SIZE)  # every recorded object is of a read type


@pytest.fixture
async def pos(square: FakeSquare) -> AsyncIterator[SquareConnector]:
    async with SquareConnector(
        token=square.token, location_id=square.location_id, base_url=square.url, timeout=2.0
    ) as connector:
        yield connector


def cursors(square: FakeSquare) -> list[str | None]:
    """The cursor of every ListCatalog request, in order (None: the first page)."""
    return [r.query.get("cursor") for r in square.requests if r.path == LIST]


def by_name(menu: Menu) -> dict[str, MenuItem]:
    return {i.name: i for i in menu.items}


def fail_from_page(square: FakeSquare, after: int, status: int, times: int = 1, **kw: Any) -> Any:
    """An `on_page` callback queueing `times` faults for the page after page `after`."""

    def on_page(n: int) -> None:
        if n == after:
            for _ in range(times):
                square.fail_next(status, path=LIST, **kw)

    return on_page


async def test_the_recorded_catalog_reads_as_its_golden_file(
    square: FakeSquare, pos: SquareConnector
) -> None:
    pages = PageReader()
    menu = await pos.read_menu(pages)
    assert_golden(GOLDEN, menu_text(menu))
    assert Menu.from_doc(menu.to_doc()) == menu

    assert PAGES >= 3
    assert (pages.pages, pages.retries) == (PAGES, 0)
    sent = cursors(square)
    assert len(sent) == PAGES
    assert sent[0] is None
    assert all(sent[1:])
    assert len(set(sent[1:])) == PAGES - 1
    assert {r.query["types"] for r in square.requests} == {CATALOG_TYPES}


async def test_what_the_restaurant_set_in_square_is_in_the_menu(pos: SquareConnector) -> None:
    menu = await pos.read_menu()
    items = by_name(menu)
    lists = {ml.id: ml for ml in menu.modifier_lists}
    categories = {c.id: c.name for c in menu.categories}

    # labels: the names of the item's categories, the reporting category included
    assert items["Cheeseburger"].labels == ("Burgers", "Burger")
    assert items["Pâtes carbonara"].labels == ("Pasta", "Pâtes")  # Pâtes: reporting only
    assert items["Burger du chef"].labels == ("Burgers", "Burger", "Hide from delivery")
    assert items["Formule midi"].labels == ("Masquer",)
    assert items["Frites maison"].labels == ("Accompagnements",)
    assert items["Eau minérale"].category_ids == ()  # no category at all

    # variations: each with its own id and price
    vanille = items["Vanille"]
    assert [(v.id, v.name, v.price) for v in vanille.variations] == [
        ("itm_vanille_petite", "Petite", 350),
        ("itm_vanille_grande", "Grande", 500),
    ]
    assert [categories[c] for c in vanille.category_ids] == ["Glaces"]
    assert vanille.image_url == (
        "https://items-images-production.s3.us-west-2.amazonaws.com/files/"
        "0f9e8d7c6b5a49382716a5b4c3d2e1f0/original.jpeg"
    )
    assert items["Pizza Margherita"].variations[0].price == 1100  # our location's price

    # groups: a required one, optional multi-choice ones, per-item overrides
    cuisson = lists["ml_cuisson"]
    assert (cuisson.min_selected, cuisson.max_selected, cuisson.required) == (1, 1, True)
    supplements = lists["ml_supplements"]
    assert (supplements.required, supplements.max_selected) == (False, None)
    assert [(m.name, m.price) for m in supplements.modifiers][-1] == ("Oignons confits", 0)
    assert (lists["ml_taille"].min_selected, lists["ml_taille"].max_selected) == (0, 1)  # SINGLE
    assert items["Pizza Reine"].modifier_rules == (ModifierRule("ml_taille", 1, 1),)
    assert items["Veggie burger"].modifier_rules == (ModifierRule("ml_supplements", 0, 1),)
    # "no limit" on a list of at most 1: each of its 2 modifiers once
    assert ModifierRule("ml_pizza_extras", 0, 2) in items["Pizza Margherita"].modifier_rules
    assert [m.price for m in lists["ml_pizza_extras"].modifiers] == [100, 400]
    # Square has no nested groups
    assert all(m.modifier_list_ids == () for ml in menu.modifier_lists for m in ml.modifiers)

    # availability: not at our location, sold out here, hidden online
    assert not items["Café gourmand"].available
    assert not items["Pâtes au pesto"].available
    assert not items["Pâtes au pesto"].variations[0].available
    modifiers = {m.name: m for ml in menu.modifier_lists for m in ml.modifiers}
    assert not modifiers["Coulis de fraise"].available
    assert not modifiers["Sauce algérienne"].available
    assert modifiers["Chantilly"].available

    assert items["Cheeseburger"].tax_included is True  # TVA 10 % INCLUSIVE
    assert items["Eau minérale"].tax_included is None  # no tax set up
    assert menu.currency == "EUR"


async def test_brands_and_hide_labels_apply_to_the_read_menu(pos: SquareConnector) -> None:
    menu = await pos.read_menu()
    config = MenuConfig(brand_labels={"Burger Lab": "Burger", "Pasta Nostra": "Pasta"})
    rules = Rules(config, ["Burger Lab", "Pasta Nostra"], store_id="st_demo", pos="square")
    published = rules.apply(menu)
    names = {b.brand: {i["name"] for i in b.doc["items"]} for b in published.brands}
    assert "Cheeseburger" not in names["Pasta Nostra"]
    assert {"Normal - Cheeseburger", "Double - Cheeseburger"} <= names["Burger Lab"]
    assert "Pâtes carbonara" in names["Pasta Nostra"] - names["Burger Lab"]
    assert {"Petite - Vanille", "Grande - Vanille"} <= names["Burger Lab"] & names["Pasta Nostra"]
    hidden = {i.name for i in menu.items if i.id in published.hidden}
    assert hidden == {"Burger du chef", "Formule midi"}
    assert published.uncategorized == (("sq_eau", "Eau minérale"),)


async def test_a_429_on_a_middle_page_is_waited_out_for_its_retry_after(
    square: FakeSquare, pos: SquareConnector
) -> None:
    sleeps = Sleeps()
    pages = PageReader(fail_from_page(square, 2, 429, retry_after=7), sleep=sleeps)
    menu = await pos.read_menu(pages)
    assert sleeps.delays == [7.0]
    assert (pages.pages, pages.retries) == (PAGES, 1)
    sent = cursors(square)
    assert len(sent) == PAGES + 1
    assert sent[2] == sent[3], "the refused page is asked again with its cursor"
    assert menu_text(menu) == GOLDEN.read_text(encoding="utf-8")


async def test_a_5xx_past_the_tries_bound_is_transient(
    square: FakeSquare, pos: SquareConnector
) -> None:
    sleeps = Sleeps()
    with pytest.raises(PosTransientError, match="HTTP 503"):
        await pos.read_menu(PageReader(fail_from_page(square, 1, 503, 3), tries=3, sleep=sleeps))
    assert len(sleeps.delays) == 2
    assert len(cursors(square)) == 1 + 3
    assert square.server.faults == []


async def test_a_location_price_is_what_square_charges(
    square: FakeSquare, pos: SquareConnector
) -> None:
    menu = await pos.read_menu()
    margherita = by_name(menu)["Pizza Margherita"].variations[0]
    doc = load_order("doordash_pending", type="dine_in", status="accepted")
    line = {"pos_id": margherita.id, "name": "Pizza Margherita", "unit_price": margherita.price}
    doc["items"] = [{**doc["items"][0], **line, "quantity": 1, "modifiers": []}]
    doc.pop("totals", None)
    injected = await pos.inject(Order.model_validate(doc), PLAN, NEW)
    assert injected.differences == ()
    assert injected.pos_total == 1100


async def test_the_fake_refuses_cursors_and_types_square_would_refuse(square: FakeSquare) -> None:
    headers = {"Authorization": f"Bearer {square.token}", "Square-Version": "2025-08-20"}
    async with httpx.AsyncClient(base_url=square.url, headers=headers, timeout=5) as client:
        first = (await client.get(LIST, params={"types": "ITEM"})).json()
        assert all(o["type"] == "ITEM" for o in first["objects"])
        other = await client.get(LIST, params={"types": "CATEGORY", "cursor": first["cursor"]})
        assert other.status_code == 400
        assert other.json()["errors"][0]["code"] == "INVALID_CURSOR"
        forged = await client.get(LIST, params={"cursor": "10"})
        assert forged.json()["errors"][0]["code"] == "INVALID_CURSOR"
        unknown = await client.get(LIST, params={"types": "ITEM,MENU"})
        assert unknown.json()["errors"][0]["code"] == "INVALID_ENUM_VALUE"
        default = (await client.get(LIST)).json()  # the top-level types: no IMAGE
        assert {o["type"] for o in default["objects"]} <= {"ITEM", "CATEGORY", "TAX"}
        page_size = await client.get(LIST, params={"limit": "500"})  # ListCatalog has no limit
        assert page_size.status_code == 400
    square.violations.clear()


# the normalization rules the recorded catalog does not show, on hand-made objects


def _obj(kind: str, oid: str, key: str, data: Json, **extra: Any) -> Json:
    return {"type": kind, "id": oid, key: data, **extra}


def _variation(vid: str, item: str, **data: Any) -> Json:
    body = {"item_id": item, "name": vid, "price_money": {"amount": 500, "currency": "EUR"}}
    return _obj("ITEM_VARIATION", vid, "item_variation_data", {**body, **data})


def _item(iid: str, variations: list[Json], **data: Any) -> Json:
    return _obj("ITEM", iid, "item_data", {"name": iid, "variations": variations, **data})


def test_availability_flags_as_square_defines_them() -> None:
    now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    here = {"location_id": "L1"}
    reader = CatalogReader("L1", now=now)
    reader.add(
        [
            _item("archived", [_variation("v1", "archived")], is_archived=True),
            _item(
                "mixed",
                [
                    _variation("kept", "mixed"),
                    _variation("unsellable", "mixed", sellable=False),
                    _variation(
                        "back_already",
                        "mixed",
                        location_overrides=[
                            {**here, "sold_out": True, "sold_out_valid_until": "2026-11-23T17:00Z"}
                        ],
                    ),
                    _variation(
                        "back_tomorrow",
                        "mixed",
                        location_overrides=[
                            {**here, "sold_out": True, "sold_out_valid_until": "2026-11-24T09:00Z"}
                        ],
                    ),
                    {**_variation("elsewhere", "mixed"), "absent_at_location_ids": ["L1"]},
                    _variation("open", "mixed", pricing_type="VARIABLE_PRICING"),
                ],
            ),
        ]
    )
    items = by_name(reader.menu())
    assert not items["archived"].available
    assert [(v.id, v.available) for v in items["mixed"].variations] == [
        ("kept", True),
        ("unsellable", False),
        ("back_already", True),
        ("back_tomorrow", False),
        ("elsewhere", False),
        ("open", True),
    ]
    assert items["mixed"].variations[-1].price is None


def test_rules_taxes_and_pages_in_any_order() -> None:
    reader = CatalogReader("L1")
    # page 1: a standalone variation and an item whose list, taxes and category come later
    reader.add(
        [
            _variation("loose", "burger"),
            _item(
                "burger",
                [_variation("own", "burger")],
                category_id="old_cat",  # deprecated, read when `categories` is absent
                tax_ids=["vat", "city", "off"],
                modifier_list_info=[
                    {"modifier_list_id": "extras", "min_selected_modifiers": -1},
                    {"modifier_list_id": "sauces", "max_selected_modifiers": 0},
                    {
                        "modifier_list_id": "toppings",
                        "max_selected_modifiers": 0,
                        "allow_quantities": "YES",
                    },
                    {"modifier_list_id": "gone", "enabled": False},
                ],
            ),
            _item("untaxed", [_variation("u1", "untaxed")], is_taxable=False, tax_ids=["vat"]),
        ]
    )
    mods = [_obj("MODIFIER", f"m{n}", "modifier_data", {"name": f"m{n}"}) for n in range(3)]
    single = {"selection_type": "SINGLE", "modifiers": mods}
    reader.add(
        [
            _obj("MODIFIER_LIST", "extras", "modifier_list_data", {"name": "Extras", **single}),
            _obj("MODIFIER_LIST", "sauces", "modifier_list_data", {"name": "Sauces", **single}),
            _obj("MODIFIER_LIST", "toppings", "modifier_list_data", {"name": "T", **single}),
            _obj("CATEGORY", "old_cat", "category_data", {"name": "Burgers"}),
            _obj("TAX", "vat", "tax_data", {"inclusion_type": "INCLUSIVE"}),
            _obj("TAX", "city", "tax_data", {"inclusion_type": "ADDITIVE"}),
            _obj("TAX", "off", "tax_data", {"inclusion_type": "ADDITIVE", "enabled": False}),
            _obj("CATEGORY", "deleted", "category_data", {"name": "X"}, is_deleted=True),
        ]
    )
    menu = reader.menu()
    burger, untaxed = menu.items
    assert [v.id for v in burger.variations] == ["own", "loose"]
    assert burger.labels == ("Burgers",)
    assert burger.modifier_list_ids == ("extras", "sauces", "toppings")
    assert burger.modifier_rules == (
        ModifierRule("sauces", 0, 3),  # no limit over SINGLE: each of 3 modifiers once
        ModifierRule("toppings", 0, None),  # with quantities: the list's own (model limit)
    )
    assert burger.tax_included is False  # an additive tax is added on top
    assert untaxed.tax_included is None
    assert [ml.max_selected for ml in menu.modifier_lists] == [1, 1, 1]
    assert [c.id for c in menu.categories] == ["old_cat"]
