"""The `edge` command line (CONTRACT §6): exit 0 success, 1 failure, 2 usage; `--json`."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from edge import __version__
from edge.config import Config, ConfigError, find_config_path, load_config

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $EDGE_CONFIG, /etc/store-edge/edge.toml, ./edge.toml).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    """Print `data` as JSON, or call `human` to print it for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        human()


def fail(as_json: bool, message: str, **extra: Any) -> NoReturn:
    """Report a failure and exit 1."""
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, **extra}, ensure_ascii=False))
    else:
        click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


def load(config_path: str | None, as_json: bool) -> Config:
    """Load the config or exit 1 with every problem listed."""
    path = find_config_path(config_path)
    try:
        return load_config(path)
    except ConfigError as err:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "ok": False,
                        "file": str(err.path),
                        "issues": [
                            {"file": i.file, "line": i.line, "key": i.key, "message": i.message}
                            for i in err.issues
                        ],
                    },
                    ensure_ascii=False,
                )
            )
        else:
            for issue in err.issues:
                click.secho(str(issue), fg="red", err=True)
        sys.exit(1)


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs: `edge run` stays light in memory."""

    lazy: dict[str, str] = {  # noqa: RUF012 - read-only table
        "orders": "edge.cli_orders:orders",
        "printers": "edge.cli_printers:printers",
        "doctor": "edge.cli_tools:doctor",
        "demo": "edge.cli_tools:demo",
        "pos": "edge.cli_pos:pos",
        "menu": "edge.cli_menu:menu",
        "staff": "edge.cli_staff:staff",
        "audit": "edge.cli_staff:audit",
        "payments": "edge.cli_till:payments",
        "drawer": "edge.cli_till:drawer",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge")
def main() -> None:
    """store-edge: delivery orders to kitchen tickets and the POS, offline-first."""


@main.command()
@_config_option
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
def run(config_path: str | None, log_level: str | None) -> None:
    """Run the daemon in the foreground (what systemd runs)."""
    from edge.daemon import Daemon
    from edge.errors import EdgeError

    config = load(config_path, as_json=False)
    logging.basicConfig(
        level=(log_level or config.log.level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,  # python-escpos calls basicConfig() at import time
    )
    failures: list[Exception] = []
    try:
        try:
            asyncio.run(Daemon(config).run())
        except* EdgeError as group:
            # Raised inside the daemon's TaskGroup they come wrapped in an ExceptionGroup.
            failures.extend(group.exceptions)
    except KeyboardInterrupt:
        pass
    for err in failures:
        logging.getLogger("edge").critical("%s", err)
    if failures:
        sys.exit(1)


@main.command("check-config")
@_config_option
@_json_option
def check_config(config_path: str | None, as_json: bool) -> None:
    """Validate the config file; every error with its line number."""
    config = load(config_path, as_json)
    path = find_config_path(config_path)
    from edge.pos import PosError, connector_for

    try:  # what the daemon would refuse at start: a missing secret, a kind with no connector
        connector_for(config.pos)
    except PosError as err:
        fail(as_json, f"{path}: [pos]: {err}")
    from edge.config.serviceable import unserviceable

    # What this box cannot offer (Bluetooth without BlueZ, a missing font) is a warning: the
    # daemon still starts and serves every other printer (CONTRACT §1).
    warnings = unserviceable(config)

    def human() -> None:
        click.echo(
            f"{path}: OK (store {config.store.id}, {len(config.printers)} printer(s), "
            f"cloud {'on' if config.cloud else 'off'}, pos {config.pos.kind})"
        )
        for warning in warnings:
            click.secho(f"warning: {warning}", fg="yellow")

    emit(
        as_json,
        {
            "ok": True,
            "file": str(path),
            "store": config.store.id,
            "printers": len(config.printers),
            "warnings": [warning.as_dict() for warning in warnings],
        },
        human,
    )


def open_database_readonly(path: Path) -> sqlite3.Connection:
    """The daemon's database, read-only, without creating any file beside it.

    A reader that opens a WAL database whose -wal/-shm files are gone (the daemon stopped
    cleanly) creates them, owned by whoever runs `edge`: a technician outside the
    store-edge group gets "attempt to write a readonly database", and files left behind
    could lock the daemon out. Without a -wal file no writer has the database open, so
    the main file alone is complete and is read as immutable.
    """
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?{mode}", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def ask_daemon_if_running(
    config: Config,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    as_json: bool,
    timeout: float = 10.0,
) -> dict[str, Any] | None:
    """The running daemon's reply to `command`; None when it is not running.

    Exits 1 when the socket is there but this user may not use it: carrying on as if the
    daemon were stopped could print behind its back.
    """
    from edge.control import ControlAccessError, call
    from edge.errors import DaemonNotRunningError

    try:
        return asyncio.run(call(config.control_socket_path, command, args, timeout=timeout))
    except DaemonNotRunningError:
        return None
    except ControlAccessError as err:
        fail(as_json, str(err))


def ask_daemon(
    config: Config, command: str, args: dict[str, Any] | None = None, *, as_json: bool
) -> dict[str, Any]:
    """The running daemon's reply to `command`; exits 1 saying how to start it when it is not."""
    from edge.control import ControlAccessError, call
    from edge.errors import DaemonNotRunningError

    try:
        return asyncio.run(call(config.control_socket_path, command, args))
    except DaemonNotRunningError as err:
        fail(as_json, f"{err}; start it with `systemctl start store-edge`")
    except ControlAccessError as err:
        fail(as_json, str(err))
