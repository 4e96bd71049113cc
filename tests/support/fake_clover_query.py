"""Clover's list conventions for the fake: `filter=`, `expand=`, limit/offset pages, {elements}
envelopes (clover-facts.md §3), and the inventory objects with their expansions (§6.8):
items, categories, modifier groups, modifiers, tags and item groups."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.support.clover_inventory import UPDATED_MS, Inventory
from tests.support.fake_clover_orders import NESTED_CAP

Json = dict[str, Any]
MAX_EXPANDS = 3
_FILTER = re.compile(r"^(?P<field>[A-Za-z0-9.]+)(?P<op>!=|>=|<=|=|>|<)(?P<value>.*)$")
_IN = re.compile(r"^(?P<field>[A-Za-z0-9.]+) in \((?P<values>.*)\)$")

# filter field -> path in the fully expanded object (where the names differ)
ALIASES: dict[str, dict[str, str]] = {
    "items": {"modifierGroup.id": "modifierGroups.id", "option.id": "options.id",
              "item.id": "id", "itemCode": "code"},
    "modifier_groups": {"item.id": "items.id"},
    "orders": {"orderType": "orderType.id"},
}  # fmt: skip


class Filter:
    """One `filter=` value: <field><op><value>, or `<field> in ('A','B')`."""

    def __init__(self, text: str, aliases: dict[str, str] | None = None) -> None:
        if m := _IN.match(text):
            self.field, self.op = m["field"], "in"
            self.values = [v.strip().strip("'\"") for v in m["values"].split(",")]
        elif m := _FILTER.match(text):
            self.field, self.op, self.values = m["field"], m["op"], [m["value"]]
        else:
            raise ValueError(f"unreadable filter {text!r}")
        self.path = (aliases or {}).get(self.field, self.field)

    def matches(self, obj: Json) -> bool:
        """Whether the object passes (string comparisons exact and case-sensitive: our judgment)."""
        found = lookup(obj, self.path)
        if self.op == "!=":
            return all(not _compare(v, "=", self.values[0]) for v in found)
        if self.op == "in":
            return any(_compare(v, "=", w) for v in found for w in self.values)
        return any(_compare(v, self.op, self.values[0]) for v in found)


def lookup(obj: Any, path: str) -> list[Any]:
    """The values at a dotted path, through {elements} wrappers and lists (a reference: its id)."""
    nodes = [obj]
    for part in path.split("."):
        following: list[Any] = []
        for node in nodes:
            value = node.get(part) if isinstance(node, dict) else None
            if isinstance(value, dict) and "elements" in value:
                following += value["elements"]
            elif isinstance(value, list):
                following += value
            elif value is not None:
                following.append(value)
        nodes = following
    return [n.get("id") if isinstance(n, dict) else n for n in nodes]


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if isinstance(actual, bool):
        left: Any = "true" if actual else "false"
        right: Any = wanted.lower()
    elif isinstance(actual, int):
        try:
            left, right = actual, int(wanted)
        except ValueError:
            return False
    else:
        left, right = str(actual), wanted
    if op == "=":
        return bool(left == right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)


def expansions(values: list[str]) -> set[str]:
    """The fields named by repeated and comma-separated `expand=` values; more than three is
    refused (ValueError): Clover says "at most three", the 400 is our judgment."""
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    if len(names) > MAX_EXPANDS:
        raise ValueError(f"{len(names)} expansions {sorted(names)}: Clover allows at most three")
    return names


def page(elements: list[Json], limit: int, offset: int, href: str) -> Json:
    """One page in Clover's envelope (no total, no next link: a short page is the last)."""
    suffix = f"?limit={limit}" + (f"&offset={offset}" if offset else "")
    return {"elements": elements[offset : offset + limit], "href": href + suffix}


def _capped(elements: list[Json], cap: int | None) -> Json:
    return {"elements": elements if cap is None else elements[:cap]}


def render_item(inv: Inventory, item_id: str, expand: set[str], base: str, cap: int | None) -> Json:
    """An item with the asked expansions ({elements}, `cap` each); itemGroup stays a reference."""
    item = copy.deepcopy(inv.items[item_id])
    item["href"] = f"{base}/items/{item_id}"
    if "categories" in expand:
        cats = [render_category(inv, c, set(), base, cap) for c in inv.item_categories[item_id]]
        item["categories"] = _capped(cats, cap)
    if "tags" in expand:
        tags = [render_tag(inv, t, set(), base, cap) for t in inv.item_tags[item_id]]
        item["tags"] = _capped(tags, cap)
    if "modifierGroups" in expand:
        groups = [render_group(inv, g, set(), base, cap) for g in inv.item_modifier_groups[item_id]]
        item["modifierGroups"] = _capped(groups, cap)
    if "taxRates" in expand:
        rates = [copy.deepcopy(r) for r in inv.tax_rates.values() if r.get("isDefault")]
        item["taxRates"] = _capped(rates if item.get("defaultTaxRates") else [], cap)
    if "options" in expand:
        opts = [copy.deepcopy(inv.options[o]) for o in inv.item_options.get(item_id, [])]
        item["options"] = _capped(opts, cap)
    if "itemStock" in expand:  # our judgment: no stock tracking in the fake
        item["itemStock"] = {"item": {"id": item_id}, "quantity": 0}
    return item


def render_category(
    inv: Inventory, cat_id: str, expand: set[str], base: str, cap: int | None
) -> Json:
    """A category; modifiedTime only with expand=items (clover-facts.md §6.8)."""
    cat = copy.deepcopy(inv.categories[cat_id])
    cat["href"] = f"{base}/categories/{cat_id}"
    if "items" in expand:
        ids = [i for i, cats in inv.item_categories.items() if cat_id in cats]
        cat["items"] = _capped([render_item(inv, i, set(), base, cap) for i in ids], cap)
        cat["modifiedTime"] = UPDATED_MS
    return cat


