"""Sortable unique identifiers (ULID-style: 48-bit milliseconds, 80 random bits, base32)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float | None = None) -> str:
    """A 26-character identifier that sorts by creation time."""
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def utc_now_rfc3339(now: float | None = None) -> str:
    """Now as an RFC 3339 UTC string with milliseconds and a `Z` offset."""
    t = time.time() if now is None else now
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return f"{base}.{int(t * 1000) % 1000:03d}Z"
