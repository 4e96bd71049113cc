"""The durable records behind exactly-once injection: attempts, and relayed POS events."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from edge.orders.model import Order

from .model import Attempt

# SQL condition on a job `j`: its order was taken by the POS, which has not answered yet.
AWAITING_ANSWER = (
    "EXISTS (SELECT 1 FROM pos_attempts a WHERE a.order_id = j.order_id AND a.step = 'create'"
    " AND a.done = 0 AND json_extract(a.progress, '$.submitted_at') IS NOT NULL)"
)

# Relayed events kept per reference: a POS sends a handful per order (result, ready, closed).
_MAX_EVENTS = 50


def begin(conn: sqlite3.Connection, order: Order, step: str, reference: str) -> Attempt:
    """Record that a try of `step` is about to be sent; the attempt says what came before."""
    now = time.time()
    row = conn.execute(
        "SELECT tries, first_at, progress FROM pos_attempts"
        " WHERE order_id = ? AND revision = ? AND step = ?",
        (order.id, order.revision, step),
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO pos_attempts (order_id, revision, step, reference, tries, first_at,"
            " last_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
            (order.id, order.revision, step, reference, now, now),
        )
        tries, first_at, progress = 0, now, {}
    else:
        conn.execute(
            "UPDATE pos_attempts SET tries = tries + 1, last_at = ?"
            " WHERE order_id = ? AND revision = ? AND step = ?",
            (now, order.id, order.revision, step),
        )
        tries, first_at, progress = row["tries"], row["first_at"], json.loads(row["progress"])
    return Attempt(
        step=step,
        reference=reference,
        tries=tries,
        first_at=first_at,
        progress=progress,
        events=tuple(events_for(conn, reference)),
    )


def save_progress(
    conn: sqlite3.Connection, order: Order, step: str, progress: Mapping[str, Any]
) -> None:
    """Keep what the connector learned so far (e.g. the POS id of the order it created)."""
    conn.execute(
        "UPDATE pos_attempts SET progress = ? WHERE order_id = ? AND revision = ? AND step = ?",
        (json.dumps(dict(progress)), order.id, order.revision, step),
    )


def finish(
    conn: sqlite3.Connection, order: Order, step: str, pos_order_id: str | None = None
) -> None:
    """The step's outcome is recorded: later tries are not ambiguous about it."""
    conn.execute(
        "UPDATE pos_attempts SET done = 1, pos_order_id = COALESCE(?, pos_order_id)"
        " WHERE order_id = ? AND revision = ? AND step = ?",
        (pos_order_id, order.id, order.revision, step),
    )


def settle(
    conn: sqlite3.Connection,
    order_id: str,
    revision: int,
    found: Mapping[str, Any] | None,
) -> None:
    """An unanswered create is looked into: `found` is the POS order it made (as saved by
    `dataclasses.asdict` of an Injected), or None when it made none. Either way it is done."""
    pos_order_id = found["pos_order_id"] if found else None
    conn.execute(
        "UPDATE pos_attempts SET done = 1, pos_order_id = ?, progress = ?"
        " WHERE order_id = ? AND revision = ? AND step = 'create'",
        (pos_order_id, json.dumps({"injected": dict(found)} if found else {}), order_id, revision),
    )


def progress_of(conn: sqlite3.Connection, order: Order, step: str) -> dict[str, Any] | None:
    """What the last try of this step recorded, or None if it was never tried."""
    row = conn.execute(
        "SELECT progress FROM pos_attempts WHERE order_id = ? AND revision = ? AND step = ?",
        (order.id, order.revision, step),
    ).fetchone()
    return None if row is None else dict(json.loads(row["progress"]))


def tried(conn: sqlite3.Connection, order_id: str, revision: int, step: str) -> bool:
    """Whether a try of this step was ever sent for this revision."""
    row = conn.execute(
        "SELECT tries FROM pos_attempts WHERE order_id = ? AND revision = ? AND step = ?",
        (order_id, revision, step),
    ).fetchone()
    return row is not None and row["tries"] > 0


def events_for(conn: sqlite3.Connection, reference: str) -> list[dict[str, Any]]:
    """The POS events the cloud relayed for this reference, oldest first."""
    rows = conn.execute(
        "SELECT body FROM pos_events WHERE reference = ? ORDER BY id LIMIT ?",
        (reference, _MAX_EVENTS),
    ).fetchall()
    return [json.loads(r["body"]) for r in rows]


def store_event(
    conn: sqlite3.Connection, pos: str, received_at: str | None, body: Mapping[str, Any]
) -> str | None:
    """Keep one relayed POS event and hurry the jobs of the order it concerns.

    Returns the reference it names (None when it names none we can use).
    """
    reference = body.get("thirdPartyReference")
    reference = reference if isinstance(reference, str) and reference else None
    conn.execute(
        "INSERT INTO pos_events (pos, reference, received_at, body, stored_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (pos, reference, received_at, json.dumps(dict(body)), time.time()),
    )
    if reference is not None:
        conn.execute(
            "UPDATE jobs SET next_attempt_at = 0 WHERE kind IN ('inject', 'void')"
            " AND state = 'queued' AND order_id IN"
            " (SELECT order_id FROM pos_attempts WHERE reference = ?)",
            (reference,),
        )
    return reference
