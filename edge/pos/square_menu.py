"""Square's catalog normalized (Catalog API, ListCatalog), one page at a time.

ListCatalog pages through every object of the requested types with a cursor (100 objects a
page). Items come with their ITEM_VARIATION objects nested (`item_data.variations`) and
modifier lists with their MODIFIER objects (`modifier_list_data.modifiers`), so variations and
modifiers are not requested as objects of their own (that would send each twice); a
standalone ITEM_VARIATION is still read if one comes. An item refers to its categories,
images and taxes by id, and those may come on any page: each page is normalized into small
records as it comes, and the names, image URLs and tax flags are resolved once every page is
in.

- variations: each ITEM_VARIATION is a variation with its own id (what an order line names);
  its price is the location's override if it has one; VARIABLE_PRICING is priced at the till.
- labels (CONTRACT §1): the names of the item's categories, the reporting category included.
- modifier rules: a list's `min/max_selected_modifiers` (-1 or absent: not set; max 0: no
  limit; the deprecated SINGLE selection type: at most one when no max is set), and an item's
  own pair in `modifier_list_info` (both -1: the list's rules; otherwise the item's pair,
  its -1 minimum meaning none required and its 0 or -1 maximum no limit).
- availability: an object is offered where it is present at our location (`present_at_*` /
  `absent_at_location_ids`); an item also when it is not archived and one of its variations is
  available; a variation when it is `sellable` and not sold out at our location; a modifier
  when it is not `hidden_online` and not sold out at our location.
- tax_included: from the item's enabled TAX objects (`inclusion_type`): True when they are all
  INCLUSIVE, False when one is ADDITIVE, None for an item without taxes.
- Square has no nested modifier groups: a modifier never opens another list.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .fields import integer as _int
from .fields import text as _text
from .menu import Category, Menu, MenuItem, MenuModifier, MenuVariation, ModifierList, ModifierRule

Json = dict[str, Any]

# ListCatalog's `types`: variations and modifiers come nested in their item and list.
CATALOG_TYPES = "ITEM,MODIFIER_LIST,CATEGORY,IMAGE,TAX"


def _data(obj: Json, key: str) -> Json:
    data = obj.get(key)
    return data if isinstance(data, dict) else {}


def _price(here: Json, data: Json) -> Any:
    """The location's price where it overrides the object's own."""
    return here["price_money"] if "price_money" in here else data.get("price_money")


def _ids(values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str) and v] if isinstance(values, list) else []


@dataclass(slots=True)
class _Item:
    """An item read from its page; what other pages name is resolved at the end."""

    item: MenuItem  # without its labels, image and tax flag yet
    image_id: str | None
    tax_ids: tuple[str, ...]
    taxable: bool
    # lists whose maximum this item lifts ("no limit"), with the item's `allow_quantities`
    unbounded: tuple[tuple[str, Any], ...]


class CatalogReader:
    """The normalized records of one catalog read: `add` each page, then `menu()`."""

    def __init__(self, location_id: str, now: datetime | None = None) -> None:
        self._location = location_id
        self._now = now or datetime.now(UTC)
        self._items: list[_Item] = []
        self._lists: dict[str, ModifierList] = {}
        self._list_quantities: dict[str, bool] = {}
        self._categories: dict[str, Category] = {}
        self._images: dict[str, str] = {}
        self._taxes: dict[str, str | None] = {}  # id -> inclusion type, None: not applied here
        self._seen_variations: set[str] = set()
        self._loose: dict[str, list[MenuVariation]] = {}  # standalone variations by item id
        self._currencies: set[str] = set()

    def add(self, objects: Any) -> None:
        """Normalize the objects of one ListCatalog page."""
        for obj in objects if isinstance(objects, list) else []:
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                continue
            if obj.get("is_deleted") is True:
                continue
            kind = obj.get("type")
            if kind == "ITEM":
                self._item(obj)
            elif kind == "ITEM_VARIATION":
                item_id = _text(_data(obj, "item_variation_data"), "item_id")
                variation = self._variation(obj)
                if variation is not None:
                    self._loose.setdefault(item_id, []).append(variation)
            elif kind == "MODIFIER_LIST":
                self._modifier_list(obj)
            elif kind == "CATEGORY":
                name = _text(_data(obj, "category_data"), "name")
                self._categories[obj["id"]] = Category(obj["id"], name)
            elif kind == "IMAGE":
                url = _text(_data(obj, "image_data"), "url")
                if url:
                    self._images[obj["id"]] = url
            elif kind == "TAX":
                tax = _data(obj, "tax_data")
                applied = self._present(obj) and tax.get("enabled") is not False
                self._taxes[obj["id"]] = _text(tax, "inclusion_type") if applied else None

    def menu(self) -> Menu:
        """The menu of every page added."""
        items = tuple(self._finish(record) for record in self._items)
        currency = next(iter(self._currencies)) if len(self._currencies) == 1 else None
        return Menu(items, tuple(self._lists.values()), tuple(self._categories.values()), currency)

    # one object at a time

    def _present(self, obj: Json) -> bool:
        """Whether the object is offered at our location (Square: present unless it says)."""
        if obj.get("present_at_all_locations") is False:
            return self._location in _ids(obj.get("present_at_location_ids"))
        return self._location not in _ids(obj.get("absent_at_location_ids"))

    def _here(self, overrides: Any) -> Json:
        """The location override of our location, if the object has one."""
        for override in overrides if isinstance(overrides, list) else []:
            if isinstance(override, dict) and override.get("location_id") == self._location:
                return override
        return {}

    def _sold_out(self, override: Json) -> bool:
        if override.get("sold_out") is not True:
            return False
        until = override.get("sold_out_valid_until")
        if not isinstance(until, str):
            return True
        try:
            back = datetime.fromisoformat(until)
        except ValueError:
            return True
        if back.tzinfo is None:
            back = back.replace(tzinfo=UTC)
        return self._now < back

    def _money(self, money: Any) -> tuple[int | None, str | None]:
        if not isinstance(money, dict):
            return None, None
        currency = money.get("currency") if isinstance(money.get("currency"), str) else None
        amount = _int(money.get("amount"))
        if amount is not None and currency:
            self._currencies.add(currency)
        return amount, currency

    def _variation(self, obj: Json) -> MenuVariation | None:
        if obj["id"] in self._seen_variations or obj.get("is_deleted") is True:
            return None
        self._seen_variations.add(obj["id"])
        data = _data(obj, "item_variation_data")
        here = self._here(data.get("location_overrides"))
        price, currency = self._money(_price(here, data))
        if (here.get("pricing_type") or data.get("pricing_type")) == "VARIABLE_PRICING":
            price = None
        available = (
            self._present(obj) and data.get("sellable") is not False and not self._sold_out(here)
        )
        return MenuVariation(obj["id"], _text(data, "name"), price, currency, available)

    def _modifier_list(self, obj: Json) -> None:
        data = _data(obj, "modifier_list_data")
        offered = self._present(obj)
        modifiers = []
        for mod in data.get("modifiers") or []:
            if not isinstance(mod, dict) or not isinstance(mod.get("id"), str):
                continue
            if mod.get("is_deleted") is True:
                continue
            mod_data = _data(mod, "modifier_data")
            here = self._here(mod_data.get("location_overrides"))
            price, currency = self._money(_price(here, mod_data))
            available = (
                offered
                and self._present(mod)
                and mod_data.get("hidden_online") is not True
                and not self._sold_out(here)
            )
            modifiers.append(
                MenuModifier(mod["id"], _text(mod_data, "name"), price or 0, currency, available)
            )
        low = _int(data.get("min_selected_modifiers"))
        high = _int(data.get("max_selected_modifiers"))
        if high is None or high < 0:  # not set: the deprecated selection type says
            high = 1 if data.get("selection_type") == "SINGLE" else None
        self._lists[obj["id"]] = ModifierList(
            obj["id"],
            _text(data, "name"),
            tuple(modifiers),
            min_selected=low if low is not None and low > 0 else 0,
            max_selected=high or None,
        )
        self._list_quantities[obj["id"]] = data.get("allow_quantities") is True

    def _item(self, obj: Json) -> None:
        data = _data(obj, "item_data")
        categories = [c.get("id") for c in data.get("categories") or [] if isinstance(c, dict)]
        categories.append(_data(data, "reporting_category").get("id"))
        category_ids = _ids(categories) or _ids([data.get("category_id")])
        variations = [
            v
            for v in (
                self._variation(var)
                for var in data.get("variations") or []
                if isinstance(var, dict) and isinstance(var.get("id"), str)
            )
            if v is not None
        ]
        list_ids: list[str] = []
        rules: list[ModifierRule] = []
        unbounded: list[tuple[str, Any]] = []
        for info in data.get("modifier_list_info") or []:
            if not isinstance(info, dict) or info.get("enabled") is False:
                continue
            list_id = info.get("modifier_list_id")
            if not isinstance(list_id, str) or list_id in list_ids:
                continue
            list_ids.append(list_id)
            low = _int(info.get("min_selected_modifiers"))
            high = _int(info.get("max_selected_modifiers"))
            if low in (None, -1) and high in (None, -1):
                continue  # the list's own rules
            if high is None or high <= 0:
                unbounded.append((list_id, info.get("allow_quantities")))
            rules.append(
                ModifierRule(
                    list_id,
                    low if low is not None and low > 0 else 0,
                    high if high is not None and high > 0 else None,
                )
            )
        offered = self._present(obj) and data.get("is_archived") is not True
        item = MenuItem(
            id=obj["id"],
            name=_text(data, "name"),
            category_ids=tuple(dict.fromkeys(category_ids)),
            variations=tuple(variations),
            modifier_list_ids=tuple(list_ids),
            description=_text(data, "description_plaintext") or _text(data, "description"),
            available=offered,
            modifier_rules=tuple(rules),
        )
        images = _ids(data.get("image_ids"))
        self._items.append(
            _Item(
                item,
                images[0] if images else None,
                tuple(_ids(data.get("tax_ids"))),
                data.get("is_taxable") is not False,
                tuple(unbounded),
            )
        )

    # once every page is in

    def _finish(self, record: _Item) -> MenuItem:
        item = record.item
        variations = item.variations + tuple(self._loose.get(item.id, ()))
        category_ids = tuple(c for c in item.category_ids if c in self._categories)
        labels = tuple(dict.fromkeys(self._categories[c].name for c in category_ids))
        return dataclasses.replace(
            item,
            category_ids=category_ids,
            variations=variations,
            labels=tuple(label for label in labels if label),
            image_url=self._images.get(record.image_id) if record.image_id else None,
            available=item.available and (not variations or any(v.available for v in variations)),
            tax_included=self._tax_included(record),
            modifier_rules=self._rules(item.modifier_rules, dict(record.unbounded)),
        )

    def _tax_included(self, record: _Item) -> bool | None:
        if not record.taxable:
            return None
        kinds = [self._taxes.get(t) for t in record.tax_ids]
        applied = [k for k in kinds if k]
        if not applied:
            return None
        return all(k == "INCLUSIVE" for k in applied)

    def _rules(
        self, rules: tuple[ModifierRule, ...], unbounded: dict[str, Any]
    ) -> tuple[ModifierRule, ...]:
        """An item's "no limit" over a list that has one: the model's `None` means the list's
        own maximum, so without quantities the limit is every modifier of the list once."""
        if not unbounded:
            return rules
        resolved = []
        for rule in rules:
            group = self._lists.get(rule.list_id)
            if rule.list_id in unbounded and group is not None and group.max_selected is not None:
                own = self._list_quantities[rule.list_id]
                quantities = {"YES": True, "NO": False}.get(unbounded[rule.list_id], own)
                if not quantities:  # with quantities the model cannot say it: the list's own
                    resolved.append(dataclasses.replace(rule, max_selected=len(group.modifiers)))
                    continue
            resolved.append(rule)
        return tuple(resolved)
