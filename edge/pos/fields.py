"""Reading fields of a vendor's JSON defensively: a wrong type reads as absent, never raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text(doc: Mapping[str, Any], key: str) -> str:
    """The string at `key`, or "" when missing or not a string."""
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def integer(value: Any) -> int | None:
    """`value` when it is an integer (a JSON boolean is not), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
