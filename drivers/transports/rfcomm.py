"""Classic Bluetooth (SPP) printers, `rfcomm://AA:BB:CC:DD:EE:FF[:CHANNEL]`, over the kernel's
RFCOMM socket: once connected, driven exactly like a TCP printer (drivers.transports.stream).

BlueZ's daemon is not involved: the kernel pages the printer itself. A printer that asks for
a PIN must have been paired once (`bluetoothctl pair MAC`); the channel is the SPP service's,
1 on nearly every printer (`sdptool browse MAC` tells).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable

from drivers.bluetooth.uris import RfcommAddress, parse_rfcomm_uri
from drivers.errors import DeviceUnavailableError, DriverError, UnsupportedTransportError
from drivers.transports.stream import SocketStreamTransport

#: Makes a socket connected to the printer at an address: the seam where tests put a stand-in.
Connector = Callable[[RfcommAddress], Awaitable[socket.socket]]

NO_BLUETOOTH = "this machine has no Bluetooth support"
# The kernel has no Bluetooth sockets: no bluetooth module, or a container without them.
_NO_STACK = {errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT}
# What a technician can do about each way a connect fails.
_HINTS = {
    errno.EHOSTDOWN: "is the printer on and in range?",
    errno.EHOSTUNREACH: "no Bluetooth adapter up, or the printer is off or out of range",
    errno.ECONNREFUSED: "is the channel the printer's SPP channel? (sdptool browse MAC)",
    errno.EACCES: "pair the printer once: bluetoothctl pair MAC",
    errno.ECONNRESET: "pair the printer once (bluetoothctl pair MAC), or it is busy",
    errno.EBUSY: "is another program (rfcomm bind, a phone) holding the printer?",
}


async def connect_rfcomm(address: RfcommAddress) -> socket.socket:
    """A non-blocking RFCOMM socket connected to the printer (the kernel's Bluetooth stack)."""
    family = getattr(socket, "AF_BLUETOOTH", None)
    protocol = getattr(socket, "BTPROTO_RFCOMM", None)
    if family is None or protocol is None:
        raise UnsupportedTransportError(
            f"{NO_BLUETOOTH}: this Python was built without Bluetooth sockets "
            "(socket.AF_BLUETOOTH); use the distribution's python3, built with them"
        )
    sock = socket.socket(family, socket.SOCK_STREAM, protocol)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (address.mac, address.channel))
    except BaseException:
        sock.close()
        raise
    return sock


class RfcommTransport(SocketStreamTransport):
    """`rfcomm://MAC[:CHANNEL]` or `rfcomm://MAC?channel=N` (channel 1 by default)."""

    def __init__(
        self,
        uri: str,
        *,
        connect_timeout: float = 5.0,
        write_timeout: float = 10.0,
        connect: Connector = connect_rfcomm,
    ):
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        self.address = parse_rfcomm_uri(uri)
        self._connector = connect

    @property
    def peer(self) -> str:
        return f"{self.address.mac} channel {self.address.channel}"

    async def _connect(self) -> socket.socket:
        return await self._connector(self.address)

    def _unreachable(self, err: OSError | ValueError) -> DriverError:
        if isinstance(err, OSError) and err.errno in _NO_STACK:
            return UnsupportedTransportError(
                f"{NO_BLUETOOTH}: the kernel refused a Bluetooth socket ({err.strerror}); "
                "load the bluetooth module and plug in an adapter"
            )
        if isinstance(err, ValueError):  # the socket module took no (MAC, channel) address
            return UnsupportedTransportError(f"{self.peer}: not a Bluetooth address: {err}")
        hint = _HINTS.get(err.errno or 0)
        reason = err.strerror or str(err)
        return DeviceUnavailableError(f"{self.peer}: {reason}" + (f" ({hint})" if hint else ""))
