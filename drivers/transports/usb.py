"""`usb://VID:PID[?serial=S]`: USB printers, through the kernel's usblp driver or pyusb.

When the kernel's usblp driver holds the printer, its `/dev/usb/lpN` node is found
through sysfs (`/sys/class/usbmisc/lpN/device/..` is the USB device, with `idVendor`,
`idProduct` and `serial`) and written non-blocking with deadlines. Otherwise pyusb
(optional, imported lazily) claims the printer interface; its blocking calls run in a
thread, each with a libusb timeout.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.transports.base import PrinterTransport
from drivers.transports.device import DeviceFile, call_in_thread

if TYPE_CHECKING:
    from drivers.transports.usb_pyusb import PyUsbPrinter

log = logging.getLogger(__name__)

SYSFS_ROOT = Path("/sys")
DEV_ROOT = Path("/dev")

_IDS = re.compile(r"^(?P<vid>[0-9A-Fa-f]{1,4}):(?P<pid>[0-9A-Fa-f]{1,4})$")
_USBLP_CLASSES = ("usbmisc", "usb")  # /sys/class/usb on kernels before 2.6.22
_CHUNK = 4096
_CLOSE_TIMEOUT_S = 2.0
# A usblp printer without a bulk-in endpoint refuses reads: it never answers, which is silence.
_NO_INPUT = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS})


@dataclass(frozen=True, slots=True)
class UsbAddress:
    """Which USB printer a usb:// URI names."""

    vendor_id: int
    product_id: int
    serial: str | None = None

    def __str__(self) -> str:
        ids = f"{self.vendor_id:04x}:{self.product_id:04x}"
        return ids if self.serial is None else f"{ids} (serial {self.serial})"


@dataclass(frozen=True, slots=True)
class UsbDevice:
    """A USB device as sysfs shows it."""

    sysfs_path: Path
    vendor_id: int
    product_id: int
    serial: str | None

    def matches(self, address: UsbAddress) -> bool:
        """Same ids, and the same serial number when the address gives one."""
        return (
            self.vendor_id == address.vendor_id
            and self.product_id == address.product_id
            and (address.serial is None or self.serial == address.serial)
        )


@dataclass(frozen=True, slots=True)
class Usblp:
    """A printer held by the kernel's usblp driver: its name (lp0) and device node, if any."""

    name: str
    node: Path | None
    device: UsbDevice


def parse_usb_uri(uri: str) -> UsbAddress:
    """Read a usb:// URI; UnsupportedTransportError when it is malformed."""
    parts = urlsplit(uri)
    match = _IDS.match(parts.netloc)
    if parts.scheme != "usb" or match is None or parts.path not in ("", "/"):
        raise UnsupportedTransportError(
            f"{uri} should be usb://VID:PID[?serial=S] with hexadecimal ids, e.g. usb://04b8:0202"
        )
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as err:
        raise UnsupportedTransportError(f"{uri}: malformed query: {err}") from err
    unknown = sorted(set(query) - {"serial"})
    if unknown:
        raise UnsupportedTransportError(f"{uri}: unknown parameter(s) {', '.join(unknown)}")
    serials = query.get("serial", [])
    if len(serials) > 1 or (serials and not serials[0]):
        raise UnsupportedTransportError(f"{uri}: give one non-empty serial")
    return UsbAddress(int(match["vid"], 16), int(match["pid"], 16), serials[0] if serials else None)


def read_usb_device(directory: Path) -> UsbDevice | None:
    """The USB device whose sysfs directory this is, or None (an interface, a hub port…)."""
    try:
        vendor = (directory / "idVendor").read_text().strip()
        product = (directory / "idProduct").read_text().strip()
        vendor_id, product_id = int(vendor, 16), int(product, 16)
    except (OSError, ValueError):
        return None
    try:
        serial: str | None = (directory / "serial").read_text().strip()
    except OSError:
        serial = None  # the device has no serial number string
    return UsbDevice(directory, vendor_id, product_id, serial)


