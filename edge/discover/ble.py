"""Bluetooth LE printers, by the printer services they advertise (drivers.bluetooth.services),
with bleak's scanner for a bounded time. bleak is imported only when a scan runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.bluetooth.services import PRINTER_SERVICES, known_service
from edge.discover.found import Found, Source, SourceFailed, SourceSkipped, Tick, no_tick
from edge.discover.uris import is_mac

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

SYSFS_ROOT = Path("/sys")
# BlueZ answers start/stop within a second; beyond this it is stuck (another scan, a reset).
_START_STOP_TIMEOUT_S = 10.0
_NO_BLUEZ = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)


@dataclass(frozen=True, slots=True)
class Advertiser:
    """A device that advertised a printer service."""

    address: str
    name: str
    rssi: int | None
    services: tuple[str, ...]


def adapter_missing(sysfs_root: Path = SYSFS_ROOT) -> str | None:
    """Why no scan can run here (no Bluetooth adapter), or None (blocking: a sysfs read)."""
    adapters = sysfs_root / "class" / "bluetooth"
    try:
        if any(p.name.startswith("hci") for p in adapters.iterdir()):
            return None
    except OSError:
        pass
    return f"no Bluetooth adapter on this machine (nothing in {adapters})"


def _skip_reason(err: Exception) -> str | None:
    """Why BlueZ cannot scan, if `err` says it is missing; None for a failure of the scan."""
    from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError

    if isinstance(err, BleakBluetoothNotAvailableError):
        return f"Bluetooth is not available: {err.args[0]}"
    if isinstance(err, BleakDBusError) and err.dbus_error in _NO_BLUEZ:
        return "BlueZ (bluetoothd) is not running: install and start the bluez package"
    if isinstance(err, OSError):
        return f"BlueZ is not reachable on the system D-Bus ({err})"
    return None


async def scan(
    seconds: float, backend: type[BaseBleakScanner] | None = None, tick: Tick = no_tick
) -> list[Advertiser]:
    """Listen `seconds` for devices advertising a known printer service."""
    from bleak import BleakScanner
    from bleak.exc import BleakError

    wanted = frozenset(PRINTER_SERVICES)
    seen: dict[str, Advertiser] = {}

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        services = tuple(sorted(wanted.intersection(u.lower() for u in adv.service_uuids)))
        if not services or not is_mac(device.address):
            return
        name = adv.local_name or device.name or ""
        seen[device.address.upper()] = Advertiser(device.address.upper(), name, adv.rssi, services)
        tick(len(seen), None)

    scanner = BleakScanner(on_advertisement, list(PRINTER_SERVICES), backend=backend)
    try:
        async with asyncio.timeout(_START_STOP_TIMEOUT_S):
            await scanner.start()
        try:
            await asyncio.sleep(seconds)  # the scanning window the technician chose
        finally:
            async with asyncio.timeout(_START_STOP_TIMEOUT_S):
                await scanner.stop()
    except (BleakError, OSError) as err:
        reason = _skip_reason(err)
        if reason is not None:
            raise SourceSkipped(reason) from err
        raise SourceFailed(f"Bluetooth LE scan failed: {err}") from err
    except TimeoutError as err:
        raise SourceFailed(
            f"BlueZ did not start or stop the scan within {_START_STOP_TIMEOUT_S:g} s"
        ) from err
    return sorted(seen.values(), key=lambda a: a.address)


def _found(adv: Advertiser) -> Found:
    services = ", ".join(
        (k.name if (k := known_service(s)) is not None else s) for s in adv.services
    )
    signal = f", signal {adv.rssi} dBm" if adv.rssi is not None else ""
    name = f"'{adv.name}'" if adv.name else "unnamed device"
    return Found(
        Source.BLE,
        f"ble://{adv.address}",
        adv.name or "ble-" + adv.address[-5:].replace(":", ""),
        f"Bluetooth LE {name} advertises printer service {services}{signal}",
    )


async def find_ble(
    seconds: float,
    *,
    backend: type[BaseBleakScanner] | None = None,
    sysfs_root: Path = SYSFS_ROOT,
    tick: Tick = no_tick,
) -> list[Found]:
    """Bluetooth LE printers in range; skipped, with why, where this machine cannot scan.

    `backend` replaces the platform's scanner (tests); the adapter check is then left out.
    """
    if backend is None and (reason := await asyncio.to_thread(adapter_missing, sysfs_root)):
        raise SourceSkipped(reason)
    return [_found(a) for a in await scan(seconds, backend, tick)]
