"""ESC/POS document encoding, code pages and transliteration, real-time status parsing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from drivers.escpos import (
    CODEPAGES,
    STATUS_ERROR_CAUSE,
    STATUS_OFFLINE_CAUSE,
    STATUS_PAPER,
    STATUS_PRINTER,
    Block,
    Columns,
    Cut,
    Feed,
    FontLibrary,
    PrinterStatus,
    Rule,
    StatusByteError,
    Text,
    UnsupportedEncodingError,
    encode,
    encode_report,
    parse_offline_cause,
    parse_paper,
    parse_printer,
    transliterate,
    transliterate_report,
)

# --- a small ESC/POS reader: printed lines with the styles they were printed in ---------------

_ESC_ARGS = {b"@": 0, b"t": 1, b"!": 1, b"E": 1, b"-": 1, b"a": 1, b"d": 1, b"M": 1, b"{": 1}
_GS_ARGS = {b"B": 1, b"b": 1, b"!": 1, b"|": 1}
_ALIGN = {0: "left", 1: "center", 2: "right"}


@dataclass
class Line:
    text: str
    style: dict[str, object]

    @property
    def columns(self) -> int:
        return len(self.text) * (2 if self.style["double_width"] else 1)


@dataclass
class Job:
    lines: list[Line] = field(default_factory=list)
    codepage: int | None = None
    cuts: int = 0


def _default_style() -> dict[str, object]:
    return {
        "bold": False,
        "underline": False,
        "double_width": False,
        "double_height": False,
        "inverse": False,
        "align": "left",
    }


def read_job(data: bytes, encoding: str) -> Job:
    """Decode a job into lines; fails on any command this reader does not know."""
    job, style, text, line_style = Job(), _default_style(), bytearray(), None
    i = 0
    while i < len(data):
        byte = data[i : i + 1]
        if byte in (b"\x1b", b"\x1d"):
            cmd = data[i + 1 : i + 2]
            table = _ESC_ARGS if byte == b"\x1b" else _GS_ARGS
            if byte == b"\x1d" and cmd == b"V":
                nargs = 2 if data[i + 2] in (65, 66) else 1
                job.cuts += 1
            else:
                assert cmd in table, f"unknown command {byte + cmd!r} at {i}"
                nargs = table[cmd]
            arg = data[i + 2] if nargs else 0
            key = byte + cmd
            if key == b"\x1b@":
                style = _default_style()
            elif key == b"\x1bt":
                job.codepage = arg
            elif key == b"\x1b!":
                style.update(
                    bold=bool(arg & 8),
                    underline=bool(arg & 0x80),
                    double_height=bool(arg & 0x10),
                    double_width=bool(arg & 0x20),
                )
            elif key == b"\x1bE":
                style["bold"] = bool(arg & 1)
            elif key == b"\x1b-":
                style["underline"] = bool(arg)
            elif key == b"\x1ba":
                style["align"] = _ALIGN[arg]
            elif key == b"\x1bd":
                job.lines += [Line("", dict(style)) for _ in range(arg)]
            elif key == b"\x1dB":
                style["inverse"] = bool(arg & 1)
            elif key == b"\x1d!":
                style.update(double_width=bool(arg & 0xF0), double_height=bool(arg & 0x0F))
            i += 2 + nargs
            continue
        if byte == b"\n":
            job.lines.append(Line(text.decode(encoding), line_style or dict(style)))
            text, line_style = bytearray(), None
        else:
            assert byte[0] >= 0x20, f"control byte {byte!r} in text at {i}"
            if line_style is None:
                line_style = dict(style)
            text += byte
        i += 1
    assert not text, "the job ends in the middle of a line"
    return job


def printed(data: bytes, encoding: str = "cp1252") -> list[str]:
    return [line.text for line in read_job(data, encoding).lines]


# --- the job header and code pages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "number"),
    [("cp1252", 16), ("cp858", 19), ("cp437", 0), ("cp850", 2), ("cp866", 17), ("cp852", 18)],
)
def test_job_starts_with_init_then_code_page(encoding: str, number: int) -> None:
    data = encode([Text("Crème brûlée"), Cut()], encoding=encoding)
    assert data.startswith(b"\x1b@\x1bt" + bytes([number]))
    assert CODEPAGES[encoding] == number


def test_empty_job_still_announces_its_code_page() -> None:
    assert encode([]) == b"\x1b@\x1bt\x10"


def test_encoding_names_are_normalized_and_unknown_ones_refused() -> None:
    assert encode([], encoding="windows-1252") == encode([], encoding="cp1252")
    assert encode([], encoding="WPC1252") == encode([], encoding="cp1252")
    with pytest.raises(UnsupportedEncodingError):
        encode([], encoding="utf-8")
    with pytest.raises(UnsupportedEncodingError):
        encode([], encoding="klingon")


def test_french_is_sent_as_cp1252_never_utf8() -> None:
    data = encode([Text("Crème brûlée €"), Text("Œuf à la coque")])
    assert "Crème brûlée €".encode("cp1252") in data
    assert "Œuf à la coque".encode("cp1252") in data
    assert b"\xc3" not in data
    assert b"\xe2\x82\xac" not in data
    assert printed(data) == ["Crème brûlée €", "Œuf à la coque"]


def test_what_the_code_page_lacks_is_transliterated() -> None:
    assert printed(encode([Text("Bœuf œuf")], encoding="cp858"), "cp858") == ["Boeuf oeuf"]
    assert b"\xd5" in encode([Text("5 €")], encoding="cp858")  # cp858 has the euro sign
    assert printed(encode([Text("5 € œ")], encoding="cp437"), "cp437") == ["5 EUR oe"]
    assert printed(encode([Text("Crème brûlée")], encoding="cp866"), "cp866") == ["Creme brulee"]


def test_unprintable_characters_become_question_marks_and_are_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Without a font that has it, a letter the code page lacks prints "?" too (with the fonts
    # of the machine, 中 makes the line an image: tests/drivers/test_raster.py).
    no_fonts = FontLibrary([], fc_match=False)
    data, unprintable = encode_report([Text("Burger 🍔 extra 🍔 中")], fonts=no_fonts)
    assert printed(data) == ["Burger ? extra ? ?"]
    assert unprintable == ["🍔", "中"]
    with caplog.at_level(logging.WARNING, logger="drivers.escpos.encoder"):
        encode([Text("Burger 🍔")])
    assert "🍔" in caplog.text or "\\U0001f354" in caplog.text


def test_control_characters_in_text_cannot_become_printer_commands() -> None:
    data, unprintable = encode_report([Text("A\x1dV\x00B\x1b@C")])
    assert printed(data) == ["A?V?B?@C"]
    assert unprintable == ["\x1d", "\x00", "\x1b"]
    assert data.count(b"\x1b@") == 1


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("Œuvre “à la” carte – 5 € …", "cp437", 'OEuvre "à la" carte - 5 EUR ...'),
        ("À point, Ÿ", "cp437", "A point, Y"),
        ("Œuvre “à la” carte – 5 € …", "cp1252", "Œuvre “à la” carte – 5 € …"),
        ("«Straße» • Ÿ ÿ", "cp852", "«Straße» * Y y"),
        ("«Straße» ’", "cp866", '"Strasse" \''),
        ("12\u00a0h\u202f30\u2009min", "cp866", "12\u00a0h 30 min"),
        ("12\u00a0h\u202f30\u2009min", "cp1252", "12\u00a0h 30 min"),
        ("Māori ﬁsh Łódź", "cp1252", "Maori fish Lódz"),
        ("Łódź", "cp850", "Lódz"),
        ("Łódź", "cp852", "Łódź"),
        ("Cre\u0300me", "cp1252", "Crème"),  # decomposed input is composed first
        ("a\u00adb\u200dc\ufe0f", "cp1252", "abc"),  # invisible hints print nothing
        ("line\r\nnext\ttab", "cp437", "line\nnext tab"),
    ],
)
def test_transliterate(text: str, encoding: str, expected: str) -> None:
    assert transliterate(text, encoding) == expected


def test_transliterate_report_lists_each_unprintable_character_once() -> None:
    assert transliterate_report("❤️ 👍🏽 😀 😀 Ж", "cp1252") == ("? ? ? ? ?", ["❤", "👍", "😀", "Ж"])
    assert transliterate_report("Ж", "cp866") == ("Ж", [])


# --- layout ---------------------------------------------------------------------------------

LONG = (
    "Sans oignons, sans cornichons, sauce à part et bien cuit s'il vous plaît, "
    "merci beaucoup — Supercalifragilisticexpialidocious-extraordinairement-long"
)


@pytest.mark.parametrize("width", [32, 48])
def test_nothing_is_printed_wider_than_the_paper(width: int) -> None:
    blocks: list[Block] = [
        Text(LONG),
        Text(LONG, double_width=True, double_height=True, align="center"),
        Text("   + " + LONG, hanging_indent=5, bold=True),
        Columns("2x " + LONG, "125,00"),
        Columns("Total", "x" * (width + 10)),
        Text("A" * (width * 3)),
        Rule("="),
    ]
    lines = read_job(encode(blocks, width=width), "cp1252").lines
    assert all(line.columns <= width for line in lines), [
        line.text for line in lines if line.columns > width
    ]
    assert all(len(line.text) == width for line in lines if line.text.startswith("===="))
    words = " ".join(line.text for line in lines).split()
    assert {"cornichons,", "plaît,", "beaucoup"} <= set(words)  # words that fit are kept whole


def test_text_wraps_on_words_and_breaks_words_longer_than_a_line() -> None:
    assert printed(encode([Text("aaa bbb ccc ddd", double_width=True)], width=16)) == [
        "aaa bbb",
        "ccc ddd",
    ]
    assert printed(encode([Text("x" * 20)], width=8)) == ["xxxxxxxx", "xxxxxxxx", "xxxx"]
    assert printed(encode([Text("one\n\ntwo")], width=8)) == ["one", "", "two"]
    assert printed(encode([Text("")], width=8)) == [""]


def test_hanging_indent_aligns_continuation_lines() -> None:
    data = encode([Text("   + Extra cheddar fondu", hanging_indent=5)], width=16)
    assert printed(data) == ["   + Extra", "     cheddar", "     fondu"]


def test_columns_right_aligns_the_right_text() -> None:
    assert printed(encode([Columns("2x Cheeseburger", "25,00")], width=32)) == [
        "2x Cheeseburger" + " " * 12 + "25,00"
    ]
    data = encode([Columns("2x Cheeseburger au bacon fumé", "25,00")], width=24)
    assert printed(data) == ["2x Cheeseburger au 25,00", "bacon fumé"]
    data = encode([Columns("Total", "a very long right-hand text")], width=16)
    assert printed(data) == ["Total", "     a very long", " right-hand text"]


def test_columns_continuation_lines_hang_and_newlines_are_spaces() -> None:
    data = encode(
        [Columns("   + Supplément cheddar affiné 18 mois", "3,00 €", hanging_indent=5)], width=32
    )
    assert printed(data) == ["   + Supplément cheddar   3,00 €", "     affiné 18 mois"]
    data = encode([Columns("1x Burger\nDouble", "5,00 €")], width=24)
    assert printed(data) == ["1x Burger Double  5,00 €"]


def test_rule_feed_and_cut() -> None:
    data = encode([Rule(), Rule("═"), Rule("—"), Feed(2), Cut()], width=10, encoding="cp437")
    job = read_job(data, "cp437")
    assert [line.text for line in job.lines[:3]] == ["-" * 10, "═" * 10, "-" * 10]
    assert [line.text for line in job.lines[3:5]] == ["", ""]
    assert job.cuts == 1
    assert data.endswith(b"\x1dV\x00")
    assert printed(encode([Rule("═")], width=8)) == ["-" * 8]  # not in cp1252: no "?" rule


def test_blocks_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="one character"):
        Rule("ab")
    with pytest.raises(ValueError, match="feed"):
        Feed(-1)
    with pytest.raises(ValueError, match="hanging_indent"):
        Text("x", hanging_indent=-1)
    with pytest.raises(ValueError, match="columns"):
        encode([], width=4)


@pytest.mark.parametrize(
    ("block", "style"),
    [
        (Text("X", bold=True), {"bold": True}),
        (Text("X", underline=True), {"underline": True}),
        (Text("X", inverse=True), {"inverse": True}),
        (Text("X", double_height=True), {"double_height": True}),
        (Text("X", double_width=True), {"double_width": True}),
        (Text("X", align="center"), {"align": "center"}),
        (Text("X", align="right"), {"align": "right"}),
        (
            Text(
                "X",
                bold=True,
                inverse=True,
                double_height=True,
                double_width=True,
                underline=True,
                align="center",
            ),
            {
                "bold": True,
                "inverse": True,
                "double_height": True,
                "double_width": True,
                "underline": True,
                "align": "center",
            },
        ),
        (Columns("X", "1", bold=True, double_height=True), {"bold": True, "double_height": True}),
    ],
)
def test_styles_apply_to_their_block_only(block: Text | Columns, style: dict[str, object]) -> None:
    lines = read_job(encode([Text("before"), block, Text("after"), Rule()]), "cp1252").lines
    assert lines[0].style == _default_style()
    assert lines[1].style == _default_style() | style
    assert lines[2].style == _default_style()
    assert lines[3].style == _default_style()


def test_output_is_deterministic() -> None:
    blocks: list[Block] = [Text("Crème", bold=True), Columns("a", "b"), Rule(), Feed(), Cut()]
    assert encode(blocks) == encode(list(blocks))


# --- real-time status -----------------------------------------------------------------------


def test_status_requests_are_dle_eot() -> None:
    requests = [STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_ERROR_CAUSE, STATUS_PAPER]
    assert requests == [b"\x10\x04" + bytes([n]) for n in (1, 2, 3, 4)]


def test_parse_printer() -> None:
    assert parse_printer(0x12) == (False, False)
    assert parse_printer(0x1A) == (True, False)
    assert parse_printer(0x16) == (False, True)
    assert parse_printer(b"\x1e") == (True, True)


def test_parse_offline_cause() -> None:
    assert parse_offline_cause(0x12) == (False, False, False)
    assert parse_offline_cause(0x16) == (True, False, False)
    assert parse_offline_cause(0x32) == (False, True, False)
    assert parse_offline_cause(0x52) == (False, False, True)
    assert parse_offline_cause(b"\x76") == (True, True, True)


@pytest.mark.parametrize(
    ("value", "paper"),
    [(0x12, "ok"), (0x1E, "near_end"), (0x16, "near_end"), (0x72, "out"), (0x7E, "out")],
)
def test_parse_paper(value: int, paper: str) -> None:
    assert parse_paper(value) == paper


@pytest.mark.parametrize("garbage", [0x00, 0xFF, 0x13, 0x02, 0x92, -1, 256, b"", b"\x12\x12"])
def test_answers_with_wrong_fixed_bits_are_refused(garbage: int | bytes) -> None:
    for parse in (parse_printer, parse_offline_cause, parse_paper):
        with pytest.raises(StatusByteError):
            parse(garbage)


def test_printer_status_combines_the_answers() -> None:
    ok = PrinterStatus.from_bytes(0x12, 0x12, 0x12)
    assert ok == PrinterStatus(online=True, paper="ok", cover_open=False, error=False)
    assert ok.fault is None
    near_end = PrinterStatus.from_bytes(0x12, 0x12, 0x1E)
    assert (near_end.online, near_end.paper, near_end.fault) == (True, "near_end", None)
    cover = PrinterStatus.from_bytes(0x1A, 0x16, 0x12)
    assert (cover.online, cover.cover_open, cover.fault) == (False, True, "cover_open")
    paper_out = PrinterStatus.from_bytes(0x1A, 0x32, 0x72)
    assert (paper_out.online, paper_out.paper, paper_out.fault) == (False, "out", "paper_out")
    stopped = PrinterStatus.from_bytes(0x1A, 0x32, 0x12)  # stopped by paper end, sensor lagging
    assert stopped.fault == "paper_out"
    error = PrinterStatus.from_bytes(0x1A, 0x52, 0x12)
    assert (error.online, error.fault) == (False, "error")
    offline = PrinterStatus.from_bytes(0x1A, 0x12, 0x12)
    assert (offline.online, offline.fault) == (False, "offline")


def test_drawer_state_needs_its_polarity() -> None:
    assert PrinterStatus.from_bytes(0x16, 0x12, 0x12).drawer_open is None
    assert PrinterStatus.from_bytes(0x16, 0x12, 0x12, drawer_open_high=True).drawer_open is True
    assert PrinterStatus.from_bytes(0x16, 0x12, 0x12, drawer_open_high=False).drawer_open is False
    assert PrinterStatus.from_bytes(0x12, 0x12, 0x12, drawer_open_high=False).drawer_open is True
