"""Reading a whole menu page by page: rate limits and passing failures waited out, progress told.

The deadline of the whole read is the caller's (`asyncio.timeout` around `read_menu`): a
page is tried again after the POS's `Retry-After`, else after a jittered backoff, a
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

PAGE_TRIES = 6
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
        self._backoff = backoff or Backoff(1.0, 30.0)
        self._sleep = sleep

    async def page(self, fetch: Callable[[], Awaitable[T]], what: str) -> T:
        """One page: `fetch` is called again after a transient error, up to the bound."""
        for attempt in range(1, self._tries + 1):
            try:
                result = await fetch()
            except PosTransientError as err:
                if attempt == self._tries:
                    raise
                delay = self._backoff.next()
                if err.retry_after is not None:
                    delay = min(max(err.retry_after, 0.0), RETRY_AFTER_MAX_S)
                self.retries += 1
                log.info("menu: %s failed (%s); again in %.1f s", what, err.reason, delay)
                await self._sleep(delay)
                continue
            self._backoff.reset()
            self.pages += 1
            if self._on_page is not None:
                self._on_page(self.pages)
            return result
        raise AssertionError("unreachable")  # the loop returns or raises
