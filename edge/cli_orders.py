"""`edge orders list | show ID | reprint ID`: the local order queue."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from edge import jobs
from edge.cli import (
    _config_option,
    _json_option,
    ask_daemon,
    emit,
    fail,
    load,
    open_database_readonly,
)
from edge.config import Config


@contextlib.contextmanager
def reading(config: Config, as_json: bool) -> Iterator[sqlite3.Connection]:
    """The database, read-only (works while the daemon runs); exits 1 if it cannot be read."""
    path = Path(config.database.path)
    if not path.exists():
        fail(as_json, f"no database at {path} yet (the daemon has not run)")
    try:
        with contextlib.closing(open_database_readonly(path)) as conn:
            yield conn
    except sqlite3.Error as err:
        fail(as_json, f"cannot read {path}: {err}")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def orders() -> None:
    """The local order queue."""


@orders.command("list")
@_config_option
@_json_option
@click.option("--limit", default=50, show_default=True, help="Newest orders first.")
def list_orders(config_path: str | None, as_json: bool, limit: int) -> None:
    """Recent orders with their print state."""
    config = load(config_path, as_json)
    with reading(config, as_json) as conn:
        rows = conn.execute(
            "SELECT o.id, o.revision, o.status, o.partner, o.display_id, o.brand, o.received_at,"
            " o.release_at, o.released,"
            " (SELECT COUNT(*) FROM jobs j WHERE j.order_id = o.id AND j.kind = 'print'"
            "   AND j.state = 'done') AS printed,"
            " (SELECT COUNT(*) FROM jobs j WHERE j.order_id = o.id AND j.kind = 'print'"
            "   AND j.state IN ('queued', 'running')) AS waiting"
            " FROM orders o ORDER BY o.received_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
    data = [dict(r) for r in rows]

    def human() -> None:
        table = Table(title=f"Orders ({len(rows)} newest)")
        # Ids are what `orders show` and `reprint` take: never shortened to fit the terminal.
        widest = max((len(r["id"]) for r in rows), default=2)
        table.add_column("id", no_wrap=True, min_width=widest)
        for col in ("display", "partner", "brand", "status", "rev", "tickets", "received"):
            table.add_column(col)
        for r in rows:
            tickets = f"{r['printed']} printed"
            if r["waiting"]:
                tickets += f", {r['waiting']} waiting"
            if r["release_at"] and not r["released"]:
                tickets = f"release {_when(r['release_at'])}"
            table.add_row(
                r["id"],
                r["display_id"],
                r["partner"],
                r["brand"] or "",
                r["status"],
                str(r["revision"]),
                tickets,
                _when(r["received_at"]),
            )
        Console().print(table)

    emit(as_json, data, human)


@orders.command("show")
@click.argument("order_id")
@_config_option
@_json_option
def show_order(order_id: str, config_path: str | None, as_json: bool) -> None:
    """One order: its payload, tickets and events."""
    config = load(config_path, as_json)
    with reading(config, as_json) as conn:
        row = conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            fail(as_json, f"no order {order_id}")
        order_jobs = jobs.order_jobs(conn, order_id)
        events = conn.execute(
            "SELECT seq, type, at, data FROM events WHERE order_id = ? ORDER BY seq", (order_id,)
        ).fetchall()
    data: dict[str, Any] = {
        "order": json.loads(row["payload"]),
        "status": row["status"],
        "revision": row["revision"],
        "release_at": row["release_at"],
        "released": bool(row["released"]),
        "jobs": [j.__dict__ for j in order_jobs],
        "events": [
            {"seq": e["seq"], "type": e["type"], "at": e["at"], "data": json.loads(e["data"])}
            for e in events
        ],
    }

    def human() -> None:
        console = Console()
        o = data["order"]
        console.print(
            f"[bold]{order_id}[/bold]  {o['source'].get('display_id') or ''}"
            f"  {o['source']['partner']}"
            f"  {o['type']}  status {row['status']} (revision {row['revision']})"
        )
        for item in o["items"]:
            console.print(f"  {item['quantity']}x {item['name']}")
            for m in item.get("modifiers") or []:
                console.print(f"      + {m['name']}")
        table = Table(title="Tickets")
        for col in (
            "job",
            "printer",
            "ticket",
            "state",
            "attempts",
            "reprint",
            "last error",
            "next try",
        ):
            table.add_column(col)
        for j in order_jobs:
            if j.kind != "print":
                table.add_row(
                    str(j.id), "", f"release at {_when(j.not_before)}", j.state, "", "", "", ""
                )
                continue
            nxt = (
                _when(j.next_attempt_at)
                if j.state == "queued" and j.next_attempt_at > time.time()
                else ""
            )
            table.add_row(
                str(j.id),
                j.printer or "",
                j.ticket or "",
                j.state,
                str(j.attempts),
                "yes" if j.reprint else "",
                j.last_error or "",
                nxt,
            )
        console.print(table)
        for e in data["events"]:
            console.print(
                f"  #{e['seq']} {e['at']} {e['type']} {json.dumps(e['data'], ensure_ascii=False)}"
            )

    emit(as_json, data, human)


@orders.command("reprint")
@click.argument("order_id")
@click.option("--printer", default=None, help="Only this printer (default: where it printed).")
@_config_option
@_json_option
def reprint(order_id: str, printer: str | None, config_path: str | None, as_json: bool) -> None:
    """Print the order's kitchen ticket again, marked REPRINT (needs the running daemon)."""
    config = load(config_path, as_json)
    args: dict[str, Any] = {"order_id": order_id}
    if printer:
        args["printer"] = printer
    reply = ask_daemon(config, "reprint", args, as_json=as_json)
    if not reply.get("ok"):
        fail(as_json, reply.get("error", {}).get("message", "reprint failed"), reply=reply)
    result = reply["result"]
    emit(
        as_json,
        reply,
        lambda: click.echo(f"reprint of {order_id} queued on {', '.join(result['printers'])}"),
    )
