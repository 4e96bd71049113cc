"""Inbound messages (CONTRACT §2) and commands (§5) at the database level: no broker."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge import jobs, outbox
from edge.cloud.inbound import (
    MAX_PAYLOAD,
    Applied,
    Command,
    EventsAck,
    Inbound,
    InboundSettings,
    apply_batch,
    decode,
)
from edge.cloud.topics import Topics
from edge.commands import CommandContext, run_command
from edge.db.migrations import migrate
from edge.orders.intake import Lifecycle
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute
from tests.conftest import load_order

TOPICS = Topics("stores", "st_test")
ROUTES = (PrinterRoute("kitchen"), PrinterRoute("bar", brands=("Pasta Nostra",)))
CTX = CommandContext(store_id="st_test", version="0.0.test", routes=ROUTES)
SETTINGS = InboundSettings(
    topics=TOPICS,
    life=Lifecycle(ROUTES, release_lead_s=1800.0),
    retention_s=7 * 24 * 3600.0,
    retention_max=100_000,
    commands=CTX,
)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated SQLite file."""
    c = sqlite3.connect(tmp_path / "edge.db", isolation_level=None)
    c.row_factory = sqlite3.Row
    migrate(c)
    try:
        yield c
    finally:
        c.close()


def msg(topic: str, payload: bytes | str | dict[str, Any] | list[Any], **kw: Any) -> Inbound:
    """An inbound message; documents are encoded as JSON."""
    if isinstance(payload, dict | list):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return Inbound(topic, payload, **kw)


def apply(conn: sqlite3.Connection, *messages: Inbound) -> Applied:
    """Decode and apply messages in one transaction, as the cloud link does."""
    batch = [(m, decode(TOPICS, m)) for m in messages]
    conn.execute("BEGIN IMMEDIATE")
    try:
        applied = apply_batch(conn, SETTINGS, batch, lambda m: m.response_topic or TOPICS.replies)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return applied


def command(conn: sqlite3.Connection, command_id: str, name: str, **args: Any) -> dict[str, Any]:
    """Run a command directly; the reply document."""
    return run_command(conn, CTX, command_id, name, args).document


def dead_letters(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every dead letter, oldest first."""
    return [dict(r) for r in conn.execute("SELECT * FROM dead_letters ORDER BY id")]


def events(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every event in seq order."""
    return [
        {
            "seq": r["seq"],
            "type": r["type"],
            "order_id": r["order_id"],
            "data": json.loads(r["data"]),
        }
        for r in conn.execute("SELECT * FROM events ORDER BY seq")
    ]


def reason(decoded: object) -> str:
    """The reason of a rejected decode."""
    value = getattr(decoded, "reason", None)
    assert isinstance(value, str), f"not rejected: {decoded!r}"
    return value


# ---- decode -----------------------------------------------------------------------------------


def test_decode_valid_messages() -> None:
    order = decode(TOPICS, msg(TOPICS.orders, load_order("ubereats_delivery")))
    assert isinstance(order, Order)
    assert order.id == "ord_ue_0001"
    cmd = decode(TOPICS, msg(TOPICS.commands, {"id": "cmd_1", "name": "ping"}))
    assert isinstance(cmd, Command)
    assert (cmd.id, cmd.name, cmd.args) == ("cmd_1", "ping", {})
    ack = decode(TOPICS, msg(TOPICS.events_ack, {"seq": 7}))
    assert isinstance(ack, EventsAck)
    assert ack.seq == 7
    assert decode(TOPICS, msg(TOPICS.settings, {"pos": {"x": 1}})) == {"pos": {"x": 1}}
    # A cleared retained message is an empty payload: no settings.
    assert decode(TOPICS, msg(TOPICS.settings, b"")) == {}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"id": "ord_1", "revision": 1,', "invalid_json"),
        (b"\xff\xfe not utf-8", "invalid_json"),
        (b"", "invalid_json"),
        (b'["ord_1"]', "invalid"),
        (b"42", "invalid"),
        (b"null", "invalid"),
    ],
)
def test_decode_unparsable_or_non_object_order(payload: bytes, expected: str) -> None:
    decoded = decode(TOPICS, msg(TOPICS.orders, payload))
    assert reason(decoded) == expected
    assert getattr(decoded, "order_id", "x") is None


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"revision": "1"}, "revision"),
        ({"revision": 1.0}, "revision"),
        ({"revision": 0}, "revision"),
        ({"revision": True}, "revision"),
        ({"status": "done"}, "status"),
        ({"type": "drive_through"}, "type"),
        ({"placed_at": "2026-11-23T18:02:11"}, "placed_at"),
        ({"items": []}, "items"),
        ({"items": [{"name": "Frites", "quantity": 0, "unit_price": 450}]}, "items.0.quantity"),
        (
            {"items": [{"name": "Frites", "quantity": 1, "unit_price": "4.50"}]},
            "items.0.unit_price",
        ),
        ({"source": {"partner": "ubereats", "display_id": "x" * 33}}, "source.display_id"),
        ({"source": {"partner": "ubereats", "display_id": "\u200b"}}, "source.display_id"),
        ({"source": {"partner": "ubereats", "display_id": "  "}}, "source.display_id"),
    ],
)
def test_decode_order_with_wrong_types_names_the_order(changes: dict[str, Any], loc: str) -> None:
    decoded = decode(TOPICS, msg(TOPICS.orders, load_order("ubereats_delivery", **changes)))
    assert reason(decoded) == "invalid"
    assert getattr(decoded, "order_id", None) == "ord_ue_0001"
    assert loc in [e["loc"] for e in getattr(decoded, "errors", [])]


