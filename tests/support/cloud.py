"""The cloud's side of the link, for tests: publishes orders and commands, collects events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

Event = dict[str, Any]


class FakeCloud:
    """An MQTT 5 client subscribed to the store's `out/#` topics."""

    def __init__(self, port: int, store: str = "st_test", prefix: str = "stores") -> None:
        self.port = port
        self.base = f"{prefix}/{store}"
        self.events: list[Event] = []
        self.messages: list[tuple[str, bytes, Any]] = []
        self._changed = asyncio.Condition()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FakeCloud:
        self._client = aiomqtt.Client(
            "127.0.0.1", self.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="fake-cloud"
        )
        await self._client.__aenter__()
        await self._client.subscribe(f"{self.base}/out/#", qos=1)
        self._task = asyncio.create_task(self._collect(), name="fake-cloud")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        assert self._client is not None
        async for msg in self._client.messages:
            payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
            async with self._changed:
                self.messages.append((msg.topic.value, payload, msg.properties))
                if msg.topic.value.endswith("/out/events"):
                    self.events.append(json.loads(payload))
                self._changed.notify_all()

    async def publish(self, topic: str, payload: bytes | str | dict[str, Any], **kw: Any) -> None:
        """Publish QoS 1 to `{p}/{s}/<topic>`."""
        assert self._client is not None
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        await self._client.publish(f"{self.base}/{topic}", payload, qos=1, **kw)

    async def send_order(self, order: dict[str, Any] | bytes | str) -> None:
        """Publish an order on `in/orders`."""
        await self.publish("in/orders", order)

    async def send_command(
        self,
        command: dict[str, Any],
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> None:
        """Publish a command, optionally with an MQTT 5 response topic."""
        props = None
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = response_topic
            if correlation is not None:
                props.CorrelationData = correlation
        await self.publish("in/commands", command, properties=props)

    async def subscribe(self, topic: str) -> None:
        """Also collect messages of another topic."""
        assert self._client is not None
        await self._client.subscribe(topic, qos=1)

    async def wait_for(
        self, predicate: Callable[[list[Event]], bool], timeout: float = 20.0, what: str = ""
    ) -> list[Event]:
        """Wait until `predicate(events)` holds; fail with the events seen so far."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: predicate(self.events))
        except TimeoutError:
            seen = "\n".join(json.dumps(e, ensure_ascii=False) for e in self.events[-30:])
            raise AssertionError(
                f"timed out waiting for {what or 'events'}; last events:\n{seen}"
            ) from None
        return self.events

    async def wait_event(
        self, type_: str, timeout: float = 20.0, count: int = 1, **match: Any
    ) -> list[Event]:
        """Wait for `count` events of `type_` whose fields (or data fields) match."""

        def matching(events: list[Event]) -> list[Event]:
            return [e for e in events if e["type"] == type_ and _matches(e, match)]

        await self.wait_for(
            lambda ev: len(matching(ev)) >= count, timeout, f"{count}x {type_} {match}"
        )
        return matching(self.events)

    async def wait_message(
        self, topic_suffix: str, timeout: float = 20.0
    ) -> tuple[str, bytes, Any]:
        """Wait for a message on a topic ending with `topic_suffix`."""

        def found() -> bool:
            return any(t.endswith(topic_suffix) for t, _, _ in self.messages)

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(found)
        except TimeoutError:
            raise AssertionError(
                f"no message on *{topic_suffix}; got {[t for t, _, _ in self.messages]}"
            ) from None
        return next(m for m in self.messages if m[0].endswith(topic_suffix))

    def of_type(self, type_: str, **match: Any) -> list[Event]:
        """Events received so far of a type."""
        return [e for e in self.events if e["type"] == type_ and _matches(e, match)]


def _matches(event: Event, match: dict[str, Any]) -> bool:
    for key, want in match.items():
        have = event.get(key, event.get("data", {}).get(key, object()))
        if have != want:
            return False
    return True
