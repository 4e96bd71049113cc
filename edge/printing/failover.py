"""Failover: the queued tickets of a printer that stays down move to its backup."""

from __future__ import annotations

import sqlite3
import time

from edge import outbox


def move_to_backup(conn: sqlite3.Connection, printer: str, backup: str) -> list[int]:
    """Move `printer`'s queued print jobs to `backup`, remembering where they were meant to go.

    Only queued jobs move (the worker calls this between jobs, so none of its own is running).
    A job that may already have printed keeps its REPRINT mark, so the same ticket is never
    printed unmarked on both printers.
    """
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM jobs WHERE kind = 'print' AND state = 'queued' AND printer = ?"
            " ORDER BY id",
            (printer,),
        )
    ]
    if not ids:
        return []
    conn.executemany(
        "UPDATE jobs SET printer = ?, meant_for = COALESCE(meant_for, ?), next_attempt_at = 0,"
        " last_error = NULL, updated_at = ? WHERE id = ?",
        [(backup, printer, time.time(), i) for i in ids],
    )
    outbox.add_event(
        conn, "printer.failover", None, {"printer": printer, "backup": backup, "jobs": ids}
    )
    return ids
