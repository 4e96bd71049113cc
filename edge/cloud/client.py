"""aiomqtt's client, with the broker's socket read only while the backlog in memory is small.

A broker is meant to send at most Receive Maximum unacknowledged messages, but mosquitto
2.0.11 (Debian 12's) releases a whole window for each PUBACK: in a rush of 10,000 orders
8,000 of them sat parsed in aiomqtt's queue (about 5 KB each with paho's properties). So this
client stops reading the socket once `high_water` messages wait in its queue and reads again
when the link has taken them down to `low_water`: TCP flow control then holds the rest at
the broker, and memory stays bounded by configuration, not by the size of a rush.

Like `acks`, it relies on aiomqtt internals (`_on_socket_open`, `_on_message`, `_queue`,
`_loop`, `_disconnected`): aiomqtt is pinned < 3. While reading is paused no PINGRESP is read
either: a backlog that stays (the disk is full) ends, after about two keepalives, in a
reconnect that redelivers it; a rush drains in seconds.
"""

from __future__ import annotations

import socket
from typing import Any

import aiomqtt
import paho.mqtt.client as paho


class GatedClient(aiomqtt.Client):
    """An aiomqtt client whose reading pauses while `high_water` messages wait unconsumed."""

    def __init__(self, *args: Any, high_water: int, low_water: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.high_water = high_water
        self.low_water = low_water
        self.paused = 0  # how many times reading was paused (for `status`)
        self._fd = -1
        self._reading = False

    # ---- aiomqtt's hooks, extended -----------------------------------------------------------

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        super()._on_socket_open(client, userdata, sock)  # aiomqtt starts reading it
        self._fd = sock.fileno()
        self._reading = True

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._reading = False
        super()._on_socket_close(client, userdata, sock)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        super()._on_message(client, userdata, message)
        if self._reading and self._queue.qsize() >= self.high_water:
            self._loop.remove_reader(self._fd)
            self._reading = False
            self.paused += 1

    # ---- for the consumer ----------------------------------------------------------------------

    def taken(self) -> None:
        """The consumer took messages: read the socket again once the backlog is small."""
        if self._reading or self._fd < 0 or self._queue.qsize() > self.low_water:
            return
        sock = self._client.socket()
        if sock is None or sock.fileno() != self._fd:
            return  # closed meanwhile
        self._reading = True
        self._loop.add_reader(self._fd, self._read)
        self._loop.call_soon(self._read)  # bytes TLS already decrypted raise no readiness event

    def _read(self) -> None:
        """What aiomqtt's reader does: read what is there; a failure ends the connection."""
        if not self._reading:
            return
        try:
            while True:
                self._client.loop_read()
                sock = self._client.socket()
                if isinstance(sock, socket.socket) and hasattr(sock, "pending") and sock.pending():
                    continue
                break
        except Exception as exc:  # noqa: BLE001 - the connection broke (as aiomqtt treats it)
            if not self._disconnected.done():
                self._disconnected.set_exception(exc)
