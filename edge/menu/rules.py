"""The restaurant's rules that turn the POS menu into one published menu per brand.

- an item's variations become separate items named "<variation> - <item>" ("Grande -
  Vanille"), each carrying the variation's POS id (an item with one variation keeps its name);
- items carrying a hide label ("Hide from delivery", "Masquer") are left out;
- an item carrying a brand's label goes only to that brand's menu; an item with no brand
  label goes to every brand;
- items with no category are published under no category and reported;
- online prices (markup, price list) apply to the published menu only.

The published document is described by `menu.schema.json` beside this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.cloud.topics import DEFAULT_BRAND
from edge.config import MenuConfig
from edge.pos.menu import Menu, MenuItem, ModifierList, canonical_json

from .pricing import IDENTITY, Pricing

FORMAT = "store-edge.menu/1"


@dataclass(frozen=True)
class BrandMenu:
    """One brand's published menu and its counts."""

    brand: str
    doc: dict[str, Any]  # carries its own "hash"
    hash: str
    items: int
    modifiers: int
    body: bytes = b"{}"  # the canonical JSON the hash is of (the document without "hash")

    def payload_json(self) -> bytes:
        """The document as published: `hash` first, then the canonical JSON it is the hash of
        (one serialization per brand, however large the menu)."""
        head = b'{"hash":"' + self.hash.encode() + b'"'
        return head + (b"}" if self.body == b"{}" else b"," + self.body[1:])


@dataclass(frozen=True)
class Published:
    """What one menu becomes under the rules."""

    brands: tuple[BrandMenu, ...]
    hidden: tuple[str, ...]  # ids of the items a hide label left out
    uncategorized: tuple[tuple[str, str], ...]  # (item id, name)
    hash: str  # over every brand's hash: what `menu.synced` and `menu_sync` report

    def counts(self) -> dict[str, dict[str, int]]:
        """`{BRAND: {"items": N, "modifiers": M}}`."""
        return {b.brand: {"items": b.items, "modifiers": b.modifiers} for b in self.brands}


def brand_names(config_brands: Iterable[str], menu: MenuConfig) -> list[str]:
    """The store's brands: the printers' `brands` and `[menu.brand_labels]`, else `_default`."""
    names = sorted({*config_brands, *menu.brand_labels})
    return names or [DEFAULT_BRAND]


def _folded(labels: Iterable[str]) -> set[str]:
    return {label.strip().casefold() for label in labels}


class Rules:
    """The rules of one store, applied to menus."""

    def __init__(
        self,
        config: MenuConfig,
        brands: Sequence[str],
        *,
        store_id: str,
        pos: str,
        pricing: Mapping[str, Pricing] | None = None,
    ) -> None:
        self.brands = list(brands)
        self.store_id = store_id
        self.pos = pos
        self.pricing = dict(pricing or {})
        self._hide = _folded(config.hide_labels)
        self._labels = self._hide | {
            label.strip().casefold() for label in config.brand_labels.values()
        }
        self._brand_label = {
            b: label.strip().casefold() for b, label in config.brand_labels.items()
        }

    def brands_of(self, item: MenuItem) -> list[str] | None:
        """The brands an item goes to; None when hidden."""
        labels = _folded(item.labels)
        if labels & self._hide:
            return None
        own = [b for b in self.brands if self._brand_label.get(b) in labels]
        return own or self.brands

    def apply(self, menu: Menu) -> Published:
        """Every brand's document."""
        hidden: list[str] = []
        per_brand: dict[str, list[MenuItem]] = {b: [] for b in self.brands}
        for item in menu.items:
            brands = self.brands_of(item)
            if brands is None:
                hidden.append(item.id)
                continue
            for brand in brands:
                per_brand[brand].append(item)
        # A category named like a configured label is a tag (Square's labels are categories),
        # not a place on the menu: "Burger Lab" would list its burgers twice.
        tags = {c.id for c in menu.categories if c.name.strip().casefold() in self._labels}
        shared = _Shared(menu, tags)
        hidden_ids = set(hidden)
        uncategorized = tuple(
            (i.id, i.name) for i in menu.items if i.id not in hidden_ids and not shared.cats(i)
        )
        built = tuple(
            _BrandBuilder(shared, self.pricing.get(b, IDENTITY)).build(
                {"format": FORMAT, "store_id": self.store_id, "brand": b, "pos": self.pos},
                per_brand[b],
            )
            for b in self.brands
        )
        overall = hashlib.sha256(canonical_json({b.brand: b.hash for b in built})).hexdigest()
        return Published(built, tuple(hidden), uncategorized, overall)


