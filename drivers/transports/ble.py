"""Bluetooth LE printers: `ble://MAC[?service=…&char=…&chunk=…&gap_ms=…&connect=keep|per_batch]`.

Ticket bytes go in GATT writes to the printer's write characteristic (drivers.bluetooth.gatt):
with response where the characteristic supports it (up to 512 bytes a write, acknowledged, no
pause needed), else without response in chunks of its `max_write_without_response_size`, paced
`gap_ms` apart (the printer's buffer fills faster than it prints). Status answers (DLE EOT) come
back as notifications and are read as from a socket; a printer without a notify characteristic
is printed blind (`bidirectional` False).

`connect=keep` (default) keeps the BLE connection between batches: the next batch starts at
once, after a health check (connected, and a cheap round trip). `connect=per_batch` connects
in open() and disconnects in close(): every batch pays for a scan and a connect, but between
batches the printer is free for the owner's phone or another box (a BLE printer takes one
central at a time). A connect rescans and retries BlueZ's usual failures with backoff, within
`connect_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace

from drivers.bluetooth.failures import Backoff, BleFailure, BleLinkError, transport_error
from drivers.bluetooth.gatt import GattChoice, choose
from drivers.bluetooth.link import (
    DEFAULT_WRITE_WITHOUT_RESPONSE,
    WRITE,
    BleLink,
    BleLinkFactory,
    GattCharacteristic,
)
from drivers.bluetooth.uris import MAX_WRITE, Connection, parse_ble_uri
from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.transports.base import PrinterTransport

log = logging.getLogger(__name__)

#: The pause between chunks written without response when the URI gives no `gap_ms`.
DEFAULT_GAP_MS = 20.0
# A disconnect that hangs is abandoned after this long.
_DISCONNECT_S = 2.0
# The health check of a kept connection takes at most this long (or half connect_timeout):
# a round trip takes a few connection intervals; a connection that needs longer is replaced.
_PING_S = 2.0
# Notified bytes nobody read (a printer sending status by itself) are kept up to this many.
_INBOX_MAX = 4096
# A refused subscription to notifications leaves the printer blind, not unusable.
_BLIND_ON = frozenset({BleFailure.REFUSED, BleFailure.OTHER})

Sleep = Callable[[float], Awaitable[None]]


class _Session:
    """One BLE connection: the characteristics chosen and the bytes the printer notified."""

    def __init__(self, link: BleLink) -> None:
        self.link = link
        self.choice: GattChoice | None = None
        self.inbox = bytearray()
        self.arrived = asyncio.Event()
        self.lost = False
        #: loop time before which the next paced write must not start (pacing spans writes)
        self.next_at = 0.0

    @property
    def usable(self) -> bool:
        return not self.lost and self.choice is not None and self.link.is_connected

    def notified(self, data: bytes) -> None:
        if self.lost:
            return
        self.inbox += data
        del self.inbox[:-_INBOX_MAX]
        self.arrived.set()

    def dropped(self) -> None:
        """The device dropped the connection (the stack said so)."""
        self.lost = True
        self.arrived.set()


# Connections kept between batches (connect=keep), by link: they outlive the transports that
# use them in turn, and go with their link factory.
_kept: weakref.WeakKeyDictionary[BleLink, _Session] = weakref.WeakKeyDictionary()
# Printers that refused a long write with response: written one ATT packet at a time.
_no_long_writes: weakref.WeakSet[BleLink] = weakref.WeakSet()


async def release_kept_connections() -> None:
    """Disconnect every BLE printer this process kept connected through bleak (at shut-down,
    or at the end of a command line tool); nothing to do, and bleak not imported, otherwise."""
    module = sys.modules.get("drivers.bluetooth.bleak_link")
    if module is not None:
        await module.close_shared_links()


def _default_links() -> BleLinkFactory:
    try:
        from drivers.bluetooth.bleak_link import shared_links
    except ImportError as err:
        raise UnsupportedTransportError(f"ble:// needs the bleak library: {err}") from err
    return shared_links()


class BleTransport(PrinterTransport):
    """`ble://MAC`: one printer over GATT writes and notifications, owned by one task."""

    def __init__(
        self,
        uri: str,
        *,
        connect_timeout: float = 5.0,
        write_timeout: float = 10.0,
        links: BleLinkFactory | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        self.address = parse_ble_uri(uri)
        self.links = links if links is not None else _default_links()
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._session: _Session | None = None

    @property
    def mac(self) -> str:
        return self.address.mac

    @property
    def is_open(self) -> bool:
        return self._session is not None and self._session.usable

    @property
    def bytes_per_second(self) -> float | None:
        choice = self._session.choice if self._session is not None else None
        if choice is None:
            return None
        _, size, gap = self._plan(choice.write, self._session)
        return size / gap if gap > 0 else None

    def _plan(self, char: GattCharacteristic, session: _Session | None) -> tuple[bool, int, float]:
        """(with response, bytes per write, seconds between write starts) for `char`."""
        response = WRITE in char.properties
        limit = char.max_write_without_response_size
        if response and (session is None or session.link not in _no_long_writes):
            limit = MAX_WRITE
        size = self.address.chunk or limit or DEFAULT_WRITE_WITHOUT_RESPONSE
        gap_ms = self.address.gap_ms
        if gap_ms is None:
            gap_ms = 0.0 if response else DEFAULT_GAP_MS
        return response, size, gap_ms / 1000

    # ---- connecting -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect within connect_timeout, or reuse the kept connection once it passed its
        health check; DeviceUnavailableError, or UnsupportedTransportError when a human must
        act (no Bluetooth here, not a printer, a URI that does not fit the device)."""
        if self.is_open:
            return
        link = self.links(self.mac)
        kept = _kept.get(link)
        if kept is not None:
            if self.address.connect is Connection.KEEP and await self._healthy(kept):
                self._attach(kept)
                return
            await _drop(kept)
        session = await self._connect(link)
        if self.address.connect is Connection.KEEP:
            _kept[link] = session
        self._attach(session)

    def _attach(self, session: _Session) -> None:
        self._session = session
        self.bidirectional = session.choice is not None and session.choice.notify is not None

    async def _healthy(self, session: _Session) -> bool:
        """A kept connection still carries requests, with the same characteristics."""
        old = session.choice
        if old is None or not session.usable:
            return False
        try:
            async with asyncio.timeout(min(self.connect_timeout / 2, _PING_S)):
                await session.link.ping()
            fresh = choose(session.link.services(), self.address)
        except (BleLinkError, TimeoutError) as err:
            log.info("%s: kept connection failed its check (%s); connecting again", self.mac, err)
            return False
        # (A subscription refused at connect time stays refused: old.notify None is kept.)
        subscribed = old.notify is None or _uuid(fresh.notify) == old.notify.uuid
        if fresh.write.uuid != old.write.uuid or not subscribed:
            log.info("%s: services changed; connecting again", self.mac)
            return False
        session.choice = replace(fresh, notify=old.notify)  # a write limit may have grown
        return True

    async def _connect(self, link: BleLink) -> _Session:
        """Connect, retrying BlueZ's transient failures with backoff within connect_timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        attempt = 0
        while True:
            try:
                return await self._connect_once(link, deadline)
            except BleLinkError as err:
                if err.kind.permanent:
                    raise transport_error(err, self.mac) from err
                delay = self.backoff.delay(attempt)
                if loop.time() + delay >= deadline:
                    raise DeviceUnavailableError(
                        f"{self.mac}: not connected within {self.connect_timeout:g} s "
                        f"({attempt + 1} attempt(s)); last: {err}"
                    ) from err
                log.info("%s: %s (%s); again in %.2f s", self.mac, err, err.kind, delay)
                attempt += 1
                await self._sleep(delay)

    async def _connect_once(self, link: BleLink, deadline: float) -> _Session:
        session = _Session(link)
        loop = asyncio.get_running_loop()
        if link.is_connected:  # a connection nobody holds any more: start afresh
            await _disconnect(link)
        try:
            async with asyncio.timeout_at(deadline):
                await link.connect(max(deadline - loop.time(), 0.0), session.dropped)
                choice = choose(link.services(), self.address)
                if choice.notify is not None:
                    choice = await self._subscribe(session, choice)
        except TimeoutError as err:
            await _disconnect(link)
            raise BleLinkError(
                BleFailure.TIMEOUT, f"no connection within {self.connect_timeout:g} s"
            ) from err
        except BleLinkError:
            await _disconnect(link)
            raise
        session.choice = choice
        self.unanswered = 0  # a new connection: no late answer of an older one comes on it
        log.info("%s: connected; %s", self.mac, choice.describe())
        return session

    async def _subscribe(self, session: _Session, choice: GattChoice) -> GattChoice:
        """Subscribe to status answers; a printer that refuses is printed blind."""
        assert choice.notify is not None
        try:
            await session.link.start_notify(choice.notify.uuid, session.notified)
        except BleLinkError as err:
            if err.kind not in _BLIND_ON:
                raise
            log.warning("%s: notifications refused (%s): printing blind", self.mac, err)
            return replace(choice, notify=None)
        return choice

    # ---- bytes --------------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        session = self._session
        if session is None or session.choice is None or not session.usable:
            raise ConnectionLostError("not connected")
        char = session.choice.write
        loop = asyncio.get_running_loop()
        sent = 0  # bytes of the writes that went through
        while sent < len(data):
            response, size, gap = self._plan(char, session)
            chunk = data[sent : sent + size]
            if gap and (pause := session.next_at - loop.time()) > 0:
                await self._sleep(pause)
            if not session.usable:
                await self._abort()
                raise ConnectionLostError(
                    f"{self.mac}: the printer disconnected after {sent} of {len(data)} bytes", sent
                )
            session.next_at = loop.time() + gap
            try:
                async with asyncio.timeout(self.write_timeout):
                    await session.link.write(char.uuid, chunk, response=response)
            except TimeoutError as err:
                await self._abort()
                # The write in flight may have reached the printer: it counts as sent.
                raise WriteTimeoutError(
                    f"{self.mac}: printer took no data for {self.write_timeout:g} s, after "
                    f"{sent} of {len(data)} bytes",
                    sent + len(chunk),
                ) from err
            except BleLinkError as err:
                if self._long_write_refused(session, err, response, chunk):
                    continue  # nothing of it was written: again, in shorter writes
                await self._abort()
                raise ConnectionLostError(
                    f"{self.mac}: write failed after {sent} of {len(data)} bytes: {err}",
                    sent + len(chunk),
                ) from err
            sent += len(chunk)

    def _long_write_refused(
        self, session: _Session, err: BleLinkError, response: bool, chunk: bytes
    ) -> bool:
        """A write with response longer than one ATT packet is a long write (prepare, then
        execute), which many cheap modules refuse; refused, none of it is written. From then
        on this printer gets writes of one packet (its max_write_without_response_size)."""
        assert session.choice is not None
        if (
            err.kind is not BleFailure.REFUSED
            or not response
            or self.address.chunk is not None
            or len(chunk) <= session.choice.write.max_write_without_response_size
        ):
            return False
        log.warning("%s: long writes refused (%s): writing one packet at a time", self.mac, err)
        _no_long_writes.add(session.link)
        return True

    async def read(self, n: int, timeout: float) -> bytes:
        session = self._session
        if session is None:
            raise ConnectionLostError("not connected")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            if session.inbox:
                data = bytes(session.inbox[:n])
                del session.inbox[:n]
                return data
            if not session.usable:
                await self._abort()
                raise ConnectionLostError(f"{self.mac}: the printer disconnected")
            left = deadline - loop.time()
            if left <= 0:
                return b""
            session.arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await session.arrived.wait()

    # ---- releasing ----------------------------------------------------------------------------

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        kept = _kept.get(session.link) is session
        if self.address.connect is Connection.KEEP and session.usable and kept:
            return  # stays up for the next batch
        await _drop(session)

    async def _abort(self) -> None:
        """Give up a connection that failed mid-operation, kept or not."""
        session, self._session = self._session, None
        if session is not None:
            await _drop(session)


def _uuid(char: GattCharacteristic | None) -> str | None:
    return char.uuid if char is not None else None


async def _drop(session: _Session) -> None:
    session.lost = True
    if _kept.get(session.link) is session:
        del _kept[session.link]
    await _disconnect(session.link)


async def _disconnect(link: BleLink) -> None:
    try:
        async with asyncio.timeout(_DISCONNECT_S):
            await link.disconnect()
    except (TimeoutError, BleLinkError) as err:
        log.debug("%s: disconnect: %s", link.address, err or "timed out")
