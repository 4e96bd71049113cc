"""The POS links summary: which ids of recent orders the current menu does not know.

For the orders placed in the last N days, each order line (`pos_id` of an item), modifier
group (`group` of a modifier, matched against the groups' ids and names) and modifier
(`pos_id` of a modifier) the menu does not know, with how many orders it broke and when it
was last seen. Lines with no `pos_id` at all name nothing to link: they are counted apart.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from edge.ids import utc_now_rfc3339
from edge.pos.menu import Menu

DAY_S = 86400.0


class LinkKind(StrEnum):
    """What an unknown id was given for."""

    ITEM = "item"
    MODIFIER_GROUP = "modifier_group"
    MODIFIER = "modifier"


@dataclass
class Unlinked:
    """One id the menu does not know."""

    kind: LinkKind
    pos_id: str
    name: str
    orders: int
    last_seen: float
    partners: set[str] = field(default_factory=set)

    def document(self) -> dict[str, Any]:
        """As in `menu.synced` and `edge pos links --json`."""
        return {
            "kind": self.kind.value,
            "pos_id": self.pos_id,
            "name": self.name,
            "orders": self.orders,
            "last_seen": utc_now_rfc3339(self.last_seen),
            "partners": sorted(self.partners),
        }


@dataclass(frozen=True)
class LinksSummary:
    """What a week of orders says about the menu's links."""

    days: int
    orders: int  # orders looked at
    unlinked: tuple[Unlinked, ...]  # most orders first
    without_pos_id: int  # orders with at least one line or modifier carrying no pos_id

    def document(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-ready; `limit` bounds the list (an event stays small), the total is kept."""
        shown = self.unlinked if limit is None else self.unlinked[:limit]
        return {
            "days": self.days,
            "orders": self.orders,
            "unlinked": [u.document() for u in shown],
            "unlinked_total": len(self.unlinked),
            "orders_without_pos_id": self.without_pos_id,
        }


class _Known:
    def __init__(self, menu: Menu) -> None:
        self.variations = menu.variation_ids()
        self.modifiers = menu.modifier_ids()
        self.groups = {ml.id for ml in menu.modifier_lists} | {
            ml.name.strip().casefold() for ml in menu.modifier_lists
        }

    def group_known(self, group: str) -> bool:
        return group in self.groups or group.strip().casefold() in self.groups


def _unknown_ids(doc: dict[str, Any], known: _Known) -> Iterator[tuple[LinkKind, str, str]]:
    """(kind, id, name) of every unknown id in one order; ("", "", "") for a missing pos_id."""
    for item in doc.get("items") or ():
        pos_id = item.get("pos_id")
        if pos_id is None:
            yield LinkKind.ITEM, "", ""
        elif pos_id not in known.variations:
            yield LinkKind.ITEM, pos_id, item.get("name") or ""
        for mod in item.get("modifiers") or ():
            group = mod.get("group")
            if group and not known.group_known(group):
                yield LinkKind.MODIFIER_GROUP, group, group
            mod_id = mod.get("pos_id")
            if mod_id is None:
                yield LinkKind.MODIFIER, "", ""
            elif mod_id not in known.modifiers:
                yield LinkKind.MODIFIER, mod_id, mod.get("name") or ""


def placed_at(doc: dict[str, Any], received_at: float) -> float:
    """When the order was placed (its `placed_at`), else when we received it."""
    try:
        return datetime.fromisoformat(doc["placed_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return received_at


def summarize(
    conn: sqlite3.Connection, menu: Menu, days: int, now: float | None = None
) -> LinksSummary:
    """The links summary of the orders placed in the last `days` days."""
    since = (time.time() if now is None else now) - days * DAY_S
    known = _Known(menu)
    found: dict[tuple[LinkKind, str], Unlinked] = {}
    looked = without = 0
    # An order is received after it is placed: what was received before the window (allowing
    # a day of clock skew) was placed before it too. An order placed long ago and received
    # now (re-sent by the cloud) is left out by its own placed_at.
    rows = conn.execute(
        "SELECT payload, received_at, partner FROM orders WHERE received_at >= ?"
        " ORDER BY received_at",
        (since - DAY_S,),
    )
    for payload, received_at, partner in rows:
        doc = json.loads(payload)
        when = placed_at(doc, received_at)
        if when < since:
            continue
        looked += 1
        seen: set[tuple[LinkKind, str]] = set()
        missing = False
        for kind, pos_id, name in _unknown_ids(doc, known):
            if not pos_id:
                missing = True
                continue
            key = (kind, pos_id)
            entry = found.get(key)
            if entry is None:
                entry = found[key] = Unlinked(kind, pos_id, name, 0, when)
            if key not in seen:
                seen.add(key)
                entry.orders += 1
            if when >= entry.last_seen:
                entry.name = name or entry.name
                entry.last_seen = when
            entry.partners.add(partner)
        without += missing
    ranked = sorted(found.values(), key=lambda u: (-u.orders, -u.last_seen, u.kind, u.pos_id))
    return LinksSummary(days, looked, tuple(ranked), without)
