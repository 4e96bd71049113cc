"""Taking payments and giving refunds: one at a time, the intent stored before the terminal
hears a byte, every outcome recorded and published, an uncertain one never called declined."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Protocol

from drivers.concert import FrameError, Outcome, PaymentResult, TerminalBusyError, TransactionKind
from drivers.errors import DriverError
from edge.db import Database, Durability
from edge.staff import PinRefused, Role, Staff, StaffBook
from edge.till import ledger
from edge.till.args import PayArgs, RefundArgs, ResolveArgs
from edge.till.drawers import CashDrawers
from edge.till.errors import TillError, TillErrorCode
from edge.till.ledger import Method, Payment, PaymentKind, PaymentState

log = logging.getLogger(__name__)

_STATE = {
    Outcome.APPROVED: PaymentState.APPROVED,
    Outcome.DECLINED: PaymentState.DECLINED,
    Outcome.CANCELLED: PaymentState.CANCELLED,
    Outcome.UNKNOWN: PaymentState.UNKNOWN,
    Outcome.BUSY: PaymentState.FAILED,
    Outcome.FRAME_ERROR: PaymentState.FAILED,
}


class Terminal(Protocol):
    """What the desk needs of a payment terminal (drivers.concert.ConcertTerminal)."""

    async def pay(
        self, amount_minor: int, currency: str, *, kind: TransactionKind = ...
    ) -> PaymentResult: ...


async def check_pin(staff: StaffBook, pin: str, role: Role, name: str | None = None) -> Staff:
    """The person whose PIN this is (the one `name`d, when given), allowed `role`;
    TillError(forbidden) otherwise."""
    try:
        return await staff.verify(name, pin, role)
    except PinRefused as err:
        raise TillError(TillErrorCode.FORBIDDEN, str(err)) from err


class PaymentDesk:
    """The till's payments: card ones on the terminal, cash ones by hand and the drawer."""

    def __init__(
        self,
        db: Database,
        staff: StaffBook,
        terminal: Terminal | None,
        drawers: CashDrawers,
        on_events: Callable[[], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.staff = staff
        self.terminal = terminal
        self.drawers = drawers
        self.on_events = on_events
        self.clock = clock
        self.running: Payment | None = None  # the payment at the terminal now
        self.idle = asyncio.Event()  # no payment at the terminal
        self.idle.set()
        self._busy = False

    async def pay(self, args: dict[str, Any], command_id: str | None = None) -> dict[str, Any]:
        """`pay`: one payment of an order, by card (the terminal) or cash (the drawer)."""
        req = PayArgs.parse(args)
        if req.method is Method.CARD and self.terminal is None:
            raise TillError(TillErrorCode.NO_TERMINAL, "no payment terminal ([card_reader])")
        async with self._one_at_a_time():
            cashier = await check_pin(self.staff, req.pin, Role.CASHIER, req.staff)

            def intent(conn: sqlite3.Connection) -> Payment:
                ledger.check_order(conn, req.order_id, req.amount)
                record = ledger.record_cash if req.method is Method.CASH else _start_card
                return record(
                    conn,
                    kind=PaymentKind.PAYMENT,
                    order_id=req.order_id,
                    amount=req.amount,
                    currency=req.currency,
                    staff=cashier.name,
                    now=self.clock(),
                    command_id=command_id,
                )

            payment = await self.db.write(intent, Durability.FULL)
            self.on_events()
            if req.method is Method.CASH:
                return await self._after_cash(payment, req.printer, "cash sale")
            return await self._at_terminal(payment, TransactionKind.DEBIT)

    async def refund(self, args: dict[str, Any], command_id: str | None = None) -> dict[str, Any]:
        """`refund` (ours): money back for an approved payment; a supervisor's PIN."""
        req = RefundArgs.parse(args)
        async with self._one_at_a_time():
            supervisor = await check_pin(self.staff, req.pin, Role.SUPERVISOR, req.staff)

            def intent(conn: sqlite3.Connection) -> Payment:
                original, left = _refundable(conn, req.payment_id, req.amount)
                if original.method is Method.CARD and self.terminal is None:
                    raise TillError(
                        TillErrorCode.NO_TERMINAL, "no payment terminal ([card_reader])"
                    )
                record = ledger.record_cash if original.method is Method.CASH else _start_card
                return record(
                    conn,
                    kind=PaymentKind.REFUND,
                    order_id=original.order_id,
                    amount=req.amount or left,
                    currency=original.currency,
                    staff=supervisor.name,
                    now=self.clock(),
                    command_id=command_id,
                    refund_of=original.id,
                )

            payment = await self.db.write(intent, Durability.FULL)
            self.on_events()
            if payment.method is Method.CASH:
                return await self._after_cash(payment, req.printer, "cash refund")
            return await self._at_terminal(payment, TransactionKind.CREDIT)

    async def resolve(self, args: dict[str, Any]) -> dict[str, Any]:
        """`payment_resolve` (ours): a supervisor says how an UNKNOWN payment ended."""
        req = ResolveArgs.parse(args)
        supervisor = await check_pin(self.staff, req.pin, Role.SUPERVISOR, req.staff)
        payment = await self.db.write(
            lambda c: ledger.resolve(c, req.payment_id, req.outcome, supervisor.name, self.clock()),
            Durability.FULL,
        )
        self.on_events()
        log.info("payment %s resolved as %s by %s", payment.id, req.outcome, supervisor.name)
        return _public(payment)

    # ---- the terminal ---------------------------------------------------------------------

    async def _at_terminal(self, payment: Payment, kind: TransactionKind) -> dict[str, Any]:
        self.running = payment
        self.idle.clear()
        try:  # idle again once the outcome is stored: a shut-down waits for both
            recorded, error = await self._terminal_outcome(payment, kind)
        finally:
            self.running = None
            self.idle.set()
        log.info("payment %s: %s (%s)", payment.id, recorded.state, recorded.detail or "-")
        if error is not None:
            raise error
        return _public(recorded)

    async def _terminal_outcome(
        self, payment: Payment, kind: TransactionKind
    ) -> tuple[Payment, TillError | None]:
        """Run the payment on the terminal and store its outcome (even when cancelled)."""
        assert self.terminal is not None
        state, detail, result = PaymentState.UNKNOWN, "", None
        error: TillError | None = None
        try:
            result = await self.terminal.pay(payment.amount, payment.currency, kind=kind)
            state, detail = _STATE[result.outcome], result.detail
            if result.outcome is Outcome.BUSY:
                error = TillError(
                    TillErrorCode.BUSY,
                    "the terminal did not take the request: is it on its home screen?",
                )
            elif result.outcome is Outcome.FRAME_ERROR:
                error = TillError(
                    TillErrorCode.TERMINAL_ERROR,
                    "the terminal refused the request: check its protocol (E or E+)",
                )
        except TerminalBusyError as err:  # nothing was sent
            state, detail = PaymentState.FAILED, str(err)
            error = TillError(TillErrorCode.BUSY, str(err))
        except (DriverError, FrameError) as err:  # the port could not be opened: nothing sent
            state, detail = PaymentState.FAILED, str(err)
            error = TillError(TillErrorCode.NO_TERMINAL, f"payment terminal unavailable: {err}")
        except asyncio.CancelledError:  # the daemon stops: the request may have gone out
            detail = "the daemon stopped during the payment"
            await asyncio.shield(self._record(payment, state, detail, None))
            raise
        except Exception:  # a bug after bytes may have gone: never "declined"
            log.exception("payment %s: unexpected failure at the terminal", payment.id)
            detail = "internal error during the payment"
        # Shielded: a shut-down arriving now must not drop an outcome the terminal gave.
        recorded = await asyncio.shield(self._record(payment, state, detail, result))
        return recorded, error

    async def _record(
        self,
        payment: Payment,
        state: PaymentState,
        detail: str,
        result: PaymentResult | None,
    ) -> Payment:
        recorded = await self.db.write_when_stored(
            lambda c: ledger.finish(
                c,
                payment.id,
                state,
                now=self.clock(),
                detail=detail or None,
                auth_code=result.authorisation_code if result else None,
                masked_pan=result.masked_pan if result else None,
                terminal=result.port if result else None,
            ),
            Durability.FULL,
        )
        self.on_events()
        return recorded

    async def _after_cash(self, payment: Payment, printer: str, reason: str) -> dict[str, Any]:
        """Cash changed hands: open the drawer (the payment stands even if it does not open)."""
        reply = _public(payment)
        try:
            reply["drawer"] = await self.drawers.open(
                payment.staff, reason, printer, sale=payment.id
            )
        except TillError as err:
            reply["drawer"] = {"opened": False, "error": err.code.value, "message": str(err)}
        return reply

    # ---- one at a time --------------------------------------------------------------------

    def _one_at_a_time(self) -> _OneAtATime:
        return _OneAtATime(self)


class _OneAtATime:
    """Refuses (busy) a second payment while one runs: never queued behind it."""

    def __init__(self, desk: PaymentDesk) -> None:
        self.desk = desk

    async def __aenter__(self) -> None:
        if self.desk._busy:  # checked and set with no await between: one wins
            raise TillError(TillErrorCode.BUSY, "a payment is in progress")
        self.desk._busy = True

    async def __aexit__(self, *exc: object) -> None:
        self.desk._busy = False


def _start_card(conn: sqlite3.Connection, **fields: Any) -> Payment:
    return ledger.start(conn, method=Method.CARD, **fields)


def _refundable(
    conn: sqlite3.Connection, payment_id: str, amount: int | None
) -> tuple[Payment, int]:
    """The approved payment to refund, and what is left of it to refund."""
    original = ledger.get(conn, payment_id)
    if original is None:
        raise TillError(TillErrorCode.NOT_FOUND, f"no payment {payment_id}")
    if original.kind is not PaymentKind.PAYMENT or original.state is not PaymentState.APPROVED:
        raise TillError(
            TillErrorCode.INVALID_ARGS,
            f"payment {payment_id} is a {original.state.value} {original.kind.value}: "
            "only an approved payment is refunded",
        )
    refunded = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM payments WHERE refund_of = ?"
        " AND state IN ('approved', 'started', 'unknown')",
        (payment_id,),
    ).fetchone()[0]
    left = original.amount - refunded
    if (amount or left) > left or left <= 0:
        raise TillError(
            TillErrorCode.INVALID_ARGS,
            f"payment {payment_id} has {left} left to refund (of {original.amount})",
        )
    return original, left


def _public(payment: Payment) -> dict[str, Any]:
    """A reply: CONTRACT's `payment_id` and `outcome`, then ours. No card number."""
    return {
        "payment_id": payment.id,
        "outcome": payment.state.value,
        "order_id": payment.order_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "staff": payment.staff,
        "method": payment.method.value,
        "kind": payment.kind.value,
        **({"detail": payment.detail} if payment.detail else {}),
        **({"authorization_code": payment.auth_code} if payment.auth_code else {}),
        **({"resolved_by": payment.resolved_by} if payment.resolved_by else {}),
    }
