"""serial:// over a real pseudo-terminal: the test holds the master side and plays the printer.

A pty has no modem lines: the kernel never holds its output for CTS, so RTS/CTS flow
control can only be checked as a port setting here, not as behaviour. XON/XOFF is done by
the kernel's line discipline, the same on a pty as on a UART, so it is exercised for real.
"""

import asyncio
import contextlib
import errno
import logging
import os
import sys
import termios
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.escpos.status import STATUS_OFFLINE_CAUSE, STATUS_PAPER, STATUS_PRINTER
from drivers.realtime import NoStatusAnswer, PrinterStatus, query_status
from drivers.transports import open_transport, transport_for
from drivers.transports import serial as serial_module
from drivers.transports.device import device_busy
from drivers.transports.serial import (
    SerialSettings,
    SerialTransport,
    parse_serial_uri,
)

DEADLINE = 10.0
SHORT = 0.3  # a write deadline the tests outlast on purpose
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
        "serial:///dev/tty%00S0",  # a NUL no system call takes
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


async def printer_says_stop(pty: Pty, transport: SerialTransport) -> None:
    """XOFF from the printer, handled by the kernel: our writes wait until XON."""
    os.write(pty.master, XOFF + HEALTHY_BYTE)
    # The kernel consumes the XOFF; the byte behind it shows that it has been handled.
    assert await transport.read(1, DEADLINE) == HEALTHY_BYTE


async def test_xoff_from_the_printer_holds_our_writes(pty: Pty) -> None:
    # XON/XOFF is done by the kernel's line discipline, on a pty as on a UART: real behaviour.
    uri = pty.uri("baudrate=19200&flow=xonxoff")
    ticket = b"\x1b@held\n"

    async with open_transport(uri, write_timeout=0.2) as stopped:
        assert isinstance(stopped, SerialTransport)
        await printer_says_stop(pty, stopped)
        with pytest.raises(WriteTimeoutError) as caught:
            await stopped.write(ticket)
        assert caught.value.sent == 0

    async with open_transport(uri, write_timeout=DEADLINE) as held:
        assert isinstance(held, SerialTransport)
        await printer_says_stop(pty, held)
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


async def read_master_slowly(pty: Pty, n: int, pace: float) -> bytes:
    """A slow printer: takes a few KB, then prints for `pace` seconds, until n bytes came."""
    got = bytearray()
    async with asyncio.timeout(DEADLINE):
        while len(got) < n:
            await readable(pty.master)
            with contextlib.suppress(BlockingIOError):
                got += os.read(pty.master, 4096)
            await asyncio.sleep(pace)  # the printing itself, not a wait for something to happen
    return bytes(got)


async def test_a_slow_printer_takes_a_ticket_longer_than_the_deadline(pty: Pty) -> None:
    # The deadline is on progress: at 9600 baud a 32 KiB batch takes 34 s, which a
    # whole-write deadline of 10 s would fail on every retry.
    ticket = bytes(range(256)) * 1024
    loop = asyncio.get_running_loop()
    async with open_transport(pty.uri(), write_timeout=SHORT) as transport:
        started = loop.time()
        received, _ = await asyncio.gather(
            read_master_slowly(pty, len(ticket), pace=0.015), transport.write(ticket)
        )
        assert loop.time() - started > SHORT
        assert received == ticket
        assert transport.is_open


@pytest.mark.parametrize(
    ("query", "speed"),
    [
        ("", 960.0),  # 9600 baud, 8N1: ten bits a byte
        ("baudrate=19200&bytesize=7&parity=even&stopbits=2", 19200 / 11),
        ("baudrate=38400&stopbits=1.5", 38400 / 10.5),
    ],
)
def test_speed_is_the_baud_rate_over_the_bits_a_byte_takes(query: str, speed: float) -> None:
    transport = transport_for(f"serial:///dev/ttyS0?{query}")
    assert transport.bytes_per_second == pytest.approx(speed)


