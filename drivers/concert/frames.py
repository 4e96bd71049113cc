"""Concert V2 frames (protocol E and E+): the payment request, the terminal's answer, the LRC.

A frame is `STX body ETX LRC`, the LRC being the XOR of body and ETX (STX excluded). It may be
any byte, NUL included. Field layout: /work/shared/specs/concert-facts.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import reduce
from operator import xor

from drivers.errors import PermanentDriverError

STX, ETX, EOT, ENQ, ACK, NAK = 0x02, 0x03, 0x04, 0x05, 0x06, 0x15

MAX_AMOUNT_MINOR = 99_999_999  # the 8 digits of the amount field
REQUEST_BODY_E = 26
REQUEST_BODY_E_PLUS = 34
ANSWER_BODY_SHORT = 25  # pos 2, status 1, amount 8, mode 1, currency 3, private 10
ANSWER_BODY_FULL = 80  # the same with rep (55) after the mode
REP_SIZE = 55
PRIVATE_SIZE = 10

# The common ones; any other currency is given by its ISO 4217 number.
CURRENCIES = {
    "EUR": "978",
    "USD": "840",
    "GBP": "826",
    "CHF": "756",
    "CAD": "124",
    "XPF": "953",
    "XOF": "952",
    "MAD": "504",
    "TND": "788",
    "DKK": "208",
    "SEK": "752",
    "NOK": "578",
    "PLN": "985",
}
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")


class FrameError(PermanentDriverError):
    """A frame breaks the Concert format (ours refused before sending, or the terminal's)."""


class ConcertVariant(StrEnum):
    """The `[card_reader] protocol` values: E+ (34-byte request) or E (26-byte request)."""

    E_PLUS = "concert"
    E = "concert-e"


class TransactionKind(StrEnum):
    """The request's transaction type."""

    DEBIT = "0"
    CREDIT = "1"  # a refund to the card
    CANCEL = "2"  # cancels an earlier transaction


class AnswerStatus(StrEnum):
    """The terminal's verdict in its answer."""

    ACCEPTED = "0"
    REFUSED = "7"
    NOT_VERIFIED = "9"  # handled, but the terminal does not vouch for the result


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """What we ask the terminal: one request frame."""

    pos_number: str
    amount_minor: int
    currency: str  # ISO 4217 numeric, 3 digits
    kind: TransactionKind = TransactionKind.DEBIT
    full_answer: bool = True
    mode: str = "1"  # card
    private: str = ""
    immediate: bool = False  # A011: answer at once, not at the end of the transaction
    force_authorisation: bool = False  # B011


@dataclass(frozen=True, slots=True)
class Answer:
    """The terminal's answer frame, decoded; `rep` only in a full answer (may hold card data)."""

    pos_number: str
    status: str
    amount_minor: int
    mode: str
    currency: str
    private: str
    rep: str | None


def lrc(data: bytes) -> int:
    """The XOR of every byte of `data` (give it body + ETX)."""
    return reduce(xor, data, 0)


def frame(body: bytes) -> bytes:
    """`STX body ETX LRC`."""
    tail = body + bytes([ETX])
    return bytes([STX]) + tail + bytes([lrc(tail)])


def currency_code(currency: str) -> str:
    """ISO 4217 numeric code from "EUR" or "978"; FrameError for anything else."""
    text = currency.strip().upper()
    if len(text) == 3 and text.isascii() and text.isdigit():
        return text
    code = CURRENCIES.get(text)
    if code is None:
        raise FrameError(
            f"unknown currency {currency!r}: give its ISO 4217 number (e.g. 978) "
            f"or one of {', '.join(CURRENCIES)}"
        )
    return code


def pos_code(pos_number: str) -> str:
    """The 2-digit till number ("1" -> "01"); FrameError when it does not fit."""
    text = pos_number.strip()
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 2):
        raise FrameError(f"pos_number must be 1 or 2 digits, not {pos_number!r}")
    return text.zfill(2)


