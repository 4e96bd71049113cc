"""serial:// over a real pseudo-terminal: the test holds the master side and plays the printer.

A pty has no modem lines: the kernel never holds its output for CTS, so RTS/CTS flow
control can only be checked as a port setting here, not as behaviour. XON/XOFF is done by
the kernel's line discipline, the same on a pty as on a UART, so it is exercised for real.
"""

import asyncio
import contextlib
import logging
import os
import sys
import termios
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.escpos.status import STATUS_OFFLINE_CAUSE, STATUS_PAPER, STATUS_PRINTER
from drivers.realtime import PrinterStatus, query_status
from drivers.transports import open_transport, transport_for
from drivers.transports.serial import SerialSettings, SerialTransport, parse_serial_uri

DEADLINE = 10.0
HEALTHY = 0x12  # a DLE EOT answer with only its fixed bits set
HEALTHY_BYTE = bytes([HEALTHY])
XON, XOFF = b"\x11", b"\x13"


@dataclass
class Pty:
    """A pseudo-terminal: the printer's end (master) and the device path our transport opens."""

    master: int
    slave: int
    path: str

    def uri(self, query: str = "baudrate=19200") -> str:
        return f"serial://{self.path}?{query}"


@pytest.fixture
def pty() -> Iterator[Pty]:
    master, slave = os.openpty()
    os.set_blocking(master, False)
    try:
        yield Pty(master, slave, os.ttyname(slave))
    finally:
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
async def port(pty: Pty) -> AsyncIterator[SerialTransport]:
    async with open_transport(pty.uri(), write_timeout=DEADLINE) as transport:
        assert isinstance(transport, SerialTransport)
        yield transport


async def readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def read_master(pty: Pty, n: int) -> bytes:
    """Read exactly n bytes from the printer's end."""
    got = bytearray()
    async with asyncio.timeout(DEADLINE):
        while len(got) < n:
            await readable(pty.master)
            with contextlib.suppress(BlockingIOError):
                got += os.read(pty.master, n - len(got))
    return bytes(got)


async def play_printer(pty: Pty, answers: dict[int, int], requests: list[int]) -> None:
    """Answer every DLE EOT n read on the master side with answers[n], forever."""
    pending = b""
    while True:
        await readable(pty.master)
        with contextlib.suppress(BlockingIOError):
            pending += os.read(pty.master, 4096)
        while (i := pending.find(b"\x10\x04")) >= 0 and len(pending) >= i + 3:
            n = pending[i + 2]
            requests.append(n)
            os.write(pty.master, bytes([answers[n]]))
            pending = pending[i + 3 :]


def test_uri_parsing() -> None:
    assert parse_serial_uri("serial:///dev/ttyUSB0") == SerialSettings("/dev/ttyUSB0")
    settings = parse_serial_uri(
        "serial:///dev/ttyS1?baudrate=38400&flow=XONXOFF&bytesize=7&parity=even&stopbits=2"
    )
    assert settings == SerialSettings("/dev/ttyS1", 38400, "xonxoff", 7, "E", 2.0)
    assert parse_serial_uri("serial:///dev/tty%20odd?parity=O").path == "/dev/tty odd"


@pytest.mark.parametrize(
    "uri",
    [
        "serial://dev/ttyUSB0",  # two slashes: "dev" is read as a host
        "serial://",
        "serial:///dev/ttyUSB0?baudrate=fast",
        "serial:///dev/ttyUSB0?baudrate=0",
        "serial:///dev/ttyUSB0?flow=dtrdsr",
        "serial:///dev/ttyUSB0?bytesize=9",
        "serial:///dev/ttyUSB0?parity=x",
        "serial:///dev/ttyUSB0?stopbits=3",
        "serial:///dev/ttyUSB0?speed=9600",
        "serial:///dev/ttyUSB0?baudrate=9600&baudrate=19200",
        "serial:///dev/ttyUSB0?baudrate",
    ],
)
def test_bad_uri_is_unsupported(uri: str) -> None:
    with pytest.raises(UnsupportedTransportError):
        transport_for(uri)


def test_registered_for_its_scheme(pty: Pty) -> None:
    transport = transport_for(pty.uri())
    assert isinstance(transport, SerialTransport)
    assert transport.bidirectional
    assert not transport.is_open


async def test_long_ticket_arrives_intact_and_in_order(pty: Pty, port: SerialTransport) -> None:
    # Every byte value, so a port left in cooked mode (CR/LF mapping, echo, XON/XOFF
    # swallowed) would show; far more than the pty buffers, so writes wait for the reader.
    ticket = bytes(range(256)) * 800
    assert len(ticket) >= 64 * 1024

    received, _ = await asyncio.gather(read_master(pty, len(ticket)), port.write(ticket))

    assert received == ticket
    assert port.is_open


async def test_status_is_answered_by_the_printer(pty: Pty, port: SerialTransport) -> None:
    requests: list[int] = []
    answers = {1: HEALTHY, 2: HEALTHY, 4: HEALTHY}
    printer = asyncio.create_task(play_printer(pty, answers, requests))
    try:
        status = await query_status(port, timeout=DEADLINE)
        assert status == PrinterStatus(online=True, paper="ok", cover_open=False, error=False)

        answers.update({1: HEALTHY | 0x08, 2: HEALTHY | 0x20, 4: HEALTHY | 0x60})
        status = await query_status(port, timeout=DEADLINE)
        assert not status.online
        assert status.fault == "paper_out"
    finally:
        printer.cancel()
    assert requests == [b[2] for b in (STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER)] * 2


