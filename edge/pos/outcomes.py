"""What the POS worker records when a job ends: events, job states, MANUAL ENTRY tickets.

Every outcome is one durable transaction: the job's state, the order's POS id, the attempt
records and the events the cloud sees are committed together.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from edge import jobs, outbox
from edge.backoff import retry_delay
from edge.db import Database, Durability
from edge.jobs import Job, JobState
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute, printers_for

from . import attempts
from .base import PosPending, PosPermanentError, PosTransientError
from .model import Closed, Injected

log = logging.getLogger(__name__)

RETRY_INITIAL_S = 2.0
RETRY_MAX_S = 120.0


def _pos_error(
    reason: str, unlinked: list[str], *, will_retry: bool, manual: bool, operation: str
) -> dict[str, Any]:
    return {
        "reason": reason,
        "unlinked": unlinked,
        "will_retry": will_retry,
        "manual_entry_required": manual,
        "operation": operation,
    }


class Outcomes:
    """Writes the end (or the next retry) of inject and void jobs."""

    def __init__(
        self,
        db: Database,
        kind: str,
        routes: Sequence[PrinterRoute],
        on_events: Callable[[], None],
        wake_printers: Callable[[set[str]], None],
    ) -> None:
        self.db = db
        self.kind = kind
        self.routes = routes
        self.on_events = on_events
        self.wake_printers = wake_printers

    async def injected(
        self,
        job: Job,
        order: Order,
        injected: Injected,
        closed: Closed | None,
        *,
        replaced: str | None = None,
    ) -> None:
        """The POS has the order (created, adopted or updated): one `order.injected`."""
        data: dict[str, Any] = {
            "pos": self.kind,
            "pos_order_id": injected.pos_order_id,
            "revision": order.revision,
            "pos_total": injected.pos_total,
            "tip_sent": injected.tip_sent,
            "price_differences": [asdict(d) for d in injected.differences],
            "subtotal_difference": injected.subtotal_difference,
            "closed": closed is not None,
        }
        if replaced is not None:
            data["replaced_pos_order_id"] = replaced

        def _write(c: sqlite3.Connection) -> None:
            jobs.set_state(c, job.id, JobState.DONE)
            _hurry_the_line(c)
            c.execute(
                "UPDATE orders SET pos_order_id = ? WHERE id = ?", (injected.pos_order_id, order.id)
            )
            attempts.finish(c, order, "create", injected.pos_order_id)
            attempts.save_progress(c, order, "create", {"injected": asdict(injected)})
            if closed is not None:
                attempts.finish(c, order, "pay", closed.payment_id)
            outbox.add_event(c, "order.injected", order.id, data)

        await self.db.write(_write, Durability.FULL)
        self.on_events()

    async def pending(self, job: Job, err: PosPending) -> None:
        """The POS took the order and answers later: look again then (no event)."""
        log.info("pos: %s %s: %s (check in %.0f s)", job.kind, job.order_id, err, err.check_after)
        await self.db.write(
            lambda c: jobs.set_state(
                c,
                job.id,
                JobState.QUEUED,
                error=err.reason,
                next_attempt_at=time.time() + err.check_after,
            ),
            Durability.FULL,
        )

    async def retry(self, job: Job, err: PosTransientError) -> None:
        """Try again later; the cloud hears of it once per cause, not per retry."""
        delay = err.retry_after or retry_delay(job.attempts + 1, RETRY_INITIAL_S, RETRY_MAX_S)
        first = job.last_error != err.reason
        log.warning("pos: %s %s: %s (retry in %.1f s)", job.kind, job.order_id, err.reason, delay)

        def _write(c: sqlite3.Connection) -> None:
            jobs.set_state(
                c, job.id, JobState.QUEUED, error=err.reason, next_attempt_at=time.time() + delay
            )
            jobs.settle_attempts(c, job, counted=True)
            if first:
                data = _pos_error(err.reason, [], will_retry=True, manual=False, operation=job.kind)
                outbox.add_event(c, "pos.error", job.order_id, data)
            # the orders in line behind it wait too: each hears why, once per cause
            behind = f"waiting behind order {job.order_id}: {err.reason}"
            for other in c.execute(
                f"SELECT j.id, j.kind, j.order_id FROM jobs j WHERE {jobs.POS_QUEUED}"
                f" AND j.id > ? AND (j.last_error IS NULL OR j.last_error != ?)"
                f" AND NOT {attempts.AWAITING_ANSWER} ORDER BY j.id",
                (job.id, behind),
            ).fetchall():
                c.execute("UPDATE jobs SET last_error = ? WHERE id = ?", (behind, other["id"]))
                data = _pos_error(
                    behind, [], will_retry=True, manual=False, operation=other["kind"]
                )
                outbox.add_event(c, "pos.error", other["order_id"], data)

        await self.db.write(_write, Durability.FULL)
        self.on_events()

    async def refused(self, job: Job, order: Order, err: PosPermanentError) -> None:
        """The order cannot go in by itself: tell the cloud and print it for manual entry."""
        log.error("pos: order %s refused: %s %s", order.id, err.reason, err.unlinked)
        kitchen = list(printers_for(self.routes, "kitchen", order.brand))

        def _write(c: sqlite3.Connection) -> None:
            jobs.set_state(c, job.id, JobState.FAILED, error=err.reason)
            data = _pos_error(
                err.reason, err.unlinked, will_retry=False, manual=True, operation="inject"
            )
            outbox.add_event(c, "pos.error", order.id, data)
            for route in kitchen:
                jobs.add_print_job(
                    c,
                    printer=route.name,
                    ticket="manual_entry",
                    order_id=order.id,
                    revision=order.revision,
                )

        await self.db.write(_write, Durability.FULL)
        self.on_events()
        self.wake_printers({r.name for r in kitchen})

    async def cancelled(
        self,
        job: Job,
        order: Order,
        *,
        voided: bool,
        error: PosPermanentError | None = None,
        settled: Sequence[tuple[int, Mapping[str, Any] | None]] = (),
    ) -> None:
        """`order.cancelled` with `voided_in_pos`; a void the POS refused is a `pos.error`.

        `settled` names the unanswered creates (revision, what each made) now looked into, so
        that a later job does not look for them again.
        """

        def _write(c: sqlite3.Connection) -> None:
            reason = error.reason if error is not None else None
            jobs.set_state(
                c, job.id, JobState.DONE if error is None else JobState.FAILED, error=reason
            )
            if voided:
                c.execute("UPDATE orders SET pos_order_id = NULL WHERE id = ?", (order.id,))
            for revision, found in settled:
                attempts.settle(c, order.id, revision, found)
            if error is not None:
                data = _pos_error(
                    error.reason, error.unlinked, will_retry=False, manual=False, operation="void"
                )
                outbox.add_event(c, "pos.error", order.id, data)
            outbox.add_event(
                c,
                "order.cancelled",
                order.id,
                {"revision": order.revision, "voided_in_pos": voided},
            )

        await self.db.write(_write, Durability.FULL)
        self.on_events()

    async def ended(self, job: Job, state: JobState, why: str) -> None:
        """A job with nothing left to do (order gone, already in the POS, injection off)."""
        log.info("pos: %s of %s not carried out: %s", job.kind, job.order_id, why)
        await self.db.write(
            lambda c: jobs.set_state(c, job.id, state, error=why), Durability.NORMAL
        )


def _hurry_the_line(conn: sqlite3.Connection) -> None:
    """The POS answered: the jobs behind, waiting out their backoff, go now (in order);
    those awaiting the POS's own answer keep their time."""
    conn.execute(
        "UPDATE jobs SET next_attempt_at = 0 WHERE id IN (SELECT j.id FROM jobs j"
        f" WHERE {jobs.POS_QUEUED} AND j.next_attempt_at > 0"
        f" AND NOT {attempts.AWAITING_ANSWER})"
    )
