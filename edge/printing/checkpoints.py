"""Named moments of a print attempt, and who hears of them.

The worker announces each moment to a `Checkpoints` it is given. In the daemon that is
`CrashPoints`, where `$EDGE_CRASH_AT` can kill the process (crash tests); tests running a worker
in their own event loop pass their own, to act at an exact moment (cancel an order while the
status check runs, stop the worker while a batch is in the printer) instead of patching the
worker's methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from edge.crashpoints import crash_point
from edge.jobs import Job


class Point(StrEnum):
    """A moment of a print attempt."""

    #: the pre-job status check answered, and nothing forbids printing
    STATUS_CHECKED = "status_checked"
    #: jobs were marked running (durably: from here on they may print)
    MARKED_RUNNING = "marked_running"
    #: a batch is about to be written to the printer
    BEFORE_PRINT = "before_print"
    #: the printer is taking a batch in (its status pending), the batch before is recorded
    #: done, and the next one is about to be prepared
    AFTER_PRINT = "after_print"
    #: printed jobs are about to be recorded done
    RECORDING_DONE = "recording_done"
    #: an attempt failed; its jobs are about to be queued again
    ATTEMPT_FAILED = "attempt_failed"


class Checkpoints(Protocol):
    """Hears of each moment; may act then (its exceptions are the worker's)."""

    async def reached(self, point: Point, jobs: Sequence[Job]) -> None: ...


class CrashPoints:
    """The daemon's: every moment is a crash point named after it (edge/crashpoints.py)."""

    async def reached(self, point: Point, jobs: Sequence[Job]) -> None:
        crash_point(point.value)