@pytest.mark.parametrize("missing", ["revision", "status", "source", "type", "placed_at", "items"])
def test_decode_order_missing_required_field(missing: str) -> None:
    doc = load_order("ubereats_delivery")
    del doc[missing]
    decoded = decode(TOPICS, msg(TOPICS.orders, doc))
    assert reason(decoded) == "invalid"
    assert getattr(decoded, "order_id", None) == "ord_ue_0001"
    assert missing in [e["loc"] for e in getattr(decoded, "errors", [])]


def test_decode_order_without_readable_id() -> None:
    doc = load_order("ubereats_delivery", id="not a valid id!")
    decoded = decode(TOPICS, msg(TOPICS.orders, doc))
    assert reason(decoded) == "invalid"
    assert getattr(decoded, "order_id", "x") is None
    del doc["id"]
    assert getattr(decode(TOPICS, msg(TOPICS.orders, doc)), "order_id", "x") is None


def test_decode_too_large_order_still_names_it() -> None:
    doc = load_order("ubereats_delivery", notes="x" * 400, padding="y" * MAX_PAYLOAD)
    decoded = decode(TOPICS, msg(TOPICS.orders, doc))
    assert reason(decoded) == "too_large"
    assert getattr(decoded, "order_id", None) == "ord_ue_0001"
    # Exactly at the limit is accepted (as far as size goes).
    doc = load_order("ubereats_delivery")
    base = len(json.dumps({**doc, "padding": ""}).encode())
    at_limit = msg(TOPICS.orders, {**doc, "padding": "y" * (MAX_PAYLOAD - base)})
    assert len(at_limit.payload) == MAX_PAYLOAD
    assert isinstance(decode(TOPICS, at_limit), Order)


def test_decode_wrong_topic() -> None:
    for topic in (
        "stores/st_other/in/orders",
        "stores/st_test/in/unknown",
        "other/st_test/in/orders",
    ):
        decoded = decode(TOPICS, msg(topic, load_order("ubereats_delivery")))
        assert reason(decoded) == "wrong_topic"


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        (TOPICS.commands, b"{nope", "invalid_json"),
        (TOPICS.commands, b'"ping"', "invalid"),
        (TOPICS.commands, b'{"id": "cmd_1"}', "invalid"),
        (TOPICS.commands, b'{"id": 1, "name": "ping"}', "invalid"),
        (TOPICS.commands, b'{"id": "cmd_1", "name": "ping", "args": []}', "invalid"),
        (TOPICS.events_ack, b'{"seq": "3"}', "invalid"),
        (TOPICS.events_ack, b'{"seq": -1}', "invalid"),
        (TOPICS.events_ack, b"[3]", "invalid"),
        (TOPICS.events_ack, b"{", "invalid_json"),
        (TOPICS.settings, b"[1, 2]", "invalid"),
        (TOPICS.settings, b"{", "invalid_json"),
    ],
)
def test_decode_other_malformed_payloads(topic: str, payload: bytes, expected: str) -> None:
    assert reason(decode(TOPICS, msg(topic, payload))) == expected


