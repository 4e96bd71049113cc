"""The restaurant's rules: what of the POS menu each brand publishes, and at which price."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edge.config import MenuConfig
from edge.menu.pricing import Pricing, PricingError, pricing_for
from edge.menu.rules import Rules, brand_names
from edge.menu.store import COMPRESS_ABOVE, brand_payload
from edge.pos.menu import (
    Category,
    Menu,
    MenuItem,
    MenuModifier,
    MenuVariation,
    ModifierList,
    ModifierRule,
)

SCHEMA = json.loads((Path(__file__).parents[2] / "edge/menu/menu.schema.json").read_text())


def _item(item_id: str, name: str, *labels: str, cats: tuple[str, ...] = ("c_main",), **kw):
    variations = kw.pop("variations", (MenuVariation(f"v_{item_id}", "", 1000, "EUR"),))
    return MenuItem(item_id, name, cats, variations, kw.pop("groups", ()), labels=labels, **kw)


SAUCES = ModifierList(
    "g_sauce",
    "Sauce",
    (
        MenuModifier("m_bbq", "BBQ", 0, modifier_list_ids=("g_spice",)),
        MenuModifier("m_mayo", "Mayo", 50),
    ),
    min_selected=1,
    max_selected=1,
)
SPICE = ModifierList("g_spice", "Spice level", (MenuModifier("m_hot", "Hot", 20),))
EXTRAS = ModifierList("g_extras", "Extras", (MenuModifier("m_bacon", "Bacon", 150),))
UNUSED = ModifierList("g_unused", "Not offered", (MenuModifier("m_x", "X", 10),))

MENU = Menu(
    items=(
        _item(
            "i_vanille",
            "Vanille",
            cats=("c_dessert",),
            variations=(
                MenuVariation("v_petite", "Petite", 350, "EUR"),
                MenuVariation("v_grande", "Grande", 450, "EUR", available=False),
            ),
        ),
        _item("i_burger", "Cheeseburger", "Burger", groups=("g_sauce", "g_extras")),
        _item("i_carbo", "Carbonara", "pasta"),
        _item("i_staff", "Staff meal", "Hide from delivery"),
        _item("i_secret", "Plat secret", "masquer", "Burger"),
        _item("i_water", "Eau", cats=()),
        _item(
            "i_menu",
            "Menu midi",
            groups=("g_extras",),
            modifier_rules=(ModifierRule("g_extras", 1, 2),),
        ),
    ),
    modifier_lists=(SAUCES, SPICE, EXTRAS, UNUSED),
    categories=(Category("c_main", "Plats"), Category("c_dessert", "Desserts")),
    currency="EUR",
)
CONFIG = MenuConfig(brand_labels={"Pasta Nostra": "Pasta", "Burger Lab": "Burger"})


def _apply(pricing=None):
    brands = brand_names(["Burger Lab"], CONFIG)
    rules = Rules(CONFIG, brands, store_id="st_1", pos="square", pricing=pricing)
    return rules.apply(MENU)


def _by_brand(published):
    return {b.brand: b for b in published.brands}


def test_brands_are_the_printers_and_the_labelled_ones_else_default() -> None:
    assert brand_names(["Burger Lab"], CONFIG) == ["Burger Lab", "Pasta Nostra"]
    assert brand_names([], MenuConfig()) == ["_default"]


def test_variations_become_items_named_variation_dash_item() -> None:
    burger = _by_brand(_apply())["Burger Lab"].doc
    names = {i["pos_id"]: i for i in burger["items"]}
    assert names["v_petite"]["name"] == "Petite - Vanille"
    assert names["v_grande"]["name"] == "Grande - Vanille"
    assert names["v_grande"]["pos_item_id"] == "i_vanille"
    assert names["v_grande"]["available"] is False
    assert names["v_i_burger"]["name"] == "Cheeseburger"  # one variation: the item's name


def test_hide_labels_and_brand_labels_case_insensitive() -> None:
    published = _apply()
    brands = _by_brand(published)
    burger = {i["pos_item_id"] for i in brands["Burger Lab"].doc["items"]}
    pasta = {i["pos_item_id"] for i in brands["Pasta Nostra"].doc["items"]}
    assert burger == {"i_vanille", "i_burger", "i_water", "i_menu"}
    assert pasta == {"i_vanille", "i_carbo", "i_water", "i_menu"}
    assert set(published.hidden) == {"i_staff", "i_secret"}


def test_uncategorized_items_are_published_and_reported() -> None:
    published = _apply()
    assert published.uncategorized == (("i_water", "Eau"),)
    doc = _by_brand(published)["Pasta Nostra"].doc
    assert doc["uncategorized"] == ["v_i_water"]
    assert all("v_i_water" not in c["items"] for c in doc["categories"])


def test_groups_reached_through_nested_choices_are_published_unused_ones_not() -> None:
    burger = _by_brand(_apply())["Burger Lab"]
    groups = {g["pos_id"]: g for g in burger.doc["modifier_groups"]}
    assert set(groups) == {"g_sauce", "g_spice", "g_extras"}
    assert groups["g_sauce"]["required"] is True
    assert groups["g_sauce"]["modifiers"][0]["modifier_groups"] == ["g_spice"]
    assert burger.modifiers == 4  # bbq, mayo, hot, bacon
    pasta = _by_brand(_apply())["Pasta Nostra"]
    assert {g["pos_id"] for g in pasta.doc["modifier_groups"]} == {"g_extras"}


def test_an_items_own_rule_for_a_group_is_what_it_publishes() -> None:
    doc = _by_brand(_apply())["Pasta Nostra"].doc
    menu_midi = next(i for i in doc["items"] if i["pos_item_id"] == "i_menu")
    assert menu_midi["modifier_groups"] == [
        {"pos_id": "g_extras", "min": 1, "max": 2, "required": True}
    ]


def test_every_document_follows_the_schema_and_hashes_are_stable() -> None:
    first, again = _apply(), _apply()
    for brand in first.brands:
        jsonschema.validate(brand.doc, SCHEMA)
    assert first.hash == again.hash
    assert [b.hash for b in first.brands] == [b.hash for b in again.brands]


def test_prices_from_settings_change_the_published_menu_only() -> None:
    settings = {
        "menu": {
            "prices": {"markup_percent": 10, "round_to": 10},
            "brands": {"Pasta Nostra": {"markup_percent": 0, "price_list": {"v_petite": 399}}},
        }
    }
    pricing = pricing_for(settings, ["Burger Lab", "Pasta Nostra"])
    published = _by_brand(_apply(pricing))
    burger = {i["pos_id"]: i for i in published["Burger Lab"].doc["items"]}
    pasta = {i["pos_id"]: i for i in published["Pasta Nostra"].doc["items"]}
    assert burger["v_petite"]["price"] == 390  # 350 + 10 % = 385, to the nearest 10
    assert burger["v_petite"]["pos_price"] == 350
    assert pasta["v_petite"]["price"] == 399
    assert pasta["v_grande"]["price"] == 450
    mayo = next(
        m
        for g in published["Burger Lab"].doc["modifier_groups"]
        for m in g["modifiers"]
        if m["pos_id"] == "m_mayo"
    )
    assert (mayo["price"], mayo["pos_price"]) == (60, 50)  # 55 rounded half up
    assert published["Burger Lab"].hash != _by_brand(_apply())["Burger Lab"].hash
    assert MENU.items[0].variations[0].price == 350  # the POS menu itself is untouched


@pytest.mark.parametrize(
    "settings",
    [
        {"menu": {"prices": {"markup_percent": "10"}}},
        {"menu": {"brands": {"Burger Lab": {"price_list": {"v_petite": -1}}}}},
        {"menu": {"prices": {"surprise": 1}}},
        {"menu": []},
    ],
)
def test_bad_price_settings_are_refused_with_their_place(settings: dict) -> None:
    with pytest.raises(PricingError, match="in/settings menu"):
        pricing_for(settings, ["Burger Lab"])


def test_zero_priced_modifiers_stay_free() -> None:
    assert Pricing(markup_percent=50).price("m", 0) == 0


def test_large_menus_are_compressed_with_the_content_encoding_property() -> None:
    many = Menu(
        items=tuple(_item(f"i{n}", f"Item {n} " + "x" * 40) for n in range(2000)),
        modifier_lists=(),
        categories=(Category("c_main", "Plats"),),
    )
    (brand,) = Rules(MenuConfig(), ["_default"], store_id="s", pos="toast").apply(many).brands
    payload, props = brand_payload(brand)
    assert props == (("content-encoding", "zlib"),)
    import zlib

    raw = zlib.decompress(payload)
    assert len(raw) > COMPRESS_ABOVE
    assert json.loads(raw) == brand.doc
    small, small_props = brand_payload(_by_brand(_apply())["Burger Lab"])
    assert small_props == ()
    assert json.loads(small)["brand"] == "Burger Lab"


def test_a_category_named_like_a_label_is_a_tag_unless_it_is_the_items_only_place() -> None:
    menu = Menu(
        items=(
            _item("i_cheese", "Cheeseburger", "Burger", cats=("c_main", "c_tag_burger")),
            _item("i_smash", "Smash", "Burger", cats=("c_tag_burger",)),
        ),
        modifier_lists=(),
        categories=(Category("c_main", "Plats"), Category("c_tag_burger", "burger ")),
    )
    rules = Rules(CONFIG, ["Burger Lab"], store_id="s", pos="square")
    (brand,) = rules.apply(menu).brands
    cats = {i["pos_item_id"]: i["category_ids"] for i in brand.doc["items"]}
    assert cats == {"i_cheese": ["c_main"], "i_smash": ["c_tag_burger"]}
    assert [(c["pos_id"], c["items"]) for c in brand.doc["categories"]] == [
        ("c_main", ["v_i_cheese"]),
        ("c_tag_burger", ["v_i_smash"]),
    ]
