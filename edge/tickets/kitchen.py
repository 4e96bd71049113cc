"""The kitchen ticket of an order (CONTRACT §7), as a printer-independent document."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from drivers.escpos import Block, Columns, Cut, Feed, Rule, Text
from edge.orders.model import Item, Order

from .i18n import LABELS, Labels, Locale, allergen_names, local_time, partner_name, short_date

TicketKind = Literal["kitchen", "updated", "cancellation", "manual_entry"]

_INDENT = "   "


def kitchen_ticket(
    order: Order,
    *,
    kind: TicketKind = "kitchen",
    reprint: bool = False,
    locale: Locale = "en",
    timezone: str = "UTC",
    printer: str | None = None,
    reason: str | None = None,
) -> list[Block]:
    """The ticket the kitchen works from; times are shown in the store's `timezone`."""
    words = LABELS[locale]
    tz = ZoneInfo(timezone)
    full = kind != "cancellation"
    blocks: list[Block] = [*_banners(kind, reprint, words)]
    if reason:
        blocks.append(Text(reason, bold=True, align="center"))
    if order.brand:
        blocks.append(Text(order.brand, bold=True, double_height=True, align="center"))
    blocks.append(
        Text(
            f"{partner_name(order.source.partner, locale)} {order.display_id}",
            bold=True,
            double_height=True,
            double_width=True,
            align="center",
        )
    )
    blocks.append(
        Text(words.order_types[order.type], bold=True, double_height=True, align="center")
    )
    if full and order.scheduled_for is not None:
        when = local_time(order.scheduled_for, tz)
        blocks.append(
            Text(
                f"{words.scheduled_for} {when:%H:%M} ({short_date(when, locale)})",
                bold=True,
                double_height=True,
                align="center",
            )
        )
    blocks += _customer(order, words, with_address=full and order.type == "self_delivery")
    blocks.append(Rule())
    for item in order.items:
        blocks += _item(item, with_notes=full)
    blocks.append(Rule())
    if full and order.notes:
        blocks.append(Text(f"{words.notes}: {order.notes}", bold=True))
    if full and order.allergens:
        allergens = allergen_names(order.allergens, locale)
        blocks.append(Text(f"{words.allergens.upper()}: {allergens}", bold=True, inverse=True))
    placed = local_time(order.placed_at, tz)
    blocks += [Columns(f"{words.placed_at} {placed:%H:%M}", printer or ""), Feed(), Cut()]
    return blocks


def _banners(kind: TicketKind, reprint: bool, words: Labels) -> list[Block]:
    titles = {
        "updated": words.updated,
        "cancellation": words.cancelled,
        "manual_entry": words.manual_entry,
    }
    lines = [words.reprint] if reprint else []
    if kind in titles:
        lines.append(titles[kind])
    return [
        Text(line, bold=True, inverse=True, double_height=True, double_width=True, align="center")
        for line in lines
    ]


def _customer(order: Order, words: Labels, *, with_address: bool) -> list[Block]:
    customer = order.customer
    if customer is None:
        return []
    blocks: list[Block] = []
    if customer.name:
        blocks.append(Text(f"{words.customer}: {customer.name}"))
    if not with_address:
        return blocks
    if customer.address is not None:
        address = customer.address
        town = " ".join(part for part in (address.postal_code, address.city) if part)
        blocks += [Text(line) for line in (address.line1, address.line2, town) if line]
    if customer.phone:
        blocks.append(Text(f"{words.phone}: {customer.phone}"))
    if customer.notes:
        blocks.append(Text(f"> {customer.notes}", hanging_indent=2))
    return blocks


def _item(item: Item, *, with_notes: bool) -> list[Block]:
    quantity = f"{item.quantity}x "
    blocks: list[Block] = [Text(quantity + item.name, bold=True, hanging_indent=len(quantity))]
    for modifier in item.modifiers:
        times = f"{modifier.quantity}x " if modifier.quantity > 1 else ""
        blocks.append(Text(f"{_INDENT}+ {times}{modifier.name}", hanging_indent=len(_INDENT) + 2))
    if with_notes and item.notes:
        blocks.append(Text(f"{_INDENT}> {item.notes}", hanging_indent=len(_INDENT) + 2))
    return blocks
