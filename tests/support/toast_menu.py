"""The fake Toast restaurant: its published menu (menus API v2) and stock (stock API v1),
served from the recorded fixture in tests/fixtures/menus/toast/, and its configuration
(dining options, alternate payment types, service charges). Every entity's GUID stands for
one of our fixture ids: `pos_id("itm_cheese")` is the Cheeseburger's menu item GUID.

The recorded menu is a French restaurant hosting two virtual brands told apart by item tags,
"Burger" (Burger Lab) and "Pasta" (Pasta Nostra), on its menu groups or its items:
- sizes the Toast way: a SIZE_PRICE item (the pizzas, "Vanille") has no price of its own and
  a required "Taille" size group whose options carry the full price (menus API, PricingRules);
- nested modifier groups: "Sauce piquante" (group "Sauce") opens "Niveau de piment";
- the hide tags "Hide from delivery" (Burger du chef) and "Masquer" (Formule midi);
- "Café gourmand" is not visible to ordering partners; the stock says "Pâtes au pesto" and
  "Coulis de fraise" are out of stock and "Tiramisù" is running low;
- nested menu groups (Desserts > Glaces, Boissons > Softs, Eaux); "Frites maison" sits in two
  groups of two menus; the "Traiteur" menu keeps weekday lunch hours.
Prices include the 10 % tax (`taxInclusion: TAX_INCLUDED`, our judgment for a French store).
"""

from __future__ import annotations

import copy
import functools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

Json = dict[str, Any]
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://store-edge.test/fake-toast")
RESTAURANT_GUID = "5d0b3c9e-2f4a-4c1e-9b7a-3e8f6a1d2c40"
TIME_ZONE = "Europe/Paris"
CONFIG_UPDATED = "2026-11-01T09:00:00.000+0000"
TAX_RATE = Decimal("0.10")
TAX_NAME = "TVA 10 %"
FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "menus" / "toast"
MENUS_FIXTURE = FIXTURE_DIR / "menus.json"  # a GET /menus/v2/menus answer
INVENTORY_FIXTURE = FIXTURE_DIR / "inventory.json"  # a GET /stock/v1/inventory answer

# the fixture ids standing for the recorded menu's items and modifier options (pos_id)
CATERING_ITEMS = tuple(f"itm_{n}" for n in range(10))
ITEMS: tuple[str, ...] = (
    "itm_cheese", "itm_veggie", "itm_smash", "itm_chef", "itm_pizza_reine", "itm_margherita",
    "itm_carbo", "itm_pesto", "itm_frites", "itm_creme_brulee", "itm_tiramisu",
    "itm_cafe_gourmand", "itm_vanille", "itm_formule_midi", "itm_coca", "itm_coca_50",
    "itm_eau", *CATERING_ITEMS,
)  # fmt: skip
OPTIONS: tuple[str, ...] = (
    "mod_bacon", "mod_extra_cheese", "mod_cuisson_s", "mod_cuisson_ap", "mod_cuisson_bc",
    "mod_taille_m", "mod_taille_l", "mod_margherita_m", "mod_margherita_l", "mod_oeuf",
    "mod_parmesan", "mod_0", "mod_1", "mod_2", "mod_3", "mod_ketchup", "mod_sauce_maison",
    "mod_sauce_piquante", "mod_piment_doux", "mod_piment_fort", "mod_piment_extra",
    "mod_vanille_petite", "mod_vanille_grande", "mod_chantilly", "mod_coulis", "mod_amandes",
)  # fmt: skip

# (id, name, behavior, curbside): Toast behaviors are DINE_IN, TAKE_OUT and DELIVERY only;
# curbside pickup is a TAKE_OUT option with `curbside: true`
DINING_OPTIONS = [
    ("do_dine_in", "Sur place", "DINE_IN", False),
    ("do_take_out", "À emporter", "TAKE_OUT", False),
    ("do_curbside", "Retrait au volant", "TAKE_OUT", True),
    ("do_delivery", "Livraison maison", "DELIVERY", False),
    ("do_ubereats", "Uber Eats", "DELIVERY", False),
    ("do_deliveroo", "Deliveroo", "DELIVERY", False),
]
ALTERNATE_PAYMENT_TYPES = [
    ("pt_ubereats", "Uber Eats"),
    ("pt_deliveroo", "Deliveroo"),
    ("pt_doordash", "DoorDash"),
    ("pt_online", "Online"),
    ("pt_ticket", "Titre-restaurant"),
    ("pt_cheque", "Chèque"),
    ("pt_voucher", "Bon cadeau papier"),
]
# (id, name, delivery only): OPEN charges, the order supplies `chargeAmount`; not taxable
SERVICE_CHARGES = [("svc_delivery", "Delivery fee", True), ("svc_service", "Service fee", False)]


