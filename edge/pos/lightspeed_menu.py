"""Lightspeed K's menus (Order and Pay v2 loads) normalized, one menu at a time (no I/O).

A location has several menus; each loads whole as its POS screen tree: screens (menu groups,
`@type: group`) hold sub-screens, items (`menuItem`), combos (`menuDeal`) and product
modifiers placed on a screen (`menuProductModifier`). An item is known by its SKU, the id an
order line names; the same SKU may sit on several screens of several menus and is one item.

- Variations: Lightspeed K has none (a size is a product-modifier group, or another SKU), so
  each item is one variation carrying its SKU.
- Categories: the screens an item sits on directly (the Order and Pay menu has no accounting
  group). Every entry sits on a screen: a Lightspeed K item always has a category.
- Labels (CONTRACT §1, "the screen an item sits in"): the names of every screen on the way to
  the item, of every place it sits, so an item on "Burger > Nos burgers" carries both.
- Modifier groups: an item's product-modifier groups (priced choices, by SKU, with
  `minimumSelection`/`maximumSelection`; `mustSelectAnItem` means at least one,
  `multiSelectionPermitted: false` at most one) and its production-instruction groups (free
  kitchen notes, no bounds: one choice unless several are allowed). A combo's groups are its
  deal groups, whose choices are items priced at their `extraPrice`. Nested groups: what a
  choice offers itself (a product modifier's instructions, a combo choice's own groups). A
  group is one group across items (by its SKU); an item whose bounds for it differ from the
  first seen carries them as its own rule.
- Prices in cents of the location's currency; an item whose price may be changed at the till
  (`pricingStrategy`) has no fixed price. `available` is what the item availability says
  (count 0: sold out); the menu itself has no visibility flag. Images and descriptions come
  from the rich data (`richContent=true`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .fields import integer as _int
from .fields import text as _text
from .lightspeed_orders import MenuIndex
from .menu import Category, Menu, MenuItem, MenuModifier, MenuVariation, ModifierList, ModifierRule
from .money import cents

Json = dict[str, Any]

FIXED_PRICE = "PRICE_CANNOT_BE_CUSTOMIZED"
SELLABLE = ("menuItem", "menuDeal", "menuProductModifier")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def sold_out(page: Any) -> set[str]:
    """The SKUs an item-availability page says none are left of (count 0 or less)."""
    gone = set()
    data = page.get("data") if isinstance(page, dict) else None
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("sku"), str):
            continue
        count = _int(entry.get("count"))
        if count is not None and count <= 0:  # null: not restricted
            gone.add(entry["sku"])
    return gone


def total_pages(page: Any) -> int:
    """How many pages an item-availability answer says there are (1 when it does not say)."""
    meta = page.get("metadata") if isinstance(page, dict) else None
    total = _int(meta.get("totalPages")) if isinstance(meta, dict) else None
    return 1 if total is None else total


def currency_of(page: Any, location: int, size: int) -> tuple[str | None, bool]:
    """The currency of the business holding `location` on a page of the Financial API's
    businesses, and whether a later page may hold that location instead."""
    embedded = page.get("_embedded") if isinstance(page, dict) else None
    listed = embedded.get("businessList") if isinstance(embedded, dict) else None
    businesses = [b for b in listed if isinstance(b, dict)] if isinstance(listed, list) else []
    for business in businesses:
        for place in business.get("businessLocations") or []:
            if isinstance(place, dict) and _same_id(place.get("blID"), location):
                code = business.get("currencyCode")
                return (code if isinstance(code, str) and code else None), False
    return None, len(businesses) >= size


def _same_id(value: Any, ident: int) -> bool:
    """Whether a JSON id (a number, maybe written as a float or a string) is this int64."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == ident
    if isinstance(value, float):
        return value.is_integer() and int(value) == ident
    return isinstance(value, str) and value.strip() == str(ident)


def _plain(markup: str) -> str:
    """Rich-data text (may hold HTML) as plain text."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()


def _rich(entry: Json) -> tuple[str, str | None]:
    """The description (the first text that has one) and the image of an entry's rich data."""
    rich = entry.get("itemRichData")
    if not isinstance(rich, dict):
        return "", None
    texts = [t for t in rich.get("texts") or [] if isinstance(t, dict)]
    description = next(
        (_plain(_text(t, "description")) for t in texts if _text(t, "description")), ""
    )
    image = next(
        (
            _text(rich, k)
            for k in ("rawImageUrl", "squareImageUrl", "previewImageUrl")
            if _text(rich, k)
        ),
        None,
    )
    return description, image


def _bounds(group: Json) -> tuple[int, int | None]:
    """A product-modifier or deal group's (min, max); null bounds are not set."""
    low = max(_int(group.get("minimumSelection")) or 0, 0)
    if group.get("mustSelectAnItem") is True:
        low = max(low, 1)
    high = _int(group.get("maximumSelection"))
    if group.get("multiSelectionPermitted") is False:
        high = 1 if high is None else min(high, 1)
    return low, high


@dataclass
class _Item:
    """An item met on one or more screens: the first occurrence's fields, what later add."""

    name: str
    price: int | None
    lists: tuple[str, ...]
    rules: tuple[ModifierRule, ...]
    description: str
    image: str | None
    tax_included: bool | None
    categories: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


@dataclass
class _List:
    name: str
    modifiers: list[MenuModifier]
    low: int
    high: int | None
    instructions: bool  # production instructions: ids, not SKUs


