"""Lightspeed K "Order and Pay" bodies built from our Order, and its answers read (no I/O).

Money is in major units (JSON numbers); an order line names a SKU; product modifiers go as
sub-items by SKU, production instructions (free kitchen notes) as `modifiers` by id. Our
reference is the order's `thirdPartyReference`, which Lightspeed keeps unique per location.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.orders.model import Order

from .model import Injected, InjectionPlan, PriceDifference, line_amount, line_ref
from .money import cents, units
from .square_orders import order_label

Json = dict[str, Any]
MAX_SKU = 25
# How long Lightspeed keeps trying to reach the till with an order (its minimum is 60 s).
DELIVER_WITHIN_MS = 15 * 60 * 1000
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
# Statuses that say the order reached the till.
REACHED = frozenset({"SUCCESS", "IN_DELIVERY", "READY_FOR_PICKUP", "CLOSED", "CANCELLED"})
REFUSED = frozenset({"FAILURE", "ABANDONED"})
# Our order type -> the order profile delivery mode that means it (a partner's courier
# collects at the counter: a take-away for the restaurant).
DELIVERY_MODES = {
    "delivery": "TAKE_AWAY",
    "self_delivery": "DELIVERY",
    "pickup": "TAKE_AWAY",
    "dine_in": "NONE",
}


@dataclass(frozen=True)
class MenuIndex:
    """Which ids are production instructions (sent as `modifiers`), the rest being SKUs."""

    instructions: frozenset[str]


def _customer(order: Order) -> Json:
    customer = order.customer
    name = (customer.name if customer else None) or order_label(order)
    first, _, last = name.partition(" ")
    info: Json = {"firstName": first[:128] or order_label(order)[:128]}
    if last:
        info["lastName"] = last[:128]
    phone = (customer.phone or "").replace(" ", "") if customer else ""
    if _E164.match(phone):
        info["contactNumberAsE164"] = phone
    if customer and customer.notes:
        info["notes"] = customer.notes
    return info


def _note(order: Order) -> str:
    parts = [order_label(order)]
    if order.notes:
        parts.append(order.notes)
    if order.allergens:
        parts.append("Allergies: " + ", ".join(order.allergens))
    return " / ".join(parts)


def _line(order: Order, i: int, index: MenuIndex) -> Json:
    item = order.items[i]
    line: Json = {"sku": item.pos_id, "quantity": item.quantity}
    instructions = [
        {"modifierId": m.pos_id}
        for m in item.modifiers
        if m.pos_id in index.instructions
        for _ in range(m.quantity)
    ]
    sub_items = [
        {"sku": m.pos_id, "quantity": m.quantity}  # per unit of the line
        for m in item.modifiers
        if m.pos_id not in index.instructions
    ]
    if instructions:
        line["modifiers"] = instructions
    if sub_items:
        line["subItems"] = sub_items
    return line


def too_long_skus(order: Order) -> list[str]:
    """Lines whose SKU Lightspeed's order API cannot take (more than 25 characters)."""
    found = []
    for i, item in enumerate(order.items):
        if item.pos_id and len(item.pos_id) > MAX_SKU:
            found.append(line_ref(i, item))
        found += [
            line_ref(i, item, (j, m))
            for j, m in enumerate(item.modifiers)
            if m.pos_id and len(m.pos_id) > MAX_SKU
        ]
    return found


def order_body(
    order: Order,
    plan: InjectionPlan,
    index: MenuIndex,
    *,
    location: int,
    endpoint_id: str,
    profile: str | None,
    payment_method: str | None,
    now: datetime,
) -> Json:
    """The toGo (or, for dine-in, local) order, paid in the same call when the partner was."""
    body: Json = {
        "businessLocationId": location,
        "thirdPartyReference": plan.reference(order),
        "endpointId": endpoint_id,
        "customerInfo": _customer(order),
        "items": [_line(order, i, index) for i in range(len(order.items))],
        "orderNote": _note(order),
        "maxTimeToAttemptOrderDeliverToPos": DELIVER_WITHIN_MS,
    }
    if profile:
        body["accountProfileCode"] = profile
    if order.scheduled_for is not None and order.scheduled_for > now:
        body["orderCollectionTimeAsIso8601"] = order.scheduled_for.astimezone(UTC).isoformat()
    address = order.customer.address if order.customer else None
    if order.type == "self_delivery" and address is not None:
        fields = {
            "addressLine1": address.line1,
            "addressLine2": address.line2,
            "zip": address.postal_code,
            "city": address.city,
        }
        body["deliveryAddress"] = {k: v for k, v in fields.items() if v}
    if plan.should_close(order) and order.totals is not None and order.totals.total:
        tip = plan.tip_for(order)
        payment: Json = {"paymentAmount": units(order.totals.total), "tipAmount": units(tip)}
        if payment_method:
            payment["paymentMethod"] = payment_method
        body["payment"] = payment
    return body


def result_of(events: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The order notification that settles the outcome, if one was relayed (last wins)."""
    found = None
    for event in events:
        if str(event.get("type") or "ORDER").upper() != "ORDER":
            continue
        status = str(event.get("status") or "").upper()
        reached = status in REACHED and bool(event.get("ikentooAccountIdentifier"))
        if reached or (status in REFUSED and found is None):  # reaching the till outranks
            found = event
    return found


def injected_from(order: Order, plan: InjectionPlan, account_id: str, account: Any) -> Injected:
    """The order as the till has it: the account id, its total, the lines priced otherwise."""
    differences: list[PriceDifference] = []
    ours_total = pos_lines = 0
    entries = account.get("salesEntries") if isinstance(account, dict) else None
    entries = [e for e in entries or [] if isinstance(e, dict)]
    for i, item in enumerate(order.items):
        ours = line_amount(item)
        ours_total += ours
        entry = (
            entries[i] if i < len(entries) and entries[i].get("itemSku") == item.pos_id else None
        )
        pos = None
        if entry is not None and cents(entry.get("amountWithTax")) is not None:
            subs = entry.get("subLineItems") or []
            pos = (cents(entry.get("amountWithTax")) or 0) + sum(
                cents(s.get("amountWithTax")) or 0 for s in subs if isinstance(s, dict)
            )
        pos_lines += ours if pos is None else pos
        if pos is not None and pos != ours:
            differences.append(PriceDifference(line_ref(i, item), ours, pos))
    total = cents(account.get("currentAmount")) if isinstance(account, dict) else None
    subtotal = (order.totals.subtotal if order.totals else None) or ours_total
    return Injected(
        pos_order_id=account_id,
        pos_version=None,
        pos_total=total if total is not None else ours_total,
        currency=plan.currency_of(order),
        tip_sent=plan.tip_for(order),
        differences=tuple(differences),
        subtotal_difference=(pos_lines - subtotal) if entries else 0,
    )
