"""Real-time status (`DLE EOT`) over any bidirectional transport."""

from __future__ import annotations

import asyncio
import logging

from drivers.escpos.status import (
    STATUS_OFFLINE_CAUSE,
    STATUS_PAPER,
    STATUS_PRINTER,
    PrinterStatus,
    StatusByteError,
)
from drivers.transports.base import PrinterTransport

log = logging.getLogger(__name__)


class NoStatusAnswer(Exception):
    """The printer did not answer a status request in time (some models never do)."""


async def _ask(transport: PrinterTransport, request: bytes, timeout: float) -> int:
    await transport.write(request)
    transport.unanswered += 1
    answer = await transport.read(1, timeout)
    if not answer:
        raise NoStatusAnswer(f"no answer to {request.hex(' ')} within {timeout:g} s")
    transport.unanswered -= 1
    return answer[-1]


async def _discard_late_answers(transport: PrinterTransport, timeout: float) -> None:
    """Wait up to `timeout` for the answers earlier requests still owe, and drop them.

    drain_input() alone drops only what has arrived: an answer still on its way would be
    read as the answer to the next request. Once the line stayed quiet for `timeout`,
    those answers are taken as never coming.
    """
    owed = transport.unanswered
    if owed:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while owed > 0 and (left := deadline - loop.time()) > 0:
            late = await transport.read(owed, left)
            if not late:
                break
            owed -= len(late)
            log.debug("dropped %d late status answer(s) from %s", len(late), transport.uri)
        transport.unanswered = 0
    await transport.drain_input()


async def query_status(
    transport: PrinterTransport,
    timeout: float = 1.5,
    *,
    first_timeout: float | None = None,
    drawer_open_high: bool | None = None,
) -> PrinterStatus:
    """Ask printer, offline-cause and paper status; raises NoStatusAnswer or StatusByteError.

    `first_timeout` bounds the first answer instead of `timeout`: right after a job the
    request waits behind the job's bytes, so its answer also says the printer took them all.
    `drawer_open_high` (a drawer is wired): which sensor level means open; None leaves
    `drawer_open` unknown.
    """
    await _discard_late_answers(transport, timeout)  # a late answer must not be misread
    first = timeout if first_timeout is None else max(first_timeout, timeout)
    printer = await _ask(transport, STATUS_PRINTER, first)
    offline_cause = await _ask(transport, STATUS_OFFLINE_CAUSE, timeout)
    paper = await _ask(transport, STATUS_PAPER, timeout)
    return PrinterStatus.from_bytes(
        printer, offline_cause, paper, drawer_open_high=drawer_open_high
    )


__all__ = ["NoStatusAnswer", "PrinterStatus", "StatusByteError", "query_status"]
