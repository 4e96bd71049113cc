"""`edge staff add | set-pin | remove | list | unlock` and `edge audit`.

These work whether the daemon runs or not: they open the database directly. SQLite in WAL
mode with a busy timeout lets this process and the daemon write in turn without harm, and
the daemon keeps no copy of the staff in memory (each PIN check reads the database), so a
change counts from the next check. Run them as the daemon's user (`sudo -u store-edge edge
staff …`): a database created by another user could not be written by the daemon.
"""

from __future__ import annotations

import asyncio
import getpass
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from edge.cli import _config_option, _json_option, emit, fail, load
from edge.config import Config

T = TypeVar("T")


def _with_book(config: Config, as_json: bool, call: Callable[[Any], Awaitable[T]]) -> T:
    """Open the database, run `call(StaffBook)`, close; a staff error exits 1."""
    from edge.db import Database
    from edge.errors import DatabaseError
    from edge.staff import StaffBook, StaffError

    async def run() -> T:
        async with Database(config.database.path) as db:
            return await call(StaffBook(db))

    try:
        return asyncio.run(run())
    except (StaffError, DatabaseError) as err:
        fail(as_json, str(err))


def _read_pin(prompt: str) -> str:
    """The PIN from standard input: asked twice on a terminal, one line otherwise."""
    from edge.staff import InvalidPin, check_pin

    if sys.stdin.isatty():
        pin = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("Again: ") != pin:
            raise click.UsageError("the two PINs differ")
    else:
        pin = sys.stdin.readline().rstrip("\r\n")
    try:
        return check_pin(pin)
    except InvalidPin as err:
        raise click.UsageError(str(err)) from err


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.group()
def staff() -> None:
    """Staff and their PINs (the PIN is read from standard input)."""


@staff.command("add")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["cashier", "supervisor"]), required=True, help="What they may do."
)
@_config_option
@_json_option
def add(name: str, role: str, config_path: str | None, as_json: bool) -> None:
    """Add a person with a PIN of 4-8 digits (twice on a terminal, once from a pipe)."""
    from edge.staff import InvalidStaffName, Role, check_name

    config = load(config_path, as_json)
    try:
        check_name(name)
    except InvalidStaffName as err:
        raise click.BadParameter(str(err), param_hint="NAME") from err
    pin = _read_pin(f"PIN for {name}")
    person = _with_book(config, as_json, lambda book: book.add(name, Role(role), pin))
    emit(
        as_json,
        {"ok": True, "name": person.name, "role": person.role.value},
        lambda: click.echo(f"added {person.name} ({person.role.value})"),
    )


@staff.command("set-pin")
@click.argument("name")
@_config_option
@_json_option
def set_pin(name: str, config_path: str | None, as_json: bool) -> None:
    """Give a person a new PIN (also lifts their lockout)."""
    config = load(config_path, as_json)
    pin = _read_pin(f"New PIN for {name}")
    person = _with_book(config, as_json, lambda book: book.set_pin(name, pin))
    emit(
        as_json,
        {"ok": True, "name": person.name, "role": person.role.value},
        lambda: click.echo(f"new PIN set for {person.name}"),
    )


@staff.command("remove")
@click.argument("name")
@_config_option
@_json_option
def remove(name: str, config_path: str | None, as_json: bool) -> None:
    """Remove a person (what they did stays in the audit log)."""
    config = load(config_path, as_json)
    _with_book(config, as_json, lambda book: book.remove(name))
    emit(as_json, {"ok": True, "name": name}, lambda: click.echo(f"removed {name}"))


@staff.command("unlock")
@click.argument("name", required=False)
@_config_option
@_json_option
def unlock(name: str | None, config_path: str | None, as_json: bool) -> None:
    """Lift a person's lockout after wrong PINs (without NAME: the whole box's)."""
    config = load(config_path, as_json)
    was_locked = _with_book(config, as_json, lambda book: book.unlock(name))
    who = name or "the box"
    emit(
        as_json,
        {"ok": True, "name": name, "was_locked": was_locked},
        lambda: click.echo(f"{who} unlocked" if was_locked else f"{who} was not locked out"),
    )


@staff.command("list")
@_config_option
@_json_option
def list_staff(config_path: str | None, as_json: bool) -> None:
    """Staff with their role and any lockout (never a PIN or hash)."""
    import time as clock

    from edge.staff import StaffListing, listing

    config = load(config_path, as_json)
    nobody: tuple[list[StaffListing], float | None] = ([], None)
    members, box_until = _reading(config, as_json, lambda c: listing(c, clock.time()), nobody)
    data = {
        "staff": [
            {
                "name": m.name,
                "role": m.role.value,
                "created_at": _iso(m.created_at),
                "updated_at": _iso(m.updated_at),
                "locked_until": _iso(m.locked_until),
            }
            for m in members
        ],
        "box_locked_until": _iso(box_until),
    }

    def human() -> None:
        table = Table(title=f"Staff ({len(members)})")
        for col in ("name", "role", "locked until", "PIN set"):
            table.add_column(col)
        for m in members:
            table.add_row(m.name, m.role.value, _when(m.locked_until), _when(m.updated_at))
        Console().print(table)
        if box_until is not None:
            click.secho(f"every PIN check is locked out until {_when(box_until)}", fg="red")

    emit(as_json, data, human)


def _reading(config: Config, as_json: bool, read: Callable[[sqlite3.Connection], T], empty: T) -> T:
    """`read(conn)` on the database opened read-only (no file is created); `empty` when
    there is no database yet, or one from before staff and the audit (schema < 7)."""
    from edge.cli import open_database_readonly

    path = Path(config.database.path)
    if not path.exists():
        return empty
    try:
        conn = open_database_readonly(path)
        try:
            return read(conn)
        finally:
            conn.close()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return empty
        fail(as_json, f"cannot read {path}: {err}")
    except sqlite3.Error as err:
        fail(as_json, f"cannot read {path}: {err}")


def _bound(text: str | None, zone: ZoneInfo, *, end: bool) -> float | None:
    """A --from/--to value: a date (the whole day, in the store's time zone) or a date-time."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), zone)
            return (day + timedelta(days=1) if end else day).timestamp()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise click.BadParameter(
            f"{text!r}: give a date (2026-11-23) or a date-time (2026-11-23T18:00:00Z)"
        ) from err
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()


@click.command("audit")
@click.option("--from", "since", default=None, help="First day (store's time zone) or time.")
@click.option("--to", "until", default=None, help="Last day, included, or an end time.")
@_config_option
@_json_option
def audit(since: str | None, until: str | None, config_path: str | None, as_json: bool) -> None:
    """The audit log: payments, drawer openings, staff changes, lockouts (oldest first)."""
    from edge import audit as log

    config = load(config_path, as_json)
    zone = ZoneInfo(config.store.timezone)
    start, end = _bound(since, zone, end=False), _bound(until, zone, end=True)
    nothing: list[log.AuditEntry] = []
    found = _reading(config, as_json, lambda c: log.entries(c, start, end), nothing)

    def human() -> None:
        table = Table(title=f"Audit ({len(found)} entries)")
        for col in ("at", "kind"):
            table.add_column(col, no_wrap=True)
        for col in ("actor", "subject", "data"):
            table.add_column(col)
        for e in found:
            details = ", ".join(f"{k}={v}" for k, v in e.data.items())
            table.add_row(_when(e.at_epoch), e.kind, e.actor, e.subject or "", details)
        Console().print(table)

    emit(as_json, [e.as_dict() for e in found], human)
