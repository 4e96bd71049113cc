"""Payments in the database: the intent before the terminal hears a byte, then the outcome.

Every function runs inside the caller's transaction, and writes the payment row, its audit
entry and its event together: a payment is never recorded without its trace, or the reverse.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from edge import audit, outbox
from edge.audit import AuditKind
from edge.ids import ulid, utc_now_rfc3339
from edge.till.errors import TillError, TillErrorCode


class PaymentState(enum.StrEnum):
    """Where a payment stands."""

    STARTED = "started"  # the intent: written before the first byte went to the terminal
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the customer may have been charged: a supervisor resolves it
    FAILED = "failed"  # the terminal never took the request (busy, refused, absent): not charged


class PaymentKind(enum.StrEnum):
    """Money in, or money back."""

    PAYMENT = "payment"
    REFUND = "refund"

    @property
    def events(self) -> str:
        """The prefix of its events: `payment.approved`, `refund.approved`, …"""
        return "payment" if self is PaymentKind.PAYMENT else "refund"


class Method(enum.StrEnum):
    """How the money moves."""

    CARD = "card"
    CASH = "cash"


_AUDIT = {
    PaymentState.APPROVED: AuditKind.PAYMENT_APPROVED,
    PaymentState.DECLINED: AuditKind.PAYMENT_DECLINED,
    PaymentState.CANCELLED: AuditKind.PAYMENT_CANCELLED,
    PaymentState.UNKNOWN: AuditKind.PAYMENT_UNKNOWN,
    PaymentState.FAILED: AuditKind.PAYMENT_FAILED,
}


@dataclass(frozen=True)
class Payment:
    """One payment row."""

    id: str
    kind: PaymentKind
    method: Method
    order_id: str | None
    refund_of: str | None
    amount: int
    currency: str
    staff: str
    state: PaymentState
    command_id: str | None
    detail: str | None
    masked_pan: str | None
    auth_code: str | None
    terminal: str | None
    resolved_by: str | None
    resolved_at: float | None
    started_at: float
    ended_at: float | None

    def event(self) -> dict[str, Any]:
        """The event body: CONTRACT §5's fields, then ours. No card data, ever."""
        body: dict[str, Any] = {
            "payment_id": self.id,
            "order_id": self.order_id,
            "amount": self.amount,
            "currency": self.currency,
            "staff": self.staff,
            "method": self.method.value,
            "kind": self.kind.value,
        }
        if self.refund_of:
            body["refund_of"] = self.refund_of
        if self.state in (PaymentState.UNKNOWN, PaymentState.FAILED) and self.detail:
            body["reason"] = self.detail
        return body

    def as_dict(self) -> dict[str, Any]:
        """What `payment_status` and `edge payments` show (the masked card number included)."""
        return {
            **self.event(),
            "state": self.state.value,
            # the `pay` reply's word for it; a payment still at the terminal is "in_progress"
            "outcome": "in_progress" if self.state is PaymentState.STARTED else self.state.value,
            "detail": self.detail,
            "masked_pan": self.masked_pan,
            "authorization_code": self.auth_code,
            "terminal": self.terminal,
            "resolved_by": self.resolved_by,
            "resolved_at": utc_now_rfc3339(self.resolved_at) if self.resolved_at else None,
            "started_at": utc_now_rfc3339(self.started_at),
            "ended_at": utc_now_rfc3339(self.ended_at) if self.ended_at else None,
        }


_COLUMNS = (
    "id, kind, method, order_id, refund_of, amount, currency, staff, state, command_id, detail,"
    " masked_pan, auth_code, terminal, resolved_by, resolved_at, started_at, ended_at"
)


def _payment(row: sqlite3.Row | tuple[Any, ...]) -> Payment:
    r = tuple(row)
    return Payment(
        id=r[0],
        kind=PaymentKind(r[1]),
        method=Method(r[2]),
        order_id=r[3],
        refund_of=r[4],
        amount=r[5],
        currency=r[6],
        staff=r[7],
        state=PaymentState(r[8]),
        command_id=r[9],
        detail=r[10],
        masked_pan=r[11],
        auth_code=r[12],
        terminal=r[13],
        resolved_by=r[14],
        resolved_at=r[15],
        started_at=r[16],
        ended_at=r[17],
    )


