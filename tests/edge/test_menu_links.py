"""The POS links summary of a scripted week of orders: exactly the ids the menu does not know."""

from __future__ import annotations

import json
from pathlib import Path

from edge.db import Database
from edge.ids import utc_now_rfc3339
from edge.menu.links import summarize
from edge.orders.intake import Lifecycle, apply_order
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute
from edge.pos.menu import Category, Menu, MenuItem, MenuModifier, MenuVariation, ModifierList

NOW = 1_800_000_000.0
DAY = 86400.0
LIFE = Lifecycle([PrinterRoute("kitchen", ("kitchen",), (), 1)], release_lead_s=1800.0)

MENU = Menu(
    items=(
        MenuItem("i_burger", "Cheeseburger", ("c",), (MenuVariation("v_burger", "", 1250),), ()),
        MenuItem("i_frites", "Frites", ("c",), (MenuVariation("v_frites", "", 350),), ()),
    ),
    modifier_lists=(
        ModifierList("g_extras", "Extras", (MenuModifier("m_bacon", "Bacon", 150),)),
        ModifierList("g_cuisson", "Cuisson", (MenuModifier("m_rare", "Saignant", 0),)),
    ),
    categories=(Category("c", "Plats"),),
)


def _order(n: int, partner: str, lines: list[dict], placed: float) -> Order:
    items = []
    for i, line in enumerate(lines):
        items.append(
            {
                "id": f"l{i}",
                "name": line.get("name", "x"),
                "quantity": 1,
                "unit_price": 100,
                **({"pos_id": line["pos_id"]} if "pos_id" in line else {}),
                "modifiers": [
                    {"name": m.get("name", "m"), "quantity": 1, "unit_price": 0, **m}
                    for m in line.get("modifiers", [])
                ],
            }
        )
    return Order.model_validate(
        {
            "id": f"ord_{n}",
            "revision": 1,
            "status": "accepted",
            "source": {"partner": partner},
            "type": "delivery",
            "placed_at": utc_now_rfc3339(placed),
            "items": items,
        }
    )


# (days ago placed, partner, lines); received a minute after being placed
WEEK = [
    (8.5, "ubereats", [{"pos_id": "v_gone_long_ago"}]),  # outside the 7 days
    (6.9, "ubereats", [{"pos_id": "v_old_burger", "name": "Burger (old)"}]),
    (5.0, "deliveroo", [{"pos_id": "v_burger", "modifiers": [{"pos_id": "m_cheddar"}]}]),
    (
        3.0,
        "ubereats",
        [
            {"pos_id": "v_old_burger", "name": "Burger"},
            {"pos_id": "v_old_burger", "name": "Burger"},  # twice in one order: one order
            {"pos_id": "v_frites", "modifiers": [{"pos_id": "m_bacon", "group": "Extras"}]},
        ],
    ),
    (
        1.0,
        "deliveroo",
        [{"pos_id": "v_burger", "modifiers": [{"pos_id": "m_rare", "group": "Temperature"}]}],
    ),
    (0.5, "website", [{"name": "Menu du jour"}, {"pos_id": "v_frites"}]),  # no pos_id at all
    (0.1, "website", [{"pos_id": "v_burger", "modifiers": [{"pos_id": "m_cheddar"}]}]),
]


async def _week(tmp_path: Path) -> Database:
    db = Database(tmp_path / "edge.db")
    await db.open()

    def store(conn) -> None:
        for n, (days_ago, partner, lines) in enumerate(WEEK):
            placed = NOW - days_ago * DAY
            order = _order(n, partner, lines, placed)
            apply_order(conn, order, order.model_dump_json(), LIFE, now=placed + 60)
        # placed 9 days ago, re-sent by the cloud and received only now: not of the week
        late = _order(99, "ubereats", [{"pos_id": "v_placed_long_ago"}], NOW - 9 * DAY)
        apply_order(conn, late, late.model_dump_json(), LIFE, now=NOW - 10)

    await db.write(store)
    return db


async def test_the_summary_lists_exactly_the_unknown_ids_of_the_week(tmp_path: Path) -> None:
    db = await _week(tmp_path)
    try:
        summary = await db.read(lambda c: summarize(c, MENU, 7, now=NOW))
    finally:
        await db.close()
    found = {(u.kind.value, u.pos_id): u.document() for u in summary.unlinked}
    assert set(found) == {
        ("item", "v_old_burger"),
        ("modifier", "m_cheddar"),
        ("modifier_group", "Temperature"),
    }
    old = found[("item", "v_old_burger")]
    assert (old["orders"], old["name"], old["partners"]) == (2, "Burger", ["ubereats"])
    assert old["last_seen"] == utc_now_rfc3339(NOW - 3 * DAY)
    cheddar = found[("modifier", "m_cheddar")]
    assert (cheddar["orders"], cheddar["partners"]) == (2, ["deliveroo", "website"])
    assert cheddar["last_seen"] == utc_now_rfc3339(NOW - 0.1 * DAY)
    assert summary.orders == 6
    assert summary.without_pos_id == 1
    assert summary.unlinked[0].orders == 2  # most orders first
    doc = summary.document(limit=1)
    assert (len(doc["unlinked"]), doc["unlinked_total"]) == (1, 3)


async def test_a_menu_that_knows_everything_leaves_nothing(tmp_path: Path) -> None:
    full = Menu(
        items=(
            *MENU.items,
            MenuItem("i_old", "Burger", ("c",), (MenuVariation("v_old_burger", "", 1),), ()),
        ),
        modifier_lists=(
            *MENU.modifier_lists,
            ModifierList("g_temp", "temperature", (MenuModifier("m_cheddar", "Cheddar", 0),)),
        ),
        categories=MENU.categories,
    )
    db = await _week(tmp_path)
    try:
        summary = await db.read(lambda c: summarize(c, full, 7, now=NOW))
    finally:
        await db.close()
    assert summary.unlinked == ()
    assert json.loads(json.dumps(summary.document()))["unlinked_total"] == 0
