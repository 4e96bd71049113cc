"""`edge payments unresolved | show | resolve` and `edge drawer open`.

With the daemon running they go through it (it owns the printers and the terminal); stopped,
they work on the database and the printer directly, with the same PIN checks, audit entries
and events (published when the daemon starts). The PIN is read from standard input: hidden
on a terminal, one line from a pipe. It is never printed nor logged.
"""

from __future__ import annotations

import asyncio
import getpass
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from edge.cli import _config_option, _json_option, emit, fail, load
from edge.config import Config, PrinterConfig

T = TypeVar("T")

# A PIN check is slow on purpose, and a kick waits for the ticket being printed.
_DAEMON_TIMEOUT_S = 60.0


def _ask_pin(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"{prompt}: ")
    return sys.stdin.readline().rstrip("\r\n")


def _local(config: Config, as_json: bool, call: Callable[[Any], Awaitable[T]]) -> T:
    """Run `call(Till)` on the database with the daemon stopped; a refusal exits 1."""
    from edge.db import Database
    from edge.errors import DatabaseError
    from edge.till.errors import TillError
    from edge.till.service import Till

    async def run() -> T:
        async with Database(config.database.path) as db:
            drawers = {p.name: _DirectDrawer(p) for p in config.printers if p.cash_drawer}
            # No terminal: the command line never takes a payment.
            return await call(Till(db, config, drawers, lambda: None, terminal=_NoTerminal()))

    try:
        return asyncio.run(run())
    except TillError as err:
        fail(as_json, str(err), code=err.code.value)
    except DatabaseError as err:
        fail(as_json, str(err))


def _through_daemon_or_here(
    config: Config, as_json: bool, command: str, args: dict[str, Any]
) -> dict[str, Any]:
    """Through the running daemon; here only when no daemon listens at all. A daemon that
    took the request and did not answer may have done it: doing it again here could open the
    drawer twice (or count a wrong PIN twice)."""
    from edge.control import ControlAccessError, call, listening
    from edge.errors import DaemonNotRunningError

    path = config.control_socket_path
    try:
        reply = asyncio.run(call(path, command, args, timeout=_DAEMON_TIMEOUT_S))
    except ControlAccessError as err:
        fail(as_json, str(err))
    except DaemonNotRunningError as err:
        if asyncio.run(listening(path)):
            fail(
                as_json,
                f"{err}; it may have been done: look at `edge audit` (and `edge payments "
                "show`) before trying again",
            )
        return _local(config, as_json, lambda till: till.carry_out(command, args))
    if not reply.get("ok"):
        error = reply.get("error") or {}
        fail(as_json, str(error.get("message")), code=error.get("code"))
    result: dict[str, Any] = reply["result"]
    return result


class _NoTerminal:
    async def pay(self, *args: Any, **kw: Any) -> Any:  # never called: resolve and drawer only
        raise AssertionError("the command line takes no payment")


class _DirectDrawer:
    """The drawer's printer opened by this process (the daemon is stopped)."""

    def __init__(self, printer: PrinterConfig) -> None:
        self.printer = printer

    async def kick_drawer(self, deadline_s: float) -> bool:
        from drivers.errors import DriverError
        from drivers.escpos.drawer import kick_command
        from drivers.transports import transport_for
        from edge.printing.drawer import DrawerUnavailableError

        transport = transport_for(
            self.printer.uri,
            connect_timeout=self.printer.connect_timeout_s,
            write_timeout=self.printer.write_timeout_s,
        )
        try:
            async with asyncio.timeout(deadline_s):
                await transport.open()
                try:
                    await transport.write(kick_command(self.printer.drawer_pin))
                    await transport.wait_taken()
                finally:
                    await transport.close()
        except (DriverError, TimeoutError) as err:
            raise DrawerUnavailableError(str(err) or "the printer did not answer") from err
        return False


# ---- payments ---------------------------------------------------------------------------


@click.group()
def payments() -> None:
    """Payments taken at this till, and those whose outcome is unknown."""


def _when(stamp: str | None) -> str:
    if not stamp:
        return ""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone().strftime("%m-%d %H:%M")


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency}"


def _read_payments(config: Config, as_json: bool, which: str, key: str = "") -> list[Any]:
    from edge.cli import open_database_readonly
    from edge.till import ledger

    path = config.database.path
    if not path.exists():
        fail(as_json, f"no database at {path}: the daemon has not run yet")
    conn = open_database_readonly(path)
    try:
        if which == "unresolved":
            return ledger.unresolved(conn)
        if which == "order":
            return ledger.of_order(conn, key)
        found = ledger.get(conn, key)
        return [found] if found is not None else []
    finally:
        conn.close()


