"""The event outbox: events are written in the same transaction as the change they report."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge.ids import ulid, utc_now_rfc3339


@dataclass(frozen=True)
class OutboxEvent:
    """One row of the outbox, ready to publish."""

    seq: int
    id: str
    type: str
    at: str
    order_id: str | None
    data: dict[str, Any]

    def document(self, store_id: str) -> dict[str, Any]:
        """The Event document of CONTRACT §4."""
        return {
            "id": self.id,
            "seq": self.seq,
            "type": self.type,
            "at": self.at,
            "store_id": store_id,
            "order_id": self.order_id,
            "data": self.data,
        }


def add_event(
    conn: sqlite3.Connection,
    type_: str,
    order_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> int:
    """Append an event inside the caller's transaction; returns its `seq`."""
    now = time.time()
    cur = conn.execute(
        "INSERT INTO events (id, type, at, order_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            "evt_" + ulid(now),
            type_,
            utc_now_rfc3339(now),
            order_id,
            json.dumps(dict(data or {}), separators=(",", ":"), ensure_ascii=False),
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _row_event(row: sqlite3.Row) -> OutboxEvent:
    return OutboxEvent(
        seq=row["seq"],
        id=row["id"],
        type=row["type"],
        at=row["at"],
        order_id=row["order_id"],
        data=json.loads(row["data"]),
    )


def unpublished(conn: sqlite3.Connection, limit: int = 500) -> list[OutboxEvent]:
    """The oldest events not yet acknowledged by the broker, in `seq` order."""
    rows = conn.execute(
        "SELECT * FROM events WHERE published_at IS NULL ORDER BY seq LIMIT ?", (limit,)
    ).fetchall()
    return [_row_event(r) for r in rows]


def events_from(conn: sqlite3.Connection, from_seq: int, limit: int = 10_000) -> list[OutboxEvent]:
    """Events still held with `seq >= from_seq` (for the `replay` command)."""
    rows = conn.execute(
        "SELECT * FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (from_seq, limit)
    ).fetchall()
    return [_row_event(r) for r in rows]


def mark_published(conn: sqlite3.Connection, seqs: list[int]) -> None:
    """Record that the broker acknowledged these events."""
    now = time.time()
    conn.executemany(
        "UPDATE events SET published_at = ? WHERE seq = ? AND published_at IS NULL",
        [(now, s) for s in seqs],
    )


def mark_unpublished_from(conn: sqlite3.Connection, from_seq: int) -> int:
    """Queue events from `from_seq` for publishing again; returns how many."""
    return conn.execute(
        "UPDATE events SET published_at = NULL WHERE seq >= ?", (from_seq,)
    ).rowcount


def last_seq(conn: sqlite3.Connection) -> int:
    """The newest `seq` ever assigned (survives pruning thanks to AUTOINCREMENT)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0


def last_published_seq(conn: sqlite3.Connection) -> int:
    """The newest `seq` the broker acknowledged."""
    row = conn.execute("SELECT MAX(seq) FROM events WHERE published_at IS NOT NULL").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def prune(conn: sqlite3.Connection, confirmed_seq: int, retention_s: float, keep_max: int) -> int:
    """Drop events the cloud confirmed, published ones past retention, and the excess."""
    now = time.time()
    n = conn.execute(
        "DELETE FROM events WHERE published_at IS NOT NULL AND (seq <= ? OR published_at < ?)",
        (confirmed_seq, now - retention_s),
    ).rowcount
    (count,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
    if count > keep_max:
        n += conn.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE published_at IS NOT NULL"
            " ORDER BY seq LIMIT ?)",
            (count - keep_max,),
        ).rowcount
    return n


def prune_local(conn: sqlite3.Connection, retention_s: float, keep_max: int) -> int:
    """Without a cloud: drop events older than retention, and the oldest beyond `keep_max`."""
    n = conn.execute(
        "DELETE FROM events WHERE created_at < ?", (time.time() - retention_s,)
    ).rowcount
    (count,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
    if count > keep_max:
        n += conn.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
            (count - keep_max,),
        ).rowcount
    return n
