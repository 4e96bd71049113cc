"""A pyusb backend standing in for libusb-1.0: ESC/POS USB printers on a simulated bus.

pyusb itself runs unchanged on top of it: descriptors, string reads, claiming, transfers.
The fake is as strict as libusb on Linux: a transfer on an interface nobody claimed, an
endpoint the printer does not have, a claim while usblp holds the interface, a release of
what was not claimed all raise `usb.core.USBError` with libusb's code and errno. A transfer
without a deadline (libusb reads 0 ms as "wait forever") fails the test outright.

Time is simulated, never slept: a stalled transfer or a read nobody answers advances
`clock` by its whole timeout, a slow printer by the time it takes. Only a read the test
holds (`hold_reads`) really blocks, until the test lets it go: a transfer in flight.
"""

from __future__ import annotations

import array
import errno
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import usb.backend
from usb.core import USBError, USBTimeoutError

# libusb's return codes, and the errno pyusb's libusb1 backend gives each.
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_ACCESS = -3
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_NOT_FOUND = -5
LIBUSB_ERROR_BUSY = -6
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_OVERFLOW = -8
LIBUSB_ERROR_PIPE = -9
_ERRORS = {
    LIBUSB_ERROR_IO: ("Input/Output Error", errno.EIO),
    LIBUSB_ERROR_ACCESS: ("Access denied (insufficient permissions)", errno.EACCES),
    LIBUSB_ERROR_NO_DEVICE: ("No such device (it may have been disconnected)", errno.ENODEV),
    LIBUSB_ERROR_NOT_FOUND: ("Entity not found", errno.ENOENT),
    LIBUSB_ERROR_BUSY: ("Resource busy", errno.EBUSY),
    LIBUSB_ERROR_TIMEOUT: ("Operation timed out", errno.ETIMEDOUT),
    LIBUSB_ERROR_OVERFLOW: ("Overflow", errno.EOVERFLOW),
    LIBUSB_ERROR_PIPE: ("Pipe error", errno.EPIPE),
}

PRINTER_CLASS = 7
EP_OUT = 0x01
EP_IN = 0x82
MAX_PACKET = 64  # a full-speed bulk endpoint
LANGID_EN_US = 0x0409
DLE, EOT = 0x10, 0x04
HEALTHY = 0x12  # a DLE EOT answer with only its fixed bits set
_HELD_READ_LIMIT_S = 30.0  # a held read the test forgot to let go ends here, not never


def libusb_error(code: int) -> USBError:
    """The exception pyusb's libusb1 backend raises for a libusb return code."""
    message, number = _ERRORS[code]
    cls = USBTimeoutError if code == LIBUSB_ERROR_TIMEOUT else USBError
    return cls(message, code, number)


