"""What flows between the daemon and a POS connector: the menu, the injection plan, the results."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.orders.model import Item, Modifier, Order, OrderType

from .menu import Menu

FulfillmentKind = Literal["pickup", "delivery", "shipment", "none"]

DEFAULT_FULFILLMENT: Mapping[OrderType, FulfillmentKind] = {
    "delivery": "delivery",
    "self_delivery": "delivery",
    "pickup": "pickup",
    "dine_in": "none",
}
# Partner couriers keep their tips; only the restaurant's own staff gets them through the POS.
TIPPED_ORDER_TYPES: frozenset[OrderType] = frozenset({"self_delivery", "pickup"})


@dataclass(frozen=True)
class LinkStatus:
    """Whether the POS answers with our credentials, and for which store."""

    ok: bool
    location_name: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class InjectionPlan:
    """Per-store settings that shape how an order is written into the POS."""

    store_id: str
    location_id: str
    fulfillment: Mapping[OrderType, FulfillmentKind] = field(
        default_factory=lambda: dict(DEFAULT_FULFILLMENT)
    )
    # partner -> the vendor's tender/payment type for what the partner collected
    tenders: Mapping[str, str] = field(default_factory=dict)
    # "partner/type", "type" or "partner" -> the vendor's order type / dining option id
    order_types: Mapping[str, str] = field(default_factory=dict)
    # the state of delivery addresses, for a POS that wants one (Toast)
    delivery_state: str = ""
    # which of the above came from the cloud's in/settings (the rest: the config file)
    from_cloud: frozenset[str] = frozenset()
    default_tender: str = "EXTERNAL"
    auto_close: bool = True
    tipped_order_types: frozenset[OrderType] = TIPPED_ORDER_TYPES
    currency: str = "EUR"

    def tender_for(self, partner: str) -> str:
        """The tender type recorded for money the partner collected."""
        return self.tenders.get(partner, self.default_tender)

    def order_type_for(self, order: Order) -> tuple[str, str] | None:
        """The order type id configured for this partner and order type, and where it is set."""
        partner = order.source.partner
        for key in (f"{partner}/{order.type}", order.type, partner):
            if self.order_types.get(key):
                return self.order_types[key], self._source("order_types", key)
        return None

    def configured_tender(self, partner: str) -> tuple[str, str] | None:
        """The tender id configured for this partner, and where it is set."""
        tender = self.tenders.get(partner)
        return (tender, self._source("tenders", partner)) if tender else None

    def _source(self, table: str, key: str) -> str:
        where = "in/settings" if f"{table}.{key}" in self.from_cloud else "[pos]"
        return f"{where} {table}.{key}"

    def reference(self, order: Order) -> str:
        """Our reference of this order revision in the POS: stable, unique, 19 characters.

        Vendors without idempotency keys keep it on the order (Toast `externalId`, Clover
        title, Lightspeed `thirdPartyReference`) so that an order an earlier try created can
        be found again.
        """
        return "se-" + self.key("ref", order)[:16]

    def tip_for(self, order: Order) -> int:
        """The tip the POS should carry for this order: 0 when the courier keeps it."""
        if order.type not in self.tipped_order_types or order.totals is None:
            return 0
        return order.totals.tip or 0

    def currency_of(self, order: Order) -> str:
        """The order's currency, else the store's."""
        return (order.totals.currency if order.totals else None) or self.currency

    def should_close(self, order: Order) -> bool:
        """Whether the ticket is paid and closed right after injection."""
        return self.auto_close and bool(order.payment and order.payment.paid)

    def key(self, purpose: str, order: Order) -> str:
        """A deterministic idempotency key: the same order revision always gets the same key."""
        raw = f"{purpose}|{self.store_id}|{order.id}|{order.revision}".encode()
        # 40 hex digits fit every vendor limit we know (Square payments: 45 characters)
        return hashlib.sha256(raw).hexdigest()[:40]


@dataclass
class Attempt:
    """The durable record of one step of one order revision in the POS (CONTRACT: once).

    Written (synchronous commit) before the first byte of the request goes out, so that a
    crash, a timeout or a lost answer leaves a trace: `tries` counts the earlier tries whose
    outcome was never recorded, and a connector without idempotency keys looks the order up
    by `reference` before creating it again.
    """

    step: str  # "create" | "pay"
    reference: str
    tries: int
    first_at: float  # epoch seconds of the first try: where a lookup window starts
    progress: Mapping[str, Any]
    events: tuple[Mapping[str, Any], ...] = ()  # what the POS told the cloud, relayed
    save: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None

    @property
    def ambiguous(self) -> bool:
        """An earlier try may have reached the POS: look before creating."""
        return self.tries > 0

    async def note(self, **progress: Any) -> None:
        """Record progress durably before going on (e.g. the POS id of a created order)."""
        self.progress = {**self.progress, **progress}
        if self.save is not None:
            await self.save(self.progress)


@dataclass(frozen=True)
class PriceDifference:
    """A line the POS priced differently from the order: recorded, never silently accepted."""

    line: str
    ours: int
    pos: int


@dataclass(frozen=True)
class Injected:
    """The POS accepted the order."""

    pos_order_id: str
    pos_version: int | None
    pos_total: int
    currency: str
    tip_sent: int = 0
    differences: tuple[PriceDifference, ...] = ()
    subtotal_difference: int = 0


@dataclass(frozen=True)
class Closed:
    """The partner's payment is recorded against the POS order."""

    pos_order_id: str
    payment_id: str
    amount: int
    tender: str


