"""Square request bodies built from our Order, and Square answers read back (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from edge.orders.model import Order
from edge.tickets.i18n import partner_name

from .model import Injected, InjectionPlan, PriceDifference, line_amount, line_ref

Json = dict[str, Any]

_FULFILLMENT_TYPES = {"pickup": "PICKUP", "delivery": "DELIVERY", "shipment": "SHIPMENT"}
_LINE_FIELD = re.compile(r"line_items\[(\d+)\](?:\.modifiers\[(\d+)\])?")
_QUOTED_ID = re.compile(r"`([^`]+)`")


def order_label(order: Order) -> str:
    """How staff know the order at the POS: "Uber Eats A1B2C"."""
    return f"{partner_name(order.source.partner, 'en')} {order.display_id}"


def _money(amount: int, currency: str) -> Json:
    return {"amount": amount, "currency": currency}


def _recipient(order: Order) -> Json:
    customer = order.customer
    recipient: Json = {
        "display_name": ((customer.name if customer else None) or order_label(order))
    }
    if customer and customer.phone and len(customer.phone) <= 17:
        recipient["phone_number"] = customer.phone
    if customer and customer.address:
        a = customer.address
        address = {
            "address_line_1": a.line1,
            "address_line_2": a.line2,
            "locality": a.city,
            "postal_code": a.postal_code,
        }
        recipient["address"] = {k: v for k, v in address.items() if v}
    return recipient


def _kitchen_note(order: Order) -> str:
    parts = [order.notes or ""]
    if order.allergens:
        parts.append("Allergies: " + ", ".join(order.allergens))
    return " / ".join(p for p in parts if p)


def _fulfillment(order: Order, plan: InjectionPlan) -> Json | None:
    kind = _FULFILLMENT_TYPES.get(plan.fulfillment.get(order.type, "none"))
    if kind is None:
        return None
    schedule: Json = {"schedule_type": "SCHEDULED" if order.scheduled_for else "ASAP"}
    if order.prep_time_min:
        schedule["prep_time_duration"] = f"PT{order.prep_time_min}M"
    note = _kitchen_note(order)
    customer_note = order.customer.notes if order.customer else None
    fulfillment: Json = {"uid": "f1", "type": kind, "state": "PROPOSED"}
    if kind == "PICKUP":
        details: Json = {"recipient": _recipient(order), **schedule}
        if order.scheduled_for:
            details["pickup_at"] = order.scheduled_for.isoformat()
        if note:
            details["note"] = note[:500]
        fulfillment["pickup_details"] = details
    elif kind == "DELIVERY":
        details = {"recipient": _recipient(order), **schedule}
        if order.scheduled_for:
            details["deliver_at"] = order.scheduled_for.isoformat()
        if note:
            details["note"] = note[:550]
        if customer_note:
            details["dropoff_notes"] = customer_note[:550]
        if order.type == "delivery":
            details["courier_provider_name"] = partner_name(order.source.partner, "en")[:255]
        fulfillment["delivery_details"] = details
    else:
        shipment: Json = {"recipient": _recipient(order)}
        if note:
            shipment["shipping_note"] = note[:500]
        fulfillment["shipment_details"] = shipment
    return fulfillment


def create_order_body(order: Order, plan: InjectionPlan) -> Json:
    """The CreateOrder request; lines must all carry a `pos_id` (checked by the caller)."""
    currency = plan.currency_of(order)
    line_items: list[Json] = []
    for i, item in enumerate(order.items):
        line: Json = {
            "uid": f"L{i + 1}",
            "catalog_object_id": item.pos_id,
            "quantity": str(item.quantity),  # Square quantities are decimal strings
        }
        if item.notes:
            line["note"] = item.notes[:2000]
        if item.modifiers:
            line["modifiers"] = [
                {
                    "uid": f"L{i + 1}M{j + 1}",
                    "catalog_object_id": m.pos_id,
                    "quantity": str(m.quantity),
                }
                for j, m in enumerate(item.modifiers)
            ]
        line_items.append(line)
    body: Json = {
        "location_id": plan.location_id,
        "reference_id": (order.source.partner_order_id or order.id)[:40],
        "source": {"name": order_label(order)},
        "ticket_name": order_label(order)[:30],
        "line_items": line_items,
        # No `taxes`: the POS applies the catalog's own taxes.
        "pricing_options": {"auto_apply_taxes": True},
        "metadata": {"edge_order_id": order.id, "edge_revision": str(order.revision)},
    }
    fulfillment = _fulfillment(order, plan)
    if fulfillment:
        body["fulfillments"] = [fulfillment]
    charges = []
    fee = order.totals.delivery_fee if order.totals else None
    if fee:  # a fee is a service charge of its own, never folded into an item's price
        charges.append(
            {
                "uid": "delivery_fee",
                "name": "Delivery fee",
                "amount_money": _money(fee, currency),
                "calculation_phase": "SUBTOTAL_PHASE",
                "taxable": False,
            }
        )
    tip = plan.tip_for(order)
    if tip:
        charges.append(
            {
                "uid": "tip",
                "name": "Tip",
                "amount_money": _money(tip, currency),
                # a tip is added after taxes and is never taxed
                "calculation_phase": "TOTAL_PHASE",
                "taxable": False,
            }
        )
    if charges:
        body["service_charges"] = charges
    return {"idempotency_key": plan.key("order", order), "order": body}


def _amount(money: Any) -> int | None:
    if isinstance(money, dict) and isinstance(money.get("amount"), int):
        return int(money["amount"])
    return None


def read_injected(order: Order, plan: InjectionPlan, answer: Json) -> Injected:
    """What Square made of our order: its id, total, and every line it priced differently."""
    sq = answer.get("order")
    if not isinstance(sq, dict) or not isinstance(sq.get("id"), str):
        raise ValueError("CreateOrder answered without an order id")
    by_uid = {li.get("uid"): li for li in sq.get("line_items") or [] if isinstance(li, dict)}
    differences: list[PriceDifference] = []
    ours_total = pos_total_lines = 0
    for i, item in enumerate(order.items):
        ours = line_amount(item)
        pos = _amount(by_uid.get(f"L{i + 1}", {}).get("gross_sales_money"))
        ours_total += ours
        pos_total_lines += ours if pos is None else pos
        if pos is not None and pos != ours:
            differences.append(PriceDifference(line_ref(i, item), ours, pos))
    subtotal = (order.totals.subtotal if order.totals else None) or ours_total
    version = sq.get("version")
    return Injected(
        pos_order_id=sq["id"],
        pos_version=version if isinstance(version, int) else None,
        pos_total=_amount(sq.get("total_money")) or 0,
        currency=(sq.get("total_money") or {}).get("currency") or plan.currency_of(order),
        tip_sent=plan.tip_for(order),
        differences=tuple(differences),
        subtotal_difference=pos_total_lines - subtotal,
    )


def unlinked_from_errors(order: Order, errors: Iterable[Json]) -> list[str]:
    """The order lines Square reported as unknown catalog objects."""
    refs: list[str] = []
    for error in errors:
        field = str(error.get("field") or "")
        if error.get("code") not in ("NOT_FOUND", "INVALID_VALUE") or "catalog_object_id" not in (
            field + str(error.get("detail") or "")
        ):
            continue
        match = _LINE_FIELD.search(field)
        if match and int(match[1]) < len(order.items):
            i = int(match[1])
            item = order.items[i]
            j = int(match[2]) if match[2] is not None else None
            if j is None:
                refs.append(line_ref(i, item))
            elif j < len(item.modifiers):
                refs.append(line_ref(i, item, (j, item.modifiers[j])))
            continue
        # No usable field: find the lines that carry the ids the detail quotes.
        for bad in _QUOTED_ID.findall(str(error.get("detail") or "")):
            for i, item in enumerate(order.items):
                if item.pos_id == bad:
                    refs.append(line_ref(i, item))
                refs += [
                    line_ref(i, item, (j, m))
                    for j, m in enumerate(item.modifiers)
                    if m.pos_id == bad
                ]
    return list(dict.fromkeys(refs))
