"""The append-only audit log: who took a payment, opened the drawer, changed staff, got locked out.

Rows are written inside the caller's transaction (`record`), so an action and its audit entry
commit together or not at all. The database itself refuses to change a row, and to delete one
younger than RETENTION_S (triggers of migration 7); `purge` is the only deleter.
"""

from __future__ import annotations

import enum
import json
import math
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Kept longer than orders (edge.housekeeping.ORDER_RETENTION_S, 90 days): a year of money
# questions and then some. Migration 7's delete trigger holds the same figure: change both.
RETENTION_DAYS = 400
RETENTION_S = RETENTION_DAYS * 86400.0

#: the actor of what the command line does (whoever runs `edge` on the box)
TECHNICIAN = "technician"
#: the actor of what the daemon does on its own (a lockout, an UNKNOWN payment after a crash)
SYSTEM = "system"

# Never written to the audit, whatever the caller passes: a PIN, its hash, a card number.
_SECRET_KEYS = frozenset({"pin", "pin_hash", "hash", "pan", "card", "card_number", "cvv"})


class AuditKind(enum.StrEnum):
    """What an audit entry records."""

    STAFF_ADDED = "staff.added"
    STAFF_PIN_CHANGED = "staff.pin_changed"
    STAFF_REMOVED = "staff.removed"
    STAFF_LOCKED_OUT = "staff.locked_out"  # subject: the person, or "box" for the whole box
    STAFF_UNLOCKED = "staff.unlocked"
    PIN_WRONG = "pin.wrong"
    PAYMENT_STARTED = "payment.started"
    PAYMENT_APPROVED = "payment.approved"
    PAYMENT_DECLINED = "payment.declined"
    PAYMENT_CANCELLED = "payment.cancelled"
    PAYMENT_UNKNOWN = "payment.unknown"
    PAYMENT_FAILED = "payment.failed"  # the terminal never took the request: not charged
    PAYMENT_RESOLVED = "payment.resolved"
    DRAWER_OPENING = "drawer.opening"  # written before the kick: a crash cannot hide one
    DRAWER_OPENED = "drawer.opened"
    DRAWER_OPEN_FAILED = "drawer.open_failed"
    DRAWER_LEFT_OPEN = "drawer.left_open"


@dataclass(frozen=True)
class AuditEntry:
    """One audit row; `at` is RFC 3339 UTC, `at_epoch` the same instant in seconds."""

    id: int
    at: str
    at_epoch: float
    kind: str  # an AuditKind value (a newer version may have written one this one lacks)
    actor: str
    subject: str | None
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The entry as the JSON export shows it."""
        return {
            "id": self.id,
            "at": self.at,
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "data": self.data,
        }


def rfc3339(epoch: float) -> str:
    """`epoch` as RFC 3339 UTC with milliseconds (`2026-11-23T18:02:11.123Z`)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def record(
    conn: sqlite3.Connection,
    kind: AuditKind,
    actor: str,
    subject: str | None = None,
    data: dict[str, Any] | None = None,
    *,
    now: float | None = None,
) -> int:
    """Append one entry inside the caller's transaction; its id. Refuses secret-looking keys."""
    data = data or {}
    secret = _SECRET_KEYS & {key.lower() for key in data}
    if secret:
        raise ValueError(f"audit data must not carry secrets: key(s) {sorted(secret)}")
    epoch = time.time() if now is None else now
    cursor = conn.execute(
        "INSERT INTO audit (at, at_epoch, kind, actor, subject, data) VALUES (?, ?, ?, ?, ?, ?)",
        (
            rfc3339(epoch),
            epoch,
            AuditKind(kind).value,
            actor,
            subject,
            json.dumps(data, ensure_ascii=False, sort_keys=True),
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def entries(
    conn: sqlite3.Connection, since: float | None = None, until: float | None = None
) -> list[AuditEntry]:
    """Entries with `since <= at_epoch < until` (either bound optional), oldest first."""
    rows = conn.execute(
        "SELECT id, at, at_epoch, kind, actor, subject, data FROM audit"
        " WHERE at_epoch >= ? AND at_epoch < ? ORDER BY id",
        (
            float("-inf") if since is None else since,
            float("inf") if until is None else until,
        ),
    ).fetchall()
    return [
        AuditEntry(
            id=r[0],
            at=r[1],
            at_epoch=r[2],
            kind=r[3],
            actor=r[4],
            subject=r[5],
            data=json.loads(r[6]),
        )
        for r in rows
    ]


def purge(conn: sqlite3.Connection, now: float | None = None) -> int:
    """Delete the entries older than RETENTION_S (the only deleter); how many went."""
    # Whole seconds: the trigger compares with SQLite's clock in whole seconds, read a moment
    # later, and one refused row would abort the whole purge.
    before = math.floor(time.time() if now is None else now) - RETENTION_S
    return conn.execute("DELETE FROM audit WHERE at_epoch < ?", (before,)).rowcount
