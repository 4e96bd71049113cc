"""The daemon as a real child process (`python -m edge run`), so tests can SIGTERM or SIGKILL it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any


def toml_value(value: Any) -> str:
    """A Python value as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path,
    *,
    broker_url: str | None,
    printers: list[dict[str, Any]],
    store: str = "st_test",
    locale: str = "en",
    release_lead_min: int = 30,
    cloud: dict[str, Any] | None = None,
    database: dict[str, Any] | None = None,
    mdns: dict[str, Any] | str | None = None,
    extra: str = "",
) -> Path:
    """An edge.toml with test-sized timings (fast reconnects and retries).

    The database is `edge.db` beside the config unless `database` says otherwise. The daemon
    does not announce itself by mDNS unless `mdns` (its settings, or the table's TOML text)
    says so: tests stay off the LAN. `extra` is TOML appended as it is (`[card_reader]`, …).
    """
    if mdns is None:
        mdns = {"advertise": False}
    db_settings = {"path": path.parent / "edge.db", **(database or {})}
    lines = [
        "[store]",
        f'id = "{store}"',
        'timezone = "Europe/Paris"',
        f'locale = "{locale}"',
        "",
        "[database]",
        *(f"{k} = {toml_value(v)}" for k, v in db_settings.items()),
        "",
        "[orders]",
        f"release_lead_min = {release_lead_min}",
        "",
        "[log]",
        'level = "debug"',
        "",
        "[mdns]",
        *([mdns] if isinstance(mdns, str) else [f"{k} = {toml_value(v)}" for k, v in mdns.items()]),
    ]
    if broker_url:
        settings = {
            "url": broker_url,
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.5,
            **(cloud or {}),
        }
        lines += ["", "[cloud]", *(f"{k} = {toml_value(v)}" for k, v in settings.items())]
    for printer in printers:
        defaults = {
            "connect_timeout_s": 2.0,
            "write_timeout_s": 3.0,
            "status_timeout_s": 0.5,
            "retry_initial_s": 0.05,
            "retry_max_s": 0.5,
            "fault_poll_s": 0.1,
        }
        lines += [
            "",
            "[[printers]]",
            *(f"{k} = {toml_value(v)}" for k, v in {**defaults, **printer}.items()),
        ]
    if extra:
        lines += ["", extra]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class EdgeProcess:
    """`edge run --config PATH` as a child process."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = config.parent / "edge.log"
        self.runs = 0

    def start(self, **env: str) -> EdgeProcess:
        """Start (again); extra env vars apply to this run only (e.g. EDGE_CRASH_AT)."""
        self.runs += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== run {self.runs} {env} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(self.config)],
            stdout=log,
            stderr=log,
            env={**os.environ, **self.env, **env},
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        """The daemon's pid."""
        assert self.proc is not None
        return self.proc.pid

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the orderly shutdown."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut would."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def wait_exit(self, timeout: float = 30) -> int:
        """Wait for the process to end by itself (a crash point)."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop_quietly(self) -> None:
        """Cleanup: end the process if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        """The daemon's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def db_path(self) -> Path:
        """The daemon's database file, as its config names it."""
        doc = tomllib.loads(self.config.read_text(encoding="utf-8"))
        return Path(doc["database"]["path"])

    def db(self) -> sqlite3.Connection:
        """The daemon's SQLite file, for asserting what survived."""
        conn = sqlite3.connect(self.db_path)
        conn.row_factory = sqlite3.Row
        return conn
