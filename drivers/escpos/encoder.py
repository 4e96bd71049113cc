"""ESC/POS bytes for a ticket document, with python-escpos's command table as the encoder.

Only `escpos.constants` is used: its `Dummy` printer would pull in Pillow, qrcode and barcode
(about 15 MB resident in the daemon) and re-sends size commands three times; text bytes are
written here in the printer's forced code page. A line with characters the code page lacks
and a font has (Chinese, Arabic, Thai...) is drawn as an image instead (`raster`, which
imports Pillow only when a ticket first needs it); every other line stays text.
"""

from __future__ import annotations

import logging
import textwrap
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import ParamSpec

from escpos.constants import HW_INIT, PAPER_FULL_CUT, TXT_SIZE, TXT_STYLE

from .codepages import DEFAULT_ENCODING, normalize_encoding, select_codepage, transliterate_report
from .document import Align, Block, Columns, Cut, Feed, Rule, Text
from .fonts import Face, FontLibrary, default_library

log = logging.getLogger(__name__)

# Feed to the cutter before cutting, as python-escpos's `cut()` does (ESC d 6).
_FEED_TO_CUTTER = b"\x1bd\x06"

MIN_WIDTH = 8

_P = ParamSpec("_P")


def encode(blocks: Sequence[Block], *, width: int = 48, encoding: str = DEFAULT_ENCODING) -> bytes:
    """One print job: `ESC @`, `ESC t n`, then the blocks; unprintable characters are logged."""
    data, unprintable = encode_report(blocks, width=width, encoding=encoding)
    if unprintable:
        log.warning(
            "characters printed as '?' (not in %s): %s", encoding, " ".join(map(ascii, unprintable))
        )
    return data


def encode_report(
    blocks: Sequence[Block],
    *,
    width: int = 48,
    encoding: str = DEFAULT_ENCODING,
    fonts: FontLibrary | None = None,
) -> tuple[bytes, list[str]]:
    """The job `encode` builds, and the distinct characters that were printed as "?";
    `fonts` draws what the code page lacks (default: this machine's fonts)."""
    if width < MIN_WIDTH:
        raise ValueError(f"a printer is at least {MIN_WIDTH} columns wide, not {width}")
    job = _Job(width, normalize_encoding(encoding), fonts)
    for block in blocks:
        job.add(block)
    return job.output(), job.unprintable()


