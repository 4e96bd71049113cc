"""ESC/POS bytes for a ticket document, with python-escpos's command table as the encoder.

Only `escpos.constants` is used: its `Dummy` printer would pull in Pillow, qrcode and barcode
(about 15 MB resident in the daemon) and re-sends size commands three times; text bytes are
written here in the printer's forced code page.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from escpos.constants import HW_INIT, PAPER_FULL_CUT, TXT_SIZE, TXT_STYLE

from .codepages import DEFAULT_ENCODING, normalize_encoding, select_codepage, transliterate_report
from .document import Align, Block, Columns, Cut, Feed, Rule, Text

log = logging.getLogger(__name__)

# Feed to the cutter before cutting, as python-escpos's `cut()` does (ESC d 6).
_FEED_TO_CUTTER = b"\x1bd\x06"

MIN_WIDTH = 8


def encode(blocks: Sequence[Block], *, width: int = 48, encoding: str = DEFAULT_ENCODING) -> bytes:
    """One print job: `ESC @`, `ESC t n`, then the blocks; unprintable characters are logged."""
    data, unprintable = encode_report(blocks, width=width, encoding=encoding)
    if unprintable:
        log.warning(
            "characters printed as '?' (not in %s): %s", encoding, " ".join(map(ascii, unprintable))
        )
    return data


def encode_report(
    blocks: Sequence[Block], *, width: int = 48, encoding: str = DEFAULT_ENCODING
) -> tuple[bytes, list[str]]:
    """The job `encode` builds, and the distinct characters that were printed as "?"."""
    if width < MIN_WIDTH:
        raise ValueError(f"a printer is at least {MIN_WIDTH} columns wide, not {width}")
    job = _Job(width, normalize_encoding(encoding))
    for block in blocks:
        job.add(block)
    return job.output(), job.unprintable()


class _Job:
    """Renders blocks into one job's bytes."""

    def __init__(self, width: int, encoding: str) -> None:
        self._width = width
        self._encoding = encoding
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
        columns = self._width // 2 if block.double_width else self._width
        hang = " " * min(block.hanging_indent, columns // 2)
        lines: list[str] = []
        for paragraph in self._spell(block.text).split("\n"):
            lines += _wrap(paragraph, columns, hang) or [""]
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


def _wrap(text: str, width: int, hang: str = "") -> list[str]:
    """Word-wrap to `width` columns, breaking words longer than a line."""
    if text and len(text) <= width and not text[-1].isspace():
        return [text]  # fits: what textwrap would return, without its cost
    return textwrap.wrap(
        text, width, subsequent_indent=hang, break_long_words=True, break_on_hyphens=True
    )
