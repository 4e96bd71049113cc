"""The Square catalog the fake serves: a recorded restaurant catalog (Burger Lab and Pasta
Nostra, tests/fixtures/menus/square/catalog.json), ITEM_VARIATION and MODIFIER ids being the
`pos_id`s of our sample orders.

The restaurant tags items with categories (CONTRACT §1): "Burger" and "Pasta" name the brands,
"Hide from delivery" and "Masquer" the items kept off the delivery menus.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

Json = dict[str, Any]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "menus" / "square" / "catalog.json"
VERSION = 1762160400000
UPDATED_AT = "2026-11-03T09:00:00.000Z"


@functools.cache
def _recorded() -> tuple[Json, ...]:
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return tuple(doc["objects"])


def _base(kind: str, object_id: str) -> Json:
    return {
        "type": kind,
        "id": object_id,
        "updated_at": UPDATED_AT,
        "version": VERSION,
        "is_deleted": False,
        "present_at_all_locations": True,
    }


def variation(item_id: str, var_id: str, name: str, price: int, ordinal: int) -> Json:
    """An ITEM_VARIATION object."""
    obj = _base("ITEM_VARIATION", var_id)
    obj["item_variation_data"] = {
        "item_id": item_id,
        "name": name,
        "ordinal": ordinal,
        "pricing_type": "FIXED_PRICING",
        "price_money": {"amount": price, "currency": "EUR"},
        "sellable": True,
        "stockable": True,
    }
    return obj


def build_catalog(extra_items: int = 0) -> list[Json]:
    """The recorded catalog (a copy the fake may change), and `extra_items` more dishes."""
    objects = copy.deepcopy(list(_recorded()))
    for n in range(extra_items):
        obj = _base("ITEM", f"sq_extra_{n}")
        obj["item_data"] = {
            "name": f"Plat du jour {n}",
            "is_taxable": True,
            "tax_ids": ["tax_tva10"],
            "variations": [variation(f"sq_extra_{n}", f"itm_extra_{n}", "Normal", 900, 1)],
            "product_type": "FOOD_AND_BEV",
            "categories": [{"id": "cat_pates", "ordinal": 0}],
            "reporting_category": {"id": "cat_pates", "ordinal": 0},
        }
        objects.append(obj)
    return objects
