"""What the database remembers of a printer across restarts: that it answers status requests.

Without it, a printer that stalled while the daemon was down (it accepts the connection but
reads nothing) looked, after a restart, like a model that never answers status, and was
printed to blind at once: tickets announced printed that never reached it.
"""

from __future__ import annotations

import sqlite3


def _key(name: str) -> str:
    return f"printer_answers_status:{name}"


def remembered(conn: sqlite3.Connection, name: str, uri: str) -> bool:
    """Whether printer `name`, at this URI, was seen answering status requests."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_key(name),)).fetchone()
    return row is not None and row[0] == uri


def remember(conn: sqlite3.Connection, name: str, uri: str, answers: bool) -> None:
    """Record that it answers (at this URI), or forget it."""
    if answers:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (_key(name), uri),
        )
    else:
        conn.execute("DELETE FROM meta WHERE key = ?", (_key(name),))
