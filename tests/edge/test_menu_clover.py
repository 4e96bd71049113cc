"""Clover's whole menu read from the strict fake over loopback HTTP and normalized.

Clover pages every list with limit/offset (at most 1000 a page, the first short page is the
last): the connector reads here with 5 a page, so every list of the recorded menu spans
several pages. Regenerate the golden file with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_menu_clover.py`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.config import MenuConfig
from edge.menu.rules import Rules
from edge.orders.model import Order
from edge.pos import PosTransientError
from edge.pos.clover import CloverConnector
from edge.pos.clover_menu import variant_group
from edge.pos.menu import Menu, MenuItem, MenuVariation, ModifierRule
from edge.pos.model import rule_violations, unlinked_lines
from edge.pos.paging import PageReader
from tests.conftest import load_order
from tests.edge.test_pos_clover import PLAN, attempt, order
from tests.support.clover_inventory import RECORDED, clover_id, link, pos_id, recorded
from tests.support.clover_spec import validate_response
from tests.support.fake_clover import FakeClover
from tests.support.golden import assert_golden, menu_text
from tests.support.sleeps import Sleeps

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "menus" / "clover.json"
PAGE = 5
# the lists of one read, in order, and how many objects each holds in the recorded menu
LISTS = [
    ("/categories", 8),
    ("/modifier_groups", 8),
    ("/modifiers", 20),
    ("/item_groups", 2),
    ("/items", 29),  # for the variants' options
    ("/items", 29),  # with tags, categories and modifier groups
]
ORDERS = [
    "deliveroo_pickup_scheduled",
    "doordash_pending",
    "large_catering_order",
    "self_delivery_with_tip",
    "ubereats_delivery",
]


def pages_of(count: int) -> int:
    """Requests for a list of `count`: full pages, then a short (maybe empty) last one."""
    return count // PAGE + 1


READ = [(tail, n * PAGE) for tail, count in LISTS for n in range(pages_of(count))]


@pytest.fixture
async def pos(clover: FakeClover) -> AsyncIterator[CloverConnector]:
    async with CloverConnector(
        token=clover.token,
        merchant_id=clover.merchant_id,
        base_url=clover.url,
        timeout=2.0,
        page_size=PAGE,
    ) as connector:
        yield connector


def requested(clover: FakeClover) -> list[tuple[str, int]]:
    """(path under the merchant, offset) of every GET, in order."""
    return [
        (r.path.removeprefix(clover.base_path), int(r.query.get("offset", "0")))
        for r in clover.requests
        if r.method == "GET"
    ]


def by_name(menu: Menu) -> dict[str, MenuItem]:
    return {i.name: i for i in menu.items}


def test_the_recording_is_what_our_clover_document_says_clover_answers() -> None:
    for name, (tail, _) in RECORDED.items():
        doc = recorded(name)
        validate_response("GET", f"/v3/merchants/MBURGERLAB001{tail}", 200, doc)
        assert len(doc["elements"]) <= 1000, name


async def test_the_recorded_menu_reads_as_its_golden_file(
    clover: FakeClover, pos: CloverConnector
) -> None:
    pages = PageReader()
    menu = await pos.read_menu(pages)
    assert_golden(GOLDEN, menu_text(menu))
    assert requested(clover) == READ
    assert pages.pages == len(READ) == 22
    limits = {r.query["limit"] for r in clover.requests}
    assert limits == {str(PAGE)}
    assert Menu.from_doc(menu.to_doc()) == menu


async def test_what_the_restaurant_set_in_clover_is_in_the_menu(pos: CloverConnector) -> None:
    menu = await pos.read_menu()
    items = by_name(menu)
    lists = {ml.id: ml for ml in menu.modifier_lists}
    categories = {c.id: c.name for c in menu.categories}

    # brand and hide labels are the items' tags, beside the kitchen's own tags
    assert items["Cheeseburger"].labels == ("Cuisine", "Burger")
    assert items["Pâtes carbonara"].labels == ("Cuisine", "Pasta")
    assert items["Burger du chef"].labels == ("Cuisine", "Burger", "Hide from delivery")
    assert items["Crème brûlée"].labels == ("Cuisine", "Masquer")
    assert items["Frites maison"].labels == ("Cuisine", "Végétarien")

    # an item group is one item; each variant a variation with its own item id
    vanille = items["Vanille"]
    assert vanille.id == clover_id("item_group", "grp_vanille")
    assert [(v.id, v.name, v.price) for v in vanille.variations] == [
        (pos_id("itm_vanille_petite"), "Petite", 350),
        (pos_id("itm_vanille_grande"), "Grande", 500),
    ]
    assert [categories[c] for c in vanille.category_ids] == ["Desserts"]
    toppings = lists[vanille.modifier_list_ids[0]]
    assert (toppings.name, toppings.required, toppings.max_selected) == ("Toppings", False, None)
    assert [v.name for v in items["Coca-Cola"].variations] == ["33 cl", "50 cl"]
    assert "Vanille Petite" not in items

    # modifier groups: required, optional multi-choice, choices priced 0, one out of stock
    cuisson = lists[items["Cheeseburger"].modifier_list_ids[1]]
    assert (cuisson.name, cuisson.min_selected, cuisson.max_selected) == ("Cuisson", 1, 1)
    assert cuisson.required
    assert [(m.name, m.price) for m in cuisson.modifiers] == [
        ("Saignant", 0), ("À point", 0), ("Bien cuit", 0)
    ]  # fmt: skip
    supplements = lists[items["Cheeseburger"].modifier_list_ids[0]]
    assert (supplements.min_selected, supplements.max_selected) == (0, 2)
    modifiers = {m.name: m for ml in menu.modifier_lists for m in ml.modifiers}
    assert not modifiers["Sauce truffe"].available
    assert modifiers["Sauce maison"].available
    assert all(not m.modifier_list_ids for m in modifiers.values()), "Clover nests no groups"

    # categories: none, several; availability: out of stock, hidden, not revenue
    assert items["Formule midi"].category_ids == ()
    assert [categories[c] for c in items["Frites maison"].category_ids] == [
        "Accompagnements", "Traiteur"
    ]  # fmt: skip
    assert not items["Salade de saison"].available
    staff = items["Repas du personnel"]
    assert not staff.available
    assert staff.variations[0].price is None, "VARIABLE: priced at the till"
    assert items["Tiramisù"].available

    # what Clover's inventory does not say
    assert all(i.tax_included is None and i.image_url is None for i in menu.items)
    assert all(i.description == "" for i in menu.items)
    assert menu.currency is None


async def test_brands_and_hide_tags_apply_to_the_read_menu(pos: CloverConnector) -> None:
    menu = await pos.read_menu()
    config = MenuConfig(brand_labels={"Burger Lab": "Burger", "Pasta Nostra": "Pasta"})
    rules = Rules(config, ["Burger Lab", "Pasta Nostra"], store_id="st_demo", pos="clover")
    published = rules.apply(menu)
    names = {b.brand: {i["name"] for i in b.doc["items"]} for b in published.brands}
    assert "Cheeseburger" in names["Burger Lab"] - names["Pasta Nostra"]
    assert "Pâtes carbonara" in names["Pasta Nostra"] - names["Burger Lab"]
    assert {"Frites maison", "Grande - Vanille", "Petite - Vanille", "50 cl - Coca-Cola"} <= (
        names["Burger Lab"] & names["Pasta Nostra"]
    )
    hidden = {i.name for i in menu.items if i.id in published.hidden}
    assert hidden == {"Burger du chef", "Crème brûlée"}
    assert published.uncategorized == ((pos_id("itm_formule_midi"), "Formule midi"),)
    grande = next(i for i in published.brands[0].doc["items"] if i["name"] == "Grande - Vanille")
    assert (grande["pos_id"], grande["pos_price"]) == (pos_id("itm_vanille_grande"), 500)


async def test_a_429_on_a_middle_page_is_waited_out_for_its_retry_after(
    clover: FakeClover, pos: CloverConnector
) -> None:
    def on_page(n: int) -> None:
        if n == 3:  # the next page is the modifier groups' second
            clover.fail_next(429, retry_after=7, path="/modifier_groups")

    sleeps = Sleeps()
    pages = PageReader(on_page, sleep=sleeps)
    menu = await pos.read_menu(pages)
    assert sleeps.delays == [7.0]
    assert (pages.pages, pages.retries) == (len(READ), 1)
    assert requested(clover) == [*READ[:4], READ[3], *READ[4:]]
    assert READ[3] == ("/modifier_groups", PAGE)
    assert menu_text(menu) == GOLDEN.read_text(encoding="utf-8")
    assert clover.server.faults == []


async def test_a_5xx_past_the_tries_bound_is_transient(
    clover: FakeClover, pos: CloverConnector
) -> None:
    for _ in range(3):
        clover.fail_next(503, path="/modifiers")
    sleeps = Sleeps()
    with pytest.raises(PosTransientError):
        await pos.read_menu(PageReader(tries=3, sleep=sleeps))
    assert len(sleeps.delays) == 2
    assert [tail for tail, _ in requested(clover)].count("/modifiers") == 3
    assert clover.server.faults == []


async def test_one_page_a_list_at_clovers_largest_page(clover: FakeClover) -> None:
    async with CloverConnector(
        token=clover.token, merchant_id=clover.merchant_id, base_url=clover.url, timeout=2.0
    ) as connector:
        pages = PageReader()
        menu = await connector.read_menu(pages)
    assert pages.pages == len(LISTS)
    assert {r.query["limit"] for r in clover.requests} == {"1000"}
    assert menu_text(menu) == GOLDEN.read_text(encoding="utf-8")


async def test_without_item_groups_the_items_are_listed_once(clover: FakeClover) -> None:
    clover.inventory.item_groups.clear()
    for item in clover.inventory.items.values():
        item.pop("itemGroup", None)
    async with CloverConnector(
        token=clover.token, merchant_id=clover.merchant_id, base_url=clover.url, timeout=2.0
    ) as connector:
        menu = await connector.read_menu()
    assert [tail for tail, _ in requested(clover)].count("/items") == 1
    assert "Vanille Grande" in by_name(menu)


async def test_a_clover_refusing_item_groups_still_gives_its_menu(
    clover: FakeClover, pos: CloverConnector
) -> None:
    whole = await pos.read_menu()
    clover.fail_next(404, path="/v3/merchants/MBURGERLAB001/item_groups")
    menu = await pos.read_menu()
    # Without the groups' names the variants are not named "Grande - Vanille", but every
    # id an order line links to is still there.
    assert menu.variation_ids() == whole.variation_ids()
    assert "Frites maison" in by_name(menu)


async def test_every_fixture_order_links_to_the_read_menu_and_keeps_its_rules(
    clover: FakeClover, pos: CloverConnector
) -> None:
    menu = await pos.read_menu()
    for name in ORDERS:
        doc = link(load_order(name))
        if name == "self_delivery_with_tip":  # its second modifier is not linked in the sample
            doc["items"][0]["modifiers"][1]["pos_id"] = pos_id("mod_oeuf")
        o = Order.model_validate_json(json.dumps(doc))
        assert unlinked_lines(o, menu) == [], name
        assert rule_violations(o, menu) == [], name
    o = order("ubereats_delivery")
    injected = await pos.inject(o, PLAN, attempt(o))
    assert injected.pos_order_id in clover.orders


def test_a_group_only_some_variants_offer_is_not_required_of_the_item() -> None:
    def variant(item_id: str, groups: tuple[str, ...], *, available: bool = True) -> MenuItem:
        name = f"Glace {item_id}"
        return MenuItem(
            item_id, name, ("CAT",), (MenuVariation(item_id, name, 400),), groups,
            labels=("Cuisine",), available=available,
        )  # fmt: skip

    item = variant_group(
        "GROUP",
        "Glace",
        [
            (variant("A", ("CORNET", "TOPPINGS")), "Petite"),
            (variant("B", ("TOPPINGS",), available=False), ""),
        ],
    )
    assert item.modifier_list_ids == ("CORNET", "TOPPINGS")
    assert item.modifier_rules == (ModifierRule("CORNET", min_selected=0),)
    assert [(v.id, v.name, v.available) for v in item.variations] == [
        ("A", "Petite", True),
        ("B", "Glace B", False),  # no option names: the variant's own name
    ]
    assert item.available
    assert (item.name, item.category_ids, item.labels) == ("Glace", ("CAT",), ("Cuisine",))