def find_usb_devices(address: UsbAddress, sysfs_root: Path = SYSFS_ROOT) -> list[UsbDevice] | None:
    """Connected USB devices matching `address`; None when sysfs shows no USB bus at all."""
    bus = sysfs_root / "bus" / "usb" / "devices"
    if not bus.is_dir():
        return None
    found = (read_usb_device(entry.resolve()) for entry in sorted(bus.iterdir()))
    return [device for device in found if device is not None and device.matches(address)]


def find_usblp(
    address: UsbAddress, sysfs_root: Path = SYSFS_ROOT, dev_root: Path = DEV_ROOT
) -> list[Usblp]:
    """usblp printers matching `address`, with their device node when it exists."""
    found: list[Usblp] = []
    for class_name in _USBLP_CLASSES:
        class_dir = sysfs_root / "class" / class_name
        if not class_dir.is_dir():
            continue
        for entry in sorted(class_dir.glob("lp*")):
            # lpN/device is the printer interface; its parent directory is the USB device.
            device = read_usb_device((entry / "device").resolve().parent)
            if device is None or not device.matches(address):
                continue
            nodes = (dev_root / "usb" / entry.name, dev_root / f"usb{entry.name}")
            node = next((path for path in nodes if path.exists()), None)
            found.append(Usblp(entry.name, node, device))
    return found


def refuse_ambiguous(address: UsbAddress, serials: Sequence[str | None]) -> None:
    """Two identical printers without a serial in the URI: refuse to pick one at random."""
    if len(serials) > 1:
        listed = ", ".join(s or "(none)" for s in serials)
        raise UnsupportedTransportError(
            f"{len(serials)} USB printers match {address}: add ?serial=… to the URI "
            f"(their serial numbers: {listed})"
        )


