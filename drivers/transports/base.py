"""The abstract printer transport and the registry from URI scheme to implementation."""

from __future__ import annotations

import abc
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from drivers.errors import UnsupportedTransportError
from drivers.escpos.status import PrinterStatus

# Status requests each device's byte stream still owes an answer to, by stream_key. On a
# serial line an answer that came too late still arrives later, after a reopen too.
_unanswered: dict[str, int] = {}

_SCHEMES: dict[str, tuple[str, str]] = {
    "tcp": ("drivers.transports.tcp", "TcpTransport"),
    "file": ("drivers.transports.file", "FileTransport"),
    "serial": ("drivers.transports.serial", "SerialTransport"),
    "usb": ("drivers.transports.usb", "UsbTransport"),
    "rfcomm": ("drivers.transports.rfcomm", "RfcommTransport"),
    "ble": ("drivers.transports.ble", "BleTransport"),
}


class PrinterTransport(abc.ABC):
    """A byte pipe to one printer; every operation has a deadline."""

    #: whether the device can answer real-time status requests at all
    bidirectional: bool = True

    def __init__(self, uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0):
        self.uri = uri
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect; raises DeviceUnavailableError when the printer cannot be reached."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send all of `data`; WriteTimeoutError once no byte went for `write_timeout` s.

        The deadline is on progress, not on the whole write: a slow printer taking a long
        ticket steadily never times out, a stalled one does. WriteTimeoutError and
        ConnectionLostError carry `sent`: never fewer than the bytes that may reach paper.
        """

    @abc.abstractmethod
    async def read(self, n: int, timeout: float) -> bytes:
        """Read up to n bytes; returns b"" when nothing came before `timeout`."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the device; never raises."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """Whether the connection is believed usable."""

    @property
    def bytes_per_second(self) -> float | None:
        """How fast the line carries bytes to the printer; None when unknown or fast."""
        return None

    @property
    def stream_key(self) -> str:
        """Names the byte stream the device answers on, which may outlive this connection."""
        return self.uri

    @property
    def unanswered(self) -> int:
        """Status requests on this device's stream still owed an answer (it may come late)."""
        return _unanswered.get(self.stream_key, 0)

    @unanswered.setter
    def unanswered(self, count: int) -> None:
        if count > 0:
            _unanswered[self.stream_key] = count
        else:
            _unanswered.pop(self.stream_key, None)

    async def wait_taken(self) -> None:
        """Until the device has taken every byte written (as far as this transport can
        tell); WriteTimeoutError when it takes nothing for `write_timeout`. What a printer
        that cannot answer status requests is judged by before a ticket counts as printed."""
        return

    async def reported_status(self) -> PrinterStatus | None:
        """The status the device reports by itself, without an ESC/POS request: a printer
        that polls us and says its state each time (Star CloudPRNT). None (the default): ask
        the device with `DLE EOT` over this transport (drivers.realtime.query_status)."""
        return None

    async def drain_input(self) -> None:
        """Discard bytes the device sent that nobody asked for (late status answers)."""
        while await self.read(64, 0.0):
            pass


def transport_for(
    uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0
) -> PrinterTransport:
    """Build the transport for `uri`; raises UnsupportedTransportError for unknown schemes."""
    try:
        scheme = urlsplit(uri).scheme
    except ValueError as err:  # e.g. an unclosed [ in an IPv6 host
        raise UnsupportedTransportError(f"{uri!r} is not a valid URI: {err}") from err
    if scheme not in _SCHEMES:
        raise UnsupportedTransportError(f"no transport for {scheme or 'empty'}:// ({uri})")
    module_name, class_name = _SCHEMES[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UnsupportedTransportError(f"{scheme}:// is not available here: {err}") from err
    cls: type[PrinterTransport] = getattr(module, class_name)
    return cls(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)


@asynccontextmanager
async def open_transport(
    uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0
) -> AsyncIterator[PrinterTransport]:
    """`async with open_transport(uri) as t:` opens and always closes the transport."""
    transport = transport_for(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
    await transport.open()
    try:
        yield transport
    finally:
        await transport.close()
