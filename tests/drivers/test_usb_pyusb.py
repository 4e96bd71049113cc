"""usb:// through the real pyusb, on a fake libusb backend that plays ESC/POS printers.

Most tests give the transport a sysfs without a USB bus (a container, say), which sends it
straight to pyusb; the kernel-driver tests lay out a usblp printer without a device node.
"""

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import usb.backend.libusb0
import usb.backend.libusb1
import usb.backend.openusb
import usb.core
import usb.util

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    PermanentDriverError,
    TransientDriverError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.escpos.status import STATUS_OFFLINE_CAUSE, STATUS_PAPER, STATUS_PRINTER
from drivers.realtime import NoStatusAnswer, PrinterStatus, query_status
from drivers.transports import transport_for
from drivers.transports import usb as usb_module
from drivers.transports.usb import UsbTransport
from tests.drivers.test_usb_transport import Machine
from tests.support.fake_libusb import (
    EP_IN,
    EP_OUT,
    HEALTHY,
    LIBUSB_ERROR_BUSY,
    LIBUSB_ERROR_IO,
    LIBUSB_ERROR_NO_DEVICE,
    LIBUSB_ERROR_NOT_FOUND,
    LIBUSB_ERROR_PIPE,
    FakeLibusb,
    FakeUsbPrinter,
    SimulatedClock,
    libusb_error,
)

VID, PID = 0x04B8, 0x0202
URI = "usb://04b8:0202"
DEADLINE = 10.0
CHUNK = 4096  # what the transport hands libusb per transfer
TICKET = b"\x1b@" + bytes(range(256)) * 40 + b"\x1dV\x00"  # 3 transfers: 4096, 4096, 2052
STATUS_REQUESTS = STATUS_PRINTER + STATUS_OFFLINE_CAUSE + STATUS_PAPER


def epson(serial: str | None = None, **kwargs: Any) -> FakeUsbPrinter:
    return FakeUsbPrinter(VID, PID, serial, **kwargs)


def usb_transport(
    backend: FakeLibusb | None,
    root: Path,
    uri: str = URI,
    *,
    write_timeout: float = DEADLINE,
    dev_root: Path | None = None,
) -> UsbTransport:
    """`root` stands for /sys: without a bus/usb directory in it, pyusb is the only way."""
    return UsbTransport(
        uri,
        write_timeout=write_timeout,
        sysfs_root=root,
        dev_root=dev_root or root,
        usb_backend=backend,
    )


@asynccontextmanager
async def opened(transport: UsbTransport) -> AsyncIterator[UsbTransport]:
    await transport.open()
    try:
        yield transport
    finally:
        await transport.close()


