"""The MQTT 5 connection: subscribe, presence, ordered PUBACK after commit, outbox publishing."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge import outbox, outgoing
from edge.backoff import Backoff
from edge.cloud import acks
from edge.cloud.client import GatedClient
from edge.cloud.inbound import Applied, Inbound, InboundSettings, apply_batch, decode
from edge.cloud.topics import Topics
from edge.crashpoints import crash_point
from edge.db import Database, Durability
from edge.db.health import StorageState
from edge.errors import EdgeError
from edge.ids import utc_now_rfc3339

log = logging.getLogger(__name__)

_BATCH_MAX = 200
_PUBLISH_WINDOW = 200


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect (from `[cloud]`)."""

    scheme: str  # mqtt | mqtts | unix
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 604800
    receive_maximum: int = 100
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Identity:
    """What presence says about this box."""

    device_id: str
    boot_id: str
    version: str


class CloudLink:
    """Owns the broker connection; reconnects forever with jittered backoff."""

    def __init__(
        self,
        broker: BrokerSettings,
        topics: Topics,
        identity: Identity,
        db: Database,
        inbound: InboundSettings,
        on_applied: Callable[[Applied], None],
    ) -> None:
        self.broker = broker
        self.topics = topics
        self.identity = identity
        self.db = db
        self.inbound = inbound
        self.on_applied = on_applied
        self.outbox_ready = asyncio.Event()
        self.outgoing_ready = asyncio.Event()  # edge/outgoing.py: menus, late replies
        self.connected = False
        self.last_error: str | None = None
        self._client: aiomqtt.Client | None = None
        self._receive_task: asyncio.Task[None] | None = None
        self._intake_open = True
        self._in_batch = False
        self._presence_changed = asyncio.Event()

    # ---- connection management -------------------------------------------------------

    def _presence(self, online: bool, at: str) -> bytes:
        doc = {
            "online": online,
            "device_id": self.identity.device_id,
            "boot_id": self.identity.boot_id,
            "version": self.identity.version,
            "at": at,
            # Not durable, so it can be told while the disk is full: ok | full | read_only |
            # io_error | corrupt (README "Storage faults").
            "storage": self.db.health.state.label,
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def _make_client(self, connected_at: str) -> GatedClient:
        b = self.broker
        connect_props = _properties(PacketTypes.CONNECT)
        connect_props.SessionExpiryInterval = b.session_expiry_s
        connect_props.ReceiveMaximum = b.receive_maximum
        will_props = _properties(PacketTypes.WILLMESSAGE)
        will_props.WillDelayInterval = 10  # CONTRACT: at most 15 s
        tls: ssl.SSLContext | None = None
        if b.scheme == "mqtts":
            tls = ssl.create_default_context(cafile=b.ca_file or None)
            if b.cert_file:
                tls.load_cert_chain(b.cert_file, b.key_file or None)
        client = GatedClient(
            b.host,
            b.port,
            identifier=b.client_id,
            username=b.username,
            password=b.password,
            protocol=aiomqtt.ProtocolVersion.V5,
            transport="unix" if b.scheme == "unix" else "tcp",
            clean_start=False,
            keepalive=b.keepalive_s,
            timeout=b.timeout_s,
            properties=connect_props,
            tls_context=tls,
            # At most this many received messages wait in memory (see edge/cloud/client.py).
            high_water=2 * b.receive_maximum,
            low_water=b.receive_maximum,
            will=aiomqtt.Will(
                self.topics.presence,
                self._presence(online=False, at=connected_at),
                qos=1,
                retain=True,
                properties=will_props,
            ),
        )
        acks.enable_manual_ack(client)
        # The outbox publishes a window of events at once; that is not a backlog worth a warning.
        client.pending_calls_threshold = _PUBLISH_WINDOW * 2
        return client

    async def run(self) -> None:
        """Connect, serve, and reconnect until cancelled."""
        backoff = Backoff(self.broker.backoff_initial_s, self.broker.backoff_max_s)
        while True:
            connected_at = utc_now_rfc3339()
            client = self._make_client(connected_at)  # a fresh client per attempt
            try:
                async with client:
                    self._client = client
                    acks.no_delay(client)
                    backoff.reset()
                    await self._serve(client, connected_at)
            except aiomqtt.MqttError as err:
                self.last_error = str(err)
                log.warning("cloud link: %s", err)
            except EdgeError as err:
                # Nothing was acknowledged: the broker redelivers after we reconnect.
                self.last_error = str(err)
                log.error("cloud link: %s; reconnecting", err)
            except Exception as err:  # a bug must not take printing down with the link
                self.last_error = f"internal error: {err!r}"
                log.exception("cloud link: unexpected error; reconnecting")
            finally:
                if self.connected:
                    log.info("cloud link: disconnected")
                self.connected = False
                self._client = None
            delay = backoff.next()
            log.info("cloud link: reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _serve(self, client: GatedClient, connected_at: str) -> None:
        await client.subscribe([(t, 1) for t in self.topics.inbound()])  # waits for SUBACK
        await client.publish(
            self.topics.presence, self._presence(online=True, at=connected_at), qos=1, retain=True
        )

        def _connected(conn: Any) -> None:
            last = outbox.last_seq(conn)
            outbox.add_event(
                conn, "edge.connected", None, {"last_seq": last, "version": self.identity.version}
            )

        await self.db.write_when_stored(_connected, new_work=True)
        self.connected = True
        self.last_error = None
        log.info("cloud link: connected to %s", self.broker.host)
        self.outbox_ready.set()
        try:
            async with asyncio.TaskGroup() as tg:
                self._receive_task = tg.create_task(self._receive(client), name="cloud-receive")
                tg.create_task(self._publish_outbox(client), name="cloud-outbox")
                tg.create_task(self._publish_outgoing(client), name="cloud-outgoing")
                tg.create_task(self._publish_presence(client, connected_at), name="cloud-presence")
        except BaseExceptionGroup as group:
            lost = group.subgroup(aiomqtt.MqttError)
            if lost is not None and lost.exceptions:
                raise aiomqtt.MqttError(str(lost.exceptions[0])) from group
            raise

    def storage_changed(self, before: StorageState, after: StorageState) -> None:
        """Tell the cloud at once (presence) that the disk failed or recovered."""
        self._presence_changed.set()

    async def _publish_presence(self, client: aiomqtt.Client, connected_at: str) -> None:
        while True:
            await self._presence_changed.wait()
            self._presence_changed.clear()
            await client.publish(
                self.topics.presence,
                self._presence(online=True, at=connected_at),
                qos=1,
                retain=True,
            )

    async def say_goodbye(self) -> None:
        """On clean shutdown: flush what we can, then presence offline before disconnecting."""
        client = self._client
        if client is None or not self.connected:
            return
        try:
            async with asyncio.timeout(3.0):
                await self._flush(client)
                await client.publish(
                    self.topics.presence,
                    self._presence(online=False, at=utc_now_rfc3339()),
                    qos=1,
                    retain=True,
                )
        except (TimeoutError, aiomqtt.MqttError) as err:
            log.warning("cloud link: could not say goodbye: %s", err)

    # ---- inbound ----------------------------------------------------------------------

    def _reply_topic(self, msg: Inbound) -> str:
        return msg.response_topic or self.topics.replies

    async def _receive(self, client: GatedClient) -> None:
        messages = aiter(client.messages)
        while self._intake_open:
            batch = [await anext(messages)]
            while len(client.messages) and len(batch) < _BATCH_MAX:
                batch.append(await anext(messages))
            client.taken()
            self._in_batch = True
            try:
                await self._apply(client, batch)
            finally:
                self._in_batch = False

    def stop_intake(self) -> None:
        """Take no new messages; a batch being committed is finished and acknowledged."""
        self._intake_open = False
        task = self._receive_task
        # A batch waiting out a storage fault is not acknowledged: the broker keeps it.
        if task is not None and (not self._in_batch or not self.db.health.ok):
            task.cancel()

    async def _apply(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        decoded = []
        for m in batch:
            msg = _to_inbound(m)
            decoded.append((msg, decode(self.topics, msg)))
        crash_point("before_commit")
        # While the disk is in fault the batch waits, unacknowledged, and no further message
        # is taken: the broker holds them (the gated client bounds what waits in memory).
        applied: Applied = await self.db.write_when_stored(
            lambda conn: apply_batch(conn, self.inbound, decoded, self._reply_topic),
            new_work=True,
        )
        crash_point("after_commit")
        for m in batch:  # in arrival order, as MQTT requires
            acks.ack(client, m)
        self.outbox_ready.set()
        self.on_applied(applied)
        for topic, payload, correlation in applied.replies:
            props = None
            if correlation is not None:
                props = _properties(PacketTypes.PUBLISH)
                props.CorrelationData = correlation
            try:
                await client.publish(topic, payload, qos=1, properties=props)
            except aiomqtt.MqttError as err:
                # The cloud re-sends the command and gets the stored reply.
                log.warning("cloud link: reply not published: %s", err)

    # ---- outbound events ----------------------------------------------------------------

    async def _publish_outbox(self, client: aiomqtt.Client) -> None:
        while True:
            await self.outbox_ready.wait()
            self.outbox_ready.clear()
            await self._flush(client)

    async def _flush(self, client: aiomqtt.Client) -> None:
        while True:
            events = await self.db.read(lambda conn: outbox.unpublished(conn, _PUBLISH_WINDOW))
            if not events:
                return
            await self.db.sync()  # on disk before the cloud sees them (their seq is final)
            store = self.inbound.commands.store_id
            # Tasks start in creation order, so paho sends the PUBLISHes in seq order.
            await asyncio.gather(
                *(
                    client.publish(
                        self.topics.events,
                        json.dumps(e.document(store), separators=(",", ":"), ensure_ascii=False),
                        qos=1,
                    )
                    for e in events
                )
            )
            # On a full disk this and the sync above go in the room the reserve gives back, as
            # the held tickets do: their order.printed events go out during the fault too.
            await self.db.write_when_stored(_marker([e.seq for e in events]), Durability.NORMAL)

    async def _publish_outgoing(self, client: aiomqtt.Client) -> None:
        self.outgoing_ready.set()  # what was queued while disconnected
        while True:
            await self.outgoing_ready.wait()
            self.outgoing_ready.clear()
            while messages := await self.db.read(outgoing.pending):
                for m in messages:  # one at a time: a menu can be megabytes
                    props = None
                    if m.user_properties or m.correlation is not None:
                        props = _properties(PacketTypes.PUBLISH)
                        if m.user_properties:
                            props.UserProperty = list(m.user_properties)
                        if m.correlation is not None:
                            props.CorrelationData = m.correlation
                    await client.publish(
                        m.topic, m.payload, qos=1, retain=m.retain, properties=props
                    )
                # As for events: in the room the reserve gives back during a disk fault.
                await self.db.write_when_stored(_sent(messages), Durability.NORMAL)


def _sent(messages: list[outgoing.Outgoing]) -> Callable[[sqlite3.Connection], None]:
    return lambda conn: outgoing.mark_sent(conn, messages)


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def _marker(seqs: list[int]) -> Callable[[sqlite3.Connection], None]:
    return lambda conn: outbox.mark_published(conn, seqs)


def _to_inbound(m: aiomqtt.Message) -> Inbound:
    props = m.properties
    response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
    correlation = getattr(props, "CorrelationData", None) if props is not None else None
    payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
    return Inbound(m.topic.value, payload, response_topic, correlation)
