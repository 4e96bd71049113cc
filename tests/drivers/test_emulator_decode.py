"""The emulator's ESC/POS decoding, stream framing and receipt rendering, without sockets."""

from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image

from drivers.emulator import DecodedJob, Line, Segment, Style, decode_job, render_png
from drivers.emulator._wire import JobSplitter, RealtimeFilter


def dish_ticket() -> bytes:
    p = Dummy()
    p._raw(b"\x1b@\x1bt\x10")
    p.set(bold=True, double_height=True)
    p._raw("Crème brûlée €".encode("cp1252"))
    p.text("\n")
    p.cut()
    return bytes(p.output)


def test_python_escpos_job_decodes_to_text_and_styles() -> None:
    job = decode_job(dish_ticket())

    first = job.lines[0]
    assert first.text == "Crème brûlée €"
    assert first.bold
    assert first.double_height
    assert not first.double_width
    assert not first.inverse
    assert not first.underline
    assert first.align == "left"
    assert job.text.strip() == "Crème brûlée €"
    assert job.cut
    assert job.code_pages[0] == 16
    assert job.initialized_first
    assert not job.non_ascii_before_code_page
    assert not job.raw_utf8_suspect
    assert job.unknown == []


def test_utf8_sent_without_code_page_is_flagged() -> None:
    job = decode_job(b"\x1b@" + "Crème".encode() + b"\n")

    assert job.non_ascii_before_code_page
    assert job.raw_utf8_suspect
    assert job.code_pages == []
    assert not job.cut


def test_job_without_init_is_flagged() -> None:
    assert not decode_job(b"hello\n").initialized_first


@pytest.mark.parametrize(
    ("page", "codec", "text"),
    [
        (0, "cp437", "Café"),
        (2, "cp850", "Crème"),
        (16, "cp1252", "Œuf à 3 €"),
        (17, "cp866", "Борщ"),
        (18, "cp852", "Żurek"),
        (19, "cp858", "Café 2 €"),
    ],
)
def test_code_page_selects_the_codec(page: int, codec: str, text: str) -> None:
    job = decode_job(b"\x1b@\x1bt" + bytes([page]) + text.encode(codec) + b"\n")

    assert job.text == text
    assert job.code_pages == [page]


def test_init_resets_code_page_and_style() -> None:
    data = b"\x1bt\x10\x1bE\x01" + "é".encode("cp1252") + b"\n\x1b@" + "é".encode("cp437") + b"\n"
    job = decode_job(data)

    assert [line.text for line in job.lines] == ["é", "é"]
    assert job.lines[0].bold
    assert not job.lines[1].bold


@pytest.mark.parametrize(
    ("command", "bold", "height", "width", "underline"),
    [
        (b"\x1b!\x08", True, 1, 1, 0),
        (b"\x1b!\x10", False, 2, 1, 0),
        (b"\x1b!\x20", False, 1, 2, 0),
        (b"\x1b!\x80", False, 1, 1, 1),
        (b"\x1b!\xb8", True, 2, 2, 1),
        (b"\x1d!\x11", False, 2, 2, 0),
        (b"\x1d!\x23", False, 4, 3, 0),
        (b"\x1bE\x01", True, 1, 1, 0),
        (b"\x1bG\x01", True, 1, 1, 0),
        (b"\x1b-\x02", False, 1, 1, 2),
    ],
)
def test_style_commands(
    command: bytes, bold: bool, height: int, width: int, underline: int
) -> None:
    style = decode_job(command + b"x\n").lines[-1].segments[0].style

    assert (style.bold, style.height, style.width, style.underline) == (
        bold,
        height,
        width,
        underline,
    )


def test_segments_keep_styles_within_a_line() -> None:
    line = decode_job(b"2x \x1bE\x01Burger\x1bE\x00 \x1dB\x01NO ONION\x1dB\x00\n").lines[0]

    assert line.text == "2x Burger NO ONION"
    assert line.segments == [
        Segment("2x ", Style()),
        Segment("Burger", Style(emphasized=True)),
        Segment(" ", Style()),
        Segment("NO ONION", Style(inverse=True)),
    ]
    assert line.bold
    assert line.inverse


def test_alignment_takes_effect_at_line_start() -> None:
    job = decode_job(b"\x1ba\x01centre\n\x1ba\x32right\nleft\x1ba\x01 still right\n\x1ba\x00x\n")

    assert [(line.text, line.align) for line in job.lines] == [
        ("centre", "center"),
        ("right", "right"),
        ("left still right", "right"),
        ("x", "left"),
    ]


def test_feed_lines() -> None:
    job = decode_job(b"a\x1bd\x03b\n\x1bd\x02")

    assert [line.text for line in job.lines] == ["a", "", "", "b", "", ""]


