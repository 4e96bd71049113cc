"""One Concert exchange over a byte link: our request, then the terminal's answer.

    us:       ENQ  .  request  .  EOT  .    ACK  .       ACK  .
    terminal:   .  ACK   .    ACK   .  ENQ  .  answer  .   EOT

Every wait has a deadline. The line between "nothing happened" and "maybe charged" is the
terminal's ACK of our request: before it, failures are BUSY or FRAME_ERROR; after it, every
failure is UNKNOWN.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from drivers.concert.card import CardDetails, read_rep
from drivers.concert.frames import (
    ACK,
    ANSWER_BODY_FULL,
    ENQ,
    EOT,
    ETX,
    NAK,
    STX,
    Answer,
    AnswerStatus,
    FrameError,
    PaymentRequest,
    decode_answer,
)
from drivers.concert.result import Outcome, PaymentResult, Step
from drivers.errors import TransientDriverError

log = logging.getLogger(__name__)

_MAX_FRAME = ANSWER_BODY_FULL + 3
_NOISE_LIMIT = 512  # stray bytes tolerated while waiting for one control byte


class ByteLink(Protocol):
    """The port as the exchange sees it (a serial port, a test's pipe)."""

    async def read(self, n: int, timeout: float) -> bytes:
        """Up to n bytes; b"" when nothing came before `timeout`."""

    async def write(self, data: bytes, timeout: float) -> None:
        """All of `data`, or a DriverError."""


@dataclass(frozen=True, slots=True)
class ConcertTimeouts:
    """Deadlines of each step, in seconds."""

    ack: float = 3.0  # an ACK, the next byte of a frame, the closing EOT
    answer: float = 180.0  # the customer at the terminal: our EOT to the terminal's ENQ
    open: float = 5.0  # opening the port


class _Stop(Exception):
    """An exchange ends early with this outcome (control flow inside this module)."""

    def __init__(self, outcome: Outcome, step: Step, detail: str) -> None:
        super().__init__(detail)
        self.outcome, self.step, self.detail = outcome, step, detail


class Exchange:
    """Runs one payment on a link that is open and idle."""

    def __init__(
        self,
        link: ByteLink,
        request: PaymentRequest,
        frame: bytes,
        *,
        port: str,
        timeouts: ConcertTimeouts,
        resends: int,
    ) -> None:
        self._link, self._request, self._frame = link, request, frame
        self._port, self._t, self._resends = port, timeouts, resends
        self._pending = bytearray()
        self.accepted = False  # the terminal ACKed our request: from here, only UNKNOWN fails
        self._step = Step.ENQ

    async def run(self) -> PaymentResult:
        """Play the exchange to its outcome; never raises a DriverError."""
        try:
            self._step = Step.ENQ
            await self._discard_input()
            await self._send_enq()
            self._step = Step.REQUEST
            await self._send_request()
            self._step = Step.END_OF_REQUEST
            await self._link.write(bytes([EOT]), self._t.ack)
            self._step = Step.ANSWER_WAIT
            answer, body = await self._receive_answer()
        except _Stop as stop:
            return self._result(stop.outcome, step=stop.step, detail=stop.detail)
        except TransientDriverError as err:  # the device went away, stalled
            # Lost while sending our request: the frame may have reached it.
            maybe = self.accepted or self._step is Step.REQUEST
            outcome = Outcome.UNKNOWN if maybe else Outcome.BUSY
            return self._result(outcome, step=self._step, detail=f"device lost: {err}")
        return self._verdict(answer, body)

    async def _send_enq(self) -> None:
        await self._link.write(bytes([ENQ]), self._t.ack)
        reply = await self._control({ACK, NAK}, self._t.ack)
        if reply != ACK:
            await self._end_quietly()
            said = "NAK" if reply == NAK else "no answer"
            raise _Stop(Outcome.BUSY, Step.ENQ, f"the terminal did not take the line ({said})")

    async def _send_request(self) -> None:
        silent = False
        for _ in range(1 + self._resends):
            await self._link.write(self._frame, self._t.ack)
            reply = await self._control({ACK, NAK}, self._t.ack)
            if reply == ACK:
                self.accepted = True
                return
            silent = silent or reply is None
        await self._end_quietly()
        tries = 1 + self._resends
        if silent:
            # Without its NAK we cannot tell a lost ACK from a refusal: it may be charging.
            raise _Stop(Outcome.UNKNOWN, Step.REQUEST, f"no ACK to our request ({tries} tries)")
        raise _Stop(Outcome.FRAME_ERROR, Step.REQUEST, f"request NAKed {tries} times")

    async def _receive_answer(self) -> tuple[Answer, str]:
        if await self._control({ENQ}, self._t.answer) is None:
            raise _Stop(Outcome.UNKNOWN, Step.ANSWER_WAIT, f"no answer within {self._t.answer:g} s")
        await self._link.write(bytes([ACK]), self._t.ack)
        self._step = Step.ANSWER_FRAME
        for _ in range(1 + self._resends):
            data = await self._read_frame()
            try:
                answer = decode_answer(data)
            except FrameError as err:
                log.info("%s: answer refused (%s), asking again", self._port, err)
                await self._discard_input()
                await self._link.write(bytes([NAK]), self._t.ack)
                continue
            await self._link.write(bytes([ACK]), self._t.ack)
            if await self._control({EOT}, self._t.ack) is None:
                log.info("%s: no EOT after the answer (taken anyway)", self._port)
            return answer, data[1:-2].decode("ascii")
        tries = 1 + self._resends
        raise _Stop(Outcome.UNKNOWN, Step.ANSWER_FRAME, f"answer garbled {tries} times")

    async def _read_frame(self) -> bytes:
        """STX .. ETX LRC, or as much as came; _Stop when the terminal falls silent."""
        data = bytearray()
        while not data:
            byte = await self._byte(self._t.ack)
            if byte is None:
                raise _Stop(Outcome.UNKNOWN, Step.ANSWER_FRAME, "no answer frame after its ENQ")
            if byte == STX:
                data.append(byte)
            elif byte == ENQ:  # it starts over: take the line again
                await self._link.write(bytes([ACK]), self._t.ack)
        while len(data) < _MAX_FRAME:
            byte = await self._byte(self._t.ack)
            if byte is None:
                raise _Stop(Outcome.UNKNOWN, Step.ANSWER_FRAME, "silent mid-answer")
            data.append(byte)
            if byte == ETX:  # the body is printable ASCII: this ETX ends it, the LRC follows
                lrc = await self._byte(self._t.ack)
                if lrc is None:
                    raise _Stop(Outcome.UNKNOWN, Step.ANSWER_FRAME, "no LRC after the answer")
                data.append(lrc)
                break
        return bytes(data)

    def _verdict(self, answer: Answer, body: str) -> PaymentResult:
        card = read_rep(answer.rep) if answer.rep is not None else None
        safe_body = body if card is None else body[:12] + card.rep + body[12 + len(card.rep) :]
        outcome, step, detail = self._judge(answer, card)
        return self._result(
            outcome,
            step=step,
            detail=detail,
            status=answer.status,
            answer=safe_body,
            authorisation_code=card.authorisation_code if card else None,
            masked_pan=card.masked_pan if card else None,
        )

    def _judge(self, answer: Answer, card: CardDetails | None) -> tuple[Outcome, Step | None, str]:
        req = self._request
        echo = (answer.pos_number, answer.amount_minor, answer.currency)
        if echo != (req.pos_number, req.amount_minor, req.currency):
            detail = "the answer is not for our request (pos, amount or currency differ)"
            return Outcome.UNKNOWN, Step.ANSWER_CHECK, detail
        if answer.status == AnswerStatus.ACCEPTED:
            return Outcome.APPROVED, None, "approved"
        if answer.status == AnswerStatus.REFUSED:
            # Concert V2 has no status of its own for an abort: a refusal with no card read
            # (a full answer whose rep is blank) is the customer or cashier cancelling.
            if card is not None and not card.rep.strip():
                return Outcome.CANCELLED, None, "cancelled at the terminal"
            return Outcome.DECLINED, None, "refused"
        if answer.status == AnswerStatus.NOT_VERIFIED:
            return Outcome.UNKNOWN, Step.ANSWER_CHECK, "handled but not verified by the terminal"
        return Outcome.UNKNOWN, Step.ANSWER_CHECK, f"unknown status {answer.status!r}"

    def _result(
        self,
        outcome: Outcome,
        *,
        step: Step | None,
        detail: str,
        status: str | None = None,
        answer: str | None = None,
        authorisation_code: str | None = None,
        masked_pan: str | None = None,
    ) -> PaymentResult:
        req = self._request
        result = PaymentResult(
            outcome,
            req.amount_minor,
            req.currency,
            self._port,
            status=status,
            step=step,
            detail=detail,
            authorisation_code=authorisation_code,
            masked_pan=masked_pan,
            answer=answer,
        )
        log.info(
            "%s: payment %s (status %s, step %s): %s", self._port, outcome, status, step, detail
        )
        return result

    async def _control(self, wanted: set[int], timeout: float) -> int | None:
        """The first of `wanted` within `timeout`, skipping line noise; None if none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(_NOISE_LIMIT):
            byte = await self._byte(max(deadline - loop.time(), 0.0))
            if byte is None or byte in wanted:
                return byte
        return None

    async def _byte(self, timeout: float) -> int | None:
        if not self._pending:
            self._pending += await self._link.read(256, timeout)
            if not self._pending:
                return None
        byte = self._pending[0]
        del self._pending[0]
        return byte

    async def _discard_input(self) -> None:
        self._pending.clear()
        for _ in range(_NOISE_LIMIT):
            if not await self._link.read(256, 0):
                return

    async def _end_quietly(self) -> None:
        """EOT to hand the line back; a failure here changes nothing."""
        try:
            await self._link.write(bytes([EOT]), self._t.ack)
        except TransientDriverError as err:
            log.debug("%s: EOT not sent: %s", self._port, err)
