"""A bearer token kept fresh: fetched when missing or near expiry, one fetch at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Renew when this share of the lifetime is left (and at least this many seconds before).
_RENEW_SHARE = 0.1
_RENEW_MIN_S = 60.0

Fetch = Callable[[], Awaitable[tuple[str, float]]]  # -> (token, lifetime in seconds)


class TokenKeeper:
    """Many callers, one login: callers arriving during a fetch wait for it (no herd)."""

    def __init__(self, fetch: Fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.fetches = 0

    async def token(self) -> str:
        """A token valid for a while yet."""
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                token, lifetime = await self._fetch()
                self.fetches += 1
                margin = max(lifetime * _RENEW_SHARE, min(_RENEW_MIN_S, lifetime / 2))
                self._token, self._renew_at = token, self._clock() + lifetime - margin
            return self._token

    def reject(self, token: str) -> None:
        """The vendor refused this token (401): the next caller fetches a new one."""
        if self._token == token:
            self._token = None