@pytest.mark.parametrize(
    ("cut", "cuts"),
    [(b"\x1dV\x00", [1]), (b"\x1dV1", [1]), (b"\x1dVA\x03", [1]), (b"\x1dVB\x00", [1])],
)
def test_cut_commands_consume_their_arguments(cut: bytes, cuts: list[int]) -> None:
    job = decode_job(b"abc\n" + cut + b"def\n")

    assert job.text == "abc\ndef"
    assert job.cuts == cuts


def test_ignored_commands_consume_their_arguments() -> None:
    data = (
        b"\x1b2\x1b3\x40\x1bM\x01\x1bJ\x30\x1dL\x10\x00\x1dW\x40\x02\x1bc5\x00\x1c."
        b"\x10\x04\x01\x10\x14\x01\x00\x05\r\x1b{\x00\x1db\x00ok\n"
    )
    job = decode_job(data)

    assert job.text == "ok"
    assert job.unknown == []
    assert job.lines[0].segments[0].style.font == 1


def test_drawer_kick_is_recorded() -> None:
    p = Dummy()
    p.cashdraw(2)
    p.cashdraw(5)

    assert decode_job(bytes(p.output)).drawer_kicks == [(0, 50, 50), (1, 50, 50)]


def test_unknown_commands_are_recorded_and_skipped() -> None:
    job = decode_job(b"\x1by\x05a\x1dZ\x02b\n")

    assert job.unknown == [b"\x1by\x05", b"\x1dZ\x02"]
    assert job.text == "ab"


def test_truncated_command_at_the_end_is_kept() -> None:
    job = decode_job(b"abc\n\x1b")

    assert job.text == "abc"
    assert job.truncated == b"\x1b"


def test_images_and_barcodes_show_as_placeholders() -> None:
    p = Dummy()
    p.barcode("123456789012", "EAN13")
    p.qr("https://example.test/o/42", native=True)
    text = decode_job(bytes(p.output)).text

    assert "[barcode 123456789012]" in text
    assert "[qr https://example.test/o/42]" in text


def test_realtime_filter_strips_status_requests_split_across_chunks() -> None:
    stream = b"ab\x10\x04\x01cd\x10\x04\x04\x10\x14\x01\x00\x08ef\x10\x04\x09"
    realtime = RealtimeFilter()
    data, requests, pulses = b"", [], []
    for byte in stream:
        out = realtime.feed(bytes([byte]))
        data += out.data
        requests += out.status_requests
        pulses += out.drawer_pulses
    data += realtime.flush()

    assert data == b"abcd\x10\x14\x01\x00\x08ef\x10\x04\x09"
    assert requests == [1, 4]
    assert pulses == [(0, 8)]


def test_job_splitter_cuts_only_at_real_cut_commands() -> None:
    # ESC ! 0x1d followed by the text "V": framing must not mistake it for GS V.
    first = b"\x1b@\x1b!\x1dV\x00x\n\x1dVA\x05"
    second = b"\x1b@y\n\x1dV\x01"
    splitter = JobSplitter()
    jobs: list[bytes] = []
    for byte in first + second + b"tail":
        splitter.feed(bytes([byte]))
        jobs += splitter.take_jobs()

    assert jobs == [first, second]
    assert splitter.take_rest() == b"tail"


def _dark_fraction(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    region = image.convert("L").crop(box)
    dark = sum(region.histogram()[:128])
    return dark / (region.width * region.height)


def test_render_png_draws_the_receipt(tmp_path: Path) -> None:
    path = tmp_path / "ticket.png"
    job = DecodedJob(
        lines=[
            Line([Segment("TABLE 4", Style(inverse=True, height=2, width=2))], "center"),
            Line([Segment("2x Burger", Style(emphasized=True))]),
            Line([Segment("x" * 60, Style())]),
        ],
        cuts=[3],
    )
    render_png(job, path)

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width == 576
        # margins, a double-height line, two normal lines, a wrapped line and the cut
        assert image.height == 12 + 48 + 24 + 24 + 24 + 24 + 12
        inverse_box = (576 // 2 - 7 * 12, 12, 576 // 2 + 7 * 12, 12 + 48)
        assert _dark_fraction(image, inverse_box) > 0.5
        assert _dark_fraction(image, (0, 12 + 48, 576, 12 + 72)) > 0.02


def test_render_png_honours_width(tmp_path: Path) -> None:
    path = tmp_path / "narrow.png"
    render_png(decode_job(dish_ticket()), path, width_chars=32)

    with Image.open(path) as image:
        assert image.width == 32 * 12
