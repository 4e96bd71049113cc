"""The BLE link over bleak (pinned 3.1): the only module that imports bleak.

Each connect finds the device again: first among the devices the system is already connected
to (a printer kept connected by a previous run does not advertise), then by a scan for its
address. bleak's errors become BleLinkError with their kind (drivers.bluetooth.failures).
Tests pass fake bleak backends through bleak's own `backend=` arguments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bleak import BleakAdapter, BleakClient, BleakScanner
from bleak.backends.adapter import BaseBleakAdapter
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.backends.service import BleakGATTServiceCollection
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakGATTProtocolError,
)

from drivers.bluetooth.failures import BleFailure, BleLinkError, classify
from drivers.bluetooth.link import (
    DEFAULT_WRITE_WITHOUT_RESPONSE,
    READ,
    GattCharacteristic,
    GattService,
    NotifyCallback,
    not_connected,
)
from drivers.bluetooth.services import PRINTER_SERVICES

log = logging.getLogger(__name__)

# A disconnect that hangs is abandoned after this long (BlueZ finishes it on its own).
_DISCONNECT_S = 2.0
# Generic Attribute: on essentially every device, so "connected devices" lists them all.
_GENERIC_ATTRIBUTE = "00001801-0000-1000-8000-00805f9b34fb"

_UNAVAILABLE = {
    BleakBluetoothNotAvailableReason.NO_BLUETOOTH: BleFailure.NO_ADAPTER,
    BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE: BleFailure.NO_ADAPTER,
    BleakBluetoothNotAvailableReason.POWERED_OFF: BleFailure.ADAPTER_OFF,
    BleakBluetoothNotAvailableReason.DENIED_BY_USER: BleFailure.DENIED,
    BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM: BleFailure.DENIED,
    BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN: BleFailure.DENIED,
}


@dataclass(frozen=True, slots=True)
class Backends:
    """bleak backends to use instead of the platform's (None: the platform's): the test seam."""

    client: type[BaseBleakClient] | None = None
    scanner: type[BaseBleakScanner] | None = None
    adapter: type[BaseBleakAdapter] | None = None


def translate(err: BaseException) -> BleLinkError:
    """A bleak (or D-Bus) error as a BleLinkError of its kind."""
    if isinstance(err, BleLinkError):
        return err
    if isinstance(err, BleakBluetoothNotAvailableError):
        return BleLinkError(_UNAVAILABLE.get(err.reason, BleFailure.NO_BLUEZ), str(err.args[0]))
    if isinstance(err, BleakDeviceNotFoundError):
        text = " ".join(str(a) for a in err.args) or f"Device {err.identifier} was not found"
        return BleLinkError(BleFailure.NOT_FOUND, text)
    if isinstance(err, PermissionError):
        return BleLinkError(BleFailure.DENIED, f"the system D-Bus refused us: {err}")
    if isinstance(err, (FileNotFoundError, ConnectionRefusedError)):
        # What dbus-fast raises when the system bus socket is missing: no D-Bus, so no BlueZ.
        return BleLinkError(BleFailure.NO_BLUEZ, f"the system D-Bus is not running: {err}")
    if isinstance(err, TimeoutError):
        return BleLinkError(BleFailure.TIMEOUT, str(err) or "timed out")
    text = str(err.args[-1]) if isinstance(err, BleakGATTProtocolError) else str(err)
    text = text or type(err).__name__
    return BleLinkError(classify(text), text)


class BleakLink:
    """The link to one device through bleak (drivers.bluetooth.link.BleLink)."""

    def __init__(self, address: str, backends: Backends, services: Iterable[str]) -> None:
        self._address = address.upper()
        self._backends = backends
        self._services = frozenset({_GENERIC_ATTRIBUTE, *services})
        self._client: BleakClient | None = None

    @property
    def address(self) -> str:
        return self._address

    @property
    def is_connected(self) -> bool:
        client = self._client
        return client is not None and client.is_connected

    async def connect(self, timeout: float, on_disconnect: Callable[[], None]) -> None:
        await self.disconnect()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            device = await self._find(timeout)
            client = BleakClient(
                device,
                disconnected_callback=lambda _client: on_disconnect(),
                timeout=max(deadline - loop.time(), 0.1),
                backend=self._backends.client,
            )
            await client.connect()
        except Exception as err:
            raise translate(err) from err
        self._client = client

    async def _find(self, timeout: float) -> BLEDevice:
        """The device: already connected to this machine, or advertising within `timeout`."""
        try:
            adapter = await BleakAdapter.get(backend=self._backends.adapter)
            connected = await adapter.get_connected_devices(service_uuids=list(self._services))
        except NotImplementedError:  # a platform without the call: scan
            connected = []
        for device in connected:
            if device.address.upper() == self._address:
                return device
        scanner = self._backends.scanner
        if scanner is None:
            found = await BleakScanner.find_device_by_address(self._address, timeout=timeout)
        else:
            found = await BleakScanner.find_device_by_address(
                self._address, timeout=timeout, backend=scanner
            )
        if found is None:
            raise BleLinkError(
                BleFailure.NOT_FOUND,
                f"Device with address {self._address} was not found: no advertisement within "
                f"{timeout:g} s (off, out of range, or connected to a phone or another box)",
            )
        return found

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            async with asyncio.timeout(_DISCONNECT_S):
                await client.disconnect()
        except Exception as err:  # noqa: BLE001 (the connection is given up either way)
            log.debug("%s: disconnect: %s", self._address, err)

    def services(self) -> tuple[GattService, ...]:
        return tuple(
            GattService(
                service.uuid,
                tuple(_characteristic(c) for c in service.characteristics),
            )
            for service in self._discovered()
        )

    def _discovered(self) -> BleakGATTServiceCollection:
        client = self._client
        if client is None:
            raise not_connected(self._address)
        try:
            return client.services  # "Service Discovery has not been performed yet" if none
        except Exception as err:
            raise translate(err) from err

    async def write(self, char: str, data: bytes, *, response: bool) -> None:
        client = self._connected()
        try:
            await client.write_gatt_char(char, data, response=response)
        except Exception as err:
            raise translate(err) from err

    async def start_notify(self, char: str, callback: NotifyCallback) -> None:
        client = self._connected()

        def notified(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            callback(bytes(data))

        try:
            await client.start_notify(char, notified)
        except Exception as err:
            raise translate(err) from err

    async def ping(self) -> None:
        """Read a readable characteristic (a round trip to the device); a device with none
        is judged by the stack's connection state and its service table alone."""
        client = self._connected()
        readable = next(
            (c for s in self._discovered() for c in s.characteristics if READ in c.properties),
            None,
        )
        if readable is None:
            return
        try:
            await client.read_gatt_char(readable)
        except BleakGATTProtocolError:
            return  # an error response is an answer: the connection carries requests
        except Exception as err:
            raise translate(err) from err

    def _connected(self) -> BleakClient:
        client = self._client
        if client is None or not client.is_connected:
            raise not_connected(self._address)
        return client


