"""Jittered, capped exponential backoff."""

from __future__ import annotations

import random


class Backoff:
    """Delays of `initial * 2**n`, capped at `maximum`, each drawn in [d/2, d]."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt."""
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start over after a success."""
        self.attempt = 0


def retry_delay(attempts: int, initial: float = 1.0, maximum: float = 60.0) -> float:
    """Delay before retry number `attempts` (1-based) of a job."""
    ceiling = min(maximum, initial * (2 ** min(max(attempts - 1, 0), 30)))
    return random.uniform(ceiling / 2, ceiling)
