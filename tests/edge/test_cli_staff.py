"""`edge staff …` and `edge audit` through the real `.venv/bin/edge`, the PIN on stdin (a pipe,
or a real pty as the controlling terminal)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import sys
import termios
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

EDGE = str(Path(sys.executable).with_name("edge"))
PIN = "482913"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(
        f'[store]\nid = "st_test"\ntimezone = "Europe/Paris"\n\n'
        f'[database]\npath = "{tmp_path / "edge.db"}"\n',
        "utf-8",
    )
    return path


def edge(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`edge ARGS --config CONFIG` with `stdin` piped in."""
    result = subprocess.run(
        [EDGE, *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    assert PIN not in result.stdout + result.stderr, "a PIN is never printed"
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_staff_from_add_to_remove_with_the_audit(config: Path) -> None:
    added = edge(config, "staff", "add", "Élodie", "--role", "cashier", "--json", stdin=PIN + "\n")
    assert as_json(added) == {"ok": True, "name": "Élodie", "role": "cashier"}
    assert edge(config, "staff", "add", "Bob", "--role", "supervisor", stdin="7305").returncode == 0

    listed = as_json(edge(config, "staff", "list", "--json"))
    assert [(s["name"], s["role"], s["locked_until"]) for s in listed["staff"]] == [
        ("Bob", "supervisor", None),
        ("Élodie", "cashier", None),
    ]
    assert listed["box_locked_until"] is None
    assert "Élodie" in edge(config, "staff", "list").stdout

    assert edge(config, "staff", "set-pin", "Élodie", stdin="2468\n").returncode == 0
    assert edge(config, "staff", "remove", "Bob").returncode == 0
    entries = as_json(edge(config, "audit", "--json"))
    assert [(e["kind"], e["actor"], e["subject"]) for e in entries] == [
        ("staff.added", "technician", "Élodie"),
        ("staff.added", "technician", "Bob"),
        ("staff.pin_changed", "technician", "Élodie"),
        ("staff.removed", "technician", "Bob"),
    ]
    assert entries[0]["at"].endswith("Z")
    human = edge(config, "audit")
    assert human.returncode == 0
    assert "staff.pin_changed" in human.stdout


def test_refusals_and_their_exit_codes(config: Path) -> None:
    assert edge(config, "staff", "add", "Al", "--role", "cashier", stdin=PIN).returncode == 0
    duplicate = edge(config, "staff", "add", "Bo", "--role", "cashier", "--json", stdin=PIN)
    assert duplicate.returncode == 1
    assert "already has this PIN" in json.loads(duplicate.stdout)["error"]
    again = edge(config, "staff", "add", "al", "--role", "cashier", stdin="1111")
    assert (again.returncode, "already on the staff" in again.stderr) == (1, True)
    for pin in ("123", "12a45", "", "123456789"):
        bad = edge(config, "staff", "add", "Cy", "--role", "cashier", stdin=pin + "\n")
        assert bad.returncode == 2, pin
        assert "4 to 8 digits" in bad.stderr
    assert edge(config, "staff", "add", "Cy", "--role", "chef", stdin="1111").returncode == 2
    assert edge(config, "staff", "remove", "Nobody").returncode == 1
    assert edge(config, "staff", "set-pin", "Nobody", stdin="1111").returncode == 1
    assert edge(config, "audit", "--from", "yesterday").returncode == 2
    assert [s["name"] for s in as_json(edge(config, "staff", "list", "--json"))["staff"]] == ["Al"]


def test_audit_dates_select_whole_days(config: Path) -> None:
    assert edge(config, "staff", "add", "Al", "--role", "cashier", stdin=PIN).returncode == 0
    assert len(as_json(edge(config, "audit", "--json", "--from", "2020-01-01"))) == 1
    assert as_json(edge(config, "audit", "--json", "--to", "2020-01-01")) == []
    assert as_json(edge(config, "audit", "--json", "--from", "2099-01-01")) == []
    now = time.time()
    paris_today = datetime.now(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%d")
    around = edge(config, "audit", "--json", "--from", "2020-01-01", "--to", paris_today)
    assert len(as_json(around)) == 1, "--to includes its whole day"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 120))
    assert as_json(edge(config, "audit", "--json", "--from", since)) == []


def test_reads_work_before_the_daemon_ever_ran(config: Path) -> None:
    assert as_json(edge(config, "staff", "list", "--json")) == {
        "staff": [],
        "box_locked_until": None,
    }
    assert as_json(edge(config, "audit", "--json")) == []
    assert not (config.parent / "edge.db").exists(), "reading creates no database"


def _read_until(fd: int, marker: bytes, seen: bytearray, deadline: float) -> None:
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                break


def _on_a_terminal(config: Path, answers: list[str]) -> tuple[int, bytes]:
    """`edge staff add` with a pty as its controlling terminal, answering each prompt."""
    master, slave = os.openpty()

    def take_the_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(
        [EDGE, "staff", "add", "Dee", "--role", "supervisor", "--config", str(config)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=take_the_terminal,  # noqa: PLW1509 - no threads run in this test
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + 60
    try:
        for prompt, answer in zip((b"PIN for Dee: ", b"Again: "), answers, strict=True):
            _read_until(master, prompt, seen, deadline)
            os.write(master, answer.encode() + b"\n")
        code = child.wait(timeout=60)
        # The child is gone: what it wrote is all in the pty; then reading fails with EIO.
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        return code, bytes(seen)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)


def test_on_a_terminal_the_pin_is_asked_twice_and_not_echoed(config: Path) -> None:
    code, shown = _on_a_terminal(config, [PIN, "999999"])
    assert code == 2
    assert b"the two PINs differ" in shown
    assert PIN.encode() not in shown, "the PIN is not echoed"
    code, shown = _on_a_terminal(config, [PIN, PIN])
    assert code == 0, shown
    assert b"added Dee (supervisor)" in shown
    assert PIN.encode() not in shown
    listed = as_json(edge(config, "staff", "list", "--json"))
    assert [s["name"] for s in listed["staff"]] == ["Dee"]
