"""The abstract printer transport and the registry from URI scheme to implementation."""

from __future__ import annotations

import abc
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from drivers.errors import UnsupportedTransportError

_SCHEMES: dict[str, tuple[str, str]] = {
    "tcp": ("drivers.transports.tcp", "TcpTransport"),
    "file": ("drivers.transports.file", "FileTransport"),
    "serial": ("drivers.transports.serial", "SerialTransport"),
    "usb": ("drivers.transports.usb", "UsbTransport"),
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
        """Send all of `data` before `write_timeout`; WriteTimeoutError or ConnectionLostError."""

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

    async def drain_input(self) -> None:
        """Discard bytes the device sent that nobody asked for (late status answers)."""
        while await self.read(64, 0.0):
            pass


def transport_for(
    uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0
) -> PrinterTransport:
    """Build the transport for `uri`; raises UnsupportedTransportError for unknown schemes."""
    scheme = urlsplit(uri).scheme
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
