"""Raw TCP (port 9100) printers: a stream socket (drivers.transports.stream) to HOST:PORT."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

from drivers.errors import DriverError, UnsupportedTransportError
from drivers.transports.stream import SocketStreamTransport


class TcpTransport(SocketStreamTransport):
    """`tcp://HOST[:PORT]`; one connection, owned by one task."""

    def __init__(self, uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0):
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        parts = urlsplit(uri)
        if not parts.hostname:
            raise UnsupportedTransportError(f"no host in {uri}")
        try:
            port = parts.port
            parts.hostname.encode("idna")  # what getaddrinfo does with it: a..b fails here
        except ValueError as err:  # a port out of range or not a number; UnicodeError
            raise UnsupportedTransportError(f"{uri}: not a valid host and port: {err}") from err
        self.host = parts.hostname
        self.port = port or 9100

    @property
    def peer(self) -> str:
        return f"{self.host}:{self.port}"

    async def _connect(self) -> socket.socket:
        """Each address the resolver gives, in turn, as asyncio.open_connection tries them."""
        if "\0" in self.host:  # getaddrinfo would cut the name there and look up another
            raise ValueError("embedded null character")
        loop = asyncio.get_running_loop()
        addresses = _literal(self.host, self.port) or await loop.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM
        )
        if not addresses:
            raise OSError("getaddrinfo() returned empty list")
        errors: list[OSError] = []
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except OSError as err:
                sock.close()
                errors.append(err)
            except BaseException:
                sock.close()
                raise
            else:
                return sock
        if len({str(err) for err in errors}) == 1:
            raise errors[0]
        raise OSError(f"Multiple exceptions: {', '.join(str(err) for err in errors)}")

    def _unreachable(self, err: OSError | ValueError) -> DriverError:
        if isinstance(err, OSError):
            return super()._unreachable(err)
        return UnsupportedTransportError(f"{self.host}: not a valid host name: {err}")

    def _tune(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super()._tune(sock)


_AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


def _literal(host: str, port: int) -> list[_AddrInfo]:
    """An IP address as getaddrinfo would give it, without its trip to a thread (as asyncio)."""
    for family, address in ((socket.AF_INET, (host, port)), (socket.AF_INET6, (host, port, 0, 0))):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
    return []
