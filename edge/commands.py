"""Cloud commands of CONTRACT §5, each carried out at most once per command id."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge import jobs, outbox, outgoing
from edge.orders.intake import printers_that_printed
from edge.orders.model import INT64_MAX
from edge.orders.routing import PrinterRoute, printers_for
from edge.till import ledger


@dataclass
class Reply:
    """A command reply document plus the printers it queued work for."""

    document: dict[str, Any]
    printers: set[str] = field(default_factory=set)

    @staticmethod
    def success(command_id: str, result: Mapping[str, Any]) -> Reply:
        """`{"id", "ok": true, "result"}`."""
        return Reply({"id": command_id, "ok": True, "result": dict(result)})

    @staticmethod
    def failure(command_id: str, code: str, message: str) -> Reply:
        """`{"id", "ok": false, "error": {"code", "message"}}`."""
        return Reply({"id": command_id, "ok": False, "error": {"code": code, "message": message}})

    def payload(self) -> bytes:
        """The reply as published."""
        return json.dumps(self.document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class CommandContext:
    """What commands may read of the running daemon (thread-safe snapshots only)."""

    store_id: str
    version: str
    routes: Sequence[PrinterRoute]
    snapshot: Callable[[], dict[str, Any]] = dict
    # commands this daemon carries out later and answers when done (`menu_sync` with a POS)
    deferred: frozenset[str] = frozenset()
    # The PINs of deferred commands, by command id, held in memory only: a PIN is never
    # written to the database. Whoever carries a command out pops its PIN.
    pins: dict[str, str] = field(default_factory=dict)


class CommandError(Exception):
    """A command that cannot be carried out; becomes an error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReplyTo:
    """Where a command's reply goes: its MQTT 5 response topic (with correlation data)."""

    topic: str
    correlation: bytes | None = None


def run_command(
    conn: sqlite3.Connection,
    ctx: CommandContext,
    command_id: str,
    name: str,
    args: Mapping[str, Any],
    reply_to: ReplyTo | None = None,
) -> Reply | None:
    """Carry out a command inside the caller's transaction, or repeat the stored reply.

    None: the command is carried out later (`ctx.deferred`) and answered when done through
    `finish_deferred`; a copy received meanwhile is not started twice.
    """
    row = conn.execute("SELECT reply FROM commands WHERE id = ?", (command_id,)).fetchone()
    if row is not None:
        return Reply(json.loads(row[0]))
    if name in ctx.deferred and reply_to is not None:
        args = dict(args)
        if "pin" in args:  # held in memory: never written down
            ctx.pins.setdefault(command_id, args.pop("pin"))
        conn.execute(
            "INSERT INTO deferred_commands (id, name, args, reply_topic, correlation, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                command_id,
                name,
                json.dumps(dict(args)),
                reply_to.topic,
                reply_to.correlation,
                time.time(),
            ),
        )
        return None
    handler = _HANDLERS.get(name)
    try:
        if handler is None:
            raise CommandError("unknown_command", f"unknown command {name!r}")
        result, printers = handler(conn, ctx, dict(args))
        reply = Reply.success(command_id, result)
        reply.printers = printers
    except CommandError as err:
        reply = Reply.failure(command_id, err.code, str(err))
    _store_reply(conn, command_id, name, reply)
    return reply


def _store_reply(conn: sqlite3.Connection, command_id: str, name: str, reply: Reply) -> None:
    conn.execute(
        "INSERT INTO commands (id, name, reply, received_at) VALUES (?, ?, ?, ?)",
        (command_id, name[:64], json.dumps(reply.document), time.time()),
    )


def deferred_waiting(conn: sqlite3.Connection, name: str) -> list[str]:
    """The ids of the commands `name` received and not yet answered, oldest first."""
    rows = conn.execute(
        "SELECT id FROM deferred_commands WHERE name = ? ORDER BY received_at, id", (name,)
    ).fetchall()
    return [r[0] for r in rows]


