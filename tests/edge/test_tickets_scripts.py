"""A kitchen ticket with a Chinese customer name, an Arabic item note and a Hebrew item name:
only those lines are printed as images, every other line stays code-page text.

Golden files: the job's bytes (.bin), the emulator's decoded text (.txt) and its preview (.png,
compared pixel by pixel). Regenerate with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/edge/test_tickets_scripts.py`, then look at the PNG.
The images depend on the fonts scripts/bootstrap installs (fonts-noto-cjk, fonts-dejavu-core)
and on Pillow's FreeType and raqm: a difference names them.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from PIL import Image, ImageChops, features

from drivers.emulator import DecodedJob, Raster, decode_job, render_png, ticket_text
from drivers.escpos import Script, Text, encode_report, font_report
from edge.orders.model import Order
from edge.tickets import kitchen_ticket
from tests.conftest import FIXTURES

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
NAME = "ubereats_delivery_scripts-kitchen-en-48"
FIXTURE = "ubereats_delivery_scripts"
RASTER = b"\x1dv0"
# The lines the code page cannot hold, as the ticket writes them.
DRAWN = ["Customer: 王小明", "   > بدون بصل من فضلك", "1x צ'יפס הבית"]


def _fonts() -> dict[str, Path | None]:
    return {choice.script: choice.path for choice in font_report()}


@pytest.fixture(scope="module", autouse=True)
def bootstrap_fonts() -> None:
    """The fonts scripts/bootstrap installs; without them this ticket prints "?"."""
    fonts = {choice.script: choice for choice in font_report()}
    for script in (Script.CJK, Script.ARABIC, Script.HEBREW):
        choice = fonts[script]
        assert choice.path is not None, (
            f"no font for {script.value}: install {choice.package} (scripts/bootstrap does)"
        )


def ticket() -> tuple[bytes, list[str]]:
    order = Order.model_validate_json((FIXTURES / f"{FIXTURE}.json").read_text("utf-8"))
    blocks = kitchen_ticket(order, locale="en", timezone="Europe/Paris", printer="kitchen")
    return encode_report(blocks, width=48, encoding="cp1252")


def preview(data: bytes, folder: Path) -> Image.Image:
    path = folder / "preview.png"
    render_png(decode_job(data), path, width_chars=48)
    with Image.open(path) as image:
        return image.convert("L")


def _environment() -> str:
    versions = {name: features.version(name) for name in ("freetype2", "raqm", "harfbuzz")}
    return f"fonts {_fonts()}, {versions}"


def test_golden(tmp_path: Path) -> None:
    data, unprintable = ticket()
    assert unprintable == []
    binary, text, png = (GOLDEN / f"{NAME}{suffix}" for suffix in (".bin", ".txt", ".png"))
    image = preview(data, tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        binary.write_bytes(data)
        text.write_text(ticket_text(data) + "\n", encoding="utf-8")
        image.save(png, format="PNG", optimize=True)
        return
    assert binary.exists(), f"no golden file {binary.name}: run with UPDATE_GOLDEN=1"
    assert text.read_text(encoding="utf-8") == ticket_text(data) + "\n", f"{text.name} differs"
    with Image.open(png) as expected:
        diff = ImageChops.difference(expected.convert("L"), image).getbbox()
        assert expected.size == image.size, f"{png.name}: {expected.size} now {image.size}"
        assert diff is None, f"{png.name} differs at {diff} ({_environment()}; UPDATE_GOLDEN=1)"
    assert data == binary.read_bytes(), f"{binary.name} differs ({_environment()})"


def test_only_the_lines_the_code_page_lacks_are_images() -> None:
    data, _ = ticket()
    assert data.count(RASTER) == len(DRAWN)
    lines = decode_job(data).lines
    drawn = [line for line in lines if line.image is not None]
    assert all(re.fullmatch(r"\[image \d+x30\]", line.text) for line in drawn)
    image, rule = "<image>", "-" * 48
    shown = [line.text if line.image is None else image for line in lines]
    assert [text for text in shown if text.strip()] == [
        "Burger Lab",
        "Uber Eats K7M3Q",
        "DELIVERY",
        image,  # Customer: 王小明
        rule,
        "2x Cheeseburger",
        "   + Bacon",
        "   + À point",
        image,  # the burger's note, in Arabic
        image,  # 1x and the Hebrew name
        "2x Crème brûlée",
        rule,
        "Notes: Allergie arachides",
        "ALLERGENS: PEANUTS",
        "Placed at 19:02                          kitchen",
    ]


def test_the_latin_lines_are_the_bytes_of_a_latin_ticket() -> None:
    """Every line but the drawn ones is what a ticket with Latin names prints, byte for byte."""
    data, _ = ticket()
    order = Order.model_validate_json((FIXTURES / f"{FIXTURE}.json").read_text("utf-8"))
    latin = order.model_copy(
        update={
            "customer": order.customer.model_copy(update={"name": "X"}),  # type: ignore[union-attr]
            "items": [
                order.items[0].model_copy(update={"notes": "X"}),
                order.items[1].model_copy(update={"name": "X"}),
                *order.items[2:],
            ],
        }
    )
    blocks = kitchen_ticket(latin, locale="en", timezone="Europe/Paris", printer="kitchen")
    plain, _ = encode_report(blocks, width=48, encoding="cp1252")
    for line in ("Customer: X", "   > X", "1x X"):
        assert plain.count(line.encode("cp1252") + b"\n") == 1, line
        plain = plain.replace(line.encode("cp1252") + b"\n", b"<drawn>")
    # A drawn line carries no style command (bold is in its dots):
    plain = plain.replace(b"\x1bE\x01<drawn>\x1bE\x00", b"<drawn>")
    # The drawn lines, each one GS v 0 command, put back as markers:
    rebuilt, at = bytearray(), 0
    while (start := data.find(RASTER, at)) >= 0:
        width, height = (
            data[start + 4] | data[start + 5] << 8,
            data[start + 6] | data[start + 7] << 8,
        )
        rebuilt += data[at:start] + b"<drawn>"
        at = start + 8 + width * height
    rebuilt += data[at:]
    assert bytes(rebuilt) == plain


def ink(raster: Raster) -> tuple[int, int, int, int]:
    """The box of a raster line's printed dots."""
    dots = Image.frombytes("1", (raster.width_bytes * 8, raster.height), raster.data)
    box = dots.getbbox()  # a set bit is a printed dot
    assert box is not None, "an empty line"
    return box


