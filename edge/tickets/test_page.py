"""A printer's test page: its settings, accents, styles and a ruler a technician can check."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from drivers.escpos import CODEPAGES, Block, Cut, Feed, Rule, Text, normalize_encoding
from drivers.escpos.codepages import UnsupportedEncodingError

from .i18n import TEST_PAGE_LABELS, Locale

# Every accented letter of French, in both cases, and the euro sign.
ACCENTS_LOWER = "àâçéèêëîïôœùûüÿ"
ACCENTS_UPPER = "ÀÂÇÉÈÊËÎÏÔŒÙÛÜŸ"

# Font A columns of the usual paper widths.
_PAPER_MM = {32: 58, 42: 80, 48: 80}


def printer_test_page(
    *,
    printer: str,
    uri: str,
    width: int,
    encoding: str,
    locale: Locale = "en",
    timezone: str = "UTC",
    store_name: str = "",
    now: datetime | None = None,
) -> list[Block]:
    """The page `edge printers test` and `print_test` print; the time is the store's."""
    words = TEST_PAGE_LABELS[locale]
    when = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    columns = words.width.format(columns=width)
    if width in _PAPER_MM:
        columns += f" ({_PAPER_MM[width]} mm)"
    return [
        Text("TEST", bold=True, double_height=True, double_width=True, align="center"),
        Text(words.title, bold=True, align="center"),
        Text(store_name or "store-edge", align="center"),
        Rule(),
        Text(f"{words.printer}: {printer}", hanging_indent=2),
        Text(f"{words.uri}: {uri}", hanging_indent=2),
        Text(columns),
        Text(f"{words.encoding}: {_code_page(encoding)}"),
        Rule(),
        Text(ACCENTS_LOWER),
        Text(ACCENTS_UPPER),
        Text(words.accents),
        Rule(),
        Text(ruler(width)),
        Rule(),
        Text(words.normal),
        Text(words.bold, bold=True),
        Text(words.double_height, double_height=True),
        Text(words.double_width, double_width=True),
        Text(words.inverse, inverse=True),
        Text(words.underline, underline=True),
        Rule(),
        Text(f"{words.printed_at} {when:%Y-%m-%d %H:%M:%S}", align="center"),
        Text(timezone, align="center"),
        Feed(2),
        Cut(),
    ]


def ruler(width: int) -> str:
    """Digits 1234567890… exactly `width` long, to see where the line ends."""
    return ("1234567890" * (width // 10 + 1))[:width]


def _code_page(encoding: str) -> str:
    """ "cp1252 (ESC t 16)"; an encoding we cannot announce is shown as given."""
    try:
        name = normalize_encoding(encoding)
    except UnsupportedEncodingError:
        return encoding
    return f"{name} (ESC t {CODEPAGES[name]})"
