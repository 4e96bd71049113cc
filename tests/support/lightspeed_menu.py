"""The fake Lightspeed K-Series location's menus, served from the recorded fixture in
tests/fixtures/menus/lightspeed/: the menu list, each menu's v2 load (recorded with
``richContent=true`` and the default price list) and the item availability (restricted SKUs).

Fixture ids (``itm_cheese``, ``mod_bacon``, ``itm_0`` …) stand for Lightspeed ids through
:func:`pos_id`. An item, a combo or a product modifier is known by its SKU, a string such as
``"1001"``. A production instruction (a free kitchen note) is known by its int64
``ikentooModifierId``, sent in an order as a decimal string such as ``"236025632784600"``.

The recorded location is a French restaurant hosting two virtual brands, told apart by the
POS screens (menu groups) their items sit in: "Burger" (Burger Lab) and "Pasta" (Pasta
Nostra); items on neither (sides, desserts, drinks, suggestions) belong to both.
- Priced options are product modifiers (sent as ``subItems`` by SKU); free notes are
  production instructions (sent as ``modifiers``). "Cuisson" is a REQUIRED product-modifier
  group (min 1, max 1), since production-instruction groups have no min or max.
- Lightspeed K has no item variations: the sizes of "Vanille" are a required "Taille" group
  ("Petite" +0.00, "Grande" +1.50); "Toppings" is an optional group with no bounds.
- Nested choices: "Steak supplémentaire" opens the production instructions "Cuisson du
  steak"; the choices of the "Formule burger" combo are whole items with their own groups.
- Hide screens: "Burger du chef" also sits on "Hide from delivery", "Formule midi" on "Masquer".
- The availability says "Pâtes au pesto" and "Coulis de fraise" are sold out (count 0),
  "Tiramisù" and "Limonade artisanale" are running low.
- "Frites maison" sits on two screens, "Coca-Cola 33 cl" on screens of both menus;
  "Sauce maison" cannot be sold alone (``asSubItem``); one SKU is longer than orders take.
Prices include the 10 % VAT (``taxIncludedInPrice``).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

Json = dict[str, Any]

BUSINESS_ID = 45454565682100
BUSINESS_NAME = "Burger Lab"
BUSINESS_LOCATION_ID = 45454565682155
LOCATION_NAME = "Burger Lab Bastille"
CURRENCY = "EUR"
COUNTRY = "FR"
TIME_ZONE = "Europe/Paris"
POS_ID = 17700
STAFF_ID = 31930
STAFF_NAME = "Online Order"
MENU_CARTE = 141948669132851
MENU_TRAITEUR = 141948669132852
TAX_PERCENT = Decimal(10)  # French VAT on restaurant food; prices include it
FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "menus" / "lightspeed"

# (id, code, name, deliveryMode)
PROFILES: list[tuple[int, str, str, str]] = [
    (12454575601144, "TAKEAWAY", "À emporter", "TAKE_AWAY"),
    (12454575601145, "DELIVERY", "Livraison", "DELIVERY"),
    (12454575601146, "EATIN", "Sur place", "NONE"),
]

# fixture id -> the recorded SKU (items, combos, product modifiers) or instruction id
FIXTURE_IDS: dict[str, str] = {
    "itm_cheese": "1001", "itm_cheese_double": "1002", "itm_veggie": "1003", "itm_chef": "1004",
    "itm_pizza_reine": "1101", "itm_margherita": "1102", "itm_carbo": "1201",
    "itm_pesto": "1202", "itm_frites": "1301", "itm_sauce_maison": "1310",
    "itm_creme_brulee": "1401", "itm_tiramisu": "1402", "itm_coca": "1501",
    "itm_coca_50": "1502", "itm_eau": "1503", "itm_vanille": "1601",
    "itm_plat_du_jour": "1901", "itm_formule_midi": "1902",
    "itm_degustation": "BLB-DEGUSTATION-SAISON-26",
    "itm_degustation_long": "BLB-DEGUSTATION-AUTOMNE-2026",
    "itm_formule_burger": "4001",
    "mod_bacon": "2001", "mod_extra_cheese": "2002", "mod_steak": "2003",
    "mod_cuisson_s": "2011", "mod_cuisson_ap": "2012", "mod_cuisson_bc": "2013",
    "mod_taille_m": "2021", "mod_taille_l": "2022", "mod_oeuf": "2031", "mod_parmesan": "2041",
    "mod_1": "2051", "mod_3": "2052", "mod_vanille_petite": "2061", "mod_vanille_grande": "2062",
    "mod_chantilly": "2066", "mod_coulis": "2067", "mod_amandes": "2068",
    "pi_sans_oignons": "236025632784610", "pi_sans_sauce": "236025632784612",
    "mod_0": "236025632784600", "mod_2": "236025632784602",
    "pi_al_dente": "236025632784620", "pi_fondantes": "236025632784622",
} | {f"itm_{n}": f"30{n:02d}" for n in range(10)}  # fmt: skip


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


@functools.cache
def _recorded(name: str) -> str:
    return (FIXTURE_DIR / name).read_text("utf-8")


def recorded_menu_list() -> list[Json]:
    """The recorded GET /o/op/1/menu/list answer (a fresh copy)."""
    listed: list[Json] = json.loads(_recorded("menu-list.json"))
    return listed


def recorded_menu(menu_id: int) -> Json:
    """The recorded GET /o/op/2/menu/load/{menu_id}?richContent=true answer (a fresh copy)."""
    doc: Json = json.loads(_recorded(f"menu-{menu_id}.json"))
    return doc


def recorded_availability() -> list[Json]:
    """The recorded restricted items (``apeRestrictedItem``), whatever SKUs were asked."""
    restricted: list[Json] = json.loads(_recorded("item-availability.json"))
    return restricted


def entries(menu: Json) -> Iterator[Json]:
    """Every entry of a menu's screens (sub-screens walked), not those inside groups or combos."""

    def walk(group: Json) -> Iterator[Json]:
        for entry in group.get("menuEntry") or []:
            yield entry
            if entry.get("@type") == "group":
                yield from walk(entry)

    for top in menu.get("menuEntryGroups") or []:
        yield top
        yield from walk(top)