def render_group(
    inv: Inventory, group_id: str, expand: set[str], base: str, cap: int | None
) -> Json:
    """A modifier group; modifiers in the group's display order (modifierIds)."""
    group = copy.deepcopy(inv.modifier_groups[group_id])
    group["href"] = f"{base}/modifier_groups/{group_id}"
    if "modifiers" in expand:
        mods = [copy.deepcopy(inv.modifiers[m]) for m in group["modifierIds"].split(",")]
        group["modifiers"] = _capped(mods, cap)
    if "items" in expand:
        items = [render_item(inv, i, set(), base, cap) for i in inv.group_items(group_id)]
        group["items"] = _capped(items, cap)
    return group


def render_tag(inv: Inventory, tag_id: str, expand: set[str], base: str, cap: int | None) -> Json:
    """A tag (item label); the fake has no printers."""
    tag = copy.deepcopy(inv.tags[tag_id])
    tag["href"] = f"{base}/tags/{tag_id}"
    if "items" in expand:
        ids = [i for i, tags in inv.item_tags.items() if tag_id in tags]
        tag["items"] = _capped([render_item(inv, i, set(), base, cap) for i in ids], cap)
    if "printers" in expand:
        tag["printers"] = {"elements": []}
    return tag


def render_modifier(
    inv: Inventory, mod_id: str, expand: set[str], base: str, cap: int | None
) -> Json:
    """A modifier with its group's reference (GET /modifiers expands nothing)."""
    mod = copy.deepcopy(inv.modifiers[mod_id])
    mod["href"] = f"{base}/modifiers/{mod_id}"
    return mod


def render_item_group(
    inv: Inventory, group_id: str, expand: set[str], base: str, cap: int | None
) -> Json:
    """An item group (variants); its attributes and items when expanded."""
    group = copy.deepcopy(inv.item_groups[group_id])
    group["href"] = f"{base}/item_groups/{group_id}"
    if "attributes" in expand:
        attributes = [
            {**copy.deepcopy(a), "href": f"{base}/attributes/{a['id']}"}
            for a in inv.attributes.values()
            if a["itemGroup"]["id"] == group_id
        ]
        group["attributes"] = _capped(attributes, cap)
    if "items" in expand:
        ids = [
            i
            for i, item in inv.items.items()
            if (item.get("itemGroup") or {}).get("id") == group_id
        ]
        group["items"] = _capped([render_item(inv, i, set(), base, cap) for i in ids], cap)
    return group


ALL_EXPANDS = {
    "items": {"categories", "tags", "modifierGroups", "taxRates", "options"},
    "categories": {"items"},
    "modifier_groups": {"modifiers", "items"},
    "tags": {"items"},
    "modifiers": set(),
    "item_groups": {"attributes", "items"},
}
RENDER = {
    "items": render_item,
    "categories": render_category,
    "modifier_groups": render_group,
    "tags": render_tag,
    "modifiers": render_modifier,
    "item_groups": render_item_group,
}
ALLOWED_FILTERS = {  # for the X-Clover-Allowed-Filter-Fields header
    "items": "modifiedTime,hidden,itemCode,available,option.id,modifierGroup.id,autoManage,price,"
    "id,sku,defaultTaxRates,tags.id,alternateName,isRevenue,tags.name,deleted,item.id,name,"
    "itemStock.quantity,itemGroup.id",
    "categories": "modifiedTime,deleted,sortOrder,name,colorCode,id",
    "modifier_groups": "modifiedTime,category.id,negativeSortOrder,item.id,sortOrder,name,id,"
    "showByDefault",
    "tags": "id,name",
    "modifiers": "id",  # our judgment: the facts list none
    "item_groups": "id",  # our judgment: the facts list none
    "order_types": "id,deletedTime",
    "tenders": "modifiedTime,visible,merchantId,instruction,systemTenderId,label,id,labelKey,"
    "opensCashDrawer,deletedTime,enabled",
    "orders": "employee.id,note,modifiedTime,orderType,touched,cardTransaction.last4,"
    "manualTransaction,employee.name,title,device.id,externalReferenceId,clientCreatedTime,total,"
    "payType,testMode,createdTime,id,state,deletedTime",
}


def inventory_list(
    inv: Inventory,
    kind: str,
    *,
    filters: list[str],
    expand: set[str],
    order_by: str | None,
    base: str,
) -> list[Json]:
    """Every object of one inventory endpoint that passes the filters, rendered with `expand`
    (nested collections capped at 100); filters see the complete, fully expanded object."""
    ids = {
        "items": list(inv.items),
        "categories": sorted(inv.categories, key=lambda c: inv.categories[c]["sortOrder"]),
        "modifier_groups": list(inv.modifier_groups),
        "tags": list(inv.tags),
        "modifiers": list(inv.modifiers),
        "item_groups": list(inv.item_groups),
    }[kind]
    render = RENDER[kind]
    checks = [Filter(f, ALIASES.get(kind)) for f in filters]
    full = [render(inv, i, ALL_EXPANDS[kind], base, None) for i in ids]
    kept = [obj["id"] for obj in full if all(c.matches(obj) for c in checks)]
    if order_by:
        field, _, direction = order_by.partition(" ")
        kept.sort(key=lambda i: inv.items[i][field], reverse=direction == "DESC")
    return [render(inv, i, expand, base, NESTED_CAP) for i in kept]
