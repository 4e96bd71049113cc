"""A fake Bluetooth LE printer at the BleLink seam (drivers.bluetooth.link), strict about GATT.

    fake = FakeBlePrinter(emulator, services=ISSC)      # pass it as BleTransport(links=fake)

It refuses what a real stack or printer would (a write larger than the characteristic allows,
a write with response on a characteristic without `write`, any operation while disconnected),
records every GATT write, and forwards the bytes to a real PrinterEmulator over loopback TCP,
one TCP connection per BLE connection: tickets, paper-out and DLE EOT answers come from the
emulator, and the answers come back as notifications. Without an emulator it is a sink that
takes every byte at once (the benchmark). BlueZ's failures are injected by kind and text.

Every refusal is also kept in `violations`, which a test asserts empty: a transport bug shows
as a failure, not as a retried print.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.bluetooth.failures import BleFailure, BleLinkError
from drivers.bluetooth.link import (
    INDICATE,
    NOTIFY,
    READ,
    WRITE,
    WRITE_WITHOUT_RESPONSE,
    GattCharacteristic,
    GattService,
    NotifyCallback,
)
from drivers.bluetooth.uris import MAX_WRITE, full_uuid
from drivers.emulator import PrinterEmulator

ADDRESS = "AA:BB:CC:DD:EE:01"

_ISSC = "49535343-fe7d-4ae5-8fa9-9fafd205e455"
_ISSC_WRITE = "49535343-8841-43f4-a8d4-ecbe34729bb3"
_ISSC_NOTIFY = "49535343-1e4d-4bd9-ba61-23c647249616"


def service(uuid: str, *chars: tuple[str, set[str], int]) -> GattService:
    """A service from (characteristic uuid, properties, max write without response) triples."""
    return GattService(
        full_uuid(uuid),
        tuple(GattCharacteristic(full_uuid(c), frozenset(p), size) for c, p, size in chars),
    )


DEVICE_INFO = service("180a", ("2a29", {READ}, 20))
#: ISSC transparent UART: write with response (and without), notify.
ISSC = (
    DEVICE_INFO,
    service(
        _ISSC,
        (_ISSC_WRITE, {WRITE, WRITE_WITHOUT_RESPONSE}, 182),
        (_ISSC_NOTIFY, {NOTIFY}, 20),
    ),
)
#: Service 18F0, write without response only (20-byte writes), notify on 2AF0.
GENERIC_18F0 = (service("18f0", ("2af1", {WRITE_WITHOUT_RESPONSE}, 20), ("2af0", {NOTIFY}, 20)),)
#: A clone with a known service but unusual characteristics: found by property.
CLONE_FF00 = (service("ff00", ("ff09", {WRITE_WITHOUT_RESPONSE}, 100), ("ff08", {INDICATE}, 20)),)
#: No notify characteristic at all: printed blind.
BLIND = (service("18f0", ("2af1", {WRITE_WITHOUT_RESPONSE}, 20)),)
#: A heart-rate sensor, not a printer.
NOT_A_PRINTER = (DEVICE_INFO, service("180d", ("2a37", {NOTIFY}, 20), ("2a39", {WRITE}, 20)))


@dataclass(frozen=True, slots=True)
class GattWrite:
    """One GATT write the printer received."""

    char: str
    data: bytes
    response: bool


@dataclass
class _Faults:
    connect: list[tuple[BleFailure, str]] = field(default_factory=list)
    stale: int = 0
    vanished: bool = False
    zombie: bool = False
    refuse_notify: bool = False
    #: refuse writes with response longer than one packet (prepare/execute), as cheap modules do
    no_long_writes: bool = False
    drop_budget: int | None = None


class FakeBlePrinter:
    """A BLE printer for BleTransport(links=…): a BleLinkFactory of one device."""

    def __init__(
        self,
        printer: PrinterEmulator | None = None,
        *,
        address: str = ADDRESS,
        services: tuple[GattService, ...] = ISSC,
    ) -> None:
        self.printer = printer
        self.address = address.upper()
        self.services = services
        self.writes: list[GattWrite] = []
        self.violations: list[str] = []
        self.connect_attempts = 0
        self.connects = 0
        self.disconnects = 0
        self.pings = 0
        self.long_writes_refused = 0
        self.delivered = 0  # bytes that reached the printer
        self.faults = _Faults()
        self._links: dict[str, FakeBleLink] = {}
        self._changed = asyncio.Event()

    def __call__(self, address: str) -> FakeBleLink:
        key = address.upper()
        if key not in self._links:
            self._links[key] = FakeBleLink(self, key)
        return self._links[key]

    @property
    def link(self) -> FakeBleLink:
        return self(self.address)

    @property
    def sent(self) -> bytes:
        """Every byte written, in order."""
        return b"".join(w.data for w in self.writes)

    # ---- faults -------------------------------------------------------------------------------

    def fail_connects(self, kind: BleFailure, message: str, times: int = 1) -> None:
        """The next `times` connects fail with BlueZ's `message`."""
        self.faults.connect.extend([(kind, message)] * times)

    def stale_cache(self, times: int = 1) -> None:
        """The next `times` connections come up without a service table."""
        self.faults.stale += times

    def vanish(self) -> None:
        """The printer is switched off: the connection drops, scans no longer find it."""
        self.faults.vanished = True
        self.link.lost()

    def reappear(self) -> None:
        self.faults.vanished = False

    def zombie(self) -> None:
        """The stack says connected, but nothing goes through this connection any more."""
        self.faults.zombie = True

    def drop_after(self, n_bytes: int) -> None:
        """Disconnect in the middle of a write, once `n_bytes` more reached the printer."""
        self.faults.drop_budget = n_bytes

    def disconnect_now(self) -> None:
        """The printer drops the connection (an unsolicited disconnect)."""
        self.link.lost()

    # ---- waiting ------------------------------------------------------------------------------

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
    ) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"fake BLE printer: no {what} after {timeout}s; {self.connects} connects, "
                f"{len(self.writes)} writes, {self.delivered} bytes delivered"
            ) from None

    def refused(self, why: str, kind: BleFailure = BleFailure.REFUSED) -> BleLinkError:
        self.violations.append(why)
        return BleLinkError(kind, f"fake printer refused: {why}")