def _open_node(node: Path) -> int:
    try:
        return os.open(node, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.EBUSY:
            raise DeviceUnavailableError(f"{node} is in use by another program") from err
        if err.errno in (errno.EACCES, errno.EPERM):
            raise DeviceUnavailableError(
                f"{node}: permission denied (a udev rule must give the daemon's user access)"
            ) from err
        if err.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            raise DeviceUnavailableError(f"{node} is not there (unplugged?)") from err
        raise DeviceUnavailableError(f"{node}: {err.strerror or err}") from err


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError as err:
        log.warning("closing a USB printer node: %s", err)


def _import_pyusb() -> Any:
    import usb.core
    import usb.util

    return usb


class UsbTransport(PrinterTransport):
    """`usb://VID:PID[?serial=S]`; `sysfs_root`, `dev_root` and `usb_backend` are for tests.

    `usb_backend` is the pyusb backend to use; None lets pyusb load libusb.
    """

    bidirectional = True  # usblp: most printers answer; silence is tolerated

    def __init__(
        self,
        uri: str,
        *,
        connect_timeout: float = 5.0,
        write_timeout: float = 10.0,
        sysfs_root: Path = SYSFS_ROOT,
        dev_root: Path = DEV_ROOT,
        usb_backend: object | None = None,
    ):
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        self.address = parse_usb_uri(uri)
        self.sysfs_root = sysfs_root
        self.dev_root = dev_root
        self.usb_backend = usb_backend
        self._file: DeviceFile | None = None
        self._pyusb: PyUsbPrinter | None = None
        self._unread = b""

    @property
    def is_open(self) -> bool:
        return self._file is not None or self._pyusb is not None

    async def open(self) -> None:
        if self.is_open:
            return
        try:
            opened = await call_in_thread(
                self._find_and_open, self.connect_timeout, on_late=self._close_late
            )
        except TimeoutError as err:
            raise DeviceUnavailableError(
                f"USB printer {self.address} did not open within {self.connect_timeout:g} s"
            ) from err
        if isinstance(opened, DeviceFile):
            self._file = opened
            self.bidirectional = True
        else:
            self._pyusb = opened
            self.bidirectional = opened.in_ is not None

    def _find_and_open(self) -> DeviceFile | PyUsbPrinter:
        """Find and open the printer (blocking: runs in a thread)."""
        address = self.address
        held = find_usblp(address, self.sysfs_root, self.dev_root)
        if address.serial is None:
            refuse_ambiguous(address, [lp.device.serial for lp in held])
        for lp in held:
            if lp.node is not None:
                fd = _open_node(lp.node)
                return DeviceFile(
                    fd, str(lp.node), empty_read_is_eof=False, no_input_errnos=_NO_INPUT
                )
        present = find_usb_devices(address, self.sysfs_root)
        if present == []:
            raise DeviceUnavailableError(f"no USB printer {address} is connected")
        if present is not None and address.serial is None:
            refuse_ambiguous(address, [device.serial for device in present])
        try:
            usb = _import_pyusb()
        except ImportError as err:
            if held:
                hint = f"the kernel's usblp driver has it as {held[0].name} but no device node"
            elif present:
                hint = "it is connected but the kernel's usblp driver does not hold it"
            else:
                hint = "this machine shows no USB bus in sysfs"
            raise UnsupportedTransportError(
                f"USB printer {address}: {hint}, and pyusb is not installed to reach it directly"
            ) from err
        from drivers.transports.usb_pyusb import PyUsbPrinter  # only when it is needed

        return PyUsbPrinter.claim(usb, address, self.usb_backend)

    @staticmethod
    def _close_late(opened: DeviceFile | PyUsbPrinter) -> None:
        if isinstance(opened, DeviceFile):
            _close_fd(opened.fd)
        else:
            opened.close()

    async def write(self, data: bytes) -> None:
        if self._file is not None:
            try:
                await self._file.write(data, self.write_timeout)
            except (WriteTimeoutError, ConnectionLostError):
                await self._drop()
                raise
            return
        printer = self._pyusb
        if printer is None:
            raise ConnectionLostError("not connected")
        # The deadline is on progress, per transfer: each has all of `write_timeout`, so a
        # slow printer takes a long ticket; one slower than 4 KiB per deadline has stalled.
        timeout_ms = max(int(self.write_timeout * 1000), 1)
        sent = 0
        try:
            for start in range(0, len(data), _CHUNK):
                chunk = data[start : start + _CHUNK]
                try:
                    taken = await asyncio.to_thread(printer.write, chunk, timeout_ms)
                except OSError:
                    # No count comes with an error: the chunk counts as handed over, since a
                    # job whose first byte may have gone out must be taken as maybe printed.
                    sent += len(chunk)
                    raise
                sent += taken
                if taken < len(chunk):
                    # libusb's timeout ran out part-way: the rest of the chunk never went out.
                    raise TimeoutError
        except TimeoutError as err:
            await self._drop()
            raise WriteTimeoutError(
                f"USB printer {self.address} took no data for {self.write_timeout:g} s, "
                f"after {sent} of {len(data)} bytes",
                sent,
            ) from err
        except OSError as err:
            await self._drop()
            raise ConnectionLostError(f"USB printer {self.address}: {err}", sent) from err

    async def read(self, n: int, timeout: float) -> bytes:
        if self._file is not None:
            try:
                return await self._file.read(n, timeout)
            except ConnectionLostError:
                await self._drop()
                raise
        printer = self._pyusb
        if printer is None:
            raise ConnectionLostError("not connected")
        if not self._unread:
            # libusb reads 0 ms as "wait forever": the shortest real wait is 1 ms.
            timeout_ms = max(int(timeout * 1000), 1)
            try:
                self._unread = await asyncio.to_thread(printer.read, n, timeout_ms)
            except OSError as err:
                await self._drop()
                raise ConnectionLostError(f"USB printer {self.address}: {err}") from err
        data, self._unread = self._unread[:n], self._unread[n:]
        return data

    async def close(self) -> None:
        file = self._file
        try:
            if file is not None:
                # usblp drops a transfer still in flight at close: let the last one finish.
                await file.wait_writable(self.write_timeout)
        finally:
            await self._drop()

    async def _drop(self) -> None:
        """Close at once: what the printer has not taken yet is dropped."""
        file, printer = self._file, self._pyusb
        self._file, self._pyusb, self._unread = None, None, b""
        if file is not None:
            _close_fd(file.fd)
        if printer is not None:
            try:
                await call_in_thread(printer.close, _CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning(
                    "USB printer %s: release left to finish in the background", self.address
                )


__all__ = ["UsbAddress", "UsbDevice", "UsbTransport", "Usblp", "find_usb_devices", "find_usblp"]
