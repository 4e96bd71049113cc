"""Printers behind one connected stream socket (TCP, RFCOMM), driven through asyncio streams
with a deadline on every operation; each transport only says how to connect."""

from __future__ import annotations

import abc
import asyncio
import fcntl
import socket
import struct
import termios

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    DriverError,
    WriteTimeoutError,
)
from drivers.transports.base import PrinterTransport

# How often a blocked write looks whether the kernel took more bytes (asyncio says nothing
# until its buffer is empty): a stall is seen at most this much after `write_timeout`.
_PROGRESS_CHECK_S = 0.25
# The first look whether the printer took everything comes this soon (on a LAN an ACK takes
# about a millisecond), then less and less often.
_ACK_POLL_MIN_S = 0.002
# A stopped printer (paper out) stops reading: a small send buffer makes the write deadline
# notice it instead of parking a whole ticket in the kernel.
_SEND_BUFFER = 16384
_AF_BLUETOOTH: int | None = getattr(socket, "AF_BLUETOOTH", None)


def queued_bytes(sock: socket.socket) -> int:
    """Bytes written on `sock` that the peer has not taken yet (TIOCOUTQ).

    TCP answers the bytes not acknowledged, a Unix socket those not read. Bluetooth sockets
    (bt_sock_ioctl) answer the room left in the send buffer instead, so what is queued is the
    buffer's size minus that room: on RFCOMM, bytes waiting for the printer's credits.
    """
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4)
    answer = int(struct.unpack("i", buf)[0])
    if _AF_BLUETOOTH is not None and sock.family == _AF_BLUETOOTH:
        return max(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) - answer, 0)
    return answer


class SocketStreamTransport(PrinterTransport):
    """A printer behind a stream socket that `_connect` makes; one connection, one task."""

    def __init__(self, uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0):
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    @abc.abstractmethod
    def peer(self) -> str:
        """The printer's address, as messages name it."""

    @abc.abstractmethod
    async def _connect(self) -> socket.socket:
        """A socket connected to the printer; OSError and ValueError go to `_unreachable`."""

    def _unreachable(self, err: OSError | ValueError) -> DriverError:
        """What a failed connect means; the default: the printer is out of reach for now."""
        return DeviceUnavailableError(f"{self.peer}: {getattr(err, 'strerror', None) or err}")

    def _tune(self, sock: socket.socket) -> None:
        """Set the connected socket's options."""
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)

    @property
    def is_open(self) -> bool:
        reader, writer = self._reader, self._writer
        # A printer that closed its end (FIN) leaves our side writable: it counts as gone.
        return (
            reader is not None
            and writer is not None
            and not writer.is_closing()
            and not reader.at_eof()
            and reader.exception() is None
        )

    async def open(self) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                sock = await self._connect()
                try:
                    self._reader, self._writer = await asyncio.open_connection(sock=sock)
                except BaseException:
                    sock.close()
                    raise
        except TimeoutError as err:
            raise DeviceUnavailableError(
                f"{self.peer} did not answer within {self.connect_timeout:g} s"
            ) from err
        except (OSError, ValueError) as err:  # ValueError: UnicodeError, a NUL in a host name
            raise self._unreachable(err) from err
        # A new connection is a new byte stream: no late answer from an older one comes on it.
        self.unanswered = 0
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            self._tune(sock)
        # For the same reason as the small send buffer, drain() must wait until asyncio's own
        # buffer is empty: with its default 64 KiB high-water mark a ticket "sent" in time may
        # still sit in it.
        self._writer.transport.set_write_buffer_limits(high=0)

    async def write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionLostError("not connected")
        writer.write(data)
        try:
            drained = await _drain(writer, self.write_timeout)
        except OSError as err:  # a socket's ETIMEDOUT (a TimeoutError) too: the line is gone
            sent = self._sent(writer, data)
            self._abort()
            raise ConnectionLostError(f"connection lost: {err}", sent) from err
        if not drained:
            sent = self._sent(writer, data)
            self._abort()
            raise WriteTimeoutError(
                f"printer took no data for {self.write_timeout:g} s, after {sent} of "
                f"{len(data)} bytes",
                sent,
            )

    async def wait_taken(self) -> None:
        """Until the printer took every byte (`queued_bytes`: a TCP ACK, RFCOMM credits).

        A printer that stalled with room left in its receive window still acknowledges; one
        whose window is full does not, and the wait ends in WriteTimeoutError.
        """
        writer = self._writer
        sock = writer.get_extra_info("socket") if writer is not None else None
        if writer is None or sock is None:
            raise ConnectionLostError("not connected")
        loop = asyncio.get_running_loop()
        least: int | None = None
        progress_at = loop.time()
        pause = _ACK_POLL_MIN_S
        while True:
            try:
                pending = queued_bytes(sock)
            except OSError as err:
                self._abort()
                raise ConnectionLostError(f"connection lost: {err}", least or 0) from err
            if pending == 0:
                return
            now = loop.time()
            if least is None or pending < least:
                least, progress_at = pending, now
            elif now - progress_at >= self.write_timeout:
                self._abort()
                raise WriteTimeoutError(
                    f"printer acknowledged nothing for {self.write_timeout:g} s, "
                    f"{pending} bytes unacknowledged",
                    pending,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, _PROGRESS_CHECK_S)

    @staticmethod
    def _sent(writer: asyncio.StreamWriter, data: bytes) -> int:
        """Bytes of `data` the kernel took: what asyncio still holds is dropped by an abort."""
        return max(len(data) - writer.transport.get_write_buffer_size(), 0)

    async def read(self, n: int, timeout: float) -> bytes:
        reader = self._reader
        if reader is None:
            raise ConnectionLostError("not connected")
        try:
            # timeout 0 still returns what is already buffered: read() does not suspend then.
            async with asyncio.timeout(max(timeout, 0.0)) as deadline:
                data = await reader.read(n)
        except TimeoutError as err:
            if deadline.expired():
                return b""
            # The socket's own ETIMEDOUT (keepalive, retransmissions): the connection is dead.
            self._abort()
            raise ConnectionLostError(f"connection lost: {err}") from err
        except OSError as err:
            self._abort()
            raise ConnectionLostError(f"connection lost: {err}") from err
        if not data:
            self._abort()
            raise ConnectionLostError("printer closed the connection")
        return data

    def _abort(self) -> None:
        """Drop a connection the printer stopped serving, and the bytes asyncio still holds.

        What the kernel already took is not dropped: it still goes out after the close
        (FIN, not RST), which is why `sent` counts it.
        """
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


async def _drain(writer: asyncio.StreamWriter, timeout: float) -> bool:
    """Wait until asyncio handed its buffer to the kernel; False after `timeout` s without progress.

    Raises OSError when the connection fails meanwhile.
    """
    loop = asyncio.get_running_loop()
    buffered = writer.transport.get_write_buffer_size()
    progress_at = loop.time()
    while True:
        check_at = min(progress_at + timeout, loop.time() + _PROGRESS_CHECK_S)
        try:
            async with asyncio.timeout_at(check_at) as check:
                await writer.drain()
        except TimeoutError:
            if not check.expired():
                raise  # the socket's own ETIMEDOUT
        else:
            return True
        now = loop.time()
        left = writer.transport.get_write_buffer_size()
        if left < buffered:
            buffered, progress_at = left, now
        elif now >= progress_at + timeout:
            return False
