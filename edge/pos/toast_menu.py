"""Toast's published menu normalized (menus API v2), and the stock API's 86'd items applied.

Toast answers the whole published menu in one document (the API has no pagination): menus
hold nested menu groups (our categories), which hold menu items; modifier groups and modifier
options are listed once, in maps keyed by `referenceId` that items and options refer to (an
option's own `modifierGroupReferences` are the groups it opens: nested groups). A modifier
option's GUID is its item reference's, the id an order's modifier names.

Toast has no item variations: sizes are a required size group whose options carry the price
(SIZE_PRICE) and portions are parts of one item, so each item is one variation carrying its
own GUID, the id an order line names.

Labels are item tags (CONTRACT §1): an item's own and those of the menu groups it sits in.
Available means offered to ordering partners (integrations using the orders API, which is
what we are: `visibility` holds ORDERING_PARTNERS, or the deprecated GRUBHUB it replaced) and
not out of stock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .fields import text as _text
from .menu import Category, Menu, MenuItem, MenuModifier, MenuVariation, ModifierList
from .money import cents
from .toast_orders import ToastMenuIndex

Json = dict[str, Any]

PARTNER_VISIBILITY = frozenset({"ORDERING_PARTNERS", "GRUBHUB"})


def visible(entity: Json) -> bool:
    """Whether Toast shows this menu entity to ordering partners (yes when it does not say)."""
    shown = entity.get("visibility")
    return not isinstance(shown, list) or not PARTNER_VISIBILITY.isdisjoint(shown)


def tax_included(item: Json) -> bool | None:
    """Whether the item's price includes tax; Toast: treat SMART_TAX as not included online."""
    mode = item.get("taxInclusion")
    if mode == "TAX_INCLUDED":
        return True
    if mode in ("TAX_NOT_INCLUDED", "SMART_TAX"):
        return False
    return None


def out_of_stock(entries: Any) -> frozenset[str]:
    """The GUIDs the stock API's inventory says cannot be ordered (items, option references)."""
    gone = set()
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("guid"), str):
            continue
        left = entry.get("quantity")
        emptied = entry.get("status") == "QUANTITY" and isinstance(left, int | float) and left <= 0
        if entry.get("status") == "OUT_OF_STOCK" or emptied:
            gone.add(entry["guid"])
    return frozenset(gone)


def with_stock(menu: Menu, gone: frozenset[str]) -> Menu:
    """The menu with the items and modifiers out of stock marked unavailable."""
    if not gone:
        return menu
    items = tuple(
        dataclasses.replace(i, available=False) if i.id in gone and i.available else i
        for i in menu.items
    )
    lists = tuple(
        dataclasses.replace(
            ml,
            modifiers=tuple(
                dataclasses.replace(m, available=False) if m.id in gone else m for m in ml.modifiers
            ),
        )
        if any(m.id in gone and m.available for m in ml.modifiers)
        else ml
        for ml in menu.modifier_lists
    )
    return dataclasses.replace(menu, items=items, modifier_lists=lists)


def _image(entity: Json) -> str | None:
    if _text(entity, "image"):
        return _text(entity, "image")
    return next((i for i in entity.get("images") or [] if isinstance(i, str) and i), None)


def _tags(entity: Json) -> list[str]:
    tags = [t.get("name") for t in entity.get("itemTags") or [] if isinstance(t, dict)]
    return [t for t in tags if isinstance(t, str) and t]


def _refs(entity: Json, guids: dict[str, str]) -> tuple[str, ...]:
    found = (guids.get(str(r)) for r in entity.get("modifierGroupReferences") or [])
    return tuple(dict.fromkeys(g for g in found if g is not None))


@dataclass
class _Seen:
    """An item met in one or more menu groups: what the later ones add."""

    item: Json  # the first occurrence's fields we keep (small)
    groups: tuple[str, ...]
    categories: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    shown: bool = False


