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
    "encode",
    "encode_report",
    "normalize_encoding",
    "parse_offline_cause",
    "parse_paper",
    "parse_printer",
    "select_codepage",
    "transliterate",
    "transliterate_report",
]