def instruction_ids() -> frozenset[str]:
    """Every production instruction id of the recorded menus, as an order sends it."""
    found = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "ikentooModifierId" in node:
                found.add(str(node["ikentooModifierId"]))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for summary in recorded_menu_list():
        collect(recorded_menu(summary["ikentooMenuId"]))
    return frozenset(found)


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


def _plain_item(sku: str, name: str, price: Decimal) -> Json:
    """A menuItem entry without options, shaped like the recorded ones (``extra_items``)."""
    tax = money(tax_of(price))
    return {
        "@type": "menuItem",
        "productName": name,
        "sku": sku,
        "productPrice": money(price),
        "extraPrice": 0.0,
        "color": "purple",
        "customItemNameEnabled": False,
        "pricingStrategy": "PRICE_CANNOT_BE_CUSTOMIZED",
        "defaultTaxAmount": tax,
        "defaultTaxPercentage": float(TAX_PERCENT),
        "taxIncludedInPrice": True,
        "conditionalTaxRules": False,
        "taxes": [{"description": "TVA 10%", "amount": tax, "percentage": float(TAX_PERCENT)}],
        "asSubItem": False,
        "productionInstructionList": [],
        "menuModifierGroups": [],
    }


class Catalog:
    """The recorded menus with the fake's price lists (per order profile), item availability
    and optional extra items (on the Traiteur screen)."""

    def __init__(self, extra_items: int = 0) -> None:
        self.listed = recorded_menu_list()
        self.trees = {m["ikentooMenuId"]: recorded_menu(m["ikentooMenuId"]) for m in self.listed}
        extras = [
            _plain_item(pos_id(f"itm_extra_{n}"), f"Plat traiteur {n}", Decimal("9.00"))
            for n in range(extra_items)
        ]
        self.trees[MENU_TRAITEUR]["menuEntryGroups"][0]["menuEntry"] += extras
        self.prices: dict[tuple[str, str], Decimal] = {}  # (profile code or "", sku) -> price
        self.stock: dict[str, Json] = {r["sku"]: r for r in recorded_availability()}

    def set_price(self, sku: str, price: Decimal, profile: str = "") -> None:
        """Change a price: in every price list, or only in one order profile's."""
        self.prices[(profile, sku)] = price

    def price(self, sku: str, base: Any, profile: str) -> Decimal:
        """The price of a SKU under an order profile's price list (``base``: the recorded one)."""
        for key in ((profile, sku), ("", sku)):
            if key in self.prices:
                return self.prices[key]
        return Decimal(str(base))

    def set_stock(self, sku: str, count: int | None, updated_at: str) -> None:
        """Restrict a SKU to ``count`` left (0: sold out), or lift its restriction (None)."""
        if count is None:
            self.stock.pop(sku, None)
        else:
            self.stock[sku] = {"sku": sku, "count": count, "updatedAt": updated_at}

    def restricted(self, skus: list[str]) -> list[Json]:
        """The restricted items among these SKUs, in the order asked."""
        return [dict(self.stock[s]) for s in dict.fromkeys(skus) if s in self.stock]

    def menus(self) -> list[Json]:
        """The menu list."""
        return copy.deepcopy(self.listed)

    def menu(self, menu_id: int, profile: str = "", rich: bool = False) -> Json | None:
        """One menu as the v2 tree, priced for an order profile, or None when unknown."""
        if menu_id not in self.trees:
            return None
        doc = copy.deepcopy(self.trees[menu_id])
        self._reprice(doc, profile, rich)
        return doc

    def _reprice(self, node: Any, profile: str, rich: bool) -> None:
        if isinstance(node, list):
            for value in node:
                self._reprice(value, profile, rich)
            return
        if not isinstance(node, dict):
            return
        if not rich:
            node.pop("itemRichData", None)
        sku = node.get("sku")
        if "productPrice" in node and ((profile, sku) in self.prices or ("", sku) in self.prices):
            price = self.price(sku, node["productPrice"], profile)
            tax = money(tax_of(price))
            node["productPrice"] = money(price)
            node["defaultTaxAmount"] = tax
            for t in node.get("taxes") or []:
                t["amount"] = tax
        for value in node.values():
            self._reprice(value, profile, rich)

    # what the fake checks orders against

    def products(self, profile: str = "") -> dict[str, Product]:
        """Every orderable SKU of every menu, with its rules, priced for an order profile."""
        out: dict[str, Product] = {}
        for tree in self.trees.values():
            for entry in entries(tree):
                if entry.get("@type") != "group":
                    self._product(entry, profile, out)
        return out

    def _product(self, entry: Json, profile: str, out: dict[str, Product]) -> None:
        sku = entry["sku"]
        if sku in out:
            return
        kind = entry["@type"]
        p = Product(
            sku, entry["productName"], self.price(sku, entry["productPrice"], profile), kind
        )
        out[sku] = p
        p.as_sub_item = bool(entry.get("asSubItem"))
        p.custom = bool(entry.get("customItemNameEnabled")) and entry.get("pricingStrategy") == (
            "CUSTOMIZED_ITEM_PRICE_WILL_BE_POSTIVE"
        )
        for group in entry.get("productionInstructionList") or []:
            name, multi = group["productionInstructionGroupName"], group["multiSelectionPermitted"]
            p.instructions |= {
                pi["ikentooModifierId"]: (pi["instruction"], name, multi)
                for pi in group["productionInstructionList"]
            }
        for group in entry.get("menuModifierGroups") or []:
            choices = group["productModifiers"]
            prices = {c["sku"]: self.price(c["sku"], c["productPrice"], profile) for c in choices}
            p.groups.append(_rules(group, prices))
            for choice in choices:
                self._product(choice, profile, out)
        for group in entry.get("menuDealGroups") or []:
            prices = {c["sku"]: Decimal(str(c.get("extraPrice") or 0)) for c in group["items"]}
            p.groups.append(_rules(group, prices))
            for choice in group["items"]:
                self._product(choice, profile, out)


def _rules(group: Json, prices: dict[str, Decimal]) -> Json:
    return {
        "sku": group.get("sku"),
        "description": group.get("description"),
        "must": group.get("mustSelectAnItem"),
        "multi": group.get("multiSelectionPermitted"),
        "min": group.get("minimumSelection"),
        "max": group.get("maximumSelection"),
        "prices": prices,
    }
