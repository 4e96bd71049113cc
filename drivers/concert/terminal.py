"""The payment terminal: one payment at a time, the port opened for each payment."""

from __future__ import annotations

import asyncio
import logging

from drivers.concert.frames import (
    ConcertVariant,
    PaymentRequest,
    TransactionKind,
    currency_code,
    encode_request,
    pos_code,
)
from drivers.concert.port import (
    PortLister,
    TerminalPort,
    parse_card_reader_uri,
    system_ports,
)
from drivers.concert.result import PaymentResult
from drivers.concert.session import ConcertTimeouts, Exchange
from drivers.errors import TransientDriverError

log = logging.getLogger(__name__)

DEFAULT_RESENDS = 3


class TerminalBusyError(TransientDriverError):
    """A payment is already running on this terminal (refused, not queued)."""


class ConcertTerminal:
    """An Ingenico Telium terminal speaking Concert V2 (E or E+) on a serial port."""

    def __init__(
        self,
        uri: str,
        *,
        protocol: ConcertVariant | str = ConcertVariant.E_PLUS,
        pos_number: str = "01",
        timeouts: ConcertTimeouts | None = None,
        resends: int = DEFAULT_RESENDS,
        full_answer: bool = True,
        port_lister: PortLister = system_ports,
    ) -> None:
        self.port = parse_card_reader_uri(uri)
        try:
            self.variant = ConcertVariant(protocol)
        except ValueError as err:
            raise ValueError(f"protocol must be concert or concert-e, not {protocol!r}") from err
        self.pos_number = pos_code(pos_number)
        self.timeouts = timeouts or ConcertTimeouts()
        if resends < 0:
            raise ValueError("resends cannot be negative")
        self.resends = resends
        self.full_answer = full_answer
        self._lister = port_lister
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """A payment is running."""
        return self._lock.locked()

    async def pay(
        self,
        amount_minor: int,
        currency: str,
        *,
        kind: TransactionKind = TransactionKind.DEBIT,
        private: str = "",
    ) -> PaymentResult:
        """Run one payment to its outcome.

        Raises before a byte is sent, and only then: FrameError (an amount, currency or
        private field that does not fit), TerminalBusyError (a payment is running),
        DeviceUnavailableError or UnsupportedTransportError (the port cannot be opened).
        Everything after is an outcome. Cancelling this call once the request was sent
        leaves the payment uncertain: treat it as UNKNOWN.
        """
        request = PaymentRequest(
            pos_number=self.pos_number,
            amount_minor=amount_minor,
            currency=currency_code(currency),
            kind=kind,
            full_answer=self.full_answer,
            private=private,
        )
        frame = encode_request(request, self.variant)
        if self._lock.locked():
            raise TerminalBusyError("a payment is already running on this terminal")
        async with self._lock:
            link = await TerminalPort.open(self.port, self._lister, self.timeouts.open)
            try:
                exchange = Exchange(
                    link,
                    request,
                    frame,
                    port=link.path,
                    timeouts=self.timeouts,
                    resends=self.resends,
                )
                return await exchange.run()
            finally:
                await link.close(self.timeouts.ack)

    async def close(self) -> None:
        """Release the terminal. The port is held only during a payment (and closed by it),
        so there is nothing to do today; a running pay() is stopped by cancelling it."""

    async def __aenter__(self) -> ConcertTerminal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
