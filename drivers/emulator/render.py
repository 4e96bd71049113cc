"""Draw a decoded job as a receipt image."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from drivers.emulator.decode import DecodedJob, Line, Segment, Style

CELL_W, CELL_H = 12, 24  # font A on an 80 mm printer: 48 columns in 576 dots
MARGIN = 12  # top and bottom; the paper is exactly the print width
_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_SIZE = 20  # DejaVu Sans Mono advances 0.6 em: 12 px
_MAX_LINES = 2000  # a runaway job must not need gigabytes of image

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=4)
def _font(bold: bool) -> _Font:
    path = _FONT_DIR / ("DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf")
    try:
        return ImageFont.truetype(str(path), _FONT_SIZE)
    except OSError:
        return ImageFont.load_default(_FONT_SIZE)


def _cells(segment: Segment) -> int:
    return len(segment.text) * segment.style.width


def _wrap(line: Line, width_chars: int) -> list[list[Segment]]:
    """Split a line into printed rows of at most width_chars columns, as the printer wraps."""
    rows: list[list[Segment]] = [[]]
    used = 0
    for segment in line.segments:
        text, per_char = segment.text, segment.style.width
        while text:
            fit = max((width_chars - used) // per_char, 0)
            if fit == 0 and used == 0:
                fit = 1  # a character wider than the paper still prints
            if fit == 0:
                rows.append([])
                used = 0
                continue
            piece, text = text[:fit], text[fit:]
            rows[-1].append(Segment(piece, segment.style))
            used += len(piece) * per_char
    return rows


def _draw_segment(segment: Segment) -> Image.Image:
    style = segment.style
    ink, paper = (255, 0) if style.inverse else (0, 255)
    tile = Image.new("L", (len(segment.text) * CELL_W, CELL_H), paper)
    draw = ImageDraw.Draw(tile)
    font = _font(style.bold)
    for column, char in enumerate(segment.text):
        draw.text((column * CELL_W, 0), char, font=font, fill=ink)
    if style.underline:
        thickness = style.underline
        draw.rectangle((0, CELL_H - 1 - thickness, tile.width, CELL_H - 2), fill=ink)
    if style.width == 1 and style.height == 1:
        return tile
    return tile.resize((tile.width * style.width, CELL_H * style.height), Image.Resampling.NEAREST)


def _render_row(row: list[Segment], line: Line, width_px: int) -> Image.Image:
    height = max([s.style.height for s in row] + [line.end_style.height]) * CELL_H
    image = Image.new("L", (width_px, height), 255)
    used = sum(_cells(segment) for segment in row) * CELL_W
    x = {"left": 0, "center": (width_px - used) // 2, "right": width_px - used}[line.align]
    for segment in row:
        tile = _draw_segment(segment)
        image.paste(tile, (max(x, 0), height - tile.height))
        x += tile.width
    return image


def _dashes(width_px: int) -> Image.Image:
    image = Image.new("L", (width_px, CELL_H), 255)
    draw = ImageDraw.Draw(image)
    for x in range(0, width_px, 16):
        draw.line((x, CELL_H // 2, x + 8, CELL_H // 2), fill=0, width=2)
    return image


def render_png(job: DecodedJob, path: Path, *, width_chars: int = 48) -> None:
    """Write the job as a PNG receipt: monospace, styles applied, a dashed line at each cut."""
    width_px = width_chars * CELL_W
    strips: list[Image.Image] = []
    for index, line in enumerate(job.lines[:_MAX_LINES]):
        strips += [_dashes(width_px) for _ in range(job.cuts.count(index))]
        strips += [_render_row(row, line, width_px) for row in _wrap(line, width_chars)]
    if len(job.lines) > _MAX_LINES:
        more = Line([Segment(f"[{len(job.lines) - _MAX_LINES} more lines]", Style())])
        strips.append(_render_row(more.segments, more, width_px))
    strips += [_dashes(width_px) for _ in range(job.cuts.count(len(job.lines)))]
    height = sum(strip.height for strip in strips) + 2 * MARGIN
    paper = Image.new("L", (width_px, height), 255)
    y = MARGIN
    for strip in strips:
        paper.paste(strip, (0, y))
        y += strip.height
    paper.save(path, format="PNG")
