"""Manual PUBACK for aiomqtt (acknowledge an order only after its durable commit), and the
socket option aiomqtt does not expose.

aiomqtt (2.5.x) lets paho PUBACK a QoS 1 message as soon as it reaches aiomqtt's
in-memory queue, so a crash before our commit would lose it. paho's manual-ack mode
fixes that; aiomqtt does not expose it, so this is the one place that reaches into
`aiomqtt.Client._client`. aiomqtt is pinned < 3 for this reason (see DESIGN.md), and
tests/edge/test_crash.py kills the daemon between receipt and commit to prove it.
"""

from __future__ import annotations

import socket

import aiomqtt
import paho.mqtt.client as paho


def _paho(client: aiomqtt.Client) -> paho.Client:
    inner = getattr(client, "_client", None)
    if not isinstance(inner, paho.Client):
        raise RuntimeError("aiomqtt internals changed: cannot reach the paho client for manual ack")
    return inner


def enable_manual_ack(client: aiomqtt.Client) -> None:
    """Switch the client to manual acknowledgement; call right after constructing it."""
    _paho(client).manual_ack_set(True)


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> bool:
    """Send the PUBACK for `message`; False if the connection is gone (the broker redelivers)."""
    if message.qos == 0:
        return True
    rc = _paho(client).ack(message.mid, message.qos)
    return rc == paho.MQTT_ERR_SUCCESS


def no_delay(client: aiomqtt.Client) -> None:
    """Send small packets at once (TCP_NODELAY) on a connected client.

    paho leaves Nagle's algorithm on: a PUBLISH that follows a PUBACK then waits for the
    broker's delayed ACK (~40 ms at p99 on a broker that also leaves it on, DESIGN.md).
    """
    sock = _paho(client).socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