class SimulatedClock:
    """Seconds the simulated bus has spent waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeHandle:
    """What libusb_open returns."""

    def __init__(self, printer: FakeUsbPrinter) -> None:
        self.printer = printer
        self.closed = False


@dataclass
class _Failure:
    after: int  # bytes received before transfers fail
    code: int


class FakeUsbPrinter:
    """One ESC/POS USB printer: one configuration, printer-class interface 0, bulk OUT and IN.

    `kernel_driver`: usblp is bound to interface 0. `configured`: the device has its
    configuration set. `accessible`: the daemon's user may open it. `status`: the answer
    to each DLE EOT n, queued on the bulk IN endpoint when the request arrives.
    """

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        serial: str | None = None,
        *,
        address: int = 2,
        bulk_in: bool = True,
        kernel_driver: bool = False,
        configured: bool = True,
        accessible: bool = True,
        status: Mapping[int, int] | None = None,
    ) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.serial = serial
        self.address = address
        self.bulk_in = bulk_in
        self.kernel_driver = kernel_driver
        self.configuration = 1 if configured else 0
        self.accessible = accessible
        self.status = dict(status or {1: HEALTHY, 2: HEALTHY, 3: HEALTHY, 4: HEALTHY})
        self.plugged = True
        self.claimed_by: FakeHandle | None = None
        self.handles: list[FakeHandle] = []
        self.received = bytearray()  # every byte the bulk OUT endpoint took
        self.transfers: list[tuple[int, int]] = []  # (length, timeout ms) of each bulk OUT
        self.requests: list[int] = []  # the n of each DLE EOT n received
        self.pending = bytearray()  # bytes waiting on the bulk IN endpoint
        self.calls: list[str] = []  # claim, release, detach, attach, set-configuration
        self.room: int | None = None  # bytes taken before the printer stalls; None: no limit
        self.seconds_per_transfer = 0.0  # how long taking one whole transfer takes
        # Set to an Event, a read with nothing to answer blocks (really) until it is set.
        self.hold_reads: threading.Event | None = None
        self.read_held = threading.Event()  # a held read is in flight
        self.handle_closed = threading.Event()
        self.in_flight = 0  # bulk transfers in progress
        self.violations: list[str] = []  # libusb misuse seen, besides the AssertionError
        self._failure: _Failure | None = None
        self._tail = b""  # a DLE EOT request cut by a transfer boundary

    @property
    def open_handles(self) -> int:
        return sum(not handle.closed for handle in self.handles)

    def fail_after(self, received: int, code: int) -> None:
        """Once `received` bytes are in, bulk transfers fail with libusb's `code`."""
        self._failure = _Failure(received, code)

    def unplug(self) -> None:
        self.plugged = False
        self.kernel_driver = False
        self.claimed_by = None

    # descriptors, as libusb parses them
    def device_descriptor(self) -> SimpleNamespace:
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0200,
            bDeviceClass=0,  # the class is given per interface
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=64,
            idVendor=self.vendor_id,
            idProduct=self.product_id,
            bcdDevice=0x0100,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=0 if self.serial is None else 3,
            bNumConfigurations=1,
            address=self.address,
            bus=1,
            port_number=self.address - 1,
            port_numbers=(self.address - 1,),
            speed=2,  # LIBUSB_SPEED_FULL
        )

    def endpoints(self) -> list[int]:
        return [EP_OUT, EP_IN] if self.bulk_in else [EP_OUT]

    def strings(self) -> dict[int, str]:
        found = {1: "EPSON", 2: "TM-T20III Receipt"}
        if self.serial is not None:
            found[3] = self.serial
        return found

    # the printer's side of a bulk OUT transfer
    def take(self, data: bytes, timeout_ms: int, clock: SimulatedClock) -> int:
        if self._failure is not None and len(self.received) >= self._failure.after:
            if self._failure.code == LIBUSB_ERROR_NO_DEVICE:
                self.unplug()
            raise libusb_error(self._failure.code)
        limit = timeout_ms / 1000
        taken = len(data) if self.room is None else min(len(data), self.room)
        if self.seconds_per_transfer > limit:
            taken = min(taken, int(len(data) * limit / self.seconds_per_transfer))
        clock.advance(limit if taken < len(data) else self.seconds_per_transfer)
        if self.room is not None:
            self.room -= taken
        self.received += data[:taken]
        self._answer(data[:taken])
        return taken

    def _answer(self, data: bytes) -> None:
        """Queue the answer to every DLE EOT n, wherever it falls in the stream."""
        stream = self._tail + data
        self._tail = b""
        i = 0
        while (j := stream.find(DLE, i)) >= 0:
            request = stream[j : j + 3]
            if len(request) < 3 and bytes([DLE, EOT]).startswith(request[:2]):
                self._tail = request
                return
            if request[1:2] == bytes([EOT]) and request[2] in self.status:
                self.requests.append(request[2])
                if self.bulk_in:
                    self.pending.append(self.status[request[2]])
                i = j + 3
            else:
                i = j + 1


