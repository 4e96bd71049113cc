"""Wrong-PIN lockouts: per person and for the whole box, growing with each lockout.

A scope ("box", or "staff:NAME") counts wrong PINs. At `threshold` it is locked for
`base_s`; from then on every further wrong PIN locks it again for twice as long, up to
`cap_s`, until the count is cleared: by the person's right PIN (a person), by an explicit
unlock, or by `forget_s` without any wrong PIN. The box is never cleared by a right PIN:
otherwise someone who knows their own PIN could try others between two of theirs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

BOX = "box"


def person_scope(name: str) -> str:
    """The lockout scope of one person."""
    return f"staff:{name}"


@dataclass(frozen=True)
class LockoutRule:
    """When a scope locks and for how long."""

    threshold: int  # wrong PINs before the first lockout
    base_s: float  # the first lockout
    cap_s: float  # the longest lockout
    forget_s: float  # wrong PINs are forgotten after this long without one


@dataclass(frozen=True)
class LockoutPolicy:
    """The rules for people and for the whole box."""

    person: LockoutRule = field(default_factory=lambda: LockoutRule(5, 30.0, 900.0, 86400.0))
    box: LockoutRule = field(default_factory=lambda: LockoutRule(5, 30.0, 900.0, 900.0))


@dataclass(frozen=True)
class Lockout:
    """A lockout just started by a wrong PIN."""

    scope: str
    until: float
    seconds: float
    failures: int


def locks(conn: sqlite3.Connection, now: float) -> dict[str, float]:
    """Every scope locked at `now`, with the time its lock ends (scope keys casefolded)."""
    rows = conn.execute(
        "SELECT scope, locked_until FROM pin_lockouts WHERE locked_until > ?", (now,)
    ).fetchall()
    return {str(r[0]).casefold(): float(r[1]) for r in rows}


def count_failure(
    conn: sqlite3.Connection, scope: str, rule: LockoutRule, now: float
) -> Lockout | None:
    """Count one wrong PIN against `scope`; the lockout it starts, if any."""
    row = conn.execute(
        "SELECT failures, lockouts, last_failure_at FROM pin_lockouts WHERE scope = ?", (scope,)
    ).fetchone()
    failures, lockouts, last = (row[0], row[1], row[2]) if row else (0, 0, None)
    if last is not None and now - last > rule.forget_s:
        failures, lockouts = 0, 0
    failures += 1
    started: Lockout | None = None
    locked_until = None
    if failures >= rule.threshold:
        seconds = min(rule.base_s * 2 ** min(lockouts, 32), rule.cap_s)
        lockouts += 1
        locked_until = now + seconds
        started = Lockout(scope, locked_until, seconds, failures)
    conn.execute(
        "INSERT INTO pin_lockouts (scope, failures, lockouts, locked_until, last_failure_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET failures = excluded.failures,"
        " lockouts = excluded.lockouts, last_failure_at = excluded.last_failure_at,"
        " locked_until = COALESCE(excluded.locked_until, pin_lockouts.locked_until)",
        (scope, failures, lockouts, locked_until, now),
    )
    return started


def clear(conn: sqlite3.Connection, scope: str, now: float) -> bool:
    """Forget `scope`'s wrong PINs and lift its lock; whether it was locked at `now`."""
    row = conn.execute("SELECT locked_until FROM pin_lockouts WHERE scope = ?", (scope,)).fetchone()
    conn.execute("DELETE FROM pin_lockouts WHERE scope = ?", (scope,))
    return bool(row and row[0] is not None and row[0] > now)