def follow(clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The event loop's clock also counts the time the simulated bus spent."""
    loop = asyncio.get_running_loop()
    real = loop.time
    monkeypatch.setattr(loop, "time", lambda: real() + clock.now)


def assert_given_back(printer: FakeUsbPrinter) -> None:
    """Nothing of the printer is held any more: interface released, every handle closed."""
    assert printer.claimed_by is None
    assert printer.open_handles == 0


async def test_writes_a_ticket_in_chunks_each_under_the_deadline(tmp_path: Path) -> None:
    printer = epson()
    backend = FakeLibusb([FakeUsbPrinter(VID, 0x0E15, address=3), printer])
    transport = usb_transport(backend, tmp_path)
    async with opened(transport):
        assert transport.is_open
        assert transport.bidirectional
        assert printer.claimed_by is not None
        await transport.write(TICKET)
        assert bytes(printer.received) == TICKET
    assert not transport.is_open
    assert [length for length, _ in printer.transfers] == [CHUNK, CHUNK, len(TICKET) - 2 * CHUNK]
    # Each transfer gets what is left of the job's deadline, never libusb's "wait forever".
    timeouts = [timeout for _, timeout in printer.transfers]
    assert all(0 < timeout <= DEADLINE * 1000 for timeout in timeouts)
    assert timeouts[0] > DEADLINE * 1000 - 1000
    assert printer.calls == ["claim 0", "release 0"]
    assert_given_back(printer)
    await transport.close()  # twice is harmless


async def test_an_unconfigured_printer_gets_its_configuration(tmp_path: Path) -> None:
    printer = epson(configured=False)
    async with opened(usb_transport(FakeLibusb([printer]), tmp_path)) as transport:
        await transport.write(b"\x1b@hello\n")
    assert printer.calls == ["set-configuration 1", "claim 0", "release 0"]
    assert printer.received == b"\x1b@hello\n"


async def test_serial_in_the_uri_picks_that_printer(tmp_path: Path) -> None:
    kitchen, bar = epson("J7PF000111", address=2), epson("J7PF000222", address=3)
    backend = FakeLibusb([kitchen, bar])
    async with opened(usb_transport(backend, tmp_path, f"{URI}?serial=J7PF000222")) as transport:
        await transport.write(TICKET)
        assert bar.claimed_by is not None
        assert_given_back(kitchen)  # its serial number was read, then it was let go
    assert bytes(bar.received) == TICKET
    assert kitchen.received == b""
    assert kitchen.calls == []
    assert_given_back(bar)


@pytest.mark.parametrize(
    ("serials", "listed"),
    [(("AAA", "BBB"), "AAA, BBB"), ((None, None), r"\(none\), \(none\)")],
)
async def test_two_identical_printers_need_a_serial(
    tmp_path: Path, serials: tuple[str | None, str | None], listed: str
) -> None:
    printers = [epson(serials[0], address=2), epson(serials[1], address=3)]
    transport = usb_transport(FakeLibusb(printers), tmp_path)
    with pytest.raises(
        UnsupportedTransportError,
        match=rf"2 USB printers match 04b8:0202: add \?serial=… .*: {listed}\)$",
    ) as caught:
        await transport.open()
    assert isinstance(caught.value, PermanentDriverError)
    assert not transport.is_open
    for printer in printers:
        assert printer.calls == []
        assert_given_back(printer)


async def test_no_printer_connected_is_unavailable(tmp_path: Path) -> None:
    other = FakeUsbPrinter(0x0416, 0x5011, "ZZZ")
    backend = FakeLibusb([other])
    with pytest.raises(DeviceUnavailableError, match=r"^no USB printer 04b8:0202 is connected$"):
        await usb_transport(backend, tmp_path).open()
    backend.printers.append(epson("AAA"))
    with pytest.raises(
        DeviceUnavailableError,
        match=r"04b8:0202 \(serial BBB\) is connected; .* with its ids: AAA$",
    ):
        await usb_transport(backend, tmp_path, f"{URI}?serial=BBB").open()
    assert_given_back(backend.printers[1])
    assert other.open_handles == 0


async def test_a_serial_that_cannot_be_read_points_at_permissions(tmp_path: Path) -> None:
    backend = FakeLibusb([epson("AAA", accessible=False)])
    with pytest.raises(DeviceUnavailableError, match=r"\(unreadable\) .*udev rule"):
        await usb_transport(backend, tmp_path, f"{URI}?serial=AAA").open()


async def test_permission_denied_is_reported(tmp_path: Path) -> None:
    backend = FakeLibusb([epson(accessible=False)])
    with pytest.raises(DeviceUnavailableError, match=r"04b8:0202: permission denied .*udev"):
        await usb_transport(backend, tmp_path).open()


async def test_bus_that_cannot_be_listed_is_a_driver_error(tmp_path: Path) -> None:
    backend = FakeLibusb([epson()])
    backend.bus_error = LIBUSB_ERROR_IO
    with pytest.raises(DeviceUnavailableError, match=r"04b8:0202: .*Input/Output Error"):
        await usb_transport(backend, tmp_path).open()


async def test_kernel_driver_is_detached_then_given_back(tmp_path: Path) -> None:
    # usblp holds the printer, but this machine has no /dev/usb/lp0 node to write to.
    machine = Machine(tmp_path)
    machine.plug("1", "04b8", "0202", "J7PF0123", lp="lp0")
    printer = epson("J7PF0123", kernel_driver=True)
    transport = usb_transport(
        FakeLibusb([printer]), machine.sysfs, f"{URI}?serial=J7PF0123", dev_root=machine.dev
    )
    async with opened(transport):
        assert not printer.kernel_driver
        assert printer.calls == ["detach 0", "claim 0"]
        await transport.write(TICKET)
    assert bytes(printer.received) == TICKET
    assert printer.calls == ["detach 0", "claim 0", "release 0", "attach 0"]
    assert printer.kernel_driver
    assert_given_back(printer)


async def test_kernel_driver_is_given_back_when_the_claim_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    printer = epson(kernel_driver=True)
    backend = FakeLibusb([printer])

    def someone_else_claims(handle: object, intf: int) -> None:
        printer.calls.append(f"claim {intf}")
        raise libusb_error(LIBUSB_ERROR_BUSY)  # another program took it right after the detach

    monkeypatch.setattr(backend, "claim_interface", someone_else_claims)
    with pytest.raises(DeviceUnavailableError, match="04b8:0202 is in use by another program"):
        await usb_transport(backend, tmp_path).open()
    assert printer.calls == ["detach 0", "claim 0", "attach 0"]
    assert printer.kernel_driver  # usblp has its printer back
    assert_given_back(printer)


SHORT_TICKET = b"\x1b@" + b"Table 12  1 x Croque-monsieur\n" * 30 + b"\x1dV\x00"  # one transfer


@pytest.mark.parametrize(
    ("ticket", "room", "sent"),
    [
        # The printer's buffer fills part-way through the second transfer.
        (TICKET, 5000, 5000),
        # ...through the only one: the ticket's end (the cut) never went out.
        (SHORT_TICKET, 600, 600),
        # Nothing taken: libusb's timeout error carries no count, the chunk counts as sent.
        (TICKET, 0, CHUNK),
    ],
    ids=["second-transfer", "only-transfer", "nothing-taken"],
)
async def test_a_printer_that_stops_taking_data_times_out(
    tmp_path: Path, ticket: bytes, room: int, sent: int
) -> None:
    printer = epson(kernel_driver=True)
    printer.room = room  # paper out: its buffer fills, then the bulk OUT endpoint NAKs
    transport = usb_transport(FakeLibusb([printer]), tmp_path)
    await transport.open()
    try:
        with pytest.raises(WriteTimeoutError, match=f"after {sent} of {len(ticket)} bytes") as err:
            await transport.write(ticket)
        assert err.value.sent == sent
        assert isinstance(err.value, TransientDriverError)
        assert not transport.is_open
    finally:
        await transport.close()
    assert bytes(printer.received) == ticket[:room]
    assert printer.kernel_driver  # dropped on the timeout: usblp has it back
    assert_given_back(printer)


async def test_a_slow_printer_gets_the_whole_deadline_per_transfer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SimulatedClock()
    follow(clock, monkeypatch)
    printer = epson()
    printer.seconds_per_transfer = 4.0  # a slow printer: each 4 KiB takes 4 s, 12 s in all
    transport = usb_transport(FakeLibusb([printer], clock), tmp_path, write_timeout=DEADLINE)
    async with opened(transport):
        await transport.write(TICKET)
    # The deadline is on progress: 12 s for the ticket, but never 10 s without a byte taken.
    assert [timeout for _, timeout in printer.transfers] == [DEADLINE * 1000] * 3
    assert bytes(printer.received) == TICKET


async def test_a_transfer_slower_than_the_deadline_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SimulatedClock()
    follow(clock, monkeypatch)
    printer = epson()
    printer.seconds_per_transfer = 2.5 * DEADLINE  # 4 KiB in 25 s: stalled, for a printer
    transport = usb_transport(FakeLibusb([printer], clock), tmp_path, write_timeout=DEADLINE)
    async with opened(transport):
        with pytest.raises(WriteTimeoutError) as err:
            await transport.write(TICKET)
    assert len(printer.transfers) == 1
    assert 0 < err.value.sent == len(printer.received) < CHUNK


@pytest.mark.parametrize(
    "code", [LIBUSB_ERROR_NO_DEVICE, LIBUSB_ERROR_PIPE, LIBUSB_ERROR_IO], ids=str
)
async def test_a_transfer_error_loses_the_connection(
    tmp_path: Path, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    printer = epson()
    printer.fail_after(CHUNK, code)
    transport = usb_transport(FakeLibusb([printer]), tmp_path)
    await transport.open()
    with caplog.at_level(logging.WARNING), pytest.raises(ConnectionLostError) as err:
        await transport.write(TICKET)
    assert err.value.sent == 2 * CHUNK  # the failed transfer counts as handed over
    assert not transport.is_open
    await transport.close()
    assert bytes(printer.received) == TICKET[:CHUNK]
    assert_given_back(printer)
    if code == LIBUSB_ERROR_NO_DEVICE:  # unplugged: releasing fails, and is only logged
        assert "releasing USB printer" in caplog.text
        with pytest.raises(DeviceUnavailableError, match="is connected"):
            await transport.open()


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (
            {1: HEALTHY, 2: HEALTHY, 4: HEALTHY},
            PrinterStatus(online=True, paper="ok", cover_open=False, error=False),
        ),
        (
            {1: HEALTHY | 0x08, 2: HEALTHY | 0x20, 4: HEALTHY | 0x60},
            PrinterStatus(online=False, paper="out", cover_open=False, error=False),
        ),
        (
            {1: HEALTHY | 0x08, 2: HEALTHY | 0x04, 4: HEALTHY | 0x0C},
            PrinterStatus(online=False, paper="near_end", cover_open=True, error=False),
        ),
    ],
    ids=["healthy", "paper-out", "cover-open"],
)
async def test_status_is_read_back_over_bulk_in(
    tmp_path: Path, answers: dict[int, int], expected: PrinterStatus
) -> None:
    printer = epson(status=answers)
    printer.pending += bytes([HEALTHY, HEALTHY])  # late answers to an earlier request
    async with opened(usb_transport(FakeLibusb([printer]), tmp_path)) as transport:
        assert await query_status(transport, timeout=DEADLINE) == expected
        assert await transport.read(1, 0.05) == b""  # nothing more: silence
    assert printer.requests == [1, 2, 4]
    assert printer.received == STATUS_REQUESTS
    assert_given_back(printer)


