"""The customer receipt of an order: items with their prices, totals and payment."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from drivers.escpos import Block, Columns, Cut, Feed, Rule, Text
from edge.orders.model import Item, Order, Payment, Totals

from .i18n import (
    LABELS,
    RECEIPT_LABELS,
    Locale,
    ReceiptLabels,
    allergen_names,
    format_money,
    local_time,
    long_date,
    partner_name,
    short_date,
)

_INDENT = "   "


def customer_receipt(
    order: Order,
    *,
    locale: Locale = "en",
    timezone: str = "UTC",
    store_name: str = "",
    reprint: bool = False,
    reason: str | None = None,
) -> list[Block]:
    """The receipt that goes with the order; its totals are the partner's, never recomputed."""
    words, receipt = LABELS[locale], RECEIPT_LABELS[locale]
    tz = ZoneInfo(timezone)
    currency = order.totals.currency if order.totals is not None else None
    blocks: list[Block] = []
    if reprint:
        blocks.append(
            Text(
                words.reprint,
                bold=True,
                inverse=True,
                double_height=True,
                double_width=True,
                align="center",
            )
        )
    if reason:
        blocks.append(Text(reason, bold=True, align="center"))
    if store_name:
        blocks.append(
            Text(store_name, bold=True, double_height=True, double_width=True, align="center")
        )
    if order.brand and order.brand != store_name:
        # Under the store's name the brand is a subtitle; alone it heads the receipt.
        blocks.append(Text(order.brand, bold=True, double_height=not store_name, align="center"))
    blocks += [
        Text(
            f"{partner_name(order.source.partner, locale)} {order.display_id}",
            bold=True,
            double_height=True,
            double_width=True,
            align="center",
        ),
        Text(words.order_types[order.type], bold=True, align="center"),
    ]
    placed = local_time(order.placed_at, tz)
    blocks.append(
        Text(receipt.ordered.format(date=long_date(placed, locale), time=f"{placed:%H:%M}"))
    )
    if order.scheduled_for is not None:
        when = local_time(order.scheduled_for, tz)
        blocks.append(
            Text(f"{words.scheduled_for} {when:%H:%M} ({short_date(when, locale)})", bold=True)
        )
    if order.customer is not None and order.customer.name:
        blocks.append(Text(f"{words.customer}: {order.customer.name}"))
    blocks.append(Rule())
    for item in order.items:
        blocks += _item(item, currency, locale)
    blocks.append(Rule())
    totals = _totals(order.totals, receipt, locale) if order.totals is not None else []
    if totals:
        blocks += [*totals, Rule()]
    if order.payment is not None:
        blocks += _payment(order.payment, order.source.partner, receipt, locale)
    if order.source.partner_order_id:
        partner = partner_name(order.source.partner, locale)
        blocks.append(
            Text(
                f"{receipt.reference} {partner}: {order.source.partner_order_id}", hanging_indent=2
            )
        )
    if order.notes:
        blocks.append(Text(f"{words.notes}: {order.notes}", hanging_indent=2))
    if order.allergens:
        allergens = allergen_names(order.allergens, locale)
        blocks.append(Text(f"{words.allergens.upper()}: {allergens}", bold=True, inverse=True))
    blocks += [Feed(), Text(receipt.thanks, bold=True, align="center"), Feed(), Cut()]
    return blocks


def _item(item: Item, currency: str | None, locale: Locale) -> list[Block]:
    quantity = f"{item.quantity}x "
    blocks: list[Block] = [
        Columns(
            f"{quantity}{item.name}",
            format_money(item.quantity * item.unit_price, currency, locale),
            hanging_indent=len(quantity),
        )
    ]
    for modifier in item.modifiers:
        times = f"{modifier.quantity}x " if modifier.quantity > 1 else ""
        line = f"{_INDENT}+ {times}{modifier.name}"
        amount = item.quantity * modifier.quantity * modifier.unit_price
        if amount:
            money = format_money(amount, currency, locale)
            blocks.append(Columns(line, money, hanging_indent=len(_INDENT) + 2))
        else:
            blocks.append(Text(line, hanging_indent=len(_INDENT) + 2))
    if item.notes:
        blocks.append(Text(f"{_INDENT}> {item.notes}", hanging_indent=len(_INDENT) + 2))
    return blocks


def _totals(totals: Totals, words: ReceiptLabels, locale: Locale) -> list[Block]:
    """The amounts the partner gave; zero fees, tips, discounts and taxes are left out."""

    def money(amount: int) -> str:
        return format_money(amount, totals.currency, locale)

    blocks: list[Block] = []
    if totals.subtotal is not None:
        blocks.append(Columns(words.subtotal, money(totals.subtotal)))
    if totals.delivery_fee:
        blocks.append(Columns(words.delivery_fee, money(totals.delivery_fee)))
    if totals.discount:
        blocks.append(Columns(words.discount, money(-totals.discount)))
    if totals.tip:
        blocks.append(Columns(words.tip, money(totals.tip)))
    tax = _tax_kind(totals)
    if totals.tax and tax == "added":
        blocks.append(Columns(words.tax_added, money(totals.tax)))
    if totals.total is not None:
        blocks.append(Columns(words.total, money(totals.total), bold=True, double_height=True))
    if totals.tax and tax != "added":
        label = words.tax_included if tax == "included" else words.tax_added
        blocks.append(Columns(label, money(totals.tax)))
    return blocks


def _tax_kind(totals: Totals) -> str:
    """ "added" when the total is the other amounts plus tax (sales tax), "included" when it is
    the other amounts (VAT), "unknown" when the amounts say neither (plain "Tax" then)."""
    if totals.subtotal is None or totals.total is None:
        return "included"  # partners that leave amounts out are VAT stores
    before_tax = (
        totals.subtotal + (totals.delivery_fee or 0) + (totals.tip or 0) - (totals.discount or 0)
    )
    if before_tax == totals.total:
        return "included"
    if before_tax + (totals.tax or 0) == totals.total:
        return "added"
    return "unknown"


def _payment(payment: Payment, partner: str, words: ReceiptLabels, locale: Locale) -> list[Block]:
    blocks: list[Block] = []
    method = (payment.method or "").strip()
    if method.lower() == "partner":
        blocks.append(Text(words.paid_via.format(partner=partner_name(partner, locale))))
    elif method:
        shown = words.payment_methods.get(method.lower()) or method[:1].upper() + method[1:]
        blocks.append(Text(f"{words.payment}: {shown}"))
    if payment.paid is not None:
        status = words.paid if payment.paid else words.to_collect
        blocks.append(Text(status, bold=True, inverse=True, double_height=True, align="center"))
    return blocks
