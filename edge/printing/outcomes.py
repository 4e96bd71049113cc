"""What one print attempt leaves in the database: the job's new state and its event."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from drivers.errors import DriverError
from edge import jobs, outbox
from edge.jobs import Job, JobState
from edge.printing.failures import FailureKind


def _live(conn: sqlite3.Connection, job: Job) -> bool:
    """Still queued or running: not cancelled (its order was) while the worker held it."""
    row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job.id,)).fetchone()
    return row is not None and row[0] in (JobState.QUEUED, JobState.RUNNING)


def held(
    conn: sqlite3.Connection, job: Job, printer: str, fault: FailureKind, until: float
) -> bool:
    """The printer reports a fault: the job waits, and the cloud hears once per fault."""
    if not _live(conn, job):
        return False
    first = job.last_error != fault
    jobs.set_state(conn, job.id, JobState.QUEUED, error=fault, next_attempt_at=until)
    if first:
        outbox.add_event(
            conn,
            "print.failed",
            job.order_id,
            {"printer": printer, "reason": fault, "will_retry": True, "job": job.id},
        )
    return first


def retried(
    conn: sqlite3.Connection,
    job: Job,
    printer: str,
    *,
    reason: FailureKind,
    detail: str,
    delay: float,
    reprint: bool,
    permanent: bool,
) -> None:
    """An attempt failed: one more attempt counted, the next one scheduled, `print.failed`."""
    if not _live(conn, job):
        return
    jobs.set_state(
        conn,
        job.id,
        JobState.QUEUED,
        error=detail,
        next_attempt_at=time.time() + delay,
        reprint=reprint,
    )
    jobs.settle_attempts(conn, job, counted=True)
    outbox.add_event(
        conn,
        "print.failed",
        job.order_id,
        {
            "printer": printer,
            "reason": reason,
            "detail": detail,
            "will_retry": True,
            "job": job.id,
            "permanent": permanent,
        },
    )


def describe(failure: DriverError | FailureKind) -> tuple[FailureKind, str]:
    """The `reason` and `detail` a print.failed event gives for a failed attempt."""
    if isinstance(failure, DriverError):
        return FailureKind.of(failure), str(failure)
    return failure, failure.value


def attempt_failed(
    conn: sqlite3.Connection,
    batch: list[tuple[Job, bool]],
    printer: str,
    *,
    reason: FailureKind,
    detail: str,
    delay: float,
    permanent: bool,
) -> None:
    """A batch's attempt failed: each job that may have printed (and the head) is retried,
    REPRINT from now on where bytes may have reached the paper; the others go back untouched.
    `batch` pairs each job with whether its bytes may have reached the printer."""
    head = batch[0][0]
    for job, touched in batch:
        if job is not head and not touched:
            requeued(conn, job)
            continue
        retried(
            conn,
            job,
            printer,
            reason=reason,
            detail=detail,
            delay=delay,
            reprint=job.reprint or touched,
            permanent=permanent,
        )


def requeued_all(conn: sqlite3.Connection, batch: list[Job]) -> None:
    for job in batch:
        requeued(conn, job)


def failed(
    conn: sqlite3.Connection,
    batch: list[Job],
    printer: str,
    *,
    error: str | None,
    reason: FailureKind | None,
) -> None:
    """Jobs that can never print (unprintable): `print.failed` with `will_retry: false`."""
    for job in batch:
        finished(conn, job, printer, JobState.FAILED, error=error, reason=reason)


def requeued(conn: sqlite3.Connection, job: Job) -> None:
    """A job of a batch that never started: back in the queue exactly as it was.

    Unless its order was cancelled while the job was marked running: a queued ticket would have
    been cancelled then, and so is this one (the cancellation ticket, if any, still prints).
    """
    row = conn.execute("SELECT status FROM orders WHERE id = ?", (job.order_id,)).fetchone()
    cancelled = row is not None and row[0] == "cancelled" and job.ticket != "cancellation"
    jobs.set_state(conn, job.id, JobState.CANCELLED if cancelled else JobState.QUEUED)
    jobs.settle_attempts(conn, job, counted=False)


def finished(
    conn: sqlite3.Connection,
    job: Job,
    printer: str,
    state: JobState,
    *,
    error: str | None = None,
    reason: FailureKind | None = None,
) -> None:
    """Done: `order.printed`; failed for good: `print.failed` with `reason` and `error`."""
    if not _live(conn, job):
        return
    jobs.set_state(conn, job.id, state, error=error)
    if state == "done":
        name = "order.printed"
        data = _printed_data(job, printer)
    else:
        name = "print.failed"
        data = {
            "printer": printer,
            "reason": reason,
            "detail": error,
            "will_retry": False,
            "job": job.id,
        }
    outbox.add_event(conn, name, job.order_id, data)


def printed(conn: sqlite3.Connection, done: list[Job], printer: str) -> None:
    """A batch went through: each job done, with its `order.printed` (one statement each way)."""
    if not done:
        return
    ids = [job.id for job in done]
    live = {
        row[0]
        for row in conn.execute(
            f"SELECT id FROM jobs WHERE id IN ({','.join('?' * len(ids))})"
            " AND state IN ('queued', 'running')",
            ids,
        )
    }
    done = [job for job in done if job.id in live]
    now = time.time()
    conn.executemany(
        "UPDATE jobs SET state = 'done', updated_at = ? WHERE id = ?",
        [(now, job.id) for job in done],
    )
    for job in done:
        outbox.add_event(conn, "order.printed", job.order_id, _printed_data(job, printer))


def _printed_data(job: Job, printer: str) -> dict[str, Any]:
    return {
        "printer": printer,
        "ticket": job.ticket,
        "copies": job.copies,
        "reprint": job.reprint,
        "job": job.id,
    }


def order_payload(conn: sqlite3.Connection, order_id: str | None) -> str | None:
    """The stored JSON of the order a job prints."""
    if order_id is None:
        return None
    row = conn.execute("SELECT payload FROM orders WHERE id = ?", (order_id,)).fetchone()
    return row[0] if row else None
