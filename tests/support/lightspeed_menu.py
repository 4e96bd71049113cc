"""A realistic Lightspeed K-Series menu for the fake: POS screens, SKUs, product modifier groups.

Fixture ids (``itm_cheese``, ``mod_bacon``, ``itm_0`` …) stand for Lightspeed ids through
:func:`pos_id`. An item, a combo or a product modifier is known by its SKU, a string such as
``"1001"``. A production instruction (a free kitchen note) is known by its int64
``ikentooModifierId``, sent in an order as a decimal string such as ``"236025632784600"``.

How the fixtures map:
- Priced options become product modifiers. In an order they go in ``subItems`` by SKU.
- Free notes become production instructions, sent in ``modifiers`` as ``{"modifierId": …}``.
- "Cuisson" is a REQUIRED product-modifier group on the cheeseburgers (min 1, max 1), because a
  production-instruction group has no min or max.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Json = dict[str, Any]

BUSINESS_ID = 45454565682100
BUSINESS_NAME = "Burger Lab"
BUSINESS_LOCATION_ID = 45454565682155
LOCATION_NAME = "Burger Lab Bastille"
POS_ID = 17700
STAFF_ID = 31930
STAFF_NAME = "Online Order"
MENU_CARTE = 141948669132851
MENU_TRAITEUR = 141948669132852
TAX_PERCENT = Decimal(10)  # French VAT on restaurant food; prices include it

# (id, code, name, deliveryMode)
PROFILES: list[tuple[int, str, str, str]] = [
    (12454575601144, "TAKEAWAY", "À emporter", "TAKE_AWAY"),
    (12454575601145, "DELIVERY", "Livraison", "DELIVERY"),
    (12454575601146, "EATIN", "Sur place", "NONE"),
]

# product modifiers: fixture id -> (sku, name, price)
MODIFIERS: dict[str, tuple[str, str, str]] = {
    "mod_bacon": ("2001", "Bacon", "1.50"),
    "mod_extra_cheese": ("2002", "Extra cheese", "1.00"),
    "mod_cuisson_s": ("2011", "Saignant", "0.00"),
    "mod_cuisson_ap": ("2012", "À point", "0.00"),
    "mod_cuisson_bc": ("2013", "Bien cuit", "0.00"),
    "mod_taille_m": ("2021", "Normale", "0.00"),
    "mod_taille_l": ("2022", "Grande", "3.00"),
    "mod_oeuf": ("2031", "Œuf", "1.00"),
    "mod_parmesan": ("2041", "Parmesan râpé", "1.00"),
    "mod_1": ("2051", "Extra fromage", "0.50"),
    "mod_3": ("2052", "Bien cuit", "0.50"),
}

# product modifier groups: key -> (group sku, description, modifiers, must, multi, min, max)
MODIFIER_GROUPS: dict[str, tuple[str, str, list[str], bool, bool, int | None, int | None]] = {
    "supplements": ("2000", "Suppléments", ["mod_bacon", "mod_extra_cheese"], False, True, 0, 3),
    "cuisson": (
        "2010",
        "Cuisson",
        ["mod_cuisson_s", "mod_cuisson_ap", "mod_cuisson_bc"],
        True,
        False,
        1,
        1,
    ),
    "taille": ("2020", "Taille", ["mod_taille_m", "mod_taille_l"], False, False, 0, 1),
    "pizza_extras": ("2030", "Suppléments pizza", ["mod_oeuf"], False, True, 0, 2),
    "pates_extras": ("2040", "Suppléments pâtes", ["mod_parmesan"], False, True, 0, None),
    "traiteur": ("2050", "Options traiteur", ["mod_1", "mod_3"], False, False, 0, 1),
}

# production instruction groups: key -> (group id, name, multi, [(fixture id, id, instruction)])
INSTRUCTION_GROUPS: dict[str, tuple[int, str, bool, list[tuple[str, int, str]]]] = {
    "preparation": (
        236025632784609,
        "Préparation",
        True,
        [
            ("pi_sans_oignons", 236025632784610, "Sans oignons"),
            ("pi_sans_sauce", 236025632784612, "Sans sauce"),
        ],
    ),
    "traiteur": (
        236025632784599,
        "Instructions traiteur",
        True,
        [("mod_0", 236025632784600, "Sans gluten"), ("mod_2", 236025632784602, "Sauce à part")],
    ),
    "cuisson_pates": (
        236025632784619,
        "Cuisson des pâtes",
        False,
        [
            ("pi_al_dente", 236025632784620, "Al dente"),
            ("pi_fondantes", 236025632784622, "Fondantes"),
        ],
    ),
}


@dataclass
class Item:
    """A sellable menu item (``@type`` menuItem)."""

    sku: str
    name: str
    price: str
    groups: list[str] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    as_sub_item: bool = False
    custom: bool = False  # custom name and (positive) custom price allowed
    allergens: list[str] = field(default_factory=list)


CATERING = [
    "Salade César", "Bœuf bourguignon", "Quiche lorraine", "Soupe à l'oignon", "Croque-monsieur",
    "Tarte Tatin", "Île flottante", "Café crème", "Thé à la menthe", "Limonade artisanale",
]  # fmt: skip

ITEMS: dict[str, Item] = {
    "itm_cheese": Item(
        "1001",
        "Cheeseburger",
        "12.50",
        ["supplements", "cuisson"],
        ["preparation"],
        allergens=["gluten", "milk"],
    ),
    "itm_cheese_double": Item(
        "1002", "Cheeseburger double", "16.50", ["supplements", "cuisson"], ["preparation"]
    ),
    "itm_veggie": Item("1003", "Veggie burger", "11.50", ["supplements"], ["preparation"]),
    "itm_pizza_reine": Item("1101", "Pizza Reine", "12.00", ["taille", "pizza_extras"]),
    "itm_margherita": Item("1102", "Pizza Margherita", "10.00", ["taille", "pizza_extras"]),
    "itm_carbo": Item("1201", "Pâtes carbonara", "13.90", ["pates_extras"], ["cuisson_pates"]),
    "itm_frites": Item("1301", "Frites maison", "4.50"),
    "itm_sauce_maison": Item("1310", "Sauce maison", "0.80", as_sub_item=True),
    "itm_creme_brulee": Item("1401", "Crème brûlée", "6.50", allergens=["eggs", "milk"]),
    "itm_tiramisu": Item("1402", "Tiramisù", "6.90"),
    "itm_coca": Item("1501", "Coca-Cola 33 cl", "3.00"),
    "itm_coca_50": Item("1502", "Coca-Cola 50 cl", "4.50"),
    "itm_eau": Item("1503", "Eau minérale 50 cl", "2.50"),
    "itm_plat_du_jour": Item("1901", "Plat du jour", "0.00", custom=True),
    # SKUs of 25 characters (the most an order line carries) and of 28 (the Items API allows up
    # to 32): the second one is on the menu but cannot be ordered.
    "itm_degustation": Item("BLB-DEGUSTATION-SAISON-26", "Menu dégustation", "45.00"),
    "itm_degustation_long": Item(
        "BLB-DEGUSTATION-AUTOMNE-2026", "Menu dégustation (automne)", "52.00"
    ),
} | {
    f"itm_{n}": Item(
        f"30{n:02d}", name, str(Decimal(500 + 37 * n) / 100), ["traiteur"], ["traiteur"]
    )
    for n, name in enumerate(CATERING)
}

# combos: fixture id -> (sku, name, price, [(group sku, description, [(item key, extraPrice)])])
DEALS: dict[str, tuple[str, str, str, list[tuple[str, str, list[tuple[str, str]]]]]] = {
    "itm_formule_burger": (
        "4001",
        "Formule burger",
        "15.90",
        [
            ("4010", "Burger", [("itm_cheese", "0.00"), ("itm_veggie", "0.00")]),
            (
                "4020",
                "Boisson",
                [("itm_coca", "0.00"), ("itm_coca_50", "1.00"), ("itm_eau", "0.00")],
            ),
        ],
    ),
}

# POS screens: menu id -> (name, [top groups]); an entry is ("item"|"deal"|"modifier", key) or
# ("group", id, name, color, [entries]).
Entry = tuple[Any, ...]
SCREENS: dict[int, tuple[str, list[Entry]]] = {
    MENU_CARTE: (
        "Carte Burger Lab",
        [
            ("group", "141948669133028", "Burgers", "red", [
                ("group", "141948669133029", "Cheeseburger", "red",
                 [("item", "itm_cheese"), ("item", "itm_cheese_double")]),
                ("item", "itm_veggie"),
                ("deal", "itm_formule_burger"),
            ]),
            ("group", "141948669133030", "Pizzas & pâtes", "orange", [
                ("item", "itm_pizza_reine"),
                ("item", "itm_margherita"),
                ("group", "141948669133031", "Pâtes", "orange", [("item", "itm_carbo")]),
            ]),
            ("group", "141948669133032", "Accompagnements", "yellow", [
                ("item", "itm_frites"), ("item", "itm_sauce_maison"), ("modifier", "mod_bacon"),
            ]),
            ("group", "141948669133033", "Desserts", "pink",
             [("item", "itm_creme_brulee"), ("item", "itm_tiramisu")]),
            ("group", "141948669133034", "Boissons", "blue", [
                ("group", "141948669133035", "Coca-Cola", "blue",
                 [("item", "itm_coca"), ("item", "itm_coca_50")]),
                ("item", "itm_eau"),
            ]),
            ("group", "141948669133036", "Suggestions", "green", [
                ("item", "itm_plat_du_jour"), ("item", "itm_degustation"),
                ("item", "itm_degustation_long"), ("item", "itm_frites"),
            ]),
        ],
    ),
    MENU_TRAITEUR: (
        "Traiteur",
        [
            ("group", "141948669133040", "Traiteur", "purple",
             [("item", f"itm_{n}") for n in range(10)]),
            ("group", "141948669133041", "Boissons traiteur", "blue", [("item", "itm_coca")]),
        ],
    ),
}  # fmt: skip

FIXTURE_IDS: dict[str, str] = (
    {key: item.sku for key, item in ITEMS.items()}
    | {key: deal[0] for key, deal in DEALS.items()}
    | {key: mod[0] for key, mod in MODIFIERS.items()}
    | {key: str(pi) for _, _, _, pis in INSTRUCTION_GROUPS.values() for key, pi, _ in pis}
)


def pos_id(fixture_id: str) -> str:
    """The Lightspeed id standing for a fixture id.

    The result is a SKU for items, combos and product modifiers, and a decimal
    ``ikentooModifierId`` string for production instructions. ``itm_extra_N`` (the fake's
    ``extra_items``) maps to SKU ``5NNN``.
    """
    if fixture_id.startswith("itm_extra_"):
        return f"5{int(fixture_id.removeprefix('itm_extra_')):03d}"
    return FIXTURE_IDS[fixture_id]


def link(order_doc: Json) -> Json:
    """A deep copy of an order document, every item and modifier ``pos_id`` made Lightspeed's."""
    doc = copy.deepcopy(order_doc)
    for item in doc.get("items") or []:
        if item.get("pos_id") is not None:
            item["pos_id"] = pos_id(item["pos_id"])
        for mod in item.get("modifiers") or []:
            if mod.get("pos_id") is not None:
                mod["pos_id"] = pos_id(mod["pos_id"])
    return doc


