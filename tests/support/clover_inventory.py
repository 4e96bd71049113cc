"""A realistic Clover inventory for the fake: 13-char [0-9A-Z] ids stand for our fixtures' pos_ids.

Same dishes, names and prices as tests/support/square_catalog.py where they exist; the catering
dishes itm_0..itm_9 and their options mod_0..mod_3 are those of the large catering sample. In Clover
an item has one price, so sizes are either an item group (variants: one item each, named by the
server from the group and option names) or a modifier group (pizza "Taille").
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
UPDATED_MS = 1793523600000  # 2026-11-01T09:00:00Z
TAX_RATE = 1_000_000  # TVA 10 % (rate = percent x 100 000); prices are VAT-inclusive
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CLOVER_ID = re.compile(r"^[0-9A-Z]{13}$")  # ids: 13 characters of [0-9A-Z] (§3)

CATEGORIES: dict[str, str] = {
    "burgers": "Burgers",
    "pizzas": "Pizzas",
    "pates": "Pâtes",
    "sides": "Accompagnements",
    "desserts": "Desserts",
    "drinks": "Boissons",
    "traiteur": "Traiteur",
}

# group key -> (name, minRequired, maxAllowed, [(fixture modifier id, name, price)])
MODIFIER_GROUPS: dict[str, tuple[str, int, int, list[tuple[str, str, int]]]] = {
    "supplements": (
        "Suppléments",
        0,
        2,
        [("mod_bacon", "Bacon", 150), ("mod_extra_cheese", "Extra cheese", 100)],
    ),
    "cuisson": (  # the REQUIRED group: exactly one cooking on every cheeseburger
        "Cuisson",
        1,
        1,
        [
            ("mod_cuisson_s", "Saignant", 0),
            ("mod_cuisson_ap", "À point", 0),
            ("mod_cuisson_bc", "Bien cuit", 0),
        ],
    ),
    "taille": ("Taille", 0, 1, [("mod_taille_m", "Normale", 0), ("mod_taille_l", "Grande", 300)]),
    "pizza_extras": ("Suppléments pizza", 0, 3, [("mod_oeuf", "Œuf", 100)]),
    "pates_extras": ("Suppléments pâtes", 0, 3, [("mod_parmesan", "Parmesan râpé", 100)]),
    "traiteur": (
        "Options traiteur",
        0,
        4,
        [
            ("mod_0", "Sans gluten", 0),
            ("mod_1", "Extra fromage", 50),
            ("mod_2", "Sauce à part", 0),
            ("mod_3", "Bien cuit", 50),
        ],
    ),
}

TAGS: dict[str, tuple[str, bool]] = {  # tag key -> (name, showInReporting)
    "cuisine": ("Cuisine", False),  # kitchen printer label
    "bar": ("Bar", False),
    "vege": ("Végétarien", True),
}


@dataclass(frozen=True)
class Dish:
    """One menu item as we describe it (fixture id, name, category, price, links, flags)."""

    fixture_id: str
    name: str
    category: str
    price: int
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ("cuisine",)
    alternate_name: str | None = None
    hidden: bool = False
    available: bool = True
    is_revenue: bool = True


_CATERING = [
    ("Salade César", 500),
    ("Bœuf bourguignon", 537),
    ("Quiche lorraine", 574),
    ("Soupe à l'oignon", 611),
    ("Croque-monsieur", 648),
    ("Tarte Tatin", 685),
    ("Île flottante", 722),
    ("Café crème", 759),
    ("Thé à la menthe", 796),
    ("Limonade artisanale", 833),
]

DISHES: list[Dish] = [
    Dish("itm_cheese", "Cheeseburger", "burgers", 1250, ("supplements", "cuisson"),
         alternate_name="CHEESE"),
    Dish("itm_cheese_double", "Double cheeseburger", "burgers", 1650, ("supplements", "cuisson"),
         alternate_name="DOUBLE CHEESE"),
    Dish("itm_veggie", "Veggie burger", "burgers", 1150, ("supplements",), ("cuisine", "vege")),
    Dish("itm_pizza_reine", "Pizza Reine", "pizzas", 1200, ("taille", "pizza_extras")),
    Dish("itm_margherita", "Pizza Margherita", "pizzas", 1000, ("taille", "pizza_extras"),
         ("cuisine", "vege")),
    Dish("itm_carbo", "Pâtes carbonara", "pates", 1390, ("pates_extras",)),
    Dish("itm_frites", "Frites maison", "sides", 450, (), ("cuisine", "vege")),
    Dish("itm_salade_saison", "Salade de saison", "sides", 890, (), ("cuisine", "vege"),
         available=False),  # out of stock
    Dish("itm_creme_brulee", "Crème brûlée", "desserts", 650),
    Dish("itm_tiramisu", "Tiramisù", "desserts", 690),
    Dish("itm_eau", "Eau minérale", "drinks", 250, (), ("bar",)),
    Dish("itm_repas_staff", "Repas du personnel", "traiteur", 0, hidden=True, is_revenue=False),
    *[
        Dish(f"itm_{n}", name, "traiteur", price, ("traiteur",))
        for n, (name, price) in enumerate(_CATERING)
    ],
]  # fmt: skip

# One item group with two variants (each variant is an item of its own).
ITEM_GROUP = ("grp_coca", "Coca-Cola", "Taille")  # key, group name, attribute name
VARIANTS = [("itm_coca", "33 cl", 300), ("itm_coca_50", "50 cl", 450)]  # fixture id, option, price


def clover_id(kind: str, key: str) -> str:
    """A deterministic 13-character Clover id ([0-9A-Z]) for (kind, key)."""
    n = int.from_bytes(hashlib.sha256(f"clover:{kind}:{key}".encode()).digest()[:10], "big")
    chars = []
    for _ in range(13):
        n, r = divmod(n, 36)
        chars.append(_ALPHABET[r])
    return "".join(chars)


def pos_id(fixture_id: str) -> str:
    """The Clover id standing for a fixture's pos_id ("itm_cheese" -> an item id, "mod_bacon" ->
    a modifier id); deterministic, also for ids the menu does not have."""
    kind = "modifier" if fixture_id.startswith("mod_") else "item"
    return clover_id(kind, fixture_id)


def link(order_doc: Json) -> Json:
    """A deep copy of an order document with every item and modifier pos_id made a Clover id."""
    doc = copy.deepcopy(order_doc)
    for item in doc.get("items") or []:
        if item.get("pos_id"):
            item["pos_id"] = pos_id(item["pos_id"])
        for mod in item.get("modifiers") or []:
            if mod.get("pos_id"):
                mod["pos_id"] = pos_id(mod["pos_id"])
    return doc


@dataclass
class Inventory:
    """Clover objects by id (as GET answers them, without expansions) and their links."""

    categories: dict[str, Json] = field(default_factory=dict)
    items: dict[str, Json] = field(default_factory=dict)
    modifier_groups: dict[str, Json] = field(default_factory=dict)
    modifiers: dict[str, Json] = field(default_factory=dict)
    tags: dict[str, Json] = field(default_factory=dict)
    tax_rates: dict[str, Json] = field(default_factory=dict)
    item_groups: dict[str, Json] = field(default_factory=dict)
    options: dict[str, Json] = field(default_factory=dict)
    item_categories: dict[str, list[str]] = field(default_factory=dict)
    item_tags: dict[str, list[str]] = field(default_factory=dict)
    item_modifier_groups: dict[str, list[str]] = field(default_factory=dict)
    item_options: dict[str, list[str]] = field(default_factory=dict)

    def group_items(self, group_id: str) -> list[str]:
        """Items linked to a modifier group, in item order."""
        return [i for i, groups in self.item_modifier_groups.items() if group_id in groups]

    def line_problems(self, item_id: str, modifier_ids: list[str]) -> list[str]:
        """How one dish (one Clover line) breaks its modifier groups' rules: a modifier outside the
        item's groups, fewer than minRequired or more than maxAllowed in a group (repeats count)."""
        item = self.items.get(item_id)
        if item is None:
            return [f"unknown item {item_id}"]
        groups = self.item_modifier_groups.get(item_id, [])
        problems: list[str] = []
        per_group: Counter[str] = Counter()
        for mod_id in modifier_ids:
            mod = self.modifiers.get(mod_id)
            group = mod["modifierGroup"]["id"] if mod else None
            if group not in groups:
                problems.append(f"{item['name']}: modifier {mod_id} is not in its groups")
            else:
                per_group[group] += 1
        for gid in groups:
            g = self.modifier_groups[gid]
            n = per_group[gid]
            if n < g["minRequired"]:
                problems.append(f"{item['name']}: {g['name']} needs {g['minRequired']}, got {n}")
            if n > g["maxAllowed"]:
                problems.append(f"{item['name']}: {g['name']} allows {g['maxAllowed']}, got {n}")
        return problems


