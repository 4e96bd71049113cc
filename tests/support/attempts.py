"""Attempts for calling a connector directly, as the daemon's POS worker would."""

from __future__ import annotations

from edge.pos.model import Attempt


def fresh_attempt(step: str, reference: str) -> Attempt:
    """A step never tried before: no lookup first."""
    return Attempt(step=step, reference=reference, tries=0, first_at=0.0, progress={})
