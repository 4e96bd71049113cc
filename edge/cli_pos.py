"""`edge pos status | menu | links`: the POS link, for technicians (daemon running or not)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from edge.cli import _config_option, _json_option, ask_daemon_if_running, emit, fail, load
from edge.cli_menu import pos_links
from edge.config import Config
from edge.pos import LinkStatus, Menu, PosConnector, PosError
from edge.pos.session import pos_session

T = TypeVar("T")


def _call(
    config: Config,
    as_json: bool,
    call: Callable[[PosConnector], Awaitable[T]],
    doing: str = "",
) -> T:
    """Open the configured connector, make one call, close it; a POS error exits 1."""

    async def run() -> T:
        async with pos_session(config) as connector:
            return await call(connector)

    try:
        return asyncio.run(run())
    except PosError as err:
        fail(as_json, f"{doing}: {err}" if doing else str(err))


def _ids_in_use(config: Config, as_json: bool) -> dict[str, dict[str, str]]:
    """The ids set in [pos], then those the running daemon chose by meaning or was told by
    the cloud (in/settings), each with where it came from."""
    ids = {
        f"order_type {key}": {"id": value, "from": f"[pos] order_types.{key}"}
        for key, value in config.pos.order_types.items()
    }
    ids |= {
        f"tender {key}": {"id": value, "from": f"[pos] tenders.{key}"}
        for key, value in config.pos.tenders.items()
    }
    reply = ask_daemon_if_running(config, "status", as_json=as_json)
    live = ((reply or {}).get("result") or {}).get("pos") or {}
    ids |= live.get("ids") or {}
    return ids


def _money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return "variable"
    return f"{amount / 100:.2f} {currency or ''}".strip()


@click.group()
def pos() -> None:
    """The POS link (check it, read the menu it serves, what recent orders miss in it)."""


pos.add_command(pos_links)


@pos.command("status")
@_config_option
@_json_option
def pos_status(config_path: str | None, as_json: bool) -> None:
    """Whether the POS answers with our credentials for this store."""
    config = load(config_path, as_json)
    status: LinkStatus = _call(config, as_json, lambda c: c.check_link())
    data: dict[str, Any] = {
        "kind": config.pos.kind,
        "location_id": config.pos.location_id,
        **asdict(status),
        "ids": _ids_in_use(config, as_json),
    }

    def human() -> None:
        where = status.location_name or config.pos.location_id
        if status.ok:
            click.echo(f"{config.pos.kind}: linked to {where}")
        else:
            click.secho(f"{config.pos.kind}: NOT linked: {status.detail}", fg="red")
        if data["ids"]:
            table = Table(title="POS ids in use (order types, tenders)")
            for col in ("for", "id", "from"):
                table.add_column(col)
            for what, used in sorted(data["ids"].items()):
                table.add_row(what, used["id"], used["from"])
            Console().print(table)

    emit(as_json, data, human)
    if not status.ok:
        raise SystemExit(1)


@pos.command("menu")
@_config_option
@_json_option
def pos_menu(config_path: str | None, as_json: bool) -> None:
    """The menu the POS serves: the ids order lines and modifiers must be linked to."""
    config = load(config_path, as_json)
    menu: Menu = _call(config, as_json, lambda c: c.read_menu(), "cannot read the menu")

    def human() -> None:
        console = Console()
        items = Table(title=f"Items ({len(menu.items)}): link order lines to the variation id")
        for col in ("item", "variation", "variation id", "price"):
            items.add_column(col)
        for item in menu.items:
            for variation in item.variations:
                items.add_row(
                    item.name,
                    variation.name,
                    variation.id,
                    _money(variation.price, variation.currency),
                )
        console.print(items)
        modifiers = Table(title="Modifiers: link order modifiers to the modifier id")
        for col in ("list", "modifier", "modifier id", "price"):
            modifiers.add_column(col)
        for group in menu.modifier_lists:
            for modifier in group.modifiers:
                modifiers.add_row(
                    group.name,
                    modifier.name,
                    modifier.id,
                    _money(modifier.price, modifier.currency),
                )
        console.print(modifiers)

    emit(as_json, menu.to_doc(), human)
