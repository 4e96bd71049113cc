"""ESC/POS: a printer-independent ticket document, its encoding to bytes (lines no code page
holds drawn as images, with the fonts found on this machine), and printer status."""

from .codepages import (
    CODEPAGES,
    DEFAULT_ENCODING,
    UnsupportedEncodingError,
    normalize_encoding,
    select_codepage,
    transliterate,
    transliterate_report,
)
from .document import Align, Block, Columns, Cut, Feed, Rule, Text
from .drawer import (
    drawer_open_from_status,
    kick_command,
    open_drawer,
    realtime_kick_command,
)
from .encoder import encode, encode_report
from .fonts import FontChoice, FontLibrary, Script, font_report, preload_fonts
from .status import (
    STATUS_ERROR_CAUSE,
    STATUS_OFFLINE_CAUSE,
    STATUS_PAPER,
    STATUS_PRINTER,
    Fault,
    Paper,
    PrinterStatus,
    StatusByteError,
    parse_offline_cause,
    parse_paper,
    parse_printer,
)

__all__ = [
    "CODEPAGES",
    "DEFAULT_ENCODING",
    "STATUS_ERROR_CAUSE",
    "STATUS_OFFLINE_CAUSE",
    "STATUS_PAPER",
    "STATUS_PRINTER",
    "Align",
    "Block",
    "Columns",
    "Cut",
    "Fault",
    "Feed",
    "FontChoice",
    "FontLibrary",
    "Paper",
    "PrinterStatus",
    "Rule",
    "Script",
    "StatusByteError",
    "Text",
    "UnsupportedEncodingError",
    "drawer_open_from_status",
    "encode",
    "encode_report",
    "font_report",
    "kick_command",
    "normalize_encoding",
    "open_drawer",
    "parse_offline_cause",
    "parse_paper",
    "parse_printer",
    "preload_fonts",
    "realtime_kick_command",
    "select_codepage",
    "transliterate",
    "transliterate_report",
]