async def test_answers_arriving_together_are_read_one_at_a_time(tmp_path: Path) -> None:
    printer = epson()
    async with opened(usb_transport(FakeLibusb([printer]), tmp_path)) as transport:
        # DLE EOT 1 cut across two writes, as a job's tail and a status request can be.
        await transport.write(b"\x10")
        await transport.write(b"\x04\x01\x10\x04\x02")
        assert await transport.read(1, 1.0) == bytes([HEALTHY])
        assert await transport.read(1, 1.0) == bytes([HEALTHY])
        assert await transport.read(1, 0.01) == b""
    assert printer.requests == [1, 2]


async def test_close_waits_for_a_transfer_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A status read cancelled mid-way goes on in its thread until libusb's timeout; the
    # printer must not be released and its handle closed under it.
    monkeypatch.setattr(usb_module, "_CLOSE_TIMEOUT_S", 0.05)
    printer = epson(kernel_driver=True)
    printer.hold_reads = threading.Event()
    transport = usb_transport(FakeLibusb([printer]), tmp_path)
    await transport.open()
    try:
        reading = asyncio.create_task(transport.read(1, DEADLINE))
        await asyncio.to_thread(printer.read_held.wait, DEADLINE)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        with caplog.at_level(logging.WARNING):
            await transport.close()  # gives up waiting, leaves the release to finish later
        assert "left to finish in the background" in caplog.text
        assert not transport.is_open
        assert printer.claimed_by is not None  # untouched while the read is in flight
    finally:
        printer.hold_reads.set()  # libusb's timeout ends the read
    assert await asyncio.to_thread(printer.handle_closed.wait, DEADLINE)
    assert printer.violations == []
    assert printer.kernel_driver
    assert_given_back(printer)


