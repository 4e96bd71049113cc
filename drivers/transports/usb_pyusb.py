"""The pyusb path of `usb://`: a printer interface claimed through libusb (run in threads)."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drivers.errors import DeviceUnavailableError, UnsupportedTransportError
from drivers.transports.usb import UsbAddress, refuse_ambiguous

log = logging.getLogger(__name__)

_PRINTER_CLASS = 7


def _is_timeout(err: BaseException) -> bool:
    name = type(err).__name__
    return name == "USBTimeoutError" or getattr(err, "errno", None) == errno.ETIMEDOUT


def _usb_error(address: UsbAddress, err: OSError) -> Exception:
    if err.errno in (errno.EACCES, errno.EPERM):
        return DeviceUnavailableError(
            f"USB printer {address}: permission denied (a udev rule must give the daemon access)"
        )
    if err.errno == errno.EBUSY:
        return DeviceUnavailableError(f"USB printer {address} is in use by another program")
    if err.errno in (errno.ENODEV, errno.ENOENT):
        return DeviceUnavailableError(f"USB printer {address} is not there (unplugged?)")
    return DeviceUnavailableError(f"USB printer {address}: {err}")


class PyUsbPrinter:
    """A printer interface claimed through pyusb. Every method blocks: run it in a thread."""

    def __init__(self, usb: Any, device: Any, interface: int, out: Any, in_: Any) -> None:
        self.usb = usb
        self.device = device
        self.interface = interface
        self.out = out
        self.in_ = in_
        self.reattach = False
        self._idle = threading.Condition()
        self._in_flight = 0
        self._closed = False

    @classmethod
    def claim(cls, usb: Any, address: UsbAddress, backend: object | None = None) -> PyUsbPrinter:
        """Find the device, detach the kernel driver, claim the printer interface.

        `backend` is a pyusb backend; None lets pyusb load libusb.
        """
        try:
            found = list(
                usb.core.find(
                    find_all=True,
                    backend=backend,
                    idVendor=address.vendor_id,
                    idProduct=address.product_id,
                )
            )
        except usb.core.NoBackendError as err:
            raise UnsupportedTransportError(
                "usb:// through pyusb needs libusb-1.0, which pyusb could not load "
                "(Debian package libusb-1.0-0)"
            ) from err
        except OSError as err:  # libusb could not list the devices
            raise _usb_error(address, err) from err
        printer: PyUsbPrinter | None = None
        try:
            printer = cls._claim(usb, _choose(address, found), address)
        except OSError as err:  # pyusb's USBError is an OSError
            raise _usb_error(address, err) from err
        finally:
            # Reading serial numbers opened devices: close every one but the printer claimed.
            for device in found:
                if printer is None or device is not printer.device:
                    usb.util.dispose_resources(device)
        return printer

    @classmethod
    def _claim(cls, usb: Any, device: Any, address: UsbAddress) -> PyUsbPrinter:
        try:
            config = device.get_active_configuration()
        except usb.core.USBError:
            device.set_configuration()  # not configured yet: take the first configuration
            config = device.get_active_configuration()
        interfaces = list(config)
        printers = [i for i in interfaces if i.bInterfaceClass == _PRINTER_CLASS]
        for interface in printers or interfaces:
            out = _bulk_endpoint(usb, interface, usb.util.ENDPOINT_OUT)
            if out is not None:
                break
        else:
            raise UnsupportedTransportError(f"USB device {address} has no bulk OUT endpoint")
        number = int(interface.bInterfaceNumber)
        printer = cls(
            usb, device, number, out, _bulk_endpoint(usb, interface, usb.util.ENDPOINT_IN)
        )
        try:
            if device.is_kernel_driver_active(number):
                device.detach_kernel_driver(number)
                printer.reattach = True
        except NotImplementedError:
            pass  # backends without kernel drivers to detach
        try:
            usb.util.claim_interface(device, number)
        except BaseException:
            printer.close()  # usblp must not lose a printer we could not take
            raise
        return printer

    @contextmanager
    def _transfer(self) -> Iterator[None]:
        """A transfer in flight: close() waits for it to end; none starts once closed."""
        with self._idle:
            if self._closed:
                raise OSError(errno.ENODEV, "the USB printer was closed")
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def write(self, chunk: bytes, timeout_ms: int) -> int:
        """Send one chunk; how much the printer took, short (or TimeoutError) when time ran out."""
        try:
            with self._transfer():
                return int(self.out.write(chunk, timeout_ms))
        except OSError as err:
            if _is_timeout(err):
                raise TimeoutError(str(err)) from err
            raise

    def read(self, n: int, timeout_ms: int) -> bytes:
        """Up to one transfer of data; b"" when libusb's timeout ran out."""
        if self.in_ is None:
            return b""
        size = max(n, int(self.in_.wMaxPacketSize))  # a shorter buffer overflows on a full packet
        try:
            with self._transfer():
                return bytes(self.in_.read(size, timeout_ms))
        except OSError as err:
            if _is_timeout(err):
                return b""
            raise

    def close(self) -> None:
        """Release the interface and give it back to the kernel driver; never raises.

        A transfer still in flight (its caller was cancelled) ends first, at its libusb
        timeout: libusb must not release or close under it.
        """
        with self._idle:
            if self._closed:
                return
            self._closed = True
            self._idle.wait_for(lambda: self._in_flight == 0)
        usb = self.usb
        try:
            try:
                usb.util.release_interface(self.device, self.interface)
            except (OSError, NotImplementedError) as err:
                log.warning("releasing USB printer: %s", err)
            if self.reattach:
                try:
                    self.device.attach_kernel_driver(self.interface)
                except (OSError, NotImplementedError) as err:
                    log.warning("giving the USB printer back to the kernel driver: %s", err)
        finally:
            usb.util.dispose_resources(self.device)


def _serial_number(device: Any) -> str | None:
    """The serial number string; None when the device has none or it cannot be read."""
    try:
        serial = device.serial_number
    except (OSError, ValueError):  # no access to string descriptors, or none
        return None
    return None if serial is None else str(serial)


def _serial_label(device: Any) -> str:
    """The serial number as an error message shows it."""
    serial = _serial_number(device)
    if serial is not None:
        return serial
    # pyusb reads strings through the device: failing means no access to it.
    return "(unreadable)" if device.iSerialNumber else "(none)"


def _choose(address: UsbAddress, found: list[Any]) -> Any:
    """The one device among those with the address's ids that the address names."""
    if address.serial is None:
        if len(found) > 1:
            refuse_ambiguous(address, [_serial_label(device) for device in found])
        chosen = found
    else:
        chosen = [device for device in found if _serial_number(device) == address.serial]
    if chosen:
        return chosen[0]
    if not found:
        raise DeviceUnavailableError(f"no USB printer {address} is connected")
    labels = [_serial_label(device) for device in found]
    hint = (
        " (a serial number is unreadable when the daemon's user has no access to the device: "
        "a udev rule must give it)"
        if "(unreadable)" in labels
        else ""
    )
    raise DeviceUnavailableError(
        f"no USB printer {address} is connected; the serial numbers of those with its ids: "
        f"{', '.join(labels)}{hint}"
    )


def _bulk_endpoint(usb: Any, interface: Any, direction: int) -> Any:
    util = usb.util
    for endpoint in interface:
        address, attributes = endpoint.bEndpointAddress, endpoint.bmAttributes
        if (
            util.endpoint_direction(address) == direction
            and util.endpoint_type(attributes) == util.ENDPOINT_TYPE_BULK
        ):
            return endpoint
    return None
