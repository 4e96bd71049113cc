"""The gated MQTT client keeps the backlog in memory bounded, whatever the broker sends.

Debian's mosquitto 2.0.11 releases a whole Receive Maximum window for every PUBACK, so a
client that relies on Receive Maximum alone ends up holding a rush in memory.
"""

from __future__ import annotations

import asyncio

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.cloud import acks
from edge.cloud.client import GatedClient
from tests.support.broker import Broker

MESSAGES = 2000
RECEIVE_MAXIMUM = 10


def _client(broker: Broker, high_water: int) -> GatedClient:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    props.SessionExpiryInterval = 600
    client = GatedClient(
        "127.0.0.1",
        broker.port,
        identifier="gated",
        protocol=paho.MQTTv5,
        clean_start=False,
        properties=props,
        high_water=high_water,
        low_water=high_water // 2,
    )
    acks.enable_manual_ack(client)
    return client


async def _publish(broker: Broker, n: int) -> None:
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, "flood", protocol=paho.MQTTv5)
    publisher.max_inflight_messages_set(1000)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    try:
        infos = [publisher.publish("flood", f"{i}".encode(), qos=1) for i in range(n)]
        await asyncio.to_thread(lambda: [info.wait_for_publish(30) for info in infos])
    finally:
        publisher.loop_stop()
        publisher.disconnect()


async def _consume(client: GatedClient, n: int, batch_max: int) -> tuple[list[int], int]:
    """Take messages in batches, as the cloud link does, acknowledging each batch after a
    pause (its commit); the payloads in order, and the most messages held at once."""
    messages = aiter(client.messages)
    got: list[int] = []
    most = 0
    while len(got) < n:
        batch = [await anext(messages)]
        while len(client.messages) and len(batch) < batch_max:
            batch.append(await anext(messages))
        client.taken()
        most = max(most, len(batch) + len(client.messages))
        await asyncio.sleep(0.002)  # the durable commit a batch costs
        for message in batch:
            acks.ack(client, message)
            assert isinstance(message.payload, bytes)
            got.append(int(message.payload))
    return got, most


async def test_a_flood_waits_at_the_broker_not_in_memory(broker: Broker) -> None:
    high_water = 40
    async with _client(broker, high_water) as client:
        await client.subscribe("flood", qos=1)
        publishing = asyncio.create_task(_publish(broker, MESSAGES))
        async with asyncio.timeout(60):
            got, most = await _consume(client, MESSAGES, batch_max=high_water)
        await publishing
    assert got == list(range(MESSAGES)), "every message, once, in order"
    # The batch being committed, plus the queue behind it (about 1,000 without the gate).
    assert most <= 2 * high_water + 2, f"{most} messages held in memory at once"
    assert client.paused > 0, "this broker floods: reading had to pause"
