"""Turn a print job into the exact bytes sent to the printer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from drivers.escpos import Block, Cut, Feed, Rule, Text, encode
from edge.jobs import Job
from edge.orders.model import Order
from edge.tickets import kitchen_ticket


@dataclass(frozen=True)
class PrinterSettings:
    """One configured printer, as the worker needs it."""

    name: str
    uri: str
    width: int = 48
    encoding: str = "cp1252"
    copies: int = 1
    connect_timeout_s: float = 5.0
    write_timeout_s: float = 10.0
    status_interval_s: float = 30.0
    status_timeout_s: float = 1.5
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0
    fault_poll_s: float = 2.0
    # A printer that answered status and falls silent holds its jobs (stalled or busy) for
    # this long; after that it is taken for a model that never answers, and printed blind.
    silent_after_s: float = 120.0


@dataclass(frozen=True)
class TicketStyle:
    """Store-wide ticket settings."""

    locale: str = "en"
    timezone: str = "UTC"
    store_name: str = ""


class RenderError(Exception):
    """The job cannot be turned into a ticket (its order is missing or unreadable)."""


def self_test_page(
    printer: PrinterSettings, style: TicketStyle, now: datetime | None = None
) -> list[Block]:
    """A page that shows a technician the printer works and prints accents."""
    when = (now or datetime.now(ZoneInfo(style.timezone))).strftime("%Y-%m-%d %H:%M:%S")
    return [
        Text("TEST", bold=True, double_height=True, double_width=True, align="center"),
        Text(style.store_name or "store-edge", align="center"),
        Rule(),
        Text(f"Printer: {printer.name}"),
        Text(f"URI: {printer.uri}"),
        Text(f"Width: {printer.width} / Encoding: {printer.encoding}"),
        Rule(),
        Text("Crème brûlée, œuf, façade, Noël: 12,50 €"),
        Text("ÀÂÇÉÈÊËÎÏÔŒÙÛÜ àâçéèêëîïôœùûü"),
        Rule(),
        Text(when, align="center"),
        Feed(2),
        Cut(),
    ]


def render_job(
    job: Job, order_json: str | None, printer: PrinterSettings, style: TicketStyle
) -> bytes:
    """The bytes of every copy of the job's ticket, each starting with ESC @ and ESC t."""
    if job.ticket == "test":
        blocks = self_test_page(printer, style)
    else:
        if order_json is None:
            raise RenderError(f"order {job.order_id} is not in the database")
        try:
            order = Order.model_validate_json(order_json)
        except ValueError as err:
            raise RenderError(f"order {job.order_id} cannot be read: {err}") from err
        kind = (
            job.ticket
            if job.ticket in ("kitchen", "updated", "cancellation", "manual_entry")
            else "kitchen"
        )
        blocks = kitchen_ticket(
            order,
            kind=kind,  # type: ignore[arg-type]
            reprint=job.reprint,
            locale=style.locale,  # type: ignore[arg-type]
            timezone=style.timezone,
            printer=printer.name,
        )
    one = encode(blocks, width=printer.width, encoding=printer.encoding)
    return one * max(job.copies, 1)
