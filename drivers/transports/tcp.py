"""Raw TCP (port 9100) printers over asyncio streams, with a deadline on every operation."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.transports.base import PrinterTransport

_CHUNK = 4096


class TcpTransport(PrinterTransport):
    """`tcp://HOST[:PORT]`; one connection, owned by one task."""

    def __init__(self, uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0):
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        parts = urlsplit(uri)
        if not parts.hostname:
            raise UnsupportedTransportError(f"no host in {uri}")
        self.host = parts.hostname
        self.port = parts.port or 9100
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError as err:
            raise DeviceUnavailableError(
                f"{self.host}:{self.port} did not answer within {self.connect_timeout:g} s"
            ) from err
        except OSError as err:
            raise DeviceUnavailableError(f"{self.host}:{self.port}: {err.strerror or err}") from err
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A stopped printer (paper out) stops reading: a small send buffer makes our
            # write deadline notice it instead of parking a whole ticket in the kernel.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        # For the same reason drain() must wait until asyncio's own buffer is empty: with
        # its default 64 KiB high-water mark a ticket "sent" in time may still sit in it.
        self._writer.transport.set_write_buffer_limits(high=0)

    async def write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionLostError("not connected")
        sent = 0
        try:
            async with asyncio.timeout(self.write_timeout):
                for start in range(0, len(data), _CHUNK):
                    chunk = data[start : start + _CHUNK]
                    writer.write(chunk)
                    sent += len(chunk)
                    await writer.drain()
        except TimeoutError as err:
            self._abort()
            raise WriteTimeoutError(
                f"printer stopped accepting data after {sent} of {len(data)} bytes", sent
            ) from err
        except OSError as err:
            self._abort()
            raise ConnectionLostError(f"connection lost: {err}", sent) from err

    async def read(self, n: int, timeout: float) -> bytes:
        reader = self._reader
        if reader is None:
            raise ConnectionLostError("not connected")
        try:
            # timeout 0 still returns what is already buffered: read() does not suspend then.
            async with asyncio.timeout(max(timeout, 0.0)):
                data = await reader.read(n)
        except TimeoutError:
            return b""
        except OSError as err:
            self._abort()
            raise ConnectionLostError(f"connection lost: {err}") from err
        if not data:
            self._abort()
            raise ConnectionLostError("printer closed the connection")
        return data

    def _abort(self) -> None:
        """Drop a connection the printer stopped serving, and what we had not handed over."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.transport.abort()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except (TimeoutError, OSError):
            writer.transport.abort()
