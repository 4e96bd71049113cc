"""The seam between the BLE printer transport and a Bluetooth stack: a connection to one device.

The transport (drivers.transports.ble) owns the protocol: which characteristic, chunks, pacing,
deadlines, retries. A link only carries out GATT operations, raising BleLinkError (with its
BleFailure kind) when one fails. drivers.bluetooth.bleak_link is the link over bleak; tests
use a fake printer through the same seam.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from drivers.bluetooth.failures import BleFailure, BleLinkError

# Characteristic properties, as bleak names them.
WRITE = "write"
WRITE_WITHOUT_RESPONSE = "write-without-response"
NOTIFY = "notify"
INDICATE = "indicate"
READ = "read"

#: What a write without response may carry when the stack cannot say (ATT MTU 23 - 3).
DEFAULT_WRITE_WITHOUT_RESPONSE = 20

#: Called with the bytes of each notification, in the event loop.
NotifyCallback = Callable[[bytes], None]


@dataclass(frozen=True, slots=True)
class GattCharacteristic:
    """One characteristic of a discovered service."""

    uuid: str  # full 128-bit, lower case
    properties: frozenset[str]
    #: the largest write without response (may read 20 until the MTU exchange is done)
    max_write_without_response_size: int = DEFAULT_WRITE_WITHOUT_RESPONSE

    @property
    def writable(self) -> bool:
        return WRITE in self.properties or WRITE_WITHOUT_RESPONSE in self.properties

    @property
    def notifies(self) -> bool:
        return NOTIFY in self.properties or INDICATE in self.properties


@dataclass(frozen=True, slots=True)
class GattService:
    """One discovered service with its characteristics."""

    uuid: str  # full 128-bit, lower case
    characteristics: tuple[GattCharacteristic, ...]

    def characteristic(self, uuid: str) -> GattCharacteristic | None:
        return next((c for c in self.characteristics if c.uuid == uuid), None)


class BleLink(Protocol):
    """A connection to one BLE device; every failure is a BleLinkError.

    One task uses a link at a time. The transport puts a deadline on every call.
    """

    @property
    def address(self) -> str:
        """The device's MAC address, upper case."""
        ...

    @property
    def is_connected(self) -> bool:
        """Whether the stack believes the connection is up."""
        ...

    async def connect(self, timeout: float, on_disconnect: Callable[[], None]) -> None:
        """Find the device again (a fresh scan) and connect within `timeout` s, services
        discovered; `on_disconnect` is called in the loop if the device drops the connection."""
        ...

    async def disconnect(self) -> None:
        """Drop the connection (notifications stop with it); never raises."""
        ...

    def services(self) -> tuple[GattService, ...]:
        """The services discovered on this connection (BleFailure.STALE_CACHE when none)."""
        ...

    async def write(self, char: str, data: bytes, *, response: bool) -> None:
        """One GATT write: with response (acknowledged by the device, up to 512 bytes) or
        without (up to the characteristic's max_write_without_response_size)."""
        ...

    async def start_notify(self, char: str, callback: NotifyCallback) -> None:
        """Subscribe to the characteristic's notifications (or indications)."""
        ...

    async def ping(self) -> None:
        """A cheap operation that fails when the connection no longer carries requests."""
        ...


class BleLinkFactory(Protocol):
    """Makes the link to a device by its address.

    The same link object for the same address for the factory's lifetime: a connection kept
    between batches (`connect=keep`) outlives the transport that opened it.
    """

    def __call__(self, address: str) -> BleLink: ...


def not_connected(address: str) -> BleLinkError:
    """The error for an operation on a link that is down."""
    return BleLinkError(BleFailure.DISCONNECTED, f"{address}: not connected")
