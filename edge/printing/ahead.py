"""A printer's tickets as bytes: rendered when printed, or ahead while the printer is away."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable

from edge.db import Database
from edge.jobs import Job
from edge.printing import queue
from edge.printing.cache import TicketCache, cache_key
from edge.printing.render import PrinterSettings, TicketStyle, render_job

log = logging.getLogger(__name__)

# While the printer is away, this many of its queued tickets are rendered ahead (memory only),
# read from the database this many at a time.
AHEAD_MAX_JOBS = 2000
AHEAD_CHUNK = 250


class TicketMaker:
    """Renders one printer's tickets, keeping those rendered ahead until they print."""

    def __init__(self, printer: PrinterSettings, style: TicketStyle) -> None:
        self.printer = printer
        self.style = style
        self.cache = TicketCache()
        self._unrenderable: set[int] = set()  # left to their turn by rendering ahead

    def kept(self, job: Job, revision: int | None) -> bytes | None:
        """The job's bytes rendered earlier, if they still stand."""
        return self.cache.get(job, revision)

    def render(self, job: Job, revision: int | None, order_json: str | None) -> bytes:
        """The job's bytes rendered now (and kept); RenderError, or a bug's error, on failure."""
        data = render_job(job, order_json, self.printer, self.style)
        self.cache.put(job, revision, data)
        return data

    async def render_ahead(self, db: Database, interrupted: Callable[[], bool]) -> None:
        """Render the printer's queued tickets until `interrupted()` (new work) or the cache
        is full. Best effort: a ticket that cannot be rendered is reported when its turn comes.
        """
        cache = self.cache
        try:
            ids = await db.read(
                functools.partial(queue.queued_ids, printer=self.printer.name, limit=AHEAD_MAX_JOBS)
            )
            cache.keep_only(set(ids))  # printed, cancelled or moved since: out
            self._unrenderable &= set(ids)
            missing = [i for i in ids if i not in cache and i not in self._unrenderable]
            for at in range(0, len(missing), AHEAD_CHUNK):
                if interrupted() or cache.full():
                    return  # the rest is rendered when printed
                chunk = missing[at : at + AHEAD_CHUNK]
                rows = await db.read(functools.partial(queue.job_rows, ids=chunk))
                for n, (job, revision, order_json) in enumerate(rows):
                    if interrupted() or cache.full():
                        return
                    if cache_key(job, revision) is None or order_json is None:
                        continue
                    try:
                        cache.put(
                            job, revision, render_job(job, order_json, self.printer, self.style)
                        )
                    except Exception:  # reported, and failed, when its turn comes
                        log.debug("job %d cannot be rendered ahead", job.id, exc_info=True)
                        self._unrenderable.add(job.id)
                    if n % 16 == 15:
                        await asyncio.sleep(0)  # rendering must not hold up the event loop
        except sqlite3.Error as err:
            log.warning("printer %s: rendering ahead stopped: %s", self.printer.name, err)
