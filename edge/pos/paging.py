"""Reading a whole menu page by page: rate limits and passing failures waited out, progress told.

The deadline of the whole read is the caller's (`asyncio.timeout` around `read_menu`): a
page is tried again after the POS's `Retry-After`, else after a short jittered backoff, a
bounded number of times; a permanent refusal (bad token, unknown location) is not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from edge.backoff import Backoff

from .base import PosTransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_TRIES = 4
RATE_LIMIT_WAITS = 30  # a page the POS keeps rate-limiting is given up (the deadline bounds it too)
RETRY_AFTER_MAX_S = 120.0


class PageReader:
    """Fetches the pages of one menu read; counts them for a progress display."""

    def __init__(
        self,
        on_page: Callable[[int], None] | None = None,
        *,
        tries: int = PAGE_TRIES,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pages = 0
        self.retries = 0
        self._on_page = on_page
        self._tries = tries
        self._backoff = backoff or Backoff(0.5, 4.0)
        self._sleep = sleep

    async def page(self, fetch: Callable[[], Awaitable[T]], what: str) -> T:
        """One page: `fetch` is called again after a transient error, up to the bound.

        A rate limit with `Retry-After` is waited out without counting as a failed try (the
        POS said when to come back); other failures (refused, timeout, 5xx) are tried
        `tries` times in all, a few seconds apart, so that a POS that is down is reported
        soon (the sync is tried again later on its own).
        """
        failures = waits = 0
        while True:
            try:
                result = await fetch()
            except PosTransientError as err:
                if err.retry_after is not None and waits < RATE_LIMIT_WAITS:
                    waits += 1
                    delay = min(max(err.retry_after, 0.0), RETRY_AFTER_MAX_S)
                else:
                    failures += 1
                    if failures >= self._tries:
                        raise
                    delay = self._backoff.next()
                self.retries += 1
                log.info("menu: %s failed (%s); again in %.1f s", what, err.reason, delay)
                await self._sleep(delay)
                continue
            self._backoff.reset()
            self.pages += 1
            if self._on_page is not None:
                self._on_page(self.pages)
            return result
