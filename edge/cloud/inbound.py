"""Decode and apply a batch of inbound MQTT messages in one durable transaction.

Everything a message causes (order rows, jobs, events, dead letters, command replies)
is committed together, and only then are the messages acknowledged (CONTRACT §2).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic
import pydantic_core

from edge import outbox
from edge.cloud.topics import Topics
from edge.commands import CommandContext, Reply, ReplyTo, run_command, without_pins
from edge.db.faults import storage_fault
from edge.orders.intake import Intake, Lifecycle, apply_order
from edge.orders.model import INT64_MAX, Order, Timestamp
from edge.pos.attempts import store_event

log = logging.getLogger(__name__)

MAX_PAYLOAD = 256 * 1024
# An oversized payload is still parsed (up to this) to name the order it rejects.
_MAX_PARSE_FOR_ID = 8 * 1024 * 1024
# Dead letters keep the payload whole for a human to inspect, within reason.
_MAX_DEAD_LETTER = 16 * 1024 * 1024
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_MAX_ERRORS = 20


@dataclass(frozen=True)
class Inbound:
    """One message as received, independent of the MQTT library."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass
class Applied:
    """What a committed batch asks the rest of the daemon to do."""

    printers: set[str] = field(default_factory=set)
    scheduler: bool = False
    pos: bool = False
    replies: list[tuple[str, bytes, bytes | None]] = field(default_factory=list)
    pruned: int = 0
    deferred: bool = False  # a command to carry out later was stored (menu_sync)
    settings: bool = False  # in/settings changed

    def merge(self, intake: Intake) -> None:
        """Fold one order's effects in."""
        self.printers |= intake.printers
        self.scheduler = self.scheduler or intake.scheduler
        self.pos = self.pos or intake.pos


@dataclass(frozen=True)
class _Rejected:
    kind: str  # "order" | "command" | "events-ack" | "settings" | "unknown"
    reason: str
    errors: list[dict[str, Any]]
    order_id: str | None = None
    command_id: str | None = None


def _errors(err: pydantic.ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in err.errors(include_url=False)[:_MAX_ERRORS]
    ]


def parse_json(payload: bytes) -> Any:
    """Parse JSON from the cloud; ValueError when invalid, nested too deep (pydantic-core
    stops at 200 levels, where `json` would raise RecursionError) or not UTF-8."""
    return pydantic_core.from_json(payload)


def _readable_id(payload: bytes) -> str | None:
    if len(payload) > _MAX_PARSE_FOR_ID:
        return None
    try:
        doc = parse_json(payload)
    except ValueError:
        return None
    value = doc.get("id") if isinstance(doc, dict) else None
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
        return value
    return None


class EventsAck(pydantic.BaseModel):
    """`in/events-ack`: events up to `seq` are stored by the cloud."""

    model_config = pydantic.ConfigDict(strict=True, extra="ignore")
    seq: int = pydantic.Field(ge=0, le=INT64_MAX)


class Command(pydantic.BaseModel):
    """A command of CONTRACT §5."""

    model_config = pydantic.ConfigDict(strict=True, extra="ignore")
    id: str = pydantic.Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    name: str = pydantic.Field(min_length=1, max_length=64)
    args: dict[str, Any] = {}


class PosEvent(pydantic.BaseModel):
    """`in/pos-events`: a webhook the POS sent the cloud for this store, relayed as is."""

    model_config = pydantic.ConfigDict(strict=True, extra="ignore")
    pos: str = pydantic.Field(min_length=1, max_length=32)
    received_at: Timestamp | None = None
    body: dict[str, Any]


Decoded = Order | Command | EventsAck | PosEvent | dict[str, Any] | _Rejected


def decode(topics: Topics, msg: Inbound) -> Decoded:
    """Validate one payload; never raises."""
    try:
        return _decode(topics, msg)
    except Exception as err:  # a payload must never stop the link: it is rejected like any other
        log.exception("inbound: decoding a message on %s failed", msg.topic)
        return _Rejected(
            _kind(topics, msg.topic), "invalid", [{"msg": f"cannot be decoded: {err!r}"[:200]}]
        )


def _kind(topics: Topics, topic: str) -> str:
    return {
        topics.orders: "order",
        topics.commands: "command",
        topics.events_ack: "events-ack",
        topics.settings: "settings",
        topics.pos_events: "pos-event",
    }.get(topic, "unknown")


def _decode(topics: Topics, msg: Inbound) -> Decoded:
    kind = _kind(topics, msg.topic)
    if kind == "unknown":
        return _Rejected(
            "unknown", "wrong_topic", [{"msg": f"not a topic of this store: {msg.topic}"}]
        )
    if len(msg.payload) > MAX_PAYLOAD:
        # Rejected "the same way" as an invalid one (CONTRACT §2): name the order or command.
        rid = _readable_id(msg.payload) if kind in ("order", "command") else None
        return _Rejected(
            kind,
            "too_large",
            [{"msg": f"payload of {len(msg.payload)} bytes exceeds {MAX_PAYLOAD}"}],
            order_id=rid if kind == "order" else None,
            command_id=rid if kind == "command" else None,
        )
    models: dict[str, type[pydantic.BaseModel]] = {
        "order": Order,
        "command": Command,
        "events-ack": EventsAck,
        "pos-event": PosEvent,
    }
    model = models.get(kind)
    try:
        if model is None:  # settings: any JSON object, kept for the POS link
            doc = parse_json(msg.payload) if msg.payload else {}
            if not isinstance(doc, dict):
                return _Rejected(kind, "invalid", [{"msg": "settings must be a JSON object"}])
            return doc
        return model.model_validate_json(msg.payload)  # type: ignore[return-value]
    except pydantic.ValidationError as err:
        errors = _errors(err)
        reason = "invalid_json" if any(e["type"] == "json_invalid" for e in errors) else "invalid"
        rid = _readable_id(msg.payload)
        return _Rejected(
            kind,
            reason,
            errors,
            order_id=rid if kind == "order" else None,
            command_id=rid if kind == "command" else None,
        )
    except (ValueError, UnicodeDecodeError) as err:
        return _Rejected(kind, "invalid_json", [{"msg": str(err)[:200]}])


