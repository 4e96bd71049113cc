"""Fonts for the text a printer's code page cannot hold: found once on this machine, then cached.

The font files are looked up (font directories, then `fc-match`) and their character maps read
the first time a ticket needs one, or in advance with `preload_fonts()`: both block, so a daemon
calls `preload_fonts()` in a thread at start-up. After that, nothing here touches the disk but
FreeType's own reading of a font the first time it is used at a size.
"""

from __future__ import annotations

import bisect
import functools
import logging
import os
import shutil
import struct
import subprocess
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

log = logging.getLogger(__name__)


class Script(StrEnum):
    """The writing systems we raster, each with its own font; `FALLBACK` draws the rest."""

    CJK = "cjk"
    ARABIC = "arabic"
    HEBREW = "hebrew"
    THAI = "thai"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class FontChoice:
    """The font used for a script: `path` None when missing; `package` the Debian package
    that provides it (for a missing font, or one found by fc-match, the one we install)."""

    script: str
    path: Path | None
    package: str


@dataclass(frozen=True)
class _Candidate:
    file: str
    package: str
    bold: str | None = None


# In order of preference: what scripts/bootstrap installs, then what Debian often has.
_CANDIDATES: dict[Script, tuple[_Candidate, ...]] = {
    Script.CJK: (
        _Candidate("NotoSansCJK-Regular.ttc", "fonts-noto-cjk", "NotoSansCJK-Bold.ttc"),
        _Candidate("wqy-zenhei.ttc", "fonts-wqy-zenhei"),
        _Candidate("DroidSansFallbackFull.ttf", "fonts-droid-fallback"),
    ),
    Script.ARABIC: (
        _Candidate("NotoSansArabic-Regular.ttf", "fonts-noto-core", "NotoSansArabic-Bold.ttf"),
        _Candidate("NotoNaskhArabic-Regular.ttf", "fonts-noto-core", "NotoNaskhArabic-Bold.ttf"),
        _Candidate("DejaVuSans.ttf", "fonts-dejavu-core", "DejaVuSans-Bold.ttf"),
    ),
    Script.HEBREW: (
        _Candidate("NotoSansHebrew-Regular.ttf", "fonts-noto-core", "NotoSansHebrew-Bold.ttf"),
        _Candidate("DejaVuSans.ttf", "fonts-dejavu-core", "DejaVuSans-Bold.ttf"),
    ),
    Script.THAI: (
        _Candidate("Loma.ttf", "fonts-tlwg-loma-ttf", "Loma-Bold.ttf"),
        _Candidate("NotoSansThai-Regular.ttf", "fonts-noto-core", "NotoSansThai-Bold.ttf"),
        _Candidate("Garuda.ttf", "fonts-tlwg-garuda-ttf", "Garuda-Bold.ttf"),
    ),
    Script.FALLBACK: (_Candidate("DejaVuSans.ttf", "fonts-dejavu-core", "DejaVuSans-Bold.ttf"),),
}
# What scripts/bootstrap installs for each script: the package to name when it is missing.
_INSTALL = {
    Script.CJK: "fonts-noto-cjk",
    Script.ARABIC: "fonts-dejavu-core",
    Script.HEBREW: "fonts-dejavu-core",
    Script.THAI: "fonts-tlwg-loma-ttf",
    Script.FALLBACK: "fonts-dejavu-core",
}
# A character of each script, to ask fc-match for a font that has it.
_SAMPLES = {Script.CJK: "中", Script.ARABIC: "ب", Script.HEBREW: "א", Script.THAI: "ก"}
# Noto Sans Mono CJK faces in NotoSansCJK-*.ttc: Latin half a CJK character wide, that is one
# printer column when a CJK character takes two.
_NOTO_CJK_MONO = {"ja": 5, "ko": 6, "zh": 7}

DEFAULT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path("~/.local/share/fonts"),
    Path("~/.fonts"),
)

