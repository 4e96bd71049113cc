"""Fake bleak backends (scanner, client, adapter) over a simulated radio, given to bleak through
its own `backend=` arguments: the bleak adapter (drivers.bluetooth.bleak_link) runs through the
real BleakScanner / BleakClient / BleakAdapter facades of the pinned bleak 3.1 without BlueZ.

    air = FakeAir()
    air.add(FakeDevice("AA:…", services={"18f0": {"2af1": ["write-without-response"]}}))
    links = BleakLinks(air.backends())

Faults are bleak's own exceptions with BlueZ's texts, raised where BlueZ raises them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from bleak.backends.adapter import BaseBleakAdapter
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bleak.uuids import normalize_uuid_str

from drivers.bluetooth.bleak_link import Backends

#: service uuid -> characteristic uuid -> properties (bleak's names)
Layout = dict[str, dict[str, list[str]]]


@dataclass
class FakeDevice:
    """A BLE peripheral on the fake radio."""

    address: str
    services: Layout
    name: str = "Printer"
    advertising: bool = True
    max_write_without_response: int = 20
    #: connected to the machine already (e.g. kept by an earlier run): found without a scan
    connected_to_system: bool = False
    #: called for each write; what it returns is notified on every subscribed characteristic
    answer: Callable[[bytes], bytes] = field(default=lambda _data: b"")


@dataclass(frozen=True)
class Written:
    address: str
    char: str
    data: bytes
    response: bool


class FakeAir:
    """What the fake backends see: devices, faults to inject, and what was done."""

    def __init__(self) -> None:
        self.devices: dict[str, FakeDevice] = {}
        self.writes: list[Written] = []
        self.scans = 0
        self.reads = 0
        #: raised by the next client connects, one each
        self.connect_errors: list[BaseException] = []
        #: raised when the adapter or a scanner starts (no D-Bus, no adapter, …)
        self.radio_error: BaseException | None = None
        #: connections come up without services (BlueZ's stale cache)
        self.no_services = False
        self.clients: dict[str, FakeBleakClient] = {}

    def add(self, device: FakeDevice) -> FakeDevice:
        self.devices[device.address.upper()] = device
        return device

    def backends(self) -> Backends:
        air = self

        class Scanner(FakeBleakScanner):
            pass

        class Client(FakeBleakClient):
            pass

        class Adapter(FakeBleakAdapter):
            pass

        Scanner.air = Client.air = Adapter.air = air
        return Backends(client=Client, scanner=Scanner, adapter=Adapter)

    def drop(self, address: str) -> None:
        """The device drops its connection (an unsolicited disconnect)."""
        client = self.clients.get(address.upper())
        if client is not None and client.connected:
            client.connected = False
            if client.disconnected is not None:
                asyncio.get_running_loop().call_soon(client.disconnected)


class FakeBleakScanner(BaseBleakScanner):
    air: FakeAir

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        if self.air.radio_error is not None:
            raise self.air.radio_error
        self.air.scans += 1
        self.seen_devices = {}
        # After start() returns the caller registers its callback: advertise on the next turn.
        asyncio.get_running_loop().call_soon(self._advertise)

    async def stop(self) -> None:
        return

    def _advertise(self) -> None:
        for device in self.air.devices.values():
            if not device.advertising:
                continue
            uuids = [normalize_uuid_str(u) for u in device.services]
            if not self.is_allowed_uuid(uuids):
                continue
            adv = AdvertisementData(device.name, {}, {}, uuids, None, -60, ())
            found = self.create_or_update_device(
                device.address, device.address, device.name, {}, adv
            )
            self.call_detection_callbacks(found, adv)


class FakeBleakAdapter(BaseBleakAdapter):
    air: FakeAir

    @classmethod
    async def get(cls, **kwargs: Any) -> Self:
        if cls.air.radio_error is not None:
            raise cls.air.radio_error
        return cls()

    async def get_connected_devices(self, service_uuids: frozenset[str]) -> list[BLEDevice]:
        return [
            BLEDevice(d.address, d.name, {})
            for d in self.air.devices.values()
            if d.connected_to_system
            and {normalize_uuid_str(u) for u in d.services} & set(service_uuids)
        ]


class FakeBleakClient(BaseBleakClient):
    air: FakeAir

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self.connected = False
        self.notifying: dict[str, NotifyCallback] = {}

    @property
    def disconnected(self) -> Callable[[], None] | None:
        return self._disconnected_callback

    @property
    def mtu_size(self) -> int:
        return 23

    @property
    def is_connected(self) -> bool:
        return self.connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        air = self.air
        if air.connect_errors:
            raise air.connect_errors.pop(0)
        device = air.devices.get(self.address.upper())
        if device is None:
            raise BleakError(f"Device with address {self.address} was not found.")
        self.services = None if air.no_services else _collection(device)
        self.connected = True
        air.clients[device.address.upper()] = self

    async def disconnect(self) -> None:
        self.connected = False
        self.notifying.clear()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def unpair(self) -> None:
        raise NotImplementedError

    def _check(self) -> FakeDevice:
        if not self.connected:
            raise BleakError("Not connected")
        return self.air.devices[self.address.upper()]

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._check()
        self.air.reads += 1
        if "read" not in characteristic.properties:
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.READ_NOT_PERMITTED)
        return bytearray(b"Fake Printer Co.")

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise NotImplementedError

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        device = self._check()
        props = characteristic.properties
        if response and "write" not in props:
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED)
        if not response and "write-without-response" not in props:
            raise BleakError("[org.bluez.Error.NotSupported] Operation is not supported")
        limit = 512 if response else characteristic.max_write_without_response_size
        if len(data) > limit:
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
        self.air.writes.append(Written(device.address, characteristic.uuid, bytes(data), response))
        if answer := device.answer(bytes(data)):
            for callback in list(self.notifying.values()):
                callback(bytearray(answer))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise NotImplementedError

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._check()
        if not {"notify", "indicate"} & set(characteristic.properties):
            raise BleakError("[org.bluez.Error.NotSupported] Operation is not supported")
        self.notifying[characteristic.uuid] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self.notifying.pop(characteristic.uuid, None)


def _collection(device: FakeDevice) -> BleakGATTServiceCollection:
    """The device's GATT table as bleak's objects, handles numbered in order."""
    collection = BleakGATTServiceCollection()
    handle = 1
    for service_uuid, chars in device.services.items():
        service = BleakGATTService(None, handle, normalize_uuid_str(service_uuid))
        collection.add_service(service)
        handle += 1
        for char_uuid, props in chars.items():
            char = BleakGATTCharacteristic(
                None,
                handle,
                normalize_uuid_str(char_uuid),
                props,  # type: ignore[arg-type]
                lambda: device.max_write_without_response,
                service,
            )
            collection.add_characteristic(char)
            handle += 2
    return collection