def encode_request(request: PaymentRequest, variant: ConcertVariant) -> bytes:
    """The request frame; FrameError for a field that does not fit."""
    amount = request.amount_minor
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise FrameError(f"the amount must be an integer number of minor units, not {amount!r}")
    if not 0 < amount <= MAX_AMOUNT_MINOR:
        raise FrameError(f"the amount must be 1..{MAX_AMOUNT_MINOR} minor units, not {amount}")
    if len(request.mode) != 1 or not _printable(request.mode):
        raise FrameError(f"the payment mode is one character, not {request.mode!r}")
    if len(request.private) > PRIVATE_SIZE or not _printable(request.private):
        raise FrameError("the private field is up to 10 printable ASCII characters")
    body = (
        pos_code(request.pos_number)
        + f"{amount:08d}"
        + ("1" if request.full_answer else "0")
        + request.mode
        + TransactionKind(request.kind).value
        + currency_code(request.currency)
        + request.private.ljust(PRIVATE_SIZE)
    )
    if variant is ConcertVariant.E_PLUS:
        body += "A011" if request.immediate else "A010"
        body += "B011" if request.force_authorisation else "B010"
    return frame(body.encode("ascii"))


def decode_request(data: bytes) -> tuple[PaymentRequest, ConcertVariant]:
    """Read a request frame back, strictly (the terminal simulator's side)."""
    text = _body(data, (REQUEST_BODY_E, REQUEST_BODY_E_PLUS))
    variant = ConcertVariant.E_PLUS if len(text) == REQUEST_BODY_E_PLUS else ConcertVariant.E
    if not text[:10].isdigit() or not text[13:16].isdigit():
        raise FrameError("pos, amount and currency must be digits")
    if text[10] not in "01":
        raise FrameError(f"answer flag {text[10]!r} is neither 0 nor 1")
    try:
        kind = TransactionKind(text[12])
    except ValueError as err:
        raise FrameError(f"unknown transaction type {text[12]!r}") from err
    immediate = force = False
    if variant is ConcertVariant.E_PLUS:
        if text[26:30] not in ("A010", "A011") or text[30:34] not in ("B010", "B011"):
            raise FrameError(f"delay/authorisation {text[26:34]!r} is not A01x B01x")
        immediate, force = text[26:30] == "A011", text[30:34] == "B011"
    request = PaymentRequest(
        pos_number=text[0:2],
        amount_minor=int(text[2:10]),
        currency=text[13:16],
        kind=kind,
        full_answer=text[10] == "1",
        mode=text[11],
        private=text[16:26].rstrip(" "),
        immediate=immediate,
        force_authorisation=force,
    )
    return request, variant


def encode_answer(answer: Answer) -> bytes:
    """The terminal's answer frame (the terminal simulator's side)."""
    rep = "" if answer.rep is None else answer.rep.ljust(REP_SIZE)
    body = (
        answer.pos_number
        + answer.status
        + f"{answer.amount_minor:08d}"
        + answer.mode
        + rep
        + answer.currency
        + answer.private.ljust(PRIVATE_SIZE)
    )
    if len(body) not in (ANSWER_BODY_SHORT, ANSWER_BODY_FULL) or not _printable(body):
        raise FrameError("an answer field does not fit its width")
    return frame(body.encode("ascii"))


def decode_answer(data: bytes) -> Answer:
    """The terminal's answer, short (28 bytes) or full (83); FrameError for anything else."""
    text = _body(data, (ANSWER_BODY_SHORT, ANSWER_BODY_FULL))
    rep: str | None = None
    if len(text) == ANSWER_BODY_FULL:
        rep, text = text[12 : 12 + REP_SIZE], text[:12] + text[12 + REP_SIZE :]
    pos, status, amount, mode, currency, private = (
        text[0:2],
        text[2],
        text[3:11],
        text[11],
        text[12:15],
        text[15:25],
    )
    if not (pos.isdigit() and amount.isdigit() and currency.isdigit()):
        raise FrameError("the answer's pos, amount or currency is not digits")
    return Answer(pos, status, int(amount), mode, currency, private, rep)


def _body(data: bytes, sizes: tuple[int, ...]) -> str:
    """The checked body of a frame: shape, LRC, printable ASCII."""
    if len(data) - 3 not in sizes:
        raise FrameError(
            f"a frame of {len(data)} bytes; expected {' or '.join(str(s + 3) for s in sizes)}"
        )
    if data[0] != STX or data[-2] != ETX:
        raise FrameError("the frame does not start with STX and end with ETX LRC")
    if lrc(data[1:-1]) != data[-1]:
        raise FrameError("bad LRC")
    body = data[1:-2]
    if not _PRINTABLE.fullmatch(body):
        raise FrameError("the frame holds bytes other than printable ASCII")
    return body.decode("ascii")


def _printable(text: str) -> bool:
    return text.isascii() and _PRINTABLE.fullmatch(text.encode("ascii")) is not None
