"""A realistic Square catalog for the fake: ITEM_VARIATION and MODIFIER ids are our `pos_id`s."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
VERSION = 1700000000000
UPDATED_AT = "2026-11-01T09:00:00.000Z"

CATEGORIES = {
    "cat_burgers": "Burgers",
    "cat_pizzas": "Pizzas",
    "cat_pates": "Pâtes",
    "cat_sides": "Accompagnements",
    "cat_desserts": "Desserts",
    "cat_drinks": "Boissons",
}

# modifier list id -> (name, [(modifier id, name, price)])
MODIFIER_LISTS: dict[str, tuple[str, list[tuple[str, str, int]]]] = {
    "ml_supplements": (
        "Suppléments",
        [("mod_bacon", "Bacon", 150), ("mod_extra_cheese", "Extra cheese", 100)],
    ),
    "ml_cuisson": (
        "Cuisson",
        [
            ("mod_cuisson_s", "Saignant", 0),
            ("mod_cuisson_ap", "À point", 0),
            ("mod_cuisson_bc", "Bien cuit", 0),
        ],
    ),
    "ml_taille": ("Taille", [("mod_taille_m", "Normale", 0), ("mod_taille_l", "Grande", 300)]),
    "ml_pizza_extras": ("Suppléments pizza", [("mod_oeuf", "Œuf", 100)]),
    "ml_pates_extras": ("Suppléments pâtes", [("mod_parmesan", "Parmesan râpé", 100)]),
}

# item id -> (name, category, [(variation id, variation name, price)], [modifier list ids])
ITEMS: dict[str, tuple[str, str, list[tuple[str, str, int]], list[str]]] = {
    "sq_cheeseburger": (
        "Cheeseburger",
        "cat_burgers",
        [("itm_cheese", "Normal", 1250), ("itm_cheese_double", "Double", 1650)],
        ["ml_supplements", "ml_cuisson"],
    ),
    "sq_veggie": (
        "Veggie burger",
        "cat_burgers",
        [("itm_veggie", "Normal", 1150)],
        ["ml_supplements"],
    ),
    "sq_pizza_reine": (
        "Pizza Reine",
        "cat_pizzas",
        [("itm_pizza_reine", "Normale", 1200)],
        ["ml_taille", "ml_pizza_extras"],
    ),
    "sq_margherita": (
        "Pizza Margherita",
        "cat_pizzas",
        [("itm_margherita", "Normale", 1000)],
        ["ml_taille", "ml_pizza_extras"],
    ),
    "sq_carbo": (
        "Pâtes carbonara",
        "cat_pates",
        [("itm_carbo", "Normale", 1390)],
        ["ml_pates_extras"],
    ),
    "sq_frites": ("Frites maison", "cat_sides", [("itm_frites", "Portion", 450)], []),
    "sq_creme_brulee": ("Crème brûlée", "cat_desserts", [("itm_creme_brulee", "Pot", 650)], []),
    "sq_tiramisu": ("Tiramisù", "cat_desserts", [("itm_tiramisu", "Part", 690)], []),
    "sq_coca": (
        "Coca-Cola",
        "cat_drinks",
        [("itm_coca", "33 cl", 300), ("itm_coca_50", "50 cl", 450)],
        [],
    ),
    "sq_eau": ("Eau minérale", "cat_drinks", [("itm_eau", "50 cl", 250)], []),
}


def _money(amount: int) -> Json:
    return {"amount": amount, "currency": "EUR"}


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
        "price_money": _money(price),
        "sellable": True,
        "stockable": True,
    }
    return obj


def build_catalog(extra_items: int = 0) -> list[Json]:
    """Categories, modifier lists and items (variations nested, as Square lists them)."""
    objects: list[Json] = []
    for cat_id, name in CATEGORIES.items():
        obj = _base("CATEGORY", cat_id)
        obj["category_data"] = {
            "name": name,
            "category_type": "REGULAR_CATEGORY",
            "is_top_level": True,
        }
        objects.append(obj)
    for ml_id, (name, mods) in MODIFIER_LISTS.items():
        obj = _base("MODIFIER_LIST", ml_id)
        modifiers = []
        for ordinal, (mod_id, mod_name, price) in enumerate(mods, 1):
            mod = _base("MODIFIER", mod_id)
            mod["modifier_data"] = {
                "name": mod_name,
                "price_money": _money(price),
                "ordinal": ordinal,
                "modifier_list_id": ml_id,
            }
            modifiers.append(mod)
        obj["modifier_list_data"] = {
            "name": name,
            "selection_type": "MULTIPLE",
            "modifiers": modifiers,
        }
        objects.append(obj)
    items = dict(ITEMS)
    for n in range(extra_items):
        items[f"sq_extra_{n}"] = (
            f"Plat du jour {n}",
            "cat_pates",
            [(f"itm_extra_{n}", "Normal", 900)],
            [],
        )
    for item_id, (name, cat, variations, lists) in items.items():
        obj = _base("ITEM", item_id)
        obj["item_data"] = {
            "name": name,
            "categories": [{"id": cat, "ordinal": 0}],
            "reporting_category": {"id": cat, "ordinal": 0},
            "is_taxable": True,
            "product_type": "FOOD_AND_BEV",
            "variations": [
                variation(item_id, var_id, var_name, price, i)
                for i, (var_id, var_name, price) in enumerate(variations, 1)
            ],
            "modifier_list_info": [
                {"modifier_list_id": ml, "enabled": True, "min_selected_modifiers": -1}
                for ml in lists
            ],
        }
        objects.append(obj)
    return objects
