"""`edge doctor` and `edge demo`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import click

from edge import control
from edge.cli import _config_option, _json_option, emit, open_database_readonly
from edge.config import Config, ConfigError, find_config_path, load_config
from edge.errors import DaemonNotRunningError


def check_line(name: str, ok: bool | None, detail: str, fix: str = "") -> dict[str, Any]:
    """One line of `edge doctor`: ok True (green), False (red, exit 1), None (yellow)."""
    return {"check": name, "ok": ok, "detail": detail, "fix": fix}


def _check_database(config: Config) -> dict[str, Any]:
    path = Path(config.database.path)
    if not path.exists():
        # Whether the daemon may create it depends on its user, not on whoever runs doctor
        # (systemd's StateDirectory= makes /var/lib/store-edge its own): only report.
        return check_line("database", None, f"{path} not created yet (the daemon creates it)")
    try:
        with contextlib.closing(open_database_readonly(path)) as conn:
            (result,) = conn.execute("PRAGMA quick_check").fetchone()
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            (queued,) = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
    except sqlite3.Error as err:
        return check_line(
            "database", False, f"{path}: {err}", "restore a backup or move the file away"
        )
    ok = result == "ok"
    return check_line(
        "database",
        ok,
        f"{path}: schema v{version}, integrity {result}, {queued} job(s) waiting",
        "" if ok else "stop the daemon, back the file up, and run `sqlite3 edge.db .recover`",
    )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _check_storage(config: Config, live: dict[str, Any] | None) -> dict[str, Any]:
    """Free space and database size, with a verdict; the daemon's storage state if it runs."""
    from edge.storage import MIB, disk_space, reserve_path

    path = Path(config.database.path)
    folder = path.parent  # or the nearest folder that exists, before the first start
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        space = disk_space(folder / path.name)
    except OSError as err:
        return check_line("storage", False, f"{folder}: {err}", "check the disk (dmesg)")
    reserve = int(config.database.reserve_mb * MIB)
    in_place = reserve == 0 or reserve_path(path).exists()
    share = space.free_bytes / space.total_bytes if space.total_bytes else 0.0
    detail = (
        f"{_size(space.free_bytes)} free of {_size(space.total_bytes)} ({share:.0%}); "
        f"database {_size(space.database_bytes)}; "
        f"reserve {_size(reserve)} {'in place' if in_place else 'GIVEN BACK'}"
    )
    state = (live or {}).get("storage") or {}
    if state.get("state") not in (None, "ok"):
        fixes = {
            "full": "free disk space (journalctl --vacuum-size=100M, old files); orders wait at "
            "the broker and flow again by themselves",
            "read_only": "the filesystem went read-only: check dmesg, fsck, reboot",
            "io_error": "the disk fails: check dmesg, replace the SD card/disk",
            "corrupt": "stop the daemon and follow its log's advice (restore or .recover)",
        }
        return check_line(
            "storage",
            False,
            f"daemon reports {state['state']} since {state.get('since')}: {detail}",
            fixes.get(state["state"], "check the disk"),
        )
    if space.read_only:
        return check_line("storage", False, f"read-only filesystem: {detail}", "check dmesg, fsck")
    if space.free_bytes < 2 * reserve + 64 * MIB or share < 0.05:
        return check_line(
            "storage", None, f"low on space: {detail}", "free disk space before it fills up"
        )
    return check_line("storage", True, detail)


async def _check_broker(config: Config) -> dict[str, Any]:
    cloud = config.cloud
    if cloud is None:
        return check_line("broker", None, "no [cloud] table: running offline")
    try:
        async with asyncio.timeout(5):
            if cloud.scheme == "unix":
                _, writer = await asyncio.open_unix_connection(str(cloud.socket_path))
            else:
                _, writer = await asyncio.open_connection(cloud.host, cloud.port)
            writer.close()
    except (OSError, TimeoutError) as err:
        return check_line(
            "broker",
            False,
            f"{cloud.url}: {err or 'timed out'}",
            "check the network / firewall towards the broker; orders wait at the broker meanwhile",
        )
    return check_line("broker", True, f"{cloud.url} reachable")


async def _check_pos(config: Config) -> dict[str, Any]:
    from edge.pos import PosError
    from edge.pos.session import pos_session

    if config.pos.kind == "none":
        return check_line("pos", None, "kind none (nothing injected)")
    try:
        async with asyncio.timeout(15), pos_session(config) as connector:
            status = await connector.check_link()
    except (PosError, TimeoutError) as err:
        status = None
        detail = str(err) or "timed out"
    if status is not None and status.ok:
        where = status.location_name or config.pos.location_id
        return check_line("pos", True, f"{config.pos.kind}: linked to {where}")
    if status is not None:
        detail = status.detail
    return check_line(
        "pos",
        False,
        f"{config.pos.kind}: {detail}",
        "check [pos] token_file / location_id and the network; orders keep printing meanwhile",
    )


def _check_clock() -> dict[str, Any]:
    synced = Path("/run/systemd/timesync/synchronized").exists()
    year = time.gmtime().tm_year
    if year < 2024:
        return check_line(
            "clock", False, f"clock says {year}", "enable NTP: timedatectl set-ntp true"
        )
    detail = "NTP synchronized" if synced else "no NTP sync flag (systemd-timesyncd not running?)"
    return check_line(
        "clock", True if synced else None, f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {detail}"
    )