async def test_a_printer_without_bulk_in_cannot_answer(tmp_path: Path) -> None:
    printer = epson(bulk_in=False)
    async with opened(usb_transport(FakeLibusb([printer]), tmp_path)) as transport:
        assert not transport.bidirectional
        await transport.write(TICKET)
        with pytest.raises(NoStatusAnswer):
            await query_status(transport, timeout=0.05)
    assert bytes(printer.received) == TICKET + STATUS_PRINTER


async def test_without_libusb_the_error_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What pyusb sees when libusb-1.0 (and libusb-0.1, OpenUSB) cannot be loaded.
    for backend in (usb.backend.libusb1, usb.backend.openusb, usb.backend.libusb0):
        monkeypatch.setattr(backend, "get_backend", lambda *args, **kwargs: None)
    transport = usb_transport(None, tmp_path)
    with pytest.raises(UnsupportedTransportError, match=r"needs libusb-1\.0.*libusb-1\.0-0"):
        await transport.open()
    assert not transport.is_open
    await transport.close()


@pytest.mark.parametrize("missing", [("usb",), ("usb.core", "usb.util")])
async def test_without_pyusb_the_error_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]
) -> None:
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # `import usb.core` raises ImportError
    transport = transport_for(URI)
    assert isinstance(transport, UsbTransport)
    transport.sysfs_root = transport.dev_root = tmp_path
    with pytest.raises(UnsupportedTransportError, match="pyusb is not installed"):
        await transport.open()
    assert not transport.is_open
    await transport.close()
    with pytest.raises(ConnectionLostError, match="not connected"):
        await transport.write(b"x")


