"""Clover's inventory read page by page and normalized (clover-facts.md §3, §6.8).

Every list is paged with `limit`/`offset` (at most 1000 a page); Clover's envelope carries no
total and no next link, so the first page shorter than `limit` is the last. Expanded (nested)
collections stop at 100 elements and cannot be paged: the item's tags, categories and
modifier groups come expanded (three expansions, Clover's maximum a call), but the modifiers
are read from `/modifiers`, not expanded under their groups, so no group loses any.

- Labels are the item's tags (CONTRACT §1: "item labels are identified as tags").
- An item may sit in several categories; categories come in `sortOrder`.
- Modifier groups keep `minRequired`/`maxAllowed` (0: no upper bound); their modifiers come
  in the group's display order (`modifierIds`). Clover has no nested modifier groups and no
  per-item rules.
- Variations: Clover's item groups. Each variant is an item of its own, with its own id (what
  an order line names) and a name the server builds from the group's and the options' names
  (format undocumented, never parsed). The items of one group become one MenuItem named
  after the group (its id is the group's), each variant a variation named after its options
  ("Grande"), in the group's attribute order. An item outside any group is one MenuItem with
  one variation carrying its own id.
- Not offered (`available` false): an item out of stock (`available`), hidden from the
  register (`hidden`), or not revenue (`isRevenue` false: gift cards, donations, staff
  meals); a modifier out of stock.
- VARIABLE and PER_UNIT items are priced at the till (price None).
- Clover's inventory has no descriptions, images, online status or tax inclusion (whether
  prices include VAT is a merchant setting, `isVat`, that only checkouts report), and no
  currency: those stay empty.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .base import PosTransientError
from .fields import text as _text
from .http import VendorRejectedError
from .menu import Category, Menu, MenuItem, MenuModifier, MenuVariation, ModifierList, ModifierRule
from .paging import PageReader

log = logging.getLogger(__name__)

Json = dict[str, Any]
Call = Callable[..., Awaitable[Any]]  # CloverConnector._call(method, tail, *, params=...)

PAGE_MAX = 1000  # Clover's largest page
NESTED_CAP = 100  # an expanded collection stops there (clover-facts.md §3)
MAX_OBJECTS = 500_000  # per list: past it, the server is taken to ignore `offset`
ITEM_EXPANSIONS = "tags,categories,modifierGroups"
FIXED = "FIXED"
OPTION_SEPARATOR = ", "


def elements(value: Any) -> list[Json]:
    """The objects of a Clover list or expansion ({"elements": [...]}); none when absent."""
    if isinstance(value, dict):
        value = value.get("elements")
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _ids(value: Any) -> list[str]:
    return [e["id"] for e in elements(value) if isinstance(e.get("id"), str) and e["id"]]


def _id(obj: Json) -> str | None:
    value = obj.get("id")
    return value if isinstance(value, str) and value else None


def offered(item: Json) -> bool:
    """Whether the item may be sold: in stock, shown on the register, and revenue."""
    return (
        item.get("available") is not False
        and item.get("hidden") is not True
        and item.get("isRevenue") is not False
    )


def price_of(item: Json) -> int | None:
    """The item's price in cents; None when it is set at the till (VARIABLE, PER_UNIT)."""
    price = item.get("price")
    if item.get("priceType", FIXED) != FIXED or not isinstance(price, int):
        return None
    return price


@dataclass(frozen=True, slots=True)
class _Group:
    """A modifier group as listed, waiting for its modifiers."""

    name: str
    low: int
    high: int | None
    order: tuple[str, ...]  # modifierIds: the display order


def modifier_group(obj: Json) -> _Group:
    """A listed modifier group's rules and display order."""
    low = obj.get("minRequired")
    high = obj.get("maxAllowed")
    order = [m for m in _text(obj, "modifierIds").split(",") if m]
    return _Group(
        _text(obj, "name"),
        low if isinstance(low, int) and low > 0 else 0,
        high if isinstance(high, int) and high > 0 else None,  # 0 or absent: no upper bound
        tuple(order),
    )


def modifier(obj: Json) -> MenuModifier:
    """A listed modifier (its group is `obj["modifierGroup"]["id"]`)."""
    price = obj.get("price")
    return MenuModifier(
        obj["id"],
        _text(obj, "name"),
        price if isinstance(price, int) else 0,
        available=obj.get("available") is not False,
    )