def money(amount: Decimal) -> float:
    """Major units as a JSON number, rounded to the cent."""
    return float(amount.quantize(Decimal("0.01")))


def tax_of(gross: Decimal) -> Decimal:
    """The VAT inside a tax-inclusive amount."""
    return (gross - gross * 100 / (100 + TAX_PERCENT)).quantize(Decimal("0.01"))


@dataclass
class Product:
    """What the fake knows of one SKU when it prices and checks an order."""

    sku: str
    name: str
    price: Decimal
    kind: str  # menuItem, menuDeal, menuProductModifier
    groups: list[Json] = field(default_factory=list)  # selection rules + allowed skus + prices
    # production instruction id -> (instruction, group name, several of the group allowed)
    instructions: dict[int, tuple[str, str, bool]] = field(default_factory=dict)
    as_sub_item: bool = False
    custom: bool = False


class Catalog:
    """The menu data with the fake's price lists (per order profile) and optional extra items."""

    def __init__(self, extra_items: int = 0) -> None:
        self.items = dict(ITEMS)
        for n in range(extra_items):
            self.items[f"itm_extra_{n}"] = Item(
                pos_id(f"itm_extra_{n}"), f"Plat traiteur {n}", "9.00"
            )
        self.prices: dict[tuple[str, str], Decimal] = {}  # (profile code or "", sku) -> price

    def set_price(self, sku: str, price: Decimal, profile: str = "") -> None:
        """Change a price: in every price list, or only in one order profile's."""
        self.prices[(profile, sku)] = price

    def price(self, sku: str, base: str, profile: str) -> Decimal:
        """The price of a SKU under an order profile's price list."""
        for key in ((profile, sku), ("", sku)):
            if key in self.prices:
                return self.prices[key]
        return Decimal(base)

    def menus(self) -> list[Json]:
        """The menu list."""
        return [{"menuName": name, "ikentooMenuId": mid} for mid, (name, _) in SCREENS.items()]

    # the v2 menu tree

    def menu(self, menu_id: int, profile: str = "", rich: bool = False) -> Json | None:
        """One menu as the v2 tree, priced for an order profile, or None when unknown."""
        if menu_id not in SCREENS:
            return None
        name, groups = SCREENS[menu_id]
        tops = [self._entry(g, profile, rich) for g in groups]
        if menu_id == MENU_TRAITEUR and len(self.items) > len(ITEMS):
            extras = [k for k in self.items if k.startswith("itm_extra_")]
            tops[0]["menuEntry"] += [self._entry(("item", k), profile, rich) for k in extras]
        return {
            "menuName": name,
            "ikentooMenuId": menu_id,
            "richDataMissing": False,
            "conditionalTaxRules": False,
            "menuEntryGroups": tops,
        }

    def _common(
        self, sku: str, name: str, price: Decimal, rich: bool, allergens: list[str]
    ) -> Json:
        tax = tax_of(price)
        out: Json = {
            "productName": name,
            "sku": sku,
            "productPrice": money(price),
            "extraPrice": 0.0,
            "color": "grey",
            "customItemNameEnabled": False,
            "pricingStrategy": "PRICE_CANNOT_BE_CUSTOMIZED",
            "defaultTaxAmount": money(tax),
            "defaultTaxPercentage": float(TAX_PERCENT),
            "taxIncludedInPrice": True,
            "conditionalTaxRules": False,
            "taxes": [
                {"description": "TVA 10%", "amount": money(tax), "percentage": float(TAX_PERCENT)}
            ],
        }
        if rich:
            out["itemRichData"] = {
                "allergenCodes": allergens,
                "containsAlcohol": False,
                "texts": [],
            }
        return out

    def _entry(self, entry: Entry, profile: str, rich: bool) -> Json:
        kind = entry[0]
        if kind == "group":
            _, gid, name, color, entries = entry
            return {
                "@type": "group",
                "id": gid,
                "name": name,
                "color": color,
                "menuEntry": [self._entry(e, profile, rich) for e in entries],
            }
        if kind == "item":
            return self._item(entry[1], profile, rich)
        if kind == "modifier":
            return self._modifier(entry[1], profile, rich)
        return self._deal(entry[1], profile, rich)

    def _item(self, key: str, profile: str, rich: bool, extra: str = "0.00") -> Json:
        item = self.items[key]
        out = self._common(
            item.sku, item.name, self.price(item.sku, item.price, profile), rich, item.allergens
        )
        out["@type"] = "menuItem"
        out["extraPrice"] = money(Decimal(extra))
        out["asSubItem"] = item.as_sub_item
        if item.custom:
            out["customItemNameEnabled"] = True
            out["pricingStrategy"] = "CUSTOMIZED_ITEM_PRICE_WILL_BE_POSTIVE"
        out["productionInstructionList"] = [_instruction_group(g) for g in item.instructions]
        out["menuModifierGroups"] = [self._group(g, profile, rich) for g in item.groups]
        return out

    def _modifier(self, key: str, profile: str, rich: bool) -> Json:
        sku, name, price = MODIFIERS[key]
        out = self._common(sku, name, self.price(sku, price, profile), rich, [])
        out["@type"] = "menuProductModifier"
        out["productionInstructionList"] = []
        return out

    def _group(self, key: str, profile: str, rich: bool) -> Json:
        sku, description, mods, must, multi, low, high = MODIFIER_GROUPS[key]
        return {
            "description": description,
            "sku": sku,
            "mustSelectAnItem": must,
            "multiSelectionPermitted": multi,
            "minimumSelection": low,
            "maximumSelection": high,
            "productModifiers": [self._modifier(m, profile, rich) for m in mods],
        }

    def _deal(self, key: str, profile: str, rich: bool) -> Json:
        sku, name, price, groups = DEALS[key]
        out = self._common(sku, name, self.price(sku, price, profile), rich, [])
        out["@type"] = "menuDeal"
        out["items"] = []
        out["menuDealGroups"] = [
            {
                "description": description,
                "sku": group_sku,
                "mustSelectAnItem": True,
                "multiSelectionPermitted": False,
                "minimumSelection": 1,
                "maximumSelection": 1,
                "items": [self._item(k, profile, rich, extra) for k, extra in choices],
            }
            for group_sku, description, choices in groups
        ]
        return out

    # what the fake checks orders against

    def products(self, profile: str = "") -> dict[str, Product]:
        """Every orderable SKU of every menu, with its rules, priced for an order profile."""
        out: dict[str, Product] = {}
        for item in self.items.values():
            p = Product(item.sku, item.name, self.price(item.sku, item.price, profile), "menuItem")
            p.as_sub_item, p.custom = item.as_sub_item, item.custom
            p.groups = [self._rules(g, profile) for g in item.groups]
            for g in item.instructions:
                _, group_name, multi, pis = INSTRUCTION_GROUPS[g]
                p.instructions |= {pi: (text, group_name, multi) for _, pi, text in pis}
            out[item.sku] = p
        for sku, name, price in MODIFIERS.values():
            out[sku] = Product(sku, name, self.price(sku, price, profile), "menuProductModifier")
        for sku, name, price, groups in DEALS.values():
            deal = Product(sku, name, self.price(sku, price, profile), "menuDeal")
            for group_sku, description, choices in groups:
                skus = {self.items[k].sku: Decimal(extra) for k, extra in choices}
                deal.groups.append(
                    {"sku": group_sku, "description": description, "must": True,
                     "multi": False, "min": 1, "max": 1, "prices": skus}
                )  # fmt: skip
            out[sku] = deal
        return out

    def _rules(self, key: str, profile: str) -> Json:
        sku, description, mods, must, multi, low, high = MODIFIER_GROUPS[key]
        prices = {
            MODIFIERS[m][0]: self.price(MODIFIERS[m][0], MODIFIERS[m][2], profile) for m in mods
        }
        return {"sku": sku, "description": description, "must": must, "multi": multi,
                "min": low, "max": high, "prices": prices}  # fmt: skip


def _instruction_group(key: str) -> Json:
    gid, name, multi, pis = INSTRUCTION_GROUPS[key]
    return {
        "multiSelectionPermitted": multi,
        "productionInstructionGroupName": name,
        "productionIntructionGroupId": gid,
        "productionInstructionList": [
            {"instruction": text, "ikentooModifierId": pi} for _, pi, text in pis
        ],
    }
