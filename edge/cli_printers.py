"""`edge printers list | status NAME | test NAME | discover`: printer diagnostics."""

from __future__ import annotations

import asyncio
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from drivers.errors import DriverError
from drivers.realtime import NoStatusAnswer, StatusByteError, query_status
from drivers.transports import open_transport
from edge.cli import _config_option, _json_option, ask_daemon_if_running, emit, fail, load
from edge.config import Config, PrinterConfig, find_config_path
from edge.jobs import Job, JobState
from edge.printing.render import PrinterSettings, TicketStyle, render_job


def _printer(config: Config, name: str, as_json: bool) -> PrinterConfig:
    for p in config.printers:
        if p.name == name:
            return p
    known = ", ".join(p.name for p in config.printers) or "none configured"
    fail(as_json, f"no printer named {name!r} (printers: {known})")


def _daemon_status(config: Config, as_json: bool) -> dict[str, Any] | None:
    reply = ask_daemon_if_running(config, "status", as_json=as_json, timeout=5.0)
    if reply is None or not reply.get("ok"):
        return None
    result: dict[str, Any] = reply.get("result") or {}
    return result


async def probe(printer: PrinterConfig) -> dict[str, Any]:
    """Connect to a printer directly and read its status (daemon stopped, or `doctor`)."""
    out: dict[str, Any] = {"name": printer.name, "uri": printer.uri, "source": "direct"}
    try:
        async with open_transport(
            printer.uri,
            connect_timeout=printer.connect_timeout_s,
            write_timeout=printer.write_timeout_s,
        ) as transport:
            out["online"] = True
            if not transport.bidirectional:
                out["status"] = "this transport cannot report status"
                return out
            try:
                status = await query_status(transport, 1.5)
            except NoStatusAnswer:
                out["status"] = "connected; the printer does not answer status requests"
                return out
            except StatusByteError as err:
                out["status"] = f"connected; garbled status answer ({err})"
                return out
            out.update(
                online=status.online,
                paper=status.paper,
                cover_open=status.cover_open,
                error=status.fault,
            )
    except DriverError as err:
        out.update(online=False, error=str(err))
    return out


@click.group()
def printers() -> None:
    """Printer diagnostics."""


@printers.command("list")
@_config_option
@_json_option
def list_printers(config_path: str | None, as_json: bool) -> None:
    """Configured printers, with live state when the daemon runs."""
    config = load(config_path, as_json)
    live = _daemon_status(config, as_json)
    states = {p["name"]: p for p in (live or {}).get("printers", [])}
    data: list[dict[str, Any]] = [
        {
            "name": p.name,
            "uri": p.uri,
            "width": p.width,
            "encoding": p.encoding,
            "roles": p.roles,
            "brands": p.brands,
            "copies": p.copies,
            "backup": p.backup or None,
            "state": states.get(p.name),
        }
        for p in config.printers
    ]

    def human() -> None:
        table = Table(title="Printers" + ("" if live else " (daemon not running: no live state)"))
        for col in ("name", "uri", "width", "roles", "brands", "online", "paper", "last error"):
            table.add_column(col)
        for d in data:
            s = d["state"] or {}
            online = s.get("online")
            table.add_row(
                d["name"],
                d["uri"],
                str(d["width"]),
                ",".join(d["roles"]),
                ",".join(d["brands"]) or "all",
                "" if online is None else ("yes" if online else "NO"),
                s.get("paper") or "",
                s.get("last_error") or "",
            )
        Console().print(table)

    emit(as_json, data, human)