@pytest.mark.parametrize("topic", [TOPICS.commands, TOPICS.events_ack, TOPICS.settings])
def test_decode_too_large_on_every_topic(topic: str) -> None:
    payload = {"id": "cmd_big", "name": "ping", "args": {"pad": "z" * MAX_PAYLOAD}}
    assert reason(decode(TOPICS, msg(topic, payload))) == "too_large"


# ---- apply_batch ------------------------------------------------------------------------------


def test_batch_applies_a_valid_order(conn: sqlite3.Connection) -> None:
    applied = apply(conn, msg(TOPICS.orders, load_order("ubereats_delivery")))
    assert applied.printers == {"kitchen"}
    assert [e["type"] for e in events(conn)] == ["order.received"]
    assert [j.ticket for j in jobs.order_jobs(conn, "ord_ue_0001")] == ["kitchen"]


def test_same_order_twice_in_one_batch_is_a_duplicate(conn: sqlite3.Connection) -> None:
    order = msg(TOPICS.orders, load_order("ubereats_delivery"))
    apply(conn, order, order)
    assert [e["data"]["duplicate"] for e in events(conn)] == [False, True]
    assert len(jobs.order_jobs(conn, "ord_ue_0001")) == 1


@pytest.mark.parametrize(
    ("payload", "order_id", "why"),
    [
        (b"{not json", None, "invalid_json"),
        (
            json.dumps(load_order("ubereats_delivery", revision="1")).encode(),
            "ord_ue_0001",
            "invalid",
        ),
        (
            json.dumps(load_order("ubereats_delivery", pad="p" * (MAX_PAYLOAD + 1))).encode(),
            "ord_ue_0001",
            "too_large",
        ),
    ],
)
def test_rejected_order_is_dead_lettered_and_reported(
    conn: sqlite3.Connection, payload: bytes, order_id: str | None, why: str
) -> None:
    applied = apply(conn, msg(TOPICS.orders, payload))
    assert applied.printers == set()
    assert applied.replies == []
    [dead] = dead_letters(conn)
    assert (dead["topic"], dead["reason"], bytes(dead["payload"])) == (TOPICS.orders, why, payload)
    assert json.loads(dead["errors"])
    [rejected] = events(conn)
    assert rejected["type"] == "order.rejected"
    assert rejected["order_id"] == order_id
    assert rejected["data"]["reason"] == why
    assert rejected["data"]["errors"] == json.loads(dead["errors"])
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0


def test_rejected_order_does_not_stop_the_batch(conn: sqlite3.Connection) -> None:
    applied = apply(
        conn,
        msg(TOPICS.orders, b"[]"),
        msg(TOPICS.orders, load_order("ubereats_delivery")),
    )
    assert applied.printers == {"kitchen"}
    assert [e["type"] for e in events(conn)] == ["order.rejected", "order.received"]


def test_wrong_topic_is_only_dead_lettered(conn: sqlite3.Connection) -> None:
    applied = apply(conn, msg("stores/st_other/in/orders", load_order("ubereats_delivery")))
    assert applied.replies == []
    assert [d["reason"] for d in dead_letters(conn)] == ["wrong_topic"]
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0


def test_invalid_command_with_readable_id_gets_an_error_reply(conn: sqlite3.Connection) -> None:
    applied = apply(
        conn,
        msg(
            TOPICS.commands,
            {"id": "cmd_bad", "name": 42},
            response_topic="cloud/replies/1",
            correlation_data=b"corr",
        ),
    )
    [(topic, payload, correlation)] = applied.replies
    assert (topic, correlation) == ("cloud/replies/1", b"corr")
    reply = json.loads(payload)
    assert reply["id"] == "cmd_bad"
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid_command"
    assert [d["reason"] for d in dead_letters(conn)] == ["invalid"]
    assert events(conn) == []