def rule_problems(inventory: Inventory, order_doc: Json) -> list[str]:
    """Modifier-rule problems of an order document whose pos_ids are Clover ids (see `link`):
    each unit of a line is one Clover line carrying `quantity` of each modifier."""
    problems: list[str] = []
    for item in order_doc.get("items") or []:
        if not item.get("pos_id"):
            continue
        mods = [
            m["pos_id"]
            for m in item.get("modifiers") or []
            if m.get("pos_id")
            for _ in range(int(m.get("quantity") or 1))
        ]
        problems += inventory.line_problems(item["pos_id"], mods)
    return problems


def _item(fixture_id: str, name: str, price: int) -> Json:
    return {
        "id": pos_id(fixture_id),
        "hidden": False,
        "available": True,
        "autoManage": False,
        "name": name,
        "price": price,
        "priceType": "FIXED",
        "defaultTaxRates": True,
        "cost": 0,
        "isRevenue": True,
        "modifiedTime": UPDATED_MS,
        "deleted": False,
    }


def build_inventory(extra_items: int = 0) -> Inventory:
    """The menu: 7 categories, 6 modifier groups (Cuisson required), 3 tags, one tax rate, the
    dishes of our fixtures, one item group with two variants, and `extra_items` more dishes."""
    inv = Inventory()
    rate_id = clover_id("tax_rate", "tva10")
    inv.tax_rates[rate_id] = {
        "id": rate_id, "name": "TVA 10 %", "rate": TAX_RATE, "isDefault": True,
        "taxType": "VAT_TAXABLE",
    }  # fmt: skip
    for order, (key, name) in enumerate(CATEGORIES.items()):
        cid = clover_id("category", key)
        inv.categories[cid] = {"id": cid, "name": name, "sortOrder": order, "deleted": False}
    for order, (key, (name, low, high, mods)) in enumerate(MODIFIER_GROUPS.items()):
        gid = clover_id("modifier_group", key)
        inv.modifier_groups[gid] = {
            "id": gid, "name": name, "showByDefault": True, "minRequired": low,
            "maxAllowed": high, "sortOrder": order,
            "modifierIds": ",".join(pos_id(m) for m, _, _ in mods),
        }  # fmt: skip
        for mod_fixture, mod_name, price in mods:
            mid = pos_id(mod_fixture)
            inv.modifiers[mid] = {
                "id": mid, "name": mod_name, "price": price, "available": True,
                "modifierGroup": {"id": gid},
            }  # fmt: skip
    for key, (name, reporting) in TAGS.items():
        tid = clover_id("tag", key)
        inv.tags[tid] = {"id": tid, "name": name, "showInReporting": reporting}

    dishes = list(DISHES) + [
        Dish(f"itm_extra_{n}", f"Plat du jour {n}", "pates", 900) for n in range(extra_items)
    ]
    for dish in dishes:
        item = _item(dish.fixture_id, dish.name, dish.price)
        item.update(hidden=dish.hidden, available=dish.available, isRevenue=dish.is_revenue)
        if dish.alternate_name:
            item["alternateName"] = dish.alternate_name
        _add(inv, item, dish.category, dish.groups, dish.tags)

    group_key, group_name, attribute_name = ITEM_GROUP
    group_id = clover_id("item_group", group_key)
    attribute_id = clover_id("attribute", group_key)
    attribute = {"id": attribute_id, "name": attribute_name, "itemGroup": {"id": group_id}}
    inv.item_groups[group_id] = {"id": group_id, "name": group_name, "attributes": [attribute]}
    for fixture_id, option_name, price in VARIANTS:
        option_id = clover_id("option", f"{group_key}:{option_name}")
        inv.options[option_id] = {
            "id": option_id, "name": option_name, "attribute": {"id": attribute_id},
        }  # fmt: skip
        # Clover generates a variant's name from the group and option names (format
        # undocumented): "<group> <option>" is our judgment.
        item = _item(fixture_id, f"{group_name} {option_name}", price)
        item["itemGroup"] = {"id": group_id}
        _add(inv, item, "drinks", (), ("bar",))
        inv.item_options[item["id"]] = [option_id]
    assert len({*inv.items, *inv.modifiers, *inv.categories, *inv.modifier_groups}) == (
        len(inv.items) + len(inv.modifiers) + len(inv.categories) + len(inv.modifier_groups)
    ), "id collision"
    return inv


def _add(
    inv: Inventory, item: Json, category: str, groups: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    inv.items[item["id"]] = item
    inv.item_categories[item["id"]] = [clover_id("category", category)]
    inv.item_modifier_groups[item["id"]] = [clover_id("modifier_group", g) for g in groups]
    inv.item_tags[item["id"]] = [clover_id("tag", t) for t in tags]