def modifier_lists(
    groups: dict[str, _Group], mods: dict[str, dict[str, MenuModifier]]
) -> tuple[ModifierList, ...]:
    """The groups with their modifiers in display order (those it does not name, after)."""
    lists = []
    for group_id, group in groups.items():
        mine = mods.get(group_id, {})
        ordered = [mine[m] for m in group.order if m in mine]
        ordered += [m for m_id, m in mine.items() if m_id not in group.order]
        lists.append(ModifierList(group_id, group.name, tuple(ordered), group.low, group.high))
    return tuple(lists)


def single_item(obj: Json, categories: set[str], lists: set[str]) -> MenuItem:
    """An item with its tags, known categories and known groups; one variation, its own id."""
    name = _text(obj, "name")
    tags = (_text(t, "name") for t in elements(obj.get("tags")))
    return MenuItem(
        obj["id"],
        name,
        tuple(c for c in _ids(obj.get("categories")) if c in categories),
        (MenuVariation(obj["id"], name, price_of(obj)),),
        tuple(g for g in _ids(obj.get("modifierGroups")) if g in lists),
        labels=tuple(dict.fromkeys(t for t in tags if t)),
        available=offered(obj),
    )


def variant_group(group_id: str, name: str, variants: list[tuple[MenuItem, str]]) -> MenuItem:
    """The items of one item group as one item, each variant a variation named by its options.

    Categories, labels and modifier groups are those of any variant; a group some variants
    do not offer is not required of the item (a per-item rule with no minimum), so that an
    order of another variant is never refused for it.
    """
    categories: dict[str, None] = {}
    labels: dict[str, None] = {}
    groups: dict[str, int] = {}
    variations = []
    for item, options in variants:
        categories.update(dict.fromkeys(item.category_ids))
        labels.update(dict.fromkeys(item.labels))
        for g in item.modifier_list_ids:
            groups[g] = groups.get(g, 0) + 1
        variation = item.variations[0]
        variations.append(replace(variation, name=options or item.name, available=item.available))
    partial = tuple(ModifierRule(g, min_selected=0) for g, n in groups.items() if n < len(variants))
    return MenuItem(
        group_id,
        name or variants[0][0].name,
        tuple(categories),
        tuple(variations),
        tuple(groups),
        labels=tuple(labels),
        available=any(v.available for v in variations),
        modifier_rules=partial,
    )


@dataclass
class _Slots:
    """Items in listing order; an item group takes the place of its first variant."""

    order: list[MenuItem | str] = field(default_factory=list)
    variants: dict[str, list[tuple[MenuItem, str]]] = field(default_factory=dict)

    def add(self, item: MenuItem) -> None:
        self.order.append(item)

    def add_variant(self, group_id: str, item: MenuItem, options: str) -> None:
        if group_id not in self.variants:
            self.variants[group_id] = []
            self.order.append(group_id)
        self.variants[group_id].append((item, options))

    def items(self, group_names: dict[str, str]) -> tuple[MenuItem, ...]:
        return tuple(
            slot
            if isinstance(slot, MenuItem)
            else variant_group(slot, group_names.get(slot, ""), self.variants[slot])
            for slot in self.order
        )