def test_too_large_command_with_readable_id_gets_an_error_reply(
    conn: sqlite3.Connection,
) -> None:
    payload = {"id": "cmd_big", "name": "ping", "args": {"pad": "z" * MAX_PAYLOAD}}
    applied = apply(conn, msg(TOPICS.commands, payload))
    [(topic, body, _)] = applied.replies
    assert topic == TOPICS.replies
    reply = json.loads(body)
    assert (reply["id"], reply["ok"]) == ("cmd_big", False)
    assert [d["reason"] for d in dead_letters(conn)] == ["too_large"]
    # It was not carried out, and its id stays free for a valid retry.
    assert conn.execute("SELECT COUNT(*) FROM commands").fetchone()[0] == 0


@pytest.mark.parametrize(
    "payload", [b"{oops", b'{"id": "bad id!", "name": "ping"}', b'{"name": "ping"}', b"[]"]
)
def test_command_without_readable_id_is_only_dead_lettered(
    conn: sqlite3.Connection, payload: bytes
) -> None:
    applied = apply(conn, msg(TOPICS.commands, payload))
    assert applied.replies == []
    assert len(dead_letters(conn)) == 1
    assert events(conn) == []


def test_valid_command_is_replied_to_on_replies_topic(conn: sqlite3.Connection) -> None:
    applied = apply(conn, msg(TOPICS.commands, {"id": "cmd_ping", "name": "ping"}))
    [(topic, payload, correlation)] = applied.replies
    assert (topic, correlation) == (TOPICS.replies, None)
    assert json.loads(payload) == {
        "id": "cmd_ping",
        "ok": True,
        "result": {"pong": True, "version": "0.0.test"},
    }


def test_events_ack_prunes_published_events_up_to_seq(conn: sqlite3.Connection) -> None:
    seqs = [outbox.add_event(conn, "test") for _ in range(5)]
    outbox.mark_published(conn, seqs[:4])
    applied = apply(conn, msg(TOPICS.events_ack, {"seq": seqs[2]}))
    assert applied.pruned == 3
    assert [e["seq"] for e in events(conn)] == seqs[3:]
    # An older ack never moves the confirmation back.
    apply(conn, msg(TOPICS.events_ack, {"seq": seqs[0]}))
    row = conn.execute("SELECT value FROM meta WHERE key = 'confirmed_seq'").fetchone()
    assert int(row[0]) == seqs[2]
    # The unpublished event is kept even when acknowledged.
    apply(conn, msg(TOPICS.events_ack, {"seq": seqs[4]}))
    assert [e["seq"] for e in events(conn)] == [seqs[4]]
    assert outbox.last_seq(conn) == seqs[4]


def test_settings_payload_is_stored(conn: sqlite3.Connection) -> None:
    doc = {"pos": {"injection": {"ubereats": True}}, "note": "Crème"}
    apply(conn, msg(TOPICS.settings, doc))
    apply(conn, msg(TOPICS.settings, {**doc, "note": "v2"}))
    row = conn.execute("SELECT value FROM meta WHERE key = 'cloud_settings'").fetchone()
    assert json.loads(row[0]) == {**doc, "note": "v2"}
    assert dead_letters(conn) == []


# ---- commands ---------------------------------------------------------------------------------


def test_same_command_id_twice_is_carried_out_once(conn: sqlite3.Connection) -> None:
    apply(conn, msg(TOPICS.orders, load_order("ubereats_delivery")))
    cmd = msg(
        TOPICS.commands, {"id": "cmd_r1", "name": "reprint", "args": {"order_id": "ord_ue_0001"}}
    )
    first = apply(conn, cmd)
    second = apply(conn, cmd)
    assert first.printers == {"kitchen"}
    assert second.printers == set()
    assert first.replies[0][1] == second.replies[0][1]
    reply = json.loads(first.replies[0][1])
    assert reply["ok"] is True
    assert reply["result"]["printers"] == ["kitchen"]
    reprints = [j for j in jobs.order_jobs(conn, "ord_ue_0001") if j.reprint]
    assert [(j.printer, j.ticket) for j in reprints] == [("kitchen", "kitchen")]


