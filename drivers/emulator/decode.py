"""Decode ESC/POS bytes into styled lines of text, as a receipt printer would print them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from drivers.emulator._commands import ESC, GS, HT, LF, command_at, is_cut

Align = Literal["left", "center", "right"]

CODE_PAGES: dict[int, str] = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    13: "cp857",
    14: "cp737",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
}
_ALIGNS: tuple[Align, ...] = ("left", "center", "right")
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


@dataclass(frozen=True)
class Style:
    """Character style in effect when text is printed."""

    emphasized: bool = False
    double_strike: bool = False
    underline: int = 0
    width: int = 1
    height: int = 1
    inverse: bool = False
    font: int = 0

    @property
    def bold(self) -> bool:
        """Emphasized or double-strike: both print darker."""
        return self.emphasized or self.double_strike

    @property
    def double_width(self) -> bool:
        """Characters at least twice as wide."""
        return self.width >= 2

    @property
    def double_height(self) -> bool:
        """Characters at least twice as tall."""
        return self.height >= 2


@dataclass(frozen=True)
class Segment:
    """A run of text printed in one style."""

    text: str
    style: Style


@dataclass(frozen=True)
class Raster:
    """A raster image (`GS v 0`) as the printer got it: rows of `width_bytes`, 1 = a dot."""

    width_bytes: int
    height: int
    data: bytes
    double_width: bool = False
    double_height: bool = False


@dataclass
class Line:
    """One printed line; a style flag is set when any visible segment has it. A raster image
    is a line of its own: its placeholder text, and the `image`."""

    segments: list[Segment] = field(default_factory=list)
    align: Align = "left"
    end_style: Style = field(default_factory=Style)
    image: Raster | None = None

    @property
    def text(self) -> str:
        """The line's text without styles."""
        return "".join(segment.text for segment in self.segments)

    def _styles(self) -> list[Style]:
        visible = [s.style for s in self.segments if s.text.strip()]
        return visible or [self.end_style]

    @property
    def bold(self) -> bool:
        """Some visible text is bold (or, for a blank line, bold was on at its end)."""
        return any(style.bold for style in self._styles())

    @property
    def double_height(self) -> bool:
        """Some visible text is double height."""
        return any(style.double_height for style in self._styles())

    @property
    def double_width(self) -> bool:
        """Some visible text is double width."""
        return any(style.double_width for style in self._styles())

    @property
    def inverse(self) -> bool:
        """Some visible text is white on black."""
        return any(style.inverse for style in self._styles())

    @property
    def underline(self) -> bool:
        """Some visible text is underlined."""
        return any(style.underline > 0 for style in self._styles())

    @property
    def height(self) -> int:
        """Tallest character height multiplier on the line."""
        return max(style.height for style in [*self._styles(), self.end_style])


