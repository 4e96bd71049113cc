"""rfcomm:// through its connect seam: the machine has no Bluetooth, so a stand-in plays the
RFCOMM socket (one end of a socketpair, or a loopback TCP socket to the printer emulator);
what this machine's own Bluetooth stack answers is tested as far as it goes."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from drivers.bluetooth.uris import RfcommAddress
from drivers.emulator import PrinterEmulator
from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.realtime import PrinterStatus, query_status
from drivers.transports import transport_for
from drivers.transports.rfcomm import NO_BLUETOOTH, Connector, RfcommTransport, connect_rfcomm
from drivers.transports.stream import queued_bytes

MAC = "00:11:22:AA:BB:CC"
URI = f"rfcomm://{MAC}"
DEADLINE = 10.0
SHORT = 0.3  # a deadline the tests outlast on purpose
HEALTHY = PrinterStatus(online=True, paper="ok", cover_open=False, error=False)


class StandIn:
    """Connects the transport to one end of a socketpair; the test holds the printer's end."""

    def __init__(self) -> None:
        self.addresses: list[RfcommAddress] = []
        self.printers: list[socket.socket] = []

    async def __call__(self, address: RfcommAddress) -> socket.socket:
        ours, printer = socket.socketpair()
        ours.setblocking(False)
        printer.setblocking(False)
        self.addresses.append(address)
        self.printers.append(printer)
        return ours

    @property
    def printer(self) -> socket.socket:
        """The printer's end of the latest connection."""
        return self.printers[-1]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    made = StandIn()
    yield made
    for sock in made.printers:
        sock.close()


@pytest.fixture
async def emu() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="bar") as printer:
        yield printer


def to_emulator(emu: PrinterEmulator) -> Connector:
    """A connector that reaches the emulator over loopback TCP, whatever the address."""

    async def connect(address: RfcommAddress) -> socket.socket:
        sock = socket.socket()
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (emu.host, emu.port))
        return sock

    return connect


async def opened(stand_in: StandIn, write_timeout: float = DEADLINE) -> RfcommTransport:
    transport = RfcommTransport(URI, write_timeout=write_timeout, connect=stand_in)
    async with asyncio.timeout(DEADLINE):
        await transport.open()
    return transport


async def read_all(printer: socket.socket, n: int | None = None, pace: float = 0.0) -> bytes:
    """What the printer reads: n bytes, or everything until the other end is gone."""
    loop = asyncio.get_running_loop()
    got = bytearray()
    while n is None or len(got) < n:
        chunk = await loop.sock_recv(printer, 8192)
        if not chunk:
            break
        got += chunk
        await asyncio.sleep(pace)  # the printing itself, not a wait for something to happen
    return bytes(got)


# ---- URIs and the registry ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "channel"),
    [(URI, 1), (f"{URI}:3", 3), (f"{URI}?channel=12", 12), (f"rfcomm://{MAC.lower()}:30", 30)],
)
def test_the_registry_makes_an_rfcomm_transport_for_the_uri(uri: str, channel: int) -> None:
    transport = transport_for(uri, connect_timeout=7, write_timeout=3)
    assert isinstance(transport, RfcommTransport)
    assert transport.address == RfcommAddress(MAC, channel)
    assert (transport.connect_timeout, transport.write_timeout) == (7, 3)
    assert transport.peer == f"{MAC} channel {channel}"
    assert not transport.is_open


@pytest.mark.parametrize(
    "uri",
    [
        "rfcomm://00:11:22:AA:BB",  # five bytes
        "rfcomm://00:11:22:AA:BB:GG",
        f"{URI}:0",
        f"{URI}:31",
        f"{URI}?channel=31",
        f"{URI}?channel=x",
        f"{URI}:2?channel=2",  # given twice
        f"{URI}?speed=9600",
        f"{URI}/printer",
        "rfcomm://",
    ],
)
def test_a_bad_uri_is_refused_when_the_transport_is_made(uri: str) -> None:
    with pytest.raises(UnsupportedTransportError, match=r"rfcomm://|channel|parameter|path"):
        transport_for(uri)