class CloverMenuReader:
    """One read of a merchant's inventory, every page through `pages`."""

    def __init__(self, call: Call, pages: PageReader, page_size: int = PAGE_MAX) -> None:
        self._call = call
        self._pages = pages
        self._size = max(1, min(page_size, PAGE_MAX))
        self._capped: set[str] = set()

    async def read(self) -> Menu:
        """The whole menu: categories, modifier groups, modifiers, item groups, then items."""
        categories: dict[str, Category] = {}
        async for page in self._list("/categories", [], "categories"):
            for obj in page:
                if _id(obj) and obj.get("deleted") is not True:
                    categories.setdefault(obj["id"], Category(obj["id"], _text(obj, "name")))
        groups: dict[str, _Group] = {}
        async for page in self._list("/modifier_groups", [], "modifier groups"):
            for obj in page:
                if _id(obj):
                    groups.setdefault(obj["id"], modifier_group(obj))
        mods: dict[str, dict[str, MenuModifier]] = {}
        async for page in self._list("/modifiers", [], "modifiers"):
            for obj in page:
                group_id = _id(obj.get("modifierGroup") or {})
                if _id(obj) and group_id in groups:
                    mods.setdefault(group_id, {}).setdefault(obj["id"], modifier(obj))
        lists = modifier_lists(groups, mods)
        del groups, mods
        group_names, options = await self._variants()
        slots = _Slots()
        known_categories, known_lists = set(categories), {ml.id for ml in lists}
        async for page in self._list("/items", [("expand", ITEM_EXPANSIONS)], "items"):
            for obj in page:
                if not _id(obj) or obj.get("deleted") is True:
                    continue
                self._check_cap(obj, ("tags", "categories", "modifierGroups"))
                item = single_item(obj, known_categories, known_lists)
                group_id = _id(obj.get("itemGroup") or {})
                if group_id is None:
                    slots.add(item)
                else:
                    slots.add_variant(group_id, item, options.get(item.id, ""))
        return Menu(slots.items(group_names), lists, tuple(categories.values()), currency=None)

    async def _variants(self) -> tuple[dict[str, str], dict[str, str]]:
        """Item group names, and each variant's option names in its group's attribute order;
        the items are listed for their options only when the merchant has item groups.

        A Clover that refuses item groups (4xx: a plan or environment without them) gives a
        menu whose variants are items of their own, said in the log."""
        try:
            return await self._read_variants()
        except VendorRejectedError as err:
            log.warning(
                "Clover refused the item groups (%s): variants are read as items of their own",
                err.reason,
            )
            return {}, {}

    async def _read_variants(self) -> tuple[dict[str, str], dict[str, str]]:
        names: dict[str, str] = {}
        attributes: dict[str, list[str]] = {}
        async for page in self._list("/item_groups", [("expand", "attributes")], "item groups"):
            for obj in page:
                if _id(obj):
                    names.setdefault(obj["id"], _text(obj, "name"))
                    attributes[obj["id"]] = _ids(obj.get("attributes"))
        options: dict[str, str] = {}
        if not names:
            return names, options
        async for page in self._list("/items", [("expand", "options")], "item options"):
            for obj in page:
                group_id = _id(obj.get("itemGroup") or {})
                if not _id(obj) or group_id is None:
                    continue
                rank = {a: n for n, a in enumerate(attributes.get(group_id, []))}
                chosen = sorted(
                    elements(obj.get("options")),
                    key=lambda o: rank.get(_id(o.get("attribute") or {}) or "", len(rank)),
                )
                label = OPTION_SEPARATOR.join(n for n in (_text(o, "name") for o in chosen) if n)
                if label:
                    options[obj["id"]] = label
        return names, options

    def _check_cap(self, obj: Json, keys: tuple[str, ...]) -> None:
        for key in keys:
            if len(elements(obj.get(key))) >= NESTED_CAP and key not in self._capped:
                self._capped.add(key)
                log.warning(
                    "menu: Clover lists at most %d %s of an item (%s has that many):"
                    " any more are not read",
                    NESTED_CAP,
                    key,
                    _text(obj, "name"),
                )

    async def _list(
        self, tail: str, params: list[tuple[str, str]], what: str
    ) -> AsyncIterator[list[Json]]:
        """The pages of one list, each object once (a list that shifts while it is read may
        show an object on two pages)."""
        seen: set[str] = set()
        offset = 0
        number = 0
        while True:
            number += 1
            query = [*params, ("limit", str(self._size)), ("offset", str(offset))]
            fetch = functools.partial(self._page, tail, query)
            listed, count = await self._pages.page(fetch, f"{what} page {number}")
            fresh = [obj for obj in listed if (i := _id(obj)) is None or i not in seen]
            seen.update(i for obj in fresh if (i := _id(obj)) is not None)
            yield fresh
            if count < self._size:
                return
            offset += self._size
            if offset >= MAX_OBJECTS:
                raise PosTransientError(
                    f"Clover lists more than {MAX_OBJECTS} {what}: is `offset` ignored?"
                )

    async def _page(self, tail: str, query: list[tuple[str, str]]) -> tuple[list[Json], int]:
        doc = await self._call("GET", tail, params=query)
        listed = doc.get("elements") if isinstance(doc, dict) else None
        if not isinstance(listed, list):
            raise PosTransientError(f"Clover answered GET {tail} without its elements")
        return [e for e in listed if isinstance(e, dict)], len(listed)
