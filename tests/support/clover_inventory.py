"""The fake Clover's inventory, loaded from a recorded menu: tests/fixtures/menus/clover/ holds
the answers of the GETs a menu read makes (limit=1000, one page each), as Clover sends them.

Ids are 13 characters of [0-9A-Z] standing for our fixtures' pos_ids (`pos_id("itm_cheese")`
is the Cheeseburger's item id). The recorded menu is a French restaurant hosting two virtual
brands told apart by item tags (Clover's item labels), "Burger" (Burger Lab) and "Pasta"
(Pasta Nostra); the dishes, names and prices of our order fixtures are all there:
- item groups (Clover's variants, one item each, named by the server from the group and
  option names, "<group> <option>" being our judgment): "Vanille" (Petite, Grande) and
  "Coca-Cola" (33 cl, 50 cl), each with one attribute "Taille";
- the hide tags "Hide from delivery" (Burger du chef) and "Masquer" (Crème brûlée); the
  kitchen tags "Cuisine", "Bar" and "Végétarien" besides; "Formule midi" sits in no category;
- "Frites maison" sits in two categories; "Salade de saison" is out of stock; "Repas du
  personnel" is hidden from the register, not revenue and priced at the till (VARIABLE);
  the modifier "Sauce truffe" is out of stock;
- "Cuisson" is required (min 1, max 1, its choices priced 0), "Suppléments" an optional
  multi-choice (max 2), "Toppings" has no upper bound (no maxAllowed).
Clover has no nested modifier groups, no item images and no descriptions in its inventory.
The tax rate (TVA 10 %, prices VAT-inclusive) is the merchant's, kept here.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Json = dict[str, Any]
UPDATED_MS = 1793523600000  # 2026-11-01T09:00:00Z
TAX_RATE = 1_000_000  # TVA 10 % (rate = percent x 100 000); prices are VAT-inclusive
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CLOVER_ID = re.compile(r"^[0-9A-Z]{13}$")  # ids: 13 characters of [0-9A-Z] (§3)
FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "menus" / "clover"
# recorded file -> the request it answers (under /v3/merchants/{mId})
RECORDED: dict[str, tuple[str, str]] = {
    "categories.json": ("/categories", ""),
    "tags.json": ("/tags", ""),
    "modifier_groups.json": ("/modifier_groups", ""),
    "modifiers.json": ("/modifiers", ""),
    "item_groups.json": ("/item_groups", "attributes"),
    "items.json": ("/items", "tags,categories,modifierGroups"),
    "item_options.json": ("/items", "options"),
}
EXPANSIONS = ("categories", "tags", "modifierGroups", "options", "attributes", "items")
EXTRA_CATEGORY = "pates"  # where build_inventory(extra_items=n) puts its n more dishes


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
    attributes: dict[str, Json] = field(default_factory=dict)
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
            low, high = g.get("minRequired") or 0, g.get("maxAllowed") or 0  # 0: no bound
            if n < low:
                problems.append(f"{item['name']}: {g['name']} needs {low}, got {n}")
            if high and n > high:
                problems.append(f"{item['name']}: {g['name']} allows {high}, got {n}")
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


@functools.cache
def _recorded_text(name: str) -> str:
    return (FIXTURE_DIR / name).read_text("utf-8")


def recorded(name: str) -> Json:
    """One recorded answer (a fresh copy): {"elements": [...], "href": ...}."""
    doc: Json = json.loads(_recorded_text(name))
    return doc


def _bare(obj: Json) -> Json:
    """The object as stored: without its href and expansions."""
    return {k: v for k, v in obj.items() if k != "href" and k not in EXPANSIONS}


def _ids(obj: Json, key: str) -> list[str]:
    return [e["id"] for e in (obj.get(key) or {}).get("elements") or []]


def _extra_item(fixture_id: str, name: str, price: int) -> Json:
    return {
        "id": pos_id(fixture_id), "hidden": False, "available": True, "autoManage": False,
        "name": name, "price": price, "priceType": "FIXED", "defaultTaxRates": True, "cost": 0,
        "isRevenue": True, "modifiedTime": UPDATED_MS, "deleted": False,
    }  # fmt: skip


def build_inventory(extra_items: int = 0) -> Inventory:
    """The recorded menu (8 categories, 8 modifier groups, 7 tags, 2 item groups, 29 items),
    the merchant's tax rate, and `extra_items` more dishes in "Pâtes"."""
    inv = Inventory()
    rate_id = clover_id("tax_rate", "tva10")
    inv.tax_rates[rate_id] = {
        "id": rate_id, "name": "TVA 10 %", "rate": TAX_RATE, "isDefault": True,
        "taxType": "VAT_TAXABLE",
    }  # fmt: skip
    for obj in recorded("categories.json")["elements"]:
        inv.categories[obj["id"]] = _bare(obj)
    for obj in recorded("tags.json")["elements"]:
        inv.tags[obj["id"]] = _bare(obj)
    for obj in recorded("modifier_groups.json")["elements"]:
        inv.modifier_groups[obj["id"]] = _bare(obj)
    for obj in recorded("modifiers.json")["elements"]:
        inv.modifiers[obj["id"]] = _bare(obj)
    for obj in recorded("item_groups.json")["elements"]:
        inv.item_groups[obj["id"]] = _bare(obj)
        for attribute in (obj.get("attributes") or {}).get("elements") or []:
            inv.attributes[attribute["id"]] = _bare(attribute)
    for obj in recorded("items.json")["elements"]:
        inv.items[obj["id"]] = _bare(obj)
        inv.item_categories[obj["id"]] = _ids(obj, "categories")
        inv.item_tags[obj["id"]] = _ids(obj, "tags")
        inv.item_modifier_groups[obj["id"]] = _ids(obj, "modifierGroups")
    for obj in recorded("item_options.json")["elements"]:
        options = (obj.get("options") or {}).get("elements") or []
        for option in options:
            inv.options[option["id"]] = _bare(option)
        if options:
            inv.item_options[obj["id"]] = [o["id"] for o in options]
    for n in range(extra_items):
        item = _extra_item(f"itm_extra_{n}", f"Plat du jour {n}", 900)
        inv.items[item["id"]] = item
        inv.item_categories[item["id"]] = [clover_id("category", EXTRA_CATEGORY)]
        inv.item_tags[item["id"]] = [clover_id("tag", "cuisine")]
        inv.item_modifier_groups[item["id"]] = []
    assert len({*inv.items, *inv.modifiers, *inv.categories, *inv.modifier_groups}) == (
        len(inv.items) + len(inv.modifiers) + len(inv.categories) + len(inv.modifier_groups)
    ), "id collision"
    return inv
