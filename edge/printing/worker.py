"""One task per printer: takes its jobs in order, owns the connection, holds jobs during faults.

A worker is made of parts along the seams of one attempt: its `link` (the connection and what
the printer last said), its `batches` (the next tickets, read, rendered and marked running),
its `ledger` (what each attempt leaves in the database). The worker itself decides: when to
print, what an outcome means, when to fail over.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from drivers.errors import DriverError
from edge import jobs
from edge.db import Database, Durability
from edge.errors import StorageError
from edge.jobs import Job
from edge.printing import failover
from edge.printing.ahead import TicketMaker
from edge.printing.batches import BatchMaker, Rendered
from edge.printing.checkpoints import Checkpoints, CrashPoints, Point
from edge.printing.drawer import DrawerKicks, DrawerUnavailableError
from edge.printing.failures import FailureKind
from edge.printing.ledger import JobLedger
from edge.printing.link import PrinterLink, TransportFactory
from edge.printing.queue import Queued
from edge.printing.render import PrinterSettings, TicketStyle
from edge.wakeup import Wakeup

log = logging.getLogger(__name__)

# After the queue empties the connection is kept this long for the next ticket of a rush,
# then released (the POS may share a port-9100 printer).
LINGER_S = 1.0


class PrinterWorker:
    """Prints the queued jobs of one printer, one at a time, in job order."""

    def __init__(
        self,
        printer: PrinterSettings,
        db: Database,
        style: TicketStyle,
        on_events: Callable[[], None],
        wake_printer: Callable[[str], None] = lambda _name: None,
        transports: TransportFactory | None = None,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.printer = printer
        self.db = db
        self.style = style
        self.on_events = on_events
        self.wake_printer = wake_printer
        self.checkpoints = checkpoints or CrashPoints()
        self.link = PrinterLink(printer, db, on_events, transports)
        self.tickets = TicketMaker(printer, style)
        self.ledger = JobLedger(printer, db, self.tickets.cache, on_events, self.checkpoints)
        self.batches = BatchMaker(db, self.tickets, self.ledger, self._line_rate)
        self.wake = Wakeup()
        self.drawer = DrawerKicks(printer.drawer) if printer.drawer is not None else None
        self._poll_due = True
        self._retry_now = False
        self._stopping = False
        self._printing = False
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, Any]:
        """What `status` reports for this printer."""
        return self.link.snapshot()

    async def kick_drawer(self, deadline_s: float) -> bool:
        """Pulse the cash drawer between two batches; True if sent in real time (the printer
        was offline). Raises DrawerUnavailableError when it was not, or may not have been, sent.
        """
        if self.drawer is None:
            raise DrawerUnavailableError(f"no cash drawer is wired to {self.printer.name}")
        return await self.drawer.kick(self.wake, deadline_s)

    def _line_rate(self) -> float | None:
        transport = self.link.transport
        return transport.bytes_per_second if transport is not None else None

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
                    self.link.last_error = "storage"
                    self.tickets.cache.clear()
                    await self.link.disconnect()
                    await self.db.write_when_stored(
                        lambda c: jobs.recover_interrupted(c, self.printer.name)
                    )
                except Exception:  # a bug must not stop the daemon
                    log.exception("printer %s: unexpected failure", self.printer.name)
                    self.link.last_error = "internal_error"
                    await self._recover()
                    await asyncio.sleep(self.printer.retry_max_s)  # then the jobs are tried again
        finally:
            if self.drawer is not None:
                self.drawer.fail_all(f"printer {self.printer.name} stopped")
            await self.link.disconnect()

    async def _step(self) -> None:
        """Print the due jobs at the head of the queue, or wait for work or for a retry."""
        if self.drawer is not None and self.drawer.pending():
            await self._kick_drawers(self.drawer)
        if self._failover_due():
            await self._fail_over()
        mark = self.wake.mark()  # before looking: work queued meanwhile wakes us
        job = await self.db.read(lambda c: jobs.head_print_job(c, self.printer.name, time.time()))
        # Tickets come out in order: while the oldest job waits for its retry (the printer is
        # down), the jobs behind it wait too, unless new work arrived.
        if job is None or (job.next_attempt_at > time.time() and not self._retry_now):
            if job is None and await self._linger(mark):
                return
            if job is None and self._poll_due:
                self._poll_due = False
                await self._poll_idle()
            # Port-9100 printers serve one connection at a time: free it for the POS.
            await self.link.disconnect()
            self._retry_now = await self._idle(job, mark)
            self._poll_due = not self._retry_now
            return
        self._retry_now = False
        self._printing = True
        try:
            batch = await self.batches.head()
            if batch:  # else the head job was cancelled or moved meanwhile
                await self._attempt(batch)
        finally:
            self._printing = False

    async def _recover(self) -> None:
        """After an unexpected failure: this printer's jobs left running go back, marked
        REPRINT (they may have printed), to the head of the queue."""
        self.tickets.cache.clear()
        try:
            await self.link.disconnect()
            await self.db.write(
                lambda c: jobs.recover_interrupted(c, self.printer.name), Durability.FULL
            )
        except Exception:
            log.exception("printer %s: could not re-queue its interrupted jobs", self.printer.name)

    async def _linger(self, mark: int) -> bool:
        """Keep a fresh connection briefly for the next ticket (a rush); True if work came."""
        transport = self.link.transport
        if transport is None or not transport.is_open:
            return False
        return await self.wake.wait(mark, LINGER_S)

    async def _idle(self, head: Job | None, mark: int) -> bool:
        """Wait for new work (True) or until the head job is due or the idle period ends."""
        down_since = self.ledger.down_since
        if head is not None and down_since is not None:
            await self.tickets.render_ahead(self.db, lambda: self.wake.came_since(mark))
        if head is not None:
            wakeup: float | None = head.next_attempt_at
        else:
            wakeup = await self.db.read(lambda c: jobs.next_wakeup(c, "print", self.printer.name))
        timeout = self.printer.status_interval_s
        if wakeup is not None:
            timeout = min(timeout, max(wakeup - time.time(), 0.0))
        if self.printer.backup and down_since is not None and head is not None:
            until_failover = down_since + self.printer.failover_after_s - time.monotonic()
            timeout = min(timeout, max(until_failover, 0.0))
        return await self.wake.wait(mark, timeout)

    async def _kick_drawers(self, drawer: DrawerKicks) -> None:
        """Send the kicks the till asked for, between batches (each caller is told how it went)."""
        while (kick := drawer.take()) is not None:
            realtime: bool | None = None
            error: DriverError | None = DrawerUnavailableError("the kick was interrupted")
            try:
                await self.link.connect()
                fault = await self.link.check_status()
                transport = self.link.transport
                if transport is None:
                    raise DrawerUnavailableError("the connection went before the kick")
                realtime = fault is not None
                await transport.write(drawer.command(printer_offline=realtime))
                error = None
                log.info("printer %s: cash drawer kicked", self.printer.name)
            except DriverError as err:
                error = err
                await self.link.disconnect()
            finally:  # also when the disk or a bug breaks in: the caller must hear
                drawer.settle(kick, realtime, error)

    # ---- idle status and failover ---------------------------------------------------------

    async def _poll_idle(self) -> None:
        """Read the status of an idle printer, so a fault is known (and reported) before a job."""
        try:
            await self.link.connected_status()
        except DriverError as err:
            log.info("printer %s: idle status check failed: %s", self.printer.name, err)
        finally:
            await self.link.disconnect()

    def _failover_due(self) -> bool:
        down_since = self.ledger.down_since
        return (
            bool(self.printer.backup)
            and down_since is not None
            and time.monotonic() - down_since >= self.printer.failover_after_s
        )

    async def _still_down(self) -> bool:
        """Ask the printer right now: is it still unable to print?"""
        unreachable = self.link.last_error == FailureKind.UNREACHABLE
        try:
            fault = await self.link.connected_status()
        except DriverError:
            await self.link.disconnect()
            return True
        if fault is None and not self.link.answers_status:
            # It cannot tell: reachable again is all we learn, which is news only if being
            # unreachable was the trouble (not a stall, or paper it cannot report).
            return not unreachable
        return fault is not None

    async def _fail_over(self) -> None:
        # Down long enough; but a printer back in the meantime keeps its tickets.
        if not await self._still_down():
            self.ledger.down_since = None
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
                time.monotonic() - (self.ledger.down_since or time.monotonic()),
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
        if not self.link.fresh_clean_status():
            try:
                fault = await self.link.connected_status()
            except DriverError as err:
                await self.link.disconnect()
                await self.ledger.retry([head], err, may_have_printed=[False])
                return
            if fault is not None:
                await self.ledger.hold(head, fault)
                return
            await self.checkpoints.reached(Point.STATUS_CHECKED, [head])
        rendered = await self.batches.prepare(batch)
        if rendered:
            self.ledger.rush_started()
            try:
                await self._print_rush(rendered)
            finally:
                self.ledger.rush_ended()

    async def _print_rush(self, rendered: Rendered) -> None:
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
            await self.checkpoints.reached(Point.BEFORE_PRINT, printing)
            data = b"".join(d for _, d in rendered)
            try:
                transport = self.link.transport
                if transport is None:
                    raise ConnectionError("the connection went before the batch")  # a bug
                await transport.write(data)
            except DriverError as err:
                await self.link.disconnect()
                await self.ledger.printed(confirmed)
                sent = getattr(err, "sent", len(data))
                starts = itertools.accumulate((len(d) for _, d in rendered[:-1]), initial=0)
                # Jobs whose first byte went out may have printed; the others never started.
                await self.ledger.retry(
                    printing, err, may_have_printed=[start < sent for start in starts]
                )
                return
            # The answer to the status request behind the batch says the printer took it all;
            # meanwhile the batch before is recorded and the next one prepared.
            following: Rendered = []
            async with _alongside(self._status_after_job()) as status:
                await self.ledger.printed(confirmed, in_rush=True)
                confirmed = []
                await self.checkpoints.reached(Point.AFTER_PRINT, printing)
                following = [] if self._stopping else await self.batches.following()
                failure = await status
            if isinstance(failure, _Raised):
                raise failure.error
            if failure is None and self._stopping and following:
                await self.ledger.requeue([job for job, _ in following])  # stop after this batch
                following = []
            if failure is not None:
                # The printer stopped during or right after the batch: it may be half printed.
                # The next batch, marked running, never started: it goes back as it was.
                if failure == FailureKind.NOT_RESPONDING:
                    await self.link.disconnect()
                await self.ledger.retry(
                    printing + [job for job, _ in following],
                    failure,
                    may_have_printed=[True] * len(printing) + [False] * len(following),
                    hold=not isinstance(failure, DriverError),
                )
                return
            confirmed = printing
            rendered = following
        await self.ledger.printed(confirmed)

    async def _status_after_job(self) -> DriverError | FailureKind | _Raised | None:
        """The fault the printer reports after taking a batch, or the error that broke the
        connection (every byte was handed over: the batch may have printed).

        Any other error (the disk, a bug) is handed back, to be raised once the batch before
        is recorded and the next one prepared: in the group, it would cancel them midway.
        """
        try:
            return await self.link.check_status(after_job=True)
        except DriverError as err:
            await self.link.disconnect()
            return err
        except Exception as err:  # noqa: BLE001 (raised again by the worker)
            return _Raised(err)


@dataclass(frozen=True, slots=True)
class _Raised:
    """An error of the status check after a job, raised by the worker when it is its turn."""

    error: Exception


@contextlib.asynccontextmanager
async def _alongside(
    check: Coroutine[Any, Any, DriverError | FailureKind | _Raised | None],
) -> AsyncIterator[asyncio.Task[DriverError | FailureKind | _Raised | None]]:
    """Run `check` in a TaskGroup while the body works; the body's own error comes out as
    itself (the worker tells a storage failure from a bug), not wrapped in a group. A check
    still running when the body fails is cancelled and waited for."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group.create_task(check, name="status after job")
    except BaseExceptionGroup as errors:
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise
