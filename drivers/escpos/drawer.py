"""Cash drawer: the kick pulse on the printer's drawer port, and its sensor in DLE EOT 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .status import parse_printer

if TYPE_CHECKING:
    from drivers.transports.base import PrinterTransport

ESC, DLE, DC4 = 0x1B, 0x10, 0x14

# The drawer kick-out connector: pin 2 is the first drawer, pin 5 the second.
_PIN_SELECT = {2: 0, 5: 1}


def _pin(pin: int) -> int:
    try:
        return _PIN_SELECT[pin]
    except KeyError:
        raise ValueError(f"drawer pin must be 2 or 5, not {pin}") from None


def _units(ms: int, unit_ms: int, low: int, high: int, what: str) -> int:
    """Milliseconds in the command's units, rounded up so a pulse is never shorter."""
    units = -(-ms // unit_ms)
    if ms < 0 or not low <= units <= high:
        raise ValueError(f"{what} must be {low * unit_ms}..{high * unit_ms} ms, not {ms}")
    return units


def kick_command(pin: int = 2, on_ms: int = 100, off_ms: int = 100) -> bytes:
    """`ESC p m t1 t2`: pulse pin 2 (m=0) or 5 (m=1) on for t1 and off for t2 (2 ms units).

    Held behind earlier job data: an offline printer does not execute it until it is back.
    """
    on = _units(on_ms, 2, 1, 255, "on time")
    off = _units(off_ms, 2, 0, 255, "off time")
    return bytes([ESC, ord("p"), _pin(pin), on, off])


def realtime_kick_command(pin: int = 2, pulse_ms: int = 100) -> bytes:
    """`DLE DC4 1 m t`: pulse pin 2 (m=0) or 5 (m=1) for t x 100 ms (t = 1..8), even offline."""
    return bytes([DLE, DC4, 1, _pin(pin), _units(pulse_ms, 100, 1, 8, "pulse")])


async def open_drawer(transport: PrinterTransport, pin: int = 2, *, realtime: bool = False) -> None:
    """Kick the drawer wired to this printer; `realtime` works while the printer is offline."""
    command = realtime_kick_command(pin) if realtime else kick_command(pin)
    await transport.write(command)


def drawer_open_from_status(printer_status_byte: int | bytes, open_when_high: bool) -> bool:
    """Whether the drawer is open, from the answer to DLE EOT 1 (bit 2: sensor pin 3 high).

    Drawers differ in which sensor level means open, hence `open_when_high`; raises
    StatusByteError when the byte is not a DLE EOT answer.
    """
    _, pin3_high = parse_printer(printer_status_byte)
    return pin3_high == open_when_high