_RANGES: tuple[tuple[int, int, Script], ...] = (
    (0x0590, 0x05FF, Script.HEBREW),
    (0x0600, 0x06FF, Script.ARABIC),
    (0x0750, 0x077F, Script.ARABIC),
    (0x08A0, 0x08FF, Script.ARABIC),
    (0x0E00, 0x0E7F, Script.THAI),
    (0x1100, 0x11FF, Script.CJK),  # Hangul Jamo
    (0x2E80, 0x2FDF, Script.CJK),  # radicals
    (0x3000, 0x9FFF, Script.CJK),  # punctuation, kana, Hangul compatibility, ideographs
    (0xA960, 0xA97F, Script.CJK),
    (0xAC00, 0xD7FF, Script.CJK),  # Hangul syllables
    (0xF900, 0xFAFF, Script.CJK),
    (0xFB1D, 0xFB4F, Script.HEBREW),
    (0xFB50, 0xFDFF, Script.ARABIC),
    (0xFE30, 0xFE4F, Script.CJK),
    (0xFE70, 0xFEFF, Script.ARABIC),
    (0xFF00, 0xFFEF, Script.CJK),  # full- and half-width forms
    (0x20000, 0x3FFFF, Script.CJK),
)
_NOT_DRAWN = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
_RANGE_STARTS = [start for start, _, _ in _RANGES]


def script_of(char: str) -> Script:
    """The script whose font draws `char` best (FALLBACK for Latin, Greek, Cyrillic, symbols)."""
    code = ord(char)
    i = bisect.bisect_right(_RANGE_STARTS, code) - 1
    if i >= 0 and code <= _RANGES[i][1]:
        return _RANGES[i][2]
    return Script.FALLBACK


@dataclass(frozen=True)
class Coverage:
    """The characters a font maps to a glyph: sorted, disjoint, inclusive ranges."""

    starts: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()

    @classmethod
    def of(cls, ranges: Iterable[tuple[int, int]]) -> Coverage:
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return cls(tuple(r[0] for r in merged), tuple(r[1] for r in merged))

    def __contains__(self, char: object) -> bool:
        if not isinstance(char, str) or len(char) != 1:
            return False
        code = ord(char)
        i = bisect.bisect_right(self.starts, code) - 1
        return i >= 0 and code <= self.ends[i]


@dataclass(frozen=True)
class Face:
    """One font file (a face of it, for a collection), what it covers, and its bold file."""

    script: Script
    path: Path
    package: str
    coverage: Coverage = field(repr=False)
    bold_path: Path | None = None
    index: int = 0

    def covers(self, char: str) -> bool:
        """Whether the font has a glyph for `char`."""
        return char in self.coverage

    def for_text(self, text: str) -> Face:
        """The face of a Noto CJK collection that fits the language: kana, Hangul, or Chinese."""
        if not self.path.name.startswith("NotoSansCJK-"):
            return self
        if any("\u3040" <= c <= "\u30ff" for c in text):
            language = "ja"
        elif any("\uac00" <= c <= "\ud7af" or "\u1100" <= c <= "\u11ff" for c in text):
            language = "ko"
        else:
            language = "zh"
        return replace(self, index=_NOTO_CJK_MONO[language])

    def font(self, size: int, *, bold: bool = False) -> FreeTypeFont:
        """The font at `size` pixels (the bold file when asked and present); cached."""
        path = self.bold_path if bold and self.bold_path is not None else self.path
        return _load_font(str(path), self.index, size)


@functools.lru_cache(maxsize=64)
def _load_font(path: str, index: int, size: int) -> FreeTypeFont:
    from PIL import ImageFont, features

    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    try:
        return ImageFont.truetype(path, size, index=index, layout_engine=layout)
    except OSError:  # a collection with fewer faces than the Noto one
        return ImageFont.truetype(path, size, layout_engine=layout)