class FakeBleLink:
    """The fake's side of one address (drivers.bluetooth.link.BleLink)."""

    def __init__(self, fake: FakeBlePrinter, address: str) -> None:
        self.fake = fake
        self._address = address
        self._connected = False
        self._stale = False
        self._on_disconnect: Callable[[], None] | None = None
        self._callbacks: dict[str, NotifyCallback] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return self._address

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, timeout: float, on_disconnect: Callable[[], None]) -> None:
        fake = self.fake
        fake.connect_attempts += 1
        fake.changed()
        if self._connected:
            raise fake.refused("connect while connected", BleFailure.BUSY)
        if fake.faults.connect:
            kind, message = fake.faults.connect.pop(0)
            raise BleLinkError(kind, message)
        if self._address != fake.address or fake.faults.vanished:
            raise BleLinkError(
                BleFailure.NOT_FOUND, f"Device with address {self._address} was not found."
            )
        if fake.printer is not None:
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection("127.0.0.1", fake.printer.port)
            except (OSError, TimeoutError) as err:
                raise BleLinkError(
                    BleFailure.ABORTED,
                    f"org.bluez.Error.Failed: le-connection-abort-by-local ({err})",
                ) from err
            # A printer that stops reading stops taking GATT writes soon after, as a real
            # one does once its buffer is full: no large kernel buffer in between.
            writer.transport.set_write_buffer_limits(high=0)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            self._writer = writer
            self._pump = asyncio.create_task(self._notify_from(reader), name="fake BLE notify")
        self._stale = fake.faults.stale > 0
        fake.faults.stale = max(fake.faults.stale - 1, 0)
        fake.faults.zombie = False  # a new connection works again
        self._on_disconnect = on_disconnect
        self._connected = True
        fake.connects += 1
        fake.changed()

    def services(self) -> tuple[GattService, ...]:
        if not self._connected:
            raise self.fake.refused("services() while disconnected", BleFailure.DISCONNECTED)
        if self._stale:
            raise BleLinkError(
                BleFailure.STALE_CACHE, "Service Discovery has not been performed yet"
            )
        return self.fake.services

    def _char(self, uuid: str) -> GattCharacteristic | None:
        return next(
            (c for s in self.fake.services for c in s.characteristics if c.uuid == uuid), None
        )

    async def write(self, char: str, data: bytes, *, response: bool) -> None:
        fake = self.fake
        if fake.faults.zombie:
            await asyncio.Event().wait()  # nothing ever comes back
        if not self._connected:
            raise fake.refused("write while disconnected", BleFailure.DISCONNECTED)
        found = self._char(char)
        if found is None:
            raise fake.refused(f"write to unknown characteristic {char}")
        if response and WRITE not in found.properties:
            raise fake.refused(f"write with response on {char}, which has no `write`")
        if not response and WRITE_WITHOUT_RESPONSE not in found.properties:
            raise fake.refused(f"write without response on {char}, which does not allow it")
        limit = MAX_WRITE if response else found.max_write_without_response_size
        if len(data) > limit:
            raise fake.refused(f"{len(data)}-byte write on {char}, limit {limit}")
        if (
            response
            and fake.faults.no_long_writes
            and len(data) > found.max_write_without_response_size
        ):
            fake.long_writes_refused += 1
            raise BleLinkError(BleFailure.REFUSED, "GATT Protocol Error: Request Not Supported")
        fake.writes.append(GattWrite(char, bytes(data), response))
        budget = fake.faults.drop_budget
        if budget is not None and len(data) >= budget:
            fake.faults.drop_budget = None
            await self._deliver(data[:budget])
            self.lost()
            raise BleLinkError(BleFailure.DISCONNECTED, "[org.bluez.Error.Failed] Not connected")
        if budget is not None:
            fake.faults.drop_budget = budget - len(data)
        await self._deliver(data)

    async def _deliver(self, data: bytes) -> None:
        writer = self._writer
        if writer is not None and data:
            writer.write(data)
            await writer.drain()  # a stopped printer stops reading: the write waits
        self.fake.delivered += len(data)
        self.fake.changed()

    async def start_notify(self, char: str, callback: NotifyCallback) -> None:
        fake = self.fake
        if not self._connected:
            raise fake.refused("start_notify while disconnected", BleFailure.DISCONNECTED)
        found = self._char(char)
        if found is None or not found.notifies:
            raise fake.refused(f"start_notify on {char}, which does not notify")
        if fake.faults.refuse_notify:
            raise BleLinkError(BleFailure.REFUSED, "[org.bluez.Error.NotPermitted] Notify refused")
        self._callbacks[char] = callback

    async def ping(self) -> None:
        if self.fake.faults.zombie:
            await asyncio.Event().wait()
        if not self._connected:
            raise BleLinkError(BleFailure.DISCONNECTED, "Not connected")
        self.fake.pings += 1

    async def disconnect(self) -> None:
        if self._connected:
            self.fake.disconnects += 1
        self._close()

    def lost(self) -> None:
        """The device went away: an unsolicited disconnect, said to the transport."""
        if self._connected:
            callback = self._on_disconnect
            self._close()
            if callback is not None:
                asyncio.get_running_loop().call_soon(callback)

    def _close(self) -> None:
        self._connected = False
        self._callbacks.clear()
        self._on_disconnect = None
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()  # FIN: what was delivered still reaches the printer
        pump, self._pump = self._pump, None
        if pump is not None and pump is not asyncio.current_task():
            pump.cancel()
        self.fake.changed()

    async def _notify_from(self, reader: asyncio.StreamReader) -> None:
        """What the printer sends back arrives as notifications on the subscribed characteristic."""
        with contextlib.suppress(OSError):
            while data := await reader.read(256):
                for callback in list(self._callbacks.values()):
                    callback(data)
        if self._pump is asyncio.current_task():
            self.lost()  # the printer closed its end
