"""Reading a printer's queue: the due batch at its head, and jobs with their orders."""

from __future__ import annotations

import sqlite3
import time
from typing import NamedTuple

from edge.jobs import Job
from edge.printing.cache import Key, cache_key


class Queued(NamedTuple):
    """A queued job, its order's revision, and the order's JSON when it was read."""

    job: Job
    revision: int | None
    order_json: str | None


def due_batch(
    conn: sqlite3.Connection,
    printer: str,
    limit: int,
    *,
    following: bool = False,
    known: dict[int, Key] | None = None,
) -> list[Queued]:
    """The head job and the due jobs right behind it (at most `limit`), in job order, with
    their orders' revisions, and their orders' JSON unless `known` says their rendering is kept.

    `following`: the batch after one being printed, whose head must be due as well.
    """
    now = time.time()
    rows = conn.execute(
        "SELECT jobs.*, orders.revision AS order_revision FROM jobs"
        " LEFT JOIN orders ON orders.id = jobs.order_id"
        " WHERE jobs.kind = 'print' AND jobs.state = 'queued' AND jobs.printer = ?"
        " AND jobs.not_before <= ? ORDER BY jobs.id LIMIT ?",
        (printer, now, limit),
    ).fetchall()
    batch: list[tuple[Job, int | None]] = []
    for row in rows:
        job = Job.from_row(row)
        if (batch or following) and job.next_attempt_at > now:
            break  # a job waiting for its retry keeps its place: stop before it
        batch.append((job, row["order_revision"]))
    known = known or {}
    missing = {
        job.order_id
        for job, revision in batch
        if job.order_id and known.get(job.id) != cache_key(job, revision)
    }
    payloads = _payloads(conn, sorted(missing)) if missing else {}
    return [Queued(job, revision, payloads.get(job.order_id or "")) for job, revision in batch]


def queued_ids(conn: sqlite3.Connection, printer: str, limit: int) -> list[int]:
    """The printer's queued print jobs, oldest first (retries and later ones included)."""
    rows = conn.execute(
        "SELECT id FROM jobs WHERE kind = 'print' AND state = 'queued' AND printer = ?"
        " ORDER BY id LIMIT ?",
        (printer, limit),
    )
    return [row[0] for row in rows]


def job_rows(conn: sqlite3.Connection, ids: list[int]) -> list[Queued]:
    """These jobs with their orders, in job order."""
    rows = conn.execute(
        "SELECT jobs.*, orders.revision AS order_revision, orders.payload AS payload FROM jobs"
        " LEFT JOIN orders ON orders.id = jobs.order_id"
        f" WHERE jobs.id IN ({','.join('?' * len(ids))}) ORDER BY jobs.id",
        ids,
    )
    return [Queued(Job.from_row(row), row["order_revision"], row["payload"]) for row in rows]


def _payloads(conn: sqlite3.Connection, order_ids: list[str]) -> dict[str, str]:
    """The JSON of these orders, by id."""
    rows = conn.execute(
        f"SELECT id, payload FROM orders WHERE id IN ({','.join('?' * len(order_ids))})",
        order_ids,
    )
    return {row[0]: row[1] for row in rows}
