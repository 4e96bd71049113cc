"""A recording stand-in for asyncio.sleep: a test of backoff never waits."""

from __future__ import annotations


class Sleeps:
    """Records each delay asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
