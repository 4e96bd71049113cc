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


def _preview(
    config: Config, payload: str, brand: str | None, ticket: str, printer: str | None, png: Path
) -> dict[str, Any]:
    """Render the ticket exactly as its bytes would print, through the emulator's renderer."""
    from drivers.emulator import decode_job, render_png
    from edge.jobs import Job, JobState
    from edge.orders.routing import PrinterRoute, printers_for
    from edge.printing.render import PrinterSettings, TicketStyle, render_job

    chosen = next((p for p in config.printers if p.name == printer), None)
    if printer is not None and chosen is None:
        fail(False, f"no printer named {printer!r}")
    if chosen is None:
        routes = [PrinterRoute(p.name, tuple(p.roles), tuple(p.brands)) for p in config.printers]
        role = "receipt" if ticket == "receipt" else "kitchen"
        served = printers_for(routes, role, brand)
        chosen = next((p for p in config.printers if served and p.name == served[0].name), None)
    settings = (
        PrinterSettings(
            name=chosen.name, uri=chosen.uri, width=chosen.width, encoding=chosen.encoding
        )
        if chosen is not None
        else PrinterSettings(name="preview", uri="file:///dev/null")
    )
    style = TicketStyle(config.store.locale, config.store.timezone, config.store.name)
    job = Job(
        0, "print", None, None, settings.name, ticket, 1, False, JobState.QUEUED, 0, 0.0, 0.0, None
    )
    data = render_job(job, payload, settings, style)
    decoded = decode_job(data)
    render_png(decoded, png, width_chars=settings.width)
    return {
        "png": str(png),
        "printer": settings.name,
        "width": settings.width,
        "bytes": len(data),
        "text": decoded.text,
    }


@orders.command("show")
@click.argument("order_id")
@_config_option
@_json_option
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also render the ticket to this PNG, exactly as its bytes would print.",
)
@click.option(
    "--ticket",
    type=click.Choice(["kitchen", "receipt", "updated", "cancellation", "manual_entry"]),
    default="kitchen",
    show_default=True,
    help="Which ticket --png renders.",
)
@click.option("--printer", default=None, help="Render for this printer's width and code page.")
def show_order(
    order_id: str,
    config_path: str | None,
    as_json: bool,
    png: Path | None,
    ticket: str,
    printer: str | None,
) -> None:
    """One order: its payload, tickets and events (and a preview of a ticket with --png)."""
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
    if png is not None:
        data["preview"] = _preview(config, row["payload"], row["brand"], ticket, printer, png)

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
        if "preview" in data:
            p = data["preview"]
            console.print(
                f"{ticket} ticket for printer {p['printer']} ({p['width']} columns): {p['png']}"
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
