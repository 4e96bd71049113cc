"""Apply a received order revision to the durable state (CONTRACT §3), inside one transaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge import jobs
from edge.ids import utc_now_rfc3339
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute, printers_for
from edge.outbox import add_event

# Tickets after which the kitchen has the order on paper.
_ORDER_TICKETS = ("kitchen", "updated")


@dataclass
class Intake:
    """What applying an order changed, so the caller can wake the right workers."""

    duplicate: bool = False
    printers: set[str] = field(default_factory=set)
    scheduler: bool = False
    pos: bool = False


@dataclass(frozen=True)
class Lifecycle:
    """The settings the lifecycle needs."""

    routes: Sequence[PrinterRoute]
    release_lead_s: float = 1800.0
    #: a POS is configured: released orders are injected, cancelled ones voided there
    pos: bool = False


def _release_at(order: Order, lead_s: float) -> float | None:
    if order.scheduled_for is None:
        return None
    return order.scheduled_for.timestamp() - lead_s


def apply_order(
    conn: sqlite3.Connection, order: Order, payload: str, life: Lifecycle, now: float | None = None
) -> Intake:
    """Store the order (or recognise a duplicate), queue its tickets and write its events."""
    now = time.time() if now is None else now
    prev = conn.execute(
        "SELECT revision, status, released FROM orders WHERE id = ?", (order.id,)
    ).fetchone()
    if prev is not None and order.revision <= prev["revision"]:
        add_event(
            conn,
            "order.received",
            order.id,
            {"revision": order.revision, "duplicate": True, "current_revision": prev["revision"]},
        )
        return Intake(duplicate=True)

    release_at = _release_at(order, life.release_lead_s)
    conn.execute(
        "INSERT INTO orders (id, revision, status, payload, partner, display_id, brand,"
        " scheduled_for, release_at, released, received_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, status = excluded.status,"
        " payload = excluded.payload, partner = excluded.partner, display_id = excluded.display_id,"
        " brand = excluded.brand, scheduled_for = excluded.scheduled_for,"
        " release_at = excluded.release_at, released = orders.released,"
        " updated_at = excluded.updated_at",
        (
            order.id,
            order.revision,
            order.status,
            payload,
            order.source.partner,
            order.display_id,
            order.brand,
            order.scheduled_for.isoformat() if order.scheduled_for else None,
            release_at,
            now,
            now,
        ),
    )
    add_event(conn, "order.received", order.id, {"revision": order.revision, "duplicate": False})

    intake = Intake()
    released = bool(prev["released"]) if prev is not None else False
    prev_status = prev["status"] if prev is not None else None
    if order.status == "cancelled":
        # A further revision of an already cancelled order changes nothing on paper.
        if prev_status != "cancelled":
            _cancel(conn, order, life, intake)
    elif order.status == "accepted" and released and prev_status != "cancelled":
        # Released before (even if it went back to pending since): the kitchen may have it on
        # paper, so a change is an UPDATED ticket, never a second unmarked kitchen ticket.
        _update(conn, order, life, intake)
        if life.pos:  # and the POS gets the new revision: updated, or voided and replaced
            jobs.add_pos_job(conn, "inject", order.id, order.revision)
            intake.pos = True
    elif order.status == "accepted" and released and printers_that_printed(conn, order.id):
        # Reinstated after a cancellation the kitchen saw: UPDATED where it had printed, and a
        # new POS order (the first one was voided).
        _update(conn, order, life, intake)
        if life.pos:
            jobs.add_pos_job(conn, "inject", order.id, order.revision)
            intake.pos = True
    elif order.status == "accepted":
        _accept(conn, order, life, release_at, now, intake)
    elif order.status == "pending" and not released:
        # Back to pending before release (rare): hold any scheduled release.
        _cancel_queued(conn, order.id, kinds=("release",))
    return intake


def _accept(
    conn: sqlite3.Connection,
    order: Order,
    life: Lifecycle,
    release_at: float | None,
    now: float,
    intake: Intake,
) -> None:
    _cancel_queued(conn, order.id, kinds=("release",))
    if release_at is not None and release_at > now:
        jobs.add_release_job(conn, order.id, order.revision, release_at)
        add_event(conn, "order.scheduled", order.id, {"release_at": utc_now_rfc3339(release_at)})
        intake.scheduler = True
        return
    release(conn, order, life, intake, announce=False)


def release(
    conn: sqlite3.Connection, order: Order, life: Lifecycle, intake: Intake, *, announce: bool
) -> None:
    """Mark the order released and queue its kitchen tickets and receipts.

    An order no printer serves is reported (`order.unroutable`), never dropped silently; a
    store with no receipt printer at all simply prints no receipts.
    """
    conn.execute(
        "UPDATE orders SET released = 1, updated_at = ? WHERE id = ?", (time.time(), order.id)
    )
    if announce:
        add_event(conn, "order.released", order.id, {"revision": order.revision})
    if life.pos:  # printing never waits for the POS: a separate job, a separate worker
        jobs.add_pos_job(conn, "inject", order.id, order.revision)
        intake.pos = True
    for role, required in (("kitchen", True), ("receipt", False)):
        routes = printers_for(life.routes, role, order.brand)
        if not routes:
            if required or any(role in r.roles for r in life.routes):
                _unroutable(conn, order, role)
            continue
        for route in routes:
            _queue_ticket(conn, order, intake, route.name, role, route.copies)


def _queue_ticket(
    conn: sqlite3.Connection, order: Order, intake: Intake, printer: str, ticket: str, copies: int
) -> None:
    """Queue one ticket of the order for a printer (whose worker the caller then wakes)."""
    jobs.add_print_job(
        conn,
        printer=printer,
        ticket=ticket,
        order_id=order.id,
        revision=order.revision,
        copies=copies,
    )
    intake.printers.add(printer)


def _unroutable(conn: sqlite3.Connection, order: Order, role: str) -> None:
    kind = "kitchen tickets" if role == "kitchen" else "receipts"
    reason = (
        f"no printer prints {kind} for brand {order.brand!r}"
        if order.brand
        else f"no printer prints {kind}"
    )
    add_event(conn, "order.unroutable", order.id, {"reason": reason, "ticket": role})


def _update(conn: sqlite3.Connection, order: Order, life: Lifecycle, intake: Intake) -> None:
    """An UPDATED ticket wherever the order's ticket is (or may be) on paper, and on a printer
    that serves the order now and never had it (its brand changed); never nowhere."""
    configured = {route.name: route for route in life.routes}
    printed = printers_that_printed(conn, order.id)
    had = {
        name
        for row in conn.execute(
            "SELECT printer, meant_for FROM jobs WHERE order_id = ? AND kind = 'print'",
            (order.id,),
        )
        for name in row
        if name
    }
    # Tickets still waiting will print the new revision: they render the order at print time.
    waiting = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT printer FROM jobs WHERE order_id = ? AND kind = 'print'"
            " AND ticket IN ('kitchen', 'updated') AND state = 'queued' AND reprint = 0",
            (order.id,),
        )
    }
    serving = [r.name for r in printers_for(life.routes, "kitchen", order.brand)]
    new = [name for name in serving if name not in had]
    targets = [name for name in configured if name in printed or name in new]
    if not targets and not waiting & configured.keys():
        _unroutable(conn, order, "kitchen")  # no configured printer would show the change
        return
    for name in targets:
        if name not in waiting:
            _queue_ticket(conn, order, intake, name, "updated", configured[name].copies)


def _cancel(conn: sqlite3.Connection, order: Order, life: Lifecycle, intake: Intake) -> None:
    printed = printers_that_printed(conn, order.id)
    in_pos = _maybe_in_pos(conn, order.id)
    _cancel_queued(conn, order.id, kinds=("print", "release", "inject"))
    copies = {route.name: route.copies for route in life.routes}
    for printer in sorted(printed):
        _queue_ticket(conn, order, intake, printer, "cancellation", copies.get(printer, 1))
    if in_pos:
        # The POS worker voids it, then reports order.cancelled with voided_in_pos.
        jobs.add_pos_job(conn, "void", order.id, order.revision)
        intake.pos = True
        return
    add_event(
        conn,
        "order.cancelled",
        order.id,
        {"revision": order.revision, "voided_in_pos": False, "printed_at": sorted(printed)},
    )


def _maybe_in_pos(conn: sqlite3.Connection, order_id: str) -> bool:
    """Whether the order is, or may be, in the POS (injected, or an attempt was made)."""
    row = conn.execute("SELECT pos_order_id FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is not None and row[0]:
        return True
    return (
        conn.execute(
            "SELECT 1 FROM jobs WHERE order_id = ? AND kind = 'inject'"
            " AND (state IN ('running', 'done') OR attempts > 0) LIMIT 1",
            (order_id,),
        ).fetchone()
        is not None
    )


def printers_that_printed(conn: sqlite3.Connection, order_id: str) -> set[str]:
    """Printers where the order's ticket printed, or may have (running, or marked REPRINT)."""
    rows = conn.execute(
        "SELECT DISTINCT printer FROM jobs WHERE order_id = ? AND kind = 'print'"
        f" AND ticket IN ({','.join('?' * len(_ORDER_TICKETS))})"
        " AND (state IN ('done', 'running') OR reprint = 1)",
        (order_id, *_ORDER_TICKETS),
    ).fetchall()
    return {r[0] for r in rows}


def _cancel_queued(conn: sqlite3.Connection, order_id: str, kinds: tuple[str, ...]) -> None:
    # A queued ticket marked REPRINT may already be on paper: it stays counted as printed
    # (printers_that_printed) but is not printed again.
    conn.execute(
        f"UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE order_id = ?"
        f" AND state = 'queued' AND kind IN ({','.join('?' * len(kinds))})",
        (time.time(), order_id, *kinds),
    )
