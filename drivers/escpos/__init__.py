"""ESC/POS: a printer-independent ticket document, its encoding to bytes, and printer status."""

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
    "Paper",
    "PrinterStatus",
    "Rule",
    "StatusByteError",
    "Text",
    "UnsupportedEncodingError",
    "drawer_open_from_status",
    "encode",
    "encode_report",
    "kick_command",
    "normalize_encoding",
    "open_drawer",
    "parse_offline_cause",
    "parse_paper",
    "parse_printer",
    "realtime_kick_command",
    "select_codepage",
    "transliterate",
    "transliterate_report",
]
