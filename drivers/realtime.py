"""Real-time status (`DLE EOT`) over any bidirectional transport."""

from __future__ import annotations

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
    answer = await transport.read(1, timeout)
    if not answer:
        raise NoStatusAnswer(f"no answer to {request.hex(' ')} within {timeout:g} s")
    return answer[-1]


async def query_status(
    transport: PrinterTransport, timeout: float = 1.5, *, first_timeout: float | None = None
) -> PrinterStatus:
    """Ask printer, offline-cause and paper status; raises NoStatusAnswer or StatusByteError.

    `first_timeout` bounds the first answer instead of `timeout`: right after a job the
    request waits behind the job's bytes, so its answer also says the printer took them all.
    """
    await transport.drain_input()  # a late answer to an earlier request must not be misread
    first = timeout if first_timeout is None else max(first_timeout, timeout)
    printer = await _ask(transport, STATUS_PRINTER, first)
    offline_cause = await _ask(transport, STATUS_OFFLINE_CAUSE, timeout)
    paper = await _ask(transport, STATUS_PAPER, timeout)
    return PrinterStatus.from_bytes(printer, offline_cause, paper)


__all__ = ["NoStatusAnswer", "PrinterStatus", "StatusByteError", "query_status"]
