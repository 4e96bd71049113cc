"""One bad message never stops a store: poison payloads on every `in/` topic, then an order.

A payload whose handling raised used to be left unacknowledged: the broker redelivered it on
every reconnect and no order behind it was ever received (issue 8).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator
from edge import outbox
from edge.cloud.inbound import Inbound, apply_batch, decode
from edge.db.migrations import migrate
from edge.orders.model import Order
from tests.conftest import load_order
from tests.edge.test_inbound import SETTINGS, TOPICS
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config

DEEP_ARRAYS = b"[" * 100_000
DEEP_OBJECTS = b'{"a":' * 100_000


def _huge_revision() -> bytes:
    return json.dumps(load_order("ubereats_delivery", id="ord_huge_rev", revision=2**63)).encode()


def _replay_from_huge_seq() -> bytes:
    return json.dumps({"id": "cmd_huge", "name": "replay", "args": {"from_seq": 2**70}}).encode()


POISONS = {
    "deep_arrays": DEEP_ARRAYS,
    "deep_objects": DEEP_OBJECTS,
    "huge_revision": _huge_revision(),
    "huge_from_seq": _replay_from_huge_seq(),
    "huge_ack": b'{"seq": 1180591620717411303424}',
}
TOPICS_IN = ("in/orders", "in/commands", "in/events-ack", "in/settings")


@pytest.fixture
async def kitchen() -> PrinterEmulator:
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


async def test_poison_on_every_topic_is_refused_acknowledged_and_the_next_order_prints(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}],
    )
    edge = EdgeProcess(config).start()
    edge_processes.append(edge)
    await cloud.wait_event("edge.connected")
    await cloud.subscribe("stores/st_test/out/replies")
    for topic in TOPICS_IN:
        for payload in POISONS.values():
            await cloud.publish(topic, payload)
    await cloud.send_order(load_order("self_delivery_with_tip"))

    await cloud.wait_event("order.printed", order_id="ord_web_0003", timeout=30)
    assert len(kitchen.jobs) == 1, "the order behind the poison printed, and only it"
    # Every poison on in/orders was refused with an event (and named when its id is readable).
    rejected = cloud.of_type("order.rejected")
    assert len(rejected) == len(POISONS)
    assert {e["order_id"] for e in rejected} == {None, "ord_huge_rev", "cmd_huge"}
    # The command with a readable id got an error reply, not silence.
    replies = [
        json.loads(p) for t, p, _ in cloud.messages if t.endswith("/out/replies") and p.strip()
    ]
    assert any(r["id"] == "cmd_huge" and r["ok"] is False for r in replies), replies
    with edge.db() as db:
        letters = db.execute("SELECT topic, reason FROM dead_letters").fetchall()
        (settings,) = db.execute("SELECT value FROM meta WHERE key = 'cloud_settings'").fetchone()
    # Each topic refused what it cannot take; a JSON object is a valid settings document.
    refused = {"/".join(row["topic"].split("/")[-2:]) for row in letters}
    assert refused == set(TOPICS_IN)
    # Not dead letters: the three JSON objects on in/settings (valid settings documents) and
    # the replay command on in/commands (valid; carried out as an error reply).
    assert len(letters) == len(TOPICS_IN) * len(POISONS) - 4
    assert json.loads(settings) == {"seq": 1180591620717411303424}
    assert edge.log().count("unexpected error; reconnecting") == 0
    assert len(cloud.of_type("edge.connected")) == 1, "the link never dropped"
    await cloud.publish("in/settings", b"", retain=True)


# ---- the guard itself: a message whose handling raises is undone alone ---------------------


def test_a_message_whose_handling_raises_is_rejected_alone(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "edge.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
    good = load_order("ubereats_delivery")
    # Validation would refuse it; built around validation, it reaches SQLite and overflows.
    bad_doc = load_order("ubereats_delivery", id="ord_bad")
    bad = Order.model_validate_json(json.dumps(bad_doc)).model_copy(update={"revision": 2**70})
    batch: list[tuple[Inbound, Any]] = [
        (Inbound(TOPICS.orders, json.dumps(bad_doc).encode()), bad),
    ]
    good_msg = Inbound(TOPICS.orders, json.dumps(good).encode())
    batch.append((good_msg, decode(TOPICS, good_msg)))
    conn.execute("BEGIN IMMEDIATE")
    apply_batch(conn, SETTINGS, batch, lambda m: TOPICS.replies)
    conn.execute("COMMIT")

    orders = [r[0] for r in conn.execute("SELECT id FROM orders")]
    assert orders == [good["id"]], "the bad one left nothing; the good one went on"
    [letter] = conn.execute("SELECT reason FROM dead_letters").fetchall()
    assert letter["reason"] == "unprocessable"
    events = outbox.unpublished(conn)
    [rejected] = [e for e in events if e.type == "order.rejected"]
    assert rejected.order_id == "ord_bad"
    assert rejected.data["reason"] == "unprocessable"
    assert [e.order_id for e in events if e.type == "order.received"] == [good["id"]]