def line_ref(index: int, item: Item, modifier: tuple[int, Modifier] | None = None) -> str:
    """How a line is named in `unlinked`: its id ("l1", "l1/m2"), else its 1-based position."""
    ref = item.id or f"#{index + 1}"
    if modifier is None:
        return ref
    m_index, mod = modifier
    return f"{ref}/{mod.id or f'#{m_index + 1}'}"


def unlinked_lines(order: Order, menu: Menu | None = None) -> list[str]:
    """Lines and modifiers without a `pos_id`, or (given a menu) with one the menu does not know."""
    variations = menu.variation_ids() if menu else None
    modifiers = menu.modifier_ids() if menu else None
    found: list[str] = []
    for i, item in enumerate(order.items):
        if item.pos_id is None or (variations is not None and item.pos_id not in variations):
            found.append(line_ref(i, item))
        for j, mod in enumerate(item.modifiers):
            if mod.pos_id is None or (modifiers is not None and mod.pos_id not in modifiers):
                found.append(line_ref(i, item, (j, mod)))
    return found


def line_amount(item: Item) -> int:
    """What the order says a line costs: (unit price + modifiers per unit) x quantity."""
    per_unit = item.unit_price + sum(m.unit_price * m.quantity for m in item.modifiers)
    return per_unit * item.quantity


def rule_violations(order: Order, menu: Menu | None) -> list[str]:
    """The modifier rules of the menu (required groups, min/max choices) each line breaks.

    Checked before any request, so that the POS's refusal (or worse, an order it takes and
    the kitchen cannot make) is replaced by a `pos.error` naming the rule and the line.
    """
    if menu is None:
        return []
    by_variation = {v.id: item for item in menu.items for v in item.variations}
    found: list[str] = []
    for i, line in enumerate(order.items):
        item = by_variation.get(line.pos_id or "")
        if item is None:
            continue
        for rule in menu.rules_of(item):
            group = rule.group
            ids = {m.id for m in group.modifiers}
            chosen = sum(m.quantity for m in line.modifiers if m.pos_id in ids)
            where = f"line {line_ref(i, line)} ({line.name})"
            if chosen < rule.min_selected:
                need = "a choice" if rule.min_selected == 1 else f"{rule.min_selected} choices"
                found.append(f"{group.name!r} needs {need} on {where}, the order has {chosen}")
            elif rule.max_selected is not None and chosen > rule.max_selected:
                found.append(
                    f"{group.name!r} allows at most {rule.max_selected} on {where},"
                    f" the order has {chosen}"
                )
    return found