def test_the_fake_is_as_strict_as_libusb() -> None:
    """Calls out of order fail here as on real hardware, so the tests above can fail."""
    printer = epson(kernel_driver=True)
    backend = FakeLibusb([printer])
    handle = backend.open_device(printer)
    data = usb.util.create_buffer(4)

    def code(call: Callable[..., object], *args: object) -> int:
        with pytest.raises(usb.core.USBError) as err:
            call(*args)
        return int(err.value.backend_error_code)

    assert code(backend.claim_interface, handle, 0) == LIBUSB_ERROR_BUSY  # usblp holds it
    assert code(backend.bulk_write, handle, EP_OUT, 0, data, 100) == LIBUSB_ERROR_BUSY
    backend.detach_kernel_driver(handle, 0)
    assert code(backend.bulk_write, handle, EP_OUT, 0, data, 100) == LIBUSB_ERROR_NOT_FOUND
    assert code(backend.release_interface, handle, 0) == LIBUSB_ERROR_NOT_FOUND
    assert code(backend.claim_interface, handle, 1) == LIBUSB_ERROR_NOT_FOUND
    backend.claim_interface(handle, 0)
    assert code(backend.bulk_write, handle, 0x03, 0, data, 100) == LIBUSB_ERROR_NOT_FOUND
    assert code(backend.bulk_read, handle, EP_OUT, 0, data, 100) == LIBUSB_ERROR_NOT_FOUND
    assert code(backend.attach_kernel_driver, handle, 0) == LIBUSB_ERROR_BUSY  # still claimed
    with pytest.raises(usb.core.USBTimeoutError):
        backend.bulk_read(handle, EP_IN, 0, data, 100)
    with pytest.raises(AssertionError, match="without a deadline"):
        backend.bulk_write(handle, EP_OUT, 0, data, 0)
    assert backend.bulk_write(handle, EP_OUT, 0, data, 100) == 4
    backend.close_device(handle)
    assert printer.claimed_by is None
    with pytest.raises(AssertionError, match="closed handle"):
        backend.claim_interface(handle, 0)