class _Reader:
    """One pass over a menus document, keeping only the normalized records."""

    def __init__(self, doc: Json) -> None:
        group_refs = doc.get("modifierGroupReferences") or {}
        self.options = doc.get("modifierOptionReferences") or {}
        self.group_guids = {
            str(ref): g["guid"]
            for ref, g in group_refs.items()
            if isinstance(g, dict) and isinstance(g.get("guid"), str)
        }
        self.lists: dict[str, ModifierList] = {}
        self.option_groups: dict[str, list[str]] = {}
        for ref, group in group_refs.items():
            if str(ref) in self.group_guids:
                self._modifier_list(group)
        self.categories: dict[str, Category] = {}
        self.items: dict[str, _Seen] = {}
        self.item_group: dict[str, str] = {}
        for menu in doc.get("menus") or []:
            if isinstance(menu, dict):
                self._groups(menu.get("menuGroups"), [], shown=visible(menu))

    def _modifier_list(self, group: Json) -> None:
        guid = group["guid"]
        if guid in self.lists:
            return
        shown = visible(group)
        modifiers = []
        for ref in group.get("modifierOptionReferences") or []:
            option = self.options.get(str(ref))
            if not isinstance(option, dict) or not isinstance(option.get("guid"), str):
                continue
            # GROUP_PRICE, SIZE_PRICE and sequence prices need the group's rules: priced 0
            modifiers.append(
                MenuModifier(
                    option["guid"],
                    _text(option, "name"),
                    cents(option.get("price")) or 0,
                    available=shown and visible(option),
                    modifier_list_ids=_refs(option, self.group_guids),
                )
            )
            self.option_groups.setdefault(option["guid"], []).append(guid)
        minimum = group.get("minSelections")
        minimum = minimum if isinstance(minimum, int) else 0
        if group.get("requiredMode") == "REQUIRED":
            minimum = max(minimum, 1)
        maximum = group.get("maxSelections")
        if group.get("isMultiSelect") is False:
            maximum = 1  # Toast enforces it
        self.lists[guid] = ModifierList(
            guid,
            _text(group, "name"),
            tuple(modifiers),
            min_selected=minimum,
            max_selected=maximum if isinstance(maximum, int) else None,
        )

    def _groups(self, groups: Any, tags: list[str], *, shown: bool) -> None:
        for group in groups if isinstance(groups, list) else []:
            guid = group.get("guid") if isinstance(group, dict) else None
            if not isinstance(guid, str):
                continue
            self.categories.setdefault(guid, Category(guid, _text(group, "name")))
            inherited = [*tags, *_tags(group)]
            here = shown and visible(group)
            for item in group.get("menuItems") or []:
                if isinstance(item, dict) and isinstance(item.get("guid"), str):
                    self._item(item, guid, inherited, shown=here)
            self._groups(group.get("menuGroups"), inherited, shown=here)

    def _item(self, item: Json, group: str, tags: list[str], *, shown: bool) -> None:
        guid = item["guid"]
        seen = self.items.get(guid)
        if seen is None:
            kept = {
                k: item.get(k)
                for k in ("name", "description", "price", "pricingStrategy", "taxInclusion")
            }
            rules = item.get("pricingRules")
            kept["size"] = rules.get("sizeSpecificPricingGuid") if isinstance(rules, dict) else None
            kept["image"] = _image(item)
            seen = self.items[guid] = _Seen(kept, _refs(item, self.group_guids))
            self.item_group[guid] = group
        if group not in seen.categories:
            seen.categories.append(group)
        for tag in [*tags, *_tags(item)]:
            if tag not in seen.labels:
                seen.labels.append(tag)
        # an item shown to partners anywhere (menu, groups and itself) is offered
        seen.shown = seen.shown or (shown and visible(item))

    def menu_item(self, guid: str, seen: _Seen) -> MenuItem:
        item = seen.item
        price = cents(item["price"])
        sized = item["pricingStrategy"] == "SIZE_PRICE" and item["size"] in seen.groups
        if price is None and sized:
            price = 0  # the required size group's options carry the whole price
        name = _text(item, "name")
        return MenuItem(
            guid,
            name,
            tuple(seen.categories),
            (MenuVariation(guid, name, price),),
            seen.groups,
            description=_text(item, "description"),
            labels=tuple(seen.labels),
            image_url=item["image"],
            available=seen.shown,
            tax_included=tax_included(item),
        )


def read_menus(doc: Json) -> tuple[Menu, ToastMenuIndex]:
    """Normalize a /menus/v2/menus document (stock aside: see `with_stock`)."""
    reader = _Reader(doc)
    menu = Menu(
        tuple(reader.menu_item(guid, seen) for guid, seen in reader.items.items()),
        tuple(reader.lists.values()),
        tuple(reader.categories.values()),
        currency=None,  # the menus API does not say; prices are in the restaurant's currency
    )
    index = ToastMenuIndex(
        reader.item_group,
        {k: tuple(v) for k, v in reader.option_groups.items()},
        {guid: seen.groups for guid, seen in reader.items.items()},
    )
    return menu, index
