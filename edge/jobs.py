"""The durable job queue: jobs move queued → running → done | failed | cancelled."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum


class JobState(StrEnum):
    """Where a job is; its value is what the jobs table holds."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: int
    kind: str
    order_id: str | None
    revision: int | None
    printer: str | None
    ticket: str | None
    copies: int
    reprint: bool
    state: JobState
    attempts: int
    not_before: float
    next_attempt_at: float
    last_error: str | None
    meant_for: str | None = None

    @staticmethod
    def from_row(row: sqlite3.Row) -> Job:
        """Build from a `SELECT * FROM jobs` row."""
        return Job(
            id=row["id"],
            kind=row["kind"],
            order_id=row["order_id"],
            revision=row["revision"],
            printer=row["printer"],
            ticket=row["ticket"],
            copies=row["copies"],
            reprint=bool(row["reprint"]),
            state=JobState(row["state"]),
            attempts=row["attempts"],
            not_before=row["not_before"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            meant_for=row["meant_for"],
        )


_COLUMNS = frozenset(
    {"order_id", "revision", "printer", "ticket", "copies", "reprint", "not_before"}
)


def _insert(conn: sqlite3.Connection, kind: str, **fields: object) -> int:
    """Insert a queued job of `kind` with these columns set; returns its id."""
    assert set(fields) <= _COLUMNS
    now = time.time()
    names = ["kind", *fields, "created_at", "updated_at"]
    cur = conn.execute(
        f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        (kind, *fields.values(), now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def add_print_job(
    conn: sqlite3.Connection,
    *,
    printer: str,
    ticket: str,
    order_id: str | None,
    revision: int | None,
    copies: int = 1,
    reprint: bool = False,
    not_before: float = 0.0,
) -> int:
    """Queue a ticket for a printer inside the caller's transaction."""
    return _insert(
        conn,
        "print",
        order_id=order_id,
        revision=revision,
        printer=printer,
        ticket=ticket,
        copies=copies,
        reprint=int(reprint),
        not_before=not_before,
    )


# SQL condition on a job `j`: an inject or void waiting its turn.
POS_QUEUED = "j.kind IN ('inject', 'void') AND j.state = 'queued'"


def add_pos_job(conn: sqlite3.Connection, kind: str, order_id: str, revision: int) -> int:
    """Queue an `inject` or `void` of an order in the POS."""
    return _insert(conn, kind, order_id=order_id, revision=revision)


def add_release_job(conn: sqlite3.Connection, order_id: str, revision: int, at: float) -> int:
    """Queue the release of a scheduled order at `at` (epoch seconds)."""
    return _insert(conn, "release", order_id=order_id, revision=revision, not_before=at)


def head_print_job(conn: sqlite3.Connection, printer: str, now: float) -> Job | None:
    """The oldest queued, released job of `printer`, due for its retry or not.

    Tickets come out in order: while the oldest waits for its retry, the ones behind it wait.
    """
    row = conn.execute(
        "SELECT * FROM jobs WHERE kind = 'print' AND state = 'queued' AND printer = ?"
        " AND not_before <= ? ORDER BY id LIMIT 1",
        (printer, now),
    ).fetchone()
    return Job.from_row(row) if row else None


def next_wakeup(conn: sqlite3.Connection, kind: str, printer: str | None = None) -> float | None:
    """When the earliest queued job of this kind (and printer) becomes runnable."""
    sql = (
        "SELECT MIN(MAX(not_before, next_attempt_at)) FROM jobs WHERE kind = ? AND state = 'queued'"
    )
    args: tuple[object, ...] = (kind,)
    if printer is not None:
        sql += " AND printer = ?"
        args = (kind, printer)
    (value,) = conn.execute(sql, args).fetchone()
    return float(value) if value is not None else None


def due_release_jobs(conn: sqlite3.Connection, now: float) -> list[Job]:
    """Release jobs whose time has come."""
    rows = conn.execute(
        "SELECT * FROM jobs WHERE kind = 'release' AND state = 'queued' AND not_before <= ?"
        " ORDER BY not_before, id",
        (now,),
    ).fetchall()
    return [Job.from_row(r) for r in rows]


def set_state(
    conn: sqlite3.Connection,
    job_id: int,
    state: JobState,
    *,
    error: str | None = None,
    next_attempt_at: float | None = None,
    reprint: bool | None = None,
) -> None:
    """Move a job to `state`, recording the error, retry time and REPRINT mark."""
    sets = ["state = ?", "updated_at = ?"]
    args: list[object] = [state, time.time()]
    if error is not None:
        sets.append("last_error = ?")
        args.append(error)
    if next_attempt_at is not None:
        sets.append("next_attempt_at = ?")
        args.append(next_attempt_at)
    if reprint is not None:
        sets.append("reprint = ?")
        args.append(int(reprint))
    args.append(job_id)
    conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", args)


def _start_attempts(conn: sqlite3.Connection, ids: list[int]) -> None:
    """The jobs are running, one more attempt each: the only place an attempt is counted.

    The count is what the attempt's outcome then corrects (`settle_attempts`): a job of a
    batch that never started gets it back.
    """
    conn.executemany(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ?",
        [(time.time(), job_id) for job_id in ids],
    )


def start_attempt(conn: sqlite3.Connection, job_id: int) -> None:
    """A job (POS injection, void) starts an attempt: running, one more attempt."""
    _start_attempts(conn, [job_id])


def settle_attempts(conn: sqlite3.Connection, job: Job, *, counted: bool) -> None:
    """A job's attempt count once an attempt is over: as it was read before the attempt
    (`job.attempts`), plus one when the attempt counts. The start counted it; a failure
    before the start (the printer unreachable) is counted here, and a job of a batch that
    never started gets its count back. Every change of `attempts` is in this module."""
    conn.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (job.attempts + int(counted), job.id))


def recover_interrupted(conn: sqlite3.Connection, printer: str | None = None) -> list[Job]:
    """Re-queue jobs a crash (or, with `printer`, a failure of that printer's worker) left
    `running`; a print job among them may have printed: REPRINT."""
    where, args = "state = 'running'", tuple[str, ...]()
    if printer is not None:
        where, args = "state = 'running' AND kind = 'print' AND printer = ?", (printer,)
    rows = conn.execute(f"SELECT * FROM jobs WHERE {where}", args).fetchall()
    # An order ticket whose order was cancelled meanwhile: its CANCELLED ticket is queued
    # (it was counted as maybe printed); printing the order again would only confuse.
    conn.execute(
        "UPDATE jobs SET state = 'cancelled', last_error = 'interrupted', updated_at = ?"
        f" WHERE {where} AND kind = 'print' AND ticket != 'cancellation'"
        " AND order_id IN (SELECT id FROM orders WHERE status = 'cancelled')",
        (time.time(), *args),
    )
    conn.execute(
        "UPDATE jobs SET state = 'queued',"
        " reprint = CASE kind WHEN 'print' THEN 1 ELSE reprint END,"
        f" last_error = 'interrupted', updated_at = ? WHERE {where}",
        (time.time(), *args),
    )
    return [Job.from_row(r) for r in rows]


def mark_running(conn: sqlite3.Connection, batch: list[Job], printer: str) -> set[int]:
    """Mark the batch's jobs running, one more attempt each; the ids of those that were still
    queued for `printer` (a job cancelled or moved meanwhile is left as it is)."""
    ids = [job.id for job in batch]
    marks = ",".join("?" * len(ids))
    queued = {
        row[0]
        for row in conn.execute(
            f"SELECT id FROM jobs WHERE id IN ({marks}) AND state = 'queued' AND printer = ?",
            (*ids, printer),
        )
    }
    _start_attempts(conn, [job_id for job_id in ids if job_id in queued])
    return queued


def order_jobs(conn: sqlite3.Connection, order_id: str) -> list[Job]:
    """Every job of an order, oldest first."""
    rows = conn.execute("SELECT * FROM jobs WHERE order_id = ? ORDER BY id", (order_id,)).fetchall()
    return [Job.from_row(r) for r in rows]


def queue_counts(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Counts of jobs per kind and state (for `status`)."""
    out: dict[str, dict[str, int]] = {}
    for kind, state, n in conn.execute(
        "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state"
    ).fetchall():
        out.setdefault(kind, {})[state] = n
    return out
