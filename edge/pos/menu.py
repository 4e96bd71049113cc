"""The POS menu, normalized across vendors: what injection checks orders against and what the
box publishes per brand (edge/menu).

Every object keeps the POS's own id: an order line's `pos_id` names a variation, a
modifier's `pos_id` names a modifier. Prices are in minor units of `Menu.currency`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic_core


@dataclass(frozen=True, slots=True)
class MenuVariation:
    """A sellable variation of an item (size, flavour): what an order line's `pos_id` names.

    Vendors without variations (Toast, Clover, Lightspeed K) give each item one variation
    carrying the item's own id.
    """

    id: str
    name: str
    price: int | None  # None: priced at the till (open price)
    currency: str | None = None
    available: bool = True


@dataclass(frozen=True, slots=True)
class MenuModifier:
    """One choice of a modifier group: what a modifier's `pos_id` names."""

    id: str
    name: str
    price: int
    currency: str | None = None
    available: bool = True
    # nested groups this choice opens (Toast: "Sauce" -> "Spice level")
    modifier_list_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModifierList:
    """A group of modifiers (extras, cooking, size), with the POS's selection rules."""

    id: str
    name: str
    modifiers: tuple[MenuModifier, ...]
    min_selected: int = 0
    max_selected: int | None = None  # None: no upper bound

    @property
    def required(self) -> bool:
        """At least one choice must be made."""
        return self.min_selected > 0


@dataclass(frozen=True, slots=True)
class ModifierRule:
    """An item's own selection rule for one of its groups (Square's per-item overrides)."""

    list_id: str
    min_selected: int | None = None  # None: the group's own rule
    max_selected: int | None = None


@dataclass(frozen=True, slots=True)
class MenuItem:
    """An item of the POS menu with its variations and the modifier groups it offers."""

    id: str
    name: str
    category_ids: tuple[str, ...]
    variations: tuple[MenuVariation, ...]
    modifier_list_ids: tuple[str, ...]
    description: str = ""
    # what the restaurant tagged the item with in its POS (CONTRACT §1 "label"): Clover tags,
    # Toast item tags, Square categories, Lightspeed K menu groups (screens)
    labels: tuple[str, ...] = ()
    image_url: str | None = None
    available: bool = True
    tax_included: bool | None = None  # None: the POS does not say
    modifier_rules: tuple[ModifierRule, ...] = ()


@dataclass(frozen=True, slots=True)
class Category:
    """A menu category."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class GroupRule:
    """The selection rule an item applies to one of its groups."""

    group: ModifierList
    min_selected: int
    max_selected: int | None


@dataclass(frozen=True)
class Menu:
    """The POS menu, normalized across vendors."""

    items: tuple[MenuItem, ...]
    modifier_lists: tuple[ModifierList, ...]
    categories: tuple[Category, ...]
    currency: str | None = None

    def variation_ids(self) -> frozenset[str]:
        """Every id an order line may link to."""
        return frozenset(v.id for item in self.items for v in item.variations)

    def modifier_ids(self) -> frozenset[str]:
        """Every id an order modifier may link to."""
        return frozenset(m.id for ml in self.modifier_lists for m in ml.modifiers)

    def modifier_count(self) -> int:
        """How many modifiers the groups hold."""
        return sum(len(ml.modifiers) for ml in self.modifier_lists)

    def rules_of(self, item: MenuItem) -> Iterator[GroupRule]:
        """The groups an item offers, with the item's overrides of their rules applied."""
        lists = self._lists()
        overrides = {r.list_id: r for r in item.modifier_rules}
        for list_id in item.modifier_list_ids:
            group = lists.get(list_id)
            if group is None:
                continue
            rule = overrides.get(list_id)
            low = group.min_selected
            high = group.max_selected
            if rule is not None:
                low = group.min_selected if rule.min_selected is None else rule.min_selected
                high = group.max_selected if rule.max_selected is None else rule.max_selected
            yield GroupRule(group, low, high)

    def _lists(self) -> dict[str, ModifierList]:
        cached: dict[str, ModifierList] | None = self.__dict__.get("_by_id")
        if cached is None:
            cached = {ml.id: ml for ml in self.modifier_lists}
            object.__setattr__(self, "_by_id", cached)
        return cached

    def to_doc(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what `from_doc` reads back); `canonical_json(menu)` gives
        the same JSON straight from the objects."""
        doc: dict[str, Any] = pydantic_core.to_jsonable_python(self)
        return doc

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON: equal menus, equal hashes."""
        return hashlib.sha256(canonical_json(self)).hexdigest()

    @staticmethod
    def from_doc(doc: Mapping[str, Any]) -> Menu:
        """The Menu `to_doc` wrote (older documents without the newer fields too)."""
        return Menu(
            items=tuple(_item(i) for i in doc.get("items") or ()),
            modifier_lists=tuple(_list(m) for m in doc.get("modifier_lists") or ()),
            categories=tuple(Category(c["id"], c["name"]) for c in doc.get("categories") or ()),
            currency=doc.get("currency"),
        )


class CurrentMenu:
    """The menu injection checks orders against: the last good one the menu sync stored."""

    def __init__(self) -> None:
        self.menu: Menu | None = None
        self.hash: str | None = None
        self.read_at: float | None = None

    def set(self, menu: Menu, digest: str, read_at: float) -> None:
        """Replace it with what a sync stored."""
        self.menu, self.hash, self.read_at = menu, digest, read_at


def canonical_json(doc: Any) -> bytes:
    """Compact UTF-8 JSON, keys in the order the document was built (a dataclass: its fields'
    order): the form hashes are taken of. Documents are built in a fixed order, so equal
    documents give equal bytes (pydantic-core's encoder: 4 times as fast as `json` on a large
    menu, and it reads dataclasses directly)."""
    return pydantic_core.to_json(doc)


def _item(doc: Mapping[str, Any]) -> MenuItem:
    return MenuItem(
        id=doc["id"],
        name=doc["name"],
        category_ids=tuple(doc.get("category_ids") or ()),
        variations=tuple(MenuVariation(**v) for v in doc.get("variations") or ()),
        modifier_list_ids=tuple(doc.get("modifier_list_ids") or ()),
        description=doc.get("description") or "",
        labels=tuple(doc.get("labels") or ()),
        image_url=doc.get("image_url"),
        available=doc.get("available", True),
        tax_included=doc.get("tax_included"),
        modifier_rules=tuple(ModifierRule(**r) for r in doc.get("modifier_rules") or ()),
    )


def _list(doc: Mapping[str, Any]) -> ModifierList:
    return ModifierList(
        id=doc["id"],
        name=doc["name"],
        modifiers=tuple(
            MenuModifier(**{**m, "modifier_list_ids": tuple(m.get("modifier_list_ids") or ())})
            for m in doc.get("modifiers") or ()
        ),
        min_selected=doc.get("min_selected", 0),
        max_selected=doc.get("max_selected"),
    )