async def test_read_returns_nothing_when_the_printer_is_silent(port: SerialTransport) -> None:
    assert await port.read(1, 0.0) == b""
    assert await port.read(1, 0.05) == b""
    assert port.is_open


async def test_write_times_out_when_the_printer_stops_reading(pty: Pty) -> None:
    ticket = b"x" * (1024 * 1024)
    transport = transport_for(pty.uri(), write_timeout=0.3)
    await transport.open()
    try:
        with pytest.raises(WriteTimeoutError) as caught:
            async with asyncio.timeout(DEADLINE):
                await transport.write(ticket)
        assert 0 < caught.value.sent < len(ticket)
        assert not transport.is_open
        with pytest.raises(ConnectionLostError):
            await transport.write(b"more")
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("flow", "iflag", "cflag"),
    [
        ("rtscts", 0, termios.CRTSCTS),
        ("xonxoff", termios.IXON | termios.IXOFF, 0),
        ("none", 0, 0),
    ],
)
async def test_flow_control_is_set_on_the_port(
    pty: Pty, flow: str, iflag: int, cflag: int, caplog: pytest.LogCaptureFixture
) -> None:
    # On Linux a pty keeps CRTSCTS in its settings (it has no CTS line to act on it), so the
    # port opens without the "printing without it" warning; data still flows.
    caplog.set_level(logging.WARNING, logger="drivers.transports.serial")
    async with open_transport(pty.uri(f"baudrate=19200&flow={flow}")) as transport:
        attrs = termios.tcgetattr(pty.slave)  # the same tty, seen through the test's own fd
        assert attrs[0] & (termios.IXON | termios.IXOFF) == iflag
        assert attrs[2] & termios.CRTSCTS == cflag
        assert attrs[4] == attrs[5] == termios.B19200
        received, _ = await asyncio.gather(read_master(pty, 5), transport.write(b"\x1b@ok\n"))
    assert received == b"\x1b@ok\n"
    assert not caplog.records


async def test_xoff_from_the_printer_holds_our_writes(pty: Pty) -> None:
    # XON/XOFF is done by the kernel's line discipline, on a pty as on a UART: real behaviour.
    uri = pty.uri("baudrate=19200&flow=xonxoff")
    ticket = b"\x1b@held\n"

    async def printer_says_stop(transport: SerialTransport) -> None:
        os.write(pty.master, XOFF + HEALTHY_BYTE)
        # The kernel consumes the XOFF; the byte behind it shows that it has been handled.
        assert await transport.read(1, DEADLINE) == HEALTHY_BYTE

    async with open_transport(uri, write_timeout=0.2) as stopped:
        assert isinstance(stopped, SerialTransport)
        await printer_says_stop(stopped)
        with pytest.raises(WriteTimeoutError) as caught:
            await stopped.write(ticket)
        assert caught.value.sent == 0

    async with open_transport(uri, write_timeout=DEADLINE) as held:
        assert isinstance(held, SerialTransport)
        await printer_says_stop(held)
        writing = asyncio.create_task(held.write(ticket))
        await asyncio.sleep(0)  # one loop step: the write runs until it has to wait
        assert not writing.done()  # a pty that is not stopped takes these bytes at once
        os.write(pty.master, XON)
        assert await read_master(pty, len(ticket)) == ticket
        await writing


async def test_port_is_locked_while_open(pty: Pty, port: SerialTransport) -> None:
    with pytest.raises(DeviceUnavailableError, match="in use"):
        await transport_for(pty.uri()).open()


async def test_missing_device_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(DeviceUnavailableError, match="does not exist"):
        await transport_for(f"serial://{tmp_path}/ttyUSB9").open()


async def test_not_a_serial_port_is_unsupported(tmp_path: Path) -> None:
    (tmp_path / "ticket.bin").write_bytes(b"")
    with pytest.raises(UnsupportedTransportError, match="not a serial device"):
        await transport_for(f"serial://{tmp_path}/ticket.bin").open()
    if os.path.exists("/dev/null"):
        with pytest.raises(UnsupportedTransportError, match="not a serial port"):
            await transport_for("serial:///dev/null").open()


async def test_unplugged_printer_loses_the_connection(pty: Pty, port: SerialTransport) -> None:
    os.close(pty.master)  # the printer's end goes away, as a USB adapter being pulled
    with pytest.raises(ConnectionLostError):
        await port.write(b"\x1b@hello\n")
    assert not port.is_open
    await port.close()
    await port.close()


async def test_hangup_is_seen_by_a_waiting_read(pty: Pty, port: SerialTransport) -> None:
    reading = asyncio.create_task(port.read(1, DEADLINE))
    await asyncio.sleep(0)  # one loop step: the read runs until it waits for data
    os.close(pty.master)
    with pytest.raises(ConnectionLostError):
        async with asyncio.timeout(DEADLINE):
            await reading


async def test_missing_pyserial_is_unsupported(pty: Pty, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "serial", None)
    with pytest.raises(UnsupportedTransportError, match="pyserial"):
        await transport_for(pty.uri()).open()