def _table(rows: list[Any], title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("payment", "started", "order", "amount", "method", "staff", "state", "why"):
        table.add_column(column)
    for p in rows:
        table.add_row(
            p.id,
            _when(p.as_dict()["started_at"]),
            p.order_id or "",
            _money(p.amount, p.currency),
            f"{p.method.value} {p.kind.value}" if p.kind.value == "refund" else p.method.value,
            p.staff,
            p.state.value,
            p.detail or "",
        )
    Console().print(table)


@payments.command("unresolved")
@_config_option
@_json_option
def unresolved(config_path: str | None, as_json: bool) -> None:
    """Payments whose outcome is unknown: check each on the terminal, then resolve it."""
    config = load(config_path, as_json)
    rows = _read_payments(config, as_json, "unresolved")

    def human() -> None:
        if not rows:
            click.echo("no payment waits to be resolved")
            return
        _table(rows, f"{len(rows)} payment(s) whose outcome is unknown")
        click.echo(
            "The customer may have been charged: do not charge again. Look for the payment "
            "on the terminal's receipt or last-transaction screen, then:\n"
            "  edge payments resolve ID --as approved   (it went through)\n"
            "  edge payments resolve ID --as declined   (it did not)"
        )

    emit(as_json, {"payments": [p.as_dict() for p in rows]}, human)


@payments.command("show")
@click.argument("key", metavar="PAYMENT_OR_ORDER_ID")
@_config_option
@_json_option
def show(key: str, config_path: str | None, as_json: bool) -> None:
    """A payment by its id, or every payment of an order."""
    config = load(config_path, as_json)
    rows = _read_payments(config, as_json, "payment", key) or _read_payments(
        config, as_json, "order", key
    )
    if not rows:
        fail(as_json, f"no payment {key}, and no payment for an order {key}", code="not_found")
    emit(as_json, {"payments": [p.as_dict() for p in rows]}, lambda: _table(rows, key))


@payments.command("resolve")
@click.argument("payment_id")
@click.option(
    "--as",
    "outcome",
    type=click.Choice(["approved", "declined"]),
    required=True,
    help="What the terminal's own record says.",
)
@_config_option
@_json_option
def resolve(payment_id: str, outcome: str, config_path: str | None, as_json: bool) -> None:
    """Record how an unknown payment ended (a supervisor's PIN on standard input)."""
    config = load(config_path, as_json)
    pin = _ask_pin("Supervisor PIN")
    result = _through_daemon_or_here(
        config, as_json, "payment_resolve", {"payment_id": payment_id, "as": outcome, "pin": pin}
    )
    emit(
        as_json,
        {"ok": True, **result},
        lambda: click.echo(
            f"payment {payment_id} recorded as {outcome} by {result.get('resolved_by')}"
        ),
    )


# ---- drawer -----------------------------------------------------------------------------


@click.group()
def drawer() -> None:
    """The cash drawer."""


@drawer.command("open")
@click.option("--reason", required=True, help="Why, for the audit log (e.g. 'float count').")
@click.option("--printer", default="", help="The printer the drawer is wired to.")
@_config_option
@_json_option
def drawer_open(reason: str, printer: str, config_path: str | None, as_json: bool) -> None:
    """Open the cash drawer without a sale (a supervisor's PIN on standard input)."""
    config = load(config_path, as_json)
    if not reason.strip():
        raise click.BadParameter("say why the drawer is opened", param_hint="--reason")
    pin = _ask_pin("Supervisor PIN")
    args = {"pin": pin, "reason": reason, **({"printer": printer} if printer else {})}
    result = _through_daemon_or_here(config, as_json, "drawer_open", args)
    emit(
        as_json,
        {"ok": True, **result},
        lambda: click.echo(f"cash drawer on {result['printer']} opened"),
    )


# ---- doctor -----------------------------------------------------------------------------


def till_checks(config: Config) -> list[dict[str, Any]]:
    """`edge doctor`'s till lines: the terminal's device, staff to sign in, unknown payments."""
    from edge.cli_tools import check_line

    drawers = [p.name for p in config.printers if p.cash_drawer]
    if config.card_reader is None and not drawers:
        return []
    checks = []
    if config.card_reader is not None:
        checks.append(_terminal_check(config.card_reader.uri))
    counts, unknown = _till_rows(config)
    if not counts.get("supervisor"):
        checks.append(
            check_line(
                "staff",
                False,
                f"{counts.get('cashier', 0)} cashier(s), no supervisor: nobody can open the "
                "drawer without a sale nor resolve an unknown payment",
                "edge staff add NAME --role supervisor",
            )
        )
    else:
        detail = f"{counts.get('supervisor')} supervisor(s), {counts.get('cashier', 0)} cashier(s)"
        checks.append(check_line("staff", True, detail))
    checks.append(
        check_line(
            "payments",
            None if unknown else True,
            f"{unknown} payment(s) whose outcome is unknown" if unknown else "none unresolved",
            "a supervisor checks the terminal, then: edge payments unresolved" if unknown else "",
        )
    )
    return checks


def _terminal_check(uri: str) -> dict[str, Any]:
    from drivers.concert import parse_card_reader_uri
    from drivers.concert.port import find_port, system_ports
    from drivers.errors import DriverError
    from edge.cli_tools import check_line

    where = parse_card_reader_uri(uri)
    try:
        path = find_port(where.serial.path, where.usb_id, system_ports)
    except DriverError as err:
        return check_line(
            "card terminal",
            False,
            str(err),
            "check the terminal is on and its USB cable; add ?usb-id=VID:PID (lsusb) to the "
            "[card_reader] uri so that a terminal that comes back as another tty is found",
        )
    from pathlib import Path

    if not Path(path).exists():
        return check_line(
            "card terminal", False, f"{path} is not there", "check the terminal's cable and power"
        )
    return check_line("card terminal", True, f"{path} present ({uri})")


def _till_rows(config: Config) -> tuple[dict[str, int], int]:
    from edge.cli import open_database_readonly

    path = config.database.path
    if not path.exists():
        return {}, 0
    conn = open_database_readonly(path)
    try:
        roles = dict(conn.execute("SELECT role, COUNT(*) FROM staff GROUP BY role").fetchall())
        (unknown,) = conn.execute(
            "SELECT COUNT(*) FROM payments WHERE state = 'unknown'"
        ).fetchone()
    except sqlite3.Error:  # an old schema (the daemon migrates it at start): nothing to say yet
        return {}, 0
    finally:
        conn.close()
    return roles, int(unknown)
