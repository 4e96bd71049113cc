"""Clover request bodies built from our Order, and Clover answers read back (pure, no I/O).

Money in cents; no quantity field (n of a dish = n line items); our reference is kept in the
order's title and note, the two documented, filterable fields an atomic order keeps (Clover's
`externalReferenceId` is not writable through an atomic order: clover-facts.md §6.1, §7).
"""

from __future__ import annotations

from typing import Any

from edge.orders.model import Order

from .model import Injected, InjectionPlan, PriceDifference, line_amount, line_ref
from .square_orders import order_label

Json = dict[str, Any]
TENDER_KEY_PREFIX = "com.storeedge.tender."
MAX_LINE_ITEMS = 3000


def title(order: Order, reference: str) -> str:
    """ "Uber Eats A1B2C se-…": what staff see, and what finds the order again."""
    return f"{order_label(order)[:100]} {reference}"


def _note(order: Order, reference: str) -> str:
    parts = []
    if order.customer and order.customer.name:
        parts.append(order.customer.name)
    if order.notes:
        parts.append(order.notes)
    if order.allergens:
        parts.append("Allergies: " + ", ".join(order.allergens))
    if order.customer and order.customer.notes:
        parts.append(order.customer.notes)
    parts.append(f"ref {reference}")
    return " / ".join(parts)[:2047]


def order_cart(order: Order, plan: InjectionPlan, order_type: str | None) -> Json:
    """The orderCart sent to /atomic_order/checkouts and then /atomic_order/orders."""
    reference = plan.reference(order)
    lines: list[Json] = []
    for item in order.items:
        modifications = [
            {"modifier": {"id": m.pos_id}} for m in item.modifiers for _ in range(m.quantity)
        ]
        for _ in range(item.quantity):
            line: Json = {"item": {"id": item.pos_id}}
            if item.notes:
                line["note"] = item.notes[:255]
            if modifications:
                line["modifications"] = [dict(m) for m in modifications]
            lines.append(line)
    fee = order.totals.delivery_fee if order.totals else None
    if fee:  # a fee is its own line, never folded into an item's price
        lines.append({"name": "Delivery fee", "price": fee})
    if len(lines) > MAX_LINE_ITEMS:
        raise ValueError(f"{len(lines)} line items: Clover takes at most {MAX_LINE_ITEMS}")
    cart: Json = {
        "title": title(order, reference),
        "note": _note(order, reference),
        "groupLineItems": False,
        "lineItems": lines,
    }
    if order.placed_at is not None:
        cart["clientCreatedTime"] = int(order.placed_at.timestamp() * 1000)
    if order_type:
        cart["orderType"] = {"id": order_type}
    currency = plan.currency_of(order)
    if currency:
        cart["currency"] = currency
    return cart


def _elements(value: Any) -> list[Json]:
    if isinstance(value, dict):
        value = value.get("elements")
    return [v for v in value or [] if isinstance(v, dict)]


def read_order(order: Order, plan: InjectionPlan, doc: Json) -> Injected:
    """What Clover made of our order: its id, total, and the dishes it priced differently."""
    order_id = doc.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise ValueError("Clover answered without an order id")
    lines = _elements(doc.get("lineItems"))
    differences: list[PriceDifference] = []
    ours_total = pos_total_lines = 0
    position = 0
    for i, item in enumerate(order.items):
        ours = line_amount(item)
        ours_total += ours
        mine = lines[position : position + item.quantity]
        position += item.quantity
        pos = None
        if len(mine) == item.quantity and all(isinstance(li.get("price"), int) for li in mine):
            pos = sum(
                li["price"] + sum(m.get("amount") or 0 for m in _elements(li.get("modifications")))
                for li in mine
            )
        pos_total_lines += ours if pos is None else pos
        if pos is not None and pos != ours:
            differences.append(PriceDifference(line_ref(i, item), ours, pos))
    subtotal = (order.totals.subtotal if order.totals else None) or ours_total
    total = doc.get("total")
    return Injected(
        pos_order_id=order_id,
        pos_version=None,
        pos_total=total if isinstance(total, int) else 0,
        currency=str(doc.get("currency") or plan.currency_of(order)),
        tip_sent=plan.tip_for(order),
        differences=tuple(differences),
        subtotal_difference=pos_total_lines - subtotal,
    )


def payment_reference(reference: str) -> str:
    """`externalPaymentId` (at most 32 characters): our reference, marked as the payment."""
    return f"{reference}-pay"[:32]


def payment_body(order: Order, injected: Injected, plan: InjectionPlan, tender: str) -> Json:
    """The partner's payment recorded on the order with its tender."""
    return {
        "tender": {"id": tender},
        "amount": injected.pos_total,
        "tipAmount": plan.tip_for(order),
        "externalPaymentId": payment_reference(plan.reference(order)),
        "note": order_label(order)[:255],
    }