def get(conn: sqlite3.Connection, payment_id: str) -> Payment | None:
    """The payment `payment_id`, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM payments WHERE id = ?", (payment_id,)).fetchone()
    return _payment(row) if row else None


def of_order(conn: sqlite3.Connection, order_id: str) -> list[Payment]:
    """The payments of one order, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM payments WHERE order_id = ? ORDER BY started_at, id", (order_id,)
    ).fetchall()
    return [_payment(r) for r in rows]


def of_command(conn: sqlite3.Connection, command_id: str) -> Payment | None:
    """The payment a command started, if it got that far."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM payments WHERE command_id = ?", (command_id,)
    ).fetchone()
    return _payment(row) if row else None


def unresolved(conn: sqlite3.Connection) -> list[Payment]:
    """The payments whose outcome nobody knows, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM payments WHERE state = 'unknown' ORDER BY started_at, id"
    ).fetchall()
    return [_payment(r) for r in rows]


def check_order(conn: sqlite3.Connection, order_id: str, amount: int) -> None:
    """Refuse a payment the order does not need, one that could take its money twice, or
    one for more than a known order still owes."""
    row = conn.execute("SELECT payload FROM orders WHERE id = ?", (order_id,)).fetchone()
    total: int | None = None
    if row is not None:
        doc = json.loads(row[0])
        paid = (doc.get("payment") or {}).get("paid")
        method = (doc.get("payment") or {}).get("method")
        if paid is True:
            raise TillError(
                TillErrorCode.ALREADY_PAID,
                f"order {order_id} is already paid ({method or 'on its platform'})",
            )
        total = (doc.get("totals") or {}).get("total")
    payments = [p for p in of_order(conn, order_id) if p.kind is PaymentKind.PAYMENT]
    if any(p.state in (PaymentState.UNKNOWN, PaymentState.STARTED) for p in payments):
        raise TillError(
            TillErrorCode.UNRESOLVED_PAYMENT,
            f"order {order_id} has a payment whose outcome is unknown: a supervisor must "
            "resolve it first (edge payments unresolved)",
        )
    taken = sum(p.amount for p in payments if p.state is PaymentState.APPROVED)
    if taken and (total is None or taken >= total):
        raise TillError(
            TillErrorCode.ALREADY_PAID, f"order {order_id} is already paid at this till ({taken})"
        )
    if isinstance(total, int) and amount > total - taken:
        raise TillError(
            TillErrorCode.INVALID_ARGS,
            f"order {order_id} still owes {total - taken}, not {amount}",
        )


def start(
    conn: sqlite3.Connection,
    *,
    kind: PaymentKind,
    method: Method,
    order_id: str | None,
    amount: int,
    currency: str,
    staff: str,
    now: float,
    command_id: str | None = None,
    terminal: str | None = None,
    refund_of: str | None = None,
) -> Payment:
    """Write the intent (state STARTED) and its audit entry; raise busy if one is running."""
    payment_id = "pay_" + ulid(now)
    try:
        conn.execute(
            "INSERT INTO payments (id, kind, method, order_id, refund_of, amount, currency,"
            " staff, state, command_id, terminal, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'started', ?, ?, ?)",
            (
                payment_id,
                kind.value,
                method.value,
                order_id,
                refund_of,
                amount,
                currency,
                staff,
                command_id,
                terminal,
                now,
            ),
        )
    except sqlite3.IntegrityError as err:  # payments_one_running
        raise TillError(TillErrorCode.BUSY, "a payment is in progress") from err
    payment = get(conn, payment_id)
    assert payment is not None
    audit.record(
        conn,
        AuditKind.PAYMENT_STARTED,
        staff,
        payment_id,
        _audit_data(payment),
        now=now,
    )
    return payment


def _audit_data(payment: Payment, **extra: Any) -> dict[str, Any]:
    data = {
        "order_id": payment.order_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "method": payment.method.value,
        "kind": payment.kind.value,
        **({"refund_of": payment.refund_of} if payment.refund_of else {}),
    }
    return {**data, **{k: v for k, v in extra.items() if v is not None}}


