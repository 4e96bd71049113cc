"""Why the till refused or could not do what it was asked: each becomes an error reply."""

from __future__ import annotations

import enum

from edge.errors import EdgeError


class TillErrorCode(enum.StrEnum):
    """The `error.code` of a till command's reply (CONTRACT §5's first, then ours)."""

    BUSY = "busy"  # a payment is in progress, or the terminal did not take the line
    FORBIDDEN = "forbidden"  # PIN wrong, locked out, or role insufficient
    NO_TERMINAL = "no_terminal"  # no [card_reader], or its device is not there
    INVALID_ARGS = "invalid_args"
    NOT_FOUND = "not_found"
    ALREADY_PAID = "already_paid"  # paid on its platform, or already at this till
    UNRESOLVED_PAYMENT = "unresolved_payment"  # an UNKNOWN payment of this order waits
    NOT_UNRESOLVED = "not_unresolved"  # resolve: the payment's outcome is known
    TERMINAL_ERROR = "terminal_error"  # the terminal refused our request (NAK every time)
    NO_DRAWER = "no_drawer"  # no printer has cash_drawer = true
    PRINTER_UNAVAILABLE = "printer_unavailable"  # the drawer's printer did not take the kick
    INTERRUPTED = "interrupted"  # the daemon restarted before it was carried out


class TillError(EdgeError):
    """A till command that cannot be carried out."""

    def __init__(self, code: TillErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