def test_same_command_id_with_other_content_repeats_the_first_reply(
    conn: sqlite3.Connection,
) -> None:
    first = command(conn, "cmd_x", "ping")
    assert command(conn, "cmd_x", "print_test", printer="kitchen") == first
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_reprint_targets(conn: sqlite3.Connection) -> None:
    apply(conn, msg(TOPICS.orders, load_order("deliveroo_pickup_scheduled", scheduled_for=None)))
    conn.execute("UPDATE jobs SET state = 'done' WHERE printer = 'bar'")
    # Without a printer: where it printed.
    reply = command(conn, "cmd_1", "reprint", order_id="ord_dr_0002")
    assert reply["result"]["printers"] == ["bar"]
    # With a printer: that one.
    reply = command(conn, "cmd_2", "reprint", order_id="ord_dr_0002", printer="kitchen")
    assert reply["result"]["printers"] == ["kitchen"]
    reprints = [(j.printer, j.revision) for j in jobs.order_jobs(conn, "ord_dr_0002") if j.reprint]
    assert reprints == [("bar", 1), ("kitchen", 1)]


def test_reprint_of_a_cancelled_order_reprints_its_cancellation(conn: sqlite3.Connection) -> None:
    apply(conn, msg(TOPICS.orders, load_order("ubereats_delivery")))
    conn.execute("UPDATE jobs SET state = 'done'")
    apply(conn, msg(TOPICS.orders, load_order("ubereats_delivery", revision=2, status="cancelled")))
    reply = command(conn, "cmd_1", "reprint", order_id="ord_ue_0001")
    assert reply["result"]["ticket"] == "cancellation"
    reprints = [(j.printer, j.ticket) for j in jobs.order_jobs(conn, "ord_ue_0001") if j.reprint]
    assert reprints == [("kitchen", "cancellation")]


def test_reprint_of_unknown_order_is_not_found(conn: sqlite3.Connection) -> None:
    reply = command(conn, "cmd_1", "reprint", order_id="ord_nope")
    assert reply["ok"] is False
    assert reply["error"]["code"] == "not_found"
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    # The failure is remembered like any reply.
    apply(conn, msg(TOPICS.orders, load_order("ubereats_delivery", id="ord_nope")))
    assert command(conn, "cmd_1", "reprint", order_id="ord_nope") == reply


def test_reprint_on_unknown_printer_and_bad_args(conn: sqlite3.Connection) -> None:
    apply(conn, msg(TOPICS.orders, load_order("ubereats_delivery")))
    reply = command(conn, "cmd_1", "reprint", order_id="ord_ue_0001", printer="nope")
    assert reply["error"]["code"] == "not_found"
    reply = command(conn, "cmd_2", "reprint", order_id=5)
    assert reply["error"]["code"] == "invalid_args"
    reply = command(conn, "cmd_3", "frobnicate")
    assert reply["error"]["code"] == "unknown_command"


def test_replay_marks_events_from_seq_unpublished(conn: sqlite3.Connection) -> None:
    seqs = [outbox.add_event(conn, "test") for _ in range(4)]
    outbox.mark_published(conn, seqs)
    assert outbox.unpublished(conn) == []
    reply = command(conn, "cmd_replay", "replay", from_seq=seqs[2])
    assert reply == {
        "id": "cmd_replay",
        "ok": True,
        "result": {"from_seq": seqs[2], "oldest_seq": seqs[0], "count": 2},
    }
    assert [e.seq for e in outbox.unpublished(conn)] == seqs[2:]
    for bad in ("1", -1, True, None):
        reply = command(conn, f"cmd_bad_{bad}", "replay", from_seq=bad)
        assert reply["error"]["code"] == "invalid_args"


def test_print_test(conn: sqlite3.Connection) -> None:
    reply = command(conn, "cmd_1", "print_test", printer="nope")
    assert (reply["ok"], reply["error"]["code"]) == (False, "not_found")
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    reply = command(conn, "cmd_2", "print_test", printer="kitchen")
    assert reply["ok"] is True
    job = jobs.head_print_job(conn, "kitchen", now=1e12)
    assert job is not None
    assert (job.ticket, job.order_id) == ("test", None)


def test_status_reports_last_seq_and_queues(conn: sqlite3.Connection) -> None:
    apply(conn, msg(TOPICS.orders, load_order("ubereats_delivery")))
    reply = command(conn, "cmd_status", "status")
    result = reply["result"]
    assert result["store_id"] == "st_test"
    assert result["last_seq"] == outbox.last_seq(conn) == 1
    assert result["queues"] == {"print": {"queued": 1}}
