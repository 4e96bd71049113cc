"""A Concert payment terminal on a real pty pair: the driver opens the slave like a real tty.

Used by the tests, the benchmark and `edge demo`, as drivers.emulator is for printers.

The simulator holds the master side, plays one scripted behaviour (approve, decline, busy, NAK,
bad LRC, silence, unplug...) and checks every frame we send strictly (shape, LRC, fields),
recording each one and each violation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from drivers.concert import (
    Answer,
    FrameError,
    PaymentRequest,
    decode_request,
    encode_answer,
)
from drivers.concert.frames import ACK, ENQ, EOT, ETX, NAK, STX

WAIT = 10.0  # how long the terminal waits for the host's next byte before calling it a violation

MOVE_5000 = (0x079B, 0x0028)


@dataclass
class Script:
    """What the terminal does with the next payment."""

    status: str = "0"
    rep: str = ""  # the full answer's rep (a card number, an authorisation code...)
    ack_enq: bool = True  # False: busy, never takes the line
    nak_requests: int = 0  # NAK our first N request frames
    silent_requests: bool = False  # take the line, then never ACK nor NAK a request frame
    bad_lrc_answers: int = 0  # send the answer with a wrong LRC N times first
    answer: bool = True  # False: ACK the request, then never answer
    half_answer: bool = False  # send half the answer frame, then fall silent
    unplug_after_request: bool = False  # ACK the request, then the device disappears
    amount_minor: int | None = None  # answer another amount than asked
    private: str = "0000012345"


@dataclass
class Port:
    """A port as pyserial's list_ports describes it (for an injected lister)."""

    device: str
    vid: int | None = MOVE_5000[0]
    pid: int | None = MOVE_5000[1]


@dataclass
class ConcertTerminalSim:
    """The terminal end of a pty; `async with` starts and stops it."""

    script: Script = field(default_factory=Script)
    requests: list[bytes] = field(default_factory=list)  # every request frame, raw
    decoded: list[PaymentRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    received: bytearray = field(default_factory=bytearray)  # every byte from the host
    enqs: int = 0
    nakked: int = 0  # NAKs the host sent for our answers
    path: str = ""
    accepted: asyncio.Event = field(default_factory=asyncio.Event)  # we ACKed a request
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # a session ran to its end
    _master: int = -1
    _slave: int = -1
    _task: asyncio.Task[None] | None = None
    _bytes: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> ConcertTerminalSim:
        self._master, self._slave = os.openpty()
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        asyncio.get_running_loop().add_reader(self._master, self._readable)
        self._task = asyncio.create_task(self._serve(), name=f"concert terminal {self.path}")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.unplug()

    def unplug(self) -> None:
        """The device disappears: both ends of the pty close."""
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    async def until_received(self, expected: bytes) -> None:
        """Wait until the host has sent exactly `expected` in all (TimeoutError after WAIT)."""
        async with asyncio.timeout(WAIT):
            while len(self.received) < len(expected):
                self._arrived.clear()
                await self._arrived.wait()
        assert bytes(self.received) == expected

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:  # no slave open (between two payments): nothing to read
            return
        self.received += data
        self._arrived.set()
        for byte in data:
            self._bytes.put_nowait(byte)

    async def _byte(self, timeout: float | None = WAIT) -> int | None:
        try:
            async with asyncio.timeout(timeout):
                return await self._bytes.get()
        except TimeoutError:
            return None

    def _send(self, data: bytes) -> None:
        os.write(self._master, data)

    async def _expect(self, wanted: int, what: str) -> bool:
        got = await self._byte()
        if got != wanted:
            self.violations.append(f"expected {what}, got {got!r}")
            return False
        return True

    async def _serve(self) -> None:
        while True:
            byte = await self._byte(None)
            if byte == ENQ:
                self.enqs += 1
                if self.script.ack_enq:
                    self._send(bytes([ACK]))
                    await self._session()
            elif byte != EOT:  # an EOT after an ENQ we ignored (busy) is fine
                self.violations.append(f"stray byte {byte!r} outside a session")

    async def _frame(self) -> bytes | None:
        first = await self._byte()
        if first == EOT:  # the host gives up (after our NAKs): the session ends
            return None
        if first != STX:
            self.violations.append(f"expected STX, got {first!r}")
            return None
        data = bytearray([STX])
        while True:
            byte = await self._byte()
            if byte is None:
                self.violations.append("the host fell silent mid-frame")
                return None
            data.append(byte)
            if byte == ETX:
                lrc = await self._byte()
                if lrc is None:
                    self.violations.append("no LRC")
                    return None
                data.append(lrc)
                return bytes(data)

    async def _session(self) -> None:
        script = self.script
        while True:
            raw = await self._frame()
            if raw is None:
                return
            self.requests.append(raw)
            try:
                request, _ = decode_request(raw)
            except FrameError as err:
                self.violations.append(f"bad request frame: {err}")
                self._send(bytes([NAK]))
                continue
            self.decoded.append(request)
            if script.silent_requests:
                continue
            if len(self.requests) <= script.nak_requests:
                self._send(bytes([NAK]))
                continue
            break
        self._send(bytes([ACK]))
        if not await self._expect(EOT, "EOT after the request"):
            return
        self.accepted.set()
        if script.unplug_after_request:
            self.unplug()
            return
        if not script.answer:
            return
        self._send(bytes([ENQ]))
        if not await self._expect(ACK, "ACK to our ENQ"):
            return
        answer = encode_answer(
            Answer(
                pos_number=request.pos_number,
                status=script.status,
                amount_minor=request.amount_minor
                if script.amount_minor is None
                else script.amount_minor,
                mode=request.mode,
                currency=request.currency,
                private=script.private,
                rep=script.rep if request.full_answer else None,
            )
        )
        if script.half_answer:
            self._send(answer[: len(answer) // 2])
            return
        for _ in range(script.bad_lrc_answers):
            self._send(answer[:-1] + bytes([answer[-1] ^ 0x5A]))
            if not await self._expect(NAK, "NAK to a bad LRC"):
                return
            self.nakked += 1
        self._send(answer)
        if await self._expect(ACK, "ACK to the answer"):
            self._send(bytes([EOT]))
            self.finished.set()
