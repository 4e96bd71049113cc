"""How the fake Clover checks and prices an atomic-order cart, and shapes orders and payments.

Order of application (clover-facts.md §6.1): line % -> line amount -> order % -> order amount ->
service charge -> tax, rounding half up at the cent. The fake's merchant is a VAT merchant by
default (prices tax-inclusive, `isVat`): the tax is the VAT part of the discounted amount and is
not added; with `vat=False` it is added on top.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.clover_inventory import Inventory

Json = dict[str, Any]
NESTED_CAP = 100  # expanded (nested) collections are capped at 100 elements (§3)


class CartError(Exception):
    """An atomic-order 400: {"message": code, "details": details} (§6.1)."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass
class PricedCart:
    """A cart with names and prices resolved, and the totals Clover computes for it."""

    lines: list[Json]  # cart-shaped lines (plain arrays), names/prices/amounts resolved
    discounts: list[Json]
    service_charge: Json | None
    subtotal: int  # lines with modifiers and line discounts, before order discounts
    tax: int
    total: int
    tax_rate: Json
    rule_problems: list[str] = field(default_factory=list)  # min/max broken (Clover accepts)


def _check_discounts(discounts: list[Json]) -> None:
    for d in discounts:
        has_amount, has_pct = "amount" in d, "percentage" in d
        if has_amount == has_pct or "discount" in d:
            # our judgment: exactly one of amount/percentage; the fake has no inventory discounts
            raise CartError(
                "invalid_discount_attribute",
                f"discount {d.get('name')!r} needs exactly one of amount or percentage",
            )


def _apply(discounts: list[Json], amount: int) -> int:
    for d in discounts:
        if "percentage" in d:
            amount -= half_up(amount * d["percentage"], 100)
    for d in discounts:
        if "amount" in d:
            amount += d["amount"]
    return max(amount, 0)


def _line(raw: Json, inv: Inventory, tax_rate: Json) -> tuple[Json, int]:
    line = copy.deepcopy(raw)
    item_ref = line.get("item")
    group_ids: list[str] = []
    if item_ref is not None:
        item = inv.items.get(item_ref["id"])
        if item is None or item.get("deleted"):
            raise CartError("item_does_not_exist", item_ref["id"])
        group_ids = inv.item_modifier_groups.get(item["id"], [])
        line["name"] = item["name"]
        if "alternateName" in item and "alternateName" not in raw:
            line["alternateName"] = item["alternateName"]
        line.setdefault("price", item["price"])  # an explicit price overrides the inventory's
        line.setdefault("isRevenue", item["isRevenue"])
    mods = []
    for m in line.get("modifications") or []:
        mod = inv.modifiers.get(m["modifier"]["id"])
        # our judgment: a modifier outside the item's groups (or on an ad-hoc line) is refused
        # like an unknown one; Clover documents the rule for the classic flow (§6.2).
        if mod is None or mod["modifierGroup"]["id"] not in group_ids:
            raise CartError("invalid_modifier", m["modifier"]["id"])
        override = "name" in m and "amount" in m
        mods.append(
            {
                "modifier": {"id": mod["id"]},
                "name": m["name"] if override else mod["name"],
                "amount": m["amount"] if override else mod["price"],
                **({"alternateName": m["alternateName"]} if "alternateName" in m else {}),
            }
        )
    line["modifications"] = mods
    line.setdefault("isRevenue", True)
    line.setdefault("printed", False)
    _check_discounts(line.get("discounts") or [])
    line["priceWithModifiers"] = line["price"] + sum(m["amount"] for m in mods)
    line["taxRates"] = [copy.deepcopy(tax_rate)]
    return line, _apply(line.get("discounts") or [], line["priceWithModifiers"])