@printers.command("status")
@click.argument("name")
@_config_option
@_json_option
def printer_status(name: str, config_path: str | None, as_json: bool) -> None:
    """One printer's status: from the daemon, else by asking the printer itself."""
    config = load(config_path, as_json)
    printer = _printer(config, name, as_json)
    live = _daemon_status(config, as_json)
    state: dict[str, Any] | None = None
    if live is not None:
        state = next((p for p in live.get("printers", []) if p["name"] == name), None)
        # online None: the daemon has not talked to the printer since it started; ask it.
        if state is not None and state.get("online") is not None:
            state = {**state, "source": "daemon"}
        else:
            state = None
    if state is None:
        state = asyncio.run(probe(printer))

    def human() -> None:
        for key, value in state.items():
            click.echo(f"{key:>14}: {value}")

    emit(as_json, state, human)
    if state.get("online") is False:
        raise SystemExit(1)


@printers.command("test")
@click.argument("name")
@_config_option
@_json_option
def printer_test(name: str, config_path: str | None, as_json: bool) -> None:
    """Print a test page (through the daemon's queue, or directly when it is stopped)."""
    config = load(config_path, as_json)
    p = _printer(config, name, as_json)
    reply = ask_daemon_if_running(config, "print_test", {"printer": name}, as_json=as_json)
    if reply is not None:
        if not reply.get("ok"):
            fail(as_json, reply.get("error", {}).get("message", "print_test failed"), reply=reply)
        emit(as_json, reply, lambda: click.echo(f"test page queued on {name} (daemon)"))
        return
    settings = PrinterSettings(name=p.name, uri=p.uri, width=p.width, encoding=p.encoding)
    style = TicketStyle(config.store.locale, config.store.timezone, config.store.name)
    job = Job(0, "print", None, None, name, "test", 1, False, JobState.QUEUED, 0, 0.0, 0.0, None)
    data = render_job(job, None, settings, style)

    async def send() -> str | None:
        """Print unless the printer reports a fault (CONTRACT §7); the fault, or None."""
        async with open_transport(
            p.uri, connect_timeout=p.connect_timeout_s, write_timeout=p.write_timeout_s
        ) as transport:
            if transport.bidirectional:
                try:
                    status = await query_status(transport, p.status_timeout_s)
                except (NoStatusAnswer, StatusByteError):
                    pass  # a model that cannot tell: print blind, as the daemon does
                else:
                    if status.fault is not None:
                        return status.fault
            await transport.write(data)
        return None

    try:
        fault = asyncio.run(send())
    except DriverError as err:
        fail(as_json, f"{name}: {err}")
    if fault is not None:
        fail(as_json, f"{name}: {fault.replace('_', ' ')}; nothing printed", fault=fault)
    emit(
        as_json,
        {"ok": True, "printer": name, "bytes": len(data)},
        lambda: click.echo(f"test page sent to {name} ({len(data)} bytes)"),
    )


@printers.command("discover")
@_config_option
@_json_option
@click.option("--seconds", default=3.0, show_default=True, help="How long to listen.")
@click.option(
    "--interface", "interfaces", multiple=True, help="Only these addresses (default: all)."
)
def discover(
    config_path: str | None, as_json: bool, seconds: float, interfaces: tuple[str, ...]
) -> None:
    """Find network printers advertising themselves with mDNS (zeroconf).

    With a config (given, or found where `edge` looks), marks the printers already in it.
    """
    from edge.discovery import discover_printers

    known: dict[str, str] = {}
    if config_path is not None or find_config_path().exists():
        # A new box has no config yet: discovering its printers must not need one.
        known = {p.uri: p.name for p in load(config_path, as_json).printers}
    try:
        found = asyncio.run(discover_printers(seconds, list(interfaces) or None))
    except OSError as err:
        fail(as_json, f"cannot listen for mDNS announcements: {err}")
    for f in found:
        f["configured"] = known.get(f["uri"])

    def human() -> None:
        if not found:
            click.echo("no printer answered (printers without mDNS must be configured by address)")
            return
        table = Table(title="Printers on the network")
        for col in ("name", "uri", "service", "model", "configured as"):
            table.add_column(col)
        for f in found:
            table.add_row(
                f["name"], f["uri"], f["service"], f.get("model") or "", f["configured"] or ""
            )
        Console().print(table)

    emit(as_json, found, human)