class _Job:
    """Renders blocks into one job's bytes."""

    def __init__(self, width: int, encoding: str, fonts: FontLibrary | None = None) -> None:
        self._width = width
        self._encoding = encoding
        self._fonts = fonts
        self._unprintable: dict[str, None] = {}
        # ESC @ resets the code page: it is announced right after, before any text.
        self._out = bytearray(HW_INIT + select_codepage(encoding))

    def output(self) -> bytes:
        return bytes(self._out)

    def unprintable(self) -> list[str]:
        return list(self._unprintable)

    def add(self, block: Block) -> None:
        match block:
            case Text():
                self._add_text(block)
            case Columns():
                self._add_columns(block)
            case Rule():
                spelled, unprintable = transliterate_report(block.char, self._encoding)
                char = "-" if unprintable or not spelled else spelled  # decoration: no "?"
                self._line((char * self._width)[: self._width])
            case Feed():
                self._out += b"\n" * block.lines
            case Cut():
                self._out += _FEED_TO_CUTTER + PAPER_FULL_CUT

    def _add_text(self, block: Text) -> None:
        if self._drawable(block.text) is not None:
            self._add_text_drawn(block)
            return
        columns = self._width // 2 if block.double_width else self._width
        hang = " " * min(block.hanging_indent, columns // 2)
        lines: list[str] = []
        for paragraph in self._spell(block.text).split("\n"):
            lines += _wrap(paragraph, columns, hang) or [""]
        self._text_lines(block, lines)

    def _add_text_drawn(self, block: Text) -> None:
        """Paragraph by paragraph: as images those with characters only a font has."""
        from . import raster

        columns = self._width // 2 if block.double_width else self._width
        hang = " " * min(block.hanging_indent, columns // 2)
        style = raster.LineStyle(
            bold=block.bold,
            double_width=block.double_width,
            double_height=block.double_height,
            inverse=block.inverse,
            underline=block.underline,
            align=block.align,
        )
        lines: list[str] = []
        for paragraph in block.text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            face = self._drawable(paragraph)
            drawn = None
            if face is not None:
                drawn = _draw(
                    raster.text_lines,
                    paragraph,
                    face,
                    width=self._width,
                    style=style,
                    hanging_indent=len(hang),
                )
            if drawn is None:
                lines += _wrap(self._spell(paragraph), columns, hang) or [""]
                continue
            self._text_lines(block, lines)
            lines = []
            self._images(*drawn)
        self._text_lines(block, lines)

    def _text_lines(self, block: Text, lines: list[str]) -> None:
        if not lines:
            return
        with self._styled(
            bold=block.bold,
            double_height=block.double_height,
            double_width=block.double_width,
            inverse=block.inverse,
            underline=block.underline,
            align=block.align,
        ):
            for line in lines:
                self._line(line)

    def _add_columns(self, block: Columns) -> None:
        face = self._drawable(f"{block.left} {block.right}")
        if face is not None:
            from . import raster

            drawn = _draw(
                raster.columns_lines,
                block.left,
                block.right,
                face,
                width=self._width,
                style=raster.LineStyle(bold=block.bold, double_height=block.double_height),
                hanging_indent=block.hanging_indent,
            )
            if drawn is not None:
                self._images(*drawn)
                return
        width = self._width
        left = " ".join(self._spell(block.left).split("\n"))
        right = " ".join(self._spell(block.right).split("\n"))
        hang = " " * min(block.hanging_indent, width // 2)
        room = width - len(right) - 1
        if not right:
            lines = _wrap(left, width, hang) or [""]
        elif room >= width // 2:
            lines = _wrap(left, room, hang) or [""]
            lines[0] += " " * (width - len(lines[0]) - len(right)) + right
        else:  # too long to share a line: right text on its own lines, right-aligned
            lines = _wrap(left, width, hang) + [part.rjust(width) for part in _wrap(right, width)]
        with self._styled(bold=block.bold, double_height=block.double_height):
            for line in lines:
                self._line(line)

    def _drawable(self, text: str) -> Face | None:
        """The face to draw `text` with, when the code page lacks some of its letters or digits
        and a font has them; None to print it as text. A symbol or an emoji alone does not make
        a line an image (it prints "?"): images are for the words and numbers."""
        _, unprintable = transliterate_report(text, self._encoding)
        letters = [char for char in unprintable if unicodedata.category(char)[0] in "LN"]
        if not letters:
            return None
        fonts = self._fonts or default_library()
        needed = [char for char in letters if fonts.can_draw(char)]
        return fonts.face_for(text, needed) if needed else None

    def _images(self, images: list[bytes], missing: list[str]) -> None:
        for image in images:
            self._out += image
        self._unprintable.update(dict.fromkeys(missing))

    def _spell(self, text: str) -> str:
        spelled, unprintable = transliterate_report(text, self._encoding)
        self._unprintable.update(dict.fromkeys(unprintable))
        return spelled

    def _line(self, line: str) -> None:
        self._out += line.encode(self._encoding) + b"\n"

    @contextmanager
    def _styled(
        self,
        *,
        bold: bool = False,
        double_height: bool = False,
        double_width: bool = False,
        inverse: bool = False,
        underline: bool = False,
        align: Align = "left",
    ) -> Iterator[None]:
        """Switch on the block's non-default styles, and back off afterwards."""
        on = bytearray()
        off = bytearray()
        if double_height or double_width:
            size = (
                TXT_STYLE["width"][2 if double_width else 1]
                | TXT_STYLE["height"][2 if double_height else 1]
            )
            on += TXT_SIZE + bytes([size])
            off += TXT_SIZE + b"\x00"
        if bold:
            on += TXT_STYLE["bold"][True]
            off += TXT_STYLE["bold"][False]
        if underline:
            on += TXT_STYLE["underline"][1]
            off += TXT_STYLE["underline"][0]
        if inverse:
            on += TXT_STYLE["invert"][True]
            off += TXT_STYLE["invert"][False]
        if align != "left":
            on += TXT_STYLE["align"][align]
            off += TXT_STYLE["align"]["left"]
        self._out += on
        yield
        self._out += off


def _draw(
    draw: Callable[_P, tuple[list[bytes], list[str]]], *args: _P.args, **kwargs: _P.kwargs
) -> tuple[list[bytes], list[str]] | None:
    """Lines drawn by `raster`, or None (printed as text) when the font engine fails."""
    try:
        return draw(*args, **kwargs)
    except (RuntimeError, OSError, ValueError) as err:
        log.warning("text printed with '?' instead of drawn: %s: %s", type(err).__name__, err)
        return None


def _wrap(text: str, width: int, hang: str = "") -> list[str]:
    """Word-wrap to `width` columns, breaking words longer than a line."""
    if text and len(text) <= width and not text[-1].isspace():
        return [text]  # fits: what textwrap would return, without its cost
    return textwrap.wrap(
        text, width, subsequent_indent=hang, break_long_words=True, break_on_hyphens=True
    )
