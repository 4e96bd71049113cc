"""A ticket's ESC/POS as the PNG (and plain text) a Star CloudPRNT printer fetches."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from drivers.emulator import decode_job, ticket_png, ticket_text
from drivers.escpos import Block, Columns, Cut, Rule, Text, encode


def ticket(width: int = 48) -> bytes:
    blocks: list[Block] = [
        Text("TABLE 4", bold=True, double_height=True, double_width=True, align="center"),
        Text("Customer: 王小明"),
        Rule(),
        Columns("2x Cheeseburger", "25,00", bold=True),
        Text("   > بدون بصل من فضلك", hanging_indent=5),
        Cut(),
    ]
    return encode(blocks, width=width)


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def dark_rows(image: Image.Image) -> list[int]:
    """The rows with at least one printed (black) dot."""
    grey = image.convert("L")
    return [
        y for y in range(grey.height) if any(grey.crop((0, y, grey.width, y + 1)).histogram()[:128])
    ]


def test_png_is_one_bit_at_the_print_width() -> None:
    image = png(ticket_png(ticket(), width_chars=48, width_dots=576))
    assert image.mode == "1"
    assert image.width == 576
    # margins, the double-height title, two drawn lines of 30, the rule and the columns, the
    # feed to the cutter (6 lines) and the cut
    assert image.height == 12 + 48 + 30 + 24 + 24 + 30 + 6 * 24 + 24 + 12


def test_drawn_lines_are_in_the_png() -> None:
    raw = ticket()
    image = png(ticket_png(raw, width_chars=48)).convert("L")
    customer = image.crop((0, 12 + 48, 576, 12 + 48 + 30))
    assert customer.getextrema()[0] == 0  # the name was drawn
    raster = next(line.image for line in decode_job(raw).lines if line.image)
    assert raster is not None
    dots = Image.frombytes("1", (raster.width_bytes * 8, raster.height), raster.data)
    assert dots.histogram()[255] == customer.histogram()[0]  # dot for dot


@pytest.mark.parametrize(("width_dots", "expected"), [(576, 576), (384, 384), (640, 640)])
def test_png_width_is_exactly_the_print_width(width_dots: int, expected: int) -> None:
    image = png(ticket_png(ticket(), width_chars=48, width_dots=width_dots))
    assert image.width == expected
    assert dark_rows(image), "nothing printed"


def test_a_narrower_drawing_is_centred_on_wider_paper() -> None:
    image = png(ticket_png(ticket(32), width_chars=32, width_dots=576)).convert("L")
    assert image.width == 576
    margin = (576 - 384) // 2
    assert image.crop((0, 0, margin, image.height)).getextrema()[0] == 255
    assert image.crop((576 - margin, 0, 576, image.height)).getextrema()[0] == 255


def test_a_runaway_job_is_capped() -> None:
    raw = encode([Text(f"line {n}") for n in range(5000)] + [Cut()], width=48)
    image = png(ticket_png(raw, width_chars=48, width_dots=576))
    assert image.height <= 2000 * 24 + 2 * 24 + 24
    tall = b"\x1b@" + (b"\x1dv0\x00\x48\x00\xff\xff" + b"\xff" * (72 * 0xFFFF)) + b"\x1dV\x00"
    assert png(ticket_png(tall, width_chars=48)).height <= 2000 * 24 + 2 * 24 + 24


def test_bad_bytes_still_make_a_ticket() -> None:
    """Truncated commands and images wider than the paper: drawn as far as they go."""
    wide = b"\x1dv0\x00\x00\x01\x02\x00" + b"\xaa" * 512  # 2048 dots wide, 2 rows
    image = png(ticket_png(b"\x1b@abc\n" + wide + b"\x1dv0\x00\x05", width_chars=48))
    assert image.width == 576
    with pytest.raises(ValueError, match="at least 1 dot"):
        ticket_png(b"abc", width_chars=48, width_dots=0)


def test_text_is_the_decoded_ticket() -> None:
    text = ticket_text(ticket())
    assert text.splitlines()[0] == "TABLE 4"
    assert re.fullmatch(r"\[image \d+x30\]", text.splitlines()[1])
    assert text.splitlines()[2] == "-" * 48
    assert "2x Cheeseburger" in text
    assert "25,00" in text


@pytest.fixture
def raw() -> bytes:
    """A ticket encoded before the test's event loop runs (finding the fonts reads files: the
    daemon does it once, in a thread, with `preload_fonts`)."""
    return ticket()


async def test_rendering_does_no_file_io_in_the_event_loop(raw: bytes) -> None:
    """The daemon renders in its event loop: the blocking guard (tests/conftest.py) watches."""
    assert ticket_png(raw, width_chars=48, width_dots=576).startswith(b"\x89PNG")
    assert "TABLE 4" in ticket_text(raw)
