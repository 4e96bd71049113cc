"""`edge printers list | status NAME | test NAME | discover`: printer diagnostics."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.table import Table

from drivers.errors import DriverError
from drivers.realtime import NoStatusAnswer, StatusByteError, query_status
from drivers.transports import open_transport
from drivers.transports.ble import release_kept_connections
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


# A Star CloudPRNT printer is not reached by the box: it polls the daemon's server.
CLOUDPRNT_NEEDS_DAEMON = (
    "a CloudPRNT printer fetches its tickets from the daemon's server: start the daemon "
    "(systemctl start store-edge) to print on it or see its status"
)


async def probe(printer: PrinterConfig) -> dict[str, Any]:
    """Connect to a printer directly and read its status (daemon stopped, or `doctor`)."""
    out: dict[str, Any] = {"name": printer.name, "uri": printer.uri, "source": "direct"}
    if printer.scheme == "cloudprnt":
        out.update(online=None, error=CLOUDPRNT_NEEDS_DAEMON)
        return out
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
    finally:
        await release_kept_connections()  # a one-shot look: the printer is let go
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
    if p.scheme == "cloudprnt":
        fail(as_json, f"{name}: {CLOUDPRNT_NEEDS_DAEMON}")
    settings = PrinterSettings(name=p.name, uri=p.uri, width=p.width, encoding=p.encoding)
    style = TicketStyle(config.store.locale, config.store.timezone, config.store.name)
    job = Job(0, "print", None, None, name, "test", 1, False, JobState.QUEUED, 0, 0.0, 0.0, None)
    data = render_job(job, None, settings, style)

    async def send() -> str | None:
        """Print unless the printer reports a fault (CONTRACT §7); the fault, or None."""
        try:
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
        finally:
            await release_kept_connections()  # a one-shot print: the printer is let go
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


_SOURCES = ("mdns", "sweep", "usb", "serial", "ble", "cloudprnt")


@printers.command("discover")
@_config_option
@_json_option
@click.option(
    "--seconds",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0, max=600),
    help="How long to listen for mDNS announcements.",
)
@click.option(
    "--interface", "interfaces", multiple=True, help="mDNS: only these addresses (default: all)."
)
@click.option(
    "--sweep",
    "network",
    metavar="CIDR",
    default=None,
    help="Also knock on the printer port of every address of this subnet (at most a /22), "
    "e.g. 192.168.1.0/24, and ask each answer its ESC/POS status.",
)
@click.option(
    "--port",
    default=9100,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="The port the sweep knocks on.",
)
@click.option(
    "--rate",
    default=50.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=1000),
    help="Sweep: new connections per second, at most.",
)
@click.option(
    "--in-flight",
    default=32,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Sweep: connections open at once, at most.",
)
@click.option(
    "--connect-timeout",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.05, max=30),
    help="Sweep: seconds an address has to accept the connection.",
)
@click.option(
    "--ble-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, max=600),
    help="How long to scan for Bluetooth LE printers.",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(_SOURCES),
    help="Look only here (repeatable; default: everywhere; --sweep adds the sweep).",
)
def discover(
    config_path: str | None,
    as_json: bool,
    seconds: float,
    interfaces: tuple[str, ...],
    network: str | None,
    port: int,
    rate: float,
    in_flight: int,
    connect_timeout: float,
    ble_seconds: float,
    only: tuple[str, ...],
) -> None:
    """Find printers: mDNS, a port sweep (--sweep), USB, serial ports, Bluetooth LE, and
    CloudPRNT printers that polled the running daemon.

    Prints each as a [[printers]] block ready to paste into edge.toml; those the config
    (given, or found where `edge` looks) already has are marked and commented out.
    """
    from edge.discover import Plan, Source, SourceState, candidates, discover, toml_report
    from edge.discover.display import ProgressDisplay
    from edge.discover.plan import source_runs
    from edge.discover.sweep import SweepError, SweepSettings, sweep_hosts

    sources = {Source(s) for s in only} or set(Source)
    hosts: list[str] = []
    if network is not None:
        try:
            hosts = sweep_hosts(network)
        except SweepError as err:
            raise click.BadParameter(str(err), param_hint="--sweep") from err
        sources.add(Source.SWEEP)
    elif Source.SWEEP in sources and only:
        raise click.BadParameter("the sweep needs a subnet: --sweep CIDR", param_hint="--only")
    plan = Plan(
        sources=frozenset(sources),
        mdns_seconds=seconds,
        mdns_interfaces=list(interfaces) or None,
        sweep_hosts=hosts,
        sweep=SweepSettings(
            port=port, rate=rate, in_flight=in_flight, connect_timeout_s=connect_timeout
        ),
        ble_seconds=ble_seconds,
    )
    configured: list[tuple[str, str]] = []
    if config_path is not None or find_config_path().exists():
        # A new box has no config yet: discovering its printers must not need one.
        config = load(config_path, as_json)
        configured = [(p.name, p.uri) for p in config.printers]
        plan.control_socket = config.control_socket_path
        reader = config.card_reader.uri if config.card_reader is not None else ""
        if reader.startswith("serial://"):  # never offer the card reader's port as a printer
            plan.serial_excluded = (urlsplit(reader).path,)
    runs = source_runs(plan)
    console = Console(stderr=True)
    if as_json or not console.is_terminal:
        result = asyncio.run(discover(runs))
    else:
        with ProgressDisplay(console, runs) as display:
            result = asyncio.run(discover(runs, display))
    notes = [
        f"{p.source.display} {p.state}: {p.note}"
        for p in result.sources.values()
        if p.state in (SourceState.SKIPPED, SourceState.FAILED)
    ]
    if result.all_failed:
        fail(as_json, "; ".join(notes))
    found = candidates(result.found, configured)
    if as_json:
        for note in notes:
            click.echo(note, err=True)
        emit(as_json, [c.document() for c in found], lambda: None)
    else:
        click.echo(toml_report(found, notes))
