"""Messages for the broker other than events, kept until the broker has them.

Retained menus (`out/menu/<brand>`) and the replies of commands that finish later
(`menu_sync`) are written here in the transaction that decides them, then published by the
cloud link when it is connected. Each has a key: a newer message with the same key
replaces one not yet sent (only the latest menu of a brand matters), and a message sent
while a newer one was queued is not marked sent.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    """One message waiting for the broker."""

    key: str
    topic: str
    payload: bytes
    retain: bool
    generation: int
    user_properties: tuple[tuple[str, str], ...] = ()
    correlation: bytes | None = None


def queue(
    conn: sqlite3.Connection,
    key: str,
    topic: str,
    payload: bytes,
    *,
    retain: bool = False,
    user_properties: Sequence[tuple[str, str]] = (),
    correlation: bytes | None = None,
) -> None:
    """Queue (or replace) the message under `key`, inside the caller's transaction."""
    row = conn.execute("SELECT MAX(generation) FROM mqtt_out").fetchone()
    generation = (row[0] or 0) + 1
    properties = {
        "user": [list(p) for p in user_properties],
        "correlation": correlation.hex() if correlation is not None else None,
    }
    conn.execute(
        "INSERT INTO mqtt_out (key, topic, payload, retain, properties, generation, queued_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET topic = excluded.topic,"
        " payload = excluded.payload, retain = excluded.retain,"
        " properties = excluded.properties, generation = excluded.generation,"
        " queued_at = excluded.queued_at",
        (key, topic, payload, int(retain), json.dumps(properties), generation, time.time()),
    )


def pending(conn: sqlite3.Connection, limit: int = 16) -> list[Outgoing]:
    """The oldest messages waiting, in the order they were queued."""
    rows = conn.execute(
        "SELECT key, topic, payload, retain, properties, generation FROM mqtt_out"
        " ORDER BY generation LIMIT ?",
        (limit,),
    ).fetchall()
    found = []
    for key, topic, payload, retain, properties, generation in rows:
        props = json.loads(properties)
        correlation = props.get("correlation")
        found.append(
            Outgoing(
                key=key,
                topic=topic,
                payload=bytes(payload),
                retain=bool(retain),
                generation=generation,
                user_properties=tuple((str(k), str(v)) for k, v in props.get("user") or ()),
                correlation=bytes.fromhex(correlation) if correlation else None,
            )
        )
    return found


def mark_sent(conn: sqlite3.Connection, sent: Sequence[Outgoing]) -> None:
    """Forget what the broker acknowledged, unless a newer message replaced it meanwhile."""
    conn.executemany(
        "DELETE FROM mqtt_out WHERE key = ? AND generation = ?",
        [(m.key, m.generation) for m in sent],
    )


def waiting(conn: sqlite3.Connection) -> int:
    """How many messages wait for the broker."""
    return int(conn.execute("SELECT COUNT(*) FROM mqtt_out").fetchone()[0])
