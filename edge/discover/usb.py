"""USB printers: devices with a printer-class interface (class 7), read from sysfs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from edge.discover.found import Found, Source, SourceSkipped, Tick, no_tick

PRINTER_CLASS = 0x07
SYSFS_ROOT = Path("/sys")
# bInterfaceProtocol of the printer class (USB Printer Class 1.1, §4.3)
_PROTOCOLS = {1: "unidirectional", 2: "bidirectional", 3: "IEEE 1284.4"}


@dataclass(frozen=True, slots=True)
class UsbPrinter:
    """A USB device with a printer-class interface, as sysfs shows it."""

    vendor_id: int
    product_id: int
    manufacturer: str
    product: str
    serial: str
    protocol: str
    driver: str

    @property
    def uri(self) -> str:
        """usb://VID:PID, with the serial when the device has one."""
        ids = f"usb://{self.vendor_id:04x}:{self.product_id:04x}"
        return f"{ids}?serial={quote(self.serial, safe='')}" if self.serial else ids


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _hex(path: Path) -> int | None:
    try:
        return int(_read(path), 16)
    except ValueError:
        return None


def usb_printers(sysfs_root: Path = SYSFS_ROOT) -> list[UsbPrinter]:
    """Every USB device with a printer-class interface, in bus order (blocking: sysfs reads)."""
    devices = sysfs_root / "bus" / "usb" / "devices"
    if not devices.is_dir():
        raise SourceSkipped(f"no USB bus on this machine ({devices} is missing)")
    printers: dict[str, UsbPrinter] = {}
    for interface in sorted(devices.iterdir()):
        name = interface.name
        if ":" not in name or _hex(interface / "bInterfaceClass") != PRINTER_CLASS:
            continue
        device_name = name.partition(":")[0]
        device = devices / device_name
        vendor, product = _hex(device / "idVendor"), _hex(device / "idProduct")
        if vendor is None or product is None or device_name in printers:
            continue
        driver = interface / "driver"
        printers[device_name] = UsbPrinter(
            vendor_id=vendor,
            product_id=product,
            manufacturer=_read(device / "manufacturer"),
            product=_read(device / "product"),
            serial=_read(device / "serial"),
            protocol=_PROTOCOLS.get(_hex(interface / "bInterfaceProtocol") or 0, "unknown"),
            driver=driver.resolve().name if driver.is_symlink() else "",
        )
    return list(printers.values())


def _found(printer: UsbPrinter) -> Found:
    what = " ".join(p for p in (printer.manufacturer, printer.product) if p) or "USB printer"
    details = [f"USB printer class: {what}", printer.protocol]
    if printer.serial:
        details.append(f"serial {printer.serial}")
    details.append(f"driver {printer.driver}" if printer.driver else "no kernel driver bound")
    return Found(Source.USB, printer.uri, printer.product or what, ", ".join(details))


async def find_usb(sysfs_root: Path = SYSFS_ROOT, tick: Tick = no_tick) -> list[Found]:
    """The USB printers plugged into this machine."""
    printers = await asyncio.to_thread(usb_printers, sysfs_root)
    tick(len(printers), len(printers))
    return [_found(p) for p in printers]
