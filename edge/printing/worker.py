"""One task per printer: takes its jobs in order, owns the connection, holds jobs during faults."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import sqlite3
import time
from collections.abc import Callable

from drivers.errors import (
    DriverError,
    PermanentDriverError,
)
from edge import jobs
from edge.backoff import retry_delay
from edge.crashpoints import crash_point
from edge.db import Database, Durability
from edge.errors import StorageError
from edge.jobs import Job
from edge.printing import failover, outcomes, queue
from edge.printing.ahead import TicketMaker
from edge.printing.cache import Key
from edge.printing.failures import FailureKind
from edge.printing.link import PrinterLink, TransportFactory, settle_status_check
from edge.printing.queue import Queued
from edge.printing.render import PrinterSettings, RenderError, TicketStyle
from edge.wakeup import Wakeup

log = logging.getLogger(__name__)

# After the queue empties the connection is kept this long for the next ticket of a rush,
# then released (the POS may share a port-9100 printer).
LINGER_S = 1.0
# In a rush, the due tickets behind the head one go out in the same write, between one
# "running" commit and one "done" commit: at most `batch_max_jobs` of them, and this many bytes.
# While the printer takes a batch in, the previous one is recorded done and the next one is
# read, rendered and marked running (see `_print_rush`).
BATCH_MAX_BYTES = 32 * 1024
# Publishing events takes the same event loop as printing: in a rush they go out in bunches.
EVENTS_IN_RUSH_S = 0.5


class PrinterWorker(PrinterLink):
    """Prints the queued jobs of one printer, one at a time, in job order."""

    def __init__(
        self,
        printer: PrinterSettings,
        db: Database,
        style: TicketStyle,
        on_events: Callable[[], None],
        wake_printer: Callable[[str], None] = lambda _name: None,
        transports: TransportFactory | None = None,
    ) -> None:
        super().__init__(printer, db, on_events, transports)
        self.style = style
        self.wake_printer = wake_printer
        #: since when (monotonic) this printer has failed to print the job at the head of its
        #: queue; None while it prints
        self.down_since: float | None = None
        self._poll_due = True
        self.wake = Wakeup()
        self._retry_now = False
        self._stopping = False
        self._printing = False
        self._task: asyncio.Task[None] | None = None
        self.tickets = TicketMaker(printer, style)
        # After a failed attempt the head job goes out alone until one prints: a batch that
        # failed is not sent whole again (its tickets would all print once more, REPRINT).
        self._careful = False
        # In a rush, order.printed events are announced at most every EVENTS_IN_RUSH_S.
        self._events_held = False
        self._events_at = 0.0

    # ---- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the job being written, then stop."""
        self._stopping = True
        self.wake.set()
        if self._task is not None and not self._printing:
            self._task.cancel()

    async def run(self) -> None:
        """Serve the printer's queue until stopped."""
        self._task = asyncio.current_task()
        try:
            while not self._stopping:
                try:
                    await self._step()
                except StorageError:
                    # The disk failed a write (reported once, by the storage health): what was
                    # running may have printed; it goes back marked REPRINT once writes work.
                    self.last_error = "storage"
                    self.tickets.cache.clear()
                    await self._disconnect()
                    await self.db.write_when_stored(
                        lambda c: jobs.recover_interrupted(c, self.printer.name)
                    )
                except Exception:  # a bug must not stop the daemon
                    log.exception("printer %s: unexpected failure", self.printer.name)
                    self.last_error = "internal_error"
                    await self._recover()
                    await asyncio.sleep(self.printer.retry_max_s)  # then the jobs are tried again
        finally:
            await self._disconnect()

    async def _step(self) -> None:
        """Print the due jobs at the head of the queue, or wait for work or for a retry."""
        if self._failover_due():
            await self._fail_over()
        mark = self.wake.mark()  # before looking: work queued meanwhile wakes us
        job = await self.db.read(self._head_job)
        # Tickets come out in order: while the oldest job waits for its retry (the printer is
        # down), the jobs behind it wait too, unless new work arrived.
        if job is None or (job.next_attempt_at > time.time() and not self._retry_now):
            if job is None and await self._linger(mark):
                return
            if job is None and self._poll_due:
                self._poll_due = False
                await self._poll_idle()
            # Port-9100 printers serve one connection at a time: free it for the POS.
            await self._disconnect()
            self._retry_now = await self._idle(job, mark)
            self._poll_due = not self._retry_now
            return
        self._retry_now = False
        self._printing = True
        try:
            batch = await self.db.read(
                functools.partial(self._due_batch, known=self.tickets.cache.keys())
            )
            if batch:  # else the head job was cancelled or moved meanwhile
                await self._attempt(batch)
        finally:
            self._printing = False

    async def _recover(self) -> None:
        """After an unexpected failure: this printer's jobs left running go back, marked
        REPRINT (they may have printed), to the head of the queue."""
        self.tickets.cache.clear()
        try:
            await self._disconnect()
            await self.db.write(
                lambda c: jobs.recover_interrupted(c, self.printer.name), Durability.FULL
            )
        except Exception:
            log.exception("printer %s: could not re-queue its interrupted jobs", self.printer.name)

    def _head_job(self, conn: sqlite3.Connection) -> Job | None:
        return jobs.head_print_job(conn, self.printer.name, time.time())

    def _due_batch(
        self,
        conn: sqlite3.Connection,
        *,
        following: bool = False,
        known: dict[int, Key] | None = None,
    ) -> list[Queued]:
        limit = 1 if self._careful else self.printer.batch_max_jobs
        return queue.due_batch(conn, self.printer.name, limit, following=following, known=known)

    async def _linger(self, mark: int) -> bool:
        """Keep a fresh connection briefly for the next ticket (a rush); True if work came."""
        if self.transport is None or not self.transport.is_open:
            return False
        return await self.wake.wait(mark, LINGER_S)

    async def _idle(self, head: Job | None, mark: int) -> bool:
        """Wait for new work (True) or until the head job is due or the idle period ends."""
        if head is not None and self.down_since is not None:
            await self.tickets.render_ahead(self.db, lambda: self.wake.came_since(mark))
        if head is not None:
            wakeup: float | None = head.next_attempt_at
        else:
            wakeup = await self.db.read(lambda c: jobs.next_wakeup(c, "print", self.printer.name))
        timeout = self.printer.status_interval_s
        if wakeup is not None:
            timeout = min(timeout, max(wakeup - time.time(), 0.0))
        if self.printer.backup and self.down_since is not None and head is not None:
            until_failover = self.down_since + self.printer.failover_after_s - time.monotonic()
            timeout = min(timeout, max(until_failover, 0.0))
        return await self.wake.wait(mark, timeout)

    # ---- idle status and failover ---------------------------------------------------------

    async def _poll_idle(self) -> None:
        """Read the status of an idle printer, so a fault is known (and reported) before a job."""
        try:
            await self._connected_status()
        except DriverError as err:
            log.info("printer %s: idle status check failed: %s", self.printer.name, err)
        finally:
            await self._disconnect()

    def _failover_due(self) -> bool:
        return (
            bool(self.printer.backup)
            and self.down_since is not None
            and time.monotonic() - self.down_since >= self.printer.failover_after_s
        )

    async def _still_down(self) -> bool:
        """Ask the printer right now: is it still unable to print?"""
        unreachable = self.last_error == FailureKind.UNREACHABLE
        try:
            fault = await self._connected_status()
        except DriverError:
            await self._disconnect()
            return True
        if fault is None and not self.answers_status:
            # It cannot tell: reachable again is all we learn, which is news only if being
            # unreachable was the trouble (not a stall, or paper it cannot report).
            return not unreachable
        return fault is not None

    async def _fail_over(self) -> None:
        # Down long enough; but a printer back in the meantime keeps its tickets.
        if not await self._still_down():
            self.down_since = None
            return
        backup = self.printer.backup
        moved = await self.db.write(
            lambda c: failover.move_to_backup(c, self.printer.name, backup), Durability.FULL
        )
        self.tickets.cache.discard(moved)
        if moved:
            log.warning(
                "printer %s down for %.0f s: %d ticket(s) moved to %s",
                self.printer.name,
                time.monotonic() - (self.down_since or time.monotonic()),
                len(moved),
                backup,
            )
            self.on_events()
            self.wake_printer(backup)

    # ---- one attempt ----------------------------------------------------------------------

    async def _attempt(self, batch: list[Queued]) -> None:
        """Print the head job, and the due jobs behind it in the same write (a rush)."""
        head = batch[0].job
        # A printer that is away gets a status check, not a rendering.
        if not self._fresh_clean_status():
            try:
                fault = await self._connected_status()
            except DriverError as err:
                await self._disconnect()
                await self._retry([head], err, may_have_printed=[False])
                return
            if fault is not None:
                await self._hold(head, fault)
                return
        rendered = await self._mark_running(await self._render_batch(batch))
        if rendered:
            self._events_at = time.monotonic()  # a rush starts: its events come in bunches
            try:
                await self._print_rush(rendered)
            finally:
                if self._events_held:  # the rush's last order.printed events
                    self._events_held = False
                    self.on_events()

    async def _print_rush(self, rendered: list[tuple[Job, bytes]]) -> None:
        """Write batches already marked running, one after the other, while jobs are due.

        While the printer takes a batch in and answers the status request behind it, the
        previous batch (confirmed by the printer) is recorded done, and the next batch is
        read, rendered and marked running: the printer waits for neither the database nor
        rendering. At most two batches are running at any time (the one the printer takes in
        or has just confirmed, and the one prepared behind it): a crash marks those REPRINT.
        """
        confirmed: list[Job] = []  # printed, and the printer said so; not yet recorded done
        while rendered:
            printing = [job for job, _ in rendered]
            crash_point("before_print")
            data = b"".join(d for _, d in rendered)
            try:
                assert self.transport is not None
                await self.transport.write(data)
            except DriverError as err:
                await self._disconnect()
                await self._finish(confirmed, "done")
                sent = getattr(err, "sent", len(data))
                starts = itertools.accumulate((len(d) for _, d in rendered[:-1]), initial=0)
                # Jobs whose first byte went out may have printed; the others never started.
                await self._retry(
                    printing, err, may_have_printed=[start < sent for start in starts]
                )
                return
            # The answer to the status request behind the batch says the printer took it all.
            status = asyncio.create_task(self._check_status(after_job=True), name="status")
            following: list[tuple[Job, bytes]] = []
            failure: DriverError | FailureKind | None
            try:
                await self._finish(confirmed, "done", in_rush=True)
                confirmed = []
                crash_point("after_print")
                following = [] if self._stopping else await self._next_batch()
                failure = await status
            except DriverError as err:
                # Every byte was handed over before the connection failed: it may have printed.
                await self._disconnect()
                failure = err
            finally:
                await settle_status_check(status)
            if failure is None and self._stopping and following:
                await self._requeue([job for job, _ in following])  # stop after this batch
                following = []
            if failure is not None:
                # The printer stopped during or right after the batch: it may be half printed.
                # The next batch, marked running, never started: it goes back as it was.
                if failure == FailureKind.NOT_RESPONDING:
                    await self._disconnect()
                await self._retry(
                    printing + [job for job, _ in following],
                    failure,
                    may_have_printed=[True] * len(printing) + [False] * len(following),
                    hold=not isinstance(failure, DriverError),
                )
                return
            confirmed = printing
            rendered = following
        await self._finish(confirmed, "done")

    def _batch_bytes(self) -> int:
        """How much one write may carry: BATCH_MAX_BYTES, or what a slow line (serial) takes
        in half the write deadline, so a batch is never the reason for a timeout."""
        rate = self.transport.bytes_per_second if self.transport is not None else None
        if rate is None:
            return BATCH_MAX_BYTES
        return max(1, min(BATCH_MAX_BYTES, int(rate * self.printer.write_timeout_s / 2)))

    async def _next_batch(self) -> list[tuple[Job, bytes]]:
        """The next due batch, rendered and marked running (durably: it may print any moment)."""
        try:
            known = self.tickets.cache.keys()
            batch = await self.db.read(lambda c: self._due_batch(c, following=True, known=known))
            rendered = await self._render_batch(batch) if batch else []
        except Exception:  # the batch being printed must still be recorded
            log.exception("printer %s: preparing the next tickets failed", self.printer.name)
            return []
        return await self._mark_running(rendered)

    async def _mark_running(self, rendered: list[tuple[Job, bytes]]) -> list[tuple[Job, bytes]]:
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
        return [(job, data) for job, data in rendered if job.id in marked]

    async def _requeue(self, batch: list[Job]) -> None:
        """Jobs marked running whose bytes never went out: back in the queue as they were."""
        await self.db.write(lambda c: outcomes.requeued_all(c, batch), Durability.FULL)

    async def _render_batch(self, batch: list[Queued]) -> list[tuple[Job, bytes]]:
        """The jobs' bytes, up to `_batch_bytes()`; a job that cannot be rendered fails for good."""
        rendered: list[tuple[Job, bytes]] = []
        size = 0
        limit = self._batch_bytes()
        for job, revision, read_json in batch:
            if rendered and size >= limit:
                break
            data = self.tickets.kept(job, revision)
            if data is None:
                order_json = read_json
                if order_json is None and job.order_id:  # its kept rendering went meanwhile
                    order_json = await self.db.read(
                        functools.partial(outcomes.order_payload, order_id=job.order_id)
                    )
                try:
                    data = self.tickets.render(job, revision, order_json)
                except Exception as err:  # RenderError, or a bug an order's content triggers
                    log.error(
                        "printer %s: job %d cannot be rendered: %s",
                        self.printer.name,
                        job.id,
                        err,
                        exc_info=not isinstance(err, RenderError | ValueError),
                    )
                    await self._finish(
                        [job], "failed", error=str(err), reason=FailureKind.UNPRINTABLE
                    )
                    continue
            rendered.append((job, data))
            size += len(data)
        return rendered

    # ---- outcomes --------------------------------------------------------------------------

    async def _hold(self, job: Job, fault: FailureKind) -> None:
        """Keep the job queued without burning an attempt; tell the cloud once per fault."""
        until = time.time() + self.printer.fault_poll_s
        self._mark_down()
        first = await self.db.write(
            lambda c: outcomes.held(c, job, self.printer.name, fault, until), Durability.NORMAL
        )
        if first:
            self.on_events()

    def _mark_down(self) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()

    async def _retry(
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
        self._mark_down()
        if any(may_have_printed):
            self._careful = True  # the head job alone next time, until one prints
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

    async def _finish(
        self,
        done: list[Job],
        state: str,
        *,
        error: str | None = None,
        reason: FailureKind | None = None,
        in_rush: bool = False,
    ) -> None:
        """Record the outcome of the jobs; a printed one ends the printer's outage.

        `in_rush`: more batches follow; their events are announced to the cloud link at most
        every EVENTS_IN_RUSH_S, so publishing them never holds the printer up.
        """
        if not done:
            return
        if state == "done":
            self.down_since = None
            self._careful = False
        self.tickets.cache.discard([job.id for job in done])

        if state == "done":
            await self.db.write(lambda c: outcomes.printed(c, done, self.printer.name))
        else:
            await self.db.write(
                lambda c: outcomes.failed(c, done, self.printer.name, error=error, reason=reason)
            )
        now = time.monotonic()
        if in_rush and now - self._events_at < EVENTS_IN_RUSH_S:
            self._events_held = True
            return
        self._events_held = False
        self._events_at = now
        self.on_events()