def finish(
    conn: sqlite3.Connection,
    payment_id: str,
    state: PaymentState,
    *,
    now: float,
    detail: str | None = None,
    auth_code: str | None = None,
    masked_pan: str | None = None,
    terminal: str | None = None,
    actor: str | None = None,
) -> Payment:
    """Record a started payment's outcome, audit it, publish it (except FAILED's event name,
    `payment.failed`, which is ours). A payment already ended is left as it is."""
    conn.execute(
        "UPDATE payments SET state = ?, detail = ?, auth_code = ?, masked_pan = ?,"
        " terminal = COALESCE(?, terminal), ended_at = ? WHERE id = ? AND state = 'started'",
        (state.value, detail, auth_code, masked_pan, terminal, now, payment_id),
    )
    payment = get(conn, payment_id)
    assert payment is not None
    if payment.state is not state or payment.ended_at != now:
        return payment  # ended before (recovered, or a second call): nothing new
    audit.record(
        conn,
        _AUDIT[state],
        actor or payment.staff,
        payment_id,
        _audit_data(payment, detail=detail, auth_code=auth_code, terminal=payment.terminal),
        now=now,
    )
    outbox.add_event(
        conn, f"{payment.kind.events}.{state.value}", payment.order_id, payment.event()
    )
    return payment


def record_cash(
    conn: sqlite3.Connection,
    *,
    kind: PaymentKind,
    order_id: str | None,
    amount: int,
    currency: str,
    staff: str,
    now: float,
    command_id: str | None = None,
    refund_of: str | None = None,
) -> Payment:
    """A cash sale or cash refund: taken (or given) by hand, so approved at once."""
    payment = start(
        conn,
        kind=kind,
        method=Method.CASH,
        order_id=order_id,
        amount=amount,
        currency=currency,
        staff=staff,
        now=now,
        command_id=command_id,
        refund_of=refund_of,
    )
    return finish(conn, payment.id, PaymentState.APPROVED, now=now)


def recover_interrupted(conn: sqlite3.Connection, now: float) -> list[Payment]:
    """At start-up: a payment left STARTED (the daemon was killed during it) is UNKNOWN.

    It is never retried: the terminal may have charged the card. A supervisor resolves it.
    """
    rows = conn.execute("SELECT id FROM payments WHERE state = 'started'").fetchall()
    return [
        finish(
            conn,
            r[0],
            PaymentState.UNKNOWN,
            now=now,
            detail="the daemon stopped during the payment",
            actor=audit.SYSTEM,
        )
        for r in rows
    ]


def resolve(
    conn: sqlite3.Connection, payment_id: str, outcome: PaymentState, supervisor: str, now: float
) -> Payment:
    """A supervisor says how an UNKNOWN payment ended (approved or declined). Audited and
    published as `payment.resolved` (ours) with `outcome`."""
    if outcome not in (PaymentState.APPROVED, PaymentState.DECLINED):
        raise TillError(TillErrorCode.INVALID_ARGS, "resolve as 'approved' or 'declined'")
    payment = get(conn, payment_id)
    if payment is None:
        raise TillError(TillErrorCode.NOT_FOUND, f"no payment {payment_id}")
    if payment.state is not PaymentState.UNKNOWN:
        raise TillError(
            TillErrorCode.NOT_UNRESOLVED,
            f"payment {payment_id} is {payment.state.value}, not unknown: nothing to resolve",
        )
    conn.execute(
        "UPDATE payments SET state = ?, resolved_by = ?, resolved_at = ? WHERE id = ?",
        (outcome.value, supervisor, now, payment_id),
    )
    resolved = get(conn, payment_id)
    assert resolved is not None
    audit.record(
        conn,
        AuditKind.PAYMENT_RESOLVED,
        supervisor,
        payment_id,
        _audit_data(resolved, outcome=outcome.value, was=payment.detail),
        now=now,
    )
    outbox.add_event(
        conn,
        f"{resolved.kind.events}.resolved",
        resolved.order_id,
        {**resolved.event(), "outcome": outcome.value, "resolved_by": supervisor},
    )
    return resolved