# ---- the real Bluetooth socket, as far as this machine goes ------------------------------


def bluetooth_sockets() -> bool:
    """Whether this Python and kernel make RFCOMM sockets."""
    family = getattr(socket, "AF_BLUETOOTH", None)
    if family is None:
        return False
    try:
        socket.socket(family, socket.SOCK_STREAM, socket.BTPROTO_RFCOMM).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(bluetooth_sockets(), reason="this machine has Bluetooth sockets")
async def test_without_bluetooth_the_real_connect_is_a_permanent_error() -> None:
    transport = transport_for(URI, connect_timeout=DEADLINE)
    with pytest.raises(UnsupportedTransportError, match=NO_BLUETOOTH) as caught:
        await transport.open()
    assert "AF_BLUETOOTH" in str(caught.value) or "kernel" in str(caught.value)
    assert not transport.is_open
    await transport.close()  # closing what never opened is fine
    with pytest.raises(UnsupportedTransportError, match=NO_BLUETOOTH):
        await connect_rfcomm(RfcommAddress(MAC, 1))


@pytest.mark.parametrize("code", [errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT])
async def test_a_kernel_without_bluetooth_sockets_is_a_permanent_error(code: int) -> None:
    async def refused(address: RfcommAddress) -> socket.socket:
        raise OSError(code, "Address family not supported by protocol")

    transport = RfcommTransport(URI, connect=refused)
    with pytest.raises(UnsupportedTransportError, match=f"{NO_BLUETOOTH}: the kernel"):
        await transport.open()


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (errno.EHOSTDOWN, "on and in range"),
        (errno.EHOSTUNREACH, "adapter"),
        (errno.ECONNREFUSED, "channel"),
        (errno.EACCES, "pair"),
    ],
)
async def test_an_unreachable_printer_is_a_transient_error_with_a_hint(
    code: int, hint: str
) -> None:
    async def unreachable(address: RfcommAddress) -> socket.socket:
        raise OSError(code, "the kernel says no")

    transport = RfcommTransport(f"{URI}:2", connect=unreachable)
    with pytest.raises(DeviceUnavailableError, match=hint) as caught:
        await transport.open()
    assert f"{MAC} channel 2: the kernel says no" in str(caught.value)
    assert not transport.is_open


async def test_a_printer_that_never_answers_the_page_times_out() -> None:
    never = asyncio.Event()

    async def paging(address: RfcommAddress) -> socket.socket:
        await never.wait()
        raise AssertionError("never answered")

    transport = RfcommTransport(URI, connect=paging, connect_timeout=SHORT)
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(DeviceUnavailableError, match=f"did not answer within {SHORT:g} s"):
            await transport.open()


# ---- writing and reading through a stand-in -------------------------------------------------


async def test_the_connector_is_asked_for_the_uri_address(stand_in: StandIn) -> None:
    transport = RfcommTransport(f"{URI}?channel=4", connect=stand_in)
    await transport.open()
    assert stand_in.addresses == [RfcommAddress(MAC, 4)]
    assert transport.is_open
    await transport.write(b"\x1b@hello\n")
    assert await read_all(stand_in.printer, 8) == b"\x1b@hello\n"
    stand_in.printer.send(b"\x12")
    assert await transport.read(4, DEADLINE) == b"\x12"
    assert await transport.read(4, 0.0) == b"", "nothing more came: empty, not an error"
    await transport.close()
    await transport.close()  # twice: never raises
    assert not transport.is_open


