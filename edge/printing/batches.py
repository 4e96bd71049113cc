"""The next batch of a printer's tickets: read from its queue, rendered, marked running."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from edge.db import Database
from edge.jobs import Job
from edge.printing import outcomes, queue
from edge.printing.ahead import TicketMaker
from edge.printing.ledger import JobLedger
from edge.printing.queue import Queued
from edge.printing.render import RenderError

log = logging.getLogger(__name__)

# In a rush, the due tickets behind the head one go out in the same write, between one
# "running" commit and one "done" commit: at most `batch_max_jobs` of them, and this many bytes.
BATCH_MAX_BYTES = 32 * 1024

Rendered = list[tuple[Job, bytes]]


class BatchMaker:
    """Reads, renders and marks running the batches one printer prints."""

    def __init__(
        self,
        db: Database,
        tickets: TicketMaker,
        ledger: JobLedger,
        line_rate: Callable[[], float | None],
    ) -> None:
        self.db = db
        self.tickets = tickets
        self.ledger = ledger
        self.printer = tickets.printer
        #: how fast the printer's line carries bytes now (None: fast or unknown)
        self.line_rate = line_rate

    async def head(self) -> list[Queued]:
        """The due batch at the head of the queue (the head job alone while careful)."""
        return await self._read(following=False)

    async def prepare(self, batch: list[Queued]) -> Rendered:
        """The batch rendered and marked running (durably: it may print any moment)."""
        return await self.ledger.mark_running(await self.render(batch))

    async def following(self) -> Rendered:
        """The next due batch while one is in the printer, rendered and marked running;
        [] when preparing it failed."""
        try:
            batch = await self._read(following=True)
            rendered = await self.render(batch) if batch else []
        except Exception:  # the batch being printed must still be recorded
            log.exception("printer %s: preparing the next tickets failed", self.printer.name)
            return []
        return await self.ledger.mark_running(rendered)

    async def _read(self, *, following: bool) -> list[Queued]:
        limit = 1 if self.ledger.careful else self.printer.batch_max_jobs
        return await self.db.read(
            functools.partial(
                queue.due_batch,
                printer=self.printer.name,
                limit=limit,
                following=following,
                known=self.tickets.cache.keys(),  # read here, in the event loop
            )
        )

    def max_bytes(self) -> int:
        """How much one write may carry: BATCH_MAX_BYTES, or what a slow line (serial) takes
        in half the write deadline, so a batch is never the reason for a timeout."""
        rate = self.line_rate()
        if rate is None:
            return BATCH_MAX_BYTES
        return max(1, min(BATCH_MAX_BYTES, int(rate * self.printer.write_timeout_s / 2)))

    async def render(self, batch: list[Queued]) -> Rendered:
        """The jobs' bytes, up to `max_bytes()`; a job that cannot be rendered fails for good."""
        rendered: Rendered = []
        size = 0
        limit = self.max_bytes()
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
                    await self.ledger.unprintable(job, str(err))
                    continue
            rendered.append((job, data))
            size += len(data)
        return rendered