def pos_id(fixture_id: str) -> str:
    """The Toast GUID standing for one of our ids (fixture `pos_id`s, groups, options...)."""
    return str(uuid.uuid5(NAMESPACE, fixture_id))


def link(order_doc: Json) -> Json:
    """A deep copy of an order document with every item and modifier `pos_id` as a GUID."""
    doc = copy.deepcopy(order_doc)
    for item in doc.get("items") or []:
        if item.get("pos_id"):
            item["pos_id"] = pos_id(item["pos_id"])
        for mod in item.get("modifiers") or []:
            if mod.get("pos_id"):
                mod["pos_id"] = pos_id(mod["pos_id"])
    return doc


@functools.cache
def _recorded() -> tuple[str, str]:
    return MENUS_FIXTURE.read_text("utf-8"), INVENTORY_FIXTURE.read_text("utf-8")


def recorded_menus() -> Json:
    """The recorded GET /menus/v2/menus answer (a fresh copy)."""
    doc: Json = json.loads(_recorded()[0])
    return doc


def recorded_inventory() -> list[Json]:
    """The recorded GET /stock/v1/inventory answer (a fresh copy)."""
    entries: list[Json] = json.loads(_recorded()[1])
    return entries


def menu_groups(doc: Json) -> Iterator[Json]:
    """Every menu group of a menus document, nested ones after their parent."""

    def walk(groups: list[Json]) -> Iterator[Json]:
        for group in groups:
            yield group
            yield from walk(group.get("menuGroups") or [])

    for menu in doc.get("menus") or []:
        yield from walk(menu.get("menuGroups") or [])


def item_group(fixture_item: str) -> str:
    """The GUID of the first menu group holding this item (the `itemGroup` to order it)."""
    guid = pos_id(fixture_item)
    for group in menu_groups(recorded_menus()):
        if any(i["guid"] == guid for i in group.get("menuItems") or []):
            return str(group["guid"])
    raise KeyError(fixture_item)


def option_group(fixture_option: str, fixture_item: str) -> str:
    """The GUID of the item's modifier group offering this option (its `optionGroup`)."""
    menu = _recorded_index()
    option = pos_id(fixture_option)
    for group in menu.items[pos_id(fixture_item)].modifier_groups:
        if option in menu.modifier_groups[group].options:
            return group
    raise KeyError(f"{fixture_option} on {fixture_item}")


@functools.cache
def _recorded_index() -> ToastMenu:
    return ToastMenu()


