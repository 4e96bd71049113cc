"""Kitchen tickets: golden ESC/POS bytes per kind, locale and width, and what they must show.

Regenerate the golden files with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_tickets.py`;
each `.bin` gets a `.txt` rendering next to it for review.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from drivers.escpos import Block, Cut, encode
from edge.orders.model import Order
from edge.tickets import Locale, kitchen_ticket
from edge.tickets.i18n import allergen_names

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "orders"
GOLDEN = HERE.parent / "golden"
TZ = "Europe/Paris"
REASONS: dict[Locale, str] = {
    "fr": "Caisse : Frites maison non liée",
    "en": "POS: Frites maison not linked",
}


def load(name: str) -> Order:
    return Order.model_validate_json((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


# --- rendering a job as text: one line per printed line, with its styles ---------------------

# ESC/GS commands the encoder emits, with their number of argument bytes.
_ARGS = {b"\x1b@": 0} | dict.fromkeys(
    b"\x1bt \x1b! \x1bE \x1b- \x1ba \x1bd \x1bM \x1b{ \x1dB \x1db \x1d!".split(), 1
)


def render(data: bytes, width: int, encoding: str = "cp1252") -> str:
    """The job as the paper would read: flags (Bold Inverse Underline Height Width), then text."""
    style: dict[str, Any] = {}
    text, out, i = bytearray(), [], 0
    while i < len(data):
        key = data[i : i + 2]
        if key == b"\x1dV":
            out.append("~~~~~ cut ~~~~~")
            i += 4 if data[i + 2] in (65, 66) else 3
        elif key in _ARGS:
            arg = data[i + 2] if _ARGS[key] else 0
            if key == b"\x1b@":
                style = {}
            elif key == b"\x1b!":
                style.update(B=arg & 8, U=arg & 0x80, H=arg & 0x10, W=arg & 0x20)
            elif key == b"\x1d!":
                style.update(H=arg & 0x0F, W=arg & 0xF0)
            elif key in (b"\x1bE", b"\x1b-", b"\x1dB"):
                style[{b"\x1bE": "B", b"\x1b-": "U", b"\x1dB": "I"}[key]] = arg & 1
            elif key == b"\x1ba":
                style["align"] = arg
            elif key == b"\x1bd":
                out += [""] * arg
            i += 2 + _ARGS[key]
        elif data[i] == 0x0A:
            line = text.decode(encoding)
            columns = width // 2 if style.get("W") else width
            pad = (columns - len(line)) * style.get("align", 0) // 2
            flags = "".join(flag for flag in "BIUHW" if style.get(flag))
            out.append(f"{flags:<5}|{' ' * pad}{line}".rstrip())
            text, i = bytearray(), i + 1
        else:
            assert data[i] >= 0x20, f"unexpected byte {data[i]:#04x} at {i}"
            text.append(data[i])
            i += 1
    return "\n".join(out) + "\n"


def lines_of(blocks: list[Block], width: int = 48) -> list[str]:
    return render(encode(blocks, width=width), width).splitlines()


# --- golden files ---------------------------------------------------------------------------

VARIANTS: dict[str, dict[str, Any]] = {
    "kitchen": {},
    "reprint": {"reprint": True},
    "updated": {"kind": "updated"},
    "cancellation": {"kind": "cancellation"},
    "manual_entry": {"kind": "manual_entry"},
}
CASES = [
    (f"ubereats_delivery-{variant}-{locale}-{width}", "ubereats_delivery", variant, locale, width)
    for variant in VARIANTS
    for locale in ("fr", "en")
    for width in (32, 48)
] + [
    ("self_delivery_with_tip-kitchen-en-48", "self_delivery_with_tip", "kitchen", "en", 48),
    ("deliveroo_pickup_scheduled-kitchen-fr-32", "deliveroo_pickup_scheduled", "kitchen", "fr", 32),
]
IDS = [case[0] for case in CASES]


def ticket_bytes(fixture: str, variant: str, locale: Locale, width: int) -> bytes:
    options = dict(VARIANTS[variant])
    if variant == "manual_entry":
        options["reason"] = REASONS[locale]
    blocks = kitchen_ticket(load(fixture), locale=locale, timezone=TZ, printer="kitchen", **options)
    return encode(blocks, width=width, encoding="cp1252")


def check_golden(name: str, data: bytes, width: int) -> None:
    binary, text = GOLDEN / f"{name}.bin", GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        binary.write_bytes(data)
        text.write_text(render(data, width), encoding="utf-8")
        return
    assert binary.exists(), f"no golden file {binary.name}: run with UPDATE_GOLDEN=1"
    expected = binary.read_bytes()
    if data != expected:
        diff = difflib.unified_diff(
            render(expected, width).splitlines(),
            render(data, width).splitlines(),
            f"golden/{binary.name}",
            "now",
            lineterm="",
        )
        pytest.fail(
            "ticket differs from its golden file (UPDATE_GOLDEN=1 to accept):\n"
            + ("\n".join(diff) or "(same text, different control bytes)"),
            pytrace=False,
        )
    assert text.read_text(encoding="utf-8") == render(data, width), f"{text.name} is stale"


@pytest.mark.parametrize(("name", "fixture", "variant", "locale", "width"), CASES, ids=IDS)
def test_golden(name: str, fixture: str, variant: str, locale: Locale, width: int) -> None:
    data = ticket_bytes(fixture, variant, locale, width)
    check_golden(name, data, width)


@pytest.mark.parametrize(("name", "fixture", "variant", "locale", "width"), CASES, ids=IDS)
def test_nothing_printed_wider_than_the_paper(
    name: str, fixture: str, variant: str, locale: Locale, width: int
) -> None:
    for line in render(ticket_bytes(fixture, variant, locale, width), width).splitlines():
        flags, _, text = line.partition("|")
        assert len(text) * (2 if "W" in flags else 1) <= width, line


# --- content --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_kitchen_ticket_shows_the_order(locale: Locale) -> None:
    lines = lines_of(kitchen_ticket(load("ubereats_delivery"), locale=locale, timezone=TZ))
    text = "\n".join(lines)
    assert "BHW  |" in text
    big = [line for line in lines if line.startswith("BHW  |")]
    assert [line.split("|")[1].strip() for line in big] == ["Uber Eats A1B2C"]
    assert "Burger Lab" in text
    assert ("LIVRAISON" if locale == "fr" else "DELIVERY") in text
    assert ("Client: Élodie M." if locale == "fr" else "Customer: Élodie M.") in text
    for expected in [
        "B    |2x Cheeseburger",
        "     |   + Bacon",
        "     |   + À point",
        "     |   > sans oignons",
        "B    |1x Frites maison",
        "B    |2x Crème brûlée",
        "B    |Notes: Allergie arachides",
    ]:
        assert expected in lines
    allergens = "ALLERGIES: ARACHIDES" if locale == "fr" else "ALLERGENS: PEANUTS"
    assert f"BI   |{allergens}" in lines
    placed = "Reçue à 19:02" if locale == "fr" else "Placed at 19:02"
    assert any(line.startswith(f"     |{placed}") for line in lines)
    assert lines[-1] == "~~~~~ cut ~~~~~"


def test_times_are_in_the_store_timezone() -> None:
    order = load("ubereats_delivery")
    assert "     |Placed at 18:02" in lines_of(kitchen_ticket(order))
    assert "     |Placed at 19:02" in lines_of(kitchen_ticket(order, timezone=TZ))
    assert "     |Placed at 13:02" in lines_of(kitchen_ticket(order, timezone="America/New_York"))


def test_banners_come_first_in_inverse_large_type() -> None:
    order = load("ubereats_delivery")
    fr_reprint = lines_of(kitchen_ticket(order, locale="fr", reprint=True), 32)
    assert fr_reprint[0] == "BIHW |  RÉIMPRESSION"
    en_cancel = lines_of(kitchen_ticket(order, kind="cancellation"), 32)
    assert en_cancel[0] == "BIHW |   CANCELLED"
    both = lines_of(kitchen_ticket(order, kind="updated", reprint=True, locale="fr"))
    assert [line.split("|")[1].strip() for line in both[:2]] == ["RÉIMPRESSION", "MODIFIÉE"]
    manual = lines_of(kitchen_ticket(order, kind="manual_entry", reason="Item not linked"))
    assert [line.split("|")[1].strip() for line in manual[:2]] == [
        "MANUAL ENTRY",
        "Item not linked",
    ]
    plain = lines_of(kitchen_ticket(order))
    assert not any(line.startswith("BIHW") for line in plain)


def test_cancellation_shows_the_display_id_and_items_only() -> None:
    text = "\n".join(lines_of(kitchen_ticket(load("ubereats_delivery"), kind="cancellation")))
    assert "Uber Eats A1B2C" in text
    assert "2x Cheeseburger" in text
    assert "2x Crème brûlée" in text
    assert "PEANUTS" not in text
    assert "sans oignons" not in text


def test_self_delivery_shows_address_phone_and_delivery_notes() -> None:
    lines = lines_of(kitchen_ticket(load("self_delivery_with_tip"), locale="fr"))
    for expected in [
        "Client: Élodie Martin",
        "12 rue de la Roquette",
        "3e étage",
        "75011 Paris",
        "Tél.: +33612345678",
        "> Code porte 4521",
    ]:
        assert f"     |{expected}" in lines
    assert "BHW  |      Site web W42" in lines
    assert "     |   + Œuf" in lines


def test_partner_delivery_hides_address_and_phone() -> None:
    order = load("self_delivery_with_tip").model_copy(update={"type": "delivery"})
    text = "\n".join(lines_of(kitchen_ticket(order)))
    assert "Roquette" not in text
    assert "+33612345678" not in text
    assert "Customer: Élodie Martin" in text


def test_scheduled_time_is_shown_in_local_time() -> None:
    order = load("deliveroo_pickup_scheduled")
    fr = "\n".join(lines_of(kitchen_ticket(order, locale="fr", timezone=TZ)))
    assert "Programmée pour 19:30 (23/11)" in fr
    assert "À EMPORTER" in fr
    assert "+ 2x Parmesan râpé" in fr
    en = "\n".join(lines_of(kitchen_ticket(order, timezone="UTC")))
    assert "Scheduled for 18:30 (Nov 23)" in en
    assert "Scheduled" not in "\n".join(lines_of(kitchen_ticket(load("ubereats_delivery"))))


@pytest.mark.parametrize(
    ("partner", "locale", "shown"),
    [
        ("deliveroo", "en", "Deliveroo"),
        ("doordash", "fr", "DoorDash"),
        ("justeat", "en", "Just Eat"),
        ("website", "en", "Website"),
        ("website", "fr", "Site web"),
        ("glovo", "fr", "Glovo"),
    ],
)
def test_partner_names(partner: str, locale: Locale, shown: str) -> None:
    order = load("ubereats_delivery")
    order = order.model_copy(
        update={"source": order.source.model_copy(update={"partner": partner})}
    )
    assert f"{shown} A1B2C" in "\n".join(lines_of(kitchen_ticket(order, locale=locale)))


def test_order_without_optional_parts() -> None:
    order = Order.model_validate_json(
        json.dumps(
            {
                "id": "ord_1",
                "revision": 1,
                "status": "accepted",
                "source": {"partner": "ubereats"},
                "type": "dine_in",
                "placed_at": "2026-11-23T18:02:11Z",
                "items": [{"name": "Café", "quantity": 1, "unit_price": 200}],
            }
        )
    )
    blocks = kitchen_ticket(order, locale="fr")
    assert isinstance(blocks[-1], Cut)
    text = "\n".join(lines_of(blocks, 32))
    assert "Uber Eats ord_1" in text
    assert "SUR PLACE" in text
    assert "1x Café" in text


def test_large_order_in_a_code_page_without_oe() -> None:
    blocks = kitchen_ticket(load("large_catering_order"), locale="fr", timezone=TZ)
    data = encode(blocks, width=48, encoding="cp858")
    text = render(data, 48, "cp858")
    assert "2x Boeuf bourguignon" in text
    assert "Société Générale - Équipe Data" in text
    assert text.count("~~~~~ cut ~~~~~") == 1


def test_allergens_read_in_the_kitchen_language() -> None:
    sent = ["peanuts", "Milk", " tree nuts ", "sulfites", "kiwi"]
    assert allergen_names(sent, "fr") == "ARACHIDES, LAIT, FRUITS À COQUE, SULFITES, KIWI"
    assert allergen_names(sent, "en") == "PEANUTS, MILK, TREE NUTS, SULFITES, KIWI"
