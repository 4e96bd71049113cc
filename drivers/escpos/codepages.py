"""The code pages we drive printers with (`ESC t n`) and transliteration of what they lack."""

from __future__ import annotations

import codecs
import functools
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

DEFAULT_ENCODING = "cp1252"

CODEPAGES: Mapping[str, int] = MappingProxyType(
    {
        "cp437": 0,  # PC437 USA, standard Europe: the power-on default of most printers
        "cp850": 2,  # PC850 Multilingual
        "cp1252": 16,  # WPC1252: French including œ and €
        "cp866": 17,  # PC866 Cyrillic #2
        "cp852": 18,  # PC852 Latin 2
        "cp858": 19,  # PC858 = PC850 with €, still without œ
    }
)

_ALIASES = {
    "wpc1252": "cp1252",
    "pc437": "cp437",
    "pc850": "cp850",
    "pc852": "cp852",
    "pc858": "cp858",
    "pc866": "cp866",
}

# Tried, in this order, only for characters the code page cannot encode.
# fmt: off
_TABLE: Mapping[str, str] = MappingProxyType(
    {
        "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS",
        "€": "EUR", "£": "GBP", "¥": "JPY", "¢": "c",
        "’": "'", "‘": "'", "‚": "'", "‛": "'", "′": "'", "‹": "'", "›": "'",
        "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"',
        "–": "-", "—": "-", "―": "-", "‐": "-", "‑": "-", "−": "-", "⁃": "-",
        "…": "...", "•": "*", "·": ".", "∙": "*", "●": "*", "◦": "o", "⁄": "/",
        "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ", "\u2002": " ",
        "\u2003": " ", "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2008": " ", "\u200a": " ",
        "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D",
        "þ": "th", "Þ": "Th", "ı": "i", "ĸ": "k", "ŋ": "ng", "Ŋ": "NG", "ÿ": "y", "Ÿ": "Y",
        "©": "(c)", "®": "(R)", "°": "o", "×": "x", "÷": "/", "±": "+/-", "¡": "!", "¿": "?",
        "§": "S", "¶": "P", "µ": "u",
    }
)
# fmt: on


class UnsupportedEncodingError(ValueError):
    """The encoding is not one of the code pages we can announce with `ESC t`."""


@functools.lru_cache(maxsize=64)
def normalize_encoding(encoding: str) -> str:
    """The CODEPAGES key of a supported encoding name, e.g. "windows-1252" -> "cp1252"."""
    name = _ALIASES.get(encoding.strip().lower())
    if name is None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            name = ""
    if name not in CODEPAGES:
        supported = ", ".join(CODEPAGES)
        raise UnsupportedEncodingError(f"unsupported printer encoding {encoding!r} ({supported})")
    return name


def select_codepage(encoding: str) -> bytes:
    """The `ESC t n` command that selects this encoding's code page."""
    return b"\x1bt" + bytes([CODEPAGES[normalize_encoding(encoding)]])


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _invisible(char: str) -> bool:
    # Joiners, variation selectors, soft hyphens, emoji skin tones: hints that print nothing.
    return (
        unicodedata.category(char) == "Cf"
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
        or unicodedata.combining(char) != 0  # a stray accent left over after NFC
    )


@functools.lru_cache(maxsize=8192)
def _spell(char: str, encoding: str) -> str | None:
    """An encodable spelling of one character, or None."""
    if char == "\n":
        return char
    if char == "\t":
        return " "
    if unicodedata.category(char) == "Cc":
        return None  # never pass control bytes through: they would be printer commands
    if _invisible(char):
        return ""
    if _encodable(char, encoding):
        return char
    spelled = _TABLE.get(char)
    if spelled is not None and _encodable(spelled, encoding):
        return spelled
    decomposed = "".join(
        c for c in unicodedata.normalize("NFKD", char) if unicodedata.combining(c) == 0
    )
    if decomposed and decomposed != char:
        parts = [_spell(c, encoding) for c in decomposed]
        if all(p is not None for p in parts):
            return "".join(p for p in parts if p is not None)
    return None


def _plain(text: str, encoding: str) -> bool:
    """Text that needs no change: printable, already composed, and encodable as it is."""
    if not text.replace("\n", "").isprintable():
        return False  # controls, separators, format characters: the careful path
    if not text.isascii() and unicodedata.normalize("NFC", text) != text:
        return False
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def transliterate_report(text: str, encoding: str) -> tuple[str, list[str]]:
    """`text` made encodable in `encoding`, and the distinct characters that became "?"."""
    encoding = normalize_encoding(encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _plain(text, encoding):
        return text, []
    out: list[str] = []
    unprintable: dict[str, None] = {}
    for char in unicodedata.normalize("NFC", text):
        spelled = _spell(char, encoding)
        if spelled is None:
            unprintable[char] = None
            spelled = "?"
        out.append(spelled)
    return "".join(out), list(unprintable)


def transliterate(text: str, encoding: str) -> str:
    """`text` with every character `encoding` lacks replaced by its closest encodable spelling."""
    return transliterate_report(text, encoding)[0]
