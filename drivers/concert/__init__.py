"""Ingenico Telium payment terminals over Concert V2 (protocol E and E+), on a serial port.

    terminal = ConcertTerminal(
        "serial:///dev/ttyACM0?baudrate=9600&usb-id=079B:0028",
        protocol="concert",          # ConcertVariant: "concert" (E+) or "concert-e" (E)
        pos_number="01",
        timeouts=ConcertTimeouts(ack=3.0, answer=180.0, open=5.0),
    )
    result = await terminal.pay(1250, "EUR", kind=TransactionKind.DEBIT)
    result.outcome   # Outcome: APPROVED, DECLINED, CANCELLED, BUSY, FRAME_ERROR, UNKNOWN
    await terminal.close()

`pay` raises only before a byte went to the terminal (FrameError, TerminalBusyError when a
payment is already running, DeviceUnavailableError / UnsupportedTransportError when the port
cannot be opened); every other end is a PaymentResult. Once the terminal ACKed our request, a
failure is only ever UNKNOWN (`result.step` says where): never DECLINED, BUSY or FRAME_ERROR.
DECLINED and CANCELLED are both "not charged": status 7, CANCELLED when a full answer carries no
card (Concert V2 has no status of its own for an abort). Status 9 ("not verified") is UNKNOWN.
A result holds the masked card number and authorisation code when the full answer gives them,
never a full card number. `parse_card_reader_uri` reads the `[card_reader] uri` alone, for
config validation.
"""

from drivers.concert.frames import (
    Answer,
    AnswerStatus,
    ConcertVariant,
    FrameError,
    PaymentRequest,
    TransactionKind,
    currency_code,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
    lrc,
)
from drivers.concert.port import CardReaderPort, UsbId, parse_card_reader_uri
from drivers.concert.result import Outcome, PaymentResult, Step
from drivers.concert.session import ConcertTimeouts
from drivers.concert.terminal import ConcertTerminal, TerminalBusyError

__all__ = [
    "Answer",
    "AnswerStatus",
    "CardReaderPort",
    "ConcertTerminal",
    "ConcertTimeouts",
    "ConcertVariant",
    "FrameError",
    "Outcome",
    "PaymentRequest",
    "PaymentResult",
    "Step",
    "TerminalBusyError",
    "TransactionKind",
    "UsbId",
    "currency_code",
    "decode_answer",
    "decode_request",
    "encode_answer",
    "encode_request",
    "lrc",
    "parse_card_reader_uri",
]
