"""What one printer's attempts leave in the database, and what they say about the printer.

The worker decides; the ledger records: jobs marked running before their first byte, printed,
queued again (REPRINT where bytes may have reached the paper), held during a fault, failed for
good. It also keeps what the outcomes tell about the printer: since when it is down, and
whether the head job must go out alone after a batch broke.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from drivers.errors import DriverError, PermanentDriverError
from edge import jobs
from edge.backoff import retry_delay
from edge.db import Database, Durability
from edge.jobs import Job
from edge.printing import outcomes
from edge.printing.cache import TicketCache
from edge.printing.checkpoints import Checkpoints, Point
from edge.printing.failures import FailureKind
from edge.printing.render import PrinterSettings

log = logging.getLogger(__name__)

# Publishing events takes the same event loop as printing: in a rush they go out in bunches.
EVENTS_IN_RUSH_S = 0.5


class JobLedger:
    """Records the outcome of each attempt of one printer's jobs."""

    def __init__(
        self,
        printer: PrinterSettings,
        db: Database,
        cache: TicketCache,
        on_events: Callable[[], None],
        checkpoints: Checkpoints,
    ) -> None:
        self.printer = printer
        self.db = db
        self.cache = cache
        self.on_events = on_events
        self.checkpoints = checkpoints
        #: since when (monotonic) this printer has failed to print the job at the head of its
        #: queue; None while it prints
        self.down_since: float | None = None
        #: after a failed attempt the head job goes out alone until one prints: a batch that
        #: failed is not sent whole again (its tickets would all print once more, REPRINT)
        self.careful = False
        # In a rush, order.printed events are announced at most every EVENTS_IN_RUSH_S.
        self._events_held = False
        self._events_at = 0.0

    def mark_down(self) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()

    # ---- before the first byte -------------------------------------------------------------

    async def mark_running(self, rendered: list[tuple[Job, bytes]]) -> list[tuple[Job, bytes]]:
        """Durable before the first byte: a crash from here on means "may have printed".

        Returns the jobs still queued for this printer when marked (a job cancelled or moved
        to the backup since it was read is left alone).
        """
        if not rendered:
            return []
        batch = [job for job, _ in rendered]
        marked = await self.db.write(
            lambda c: jobs.mark_running(c, batch, self.printer.name), Durability.FULL
        )
        running = [(job, data) for job, data in rendered if job.id in marked]
        await self.checkpoints.reached(Point.MARKED_RUNNING, [job for job, _ in running])
        return running

    async def requeue(self, batch: list[Job]) -> None:
        """Jobs marked running whose bytes never went out: back in the queue as they were."""
        if batch:
            await self.db.write(lambda c: outcomes.requeued_all(c, batch), Durability.FULL)

    # ---- outcomes --------------------------------------------------------------------------

    async def hold(self, job: Job, fault: FailureKind) -> None:
        """Keep the job queued without burning an attempt; tell the cloud once per fault."""
        until = time.time() + self.printer.fault_poll_s
        self.mark_down()
        first = await self.db.write(
            lambda c: outcomes.held(c, job, self.printer.name, fault, until), Durability.NORMAL
        )
        if first:
            self.on_events()

    async def retry(
        self,
        failed: list[Job],
        failure: DriverError | FailureKind,
        *,
        may_have_printed: list[bool],
        hold: bool = False,
    ) -> None:
        """Queue the jobs again; REPRINT from now on where bytes may have reached the paper.

        A job of the batch that never started goes back to the queue as it was.
        """
        await self.checkpoints.reached(Point.ATTEMPT_FAILED, failed)
        reason, detail = outcomes.describe(failure)
        head = failed[0]
        delay = (
            self.printer.fault_poll_s
            if hold
            else retry_delay(
                head.attempts + 1, self.printer.retry_initial_s, self.printer.retry_max_s
            )
        )
        log.warning(
            "printer %s: job %d%s: %s (retry in %.1f s)",
            self.printer.name,
            head.id,
            f" and {len(failed) - 1} more" if len(failed) > 1 else "",
            detail,
            delay,
        )
        self.mark_down()
        if any(may_have_printed):
            self.careful = True  # the head job alone next time, until one prints
        permanent = isinstance(failure, PermanentDriverError)
        await self.db.write(
            lambda c: outcomes.attempt_failed(
                c,
                list(zip(failed, may_have_printed, strict=True)),
                self.printer.name,
                reason=reason,
                detail=detail,
                delay=delay,
                permanent=permanent,
            ),
            Durability.FULL,
        )
        self.on_events()

    async def printed(self, done: Sequence[Job], *, in_rush: bool = False) -> None:
        """The jobs printed (the printer said so): done, and the printer's outage is over.

        `in_rush`: more batches follow; their events are announced to the cloud link at most
        every EVENTS_IN_RUSH_S, so publishing them never holds the printer up.
        """
        if not done:
            return
        await self.checkpoints.reached(Point.RECORDING_DONE, done)
        self.down_since = None
        self.careful = False
        self.cache.discard([job.id for job in done])
        batch = list(done)
        await self.db.write(lambda c: outcomes.printed(c, batch, self.printer.name))
        now = time.monotonic()
        if in_rush and now - self._events_at < EVENTS_IN_RUSH_S:
            self._events_held = True
            return
        self._events_held = False
        self._events_at = now
        self.on_events()

    async def unprintable(self, job: Job, error: str) -> None:
        """A job that can never print (it cannot be rendered): failed for good."""
        self.cache.discard([job.id])
        await self.db.write(
            lambda c: outcomes.failed(
                c, [job], self.printer.name, error=error, reason=FailureKind.UNPRINTABLE
            )
        )
        self.on_events()

    def rush_started(self) -> None:
        """A rush starts: its order.printed events come in bunches from now."""
        self._events_at = time.monotonic()

    def rush_ended(self) -> None:
        """Announce the rush's last events, if some were held back."""
        if self._events_held:
            self._events_held = False
            self.on_events()
