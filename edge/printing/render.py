"""Turn a print job into the exact bytes sent to the printer."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.escpos import Block, encode
from edge.jobs import Job
from edge.orders.model import Order
from edge.tickets import Locale, customer_receipt, kitchen_ticket, printer_test_page


@dataclass(frozen=True)
class DrawerSettings:
    """The cash drawer wired to a printer's kick connector."""

    pin: int = 2  # kick connector pin: 2 or 5
    open_high: bool = True  # the sensor (DLE EOT 1 bit 2) is high when the drawer is open
    left_open_after_s: float = 300.0  # reported once (drawer.left_open) when open this long


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
    backup: str = ""
    batch_max_jobs: int = 50
    failover_after_s: float = 60.0
    drawer: DrawerSettings | None = None  # a cash drawer is wired to it


@dataclass(frozen=True)
class TicketStyle:
    """Store-wide ticket settings."""

    locale: str = "en"
    timezone: str = "UTC"
    store_name: str = ""


class RenderError(Exception):
    """The job cannot be turned into a ticket (its order is missing or unreadable)."""


_MEANT_FOR = {"fr": "Pour l'imprimante {}", "en": "Meant for printer {}"}


def _locale(value: str) -> Locale:
    return "fr" if value == "fr" else "en"


def _meant_for(printer: str | None, locale: str) -> str | None:
    """On a ticket printed by a backup: which printer it was meant for."""
    if printer is None:
        return None
    return _MEANT_FOR.get(locale, _MEANT_FOR["en"]).format(printer)


def render_job(
    job: Job, order_json: str | None, printer: PrinterSettings, style: TicketStyle
) -> bytes:
    """The bytes of every copy of the job's ticket, each starting with ESC @ and ESC t."""
    if job.ticket == "test":
        blocks = printer_test_page(
            printer=printer.name,
            uri=printer.uri,
            width=printer.width,
            encoding=printer.encoding,
            locale=_locale(style.locale),
            timezone=style.timezone,
            store_name=style.store_name,
        )
    else:
        if order_json is None:
            raise RenderError(f"order {job.order_id} is not in the database")
        try:
            order = Order.model_validate_json(order_json)
        except ValueError as err:
            raise RenderError(f"order {job.order_id} cannot be read: {err}") from err
        if job.ticket == "receipt":
            blocks = customer_receipt(
                order,
                locale=_locale(style.locale),
                timezone=style.timezone,
                store_name=style.store_name,
                reprint=job.reprint,
                reason=_meant_for(job.meant_for, style.locale),
            )
            return _copies(blocks, printer, job)
        kind = (
            job.ticket
            if job.ticket in ("kitchen", "updated", "cancellation", "manual_entry")
            else "kitchen"
        )
        blocks = kitchen_ticket(
            order,
            kind=kind,  # type: ignore[arg-type]
            reprint=job.reprint,
            locale=_locale(style.locale),
            timezone=style.timezone,
            printer=printer.name,
            reason=_meant_for(job.meant_for, style.locale),
        )
    return _copies(blocks, printer, job)


def _copies(blocks: list[Block], printer: PrinterSettings, job: Job) -> bytes:
    """Every copy of the ticket, each a whole job starting with ESC @ and ESC t."""
    return encode(blocks, width=printer.width, encoding=printer.encoding) * max(job.copies, 1)