class FontLibrary:
    """The fonts found on this machine for each script, looked up once on first use."""

    def __init__(self, dirs: Sequence[Path] = DEFAULT_DIRS, *, fc_match: bool = True) -> None:
        self._dirs = tuple(dirs)
        self._fc_match = fc_match
        self._lock = threading.Lock()
        self._faces: dict[Script, Face | None] | None = None

    def faces(self) -> dict[Script, Face | None]:
        """Each script's face, None when this machine has no font for it (blocks the first time)."""
        with self._lock:
            if self._faces is None:
                self._faces = self._find()
            return self._faces

    def report(self) -> list[FontChoice]:
        """One entry per script: the font file used, or None and the package to install."""
        choices = []
        for script, face in self.faces().items():
            if face is None:
                choices.append(FontChoice(script, None, _INSTALL[script]))
            else:
                choices.append(FontChoice(script, face.path, face.package))
        return choices

    def can_draw(self, char: str) -> bool:
        """Whether some font here has a glyph for `char` and it is something to draw (not a
        control, a line separator, a private-use or unassigned code point)."""
        if unicodedata.category(char) in _NOT_DRAWN:
            return False
        return any(face is not None and face.covers(char) for face in self.faces().values())

    def face_for(self, text: str, needed: Iterable[str]) -> Face | None:
        """The face that draws most of `needed` (the characters the code page lacks), then most
        of the rest of `text`; None when no face has any of `needed`."""
        needed = list(dict.fromkeys(needed))
        others = {c for c in text if not c.isspace()}.difference(needed)
        preferred = [script_of(c) for c in needed] + [Script.FALLBACK, *Script]
        faces = self.faces()
        best: tuple[int, int] = (0, 0)
        chosen: Face | None = None
        for script in dict.fromkeys(preferred):
            face = faces[script]
            if face is None or face is chosen:
                continue
            score = (sum(map(face.covers, needed)), sum(map(face.covers, others)))
            if score[0] and score > best:
                best, chosen = score, face
        return None if chosen is None else chosen.for_text(text)

    def _find(self) -> dict[Script, Face | None]:
        index = _index_files(self._dirs)
        coverages: dict[Path, Coverage] = {}

        def coverage(path: Path) -> Coverage:
            if path not in coverages:
                coverages[path] = _read_coverage(path)
            return coverages[path]

        found: dict[Script, Face | None] = {}
        for script, candidates in _CANDIDATES.items():
            found[script] = None
            sample = _SAMPLES.get(script, "A")
            for candidate in candidates:
                path = index.get(candidate.file.lower())
                if path is None or sample not in (cover := coverage(path)):
                    continue
                bold = index.get(candidate.bold.lower()) if candidate.bold else None
                found[script] = Face(script, path, candidate.package, cover, bold)
                break
            if found[script] is None and script in _SAMPLES and self._fc_match:
                path = _fc_match(sample)
                if path is not None and sample in (cover := coverage(path)):
                    found[script] = Face(script, path, _INSTALL[script], cover)
        missing = [script.value for script, face in found.items() if face is None]
        if missing:
            log.warning("no font for %s: such text prints as '?'", ", ".join(missing))
        return found


def _index_files(dirs: Sequence[Path]) -> dict[str, Path]:
    """Font file names (lower case) to their first path under `dirs`."""
    files: dict[str, Path] = {}
    for folder in dirs:
        try:
            root = folder.expanduser()
        except RuntimeError:  # no home directory
            continue
        for parent, _, names in os.walk(root):
            for name in names:
                if name.lower().endswith((".ttf", ".otf", ".ttc")):
                    files.setdefault(name.lower(), Path(parent) / name)
    return files