class _Shared:
    """What every brand's document reuses: each item's rules, each group under one pricing."""

    def __init__(self, menu: Menu, tags: set[str]) -> None:
        self.menu = menu
        self.tags = tags
        self.lists = {ml.id: ml for ml in menu.modifier_lists}
        self.positions = {ml.id: i for i, ml in enumerate(menu.modifier_lists)}
        self.groups: dict[tuple[str, int], dict[str, Any]] = {}
        self._rules: dict[str, list[dict[str, Any]]] = {}
        self._cats: dict[str, list[str]] = {}

    def cats(self, item: MenuItem) -> list[str]:
        """The item's categories on the menu: categories named like a label left out..."""
        found = self._cats.get(item.id)
        if found is None:
            # ...unless it is the only place the item has (a Lightspeed K brand screen)
            found = [c for c in item.category_ids if c not in self.tags] or list(item.category_ids)
            self._cats[item.id] = found
        return found

    def rules(self, item: MenuItem) -> list[dict[str, Any]]:
        """The groups the item offers with the rule it applies to each."""
        found = self._rules.get(item.id)
        if found is None:
            found = self._rules[item.id] = [
                {
                    "pos_id": r.group.id,
                    "min": r.min_selected,
                    "max": r.max_selected,
                    "required": r.min_selected > 0,
                }
                for r in self.menu.rules_of(item)
            ]
        return found


class _BrandBuilder:
    """One brand's document: its items, the groups they reach, their categories."""

    def __init__(self, shared: _Shared, pricing: Pricing) -> None:
        self.shared = shared
        self.menu = shared.menu
        self.pricing = pricing

    def build(self, header: dict[str, Any], items: list[MenuItem]) -> BrandMenu:
        published: list[dict[str, Any]] = []
        uncategorized: list[str] = []
        in_category: dict[str, list[str]] = {}
        wanted_groups: list[str] = []
        for item in items:
            cats = self.shared.cats(item)
            for entry in self._entries(item, cats):
                published.append(entry)
                for cat in cats:
                    in_category.setdefault(cat, []).append(entry["pos_id"])
                if not cats:
                    uncategorized.append(entry["pos_id"])
            wanted_groups += item.modifier_list_ids
        groups = self._groups(wanted_groups)
        categories = [
            {"pos_id": c.id, "name": c.name, "items": in_category[c.id]}
            for c in self.menu.categories
            if c.id in in_category
        ]
        doc: dict[str, Any] = {
            **header,
            "currency": self.menu.currency,
            "categories": categories,
            "items": published,
            "modifier_groups": groups,
            "uncategorized": uncategorized,
        }
        body = canonical_json(doc)
        digest = hashlib.sha256(body).hexdigest()
        doc["hash"] = digest
        modifiers = len({m["pos_id"] for g in groups for m in g["modifiers"]})
        return BrandMenu(header["brand"], doc, digest, len(published), modifiers, body)

    def _entries(self, item: MenuItem, cats: list[str]) -> Iterable[dict[str, Any]]:
        rules = self.shared.rules(item)
        several = len(item.variations) > 1
        for variation in item.variations:
            pos_price = variation.price
            yield {
                "pos_id": variation.id,
                "pos_item_id": item.id,
                "name": f"{variation.name} - {item.name}" if several else item.name,
                "description": item.description,
                "price": None if pos_price is None else self.pricing.price(variation.id, pos_price),
                "pos_price": pos_price,
                "tax_included": item.tax_included,
                "available": item.available and variation.available,
                "image_url": item.image_url,
                "category_ids": cats,
                "labels": list(item.labels),
                "modifier_groups": rules,
            }

    def _groups(self, wanted: list[str]) -> list[dict[str, Any]]:
        """The groups the items offer and, through nested choices, the groups those open."""
        lists = self.shared.lists
        seen: set[str] = set()
        order: list[ModifierList] = []
        stack = list(reversed(wanted))
        while stack:
            group_id = stack.pop()
            group = lists.get(group_id)
            if group is None or group_id in seen:
                continue
            seen.add(group_id)
            order.append(group)
            for modifier in reversed(group.modifiers):
                stack.extend(reversed(modifier.modifier_list_ids))
        positions = self.shared.positions
        return [self._group(g) for g in sorted(order, key=lambda g: positions[g.id])]

    def _group(self, group: ModifierList) -> dict[str, Any]:
        key = (group.id, id(self.pricing))  # brands priced alike share their group documents
        cached = self.shared.groups.get(key)
        if cached is not None:
            return cached
        doc = self.shared.groups[key] = {
            "pos_id": group.id,
            "name": group.name,
            "min": group.min_selected,
            "max": group.max_selected,
            "required": group.required,
            "modifiers": [
                {
                    "pos_id": m.id,
                    "name": m.name,
                    "price": self.pricing.price(m.id, m.price),
                    "pos_price": m.price,
                    "available": m.available,
                    "modifier_groups": list(m.modifier_list_ids),
                }
                for m in group.modifiers
            ],
        }
        return doc
