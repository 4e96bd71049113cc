"""How the fake Toast checks a selection and its modifiers against the menu, and prices it.

Toast prices with its own menu (the order's prices are never read). The fake's menu prices
include a 10 % tax (our judgment, see toast_menu.py), so for each top-level selection:
gross = (item price + every modifier price) x quantity, `tax` = gross x 10/110 rounded
half-up to the cent, `price` = `preDiscountPrice` = gross - tax (Toast: "excludes tax"),
`receiptLinePrice` = the tax-inclusive unit price (a sized item: its size's price).
Modifiers carry their own share the same way; the check sums top-level selections only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.support.fake_toast_values import (
    CENT,
    EXTERNAL_ID,
    Restaurant,
    bad,
    cents,
    guid_of,
    known,
    missing,
    money,
    toast_time,
)
from tests.support.toast_menu import TAX_NAME, TAX_RATE, Item, pos_id

Json = dict[str, Any]


class SelectionPricer:
    """Checks and prices selections; the base of OrderPricer."""

    def __init__(
        self,
        restaurant: Restaurant,
        now: datetime,
        new_guid: Callable[[], str] | None,
        display_numbers: itertools.count[int] | None = None,
    ) -> None:
        self.r = restaurant
        self.now = now
        self.new_guid = new_guid  # None: /prices, nothing persisted, no GUIDs
        self.numbers = display_numbers or itertools.count(1)
        self.mismatches: list[str] = []
        self.external_ids: dict[str, list[str]] = {"order": [], "check": [], "selection": []}

    def _ids(self, entity_type: str) -> Json:
        out: Json = {"entityType": entity_type}
        if self.new_guid is not None:
            out = {"guid": self.new_guid(), **out}
        return out

    def _external(self, body: Json, entity: str, out: Json) -> None:
        value = body.get("externalId")
        if value is None:
            return
        if not EXTERNAL_ID.match(value):
            raise bad(
                f"{entity} externalId {value!r} must be '<naming authority>:<identifier>' "
                "(authority up to 16 characters)"
            )
        self.external_ids[entity].append(value)
        out["externalId"] = value

    def _selection(self, body: Json, where: str, dining: Json) -> Json:
        if body.get("selectionType", "NONE") not in ("NONE", None):
            raise bad(
                f"{where}.selectionType {body['selectionType']}: the fake takes plain menu "
                "items at the top level (special requests go in modifiers)"
            )
        item = known(
            guid_of(body.get("item"), f"{where}.item"), self.r.menu.items, self.r, "Menu item"
        )
        group = guid_of(body.get("itemGroup"), f"{where}.itemGroup")
        if group in self.r.rejected or group not in self.r.menu.group_items:
            raise missing(f"Menu group {group} does not exist at this restaurant")
        if item.guid not in self.r.menu.group_items[group]:
            raise bad(
                f"{where}: menu item {item.name!r} is not in menu group "
                f"{self.r.menu.group_names[group]!r}"
            )
        qty = Decimal(str(body["quantity"]))
        if qty <= 0 or qty != qty.to_integral_value():
            raise bad(f"{where}.quantity {body['quantity']} must be a whole number above 0")
        if "openPriceAmount" in body or "externalPriceAmount" in body:
            raise bad(f"{where}: {item.name!r} is not an open-price item")
        out = self._priced(body, item, qty, where)
        out["itemGroup"] = {"guid": group, "entityType": "MenuGroup"}
        out["diningOption"] = {"guid": dining["guid"], "entityType": "DiningOption"}
        out["taxInclusion"] = "INCLUDED"
        out["salesCategory"] = {"guid": item.sales_category, "entityType": "SalesCategory"}
        gross = cents(out.pop("_gross"))
        tax = (gross * TAX_RATE / (1 + TAX_RATE)).quantize(CENT, ROUND_HALF_UP)
        out.update(price=money(gross - tax), preDiscountPrice=money(gross - tax), tax=money(tax))
        rate: Json = {
            **self._ids("AppliedTaxRate"),
            "taxRate": {"guid": pos_id("tax_tva10"), "entityType": "TaxRate"},
            "name": TAX_NAME,
            "rate": float(TAX_RATE),
            "taxAmount": money(tax),
            "type": "PERCENT",
        }
        out["appliedTaxes"] = [rate]
        return out

    def _priced(self, body: Json, item: Item, qty: Decimal, where: str) -> Json:
        """Check the modifiers of `item` (recursively) and price the selection's gross."""
        out: Json = self._ids("MenuItemSelection")
        if body.get("externalId") is not None:
            self._external(body, "selection", out)
        counts: dict[str, list[str]] = {g: [] for g in item.modifier_groups}
        modifiers: list[Json] = []
        gross = (item.price or Decimal(0)) * qty
        for i, mod in enumerate(body.get("modifiers") or []):
            mwhere = f"{where}.modifiers[{i}]"
            if mod.get("selectionType") == "SPECIAL_REQUEST":
                modifiers.append(self._special_request(mod, mwhere, qty))
                continue
            if mod.get("selectionType", "NONE") not in ("NONE", None):
                raise bad(f"{mwhere}.selectionType {mod['selectionType']} is not supported")
            if "preModifier" in mod:
                raise missing(f"{mwhere}: no pre-modifier is configured at this restaurant")
            group_guid = guid_of(mod.get("optionGroup"), f"{mwhere}.optionGroup")
            group = known(group_guid, self.r.menu.modifier_groups, self.r, "Modifier group")
            option = known(
                guid_of(mod.get("item"), f"{mwhere}.item"), self.r.menu.options, self.r, "Modifier"
            )
            if group.guid not in counts:
                raise bad(
                    f"{mwhere}: modifier group {group.name!r} does not apply to {item.name!r}"
                )
            if option.guid not in group.options:
                raise bad(f"{mwhere}: {option.name!r} is not an option of {group.name!r}")
            if Decimal(str(mod["quantity"])) != qty:
                raise bad(
                    f"{mwhere}: the quantity of modifier {option.name!r} ({mod['quantity']}) "
                    f"must equal the quantity of {item.name!r} ({body['quantity']})"
                )
            if option.guid in counts[group.guid] and not option.allows_duplicates:
                raise bad(f"{mwhere}: {option.name!r} may be chosen once on {item.name!r}")
            counts[group.guid].append(option.guid)
            priced = self._priced(mod, option, qty, mwhere)
            mod_gross = cents(priced.pop("_gross"))
            mod_tax = (mod_gross * TAX_RATE / (1 + TAX_RATE)).quantize(CENT, ROUND_HALF_UP)
            priced.update(
                optionGroup={"guid": group.guid, "entityType": "MenuOptionGroup"},
                price=money(mod_gross - mod_tax),
                preDiscountPrice=money(mod_gross - mod_tax),
                tax=money(mod_tax),
                taxInclusion="INHERITED",
            )
            gross += mod_gross
            modifiers.append(priced)
        for group_guid, chosen in counts.items():
            group = self.r.menu.modifier_groups[group_guid]
            if len(chosen) < group.min:
                raise bad(
                    f"{where}: modifier group {group.name!r} of {item.name!r} is required: "
                    f"at least {group.min} selection(s), got {len(chosen)}"
                )
            if group.max is not None and len(chosen) > group.max:
                raise bad(
                    f"{where}: modifier group {group.name!r} of {item.name!r} allows at most "
                    f"{group.max} selection(s), got {len(chosen)}"
                )
        sizes = [
            m
            for m in modifiers
            if item.size_group and m.get("optionGroup", {}).get("guid") == item.size_group
        ]
        size = sizes[0] if sizes else None
        unit = item.price if size is None else self.r.menu.options[size["item"]["guid"]].price
        out.update(
            item={"guid": item.guid, "entityType": "MenuItem"},
            displayName=item.name,
            quantity=float(qty),
            unitOfMeasure="NONE",
            selectionType="NONE",
            modifiers=modifiers,
            receiptLinePrice=money(unit or Decimal(0)),
            seatNumber=-1,
            fulfillmentStatus="NEW",
            deferred=False,
            voided=False,
            appliedDiscounts=[],
            createdDate=toast_time(self.now),
            modifiedDate=toast_time(self.now),
            _gross=money(gross),
        )
        return out

    def _special_request(self, body: Json, where: str, qty: Decimal) -> Json:
        text = str(body.get("displayName") or "").strip()
        if not text or len(text) > 1000:
            raise bad(f"{where}.displayName: a special request needs 1 to 1000 characters")
        return {
            **self._ids("MenuItemSelection"),
            "selectionType": "SPECIAL_REQUEST",
            "displayName": text,
            "quantity": float(qty),
            "price": 0.0,
            "preDiscountPrice": 0.0,
            "tax": 0.0,
            "modifiers": [],
            "voided": False,
        }
