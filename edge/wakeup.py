"""A wake-up for a task that looks for work, then waits: a wake-up in between is never lost.

Every long-lived worker (printer, scheduler, POS) runs the same loop: look in the database
for work, and when there is none due, wait until woken or until the next due time. An
`asyncio.Event` cleared after the look misses a wake-up that arrives during the look (the
scheduler once slept its full minute that way). Here the worker notes the wake-up count
*before* it looks (`mark`), and `wait` returns at once if a wake-up came since.
"""

from __future__ import annotations

import asyncio


class Wakeup:
    """Wake-ups counted, so a waiter knows whether one came since it last looked."""

    def __init__(self) -> None:
        self._count = 0
        self._event = asyncio.Event()

    def set(self) -> None:
        """Wake the task (now, or at its next wait)."""
        self._count += 1
        self._event.set()

    def mark(self) -> int:
        """Call before looking for work; pass the result to `wait` or `came_since`."""
        return self._count

    def came_since(self, mark: int) -> bool:
        """Whether a wake-up came after `mark` was taken."""
        return self._count != mark

    async def wait(self, mark: int, timeout: float | None) -> bool:
        """Until a wake-up after `mark` (True, at once if one already came) or `timeout` (False)."""
        if self._count != mark:
            return True
        self._event.clear()
        try:
            async with asyncio.timeout(timeout):
                while self._count == mark:
                    await self._event.wait()
                    self._event.clear()
        except TimeoutError:
            return False
        return True