def without_pins(payload: bytes) -> bytes:
    """A command's payload with any PIN in its args replaced (for what is kept of it)."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to be a command
        return payload
    args = doc.get("args") if isinstance(doc, dict) else None
    if not isinstance(args, dict) or "pin" not in args:
        return payload
    doc["args"] = {**args, "pin": "[removed]"}
    return json.dumps(doc, ensure_ascii=False).encode()


def deferred_commands(
    conn: sqlite3.Connection, names: Iterable[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """The commands of these names received and not yet answered: (id, name, args), oldest
    first."""
    wanted = sorted(names)
    marks = ", ".join("?" * len(wanted))
    rows = conn.execute(
        f"SELECT id, name, args FROM deferred_commands WHERE name IN ({marks})"
        " ORDER BY received_at, id",
        wanted,
    ).fetchall()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def finish_deferred(conn: sqlite3.Connection, command_id: str, reply: Reply) -> None:
    """Answer a deferred command: its reply is stored (for copies) and queued for the broker."""
    row = conn.execute(
        "SELECT name, reply_topic, correlation FROM deferred_commands WHERE id = ?", (command_id,)
    ).fetchone()
    if row is None:
        return
    name, topic, correlation = row
    conn.execute("DELETE FROM deferred_commands WHERE id = ?", (command_id,))
    _store_reply(conn, command_id, name, reply)
    outgoing.queue(
        conn,
        f"reply/{command_id}",
        topic,
        reply.payload(),
        correlation=bytes(correlation) if correlation is not None else None,
    )


def _menu_sync(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    # Reached only when this daemon has no POS (with one, `menu_sync` is deferred).
    raise CommandError("no_pos", 'no POS is configured ([pos] kind = "none"): no menu to read')


_Result = tuple[dict[str, Any], set[str]]


def _str_arg(args: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = args.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise CommandError("invalid_args", f"argument {key!r} must be a non-empty string")
    return value


def _ping(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    return {"pong": True, "version": ctx.version}, set()


def _status(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    snapshot = ctx.snapshot()
    return {
        "store_id": ctx.store_id,
        "version": ctx.version,
        "last_seq": outbox.last_seq(conn),
        "queues": jobs.queue_counts(conn),
        **snapshot,
    }, set()


def _printer_names(ctx: CommandContext) -> set[str]:
    return {r.name for r in ctx.routes}


def _reprint(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    order_id = _str_arg(args, "order_id", required=True)
    printer = _str_arg(args, "printer", required=False)
    row = conn.execute(
        "SELECT revision, brand, status FROM orders WHERE id = ?", (order_id,)
    ).fetchone()
    if row is None:
        raise CommandError("not_found", f"no order {order_id}")
    if printer is not None:
        if printer not in _printer_names(ctx):
            raise CommandError("not_found", f"no printer {printer}")
        targets = [printer]
    else:
        assert order_id is not None
        printed = printers_that_printed(conn, order_id)
        targets = sorted(printed) or [
            r.name for r in printers_for(ctx.routes, "kitchen", row["brand"])
        ]
    if not targets:
        raise CommandError("unroutable", "no printer prints this order's kitchen ticket")
    # A cancelled order's last word on paper is its cancellation: that is what prints again.
    ticket = "cancellation" if row["status"] == "cancelled" else "kitchen"
    job_ids = [
        jobs.add_print_job(
            conn,
            printer=p,
            ticket=ticket,
            order_id=order_id,
            revision=row["revision"],
            reprint=True,
        )
        for p in targets
    ]
    result = {"order_id": order_id, "printers": targets, "jobs": job_ids, "ticket": ticket}
    return result, set(targets)


def _print_test(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    printer = _str_arg(args, "printer", required=True)
    assert printer is not None
    if printer not in _printer_names(ctx):
        raise CommandError("not_found", f"no printer {printer}")
    job = jobs.add_print_job(conn, printer=printer, ticket="test", order_id=None, revision=None)
    return {"printer": printer, "job": job}, {printer}


def _replay(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    from_seq = args.get("from_seq")
    if (
        not isinstance(from_seq, int)
        or isinstance(from_seq, bool)
        or not 0 <= from_seq <= INT64_MAX
    ):
        raise CommandError(
            "invalid_args", f"argument 'from_seq' must be an integer from 0 to {INT64_MAX}"
        )
    (oldest,) = conn.execute("SELECT MIN(seq) FROM events").fetchone()
    count = outbox.mark_unpublished_from(conn, from_seq)
    return {"from_seq": from_seq, "oldest_seq": oldest, "count": count}, set()


def _payment_status(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    payment_id = _str_arg(args, "payment_id", required=False)
    order_id = _str_arg(args, "order_id", required=False)
    if payment_id is not None:
        payment = ledger.get(conn, payment_id)
        if payment is None:
            raise CommandError("not_found", f"no payment {payment_id}")
        return _without_card(payment.as_dict()), set()
    if order_id is not None:
        # The latest payment's fields at the top (its outcome), then all of them.
        payments = [_without_card(p.as_dict()) for p in ledger.of_order(conn, order_id)]
        latest = payments[-1] if payments else {}
        return {**latest, "order_id": order_id, "payments": payments}, set()
    raise CommandError("invalid_args", "give 'payment_id' or 'order_id'")


def _without_card(doc: dict[str, Any]) -> dict[str, Any]:
    """A reply leaves the box: even the masked card number stays on it."""
    return {k: v for k, v in doc.items() if k != "masked_pan"}


def _payments_unresolved(
    conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]
) -> _Result:
    return {"payments": [_without_card(p.as_dict()) for p in ledger.unresolved(conn)]}, set()


def _till_only(conn: sqlite3.Connection, ctx: CommandContext, args: dict[str, Any]) -> _Result:
    # Reached only without a reply topic: a till command is carried out by the till (deferred).
    raise CommandError("invalid_args", "this command needs a reply topic")


_HANDLERS: dict[str, Callable[[sqlite3.Connection, CommandContext, dict[str, Any]], _Result]] = {
    "ping": _ping,
    "status": _status,
    "reprint": _reprint,
    "print_test": _print_test,
    "replay": _replay,
    "menu_sync": _menu_sync,
    "payment_status": _payment_status,
    "payments_unresolved": _payments_unresolved,
    **dict.fromkeys(("pay", "refund", "payment_resolve", "drawer_open"), _till_only),
}
