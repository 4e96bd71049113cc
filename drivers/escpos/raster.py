"""Lines of text drawn as 1-bit images (ESC/POS `GS v 0`), for scripts no code page holds.

One printed line is one image drawn on the width of the paper (12 dots a column, as font A) and
sent up to its last printed dot, 30 dots high: a 24-dot band of text and the gap a text line
leaves below it. It is sent at the left margin (`ESC a` left, as the encoder leaves it after
every block): alignment is in its dots. Right-to-left text is
shaped and laid out by raqm (Pillow's complex layout); without raqm it is drawn unshaped.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from escpos.constants import GS
from escpos.image import EscposImage
from PIL import Image, ImageChops, ImageDraw, features

from .document import Align
from .fonts import Face, Script, script_of

log = logging.getLogger(__name__)

DOTS_PER_COLUMN = 12
LINE_DOTS = 30
_BASELINE = 23  # from the top of the line: 23 dots above it, 7 below for descenders and marks
_SIZES = {Script.CJK: 24}  # a CJK character two columns wide, as on a CJK printer
_SIZE = 22
_NEAR = 4  # dots: a line whose estimated length is this close to the limit is measured
# No line starts with these (closing punctuation) or ends with those (opening).
_NO_BREAK_BEFORE = frozenset("、。，．・：；？！）」』】〕〉》〙〗ー々ゝゞ…‥」,.:;?!)]}")
_NOT_DRAWN = frozenset(("Cc", "Cs", "Co", "Cn", "Zl", "Zp"))
_NO_BREAK_AFTER = frozenset("（「『【〔〈《〘〖([{")


@dataclass(frozen=True)
class LineStyle:
    """How a Text or Columns block asks its lines to be printed."""

    bold: bool = False
    double_width: bool = False
    double_height: bool = False
    inverse: bool = False
    underline: bool = False
    align: Align = "left"


@functools.cache
def _raqm() -> bool:
    if features.check("raqm"):
        return True
    log.warning("Pillow has no raqm: right-to-left text is printed unshaped, left to right")
    return False


def _prepare(text: str, face: Face) -> tuple[str, list[str]]:
    """The text as the face can draw it, and the characters it cannot (drawn as "?")."""
    out: list[str] = []
    missing: dict[str, None] = {}
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if char == "\t":
            out.append(" ")
        elif category in _NOT_DRAWN or unicodedata.bidirectional(char) in ("B", "S"):
            out.append("?")  # controls and separators (a font may have them: they print "?")
            missing[char] = None
        elif face.covers(char) or char == " ":
            out.append(char)
        elif category == "Cf" and _raqm():
            out.append(char)  # joiners and direction marks: the shaper uses them, draws nothing
        elif category[0] == "M" or category == "Cf":
            continue  # an accent or hint the font lacks: the base letter is printed
        else:
            out.append("?")
            missing[char] = None
    return "".join(out), list(missing)


def _rtl(text: str) -> bool:
    """Right-to-left paragraph: its first non-space character is right-to-left (so a ticket
    line that starts with a label or an indent marker keeps the ticket's left-to-right)."""
    first = text.lstrip()[:1]
    return bool(first) and unicodedata.bidirectional(first) in ("R", "AL")


class _Pen:
    """Measures and draws a paragraph's lines in one face, size and direction."""

    def __init__(self, face: Face, *, bold: bool, rtl: bool) -> None:
        self.font = face.font(_SIZES.get(face.script, _SIZE), bold=bold)
        self.stroke = 1 if bold and face.bold_path is None else 0  # no bold file: embolden
        self.direction = ("rtl" if rtl else "ltr") if _raqm() else None
        self._pieces: dict[str, float] = {}

    def length(self, text: str) -> float:
        return self.font.getlength(text, direction=self.direction) + 2 * self.stroke

    def piece(self, text: str) -> float:
        """The length of a piece of a line, measured once per paragraph."""
        if text not in self._pieces:
            self._pieces[text] = self.length(text)
        return self._pieces[text]

    def fits(self, line: str, estimate: float, room: int) -> bool:
        """Whether `line` is at most `room` dots long. `estimate` is the sum of its pieces,
        which neither join nor kern across a break: the line is measured whole only when
        the estimate is near the limit."""
        if abs(estimate - room) > _NEAR:
            return estimate <= room
        return self.length(line) <= room

    def draw(self, image: Image.Image, x: float, text: str) -> None:
        ImageDraw.Draw(image).text(
            (x + self.stroke, _BASELINE),
            text,
            font=self.font,
            fill=0,
            anchor="ls",
            direction=self.direction,
            stroke_width=self.stroke,
            stroke_fill=0,
        )


def _units(text: str) -> list[str]:
    """The text cut where a line may break: after spaces, and around CJK characters."""
    units: list[str] = []
    for char in text:
        if units:
            last = units[-1][-1]
            joined = (
                unicodedata.category(char)[0] == "M"
                or char in _NO_BREAK_BEFORE
                or last in _NO_BREAK_AFTER
                or last == "\u200d"
                or char.isspace()
            )
            breaks = (
                last.isspace() or script_of(char) is Script.CJK or script_of(last) is Script.CJK
            )
            if joined or not breaks:
                units[-1] += char
                continue
        units.append(char)
    return units


def _clusters(text: str) -> list[str]:
    """The text cut between characters, never before a mark or after a joiner."""
    clusters: list[str] = []
    for char in text:
        if clusters and (unicodedata.category(char)[0] == "M" or clusters[-1][-1] == "\u200d"):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _wrap(text: str, pen: _Pen, room: Callable[[int], int]) -> list[str]:
    """Greedy wrap with `pen`'s lengths: `room(n)` is the room of the n-th line (from 0)."""
    lines: list[str] = []
    line, used = "", 0.0
    for unit in _units(text):
        trimmed = unit.rstrip()
        if pen.fits(line + trimmed, used + pen.piece(trimmed), room(len(lines))):
            line, used = line + unit, used + pen.piece(unit)
            continue
        rest = unit
        if line.strip():
            lines.append(line.rstrip())
            rest = unit.lstrip()
        while rest and not pen.fits(rest.rstrip(), pen.piece(rest.rstrip()), room(len(lines))):
            head, size = "", 0.0  # longer than a line: cut between characters
            for cluster in _clusters(rest):
                estimate = size + pen.piece(cluster)
                if head and not pen.fits(head + cluster, estimate, room(len(lines))):
                    break
                head, size = head + cluster, estimate
            lines.append(head)
            rest = rest[len(head) :].lstrip()
        line, used = rest, pen.piece(rest)
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def _finish(image: Image.Image, style: LineStyle, ink: tuple[int, int]) -> bytes:
    """Threshold, mark, scale and encode one line's image as `GS v 0`."""
    image = image.point(lambda v: 0 if v < 128 else 255)
    left, right = max(ink[0] - 2, 0), min(ink[1] + 2, image.width)
    if style.underline and right > left:
        ImageDraw.Draw(image).rectangle((left, _BASELINE + 2, right - 1, _BASELINE + 3), fill=0)
    if style.inverse and right > left:
        band = image.crop((left, 0, right, LINE_DOTS)).point(lambda v: 255 - v)
        image.paste(band, (left, 0))
    wide, tall = (2 if style.double_width else 1), (2 if style.double_height else 1)
    if wide > 1 or tall > 1:
        image = image.resize((image.width * wide, image.height * tall), Image.Resampling.NEAREST)
    # Blank dots right of the ink are not sent: the image starts at the left margin all the
    # same, and a serial or Bluetooth printer gets the line in a fraction of the time.
    box = ImageChops.invert(image).getbbox()
    used = -(-box[2] // 8) * 8 if box else 8
    return gs_v0(image.crop((0, 0, min(used, image.width), image.height)))


def gs_v0(image: Image.Image) -> bytes:
    """The `GS v 0` command (normal density) printing `image` (dark pixels print)."""
    raster = EscposImage(image)
    width, height = raster.width_bytes, raster.height
    header: bytes = GS + b"v0\x00" + width.to_bytes(2, "little") + height.to_bytes(2, "little")
    dots: bytes = raster.to_raster_format()
    return header + dots


def text_lines(
    text: str, face: Face, *, width: int, style: LineStyle, hanging_indent: int = 0
) -> tuple[list[bytes], list[str]]:
    """One paragraph as `GS v 0` lines `width` columns wide, wrapped, aligned and styled as the
    block asks; and the characters the face lacks (drawn as "?")."""
    drawn, missing = _prepare(text, face)
    rtl = _rtl(drawn)
    pen = _Pen(face, bold=style.bold, rtl=rtl)
    columns = width // 2 if style.double_width else width
    paper = columns * DOTS_PER_COLUMN
    body = drawn.lstrip(" ")
    lead = min(len(drawn) - len(body), columns // 2) * DOTS_PER_COLUMN
    hang = min(hanging_indent, columns // 2) * DOTS_PER_COLUMN

    def indent(n: int) -> int:
        return lead if n == 0 else hang

    lines = _wrap(body, pen, lambda n: paper - indent(n))
    out: list[bytes] = []
    for n, line in enumerate(lines):
        used = round(pen.length(line))
        align = style.align
        if align == "left" and rtl:
            align = "right"  # the start of a right-to-left line
        x = {
            "left": indent(n),
            "center": (paper - used) // 2,
            "right": paper - used - (indent(n) if rtl else 0),
        }[align]
        x = max(0, min(x, paper - used))
        image = Image.new("L", (paper, LINE_DOTS), 255)
        pen.draw(image, x, line)
        out.append(_finish(image, style, (x, x + used)))
    return out, missing


def columns_lines(
    left: str, right: str, face: Face, *, width: int, style: LineStyle, hanging_indent: int = 0
) -> tuple[list[bytes], list[str]]:
    """Left text and right-aligned text on one line (the left part wrapping), as `GS v 0`
    lines; and the characters the face lacks."""
    left, missing_left = _prepare(" ".join(left.split("\n")), face)
    right, missing_right = _prepare(" ".join(right.split("\n")), face)
    pen = _Pen(face, bold=style.bold, rtl=False)
    paper = width * DOTS_PER_COLUMN
    hang = min(hanging_indent, width // 2) * DOTS_PER_COLUMN
    right_used = round(pen.length(right)) if right else 0
    room = paper - right_used - DOTS_PER_COLUMN if right else paper
    shared = room >= paper // 2

    lefts = _wrap(left, pen, lambda n: (room if shared else paper) - (hang if n else 0))
    rights = [] if shared or not right else _wrap(right, pen, lambda n: paper)
    out: list[bytes] = []
    for n, line in enumerate(lefts):
        image = Image.new("L", (paper, LINE_DOTS), 255)
        x = hang if n else 0
        pen.draw(image, x, line)
        end = x + round(pen.length(line))
        if n == 0 and shared and right:
            pen.draw(image, paper - right_used, right)
            end = paper
        out.append(_finish(image, style, (x, end)))
    for line in rights:
        used = round(pen.length(line))
        image = Image.new("L", (paper, LINE_DOTS), 255)
        pen.draw(image, paper - used, line)
        out.append(_finish(image, style, (paper - used, paper)))
    return out, list(dict.fromkeys(missing_left + missing_right))
