"""What a payment at the terminal came to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """The result of one payment. Once the terminal ACKed our request, only the terminal's own
    verdict (APPROVED, DECLINED, CANCELLED) or UNKNOWN can come out: never BUSY or
    FRAME_ERROR, whatever fails afterwards."""

    APPROVED = "approved"
    DECLINED = "declined"  # status 7 on a card: not charged
    CANCELLED = "cancelled"  # status 7 with no card in the full answer: aborted, not charged
    BUSY = "busy"  # the terminal did not take the line (no ACK to ENQ): nothing was sent
    FRAME_ERROR = "frame_error"  # our request NAKed every time: the terminal refused it
    UNKNOWN = "unknown"  # the customer may have been charged: a supervisor must check

    @property
    def charged(self) -> bool | None:
        """True charged, False not charged, None nobody can tell from here."""
        if self is Outcome.APPROVED:
            return True
        return None if self is Outcome.UNKNOWN else False


class Step(StrEnum):
    """Where an exchange stopped short of a clean answer."""

    ENQ = "enq"  # our ENQ, waiting for the terminal's ACK
    REQUEST = "request"  # our request frame, waiting for its ACK
    END_OF_REQUEST = "end_of_request"  # our EOT after the ACKed request
    ANSWER_WAIT = "answer_wait"  # waiting for the terminal's ENQ (the customer at the terminal)
    ANSWER_FRAME = "answer_frame"  # reading the terminal's answer frame
    ANSWER_CHECK = "answer_check"  # a well-formed answer we cannot take as given


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """One payment's outcome, with what the terminal said. Holds no full card number."""

    outcome: Outcome
    amount_minor: int
    currency: str  # ISO 4217 numeric
    port: str  # the device path used (after any re-enumeration)
    status: str | None = None  # the terminal's status character, when it answered
    step: Step | None = None  # where it stopped, for every outcome but the terminal's verdicts
    detail: str = ""  # why, for staff and logs; never card data
    authorisation_code: str | None = None
    masked_pan: str | None = None
    answer: str | None = None  # the answer's body as received, card numbers masked