def _price(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass
class Item:
    """A menu item (or a modifier option: options are menu items too in Toast)."""

    guid: str
    name: str
    price: Decimal | None
    sales_category: str = ""
    modifier_groups: list[str] = field(default_factory=list)
    size_group: str | None = None
    allows_duplicates: bool = False
    reference_id: int = 0


@dataclass
class ModifierGroup:
    """A modifier group: its options and how many of them a selection takes."""

    guid: str
    name: str
    min: int
    max: int | None
    options: list[str]
    reference_id: int


class ToastMenu:
    """The restaurant's published menu and stock, indexed by GUID (one copy per fake)."""

    def __init__(self, doc: Json | None = None, inventory: list[Json] | None = None) -> None:
        self.doc = recorded_menus() if doc is None else copy.deepcopy(doc)
        stock = recorded_inventory() if inventory is None else copy.deepcopy(inventory)
        self.stock: dict[str, Json] = {e["guid"]: e for e in stock}
        self.items: dict[str, Item] = {}
        self.options: dict[str, Item] = {}
        self.modifier_groups: dict[str, ModifierGroup] = {}
        self.group_items: dict[str, set[str]] = {}  # menu group GUID -> items directly in it
        self.group_names: dict[str, str] = {}
        group_refs = self.doc["modifierGroupReferences"]
        option_refs = self.doc["modifierOptionReferences"]
        group_guid = {int(ref): g["guid"] for ref, g in group_refs.items()}
        for ref, option in option_refs.items():
            self.options[option["guid"]] = Item(
                option["guid"],
                option["name"],
                _price(option.get("price")),
                modifier_groups=[
                    group_guid[r] for r in option.get("modifierGroupReferences") or []
                ],
                allows_duplicates=bool(option.get("allowsDuplicates")),
                reference_id=int(ref),
            )
        for ref, group in group_refs.items():
            self.modifier_groups[group["guid"]] = ModifierGroup(
                group["guid"],
                group["name"],
                group.get("minSelections") or 0,
                group.get("maxSelections"),
                [option_refs[str(r)]["guid"] for r in group.get("modifierOptionReferences") or []],
                int(ref),
            )
        for group in menu_groups(self.doc):
            items = group.get("menuItems") or []
            self.group_items[group["guid"]] = {i["guid"] for i in items}
            self.group_names[group["guid"]] = group["name"]
            for item in items:
                rules = item.get("pricingRules") or {}
                self.items.setdefault(
                    item["guid"],
                    Item(
                        item["guid"],
                        item["name"],
                        _price(item.get("price")),
                        (item.get("salesCategory") or {}).get("guid", ""),
                        [group_guid[r] for r in item.get("modifierGroupReferences") or []],
                        rules.get("sizeSpecificPricingGuid"),
                    ),
                )

    def set_price(self, guid: str, price: Decimal) -> None:
        """Change an item's or an option's price, wherever the menus document shows it."""
        target = self.items.get(guid) or self.options[guid]
        target.price = price
        shown = [i for g in menu_groups(self.doc) for i in g.get("menuItems") or []]
        for entity in [*shown, *self.doc["modifierOptionReferences"].values()]:
            if entity["guid"] == guid:
                entity["price"] = float(price)

    def set_stock(self, guid: str, status: str, quantity: float | None = None) -> None:
        """The restaurant marks an item (or an option's item reference) in or out of stock."""
        entry = self.stock.get(guid) or {
            "guid": guid,
            "itemGuidValidity": "VALID",
            "multiLocationId": str(int(uuid.UUID(guid)) % 10**15),
            "versionId": str(uuid.uuid5(NAMESPACE, f"{guid}/version")),
        }
        self.stock[guid] = {**entry, "status": status, "quantity": quantity}

    def restaurant(self, restaurant_guid: str, last_updated: str) -> Json:
        """The GET /menus/v2/menus answer."""
        return {**self.doc, "restaurantGuid": restaurant_guid, "lastUpdated": last_updated}

    def inventory(self, status: str | None = None) -> list[Json]:
        """The GET /stock/v1/inventory answer: what is not IN_STOCK (of one status, if given)."""
        return [
            e
            for e in self.stock.values()
            if e["status"] != "IN_STOCK" and (status is None or e["status"] == status)
        ]


def _reference(guid: str, entity_type: str) -> Json:
    return {"guid": guid, "entityType": entity_type, "externalId": None}


def dining_options() -> list[Json]:
    """GET /config/v2/diningOptions, all pages."""
    return [
        {**_reference(pos_id(i), "DiningOption"), "name": n, "behavior": b, "curbside": c}
        for i, n, b, c in DINING_OPTIONS
    ]


def alternate_payment_types() -> list[Json]:
    """GET /config/v2/alternatePaymentTypes, all pages."""
    return [
        {**_reference(pos_id(i), "AlternatePaymentType"), "name": n}
        for i, n in ALTERNATE_PAYMENT_TYPES
    ]


def service_charges() -> list[Json]:
    """GET /config/v2/serviceCharges, all pages."""
    return [
        {
            **_reference(pos_id(i), "ServiceCharge"),
            "name": n,
            "amountType": "OPEN",
            "amount": None,
            "percent": None,
            "criteria": {"delivery": delivery, "takeout": False, "dineIn": False},
            "gratuity": False,
            "taxable": False,
            "applicableTaxes": [],
            "serviceChargeCalculation": None,
            "destination": "RESTAURANT",
        }
        for i, n, delivery in SERVICE_CHARGES
    ]
