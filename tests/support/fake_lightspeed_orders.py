"""How the fake Lightspeed POS checks an order against its menu, prices it and keeps accounts.

These are the vendor-side rules that need the menu. The fake applies them after answering
200, so a broken rule arrives as an asynchronous FAILURE with a ``reason`` (our judgment:
facts §15.5 leaves it open). Lightspeed prices an order this way (our judgment where the spec
is silent):
- a line costs its ``productPrice``, or its ``customItemPrice`` where the menu allows one;
- a sub-item adds its own price: a product modifier's ``productPrice``, or a combo choice's
  ``extraPrice``;
- a sub-item's quantity is PER UNIT of its parent, so a sub-line's total quantity is the parent
  quantity times its own;
- every line carries its own amounts (tax included, 10 %);
- the account's ``currentAmount`` is the sum of every line and sub-line, less the discounts.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.support.fake_lightspeed_errors import ls_time
from tests.support.lightspeed_menu import POS_ID, STAFF_ID, STAFF_NAME, Product, money, tax_of

Json = dict[str, Any]
# discount code -> percentage (None: a manual discount, its amount comes from the override)
DISCOUNTS: dict[str, Decimal | None] = {"PCT10": Decimal(10), "MANUAL": None}


class OrderFailed(Exception):
    """The POS refuses the order; the message is the notification's ``reason``."""


def dec(value: Any) -> Decimal:
    """A JSON number as an exact decimal."""
    return Decimal(str(value))


class Pricer:
    """Builds an account's sales entries from order lines, checking them against the menu."""

    def __init__(self, products: dict[str, Product], ids: itertools.count[int], now: datetime):
        self.products = products
        self.ids = ids
        self.now = ls_time(now)

    def lines(self, items: list[Json], *, local: bool) -> tuple[list[Json], Decimal]:
        """The sales entries of these order lines and what they add to the account."""
        entries, total = [], Decimal(0)
        for n, line in enumerate(items):
            product = self._product(line["sku"], f"items[{n}]")
            if product.as_sub_item:
                raise OrderFailed(f"Item {product.name} ({product.sku}) cannot be sold on its own")
            entry, amount = self._line(line, product, Decimal(1), product.price)
            discount = self._discount(line, amount, local=local)
            entry["discountedAmount"] = money(discount)
            entries.append(entry)
            total += amount - discount
        return entries, total

    def _product(self, sku: str, where: str) -> Product:
        product = self.products.get(sku)
        if product is None:
            raise OrderFailed(f"Item not found for sku {sku} ({where})")
        return product

    def _line(
        self, line: Json, product: Product, parent_qty: Decimal, price: Decimal
    ) -> tuple[Json, Decimal]:
        if "customItemName" in line and not product.custom:
            raise OrderFailed(f"Item {product.sku} does not allow a custom name")
        if "customItemPrice" in line:
            if not product.custom:
                raise OrderFailed(f"Item {product.sku} does not allow a custom price")
            price = dec(line["customItemPrice"])
            if price < 0:
                raise OrderFailed(f"Item {product.sku} only allows a positive custom price")
        qty = parent_qty * int(line["quantity"])
        own = price * qty
        entry: Json = {
            "id": next(self.ids),
            "uuid": str(uuid.uuid4()),
            "itemName": line.get("customItemName") or product.name,
            "itemSku": product.sku,
            "unitAmount": money(price),
            "quantity": float(qty),
            "amountWithTax": money(own),
            "amountLessTax": money(own - tax_of(own)),
            "discountedAmount": 0.0,
            "timeOfTransactionUtc": self.now,
            "taxIncluded": True,
            "modifiers": self._instructions(line, product),
            "subLineItems": [],
        }
        total = own
        chosen = Counter[str]()
        for sub in line.get("subItems") or []:
            group = next((g for g in product.groups if sub["sku"] in g["prices"]), None)
            if group is None:
                raise OrderFailed(f"Sub-item sku {sub['sku']} is not an option of {product.name}")
            chosen[group["sku"]] += int(sub["quantity"])
            sub_product = self._product(sub["sku"], f"sub-item of {product.sku}")
            sub_entry, amount = self._line(sub, sub_product, qty, group["prices"][sub["sku"]])
            entry["subLineItems"].append(sub_entry)
            total += amount
        for group in product.groups:
            self._check_selection(product, group, chosen[group["sku"]])
        return entry, total

    @staticmethod
    def _check_selection(product: Product, group: Json, count: int) -> None:
        low = group["min"] if group["min"] is not None else (1 if group["must"] else 0)
        high = group["max"]
        if not group["multi"]:
            high = 1 if high is None else min(high, 1)
        if count < low:
            raise OrderFailed(
                f"Modifier group {group['description']} of {product.name} requires at least "
                f"{low} selection(s), got {count}"
            )
        if high is not None and count > high:
            raise OrderFailed(
                f"Modifier group {group['description']} of {product.name} allows at most "
                f"{high} selection(s), got {count}"
            )

    @staticmethod
    def _instructions(line: Json, product: Product) -> list[Json]:
        names, groups = [], Counter[str]()
        for mod in line.get("modifiers") or []:
            found = product.instructions.get(int(mod["modifierId"]))
            if found is None:
                raise OrderFailed(
                    f"Production instruction {mod['modifierId']} not found for sku {product.sku}"
                )
            names.append({"name": found[0], "quantity": 1})
            groups[found[1]] += 1
            if groups[found[1]] > 1 and not found[2]:
                raise OrderFailed(
                    f"Production instruction group {found[1]} of {product.name} allows one choice"
                )
        return names

    @staticmethod
    def _discount(line: Json, amount: Decimal, *, local: bool) -> Decimal:
        code = line.get("discountCode")
        if code is None:
            if local and ("discountAmountOverride" in line or "discountPercentOverride" in line):
                raise OrderFailed("A discount override needs a manual discountCode")
            if "discountAmountOverride" in line:
                return min(amount, dec(line["discountAmountOverride"]))
            if "discountPercentOverride" in line:
                return (amount * dec(line["discountPercentOverride"]) / 100).quantize(
                    Decimal("0.01")
                )
            return Decimal(0)
        if code not in DISCOUNTS:
            raise OrderFailed(f"Discount not found for code {code}")
        percent = DISCOUNTS[code]
        if "discountAmountOverride" in line:
            return min(amount, dec(line["discountAmountOverride"]))
        if "discountPercentOverride" in line:
            percent = dec(line["discountPercentOverride"])
        if percent is None:
            raise OrderFailed(f"Discount {code} is manual: it needs an override")
        return (amount * percent / 100).quantize(Decimal("0.01"))