def price_cart(
    body: Json | None,
    inv: Inventory,
    *,
    merchant_id: str,
    currency: str,
    order_types: dict[str, Json],
    service_charges: dict[str, Json],
    vat: bool,
) -> PricedCart:
    """Check a {"orderCart": ...} body (already valid by the document) and price it."""
    cart = (body or {}).get("orderCart")
    if not cart or not cart.get("lineItems"):
        raise CartError("cart_is_empty_or_missing", "The order cart is empty or missing.")
    if "merchant" in cart and cart["merchant"]["id"] != merchant_id:
        raise CartError("bad_request", "orderCart.merchant is not this merchant")  # our judgment
    if cart.get("currency", currency) != currency:
        raise CartError("bad_request", f"currency must be {currency}")  # our judgment
    order_type = None
    if "orderType" in cart:
        order_type = order_types.get(cart["orderType"]["id"])
        if order_type is None:  # our judgment: Clover's code for this is undocumented
            raise CartError("bad_request", f"order type {cart['orderType']['id']} does not exist")
    tax_rate = next(r for r in inv.tax_rates.values() if r.get("isDefault"))
    problems: list[str] = []
    lines, nets = [], []
    for n, raw in enumerate(cart["lineItems"]):
        line, net = _line(raw, inv, tax_rate)
        lines.append(line)
        nets.append(net)
        if "item" in raw:
            problems += [
                f"line {n}: {p}"
                for p in inv.line_problems(
                    raw["item"]["id"], [m["modifier"]["id"] for m in line["modifications"]]
                )
            ]
    discounts = copy.deepcopy(cart.get("discounts") or [])
    _check_discounts(discounts)
    subtotal = sum(nets)
    discounted = _apply(discounts, subtotal)
    service = None
    charge = 0
    if "serviceCharge" in cart:
        known = service_charges.get(cart["serviceCharge"]["id"])
        if known is None:
            raise CartError("service_charge_does_not_exist", cart["serviceCharge"]["id"])
        service = {**known, **cart["serviceCharge"]}
        charge = half_up(discounted * service["percentageDecimal"], 1_000_000)
        service["amount"] = charge  # our judgment: the computed amount is echoed
    taxable = order_type is None or order_type.get("taxable", True)
    rate = tax_rate["rate"] if taxable else 0
    if vat:
        tax = half_up(discounted * rate, 10_000_000 + rate)
        total = discounted + charge
    else:
        tax = half_up(discounted * rate, 10_000_000)
        total = discounted + charge + tax
    return PricedCart(lines, discounts, service, subtotal, tax, total, tax_rate, problems)


def checkout_answer(body: Json, priced: PricedCart, *, vat: bool) -> Json:
    """The checkouts answer: the cart echoed with resolved lines, totals and tax summaries."""
    cart = copy.deepcopy(body["orderCart"])
    cart["lineItems"] = priced.lines
    if priced.service_charge is not None:
        cart["serviceCharge"] = priced.service_charge
    rate = priced.tax_rate
    summary = {
        "id": rate["id"],
        "name": rate["name"],
        "rate": rate["rate"],
        "amount": priced.tax,
        # our judgment: the taxed lines as {name, price}; the facts name the field only
        "lineItems": [{"name": li["name"], "price": li["price"]} for li in priced.lines],
    }
    return {
        "orderCart": cart,
        "subtotal": priced.subtotal,
        "totalTaxAmount": priced.tax,
        "total": priced.total,
        "taxSummaries": [summary] if priced.tax else [],
        "isVat": vat,
    }