@pytest.mark.parametrize("reopen", [False, True], ids=["same-port", "reopened"])
async def test_a_late_status_answer_is_not_taken_for_the_next_one(pty: Pty, reopen: bool) -> None:
    first = transport_for(pty.uri(), write_timeout=DEADLINE)
    await first.open()
    second = first
    printer: asyncio.Task[None] | None = None
    try:
        with pytest.raises(NoStatusAnswer):
            await query_status(first, timeout=0.05)  # the printer is busy: no answer in time
        assert await read_master(pty, 3) == STATUS_PRINTER
        if reopen:
            # The worker reconnects; the line keeps its byte stream, whatever the URI says.
            await first.close()
            second = transport_for(pty.uri("baudrate=9600"), write_timeout=DEADLINE)
            await second.open()
        assert second.unanswered == 1

        requests: list[int] = []
        answers = {1: HEALTHY, 2: HEALTHY, 4: HEALTHY}
        printer = asyncio.create_task(play_printer(pty, answers, requests))
        asking = asyncio.create_task(query_status(second, timeout=DEADLINE))
        await asyncio.sleep(0)  # one loop step: the query runs until it waits for the printer
        os.write(pty.master, bytes([HEALTHY | 0x08]))  # "offline": the late answer comes now

        async with asyncio.timeout(DEADLINE):
            status = await asking
        assert status == PrinterStatus(online=True, paper="ok", cover_open=False, error=False)
        assert requests == [1, 2, 4]
        assert second.unanswered == 0
    finally:
        if printer is not None:
            printer.cancel()
        await first.close()
        await second.close()


async def test_a_device_vanishing_mid_open_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = os.openpty()
    real_tcflush = termios.tcflush

    def pulled_then_flush(fd: int, queue: int) -> None:
        # pyserial flushes input last in open(): the adapter is pulled just before.
        os.close(master)
        real_tcflush(fd, queue)  # EIO from the hung-up tty, raised as termios.error

    monkeypatch.setattr(termios, "tcflush", pulled_then_flush)
    try:
        with pytest.raises(DeviceUnavailableError, match="went away while opening"):
            await transport_for(f"serial://{os.ttyname(slave)}").open()
    finally:
        os.close(slave)


def test_a_termios_error_not_a_tty_is_unsupported() -> None:
    err = termios.error(errno.ENOTTY, "Inappropriate ioctl for device")
    assert isinstance(serial_module._termios_error("/dev/x", err), UnsupportedTransportError)