class FakeLibusb(usb.backend.IBackend):
    """The pyusb backend: pass it as `backend=` where pyusb would load libusb."""

    def __init__(
        self, printers: Iterable[FakeUsbPrinter] = (), clock: SimulatedClock | None = None
    ) -> None:
        super().__init__()
        self.printers = list(printers)
        self.clock = clock or SimulatedClock()
        self.bus_error: int | None = None  # libusb_get_device_list fails with this code

    def enumerate_devices(self) -> list[FakeUsbPrinter]:
        if self.bus_error is not None:
            raise libusb_error(self.bus_error)
        return [printer for printer in self.printers if printer.plugged]

    def get_parent(self, dev: FakeUsbPrinter) -> None:
        return None  # the root hub is not listed

    def get_device_descriptor(self, dev: FakeUsbPrinter) -> SimpleNamespace:
        return dev.device_descriptor()

    def get_configuration_descriptor(self, dev: FakeUsbPrinter, config: int) -> SimpleNamespace:
        if config != 0:
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=9 + 9 + 7 * len(dev.endpoints()),
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0xC0,  # self-powered
            bMaxPower=1,
            extra_descriptors=[],
        )

    def get_interface_descriptor(
        self, dev: FakeUsbPrinter, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        self.get_configuration_descriptor(dev, config)
        if intf != 0 or alt != 0:  # pyusb walks alternate settings until IndexError
            raise IndexError(f"no interface {intf}, alternate setting {alt}")
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=len(dev.endpoints()),
            bInterfaceClass=PRINTER_CLASS,
            bInterfaceSubClass=1,
            bInterfaceProtocol=2 if dev.bulk_in else 1,  # bidirectional or unidirectional
            iInterface=0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(
        self, dev: FakeUsbPrinter, ep: int, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        self.get_interface_descriptor(dev, intf, alt, config)
        endpoints = dev.endpoints()
        if not 0 <= ep < len(endpoints):
            raise IndexError(f"no endpoint {ep}")
        return SimpleNamespace(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=endpoints[ep],
            bmAttributes=2,  # bulk
            wMaxPacketSize=MAX_PACKET,
            bInterval=0,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    def open_device(self, dev: FakeUsbPrinter) -> FakeHandle:
        if not dev.plugged:
            raise libusb_error(LIBUSB_ERROR_NO_DEVICE)
        if not dev.accessible:
            raise libusb_error(LIBUSB_ERROR_ACCESS)
        handle = FakeHandle(dev)
        dev.handles.append(handle)
        return handle

    def close_device(self, dev_handle: FakeHandle) -> None:
        assert not dev_handle.closed, "libusb_close on a handle already closed"
        printer = dev_handle.printer
        self._no_transfer_in_flight(printer, "libusb_close")
        dev_handle.closed = True
        if printer.claimed_by is dev_handle:  # closing usbfs releases; usblp is not re-bound
            printer.claimed_by = None
        printer.handle_closed.set()

    @staticmethod
    def _no_transfer_in_flight(printer: FakeUsbPrinter, call: str) -> None:
        # libusb: cancel pending transfers before releasing; a synchronous transfer in another
        # thread whose handle is closed never completes (its timeout is no longer watched).
        if printer.in_flight:
            printer.violations.append(f"{call} with a transfer in flight")
            raise AssertionError(f"{call} with a transfer in flight")

    @staticmethod
    @contextmanager
    def _flying(printer: FakeUsbPrinter) -> Iterator[None]:
        printer.in_flight += 1
        try:
            yield
        finally:
            printer.in_flight -= 1

    def _device(self, dev_handle: FakeHandle) -> FakeUsbPrinter:
        assert not dev_handle.closed, "a libusb call on a closed handle"
        if not dev_handle.printer.plugged:
            raise libusb_error(LIBUSB_ERROR_NO_DEVICE)
        return dev_handle.printer

    @staticmethod
    def _interface(printer: FakeUsbPrinter, intf: int) -> None:
        if printer.configuration == 0 or intf != 0:
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)

    def get_configuration(self, dev_handle: FakeHandle) -> int:
        return self._device(dev_handle).configuration

    def set_configuration(self, dev_handle: FakeHandle, config_value: int) -> None:
        printer = self._device(dev_handle)
        printer.calls.append(f"set-configuration {config_value}")
        if config_value not in (0, 1):
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        if printer.kernel_driver or printer.claimed_by is not None:
            raise libusb_error(LIBUSB_ERROR_BUSY)
        printer.configuration = config_value

    def claim_interface(self, dev_handle: FakeHandle, intf: int) -> None:
        printer = self._device(dev_handle)
        printer.calls.append(f"claim {intf}")
        self._interface(printer, intf)
        if printer.kernel_driver or printer.claimed_by not in (None, dev_handle):
            raise libusb_error(LIBUSB_ERROR_BUSY)
        printer.claimed_by = dev_handle

    def release_interface(self, dev_handle: FakeHandle, intf: int) -> None:
        printer = self._device(dev_handle)
        printer.calls.append(f"release {intf}")
        self._no_transfer_in_flight(printer, "libusb_release_interface")
        self._interface(printer, intf)
        if printer.claimed_by is not dev_handle:
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        printer.claimed_by = None

    def is_kernel_driver_active(self, dev_handle: FakeHandle, intf: int) -> bool:
        printer = self._device(dev_handle)
        self._interface(printer, intf)
        return printer.kernel_driver

    def detach_kernel_driver(self, dev_handle: FakeHandle, intf: int) -> None:
        printer = self._device(dev_handle)
        printer.calls.append(f"detach {intf}")
        self._interface(printer, intf)
        if not printer.kernel_driver:
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        printer.kernel_driver = False

    def attach_kernel_driver(self, dev_handle: FakeHandle, intf: int) -> None:
        printer = self._device(dev_handle)
        printer.calls.append(f"attach {intf}")
        self._interface(printer, intf)
        if printer.kernel_driver or printer.claimed_by is not None:
            raise libusb_error(LIBUSB_ERROR_BUSY)
        printer.kernel_driver = True

    def _transfer(self, dev_handle: FakeHandle, ep: int, intf: int, timeout: int) -> FakeUsbPrinter:
        assert timeout > 0, f"a bulk transfer without a deadline ({timeout} ms: wait forever)"
        printer = self._device(dev_handle)
        self._interface(printer, intf)
        if ep not in printer.endpoints():
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        if printer.claimed_by is not dev_handle:
            busy = printer.kernel_driver or printer.claimed_by is not None
            raise libusb_error(LIBUSB_ERROR_BUSY if busy else LIBUSB_ERROR_NOT_FOUND)
        return printer

    def bulk_write(
        self, dev_handle: FakeHandle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        if ep & 0x80:
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        printer = self._transfer(dev_handle, ep, intf, timeout)
        printer.transfers.append((len(data), timeout))
        with self._flying(printer):
            taken = printer.take(data.tobytes(), timeout, self.clock)
        if taken == 0:
            raise libusb_error(LIBUSB_ERROR_TIMEOUT)
        return taken  # short after a timeout, as libusb reports a partial transfer

    def bulk_read(
        self, dev_handle: FakeHandle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        if not ep & 0x80:
            raise libusb_error(LIBUSB_ERROR_NOT_FOUND)
        printer = self._transfer(dev_handle, ep, intf, timeout)
        if not printer.pending and printer.hold_reads is not None:
            with self._flying(printer):
                printer.read_held.set()
                printer.hold_reads.wait(_HELD_READ_LIMIT_S)
        if not printer.pending:
            self.clock.advance(timeout / 1000)
            raise libusb_error(LIBUSB_ERROR_TIMEOUT)
        packet = bytes(printer.pending[:MAX_PACKET])
        del printer.pending[: len(packet)]
        if len(packet) > len(buff):
            raise libusb_error(LIBUSB_ERROR_OVERFLOW)  # the packet is lost
        buff[: len(packet)] = array.array("B", packet)
        return len(packet)

    def ctrl_transfer(
        self,
        dev_handle: FakeHandle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        printer = self._device(dev_handle)
        get_string = bmRequestType == 0x80 and bRequest == 6 and wValue >> 8 == 3
        index = wValue & 0xFF
        if not get_string:
            raise libusb_error(LIBUSB_ERROR_PIPE)  # the device stalls what it does not know
        if index == 0:
            descriptor = bytes([4, 3]) + LANGID_EN_US.to_bytes(2, "little")
        elif wIndex == LANGID_EN_US and index in printer.strings():
            text = printer.strings()[index].encode("utf-16-le")
            descriptor = bytes([2 + len(text), 3]) + text
        else:
            raise libusb_error(LIBUSB_ERROR_PIPE)
        n = min(len(descriptor), len(data))
        data[:n] = array.array("B", descriptor[:n])
        return n


__all__ = [
    "EP_IN",
    "EP_OUT",
    "HEALTHY",
    "LIBUSB_ERROR_ACCESS",
    "LIBUSB_ERROR_BUSY",
    "LIBUSB_ERROR_IO",
    "LIBUSB_ERROR_NOT_FOUND",
    "LIBUSB_ERROR_NO_DEVICE",
    "LIBUSB_ERROR_PIPE",
    "FakeLibusb",
    "FakeUsbPrinter",
    "SimulatedClock",
    "libusb_error",
]