def test_right_to_left_note_keeps_the_ticket_indent() -> None:
    """The note's indent and marker stay at the left, as on every note; the Arabic follows."""
    data, _ = ticket()
    customer, note, item = [line.image for line in decode_job(data).lines if line.image]
    left, _, right, _ = ink(note)
    assert 3 * 12 <= left < 4 * 12  # ">" in the fourth column, after the 3-space indent
    assert right > 12 * 12  # then the Arabic words
    assert ink(customer)[0] < 12  # "Customer" from the first column
    assert ink(item)[0] < 12


def test_the_preview_draws_the_images_dot_for_dot(tmp_path: Path) -> None:
    data, _ = ticket()
    for line in decode_job(data).lines:
        if line.image is None:
            continue
        path = tmp_path / "line.png"
        render_png(DecodedJob(lines=[line]), path, width_chars=48)
        with Image.open(path) as image:
            drawn = image.convert("1").crop((0, 12, 576, 12 + 30))
        raster = line.image
        dots = Image.frombytes("1", (raster.width_bytes * 8, raster.height), raster.data)
        assert ImageChops.difference(ImageChops.invert(drawn), dots).getbbox() is None


def test_without_fonts_the_lines_print_question_marks() -> None:
    """Only a font makes a line an image: the encoder's own report says what printed as '?'."""
    from drivers.escpos import FontLibrary

    nothing = FontLibrary([], fc_match=False)
    data, unprintable = encode_report(
        [Text("Customer: 王小明")], width=48, encoding="cp1252", fonts=nothing
    )
    assert RASTER not in data
    assert b"Customer: ???\n" in data
    assert unprintable == ["王", "小", "明"]
    assert io.BytesIO(data).read(2) == b"\x1b@"
