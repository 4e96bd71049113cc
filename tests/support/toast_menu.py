"""The fake Toast restaurant: menus (menus API v2) and configuration (dining options,
alternate payment types, service charges), every entity under a GUID standing for one of
our fixture `pos_id`s (`pos_id("itm_cheese")` is the Cheeseburger's menu item GUID).

Sizes are modelled the Toast way: a SIZE_PRICE item has no price of its own and a required
"Taille" size modifier group whose options carry the full price (menus API, PricingRules).
Prices include the 10 % tax (`taxInclusion: TAX_INCLUDED`, our judgment for a French store).
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Json = dict[str, Any]
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://store-edge.test/fake-toast")
RESTAURANT_GUID = "5d0b3c9e-2f4a-4c1e-9b7a-3e8f6a1d2c40"
TIME_ZONE = "Europe/Paris"
CONFIG_UPDATED = "2026-11-01T09:00:00.000+0000"
TAX_RATE = Decimal("0.10")
TAX_NAME = "TVA 10 %"
VISIBILITY = ["POS", "TOAST_ONLINE_ORDERING", "ORDERING_PARTNERS"]

SALES_CATEGORIES = {"cat_food": "Nourriture", "cat_drinks": "Boissons"}

# modifier option id -> (name, price, allowsDuplicates)
OPTIONS: dict[str, tuple[str, str, bool]] = {
    "mod_bacon": ("Bacon", "1.50", False),
    "mod_extra_cheese": ("Extra cheese", "1.00", False),
    "mod_cuisson_s": ("Saignant", "0.00", False),
    "mod_cuisson_ap": ("À point", "0.00", False),
    "mod_cuisson_bc": ("Bien cuit", "0.00", False),
    "mod_taille_m": ("Normale", "12.00", False),  # sizes carry the item's full price
    "mod_taille_l": ("Grande", "15.00", False),
    "mod_margherita_m": ("Normale", "10.00", False),
    "mod_margherita_l": ("Grande", "13.00", False),
    "mod_oeuf": ("Œuf", "1.00", False),
    "mod_parmesan": ("Parmesan râpé", "1.00", True),  # "double parmesan" = two selections
    "mod_0": ("Sans gluten", "0.00", False),
    "mod_1": ("Extra fromage", "0.50", False),
    "mod_2": ("Sauce à part", "0.00", False),
    "mod_3": ("Bien cuit", "0.50", False),
}

# modifier group id -> (name, minSelections, maxSelections or None = unlimited, options);
# minSelections >= 1 makes the group REQUIRED
MODIFIER_GROUPS: dict[str, tuple[str, int, int | None, list[str]]] = {
    "mg_supplements": ("Suppléments", 0, 2, ["mod_bacon", "mod_extra_cheese"]),
    "mg_cuisson": ("Cuisson", 1, 1, ["mod_cuisson_s", "mod_cuisson_ap", "mod_cuisson_bc"]),
    "mg_taille_reine": ("Taille", 1, 1, ["mod_taille_m", "mod_taille_l"]),
    "mg_taille_margherita": ("Taille", 1, 1, ["mod_margherita_m", "mod_margherita_l"]),
    "mg_pizza_extras": ("Suppléments pizza", 0, 3, ["mod_oeuf"]),
    "mg_pates_extras": ("Suppléments pâtes", 0, 3, ["mod_parmesan"]),
    "mg_options": ("Options", 0, 2, ["mod_0", "mod_1", "mod_2", "mod_3"]),
}

CATERING = [
    "Salade César", "Bœuf bourguignon", "Quiche lorraine", "Soupe à l'oignon", "Croque-monsieur",
    "Tarte Tatin", "Île flottante", "Café crème", "Thé à la menthe", "Limonade artisanale",
]  # fmt: skip

_MARGHERITA_GROUPS = ["mg_taille_margherita", "mg_pizza_extras"]
# item id -> (name, price or None for SIZE_PRICE, sales category, modifier groups)
ITEMS: dict[str, tuple[str, str | None, str, list[str]]] = {
    "itm_cheese": ("Cheeseburger", "12.50", "cat_food", ["mg_supplements", "mg_cuisson"]),
    "itm_veggie": ("Veggie burger", "11.50", "cat_food", ["mg_supplements"]),
    "itm_pizza_reine": ("Pizza Reine", None, "cat_food", ["mg_taille_reine", "mg_pizza_extras"]),
    "itm_margherita": ("Pizza Margherita", None, "cat_food", _MARGHERITA_GROUPS),
    "itm_carbo": ("Pâtes carbonara", "13.90", "cat_food", ["mg_pates_extras"]),
    "itm_frites": ("Frites maison", "4.50", "cat_food", []),
    "itm_creme_brulee": ("Crème brûlée", "6.50", "cat_food", []),
    "itm_tiramisu": ("Tiramisù", "6.90", "cat_food", []),
    "itm_coca": ("Coca-Cola 33 cl", "3.00", "cat_drinks", []),
    "itm_coca_50": ("Coca-Cola 50 cl", "4.50", "cat_drinks", []),
    "itm_eau": ("Eau minérale 50 cl", "2.50", "cat_drinks", []),
    **{
        f"itm_{n}": (name, str(Decimal("5.00") + Decimal("0.37") * n), "cat_food", ["mg_options"])
        for n, name in enumerate(CATERING)
    },
}
SIZE_GROUPS = {"itm_pizza_reine": "mg_taille_reine", "itm_margherita": "mg_taille_margherita"}

# (group id, name, item ids, child groups); an item may sit in several groups
GroupSpec = tuple[str, str, list[str], list[Any]]
MENUS: list[tuple[str, str, list[GroupSpec]]] = [
    ("menu_carte", "Carte", [
        ("grp_burgers", "Burgers", ["itm_cheese", "itm_veggie"], []),
        ("grp_pizzas", "Pizzas", ["itm_pizza_reine", "itm_margherita"], []),
        ("grp_pates", "Pâtes", ["itm_carbo"], []),
        ("grp_sides", "Accompagnements", ["itm_frites"], []),
        ("grp_desserts", "Desserts", ["itm_creme_brulee", "itm_tiramisu"], []),
        ("grp_drinks", "Boissons", [], [
            ("grp_softs", "Softs", ["itm_coca", "itm_coca_50"], []),
            ("grp_eaux", "Eaux", ["itm_eau"], []),
        ]),
    ]),
    ("menu_traiteur", "Traiteur", [
        ("grp_catering", "Plats traiteur", [f"itm_{n}" for n in range(10)], []),
        ("grp_catering_sides", "Accompagnements traiteur", ["itm_frites"], []),
    ]),
]  # fmt: skip

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


def _groups(specs: list[GroupSpec]) -> list[GroupSpec]:
    out: list[GroupSpec] = []
    for spec in specs:
        out.append(spec)
        out += _groups(spec[3])
    return out


def item_group(fixture_item: str) -> str:
    """The GUID of the first menu group holding this item (the `itemGroup` to order it)."""
    for _menu, _name, specs in MENUS:
        for group_id, _g, items, _c in _groups(specs):
            if fixture_item in items:
                return pos_id(group_id)
    raise KeyError(fixture_item)


def option_group(fixture_option: str, fixture_item: str) -> str:
    """The GUID of the item's modifier group offering this option (its `optionGroup`)."""
    for group_id in ITEMS[fixture_item][3]:
        if fixture_option in MODIFIER_GROUPS[group_id][3]:
            return pos_id(group_id)
    raise KeyError(f"{fixture_option} on {fixture_item}")


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
    """The restaurant's published menu, indexed by GUID (one copy per fake)."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.options: dict[str, Item] = {}
        self.modifier_groups: dict[str, ModifierGroup] = {}
        self.group_items: dict[str, set[str]] = {}  # menu group GUID -> items directly in it
        self.group_names: dict[str, str] = {}
        for ref, (oid, (name, price, dup)) in enumerate(OPTIONS.items(), 100):
            self.options[pos_id(oid)] = Item(
                pos_id(oid), name, Decimal(price), allows_duplicates=dup, reference_id=ref
            )
        for ref, (gid, (name, lo, hi, opts)) in enumerate(MODIFIER_GROUPS.items(), 1):
            self.modifier_groups[pos_id(gid)] = ModifierGroup(
                pos_id(gid), name, lo, hi, [pos_id(o) for o in opts], ref
            )
        for iid, (item_name, item_price, cat, groups) in ITEMS.items():
            size = SIZE_GROUPS.get(iid)
            self.items[pos_id(iid)] = Item(
                pos_id(iid),
                item_name,
                None if item_price is None else Decimal(item_price),
                pos_id(cat),
                [pos_id(g) for g in groups],
                pos_id(size) if size else None,
            )
        for _menu, _name, specs in MENUS:
            for gid, gname, items, _children in _groups(specs):
                self.group_items[pos_id(gid)] = {pos_id(i) for i in items}
                self.group_names[pos_id(gid)] = gname

    def set_price(self, guid: str, price: Decimal) -> None:
        """Change an item's or an option's price."""
        target = self.items.get(guid) or self.options[guid]
        target.price = price

    def restaurant(self, restaurant_guid: str, last_updated: str) -> Json:
        """The GET /menus/v2/menus answer."""
        return {
            "restaurantGuid": restaurant_guid,
            "lastUpdated": last_updated,
            "restaurantTimeZone": TIME_ZONE,
            "menus": [self._menu(mid, name, specs) for mid, name, specs in MENUS],
            "modifierGroupReferences": {
                str(g.reference_id): self._modifier_group(g) for g in self.modifier_groups.values()
            },
            "modifierOptionReferences": {
                str(o.reference_id): self._option(o) for o in self.options.values()
            },
            "preModifierGroupReferences": {},
        }

    def _menu(self, menu_id: str, name: str, specs: list[GroupSpec]) -> Json:
        return {
            **_entity(pos_id(menu_id), name),
            "description": "",
            "highResImage": None,
            "image": None,
            "visibility": VISIBILITY,
            "availability": {"alwaysAvailable": True},
            "menuGroups": [self._group(s) for s in specs],
        }

    def _group(self, spec: GroupSpec) -> Json:
        gid, name, items, children = spec
        return {
            **_entity(pos_id(gid), name),
            "description": "",
            "image": None,
            "visibility": VISIBILITY,
            "itemTags": [],
            "menuGroups": [self._group(c) for c in children],
            "menuItems": [self._item(self.items[pos_id(i)]) for i in items],
        }

    def _item(self, item: Item) -> Json:
        refs = {g.guid: g.reference_id for g in self.modifier_groups.values()}
        sized = item.size_group is not None
        return {
            **_entity(item.guid, item.name),
            "kitchenName": item.name.upper(),
            "description": "",
            "image": None,
            "visibility": VISIBILITY,
            "price": None if item.price is None else float(item.price),
            "pricingStrategy": "SIZE_PRICE" if sized else "BASE_PRICE",
            "pricingRules": {
                "timeSpecificPricingRules": [],
                "sizeSpecificPricingGuid": item.size_group,
                "sizeSequencePricingRules": [],
            }
            if sized
            else None,
            "isDeferred": False,
            "isDiscountable": True,
            "salesCategory": {
                "guid": item.sales_category,
                "name": SALES_CATEGORIES[_local(item.sales_category, SALES_CATEGORIES)],
            },
            "taxInfo": [pos_id("tax_tva10")],
            "taxInclusion": "TAX_INCLUDED",
            "itemTags": [],
            "plu": "",
            "sku": "",
            "calories": None,
            "contentAdvisories": {"alcohol": {"containsAlcohol": "NO"}},
            "unitOfMeasure": "NONE",
            "portions": [],
            "prepTime": None,
            "prepStations": [],
            "modifierGroupReferences": [refs[g] for g in item.modifier_groups],
            "eligiblePaymentAssistancePrograms": [],
            "allergens": [],
            "sortOrder": None,
            "isComboParent": False,
        }

    def _modifier_group(self, group: ModifierGroup) -> Json:
        return {
            **_entity(group.guid, group.name),
            "referenceId": group.reference_id,
            "visibility": VISIBILITY,
            "pricingStrategy": "NONE",
            "pricingRules": None,
            "defaultOptionsChargePrice": "YES",
            "defaultOptionsSubstitutionPricing": "NO",
            "minSelections": group.min,
            "maxSelections": group.max,
            "requiredMode": "REQUIRED" if group.min >= 1 else "OPTIONAL",
            "isMultiSelect": group.max is None or group.max > 1,
            "modifierOptionReferences": [self.options[o].reference_id for o in group.options],
        }

    def _option(self, option: Item) -> Json:
        return {
            **_entity(option.guid, option.name),
            "referenceId": option.reference_id,
            "kitchenName": option.name.upper(),
            "description": "",
            "prepStations": [],
            "image": None,
            "visibility": VISIBILITY,
            "price": float(option.price or 0),
            "pricingStrategy": "BASE_PRICE",
            "pricingRules": None,
            "taxInfo": [],
            "modifierOptionTaxInfo": {"taxRateGuids": [], "overrideItemTaxRates": False},
            "itemTags": [],
            "plu": "",
            "sku": "",
            "calories": None,
            "contentAdvisories": {"alcohol": {"containsAlcohol": "NO"}},
            "unitOfMeasure": "NONE",
            "isDefault": False,
            "allowsDuplicates": option.allows_duplicates,
            "portions": [],
            "prepTime": None,
            "modifierGroupReferences": [],
            "sortOrder": None,
            "allergens": [],
        }


def _local(guid: str, ids: dict[str, Any]) -> str:
    return next(k for k in ids if pos_id(k) == guid)


def _entity(guid: str, name: str) -> Json:
    return {
        "name": name,
        "guid": guid,
        "multiLocationId": str(int(uuid.UUID(guid)) % 10**15),
        "masterId": int(uuid.UUID(guid)) % 10**15,
        "posName": name,
        "posButtonColorLight": "#E0E0E0",
        "posButtonColorDark": "#303030",
    }


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