@dataclass
class DecodedJob:
    """What a print job puts on paper, plus the protocol facts a test wants to check."""

    lines: list[Line] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    code_pages: list[int] = field(default_factory=list)
    initialized_first: bool = False
    non_ascii_before_code_page: bool = False
    raw_utf8_suspect: bool = False
    drawer_kicks: list[tuple[int, int, int]] = field(default_factory=list)
    unknown: list[bytes] = field(default_factory=list)
    truncated: bytes = b""

    @property
    def cut(self) -> bool:
        """A cut command was seen."""
        return bool(self.cuts)

    @property
    def text(self) -> str:
        """All lines joined with newlines."""
        return "\n".join(line.text for line in self.lines)


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.job = DecodedJob(initialized_first=data.startswith(b"\x1b@"))
        self.segments: list[Segment] = []
        self.line_align: Align | None = None
        self._reset()

    def _reset(self) -> None:
        self.style = Style()
        self.align: Align = "left"
        self.codec = CODE_PAGES[0]

    def run(self) -> DecodedJob:
        data, i = self.data, 0
        while i < len(data):
            command = command_at(data, i)
            if command is None:
                self.job.truncated = data[i:]
                break
            chunk = data[i : i + command.length]
            if not command.known:
                self.job.unknown.append(chunk)
            elif data[i] >= 0x20:
                self._text(chunk)
            else:
                self._control(chunk)
            i += command.length
        if self.segments:
            self._end_line()
        return self.job

    def _text(self, raw: bytes) -> None:
        job = self.job
        if not job.code_pages and max(raw) >= 0x80:
            job.non_ascii_before_code_page = True
        if _UTF8_MULTIBYTE.search(raw):
            job.raw_utf8_suspect = True
        self._add(raw.decode(self.codec, errors="replace"))

    def _add(self, text: str) -> None:
        if self.line_align is None:
            # ESC a only takes effect at the start of a line, as on the printer.
            self.line_align = self.align
        if self.segments and self.segments[-1].style == self.style:
            text = self.segments[-1].text + text
            self.segments.pop()
        self.segments.append(Segment(text, self.style))

    def _end_line(self) -> None:
        align = self.align if self.line_align is None else self.line_align
        self.job.lines.append(Line(self.segments, align, self.style))
        self.segments, self.line_align = [], None

    def _feed(self, lines: int) -> None:
        if self.segments:
            self._end_line()
            lines -= 1
        for _ in range(max(lines, 0)):
            self._end_line()

    def _control(self, chunk: bytes) -> None:
        first = chunk[0]
        if first == LF:
            self._end_line()
        elif first == HT:
            column = len("".join(s.text for s in self.segments))
            self._add(" " * (8 - column % 8))
        elif first in (ESC, GS) and is_cut(chunk, 0):
            if self.segments:
                self._end_line()
            self.job.cuts.append(len(self.job.lines))
        elif first == ESC:
            self._esc(chunk[1], chunk[2:])
        elif first == GS:
            self._gs(chunk[1], chunk[2:])
        # CR, realtime DLE commands, FS (Kanji) and other C0 bytes print nothing.

    def _esc(self, cmd: int, args: bytes) -> None:
        style, n = self.style, args[0] if args else 0
        match chr(cmd):
            case "@":
                self._reset()
            case "!":
                self.style = replace(
                    style,
                    font=n & 1,
                    emphasized=bool(n & 0x08),
                    height=2 if n & 0x10 else 1,
                    width=2 if n & 0x20 else 1,
                    underline=1 if n & 0x80 else 0,
                )
            case "E":
                self.style = replace(style, emphasized=bool(n & 1))
            case "G":
                self.style = replace(style, double_strike=bool(n & 1))
            case "-":
                self.style = replace(style, underline=n % 48 if n % 48 <= 2 else 0)
            case "M":
                self.style = replace(style, font=n % 48)
            case "a":
                self.align = _ALIGNS[n % 48] if n % 48 <= 2 else "left"
            case "t":
                self.job.code_pages.append(n)
                self.codec = CODE_PAGES.get(n, CODE_PAGES[0])
            case "d":
                self._feed(n)
            case "p":
                self.job.drawer_kicks.append((args[0], args[1], args[2]))
            case _:
                pass  # spacing, paper feed, page mode, panel keys: nothing to show in text

    def _gs(self, cmd: int, args: bytes) -> None:
        match chr(cmd):
            case "!":
                self.style = replace(
                    self.style, width=(args[0] >> 4) + 1, height=(args[0] & 15) + 1
                )
            case "B":
                self.style = replace(self.style, inverse=bool(args[0] & 1))
            case "v":
                width, height = args[2] | args[3] << 8, args[4] | args[5] << 8
                image = Raster(width, height, args[6:], bool(args[1] & 1), bool(args[1] & 2))
                self._placeholder(f"[image {width * 8}x{height}]", image)
            case "k":
                data = args[1:-1] if args[0] <= 6 else args[2:]
                self._placeholder(f"[barcode {data.decode('ascii', errors='replace')}]")
            case "(" if args[:1] == b"k" and args[3:5] == b"\x31\x50":  # QR: store data
                self._placeholder(f"[qr {args[6:].decode('utf-8', errors='replace')}]")
            case _:
                pass

    def _placeholder(self, text: str, image: Raster | None = None) -> None:
        if self.segments:
            self._end_line()
        self._add(text)
        self._end_line()
        self.job.lines[-1].image = image


def decode_job(data: bytes) -> DecodedJob:
    """Decode one job's ESC/POS bytes into lines, styles and protocol flags."""
    return _Decoder(data).run()