def _characteristic(char: BleakGATTCharacteristic) -> GattCharacteristic:
    try:
        size = char.max_write_without_response_size
    except Exception:  # noqa: BLE001 (a backend that cannot tell: the ATT minimum)
        size = DEFAULT_WRITE_WITHOUT_RESPONSE
    return GattCharacteristic(
        char.uuid.lower(), frozenset(char.properties), max(size, DEFAULT_WRITE_WITHOUT_RESPONSE)
    )


class BleakLinks:
    """The links to BLE devices through bleak, one per address (a BleLinkFactory)."""

    def __init__(self, backends: Backends | None = None) -> None:
        self.backends = backends or Backends()
        self._links: dict[str, BleakLink] = {}

    def __call__(self, address: str) -> BleakLink:
        key = address.upper()
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = BleakLink(key, self.backends, PRINTER_SERVICES)
        return link

    async def aclose(self) -> None:
        """Disconnect every link (kept connections included): at shut-down."""
        for link in list(self._links.values()):
            await link.disconnect()


_shared: BleakLinks | None = None


def shared_links() -> BleakLinks:
    """The process's links through the platform's Bluetooth stack (BleTransport's default)."""
    global _shared  # noqa: PLW0603 (one set of connections per process, made on first use)
    if _shared is None:
        _shared = BleakLinks()
    return _shared


async def close_shared_links() -> None:
    """Disconnect the process's kept connections, if it made any (the daemon at shut-down, a
    command line tool when done): a printer left connected serves no phone or other box."""
    global _shared
    links, _shared = _shared, None
    if links is not None:
        await links.aclose()