def new_order(
    order_id: str,
    cart: Json,
    priced: PricedCart,
    *,
    new_id: Callable[[str], str],
    now: int,
    merchant_id: str,
    currency: str,
    vat: bool,
    href: str,
) -> Json:
    """The order as the fake stores it: every collection complete, wrapped in {elements}."""
    order: Json = {
        "id": order_id,
        "href": href,
        "currency": currency,
        "total": priced.total,
        "taxRemoved": False,
        "isVat": vat,
        "state": cart.get("state", "open"),
        "manualTransaction": False,
        "groupLineItems": cart.get("groupLineItems", False),
        "testMode": False,
        "paymentState": "OPEN",
        "merchant": {"id": merchant_id},
        "createdTime": now,
        "modifiedTime": now,
    }
    for key in ("title", "note", "clientCreatedTime"):
        if key in cart:
            order[key] = cart[key]
    if "orderType" in cart:
        order["orderType"] = {"id": cart["orderType"]["id"]}
    elements = []
    for raw in priced.lines:
        line = copy.deepcopy(raw)
        line_id = new_id("line_item")
        line.update(id=line_id, orderRef={"id": order_id}, createdTime=now)
        if "clientCreatedTime" in cart:
            line["orderClientCreatedTime"] = cart["clientCreatedTime"]
        line["modifications"] = {
            "elements": [
                {"id": new_id("modification"), "lineItemRef": {"id": line_id}, **m}
                for m in raw["modifications"]
            ]
        }
        line["discounts"] = {
            "elements": [
                {"id": new_id("discount"), "lineItemRef": {"id": line_id}, **d}
                for d in raw.get("discounts") or []
            ]
        }
        line["taxRates"] = {"elements": raw["taxRates"]}
        line.update(refunded=False, exchanged=False, isOrderFee=False)
        elements.append(line)
    order["lineItems"] = {"elements": elements}
    order["discounts"] = {
        "elements": [
            {"id": new_id("discount"), "orderRef": {"id": order_id}, **d} for d in priced.discounts
        ]
    }
    if priced.service_charge is not None:
        order["serviceCharge"] = priced.service_charge
    order["payments"] = {"elements": []}
    return order


def _capped(collection: Json) -> Json:
    return {"elements": collection["elements"][:NESTED_CAP]}


def render_order(
    order: Json, expand: set[str], *, order_types: dict[str, Json], tenders: dict[str, Json]
) -> Json:
    """The order as GET answers it: unexpanded collections left out, single references as {id},
    expanded collections {elements} capped at 100 (our judgment: an expanded line item carries
    its modifications, discounts and taxRates)."""
    out = copy.deepcopy(order)
    if expand & {"lineItems", "lineItems.modifications", "lineItems.discounts"}:
        lines = _capped(out["lineItems"])
        for line in lines["elements"]:
            for key in ("modifications", "discounts", "taxRates"):
                line[key] = _capped(line[key])
        out["lineItems"] = lines
    else:
        out.pop("lineItems")
    if "discounts" in expand:
        out["discounts"] = _capped(out["discounts"])
    else:
        out.pop("discounts")
    if expand & {"payments", "payment.tender"}:
        out["payments"] = _capped(out["payments"])
        if "payment.tender" in expand:
            for payment in out["payments"]["elements"]:
                payment["tender"] = copy.deepcopy(tenders.get(payment["tender"]["id"]))
    else:
        out.pop("payments")
    if "serviceCharge" in out and "serviceCharge" not in expand:
        out["serviceCharge"] = {"id": out["serviceCharge"]["id"]}
    if "orderType" in out and "orderType" in expand:
        out["orderType"] = copy.deepcopy(order_types.get(out["orderType"]["id"], out["orderType"]))
    for key in ("customers", "refunds", "credits", "voids"):
        if key in expand:
            out[key] = {"elements": []}
    return out


def new_payment(
    payment_id: str, order: Json, body: Json, tender: Json, *, now: int, href: str
) -> Json:
    """A payment record of an external tender on an order (§6.5)."""
    payment: Json = {
        "id": payment_id,
        "href": href,
        "order": {"id": order["id"]},
        "tender": {"id": tender["id"], "href": tender.get("href", "")},
        "amount": body["amount"],
        "tipAmount": body.get("tipAmount", 0),
        "taxAmount": body.get("taxAmount", 0),
        "offline": body.get("offline", False),
        "result": body.get("result", "SUCCESS"),
        "createdTime": now,
        "clientCreatedTime": now,
        "modifiedTime": now,
    }
    for key in ("cashbackAmount", "cashTendered", "externalPaymentId", "note", "employee",
                "externalReferenceId"):  # fmt: skip
        if key in body:
            payment[key] = body[key]
    return payment


def settle(order: Json) -> None:
    """Our judgment (Open question 4): paymentState PAID once successful payments' amounts reach
    the total, PARTIALLY_PAID before that; the order's state is left as it is."""
    paid = sum(p["amount"] for p in order["payments"]["elements"] if p["result"] == "SUCCESS")
    order["paymentState"] = "PAID" if paid >= order["total"] else "PARTIALLY_PAID"
