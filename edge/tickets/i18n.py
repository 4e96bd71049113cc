"""Ticket wording in the store's language ("fr" or "en")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Literal

from edge.orders.model import OrderType

Locale = Literal["fr", "en"]

_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class Labels:
    """The words printed on tickets, in one language."""

    order_types: Mapping[OrderType, str]
    reprint: str
    cancelled: str
    updated: str
    manual_entry: str
    scheduled_for: str
    placed_at: str
    customer: str
    phone: str
    allergens: str
    notes: str
    website: str


LABELS: Mapping[Locale, Labels] = MappingProxyType(
    {
        "fr": Labels(
            order_types=MappingProxyType(
                {
                    "delivery": "LIVRAISON",
                    "self_delivery": "LIVRAISON RESTAURANT",
                    "pickup": "À EMPORTER",
                    "dine_in": "SUR PLACE",
                }
            ),
            reprint="RÉIMPRESSION",
            cancelled="ANNULÉE",
            updated="MODIFIÉE",
            manual_entry="SAISIE MANUELLE",
            scheduled_for="Programmée pour",
            placed_at="Reçue à",
            customer="Client",
            phone="Tél.",
            allergens="Allergies",
            notes="Notes",
            website="Site web",
        ),
        "en": Labels(
            order_types=MappingProxyType(
                {
                    "delivery": "DELIVERY",
                    "self_delivery": "OWN DELIVERY",
                    "pickup": "PICKUP",
                    "dine_in": "DINE IN",
                }
            ),
            reprint="REPRINT",
            cancelled="CANCELLED",
            updated="UPDATED",
            manual_entry="MANUAL ENTRY",
            scheduled_for="Scheduled for",
            placed_at="Placed at",
            customer="Customer",
            phone="Phone",
            allergens="Allergens",
            notes="Notes",
            website="Website",
        ),
    }
)

_PARTNERS = {
    "ubereats": "Uber Eats",
    "deliveroo": "Deliveroo",
    "doordash": "DoorDash",
    "justeat": "Just Eat",
}


# The 14 allergens EU law names (Regulation 1169/2011, annex II), in the spellings partners
# send, with their French names; any other value prints as given.
_ALLERGENS_FR = {
    **dict.fromkeys(("gluten", "cereals containing gluten", "wheat"), "gluten"),
    **dict.fromkeys(("crustaceans", "shellfish"), "crustacés"),
    **dict.fromkeys(("egg", "eggs"), "œufs"),
    "fish": "poisson",
    **dict.fromkeys(("peanut", "peanuts"), "arachides"),
    **dict.fromkeys(("soy", "soya", "soybeans", "soybean"), "soja"),
    **dict.fromkeys(("milk", "dairy", "lactose"), "lait"),
    **dict.fromkeys(("nuts", "tree nuts", "tree_nuts", "nut"), "fruits à coque"),
    "celery": "céleri",
    "mustard": "moutarde",
    **dict.fromkeys(("sesame", "sesame seeds"), "sésame"),
    **dict.fromkeys(("sulphites", "sulfites", "sulphur dioxide", "sulfur dioxide"), "sulfites"),
    **dict.fromkeys(("lupin", "lupine"), "lupin"),
    **dict.fromkeys(("molluscs", "mollusks", "mollusc", "mollusk"), "mollusques"),
}


def allergen_names(allergens: Sequence[str], locale: Locale) -> str:
    """The allergens as the kitchen reads them, upper case: "ARACHIDES, LAIT" in French."""
    names = [a.strip() for a in allergens]
    if locale == "fr":
        names = [_ALLERGENS_FR.get(a.lower(), a) for a in names]
    return ", ".join(a.upper() for a in names)


def partner_name(partner: str, locale: Locale) -> str:
    """How staff know the partner: "ubereats" -> "Uber Eats"; unknown names are capitalised."""
    key = partner.lower().replace("_", "").replace("-", "").replace(" ", "")
    if key == "website":
        return LABELS[locale].website
    return _PARTNERS.get(key) or partner[:1].upper() + partner[1:]


def local_time(when: datetime, tz: tzinfo) -> datetime:
    """`when` in the store's time zone, or in its own offset when the shift would leave the
    years datetime holds: "9999-12-31T23:59:59Z" is valid RFC 3339, and year 10000 in Paris."""
    try:
        return when.astimezone(tz)
    except OverflowError:
        return when


def short_date(when: datetime, locale: Locale) -> str:
    """Day and month: "23/11" in French, "Nov 23" in English."""
    if locale == "fr":
        return f"{when.day:02d}/{when.month:02d}"
    return f"{_EN_MONTHS[when.month - 1]} {when.day}"


def long_date(when: datetime, locale: Locale) -> str:
    """Day, month and year: "23/11/2026" in French, "Nov 23, 2026" in English."""
    if locale == "fr":
        return f"{short_date(when, locale)}/{when.year}"
    return f"{short_date(when, locale)}, {when.year}"


@dataclass(frozen=True, slots=True)
class ReceiptLabels:
    """The words printed on customer receipts, in one language."""

    ordered: str  # "{date}" and "{time}" are filled in
    subtotal: str
    delivery_fee: str
    discount: str
    tip: str
    tax_included: str
    tax_added: str
    total: str
    payment: str
    paid_via: str  # "{partner}" is filled in
    payment_methods: Mapping[str, str]
    paid: str
    to_collect: str
    reference: str
    thanks: str


RECEIPT_LABELS: Mapping[Locale, ReceiptLabels] = MappingProxyType(
    {
        "fr": ReceiptLabels(
            ordered="Commande du {date} à {time}",
            subtotal="Sous-total",
            delivery_fee="Frais de livraison",
            discount="Remise",
            tip="Pourboire",
            tax_included="dont TVA",
            tax_added="Taxes",
            total="TOTAL",
            payment="Paiement",
            paid_via="Payé via {partner}",
            payment_methods=MappingProxyType({"card": "Carte", "cash": "Espèces"}),
            paid="PAYÉ",
            to_collect="À ENCAISSER",
            reference="Réf.",
            thanks="Merci !",
        ),
        "en": ReceiptLabels(
            ordered="Ordered {date} at {time}",
            subtotal="Subtotal",
            delivery_fee="Delivery fee",
            discount="Discount",
            tip="Tip",
            tax_included="incl. VAT",
            tax_added="Tax",
            total="TOTAL",
            payment="Payment",
            paid_via="Paid via {partner}",
            payment_methods=MappingProxyType({"card": "Card", "cash": "Cash"}),
            paid="PAID",
            to_collect="TO COLLECT",
            reference="Ref.",
            thanks="Thank you!",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class PrinterTestLabels:
    """The words printed on a printer's test page, in one language."""

    title: str
    printer: str
    uri: str
    width: str  # "{columns}" is filled in
    encoding: str
    accents: str
    normal: str
    bold: str
    double_height: str
    double_width: str
    inverse: str
    underline: str
    printed_at: str