def new_account(account_id: str, request: Json, path: str, now: datetime, code: str) -> Json:
    """A POS account for an accepted order, empty until lines are added."""
    return {
        "accountIdentifier": account_id,
        "thirdPartyReference": request["thirdPartyReference"],
        "references": [],
        "businessLocationId": request["businessLocationId"],
        "endpointId": request["endpointId"],
        "orderType": path.rsplit("/", 1)[-1],
        "accountProfileCode": request.get("accountProfileCode"),
        "collectionCode": code,
        "name": f"Order {code}",
        "customerInfo": request["customerInfo"],
        "deliveryAddress": request.get("deliveryAddress"),
        "orderNote": request.get("orderNote"),
        "tableNumber": request.get("tableNumber"),
        "clientCount": request.get("clientCount", 0),
        "payment": request.get("payment"),
        "lines": [],
        "total": 0.0,
        "paid": 0.0,
        "tips": 0.0,
        "payments": [],
        "status": "OPEN",
        "uuid": str(uuid.uuid4()),
        "openDate": ls_time(now),
        "closeDate": None,
        "requests": [],
    }


def add_lines(account: Json, request: Json, lines: list[Json], amount: Decimal) -> None:
    """Record lines (and the request that brought them) on an account."""
    account["lines"] += lines
    account["total"] = money(dec(account["total"]) + amount)
    account["references"].append(request["thirdPartyReference"])
    account["requests"].append(request)


def add_payment(
    account: Json,
    amount: Decimal,
    tip: Decimal,
    *,
    method: str | None,
    reference: str | None,
    now: datetime,
) -> None:
    """Record a payment (``amount`` excludes the tip); close the account when it is paid."""
    line: Json = {
        "paymentMethodCode": method or "APM",
        "paymentMethodDescription": "API Payment",
        "amountPaid": money(amount),
        "paymentDate": ls_time(now),
        "active": True,
    }
    if reference is not None:
        line["externalReference"] = reference
    account["payments"].append(line | {"tip": money(tip)})
    account["paid"] = money(dec(account["paid"]) + amount)
    account["tips"] = money(dec(account["tips"]) + tip)
    if account["status"] == "OPEN" and dec(account["paid"]) >= dec(account["total"]):
        account["status"] = "CLOSED"
        account["closeDate"] = ls_time(now)


