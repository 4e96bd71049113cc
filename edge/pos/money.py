"""Money between our minor units (cents) and the decimal amounts of POS APIs (12.5)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def units(cents: int) -> float:
    """Minor units to a decimal amount in currency units."""
    return float(Decimal(cents) / 100)


def cents(amount: Any) -> int | None:
    """A decimal amount (number or string) to minor units, half up; None when absent."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        return None
    try:
        return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except ArithmeticError:
        return None
