"""The arguments of the till's commands, checked before anything happens."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drivers.concert import FrameError, currency_code
from edge.staff import InvalidStaffName, check_name
from edge.till.errors import TillError, TillErrorCode
from edge.till.ledger import Method, PaymentState

# The terminal's amount field holds 8 digits of minor units.
AMOUNT_MAX = 99_999_999
REASON_MAX = 200


def _invalid(message: str) -> TillError:
    return TillError(TillErrorCode.INVALID_ARGS, message)


IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # CONTRACT's identifiers (order ids…)


def identifier(args: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    """An id argument: 1 to 64 of `A-Z a-z 0-9 _ . : -` ("" when optional and absent)."""
    value = args.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise _invalid(f"argument {key!r} must be an id of 1 to 64 letters, digits or _.:-")
    return value


def text(args: Mapping[str, Any], key: str, *, required: bool = True, limit: int = 128) -> str:
    """A non-empty string argument ("" when optional and absent)."""
    value = args.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _invalid(f"argument {key!r} must be a non-empty string of at most {limit} characters")
    return value


def pin(args: Mapping[str, Any]) -> str:
    """The PIN, as given (a wrong one is the staff book's to judge and count). A JSON number
    is taken as its digits: a PIN that starts with 0 must be sent as a string."""
    value = args.get("pin")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return text(args, "pin", limit=32)


def staff_name(args: Mapping[str, Any]) -> str | None:
    """Ours: `staff`, the person whose PIN this is (optional). Naming them makes their wrong
    PINs count against them too (a person's lockout), not only against the box."""
    value = args.get("staff")
    if value is None:
        return None
    try:
        return check_name(value) if isinstance(value, str) else check_name("")
    except InvalidStaffName as err:
        raise _invalid(f"argument 'staff': {err}") from err


def amount(args: Mapping[str, Any], *, required: bool = True) -> int | None:
    """An amount in minor units, 1 to AMOUNT_MAX."""
    value = args.get("amount")
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= AMOUNT_MAX:
        raise _invalid(f"argument 'amount' must be an integer from 1 to {AMOUNT_MAX} minor units")
    return value


def currency(args: Mapping[str, Any]) -> str:
    """An ISO 4217 code the terminal knows (EUR, GBP, USD, …)."""
    value = text(args, "currency", limit=3).upper()
    try:
        currency_code(value)
    except FrameError as err:
        raise _invalid(f"argument 'currency': {err}") from err
    return value


@dataclass(frozen=True)
class PayArgs:
    """`pay`: order_id, amount, currency, pin; ours: method (card, default, or cash), printer."""

    order_id: str
    amount: int
    currency: str
    pin: str
    method: Method
    printer: str
    staff: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> PayArgs:
        method = args.get("method", Method.CARD.value)
        if method not in (Method.CARD.value, Method.CASH.value):
            raise _invalid("argument 'method' must be 'card' or 'cash'")
        value = amount(args)
        assert value is not None
        return cls(
            order_id=identifier(args, "order_id"),
            amount=value,
            currency=currency(args),
            pin=pin(args),
            method=Method(method),
            printer=identifier(args, "printer", required=False),
            staff=staff_name(args),
        )


@dataclass(frozen=True)
class RefundArgs:
    """`refund` (ours): payment_id, optional amount (default: all of it), supervisor pin."""

    payment_id: str
    amount: int | None
    pin: str
    printer: str
    staff: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> RefundArgs:
        return cls(
            payment_id=identifier(args, "payment_id"),
            amount=amount(args, required=False),
            pin=pin(args),
            printer=identifier(args, "printer", required=False),
            staff=staff_name(args),
        )


@dataclass(frozen=True)
class ResolveArgs:
    """`payment_resolve` (ours): payment_id, as (approved or declined), supervisor pin."""

    payment_id: str
    outcome: PaymentState
    pin: str
    staff: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> ResolveArgs:
        outcome = args.get("as")
        if outcome not in (PaymentState.APPROVED.value, PaymentState.DECLINED.value):
            raise _invalid("argument 'as' must be 'approved' or 'declined'")
        return cls(
            payment_id=identifier(args, "payment_id"),
            outcome=PaymentState(outcome),
            pin=pin(args),
            staff=staff_name(args),
        )


@dataclass(frozen=True)
class DrawerArgs:
    """`drawer_open`: pin, reason, optional printer."""

    pin: str
    reason: str
    printer: str
    staff: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> DrawerArgs:
        return cls(
            pin=pin(args),
            reason=text(args, "reason", limit=REASON_MAX).strip(),
            printer=identifier(args, "printer", required=False),
            staff=staff_name(args),
        )