def due(account: Json) -> Decimal:
    """What is left to pay."""
    return max(Decimal(0), dec(account["total"]) - dec(account["paid"]))


def snapshot(account: Json, *, lines: bool = True, payments: bool = True) -> Json:
    """The account as ``apeAccountSnapshot`` (no thirdPartyReference: the spec has none)."""
    out: Json = {
        "ikaccountId": account["accountIdentifier"],
        "uuid": account["uuid"],
        "name": account["name"],
        "openDate": account["openDate"],
        "clientCount": account["clientCount"] or 0,
        "posId": POS_ID,
        "staffId": STAFF_ID,
        "staffName": STAFF_NAME,
        "currentAmount": account["total"],
        "paidAmount": account["paid"],
        "serviceCharge": 0.0,
        "salesEntries": account["lines"] if lines else [],
        "paymentEntries": (
            [{k: v for k, v in p.items() if k != "tip"} for p in account["payments"]]
            if payments
            else []
        ),
    }
    if account["closeDate"]:
        out["closeDate"] = account["closeDate"]
    table = account.get("tableNumber")
    if table is not None and str(table).isdigit():
        out["tableNumber"] = int(table)
    return out


def external_reference(business_location_id: int, reference: str) -> str:
    """``TASK:OO-{businessLocationId}-{thirdPartyReference}``, the receipt's external reference."""
    return f"TASK:OO-{business_location_id}-{reference}"


def receipt(account: Json, receipt_number: int) -> Json:
    """A closed account as ``financial-apiSaleDto`` (money as strings, as that API has it)."""
    bl = account["businessLocationId"]

    def s(x: Any) -> str:
        return f"{dec(x):.2f}"

    sales: list[Json] = []

    def walk(entry: Json, parent: str | None) -> None:
        line_id = f"S{POS_ID}.{entry['id'] % 100000}"
        with_tax = dec(entry["amountWithTax"]) - dec(entry["discountedAmount"])
        line: Json = {
            "id": line_id,
            "sku": entry["itemSku"],
            "name": entry["itemName"],
            "quantity": f"{entry['quantity']:g}",
            "menuListPrice": s(entry["unitAmount"]),
            "totalNetAmountWithTax": s(with_tax),
            "totalNetAmountWithoutTax": s(with_tax - tax_of(with_tax)),
            "taxAmount": s(tax_of(with_tax)),
            "taxRatePercentage": "10.00",
            "discountAmount": s(entry["discountedAmount"]),
            "currency": "EUR",
        }
        if account.get("accountProfileCode"):
            line["accountProfileCode"] = account["accountProfileCode"]
        if parent is not None:
            line["parentLineId"] = parent
        sales.append(line)
        for sub in entry["subLineItems"]:
            walk(sub, line_id)

    for entry in account["lines"]:
        walk(entry, None)
    sale: Json = {
        "accountReference": base64.b64encode(uuid.UUID(account["uuid"]).bytes).decode(),
        "accountFiscId": account["accountIdentifier"],
        "receiptId": f"R{POS_ID}.{receipt_number}",
        "type": "SALE",
        "externalReferences": [external_reference(bl, r) for r in account["references"]],
        "salesLines": sales,
        "payments": [
            {
                "code": p["paymentMethodCode"],
                "description": p["paymentMethodDescription"],
                "netAmountWithTax": s(p["amountPaid"]),
                "currency": "EUR",
                "tip": s(p["tip"]),
                "externalReference": p.get("externalReference", ""),
                "fiscDate": p["paymentDate"],
            }
            for p in account["payments"]
        ],
        "timeofOpening": account["openDate"],
        "timeofCloseAndPaid": account["closeDate"],
        "cancelled": False,
        "dineIn": account["orderType"] == "local",
        "nbCovers": float(account["clientCount"] or 0),
    }
    if account.get("accountProfileCode"):
        sale["accountProfileCode"] = account["accountProfileCode"]
    if account.get("tableNumber") is not None:
        sale["tableNumber"] = str(account["tableNumber"])
    return sale