def _fc_match(sample: str) -> Path | None:
    """The font fontconfig picks for a character (it may not have it: the caller checks)."""
    command = shutil.which("fc-match")
    if command is None:
        return None
    try:
        found = subprocess.run(
            [command, "--format=%{file}", f":charset={ord(sample):x}"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found) if found.lower().endswith((".ttf", ".otf", ".ttc")) else None


def _read_coverage(path: Path) -> Coverage:
    """The character map of a font file (the first face of a collection); empty if unreadable."""
    try:
        with path.open("rb") as file:
            return Coverage.of(_cmap_ranges(file))
    except (OSError, struct.error, ValueError) as err:
        log.warning("font %s cannot be read: %s", path, err)
        return Coverage()


def _read(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    data = file.read(size)
    if len(data) != size:
        raise ValueError("file ends early")
    return data


def _cmap_ranges(file: BinaryIO) -> list[tuple[int, int]]:
    """The Unicode ranges of the font's best cmap subtable (format 12, else format 4)."""
    sfnt = 0
    if _read(file, 0, 4) == b"ttcf":
        sfnt = struct.unpack(">I", _read(file, 12, 4))[0]  # the first face
    (tables,) = struct.unpack(">H", _read(file, sfnt + 4, 2))
    directory = _read(file, sfnt + 12, 16 * tables)
    for i in range(tables):
        tag, _, offset, _ = struct.unpack_from(">4sIII", directory, 16 * i)
        if tag == b"cmap":
            break
    else:
        raise ValueError("no cmap table")
    _, subtables = struct.unpack(">HH", _read(file, offset, 4))
    records = _read(file, offset + 4, 8 * subtables)
    found: dict[tuple[int, int], int] = {}
    for i in range(subtables):
        platform, encoding, at = struct.unpack_from(">HHI", records, 8 * i)
        (kind,) = struct.unpack(">H", _read(file, offset + at, 2))
        found.setdefault((kind, platform * 100 + encoding), offset + at)
    for kind, key in ((12, 310), (12, 4), (12, 6), (4, 301), (4, 3), (4, 1)):
        if (kind, key) in found:
            start = found[(kind, key)]
            return _format12(file, start) if kind == 12 else _format4(file, start)
    raise ValueError("no Unicode cmap")


def _format12(file: BinaryIO, start: int) -> list[tuple[int, int]]:
    (groups,) = struct.unpack(">I", _read(file, start + 12, 4))
    data = _read(file, start + 16, 12 * groups)
    return [struct.unpack_from(">II", data, 12 * i) for i in range(groups)]


def _format4(file: BinaryIO, start: int) -> list[tuple[int, int]]:
    (length,) = struct.unpack(">H", _read(file, start + 2, 2))
    table = _read(file, start, length)
    (segments,) = struct.unpack_from(">H", table, 6)
    segments //= 2
    ends = struct.unpack_from(f">{segments}H", table, 14)
    starts = struct.unpack_from(f">{segments}H", table, 16 + 2 * segments)
    deltas = struct.unpack_from(f">{segments}h", table, 16 + 4 * segments)
    range_at = 16 + 6 * segments
    offsets = struct.unpack_from(f">{segments}H", table, range_at)
    ranges: list[tuple[int, int]] = []
    for i, (first, last) in enumerate(zip(starts, ends, strict=True)):
        if first == 0xFFFF:
            continue
        if offsets[i] == 0:
            ranges.append((first, last))
            continue
        for code in range(first, last + 1):  # glyph ids from glyphIdArray: 0 means none
            at = range_at + 2 * i + offsets[i] + 2 * (code - first)
            glyph = struct.unpack_from(">H", table, at)[0] if at + 2 <= len(table) else 0
            if glyph and (glyph + deltas[i]) % 0x10000:
                ranges.append((code, code))
    return ranges


_default: FontLibrary | None = None
_default_lock = threading.Lock()


def default_library() -> FontLibrary:
    """The fonts of this machine, in the usual font directories."""
    global _default  # noqa: PLW0603 - one library per process, created on first use
    with _default_lock:
        if _default is None:
            _default = FontLibrary()
        return _default


def font_report() -> list[FontChoice]:
    """One entry per script we raster: the font used, or None and the package to install."""
    return default_library().report()


def preload_fonts() -> None:
    """Find the fonts now (blocking: call it in a thread) rather than at the first ticket."""
    default_library().faces()
