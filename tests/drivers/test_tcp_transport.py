"""tcp:// over real loopback sockets: the printer emulator, or a bare socket playing the printer."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from drivers.emulator import PrinterEmulator
from drivers.errors import ConnectionLostError, UnsupportedTransportError, WriteTimeoutError
from drivers.realtime import NoStatusAnswer, PrinterStatus, query_status
from drivers.transports import transport_for
from drivers.transports.tcp import TcpTransport

DEADLINE = 10.0
SHORT = 0.3  # a write deadline the tests outlast on purpose
HEALTHY = PrinterStatus(online=True, paper="ok", cover_open=False, error=False)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A printer's listening socket with a small receive buffer: a stall shows after a few KB."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accepted sockets
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    with sock:
        yield sock


@pytest.fixture
async def emu() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as printer:
        yield printer


async def connect(
    listener: socket.socket, write_timeout: float
) -> tuple[TcpTransport, socket.socket]:
    """Our transport, opened, and the printer's end of its connection."""
    host, port = listener.getsockname()
    transport = transport_for(f"tcp://{host}:{port}", write_timeout=write_timeout)
    assert isinstance(transport, TcpTransport)
    async with asyncio.timeout(DEADLINE):
        await transport.open()
        printer, _ = await asyncio.get_running_loop().sock_accept(listener)
    return transport, printer


async def read_slowly(printer: socket.socket, n: int, pace: float) -> bytes:
    """A slow printer: takes a few KB, then prints for `pace` seconds, until n bytes came."""
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < n:
        chunk = await loop.sock_recv(printer, 8192)
        assert chunk, "connection closed early"
        got += chunk
        await asyncio.sleep(pace)  # the printing itself, not a wait for something to happen
    return bytes(got)


async def test_a_slow_printer_takes_a_ticket_longer_than_the_deadline(
    listener: socket.socket,
) -> None:
    # The deadline is on progress: a printer that keeps taking bytes never times out, even
    # when the whole ticket takes far longer than write_timeout (a big catering ticket).
    ticket = bytes(range(256)) * 1024
    transport, printer = await connect(listener, SHORT)
    loop = asyncio.get_running_loop()
    with printer:
        started = loop.time()
        async with asyncio.timeout(DEADLINE):
            received, _ = await asyncio.gather(
                read_slowly(printer, len(ticket), pace=0.02), transport.write(ticket)
            )
        assert loop.time() - started > SHORT
        assert received == ticket
        assert transport.is_open
        await transport.close()


async def test_a_stalled_printer_times_out_and_sent_counts_what_reaches_it(
    emu: PrinterEmulator,
) -> None:
    ticket = b"x" * (1024 * 1024)  # no cut: the printer keeps it as one incomplete job
    emu.stall()  # reads nothing: only what the kernels' buffers hold gets through
    transport = transport_for(emu.uri, write_timeout=SHORT)
    await transport.open()
    with pytest.raises(WriteTimeoutError, match="took no data") as caught:
        async with asyncio.timeout(DEADLINE):
            await transport.write(ticket)
    sent = caught.value.sent
    assert 0 < sent < len(ticket)
    assert not transport.is_open
    emu.resume()
    [job] = await emu.wait_for_jobs(1, include_incomplete=True)
    # Exactly what the kernel took still arrives after the abort (FIN, not RST); what
    # asyncio held is gone. Never more than `sent`: the worker decides reprints on it.
    assert job.raw == ticket[:sent]


async def test_a_printer_that_closed_its_end_is_not_open(listener: socket.socket) -> None:
    transport, printer = await connect(listener, DEADLINE)
    assert transport.is_open
    printer.close()  # FIN: the printer rebooted, or dropped an idle connection
    reader = transport._reader  # waiting for its end of stream is waiting for the FIN
    assert reader is not None
    async with asyncio.timeout(DEADLINE):
        assert await reader.read() == b""
    assert not transport.is_open  # so the worker reconnects rather than failing a job
    await transport.close()


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="Linux's TCP_USER_TIMEOUT")
async def test_a_connection_the_kernel_gave_up_on_is_lost_not_silence(
    listener: socket.socket,
) -> None:
    transport, printer = await connect(listener, DEADLINE)
    with printer:
        # The printer stops reading; the kernel gives up on its zero window after 100 ms
        # and fails the socket with ETIMEDOUT, which Python raises as a TimeoutError.
        writer = transport._writer
        assert writer is not None
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 100)
        writing = asyncio.create_task(transport.write(b"x" * (16 * 1024 * 1024)))
        async with asyncio.timeout(DEADLINE):
            with pytest.raises(ConnectionLostError, match="timed out"):
                await transport.read(1, DEADLINE)
            with pytest.raises(ConnectionLostError) as caught:
                await writing
        assert caught.value.sent > 0
        assert not transport.is_open


async def test_a_new_connection_owes_no_late_status_answer(emu: PrinterEmulator) -> None:
    emu.status_mode = "silent"
    transport = transport_for(emu.uri)
    await transport.open()
    with pytest.raises(NoStatusAnswer):
        await query_status(transport, timeout=0.05)
    assert transport.unanswered == 1  # its answer may still come on this connection
    await transport.close()
    emu.status_mode = "normal"
    await transport.open()
    # A fresh stream: nothing to wait for before asking (an answer owed would be awaited).
    assert transport.unanswered == 0
    assert await query_status(transport, timeout=DEADLINE) == HEALTHY
    await transport.close()


def test_speed_is_unknown() -> None:
    assert transport_for("tcp://127.0.0.1:9100").bytes_per_second is None


@pytest.mark.parametrize(
    "uri",
    [
        "tcp://a..b:9100",  # an empty label: the resolver's IDNA encoding fails
        "tcp://" + "x" * 64 + ".local",  # a label longer than 63 characters
        "tcp://printer:99999",
        "tcp://printer:port",
        "tcp://[::1",
    ],
)
async def test_a_host_or_port_no_resolver_takes_is_unsupported(uri: str) -> None:
    with pytest.raises(UnsupportedTransportError):
        await transport_for(uri, connect_timeout=DEADLINE).open()


async def test_wait_taken_ends_when_the_printer_acknowledged_every_byte(
    listener: socket.socket,
) -> None:
    """What a printer that cannot answer status is judged by: its TCP acknowledgements."""
    transport, printer = await connect(listener, write_timeout=SHORT)
    with printer:
        ticket = b"x" * 12_000  # more than the printer's receive window
        await transport.write(ticket)  # the kernel took it: that is not the printer taking it
        with pytest.raises(WriteTimeoutError, match="acknowledged nothing"):
            await transport.wait_taken()  # stalled: the printer's window stays shut
        assert not transport.is_open

    transport, printer = await connect(listener, write_timeout=DEADLINE)
    with printer:
        await transport.write(ticket)
        reading = asyncio.create_task(read_slowly(printer, len(ticket), pace=0.0))
        async with asyncio.timeout(DEADLINE):
            await transport.wait_taken()  # it reads, so every byte gets acknowledged
            assert await reading == ticket
        await transport.close()