TEST_PAGE_LABELS: Mapping[Locale, PrinterTestLabels] = MappingProxyType(
    {
        "fr": PrinterTestLabels(
            title="Page de test",
            printer="Imprimante",
            uri="URI",
            width="Largeur: {columns} colonnes",
            encoding="Encodage",
            accents="Crème brûlée, œuf: 12,50 €",
            normal="Normal",
            bold="Gras",
            double_height="Double hauteur",
            double_width="Double largeur",
            inverse="Inversé",
            underline="Souligné",
            printed_at="Imprimée le",
        ),
        "en": PrinterTestLabels(
            title="Test page",
            printer="Printer",
            uri="URI",
            width="Width: {columns} columns",
            encoding="Encoding",
            accents="Crème brûlée, œuf: €12.50",
            normal="Normal",
            bold="Bold",
            double_height="Double height",
            double_width="Double width",
            inverse="Inverse",
            underline="Underline",
            printed_at="Printed",
        ),
    }
)

# Decimal places of the currencies whose minor unit is not a hundredth (ISO 4217).
# ISO 4217 minor units where they are not 2.
_EXPONENTS = {
    **dict.fromkeys(
        (
            *("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"),
            *("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"),
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def format_money(amount: int, currency: str | None, locale: Locale) -> str:
    """Minor units as printed: 2500 EUR is "25,00 €" in French, "€25.00" in English."""
    exponent = _EXPONENTS.get(currency or "", 2)
    major, minor = divmod(abs(amount), 10**exponent)
    point, thousands = (",", " ") if locale == "fr" else (".", ",")
    number = f"{major:,}".replace(",", thousands)
    if exponent:
        number += f"{point}{minor:0{exponent}d}"
    sign = "-" if amount < 0 else ""
    if currency is None:
        return sign + number
    symbol = _SYMBOLS.get(currency)
    if symbol is None:
        return f"{sign}{number} {currency}"
    if locale == "fr":
        return f"{sign}{number} {symbol}"
    return f"{sign}{symbol}{number}"