async def test_a_slow_printer_takes_a_ticket_longer_than_the_deadline(stand_in: StandIn) -> None:
    ticket = bytes(range(256)) * 512
    transport = await opened(stand_in, write_timeout=SHORT)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(DEADLINE):
        received, _ = await asyncio.gather(
            read_all(stand_in.printer, len(ticket), pace=0.02), transport.write(ticket)
        )
    assert loop.time() - started > SHORT, "the write outlasted the deadline without failing"
    assert received == ticket
    assert transport.is_open
    await transport.close()


async def test_a_stalled_printer_times_out_and_sent_counts_what_reaches_it(
    stand_in: StandIn,
) -> None:
    ticket = b"x" * (1024 * 1024)
    transport = await opened(stand_in, write_timeout=SHORT)
    with pytest.raises(WriteTimeoutError, match="took no data") as caught:  # nobody reads
        async with asyncio.timeout(DEADLINE):
            await transport.write(ticket)
    sent = caught.value.sent
    assert 0 < sent < len(ticket)
    assert not transport.is_open
    async with asyncio.timeout(DEADLINE):
        # What the kernel took still reaches the printer; nothing beyond `sent` ever does.
        assert await read_all(stand_in.printer) == ticket[:sent]


async def test_a_printer_that_hangs_up_mid_ticket_is_a_lost_connection(stand_in: StandIn) -> None:
    ticket = b"y" * (1024 * 1024)
    transport = await opened(stand_in)

    async def hang_up() -> None:
        await read_all(stand_in.printer, 1000)
        stand_in.printer.close()

    async with asyncio.timeout(DEADLINE):
        with pytest.raises(ConnectionLostError, match="connection lost") as caught:
            await asyncio.gather(transport.write(ticket), hang_up())
    assert caught.value.sent >= 1000, "never fewer than what the printer may have printed"
    assert not transport.is_open
    await transport.close()


async def test_a_printer_that_closed_its_end_is_lost_on_read(stand_in: StandIn) -> None:
    transport = await opened(stand_in)
    stand_in.printer.close()  # switched off, or took another phone's connection
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(ConnectionLostError, match="closed the connection"):
            await transport.read(1, DEADLINE)
    assert not transport.is_open
    with pytest.raises(ConnectionLostError, match="not connected"):
        await transport.write(b"late")


async def test_wait_taken_waits_until_the_printer_read_every_byte(stand_in: StandIn) -> None:
    ticket = b"z" * 12_000
    transport = await opened(stand_in, write_timeout=SHORT)
    await transport.write(ticket)  # the kernel took it: that is not the printer taking it
    assert queued_bytes(stand_in.printers[0]) == 0, "the printer's end sent nothing"
    with pytest.raises(WriteTimeoutError, match="acknowledged nothing"):
        async with asyncio.timeout(DEADLINE):
            await transport.wait_taken()  # the printer reads nothing
    assert not transport.is_open

    transport = await opened(stand_in, write_timeout=DEADLINE)
    await transport.write(ticket)
    reading = asyncio.create_task(read_all(stand_in.printer, len(ticket)))
    async with asyncio.timeout(DEADLINE):
        await transport.wait_taken()
        assert await reading == ticket
    await transport.close()
    with pytest.raises(ConnectionLostError, match="not connected"):
        await transport.wait_taken()


# ---- a stand-in to the printer emulator ---------------------------------------------------


async def test_a_stand_in_to_the_emulator_answers_status_and_prints(emu: PrinterEmulator) -> None:
    transport = RfcommTransport(URI, connect=to_emulator(emu))
    await transport.open()
    assert transport.unanswered == 0, "a new connection owes no late status answer"
    assert await query_status(transport, timeout=DEADLINE) == HEALTHY
    emu.set_fault(paper_out=True)
    status = await query_status(transport, timeout=DEADLINE)
    assert status.paper == "out"
    emu.clear_faults()
    await transport.write(b"\x1b@\x1bt\x10Table 4\n\x1dV\x00")
    await transport.wait_taken()
    [job] = await emu.wait_for_jobs(1)
    assert "Table 4" in job.text
    await transport.close()
