"""Draw a decoded job as a receipt image: a PNG file (the emulator's preview), or PNG bytes at
a printer's print width (what a Star CloudPRNT printer fetches instead of ESC/POS)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

from drivers.emulator.decode import DecodedJob, Line, Raster, Segment, Style, decode_job

CELL_W, CELL_H = 12, 24  # font A on an 80 mm printer: 48 columns in 576 dots
MARGIN = 12  # top and bottom; the paper is exactly the print width
_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_SIZE = 20  # DejaVu Sans Mono advances 0.6 em: 12 px
_MAX_LINES = 2000  # a runaway job must not need gigabytes of image
_MAX_HEIGHT = _MAX_LINES * CELL_H  # nor does a job of tall images

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


def _render_image(raster: Raster, align: str, width_px: int) -> Image.Image | None:
    """A `GS v 0` image as printed: its dots black, cut to the paper, aligned as `ESC a` says."""
    height = min(raster.height, _MAX_HEIGHT)
    if raster.width_bytes == 0 or height == 0:
        return None
    rows = raster.data[: raster.width_bytes * height]
    dots = Image.frombytes("1", (raster.width_bytes * 8, height), rows)
    dots = dots.crop((0, 0, min(dots.width, width_px), height))  # past the paper: not printed
    image = ImageChops.invert(dots.convert("L"))  # a set bit prints: black
    if raster.double_width or raster.double_height:
        size = (image.width * (1 + raster.double_width), height * (1 + raster.double_height))
        image = image.resize(size, Image.Resampling.NEAREST)
        image = image.crop((0, 0, min(image.width, width_px), min(image.height, _MAX_HEIGHT)))
    strip = Image.new("L", (width_px, image.height), 255)
    free = width_px - image.width
    strip.paste(image, ({"center": free // 2, "right": free}.get(align, 0), 0))
    return strip


def _dashes(width_px: int) -> Image.Image:
    image = Image.new("L", (width_px, CELL_H), 255)
    draw = ImageDraw.Draw(image)
    for x in range(0, width_px, 16):
        draw.line((x, CELL_H // 2, x + 8, CELL_H // 2), fill=0, width=2)
    return image


def _strips(job: DecodedJob, width_chars: int) -> list[Image.Image]:
    width_px = width_chars * CELL_W
    strips: list[Image.Image] = []
    height = 0
    for index, line in enumerate(job.lines):
        if index >= _MAX_LINES or height >= _MAX_HEIGHT:
            more = Line([Segment(f"[{len(job.lines) - index} more lines]", Style())])
            strips.append(_render_row(more.segments, more, width_px))
            return strips
        added = [_dashes(width_px) for _ in range(job.cuts.count(index))]
        if line.image is None:
            added += [_render_row(row, line, width_px) for row in _wrap(line, width_chars)]
        elif (image := _render_image(line.image, line.align, width_px)) is not None:
            added.append(image)
        strips += added
        height += sum(strip.height for strip in added)
    strips += [_dashes(width_px) for _ in range(job.cuts.count(len(job.lines)))]
    return strips


def _paper(job: DecodedJob, width_chars: int) -> Image.Image:
    """The whole receipt: the job's rows one below the other, between margins."""
    strips = _strips(job, width_chars)
    height = sum(strip.height for strip in strips) + 2 * MARGIN
    paper = Image.new("L", (width_chars * CELL_W, height), 255)
    y = MARGIN
    for strip in strips:
        paper.paste(strip, (0, y))
        y += strip.height
    return paper


def render_png(job: DecodedJob, path: Path, *, width_chars: int = 48) -> None:
    """Write the job as a PNG receipt: monospace, styles applied, raster images drawn, a
    dashed line at each cut."""
    _paper(job, width_chars).save(path, format="PNG")


def ticket_png(raw: bytes, *, width_chars: int, width_dots: int | None = None) -> bytes:
    """A job's ESC/POS bytes as a 1-bit PNG ticket, `width_dots` wide when given (the print
    width: a narrower drawing is centred on it, a wider one scaled down to it). Pure: no I/O."""
    paper = _paper(decode_job(raw), width_chars)
    if width_dots is not None and width_dots != paper.width:
        if width_dots < 1:
            raise ValueError(f"a ticket is at least 1 dot wide, not {width_dots}")
        if width_dots < paper.width:
            height = max(round(paper.height * width_dots / paper.width), 1)
            paper = paper.resize((width_dots, height), Image.Resampling.LANCZOS)
        else:
            wider = Image.new("L", (width_dots, paper.height), 255)
            wider.paste(paper, ((width_dots - paper.width) // 2, 0))
            paper = wider
    dots = paper.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)
    out = io.BytesIO()
    dots.save(out, format="PNG", optimize=True)
    return out.getvalue()


def ticket_text(raw: bytes) -> str:
    """A job's ESC/POS bytes as the plain text it prints (images as "[image WxH]")."""
    return decode_job(raw).text
