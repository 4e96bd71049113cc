"""Bluetooth LE discovery through bleak's own BleakScanner with a fake backend (`backend=`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)

from drivers.bluetooth.services import PRINTER_SERVICES
from drivers.bluetooth.uris import parse_ble_uri
from edge.config.uris import check_printer_uri
from edge.discover import Source, SourceFailed, SourceSkipped
from edge.discover.ble import adapter_missing, find_ble

ISSC = "49535343-FE7D-4AE5-8FA9-9FAFD205E455"  # upper case, as some stacks report it
HEART_RATE = "0000180d-0000-1000-8000-00805f9b34fb"
GENERIC_18F0 = "000018f0-0000-1000-8000-00805f9b34fb"


def advert(name: str | None, services: list[str], rssi: int = -60) -> AdvertisementData:
    return AdvertisementData(
        local_name=name,
        manufacturer_data={},
        service_data={},
        service_uuids=services,
        tx_power=None,
        rssi=rssi,
        platform_data=(),
    )


class FakeScanner(BaseBleakScanner):
    """A radio that hears the canned advertisements when the scan starts."""

    adverts: ClassVar[list[tuple[str, AdvertisementData]]] = []
    fail_with: ClassVar[Exception | None] = None
    filters: ClassVar[list[list[str] | None]] = []
    stopped: ClassVar[int] = 0

    def __init__(
        self, detection_callback: Any, service_uuids: list[str] | None, *a: Any, **kw: Any
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        type(self).filters.append(service_uuids)

    async def start(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.seen_devices = {}
        for address, adv in self.adverts:
            device = self.create_or_update_device(address, address, adv.local_name, None, adv)
            self.call_detection_callbacks(device, adv)

    async def stop(self) -> None:
        type(self).stopped += 1


def scanner(
    adverts: list[tuple[str, AdvertisementData]], fail_with: Exception | None = None
) -> type[FakeScanner]:
    return type(
        "Scanner",
        (FakeScanner,),
        {"adverts": adverts, "fail_with": fail_with, "filters": [], "stopped": 0},
    )


async def test_printers_are_found_by_their_services_and_nothing_else() -> None:
    backend = scanner(
        [
            ("aa:bb:cc:dd:ee:01", advert("PT-210", [ISSC], rssi=-48)),
            ("AA:BB:CC:DD:EE:02", advert(None, [GENERIC_18F0, HEART_RATE])),
            ("AA:BB:CC:DD:EE:03", advert("Watch", [HEART_RATE])),  # not a printer
            ("6F1C-22AA-UUID-ON-MACOS", advert("Mac", [GENERIC_18F0])),  # no MAC: no ble:// URI
        ]
    )
    ticks: list[tuple[int, int | None]] = []
    found = await find_ble(0.0, backend=backend, tick=lambda d, t: ticks.append((d, t)))
    assert [(f.source, f.uri, f.label) for f in found] == [
        (Source.BLE, "ble://AA:BB:CC:DD:EE:01", "PT-210"),
        (Source.BLE, "ble://AA:BB:CC:DD:EE:02", "ble-EE02"),
    ]
    assert "ISSC transparent UART" in found[0].detail
    assert "signal -48 dBm" in found[0].detail
    assert "generic 18F0" in found[1].detail
    assert "unnamed device" in found[1].detail
    for f in found:  # ready to paste: the config and the transport read them
        assert check_printer_uri(f.uri) == f.uri
        parse_ble_uri(f.uri)
    assert backend.filters == [list(PRINTER_SERVICES)]  # BlueZ filters on the printer services
    assert backend.stopped == 1
    assert ticks == [(1, None), (2, None)]


@pytest.mark.parametrize(
    ("error", "outcome", "says"),
    [
        (
            BleakBluetoothNotAvailableError(
                "No powered Bluetooth adapters found.", BleakBluetoothNotAvailableReason.POWERED_OFF
            ),
            SourceSkipped,
            "Bluetooth is not available: No powered Bluetooth adapters found.",
        ),
        (
            BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["no bluez"]),
            SourceSkipped,
            "BlueZ (bluetoothd) is not running",
        ),
        (
            FileNotFoundError(2, "No such file or directory"),
            SourceSkipped,
            "BlueZ is not reachable on the system D-Bus",
        ),
        (
            BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"]),
            SourceFailed,
            "Bluetooth LE scan failed",
        ),
        (BleakError("adapter 'hci1' not found"), SourceFailed, "hci1"),
    ],
)
async def test_a_machine_that_cannot_scan_says_why(
    error: Exception, outcome: type[Exception], says: str
) -> None:
    with pytest.raises(outcome, match=None) as caught:
        await find_ble(0.0, backend=scanner([], fail_with=error))
    assert says in str(caught.value)


async def test_without_an_adapter_the_scan_is_skipped_before_bleak_is_asked(
    tmp_path: Path,
) -> None:
    with pytest.raises(SourceSkipped, match="no Bluetooth adapter on this machine"):
        await find_ble(0.0, sysfs_root=tmp_path)
    adapters = tmp_path / "class" / "bluetooth"
    adapters.mkdir(parents=True)
    assert await asyncio.to_thread(adapter_missing, tmp_path) is not None
    (adapters / "hci0").mkdir()
    assert await asyncio.to_thread(adapter_missing, tmp_path) is None


def test_the_cli_does_not_import_bleak_until_a_scan_runs() -> None:
    code = (
        "import sys, edge.cli, edge.cli_printers, edge.discover\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bleak', 'zeroconf')))\n"
        "import edge.discover.plan, edge.discover.ble\n"
        "edge.discover.plan.source_runs(edge.discover.Plan())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'bleak'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["[]", "[]"], out.stdout
