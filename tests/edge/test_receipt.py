"""Customer receipts and printer test pages: golden ESC/POS bytes and what they must show.

Regenerate the golden files with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_receipt.py`;
each `.bin` gets a `.txt` rendering next to it for review.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.escpos import encode
from edge.orders.model import Order
from edge.tickets import Locale, customer_receipt, printer_test_page
from edge.tickets.i18n import format_money
from edge.tickets.test_page import ACCENTS_LOWER, ACCENTS_UPPER, ruler
from tests.edge.test_tickets import TZ, check_golden, load, render

STORE = "Burger Lab Bastille"
NOW = datetime(2026, 11, 23, 18, 2, 11, tzinfo=UTC)
PRINTER, URI = "kitchen", "tcp://192.168.1.50:9100"


def receipt_lines(order: Order, width: int = 48, **options: Any) -> list[str]:
    options.setdefault("timezone", TZ)
    return render(encode(customer_receipt(order, **options), width=width), width).splitlines()


def text_of(line: str) -> str:
    """The printed text of a rendered line, without its style flags and centring."""
    return line.partition("|")[2].strip()


def cents(amount: str) -> int:
    """A printed amount back in minor units, from its digits only (never through a float)."""
    digits = re.sub(r"[^0-9]", "", amount)
    return -int(digits) if amount.startswith("-") else int(digits)


def amount_of(lines: list[str], label: str) -> str | None:
    """The right-hand amount printed on the line that starts with `label`, if any."""
    for line in lines:
        text = text_of(line)
        if text.startswith(label) and text != label:
            return text.removeprefix(label).strip()
    return None


def make_order(**changes: Any) -> Order:
    doc: dict[str, Any] = {
        "id": "ord_1",
        "revision": 1,
        "status": "accepted",
        "source": {"partner": "ubereats", "display_id": "A1"},
        "type": "pickup",
        "placed_at": "2026-11-23T18:02:11Z",
        "items": [{"name": "Cheeseburger", "quantity": 2, "unit_price": 1250}],
    }
    doc.update(changes)
    return Order.model_validate_json(json.dumps(doc))


# --- golden files ---------------------------------------------------------------------------

FIXTURES = ("ubereats_delivery", "self_delivery_with_tip", "large_catering_order")
LOCALES: tuple[Locale, ...] = ("fr", "en")
WIDTHS = (32, 48)
RECEIPTS = [
    (f"{fixture}-receipt-{locale}-{width}", fixture, locale, width)
    for fixture in FIXTURES
    for locale in LOCALES
    for width in WIDTHS
]
TEST_PAGES = [
    (f"printer_test_page-{locale}-{width}", locale, width) for locale in LOCALES for width in WIDTHS
]


def receipt_bytes(fixture: str, locale: Locale, width: int) -> bytes:
    blocks = customer_receipt(load(fixture), locale=locale, timezone=TZ, store_name=STORE)
    return encode(blocks, width=width, encoding="cp1252")


def page_bytes(locale: Locale, width: int, encoding: str = "cp1252") -> bytes:
    blocks = printer_test_page(
        printer=PRINTER,
        uri=URI,
        width=width,
        encoding=encoding,
        locale=locale,
        timezone=TZ,
        store_name=STORE,
        now=NOW,
    )
    return encode(blocks, width=width, encoding=encoding)


def assert_fits(data: bytes, width: int) -> None:
    for line in render(data, width).splitlines():
        flags, _, text = line.partition("|")
        assert len(text) * (2 if "W" in flags else 1) <= width, line


@pytest.mark.parametrize(
    ("name", "fixture", "locale", "width"), RECEIPTS, ids=[case[0] for case in RECEIPTS]
)
def test_receipt_golden(name: str, fixture: str, locale: Locale, width: int) -> None:
    data = receipt_bytes(fixture, locale, width)
    check_golden(name, data, width)
    assert_fits(data, width)


@pytest.mark.parametrize(("name", "locale", "width"), TEST_PAGES, ids=[c[0] for c in TEST_PAGES])
def test_test_page_golden(name: str, locale: Locale, width: int) -> None:
    data = page_bytes(locale, width)
    check_golden(name, data, width)
    assert_fits(data, width)


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (2500, "EUR", "fr", "25,00 €"),
        (2500, "EUR", "en", "€25.00"),
        (2500, "USD", "en", "$25.00"),
        (2500, "USD", "fr", "25,00 $"),
        (2500, "GBP", "en", "£25.00"),
        (2500, "CHF", "en", "25.00 CHF"),
        (2500, "CHF", "fr", "25,00 CHF"),
        (2500, None, "fr", "25,00"),
        (2500, None, "en", "25.00"),
        (5, "EUR", "fr", "0,05 €"),
        (0, "EUR", "en", "€0.00"),
        (-500, "EUR", "fr", "-5,00 €"),
        (-500, "EUR", "en", "-€5.00"),
        (123456, "EUR", "fr", "1 234,56 €"),
        (123456, "EUR", "en", "€1,234.56"),
        (1500, "JPY", "en", "1,500 JPY"),
        (1500, "KWD", "en", "1.500 KWD"),
        (1500, "RWF", "fr", "1 500 RWF"),
        (1500, "XOF", "fr", "1 500 XOF"),
        (15000, "CLF", "en", "1.5000 CLF"),
        # Past float precision: 2**53 + 1 cents would round in a float.
        (2**53 + 1, "EUR", "en", "€90,071,992,547,409.93"),
    ],
)
def test_format_money(amount: int, currency: str | None, locale: Locale, shown: str) -> None:
    assert format_money(amount, currency, locale) == shown


# --- receipt content ------------------------------------------------------------------------


# An amount at the end of a line: "1 234,56 €" in French, "€1,234.56" in English.
AMOUNT = {
    "fr": r"(?<!\S)(\d{1,3}(?: \d{3})*,\d\d €)$",
    "en": r"(?<!\S)(€\d{1,3}(?:,\d{3})*\.\d\d)$",
}


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("locale", LOCALES)
def test_printed_amounts_add_up_to_the_subtotal(fixture: str, locale: Locale) -> None:
    order = load(fixture)
    assert order.totals is not None
    lines = receipt_lines(order, locale=locale)
    first, second = [i for i, line in enumerate(lines) if text_of(line).startswith("----")][:2]
    amounts = [re.search(AMOUNT[locale], text_of(line)) for line in lines[first + 1 : second]]
    assert sum(cents(found.group(1)) for found in amounts if found) == order.totals.subtotal
    assert len([found for found in amounts if found]) >= len(order.items)
    total = amount_of(lines, "TOTAL")
    assert total is not None
    found = re.search(AMOUNT[locale], total)
    assert found is not None
    assert found.group(1) == total
    assert cents(total) == order.totals.total


def test_line_totals_of_the_pizza() -> None:
    lines = receipt_lines(load("self_delivery_with_tip"), locale="fr")
    pizza = [amount_of(lines, label) for label in ("1x Pizza Reine", "+ Grande", "+ Œuf")]
    assert pizza == ["12,00 €", "3,00 €", "1,00 €"]
    assert sum(cents(amount or "") for amount in pizza) == 1600
    assert format_money(1600, "EUR", "fr") == "16,00 €"
    assert amount_of(lines, "2x Coca-Cola 33 cl") == "6,00 €"
    assert amount_of(lines, "Sous-total") == "22,00 €"
    assert amount_of(lines, "Frais de livraison") == "2,50 €"
    assert amount_of(lines, "Pourboire") == "3,00 €"
    assert amount_of(lines, "dont TVA") == "2,00 €"
    total = next(line for line in lines if text_of(line).startswith("TOTAL"))
    assert total.startswith("BH   |")
    assert text_of(total).endswith("27,50 €")
    assert cents("22,00 €") + cents("2,50 €") + cents("3,00 €") == cents("27,50 €")


def test_english_amounts_and_labels() -> None:
    lines = receipt_lines(load("self_delivery_with_tip"), locale="en")
    assert amount_of(lines, "1x Pizza Reine") == "€12.00"
    assert amount_of(lines, "Subtotal") == "€22.00"
    assert amount_of(lines, "Delivery fee") == "€2.50"
    assert amount_of(lines, "Tip") == "€3.00"
    assert amount_of(lines, "TOTAL") == "€27.50"
    assert amount_of(lines, "incl. VAT") == "€2.00"
    assert "     |Payment: Card" in lines
    assert "BIH  |                      PAID" in lines
    assert "     |Ref. Website: W-2026-11-23-0042" in lines


def test_modifier_totals_multiply_by_both_quantities() -> None:
    order = make_order(
        items=[
            {
                "name": "Burger",
                "quantity": 3,
                "unit_price": 1000,
                "modifiers": [
                    {"name": "Bacon", "quantity": 2, "unit_price": 150},
                    {"name": "Saignant", "unit_price": 0},
                ],
                "notes": "sans sel",
            }
        ],
        totals={"currency": "EUR"},
    )
    lines = receipt_lines(order, locale="fr")
    assert amount_of(lines, "3x Burger") == "30,00 €"
    assert amount_of(lines, "+ 2x Bacon") == "9,00 €"
    assert "     |   + Saignant" in lines  # free: no price
    assert "     |   > sans sel" in lines


def test_discount_is_negative_and_zero_amounts_are_left_out() -> None:
    order = make_order(
        totals={
            "subtotal": 2500,
            "discount": 500,
            "tip": 0,
            "delivery_fee": 0,
            "tax": 0,
            "total": 2000,
            "currency": "EUR",
        }
    )
    fr = receipt_lines(order, locale="fr")
    assert amount_of(fr, "Remise") == "-5,00 €"
    assert amount_of(fr, "TOTAL") == "20,00 €"
    text = "\n".join(fr)
    for absent in ("Pourboire", "Frais de livraison", "TVA"):
        assert absent not in text
    assert amount_of(receipt_lines(order), "Discount") == "-€5.00"


def test_sales_tax_added_to_the_total_is_a_line_before_it() -> None:
    order = make_order(totals={"subtotal": 2500, "tax": 222, "total": 2722, "currency": "USD"})
    lines = receipt_lines(order)
    labels = [text_of(line).split(" ")[0] for line in lines]
    assert labels.index("Tax") < labels.index("TOTAL")
    assert amount_of(lines, "Tax") == "$2.22"
    assert amount_of(lines, "TOTAL") == "$27.22"
    assert "incl. VAT" not in "\n".join(lines)


def test_tax_the_amounts_do_not_explain_is_plain_tax_not_vat() -> None:
    # A tip paid outside the total: neither "plus tax" nor "tax included" adds up.
    totals = {"subtotal": 2000, "tax": 160, "tip": 300, "total": 2160, "currency": "USD"}
    lines = receipt_lines(make_order(totals=totals))
    assert amount_of(lines, "Tax") == "$1.60"
    assert "incl. VAT" not in "\n".join(lines)


def test_order_without_totals_prints_no_totals_section() -> None:
    lines = receipt_lines(make_order(), locale="fr")
    text = "\n".join(lines)
    assert amount_of(lines, "2x Cheeseburger") == "25,00"  # no currency to show
    for absent in ("TOTAL", "Sous-total", "TVA", "€"):
        assert absent not in text
    assert sum(text_of(line).startswith("----") for line in lines) == 2
    assert lines[-1] == "~~~~~ cut ~~~~~"


def test_missing_totals_are_not_invented() -> None:
    lines = receipt_lines(make_order(totals={"total": 2500, "currency": "EUR"}))
    assert amount_of(lines, "TOTAL") == "€25.00"
    assert "Subtotal" not in "\n".join(lines)
    lines = receipt_lines(make_order(totals={"subtotal": 2500, "currency": "GBP"}))
    assert amount_of(lines, "Subtotal") == "£25.00"
    assert "TOTAL" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("payment", "locale", "method", "status"),
    [
        ({"method": "partner", "paid": True}, "fr", "Payé via Uber Eats", "PAYÉ"),
        ({"method": "partner", "paid": True}, "en", "Paid via Uber Eats", "PAID"),
        ({"method": "card", "paid": True}, "fr", "Paiement: Carte", "PAYÉ"),
        ({"method": "cash", "paid": False}, "fr", "Paiement: Espèces", "À ENCAISSER"),
        ({"method": "cash", "paid": False}, "en", "Payment: Cash", "TO COLLECT"),
        ({"method": "voucher"}, "en", "Payment: Voucher", None),
        ({"paid": False}, "en", None, "TO COLLECT"),
    ],
)
def test_payment(
    payment: dict[str, Any], locale: Locale, method: str | None, status: str | None
) -> None:
    lines = receipt_lines(make_order(payment=payment), locale=locale)
    if method is not None:
        assert f"     |{method}" in lines
    inverse = [text_of(line) for line in lines if line.startswith("BIH  |")]
    assert inverse == ([status] if status else [])


def test_header_reprint_and_footer() -> None:
    order = load("ubereats_delivery")
    lines = receipt_lines(order, locale="fr", store_name=STORE, reprint=True)
    assert lines[0] == "BIHW |      RÉIMPRESSION"
    assert lines[1] == "BHW  |  Burger Lab Bastille"
    assert "B    |                   Burger Lab" in lines
    assert "BHW  |    Uber Eats A1B2C" in lines
    assert "B    |                   LIVRAISON" in lines
    assert "     |Client: Élodie M." in lines
    assert "BI   |ALLERGIES: ARACHIDES" in lines
    assert "B    |                    Merci !" in lines
    assert "Réf. Uber Eats:" in "\n".join(lines)
    assert lines[-1] == "~~~~~ cut ~~~~~"
    plain = receipt_lines(order)
    assert not any(line.startswith("BIHW") for line in plain)
    assert "B    |                   Thank you!" in plain
    assert "BH   |                   Burger Lab" in plain  # no store name: the brand heads it


def test_times_are_in_the_store_timezone() -> None:
    order = load("ubereats_delivery")
    assert "     |Commande du 23/11/2026 à 19:02" in receipt_lines(order, locale="fr")
    assert "     |Ordered Nov 23, 2026 at 18:02" in receipt_lines(order, timezone="UTC")
    scheduled = receipt_lines(load("deliveroo_pickup_scheduled"), locale="fr")
    assert "B    |Programmée pour 19:30 (23/11)" in scheduled
    assert "Programm" not in "\n".join(receipt_lines(order, locale="fr"))


def test_accents_and_euro_are_cp1252_bytes() -> None:
    data = receipt_bytes("self_delivery_with_tip", "fr", 48)
    assert data.startswith(b"\x1b@\x1bt\x10")
    assert b"27,50 \x80" in data
    assert b"\xc9lodie" in data  # É
    assert b"+ \x8cuf" in data  # Œ
    assert "€".encode() not in data
    assert "É".encode() not in data
    assert b"\x80" + b"27.50" in receipt_bytes("self_delivery_with_tip", "en", 48)


# --- test page ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [8, 32, 40, 42, 48, 64])
def test_the_ruler_is_exactly_the_width(width: int) -> None:
    assert len(ruler(width)) == width
    assert (
        ruler(width) == "1234567890123456789012345678901234567890123456789012345678901234"[:width]
    )
    blocks = printer_test_page(printer=PRINTER, uri=URI, width=width, encoding="cp1252", now=NOW)
    lines = render(encode(blocks, width=width), width).splitlines()
    assert f"     |{ruler(width)}" in lines
    assert_fits(encode(blocks, width=width), width)


@pytest.mark.parametrize("locale", LOCALES)
def test_test_page_shows_the_printer(locale: Locale) -> None:
    lines = render(page_bytes(locale, 48), 48).splitlines()
    texts = [text_of(line) for line in lines]
    assert lines[0] == "BHW  |          TEST"
    if locale == "fr":
        expected = [
            "Imprimante: kitchen",
            "Largeur: 48 colonnes (80 mm)",
            "Encodage: cp1252 (ESC t 16)",
        ]
    else:
        expected = ["Printer: kitchen", "Width: 48 columns (80 mm)", "Encoding: cp1252 (ESC t 16)"]
    for text in [*expected, "URI: tcp://192.168.1.50:9100", STORE, ACCENTS_LOWER, ACCENTS_UPPER]:
        assert text in texts
    styles = {line.partition("|")[0].strip() for line in lines if "|" in line}
    assert {"B", "H", "W", "I", "U"} <= styles
    assert lines[-1] == "~~~~~ cut ~~~~~"
    printed = "Imprimée le" if locale == "fr" else "Printed"
    assert f"{printed} 2026-11-23 19:02:11" in texts  # NOW in the store's timezone
    assert "Europe/Paris" in texts


def test_test_page_58_mm() -> None:
    text = render(page_bytes("en", 32), 32)
    assert "Width: 32 columns (58 mm)" in text


def test_test_page_accents_are_cp1252_bytes() -> None:
    data = page_bytes("fr", 32)
    assert data.startswith(b"\x1b@\x1bt\x10")
    assert ACCENTS_LOWER.encode("cp1252") + b"\n" in data
    assert ACCENTS_UPPER.encode("cp1252") + b"\n" in data
    assert b"\x9c" in data  # œ
    assert b"\x8c" in data  # Œ
    assert b"\xff" in data  # ÿ
    assert b"\x9f" in data  # Ÿ
    assert b"12,50 \x80" in data  # €
    assert "é".encode() not in data


def test_test_page_in_a_code_page_without_oe_and_euro() -> None:
    data = page_bytes("fr", 48, encoding="cp437")
    assert data.startswith(b"\x1b@\x1bt\x00")
    text = render(data, 48, "cp437")
    assert "Encodage: cp437 (ESC t 0)" in text
    assert "12,50 EUR" in text  # transliterated, never dropped
    assert "oe" in text
    assert "OE" in text


def test_test_page_is_not_collected_by_pytest() -> None:
    assert not printer_test_page.__name__.startswith("test")
