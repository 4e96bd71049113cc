"""ESC/POS real-time status (`DLE EOT n`): the requests and the parsing of their answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

STATUS_PRINTER = b"\x10\x04\x01"
STATUS_OFFLINE_CAUSE = b"\x10\x04\x02"
STATUS_ERROR_CAUSE = b"\x10\x04\x03"
STATUS_PAPER = b"\x10\x04\x04"

Paper = Literal["ok", "near_end", "out"]
Fault = Literal["offline", "paper_out", "cover_open", "error"]

# Every DLE EOT answer has bit 0 = 0, bit 1 = 1, bit 4 = 1 and bit 7 = 0.
_FIXED_MASK = 0b1001_0011
_FIXED_BITS = 0b0001_0010


class StatusByteError(ValueError):
    """A status answer whose fixed bits are wrong: not a DLE EOT answer, or a garbled one."""

    def __init__(self, value: int | bytes) -> None:
        super().__init__(f"not a DLE EOT status byte: {value!r}")
        self.value = value


def _checked(value: int | bytes) -> int:
    if isinstance(value, bytes):
        if len(value) != 1:
            raise StatusByteError(value)
        byte = value[0]
    else:
        byte = value
    if not 0 <= byte <= 0xFF or byte & _FIXED_MASK != _FIXED_BITS:
        raise StatusByteError(value)
    return byte


def parse_printer(value: int | bytes) -> tuple[bool, bool]:
    """The answer to DLE EOT 1: (offline, drawer kick-out connector pin 3 high)."""
    byte = _checked(value)
    return bool(byte & 0x08), bool(byte & 0x04)


def parse_offline_cause(value: int | bytes) -> tuple[bool, bool, bool]:
    """The answer to DLE EOT 2: (cover open, stopped by paper end, error)."""
    byte = _checked(value)
    return bool(byte & 0x04), bool(byte & 0x20), bool(byte & 0x40)


def parse_paper(value: int | bytes) -> Paper:
    """The answer to DLE EOT 4: the roll paper sensors."""
    byte = _checked(value)
    if byte & 0x60:
        return "out"
    if byte & 0x0C:
        return "near_end"
    return "ok"


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What a printer reports about itself; `drawer_open` is None when unknown.

    Drawers differ in which level of the sensor pin means open, hence `drawer_open_high`.
    """

    online: bool
    paper: Paper
    cover_open: bool
    error: bool
    drawer_open: bool | None = None

    @classmethod
    def from_bytes(
        cls, printer: int, offline_cause: int, paper: int, *, drawer_open_high: bool | None = None
    ) -> PrinterStatus:
        """Combine the answers to DLE EOT 1, 2, 4; `drawer_open_high`: pin 3 high means open."""
        offline, drawer_high = parse_printer(printer)
        cover_open, paper_end_stop, error = parse_offline_cause(offline_cause)
        paper_state: Paper = "out" if paper_end_stop else parse_paper(paper)
        return cls(
            online=not offline and not cover_open and paper_state != "out" and not error,
            paper=paper_state,
            cover_open=cover_open,
            error=error,
            drawer_open=None if drawer_open_high is None else drawer_high == drawer_open_high,
        )

    @property
    def fault(self) -> Fault | None:
        """Why no job may be sent now (the most specific reason), or None."""
        if self.cover_open:
            return "cover_open"
        if self.paper == "out":
            return "paper_out"
        if self.error:
            return "error"
        if not self.online:
            return "offline"
        return None
