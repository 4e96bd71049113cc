"""`edge menu sync` and `edge pos links`: the menu read from the POS, and what orders miss in it.

`edge menu sync` asks the running daemon (which publishes at once) and, with the daemon
stopped, reads the menu itself under the daemon's lock: the daemon publishes what it
stored when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from edge.cli import (
    _config_option,
    _json_option,
    ask_daemon_if_running,
    emit,
    fail,
    load,
    open_database_readonly,
)
from edge.config import Config


@click.group()
def menu() -> None:
    """The menu read from the POS and published per brand."""


@menu.command("sync")
@_config_option
@_json_option
def menu_sync(config_path: str | None, as_json: bool) -> None:
    """Read the menu from the POS now (works with the daemon stopped)."""
    config = load(config_path, as_json)
    if config.pos.kind == "none":
        fail(as_json, 'no POS configured ([pos] kind = "none"): no menu to read', code="no_pos")
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} page(s)"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=True,
    ) as progress:
        task = progress.add_task(f"reading the {config.pos.kind} menu", total=None)
        timeout = config.menu.sync_timeout_s + 30.0
        reply = ask_daemon_if_running(config, "menu_sync", as_json=as_json, timeout=timeout)
        by_daemon = reply is not None
        if reply is None:
            reply = _sync_here(config, lambda n: progress.update(task, completed=n))
    if not reply.get("ok"):
        error = reply.get("error") or {}
        fail(as_json, f"menu sync failed: {error.get('message')}", code=error.get("code"))
    result = reply["result"]
    emit(as_json, result, lambda: _print_result(result, config, by_daemon))


def _sync_here(config: Config, on_page: Callable[[int], None]) -> dict[str, Any]:
    from edge.daemon import single_instance
    from edge.db import Database
    from edge.errors import EdgeError
    from edge.menu.sync import MenuSettings, MenuSync, MenuSyncError, Trigger, menu_topics
    from edge.pos import PosError, connector_for
    from edge.pos.secrets import DatabaseSecrets

    async def run() -> dict[str, Any]:
        async with Database(config.database.path) as db:
            connector = connector_for(config.pos, secrets=DatabaseSecrets(db))
            assert connector is not None  # kind "none" was refused above
            async with connector:
                sync = MenuSync(db, connector, MenuSettings.of(config), menu_topics(config))
                return await sync.sync(Trigger.CLI, on_page)

    try:
        with single_instance(config.database.path):
            result = asyncio.run(run())
    except MenuSyncError as err:
        return {"ok": False, "error": {"code": err.code.value, "message": err.reason}}
    except (PosError, EdgeError) as err:
        return {"ok": False, "error": {"code": "pos_unavailable", "message": str(err)}}
    return {"ok": True, "result": result}


def _print_result(result: dict[str, Any], config: Config, by_daemon: bool) -> None:
    if config.cloud is None:
        changed = "no (offline box)"
        note = "This box has no [cloud]: menus are kept for injection, not published."
    elif by_daemon:
        changed = "yes (changed)"
        note = "Read by the daemon, which publishes what changed."
    else:
        changed = "queued (changed)"
        note = "Read here (the daemon is stopped): it publishes what changed when it starts."
    table = Table(title="The menu read from the POS")
    for col in ("brand", "items", "modifiers", "published"):
        table.add_column(col)
    for brand, counts in result["brands"].items():
        published = changed if counts.get("changed") else "no (unchanged)"
        if config.cloud is None:
            published = changed
        table.add_row(brand, str(counts["items"]), str(counts["modifiers"]), published)
    Console().print(table)
    click.echo(f"{note}\nhash {result['hash']}")


@click.command("links")
@_config_option
@_json_option
@click.option(
    "--days", type=click.IntRange(1, 90), default=None, help="Default: [menu] links_days."
)
def pos_links(config_path: str | None, as_json: bool, days: int | None) -> None:
    """The order lines, modifier groups and modifiers of recent orders the menu does not know."""
    from edge.menu import store
    from edge.menu.links import summarize

    config = load(config_path, as_json)
    days = days or config.menu.links_days
    path = Path(config.database.path)
    if not path.exists():
        fail(as_json, f"{path} does not exist yet: the daemon has not run")
    try:
        with contextlib.closing(open_database_readonly(path)) as conn:
            stored = store.load(conn, config.pos.kind)
            if stored is None:
                fail(as_json, "no menu read from the POS yet: run `edge menu sync`")
            summary = summarize(conn, stored.menu, days)
    except sqlite3.Error as err:
        fail(as_json, f"cannot read {path}: {err}")
    doc = {
        "pos": config.pos.kind,
        "menu_read_at": stored.read_at,
        "menu_items": stored.items,
        **summary.document(),
    }

    def human() -> None:
        age = _age(time.time() - stored.read_at)
        click.echo(
            f"{summary.orders} order(s) of the last {days} day(s) against the {config.pos.kind}"
            f" menu read {age} ago ({stored.items} items)"
        )
        if not summary.unlinked:
            click.secho("every id of these orders is known to the menu", fg="green")
        else:
            table = Table(title=f"{len(summary.unlinked)} id(s) the menu does not know")
            for col in ("kind", "pos_id", "name", "orders", "last seen", "partners"):
                table.add_column(col)
            for u in summary.unlinked:
                d = u.document()
                table.add_row(
                    d["kind"],
                    d["pos_id"],
                    d["name"],
                    str(d["orders"]),
                    d["last_seen"],
                    ", ".join(d["partners"]),
                )
            Console().print(table)
        if summary.without_pos_id:
            click.secho(
                f"{summary.without_pos_id} order(s) had lines with no pos_id at all", fg="yellow"
            )

    emit(as_json, doc, human)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def menu_check(config: Config) -> list[dict[str, Any]]:
    """`edge doctor`'s menu and POS links lines (info, yellow, when anything is unlinked)."""
    from edge.cli_tools import check_line as check
    from edge.menu import store
    from edge.menu.links import summarize

    path = Path(config.database.path)
    if config.pos.kind == "none" or not path.exists():
        return []
    try:
        with contextlib.closing(open_database_readonly(path)) as conn:
            stored = store.load(conn, config.pos.kind)
            state = store.sync_state(conn)
            summary = summarize(conn, stored.menu, config.menu.links_days) if stored else None
    except sqlite3.Error as err:
        return [check("menu", False, f"cannot read {path}: {err}")]
    if stored is None or summary is None:
        why = f"; last try: {state['last_error']}" if state.get("last_error") else ""
        return [check("menu", None, f"not read from the POS yet{why}", "edge menu sync")]
    detail = (
        f"{stored.items} items, {stored.modifiers} modifiers, read"
        f" {_age(time.time() - stored.read_at)} ago"
    )
    failed = bool(state.get("last_error"))
    if failed:
        detail += f"; the last sync failed: {state['last_error']}"
    checks = [check("menu", None if failed else True, detail, "edge menu sync" if failed else "")]
    if summary.unlinked:
        top = ", ".join(f"{u.pos_id} ({u.orders})" for u in summary.unlinked[:3])
        checks.append(
            check(
                "pos links",
                None,
                f"{len(summary.unlinked)} id(s) of {summary.orders} order(s) in the last"
                f" {summary.days} days unknown to the menu: {top}",
                "edge pos links; link them to the POS menu in the cloud",
            )
        )
    else:
        checks.append(
            check("pos links", True, f"every id of {summary.orders} recent order(s) is linked")
        )
    return checks
