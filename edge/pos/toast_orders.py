"""Toast request bodies built from our Order, and Toast answers read back (pure, no I/O).

Money is in currency units (12.5), not cents; ids are GUIDs. What we send is validated in
the tests against Toast's published orders spec (shared/specs/toast-orders-openapi.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.orders.model import Order

from .model import Injected, InjectionPlan, PriceDifference, line_amount, line_ref
from .money import cents, units
from .square_orders import order_label

Json = dict[str, Any]

# Our order type -> the dining option behavior that means it. A partner's courier collects
# the order at the counter: for the restaurant that is a take-out (and Toast's DELIVERY
# behavior wants an address the partner often keeps to itself).
BEHAVIORS = {
    "delivery": "TAKE_OUT",
    "self_delivery": "DELIVERY",
    "pickup": "TAKE_OUT",
    "dine_in": "DINE_IN",
}
_NON_EMAIL = re.compile(r"[^a-z0-9_]")
# Toast's externalId is "<naming authority>:<identifier>", the authority up to 16 characters.
NAMING_AUTHORITY = "storeedge"


def external_id(reference: str) -> str:
    """The order's `externalId`: our reference under our naming authority."""
    return f"{NAMING_AUTHORITY}:{reference}"


def toast_time(when: datetime) -> str:
    """Toast's date-time form: 2016-01-01T14:13:12.000+0000."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class ToastMenuIndex:
    """What a selection needs beyond the item GUID: its group, and each option's group."""

    item_group: Mapping[str, str]  # item guid -> menu group guid
    option_groups: Mapping[str, tuple[str, ...]]  # option guid -> modifier group guids
    item_option_groups: Mapping[str, tuple[str, ...]]  # item guid -> its modifier group guids


@dataclass(frozen=True)
class Choices:
    """The ids an order is written with: dining option, payment type, service charges."""

    dining_option: str
    behavior: str | None  # the dining option's, when known
    payment_type: str | None
    delivery_charge: str | None


def _customer(order: Order, plan: InjectionPlan) -> Json:
    """Toast requires all four fields: what the partner withheld is filled, not invented."""
    customer = order.customer
    name = (customer.name if customer else None) or order_label(order)
    first, _, last = name.partition(" ")
    local = _NON_EMAIL.sub("_", plan.reference(order).lower())
    return {
        "firstName": first[:50],
        "lastName": (last or order_label(order))[:50],
        "phone": ((customer.phone if customer else None) or "0000000000")[:20],
        # Toast wants an address: a non-deliverable one names our reference (README).
        "email": f"{local}@orders.invalid",
    }


def _delivery_info(order: Order, plan: InjectionPlan) -> Json:
    address = order.customer.address if order.customer else None
    if address is None:
        raise ValueError("a delivery order without an address: Toast needs one")
    if not plan.delivery_state:
        raise ValueError("Toast needs the state of delivery addresses: set [pos] delivery_state")
    info: Json = {
        "address1": address.line1 or "",
        "city": address.city or "",
        "state": plan.delivery_state,
        "zipCode": address.postal_code or "",
    }
    if address.line2:
        info["address2"] = address.line2
    notes = [order.customer.notes if order.customer else None, order.notes]
    text = " / ".join(n for n in notes if n)
    if text:
        info["notes"] = text[:300]
    return info


def _selection(order: Order, i: int, index: ToastMenuIndex) -> Json:
    line = order.items[i]
    guid = line.pos_id or ""
    selection: Json = {"item": {"guid": guid}, "quantity": line.quantity}
    if guid in index.item_group:
        selection["itemGroup"] = {"guid": index.item_group[guid]}
    allowed = index.item_option_groups.get(guid, ())
    modifiers = []
    for mod in line.modifiers:
        option = mod.pos_id or ""
        groups = [g for g in index.option_groups.get(option, ()) if g in allowed]
        groups = groups or list(index.option_groups.get(option, ()))
        # Toast wants each modifier at its selection's quantity: "double parmesan" is the
        # option twice (ours counts per dish)
        modifier: Json = {"item": {"guid": option}, "quantity": line.quantity}
        if groups:
            modifier["optionGroup"] = {"guid": groups[0]}
        modifiers += [dict(modifier) for _ in range(mod.quantity)]
    if line.notes:  # the kitchen's note for this dish ("sans oignons"), at no charge
        modifiers.append({"selectionType": "SPECIAL_REQUEST", "displayName": line.notes[:1000]})
    if modifiers:
        selection["modifiers"] = modifiers
    return selection


def order_body(
    order: Order,
    plan: InjectionPlan,
    index: ToastMenuIndex,
    choices: Choices,
    *,
    payment_amount: int | None = None,
) -> Json:
    """The Order for /prices (no payment) and /orders (with the partner's payment)."""
    check: Json = {
        "selections": [_selection(order, i, index) for i in range(len(order.items))],
        "tabName": order_label(order)[:100],
        "customer": _customer(order, plan),
    }
    fee = order.totals.delivery_fee if order.totals else None
    if fee and choices.delivery_charge:
        check["appliedServiceCharges"] = [
            {"serviceCharge": {"guid": choices.delivery_charge}, "chargeAmount": units(fee)}
        ]
    if payment_amount is not None and choices.payment_type is not None:
        check["payments"] = [
            {
                "type": "OTHER",
                "otherPayment": {"guid": choices.payment_type},
                "amount": units(payment_amount),
                "tipAmount": units(plan.tip_for(order)),
            }
        ]
    body: Json = {
        "externalId": external_id(plan.reference(order)),
        "diningOption": {"guid": choices.dining_option},
        "checks": [check],
    }
    if order.scheduled_for is not None:
        body["promisedDate"] = toast_time(order.scheduled_for)
    behavior = choices.behavior or BEHAVIORS.get(order.type)
    if behavior == "DELIVERY":
        body["deliveryInfo"] = _delivery_info(order, plan)
    return body


def check_total(priced: Json) -> int:
    """The total of the priced order's checks, in minor units."""
    return sum(cents(c.get("totalAmount")) or 0 for c in priced.get("checks") or [])


def _line_price(selection: Json) -> int | None:
    """What the guest pays Toast for a dish line, for its quantity: a selection's `price`
    includes its modifiers and excludes tax, added back where the menu price includes it."""
    price = cents(selection.get("price"))
    if price is None:
        return None
    included = selection.get("taxInclusion") == "INCLUDED"
    return price + ((cents(selection.get("tax")) or 0) if included else 0)


def read_order(order: Order, plan: InjectionPlan, doc: Json) -> Injected:
    """What Toast made of our order: its GUID, total and the lines it priced differently."""
    guid = doc.get("guid")
    if not isinstance(guid, str) or not guid:
        raise ValueError("Toast answered without an order GUID")
    selections = [s for c in doc.get("checks") or [] for s in c.get("selections") or []]
    differences: list[PriceDifference] = []
    ours_total = pos_lines = 0
    for i, item in enumerate(order.items):
        ours = line_amount(item)
        ours_total += ours
        pos = _line_price(selections[i]) if i < len(selections) else None
        pos_lines += ours if pos is None else pos
        if pos is not None and pos != ours:
            differences.append(PriceDifference(line_ref(i, item), ours, pos))
    subtotal = (order.totals.subtotal if order.totals else None) or ours_total
    return Injected(
        pos_order_id=guid,
        pos_version=None,
        pos_total=check_total(doc),
        currency=plan.currency_of(order),
        tip_sent=plan.tip_for(order),
        differences=tuple(differences),
        subtotal_difference=pos_lines - subtotal,
    )
