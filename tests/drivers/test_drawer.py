"""Cash drawer: kick commands, the drawer sensor bit, and kicks through the printer emulator."""

import pytest

from drivers.emulator import PrinterEmulator
from drivers.escpos import (
    STATUS_PRINTER,
    StatusByteError,
    drawer_open_from_status,
    kick_command,
    open_drawer,
    realtime_kick_command,
)
from drivers.transports import open_transport

DEADLINE = 10.0


def test_kick_command_bytes() -> None:
    assert kick_command() == b"\x1bp\x00\x32\x32"  # pin 2, 100 ms on, 100 ms off
    assert kick_command(5) == b"\x1bp\x01\x32\x32"
    assert kick_command(2, on_ms=50, off_ms=500) == b"\x1bp\x00\x19\xfa"
    assert kick_command(5, on_ms=510, off_ms=0) == b"\x1bp\x01\xff\x00"
    assert kick_command(2, on_ms=3, off_ms=1) == b"\x1bp\x00\x02\x01"  # rounded up


@pytest.mark.parametrize(
    ("pin", "on_ms", "off_ms", "error"),
    [
        (1, 100, 100, "pin must be 2 or 5"),
        (3, 100, 100, "pin must be 2 or 5"),
        (2, 0, 100, "on time must be 2..510 ms"),
        (2, 511, 100, "on time must be 2..510 ms"),
        (2, 100, 511, "off time must be 0..510 ms"),
        (2, 100, -1, "off time must be 0..510 ms"),
    ],
)
def test_kick_command_rejects_what_the_printer_cannot_do(
    pin: int, on_ms: int, off_ms: int, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        kick_command(pin, on_ms, off_ms)


def test_realtime_kick_command_bytes() -> None:
    assert realtime_kick_command() == b"\x10\x14\x01\x00\x01"  # pin 2, 100 ms
    assert realtime_kick_command(5, 800) == b"\x10\x14\x01\x01\x08"
    assert realtime_kick_command(2, 150) == b"\x10\x14\x01\x00\x02"  # rounded up


@pytest.mark.parametrize(
    ("pin", "pulse_ms", "error"),
    [
        (4, 100, "pin must be 2 or 5"),
        (2, 0, "pulse must be 100..800 ms"),
        (2, 801, "pulse must be 100..800 ms"),
        (5, -100, "pulse must be 100..800 ms"),
    ],
)
def test_realtime_kick_command_rejects_what_the_printer_cannot_do(
    pin: int, pulse_ms: int, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        realtime_kick_command(pin, pulse_ms)


def test_drawer_sensor_bit() -> None:
    closed, pin3_high = 0x12, 0x16  # DLE EOT 1 answers: bit 2 is the sensor (pin 3) level
    assert drawer_open_from_status(pin3_high, open_when_high=True)
    assert not drawer_open_from_status(closed, open_when_high=True)
    assert drawer_open_from_status(closed, open_when_high=False)
    assert not drawer_open_from_status(pin3_high, open_when_high=False)
    assert drawer_open_from_status(b"\x1e", open_when_high=True)  # offline too: still read
    with pytest.raises(StatusByteError):
        drawer_open_from_status(0x04, open_when_high=True)


async def test_open_drawer_sends_esc_p() -> None:
    async with PrinterEmulator(name="till") as emu:
        async with open_transport(emu.uri) as transport:
            await open_drawer(transport, 5)
        jobs = await emu.wait_for_jobs(1, include_incomplete=True, timeout=DEADLINE)
    assert jobs[0].raw == kick_command(5)
    assert jobs[0].decoded.drawer_kicks == [(1, 50, 50)]
    assert emu.drawer_pulses == []


async def test_realtime_kick_works_while_the_printer_is_offline() -> None:
    async with PrinterEmulator(name="till") as emu:
        emu.set_fault(paper_out=True)
        async with open_transport(emu.uri) as transport:
            await open_drawer(transport, realtime=True)
            await emu.wait_until(lambda: bool(emu.drawer_pulses), timeout=DEADLINE, what="pulse")
    assert emu.drawer_pulses == [(0, 1)]


async def test_drawer_state_read_from_the_printer() -> None:
    async with PrinterEmulator(name="till") as emu, open_transport(emu.uri) as transport:
        for is_open in (False, True):
            emu.set_fault(drawer_open=is_open)
            await transport.write(STATUS_PRINTER)
            answer = await transport.read(1, DEADLINE)
            assert drawer_open_from_status(answer, open_when_high=True) is is_open