async def _doctor(config: Config) -> list[dict[str, Any]]:
    from edge.cli_menu import menu_check
    from edge.cli_printers import probe
    from edge.cli_till import till_checks
    from edge.config.serviceable import Machine, font_summary, unserviceable

    checks = [_check_database(config), await _check_broker(config)]
    live: dict[str, Any] | None = None
    try:
        reply = await control.call(config.control_socket_path, "status", timeout=5.0)
        live = reply.get("result") or {}
        cloud = live.get("cloud") or {}
        if not cloud.get("configured"):
            link = "off (no [cloud] table)"
        elif cloud.get("connected"):
            link = "connected"
        else:
            link = f"not connected ({cloud.get('last_error') or 'connecting'})"
        checks.append(
            check_line("daemon", True, f"running, up {live.get('uptime_s')} s; cloud {link}")
        )
        states = {p["name"]: p for p in live.get("printers", [])}
    except DaemonNotRunningError as err:
        checks.append(
            check_line(
                "daemon",
                False,
                str(err),
                "systemctl start store-edge; if it stops again: journalctl -u store-edge",
            )
        )
        states = {}
    except control.ControlAccessError as err:
        checks.append(check_line("daemon", None, str(err), "sudo edge doctor"))
        states = {}
    checks.insert(1, _check_storage(config, live))
    machine = await asyncio.to_thread(Machine.probe)
    cannot = {i.printer: i for i in unserviceable(config, machine) if i.printer is not None}
    for p in config.printers:
        if (issue := cannot.get(p.name)) is not None:  # asking it would only fail the same way
            checks.append(
                check_line(
                    f"printer {p.name}",
                    False,
                    f"{p.uri}: this box cannot serve it: {issue.reason}",
                    issue.fix,
                )
            )
            continue
        state = states.get(p.name)
        if state is None or state.get("online") is None:
            # The daemon has not talked to this printer yet (no job since it started): ask it.
            state = await probe(p)
        ok = state.get("online")
        detail = f"{p.uri}: " + (
            "online" if ok else f"NOT online ({state.get('error') or state.get('last_error')})"
        )
        if state.get("paper") and state.get("paper") != "ok":
            detail += f", paper {state['paper']}"
        checks.append(
            check_line(
                f"printer {p.name}",
                ok,
                detail,
                "" if ok else "check power, cable/network and paper",
            )
        )
    if not config.printers:
        checks.append(
            check_line("printers", False, "no printer configured", "add a [[printers]] table")
        )
    fonts = font_summary(machine)
    checks.append(check_line("fonts", fonts.ok, fonts.detail, fonts.fix))
    checks.append(await _check_pos(config))
    checks += menu_check(config)
    checks += await asyncio.to_thread(till_checks, config)
    checks.append(_check_clock())
    return checks


@click.command()
@_config_option
@_json_option
def doctor(config_path: str | None, as_json: bool) -> None:
    """Check config, database, broker, printers, POS link and clock; one line each, with the fix."""
    path = find_config_path(config_path)
    try:
        config = load_config(path)
    except ConfigError as err:
        checks = [
            check_line("config", False, "; ".join(str(i) for i in err.issues), f"edit {path}")
        ]
        emit(as_json, checks, lambda: _print_checks(checks))
        raise SystemExit(1) from None
    checks = [check_line("config", True, str(path)), *asyncio.run(_doctor(config))]
    emit(as_json, checks, lambda: _print_checks(checks))
    if any(c["ok"] is False for c in checks):
        raise SystemExit(1)


def _print_checks(checks: list[dict[str, Any]]) -> None:
    marks = {
        True: click.style(" OK ", fg="green"),
        False: click.style("FAIL", fg="red"),
        None: click.style("info", fg="yellow"),
    }
    for c in checks:
        line = f"[{marks[c['ok']]}] {c['check']:<18} {c['detail']}"
        if c["fix"]:
            line += click.style(f"  → {c['fix']}", fg="cyan")
        click.echo(line)


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="demo-out",
    show_default=True,
    help="Folder for the emulated printers' tickets (text and PNG), config and database.",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Keep broker, printers and daemon running after the script.",
)
@click.option("--locale", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where the demo writes the configuration it runs with (default: OUT/edge.toml).",
)
@_json_option
def demo(out: str, keep_running: bool, locale: str, config_path: str | None, as_json: bool) -> None:
    """A self-contained demonstration: local broker, sample orders, emulated printers."""
    from edge.demo.run import run_demo

    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        raise click.ClickException(
            "mosquitto is not installed: run scripts/bootstrap (or apt-get install mosquitto)"
        )
    folder = Path(out).resolve()
    config = Path(config_path).resolve() if config_path else folder / "edge.toml"
    ok = asyncio.run(run_demo(folder, keep_running=keep_running, locale=locale, config_path=config))
    summary = {
        "ok": ok,
        "tickets": str(folder / "tickets"),
        "config": str(config),
        "daemon_log": str(folder / "daemon.log"),
    }
    if as_json:
        click.echo(json.dumps(summary))
    raise SystemExit(0 if ok else 1)


__all__ = ["demo", "doctor"]
