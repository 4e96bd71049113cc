"""One client connection to the emulated printer, and the listening socket."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Protocol

from drivers.emulator._wire import JobSplitter, RealtimeFilter


class Owner(Protocol):
    """What a connection reports to: the printer."""

    def _connected(self, connection: Connection) -> None: ...
    def _received(self, connection: Connection, data: bytes) -> None: ...
    def _lost(self, connection: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """A sender's connection: its byte stream, its unprinted data and its reading state."""

    def __init__(self, owner: Owner, number: int, drop_after: int | None) -> None:
        self.owner = owner
        self.number = number
        self.drop_budget = drop_after
        self.transport: asyncio.Transport | None = None
        self.realtime = RealtimeFilter()
        self.splitter = JobSplitter()
        self.reading = True
        self.closed = False
        self._late: set[asyncio.TimerHandle] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register with the printer."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.owner._connected(self)

    def data_received(self, data: bytes) -> None:
        """Hand received bytes to the printer."""
        self.owner._received(self, data)

    def eof_received(self) -> bool | None:
        """The sender is done: close our side too."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop pending late answers and tell the printer."""
        self.closed = True
        for handle in self._late:
            handle.cancel()
        self._late.clear()
        self.owner._lost(self)

    def send(self, data: bytes, *, delay: float = 0.0) -> None:
        """Write to the sender now, or after delay seconds."""
        if delay <= 0:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(data)
            return

        def late() -> None:
            self._late.discard(handle)
            self.send(data)

        handle = asyncio.get_running_loop().call_later(delay, late)
        self._late.add(handle)

    def set_reading(self, want: bool) -> None:
        """Pause or resume reading from the socket."""
        if self.closed or self.transport is None or want == self.reading:
            return
        if want:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()
        self.reading = want

    def reset(self) -> None:
        """Close abruptly with a TCP reset, as when a printer reboots mid-job."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


def listening_socket(
    host: str, port: int, receive_buffer: int | None, backlog: int = 64
) -> socket.socket:
    """A non-blocking listening socket that can take over a port just released."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if receive_buffer:
            # Inherited by accepted sockets: a stall fills the TCP window after a few KB.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