async def test_an_abort_closes_the_port_off_the_event_loop(
    pty: Pty, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A USB-serial adapter's close may wait up to 30 s for data in flight: not on the loop.
    loop = asyncio.get_running_loop()
    closing = asyncio.Event()
    release = threading.Event()
    closed_in: list[threading.Thread] = []
    real_close = serial_module._close_port

    def slow_close(port: Any) -> None:
        closed_in.append(threading.current_thread())
        loop.call_soon_threadsafe(closing.set)
        release.wait(DEADLINE)  # the loop thread itself would be frozen here
        real_close(port)

    monkeypatch.setattr(serial_module, "_close_port", slow_close)
    transport = transport_for(pty.uri("baudrate=19200&flow=xonxoff"), write_timeout=0.1)
    assert isinstance(transport, SerialTransport)
    await transport.open()
    await printer_says_stop(pty, transport)
    writing = asyncio.create_task(transport.write(b"\x1b@held\n"))
    async with asyncio.timeout(DEADLINE):
        await closing.wait()  # the loop runs on while the port closes
    release.set()
    with pytest.raises(WriteTimeoutError):
        async with asyncio.timeout(DEADLINE):
            await writing
    assert closed_in
    assert closed_in[0] is not threading.current_thread()
    assert not transport.is_open


async def test_an_open_that_hangs_keeps_its_device_busy(
    pty: Pty, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    # The loop's shared executor, which DNS lookups use too: one worker, so taking it shows.
    executor = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(executor)
    release = threading.Event()
    opens: list[str] = []
    closed_late = asyncio.Event()
    real_open, real_close = serial_module._open_port, serial_module._close_port

    def hanging_open(pyserial: Any, settings: SerialSettings) -> Any:
        opens.append(settings.path)
        release.wait(DEADLINE)  # the driver hangs (an adapter pulled mid-open)
        return real_open(pyserial, settings)

    def close(port: Any) -> None:
        real_close(port)
        closed_late.set()  # on the loop: a late open is closed by its done-callback

    monkeypatch.setattr(serial_module, "_open_port", hanging_open)
    monkeypatch.setattr(serial_module, "_close_port", close)
    transport = transport_for(pty.uri(), connect_timeout=0.05)
    try:
        with pytest.raises(DeviceUnavailableError, match="did not open"):
            await transport.open()
        with pytest.raises(DeviceUnavailableError, match="still opening"):
            await transport.open()
        assert opens == [pty.path]  # no second thread stuck beside the first
        assert device_busy(pty.path)
        # Well before the hung open gives up (DEADLINE): its thread is not the executor's.
        async with asyncio.timeout(DEADLINE / 2):
            assert await loop.run_in_executor(None, int, "42") == 42
    finally:
        release.set()
    async with asyncio.timeout(DEADLINE):
        await closed_late.wait()  # the late open ended, and its port was closed
    assert not device_busy(pty.path)
    await transport.open()
    assert transport.is_open
    await transport.close()


class OutputQueue:
    """Stands for the kernel's output queue (TIOCOUTQ), which a pty does not have."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.polled = asyncio.Event()
        self.drain_per_poll = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Answer SerialTransport's reads of the queue, through its seam."""

        def output_pending(transport: SerialTransport) -> int:
            self.polled.set()
            pending = self.pending
            self.pending = max(self.pending - self.drain_per_poll, 0)
            return pending

        monkeypatch.setattr(SerialTransport, "_output_pending", output_pending)


async def test_a_write_returns_once_the_line_sent_it(
    pty: Pty, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With CTS or XOFF holding a UART, a small ticket fits in the kernel's queue: "written"
    # but not sent, and a close would flush it away. Only real hardware shows that queue.
    queue = OutputQueue(pending=5)
    queue.install(monkeypatch)
    ticket = b"\x1b@ok\n"
    async with open_transport(pty.uri(), write_timeout=DEADLINE) as transport:
        writing = asyncio.create_task(transport.write(ticket))
        assert await read_master(pty, len(ticket)) == ticket  # handed over
        async with asyncio.timeout(DEADLINE):
            for _ in range(2):
                queue.polled.clear()
                await queue.polled.wait()
        assert not writing.done()  # still queued: not on paper yet
        queue.pending = 0
        async with asyncio.timeout(DEADLINE):
            await writing
        assert transport.is_open


async def test_a_queue_that_keeps_shrinking_is_waited_for(
    pty: Pty, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = OutputQueue(pending=30)
    queue.drain_per_poll = 1  # one byte at a time, each poll: slow but moving
    queue.install(monkeypatch)
    loop = asyncio.get_running_loop()
    async with open_transport(pty.uri(), write_timeout=0.05) as transport:
        started = loop.time()
        received, _ = await asyncio.gather(read_master(pty, 2), transport.write(b"ok"))
        assert loop.time() - started > 0.05
        assert received == b"ok"
        assert transport.is_open


async def test_a_queue_that_never_drains_times_out_with_all_counted_sent(
    pty: Pty, monkeypatch: pytest.MonkeyPatch
) -> None:
    OutputQueue(pending=5).install(monkeypatch)
    ticket = b"\x1b@held\n"
    transport = transport_for(pty.uri(), write_timeout=0.1)
    await transport.open()
    with pytest.raises(WriteTimeoutError, match="still queued") as caught:
        async with asyncio.timeout(DEADLINE):
            await transport.write(ticket)
    assert caught.value.sent == len(ticket)  # all handed over: any of it may have printed
    assert not transport.is_open