class MenuReader:
    """Normalizes the menus of one location as each is loaded; `menu` gives the result."""

    def __init__(self) -> None:
        self._items: dict[str, _Item] = {}
        self._lists: dict[str, _List] = {}
        self._categories: dict[str, Category] = {}
        self._instructions: set[str] = set()

    def add(self, doc: Json) -> None:
        """One menu load (`apeMenuV2`): its screens walked, its items merged in."""
        for top in doc.get("menuEntryGroups") or []:
            if isinstance(top, dict):
                self._screen(top, [])

    def skus(self) -> list[str]:
        """Every SKU read (items, combos, product modifiers and combo choices), once each."""
        found = dict.fromkeys(self._items)
        for group in self._lists.values():
            if not group.instructions:
                found.update(dict.fromkeys(m.id for m in group.modifiers))
        return list(found)

    def menu(self, gone: set[str] | frozenset[str], currency: str | None) -> tuple[Menu, MenuIndex]:
        """The normalized menu, `gone` (sold-out SKUs) unavailable, and the injection index."""
        items = []
        for sku, item in self._items.items():
            available = sku not in gone
            variation = MenuVariation(sku, item.name, item.price, available=available)
            items.append(
                MenuItem(
                    sku,
                    item.name,
                    tuple(item.categories),
                    (variation,),
                    item.lists,
                    description=item.description,
                    labels=tuple(item.labels),
                    image_url=item.image,
                    available=available,
                    tax_included=item.tax_included,
                    modifier_rules=item.rules,
                )
            )
        lists = []
        for key, group in self._lists.items():
            modifiers = tuple(
                replace(m, available=False) if not group.instructions and m.id in gone else m
                for m in group.modifiers
            )
            lists.append(ModifierList(key, group.name, modifiers, group.low, group.high))
        menu = Menu(tuple(items), tuple(lists), tuple(self._categories.values()), currency)
        return menu, MenuIndex(frozenset(self._instructions))

    # the screen tree

    def _screen(self, group: Json, path: list[str]) -> None:
        screen = str(group.get("id") or "")
        name = _text(group, "name")
        here = [*path, name] if name else path
        for entry in group.get("menuEntry") or []:
            if not isinstance(entry, dict):
                continue
            kind = entry.get("@type")
            if kind == "group":
                self._screen(entry, here)
            elif kind in SELLABLE and _text(entry, "sku") and entry.get("asSubItem") is not True:
                self._place(entry, screen, name, here)

    def _place(self, entry: Json, screen: str, name: str, labels: list[str]) -> None:
        sku = _text(entry, "sku")
        item = self._items.get(sku)
        if item is None:
            lists, rules = self._offered(entry, sku)
            description, image = _rich(entry)
            taxed = entry.get("taxIncludedInPrice")
            item = self._items[sku] = _Item(
                _text(entry, "productName"),
                self._price(entry),
                lists,
                rules,
                description,
                image,
                taxed if isinstance(taxed, bool) else None,
            )
        if screen and screen not in item.categories:
            self._categories.setdefault(screen, Category(screen, name))
            item.categories.append(screen)
        for label in labels:
            if label not in item.labels:
                item.labels.append(label)

    @staticmethod
    def _price(entry: Json) -> int | None:
        strategy = entry.get("pricingStrategy")
        if isinstance(strategy, str) and strategy != FIXED_PRICE:
            return None  # the till may set the price
        return cents(entry.get("productPrice"))

    # modifier groups

    def _offered(self, entry: Json, owner: str) -> tuple[tuple[str, ...], tuple[ModifierRule, ...]]:
        """The groups an item (or a combo choice) offers, and its own rules for them."""
        keys: list[str] = []
        rules: list[ModifierRule] = []
        groups = [("productModifiers", g) for g in entry.get("menuModifierGroups") or []]
        groups += [("items", g) for g in entry.get("menuDealGroups") or []]
        for choices, group in groups:
            if not isinstance(group, dict):
                continue
            key = _text(group, "sku") or f"{owner}:{_text(group, 'description')}"
            low, high = _bounds(group)
            known = self._lists.get(key)
            if known is None:
                self._lists[key] = _List(_text(group, "description"), [], low, high, False)
                self._lists[key].modifiers = self._choices(
                    group.get(choices), deal=choices == "items"
                )
            elif (known.low, known.high) != (low, high):
                rules.append(ModifierRule(key, low, high))
            keys.append(key)
        keys += self._instruction_groups(entry)
        return tuple(dict.fromkeys(keys)), tuple(rules)

    def _choices(self, choices: Any, *, deal: bool) -> list[MenuModifier]:
        found = []
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or not _text(choice, "sku"):
                continue
            sku = _text(choice, "sku")
            nested, _ = self._offered(choice, sku)
            price = cents(choice.get("extraPrice" if deal else "productPrice")) or 0
            found.append(
                MenuModifier(sku, _text(choice, "productName"), price, modifier_list_ids=nested)
            )
        return found

    def _instruction_groups(self, entry: Json) -> list[str]:
        keys = []
        for group in entry.get("productionInstructionList") or []:
            if not isinstance(group, dict):
                continue
            # "Intruction" sic: Lightspeed's own spelling
            ident = group.get(
                "productionIntructionGroupId", group.get("productionInstructionGroupId")
            )
            if ident is None:
                continue
            key = f"pi:{ident}"
            if key not in self._lists:
                notes = []
                for pi in group.get("productionInstructionList") or []:
                    if isinstance(pi, dict) and pi.get("ikentooModifierId") is not None:
                        note = str(pi["ikentooModifierId"])  # int64: never through a float
                        self._instructions.add(note)
                        notes.append(MenuModifier(note, _text(pi, "instruction"), 0))
                several = group.get("multiSelectionPermitted") is True
                name = _text(group, "productionInstructionGroupName")
                self._lists[key] = _List(name, notes, 0, None if several else 1, True)
            keys.append(key)
        return keys