@dataclass(frozen=True)
class InboundSettings:
    """What applying inbound messages needs to know."""

    topics: Topics
    life: Lifecycle
    retention_s: float
    retention_max: int
    commands: CommandContext


def apply_batch(
    conn: sqlite3.Connection,
    settings: InboundSettings,
    batch: Sequence[tuple[Inbound, Decoded]],
    reply_to: Callable[[Inbound], str],
) -> Applied:
    """Apply decoded messages in arrival order inside the caller's transaction.

    Each message is applied under its own savepoint: one whose handling raises (a bug, a
    value SQLite cannot store) is undone alone, rejected and dead-lettered like any invalid
    payload, so it is acknowledged and never redelivered forever. A storage fault is not the
    message's doing: it propagates and the whole batch waits, unacknowledged.
    """
    applied = Applied()
    for msg, item in batch:
        conn.execute("SAVEPOINT message")
        try:
            _apply_one(conn, settings, msg, item, applied, reply_to)
        except Exception as err:
            if isinstance(err, sqlite3.OperationalError) or storage_fault(err) is not None:
                raise
            conn.execute("ROLLBACK TO message")
            log.exception("inbound: a message on %s could not be applied; rejected", msg.topic)
            _reject(conn, msg, _unprocessable(settings.topics, msg, err), applied, reply_to)
        conn.execute("RELEASE message")
    return applied


def _apply_one(
    conn: sqlite3.Connection,
    settings: InboundSettings,
    msg: Inbound,
    item: Decoded,
    applied: Applied,
    reply_to: Callable[[Inbound], str],
) -> None:
    if isinstance(item, Order):
        applied.merge(apply_order(conn, item, msg.payload.decode(), settings.life))
    elif isinstance(item, Command):
        reply = run_command(
            conn,
            settings.commands,
            item.id,
            item.name,
            item.args,
            ReplyTo(reply_to(msg), msg.correlation_data),
        )
        if reply is None:  # carried out later (menu_sync): answered when done
            applied.deferred = True
            return
        applied.printers |= reply.printers
        applied.replies.append((reply_to(msg), reply.payload(), msg.correlation_data))
    elif isinstance(item, EventsAck):
        applied.pruned += _confirm_events(conn, settings, item.seq)
    elif isinstance(item, PosEvent):
        received = item.received_at.isoformat() if item.received_at else None
        store_event(conn, item.pos, received, item.body)
        applied.pos = True
    elif isinstance(item, _Rejected):
        _reject(conn, msg, item, applied, reply_to)
    else:
        applied.settings = True
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('cloud_settings', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (json.dumps(item),),
        )


def _unprocessable(topics: Topics, msg: Inbound, err: Exception) -> _Rejected:
    kind = _kind(topics, msg.topic)
    rid = _readable_id(msg.payload) if kind in ("order", "command") else None
    return _Rejected(
        kind,
        "unprocessable",
        [{"msg": f"could not be applied: {err!r}"[:200]}],
        order_id=rid if kind == "order" else None,
        command_id=rid if kind == "command" else None,
    )


def _confirm_events(conn: sqlite3.Connection, settings: InboundSettings, seq: int) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'confirmed_seq'").fetchone()
    # A confirmation beyond what we ever issued (a cloud bug, another box's stream) must not
    # pre-confirm events that do not exist yet.
    confirmed = max(min(seq, outbox.last_seq(conn)), int(row[0]) if row else 0)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('confirmed_seq', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(confirmed),),
    )
    return outbox.prune(conn, confirmed, settings.retention_s, settings.retention_max)


def _reject(
    conn: sqlite3.Connection,
    msg: Inbound,
    item: _Rejected,
    applied: Applied,
    reply_to: Callable[[Inbound], str],
) -> None:
    conn.execute(
        "INSERT INTO dead_letters (topic, payload, reason, errors, received_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            msg.topic,
            # A command's PIN is never kept, even in a refused command.
            (without_pins(msg.payload) if item.kind == "command" else msg.payload)[
                :_MAX_DEAD_LETTER
            ],
            item.reason,
            json.dumps(item.errors),
            time.time(),
        ),
    )
    log.log(
        logging.INFO if item.kind == "order" else logging.WARNING,
        "inbound: %s on %s refused (%s): %s",
        item.kind,
        msg.topic,
        item.reason,
        _summary(item.errors),
    )
    if item.kind == "order":
        outbox.add_event(
            conn, "order.rejected", item.order_id, {"reason": item.reason, "errors": item.errors}
        )
    elif item.kind == "command" and item.command_id is not None:
        code = "internal_error" if item.reason == "unprocessable" else "invalid_command"
        reply = Reply.failure(item.command_id, code, _summary(item.errors))
        applied.replies.append((reply_to(msg), reply.payload(), msg.correlation_data))


def _summary(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e.get('loc', '')}: {e['msg']}".lstrip(": ") for e in errors[:5])
