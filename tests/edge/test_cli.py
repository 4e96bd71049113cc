"""The `edge` command line (CONTRACT §6) against real daemons, a real broker and emulated printers.

Commands that touch the daemon or a printer run as real child processes
(`python -m edge ...`) in a thread, so the emulator's event loop keeps serving
while the command waits for it. Pure config checks go through click's CliRunner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drivers.emulator import PrinterEmulator
from edge.cli import main
from tests.conftest import load_order
from tests.support.broker import Broker, free_port
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config

ORDER = "ord_ue_0001"
# `file:line: key: message`, as CONTRACT §1 asks for config errors.
ISSUE_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<key>[\w.\[\]\"-]+): (?P<message>.+)$")


def edge(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`edge ARGS` as a child process, the way a technician runs it."""
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", **env},
        check=False,
    )


async def edge_async(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`edge ARGS` in a thread: the command blocks, the test's event loop must not."""
    return await asyncio.to_thread(edge, *args, **env)


def json_out(result: subprocess.CompletedProcess[str]) -> Any:
    """The command's `--json` output, with its stderr in the failure message."""
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as err:
        raise AssertionError(
            f"not JSON (exit {result.returncode}):\n{result.stdout}\nstderr:\n{result.stderr}"
        ) from err


def offline_config(tmp_path: Path, printers: list[dict[str, Any]]) -> Path:
    """An edge.toml without [cloud]; the daemon is not running."""
    return write_config(tmp_path / "edge.toml", broker_url=None, printers=printers)


@pytest.fixture
async def kitchen() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


@dataclass
class Store:
    """A running daemon that has printed one order."""

    config: Path
    daemon: EdgeProcess
    kitchen: PrinterEmulator
    cloud: FakeCloud

    @property
    def cfg(self) -> tuple[str, str]:
        return ("--config", str(self.config))

    @property
    def db(self) -> Path:
        return self.config.parent / "edge.db"

    async def stop(self) -> None:
        """SIGTERM, in a thread: the daemon closes its printer connection on the way out."""
        assert await asyncio.to_thread(self.daemon.terminate) == 0, self.daemon.log()


@pytest.fixture
async def store(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes: list[EdgeProcess],
) -> Store:
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}],
    )
    daemon = EdgeProcess(config).start()
    edge_processes.append(daemon)
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.wait_event("order.printed", order_id=ORDER)
    await kitchen.wait_for_jobs(1)
    return Store(config, daemon, kitchen, cloud)


# ---- check-config and usage ----------------------------------------------------------------

BAD_CONFIG = """\
[store]
id = "st x"
bogus = 1

[[printers]]
name = "kitchen"
uri = "tcp://127.0.0.1:9100"
width = "48"
backup = "ghost"
"""


def test_check_config_ok(tmp_path: Path) -> None:
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": "tcp://127.0.0.1:9100"}])
    runner = CliRunner()

    human = runner.invoke(main, ["check-config", "--config", str(config)])
    assert human.exit_code == 0, human.output
    assert f"{config}: OK" in human.output
    assert "st_test" in human.output

    as_json = runner.invoke(main, ["check-config", "--config", str(config), "--json"])
    assert as_json.exit_code == 0, as_json.output
    answer = json.loads(as_json.stdout)
    # A TCP printer is served by any box; a font this box lacks would still be a warning.
    assert [w for w in answer.pop("warnings") if w["printer"] is not None] == []
    assert answer == {"ok": True, "file": str(config), "store": "st_test", "printers": 1}


def test_check_config_finds_the_file_through_edge_config(tmp_path: Path) -> None:
    config = offline_config(tmp_path, [])
    result = edge("check-config", "--json", EDGE_CONFIG=str(config))
    assert result.returncode == 0, result.stderr
    assert json_out(result)["file"] == str(config)


def test_check_config_errors_have_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(BAD_CONFIG, encoding="utf-8")

    result = edge("check-config", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    parsed = [ISSUE_LINE.match(line) for line in lines]
    assert all(parsed), lines
    found = {(m["key"], int(m["line"])) for m in parsed if m}
    assert found == {
        ("store.id", 2),
        ("store.bogus", 3),
        ("printers[0].width", 8),
        ("printers[0].backup", 9),
    }
    assert {m["file"] for m in parsed if m} == {str(config)}

    as_json = edge("check-config", "--config", str(config), "--json")
    assert as_json.returncode == 1
    doc = json_out(as_json)
    assert doc["ok"] is False
    assert doc["file"] == str(config)
    issues = doc["issues"]
    assert {(i["key"], i["line"]) for i in issues} == found
    assert all(i["file"] == str(config) and i["message"] for i in issues)
    bogus = next(i for i in issues if i["key"] == "store.bogus")
    assert "unknown key" in bogus["message"]


def test_check_config_syntax_error_and_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('[store]\nid = "st_test"\nname = "unterminated\n', encoding="utf-8")
    runner = CliRunner()

    syntax = runner.invoke(main, ["check-config", "--config", str(config), "--json"])
    assert syntax.exit_code == 1
    [issue] = json.loads(syntax.stdout)["issues"]
    assert issue["line"] == 3
    assert "TOML syntax error" in issue["message"]

    missing = runner.invoke(main, ["check-config", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 1
    assert "nope.toml: file not found" in missing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["check-config", "--bogus"],
        ["frobnicate"],
        ["orders", "show"],
        ["orders", "list", "--limit", "many"],
        ["printers", "status"],
        ["check-config", "--config"],
    ],
    ids=[
        "unknown-option",
        "unknown-command",
        "missing-argument",
        "bad-value",
        "no-name",
        "no-path",
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output


def test_usage_error_exits_2_as_a_process() -> None:
    result = edge("orders", "reprint")
    assert result.returncode == 2
    assert "Missing argument 'ORDER_ID'" in result.stderr


def test_commands_fail_with_1_on_a_broken_config(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    result = edge("orders", "list", "--config", str(config), "--json")
    assert result.returncode == 1
    assert json_out(result)["ok"] is False


# ---- orders ---------------------------------------------------------------------------------


def _check_listed(rows: list[dict[str, Any]]) -> None:
    [row] = rows
    assert row["id"] == ORDER
    assert row["display_id"] == "A1B2C"
    assert row["partner"] == "ubereats"
    assert row["status"] == "accepted"
    assert row["revision"] == 1
    assert row["printed"] == 1
    assert row["waiting"] == 0


def _check_shown(doc: dict[str, Any]) -> None:
    assert doc["order"]["id"] == ORDER
    assert doc["status"] == "accepted"
    assert doc["revision"] == 1
    [job] = doc["jobs"]
    assert (job["printer"], job["ticket"], job["state"], job["reprint"]) == (
        "kitchen",
        "kitchen",
        "done",
        False,
    )
    types = [e["type"] for e in doc["events"]]
    assert types[0] == "order.received"
    assert "order.printed" in types
    seqs = [e["seq"] for e in doc["events"]]
    assert seqs == sorted(seqs)


async def test_orders_list_and_show_while_running_and_after_stop(store: Store) -> None:
    listed = await edge_async("orders", "list", *store.cfg, "--json")
    assert listed.returncode == 0, listed.stderr
    _check_listed(json_out(listed))
    shown = await edge_async("orders", "show", ORDER, *store.cfg, "--json")
    assert shown.returncode == 0, shown.stderr
    _check_shown(json_out(shown))
    human = await edge_async("orders", "show", ORDER, *store.cfg)
    assert human.returncode == 0, human.stderr
    assert ORDER in human.stdout
    assert "Cheeseburger" in human.stdout

    await store.stop()
    wal = store.db.with_name(store.db.name + "-wal")
    assert not wal.exists(), "a clean shutdown checkpoints and removes the WAL"
    before = sorted(p.name for p in store.db.parent.iterdir())

    listed = await edge_async("orders", "list", *store.cfg, "--json")
    assert listed.returncode == 0, listed.stderr
    _check_listed(json_out(listed))
    shown = await edge_async("orders", "show", ORDER, *store.cfg, "--json")
    assert shown.returncode == 0, shown.stderr
    _check_shown(json_out(shown))
    human = await edge_async("orders", "list", *store.cfg)
    assert human.returncode == 0, human.stderr
    assert ORDER in human.stdout
    # A reader must not leave -wal/-shm files behind: the technician running `edge` may not
    # own the daemon's state directory, and files it created would lock the daemon out.
    assert sorted(p.name for p in store.db.parent.iterdir()) == before

    missing = await edge_async("orders", "show", "ord_nope", *store.cfg, "--json")
    assert missing.returncode == 1
    assert json_out(missing) == {"ok": False, "error": "no order ord_nope"}


async def test_orders_list_without_a_database(tmp_path: Path) -> None:
    config = offline_config(tmp_path, [])
    result = await edge_async("orders", "list", "--config", str(config))
    assert result.returncode == 1
    assert "no database" in result.stderr
    assert "Traceback" not in result.stderr


async def test_an_unreadable_database_is_reported_not_a_traceback(tmp_path: Path) -> None:
    config = offline_config(tmp_path, [])
    (tmp_path / "edge.db").write_bytes(b"this is not a database\n" * 200)
    listed = await edge_async("orders", "list", "--config", str(config))
    assert listed.returncode == 1
    assert "cannot read" in listed.stderr
    assert "Traceback" not in listed.stderr
    shown = await edge_async("orders", "show", ORDER, "--config", str(config), "--json")
    assert shown.returncode == 1
    assert "cannot read" in json_out(shown)["error"]
    doctor = await edge_async("doctor", "--config", str(config), "--json")
    database = _checks(doctor)["database"]
    assert database["ok"] is False
    assert database["fix"]


async def test_reprint_through_the_running_daemon(store: Store) -> None:
    result = await edge_async("orders", "reprint", ORDER, *store.cfg, "--json")
    assert result.returncode == 0, result.stderr
    reply = json_out(result)
    assert reply["ok"] is True
    assert reply["result"]["printers"] == ["kitchen"]

    jobs = await store.kitchen.wait_for_jobs(2)
    assert "REPRINT" in jobs[1].text
    assert "REPRINT" not in jobs[0].text
    assert "A1B2C" in jobs[1].text
    await store.cloud.wait_event("order.printed", order_id=ORDER, reprint=True)

    human = await edge_async("orders", "reprint", ORDER, *store.cfg, "--printer", "kitchen")
    assert human.returncode == 0, human.stderr
    assert f"reprint of {ORDER} queued on kitchen" in human.stdout
    await store.kitchen.wait_for_jobs(3)

    unknown = await edge_async("orders", "reprint", "ord_nope", *store.cfg)
    assert unknown.returncode == 1
    assert "no order ord_nope" in unknown.stderr
    ghost = await edge_async("orders", "reprint", ORDER, *store.cfg, "--printer", "ghost", "--json")
    assert ghost.returncode == 1
    assert json_out(ghost)["reply"]["error"]["code"] == "not_found"
    assert len(store.kitchen.jobs) == 3


async def test_reprint_needs_the_daemon(store: Store) -> None:
    await store.stop()
    result = await edge_async("orders", "reprint", ORDER, *store.cfg)
    assert result.returncode == 1
    assert "daemon is not running" in result.stderr
    assert "systemctl start store-edge" in result.stderr
    assert "Traceback" not in result.stderr

    as_json = await edge_async("orders", "reprint", ORDER, *store.cfg, "--json")
    assert as_json.returncode == 1
    assert "daemon is not running" in json_out(as_json)["error"]
    assert len(store.kitchen.jobs) == 1


async def test_reprint_after_a_crash_left_the_socket_behind(store: Store) -> None:
    await asyncio.to_thread(store.daemon.kill)
    socket_path = store.config.parent / "control.sock"
    assert socket_path.exists(), "SIGKILL leaves the socket file"
    result = await edge_async("orders", "reprint", ORDER, *store.cfg)
    assert result.returncode == 1
    assert "daemon is not running" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_second_daemon_does_not_steal_the_control_socket(
    store: Store, edge_processes: list[EdgeProcess]
) -> None:
    second = EdgeProcess(store.config).start()
    edge_processes.append(second)
    assert await asyncio.to_thread(second.wait_exit) == 1
    assert "another edge daemon already uses" in second.log()
    assert "Traceback" not in second.log()

    result = await edge_async("orders", "reprint", ORDER, *store.cfg)
    assert result.returncode == 0, result.stderr
    await store.kitchen.wait_for_jobs(2)


# ---- printers -------------------------------------------------------------------------------


async def test_printers_list_shows_live_state_while_the_daemon_runs(store: Store) -> None:
    result = await edge_async("printers", "list", *store.cfg, "--json")
    assert result.returncode == 0, result.stderr
    [printer] = json_out(result)
    assert printer["name"] == "kitchen"
    assert printer["uri"] == store.kitchen.uri
    assert printer["encoding"] == "cp1252"
    assert printer["roles"] == ["kitchen"]
    state = printer["state"]
    assert state["online"] is True
    assert state["paper"] == "ok"

    human = await edge_async("printers", "list", *store.cfg)
    assert human.returncode == 0, human.stderr
    assert "kitchen" in human.stdout
    assert "daemon not running" not in human.stdout

    status = await edge_async("printers", "status", "kitchen", *store.cfg, "--json")
    assert status.returncode == 0, status.stderr
    assert json_out(status)["source"] == "daemon"

    await store.stop()
    result = await edge_async("printers", "list", *store.cfg, "--json")
    assert result.returncode == 0, result.stderr
    assert json_out(result)[0]["state"] is None


async def test_printers_test_through_the_running_daemon(store: Store) -> None:
    result = await edge_async("printers", "test", "kitchen", *store.cfg)
    assert result.returncode == 0, result.stderr
    assert "(daemon)" in result.stdout
    jobs = await store.kitchen.wait_for_jobs(2)
    assert "Printer: kitchen" in jobs[1].text


async def test_printers_test_prints_directly_when_the_daemon_is_stopped(
    tmp_path: Path, kitchen: PrinterEmulator
) -> None:
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": kitchen.uri}])
    result = await edge_async("printers", "test", "kitchen", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    reply = json_out(result)
    [job] = await kitchen.wait_for_jobs(1)
    assert reply == {"ok": True, "printer": "kitchen", "bytes": len(job.raw)}

    assert job.raw.startswith(b"\x1b@\x1bt\x10"), "ESC @ then ESC t 16 (WPC1252)"
    assert b"\x80" in job.raw, "€ is byte 0x80 in cp1252"
    # Not decoded.raw_utf8_suspect: the page's "ÔŒ" is D4 8C in cp1252, which that
    # heuristic takes for a UTF-8 sequence. Checked byte-wise instead.
    assert not any(c.encode() in job.raw for c in "€èœÔ"), "never UTF-8"
    assert "Crème brûlée, œuf".encode("cp1252") in job.raw
    assert job.decoded.cut
    text = job.text
    assert "Printer: kitchen" in text
    assert "€12.50" in text, "the price line of the test page (store locale en)"
    assert "Crème brûlée" in text
    assert "œuf" in text
    assert not (tmp_path / "edge.db").exists(), "a test page needs no database"

    human = await edge_async("printers", "test", "kitchen", "--config", str(config))
    assert human.returncode == 0, human.stderr
    assert "test page sent to kitchen" in human.stdout
    await kitchen.wait_for_jobs(2)


async def test_printers_test_prints_nothing_while_the_printer_reports_a_fault(
    tmp_path: Path, kitchen: PrinterEmulator
) -> None:
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": kitchen.uri}])
    kitchen.set_fault(paper_out=True)
    result = await edge_async("printers", "test", "kitchen", "--config", str(config), "--json")
    assert result.returncode == 1
    assert json_out(result) == {
        "ok": False,
        "error": "kitchen: paper out; nothing printed",
        "fault": "paper_out",
    }
    kitchen.set_fault(paper_out=False)
    assert kitchen.jobs == [], "nothing was held in the printer to come out later"


async def test_printers_test_reports_an_unreachable_printer(tmp_path: Path) -> None:
    uri = f"tcp://127.0.0.1:{free_port()}"
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": uri}])
    result = await edge_async("printers", "test", "kitchen", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith("error: kitchen:")
    assert "Traceback" not in result.stderr

    ghost = await edge_async("printers", "test", "ghost", "--config", str(config), "--json")
    assert ghost.returncode == 1
    assert "no printer named 'ghost'" in json_out(ghost)["error"]


async def test_printers_status_asks_the_printer_when_the_daemon_is_stopped(
    tmp_path: Path, kitchen: PrinterEmulator
) -> None:
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": kitchen.uri}])
    cfg = ("--config", str(config))

    result = await edge_async("printers", "status", "kitchen", *cfg, "--json")
    assert result.returncode == 0, result.stderr
    state = json_out(result)
    assert state["source"] == "direct"
    assert (state["online"], state["paper"], state["cover_open"]) == (True, "ok", False)
    assert kitchen.status_requests > 0, "asked the printer itself"

    kitchen.set_fault(paper_out=True)
    result = await edge_async("printers", "status", "kitchen", *cfg, "--json")
    assert result.returncode == 1, "a printer that cannot print is a failure"
    state = json_out(result)
    assert (state["online"], state["paper"], state["error"]) == (False, "out", "paper_out")
    human = await edge_async("printers", "status", "kitchen", *cfg)
    assert human.returncode == 1
    assert re.search(r"paper: out", human.stdout)

    kitchen.set_fault(paper_out=False, near_end=True)
    result = await edge_async("printers", "status", "kitchen", *cfg, "--json")
    assert result.returncode == 0, result.stdout
    assert json_out(result)["paper"] == "near_end"
    assert kitchen.jobs == [], "asking for status prints nothing"


async def test_printers_status_of_an_unreachable_printer(tmp_path: Path) -> None:
    uri = f"tcp://127.0.0.1:{free_port()}"
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": uri}])
    result = await edge_async("printers", "status", "kitchen", "--config", str(config), "--json")
    assert result.returncode == 1
    state = json_out(result)
    assert state["online"] is False
    assert state["error"]


async def test_printers_discover_finds_an_announced_printer_and_marks_configured_ones(
    tmp_path: Path,
) -> None:
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    port = free_port()
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": f"tcp://127.0.0.1:{port}"}])
    kind = "_pdl-datastream._tcp.local."
    info = ServiceInfo(
        kind,
        f"Kitchen TM-T20.{kind}",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=port,
        properties={"ty": "EPSON TM-T20III"},
        server="kitchen-printer.local.",
    )
    # Loopback only (STYLE.md): announced and discovered on 127.0.0.1.
    azc = AsyncZeroconf(interfaces=["127.0.0.1"])
    try:
        await azc.async_register_service(info)
        result = await edge_async(
            "printers", "discover", "--only", "mdns", "--interface", "127.0.0.1",
            "--seconds", "3", "--config", str(config), "--json",
        )  # fmt: skip
    finally:
        await azc.async_unregister_service(info)
        await azc.async_close()
    assert result.returncode == 0, result.stderr
    assert json_out(result) == [
        {
            "source": "mdns",
            "uri": f"tcp://127.0.0.1:{port}",
            "name": "kitchen",
            "detail": "mDNS _pdl-datastream._tcp 'Kitchen TM-T20' (EPSON TM-T20III)",
            "configured": "kitchen",
        }
    ]


async def test_printers_discover_on_every_interface_needs_no_config() -> None:
    result = await edge_async("printers", "discover", "--seconds", "0", "--json")
    # 1 only where the machine has no interface to listen on; never a traceback.
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    assert isinstance(json_out(result), list if result.returncode == 0 else dict)


# ---- doctor ---------------------------------------------------------------------------------


def _checks(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    entries = json_out(result)
    assert isinstance(entries, list)
    for entry in entries:
        assert set(entry) == {"check", "ok", "detail", "fix"}, entry
        assert entry["ok"] in (True, False, None)
        assert entry["ok"] is not False or entry["fix"], (
            f"a failed check says how to fix it: {entry}"
        )
    names = [e["check"] for e in entries]
    assert len(names) == len(set(names)), f"one entry per check: {names}"
    return {e["check"]: e for e in entries}


async def test_doctor_passes_on_a_healthy_store(store: Store) -> None:
    result = await edge_async("doctor", *store.cfg, "--json")
    checks = _checks(result)
    assert set(checks) == {
        "config",
        "database",
        "storage",
        "broker",
        "daemon",
        "printer kitchen",
        "pos",
        "fonts",
        "clock",
    }
    assert result.returncode == 0, checks
    for name in ("config", "database", "storage", "broker", "daemon", "printer kitchen"):
        assert checks[name]["ok"] is True, checks[name]

    human = await edge_async("doctor", *store.cfg)
    assert human.returncode == 0
    assert len(human.stdout.splitlines()) == len(checks), "one line per check"


async def test_doctor_fails_when_a_printer_is_unreachable(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes: list[EdgeProcess],
) -> None:
    bar = f"tcp://127.0.0.1:{free_port()}"
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}, {"name": "bar", "uri": bar}],
    )
    edge_processes.append(EdgeProcess(config).start())
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", printer="bar", online=False)  # start-up check

    result = await edge_async("doctor", "--config", str(config), "--json")
    checks = _checks(result)
    assert result.returncode == 1
    assert checks["daemon"]["ok"] is True
    assert checks["printer kitchen"]["ok"] is True, checks["printer kitchen"]
    assert checks["printer bar"]["ok"] is False
    assert bar in checks["printer bar"]["detail"]
    assert [name for name, c in checks.items() if c["ok"] is False] == ["printer bar"]

    # The daemon checked the idle printer at start-up: `status` reports what it knows.
    status = await edge_async("printers", "status", "bar", "--config", str(config), "--json")
    assert status.returncode == 1
    state = json_out(status)
    assert state["source"] == "daemon"
    assert state["online"] is False


async def test_doctor_with_the_daemon_stopped(tmp_path: Path, kitchen: PrinterEmulator) -> None:
    bar = f"tcp://127.0.0.1:{free_port()}"
    config = offline_config(
        tmp_path, [{"name": "kitchen", "uri": kitchen.uri}, {"name": "bar", "uri": bar}]
    )
    result = await edge_async("doctor", "--config", str(config), "--json")
    checks = _checks(result)
    assert result.returncode == 1
    assert checks["daemon"]["ok"] is False
    assert "systemctl" in checks["daemon"]["fix"]
    assert checks["broker"]["ok"] is None, "no [cloud]: offline is a choice, not a failure"
    assert checks["printer kitchen"]["ok"] is True
    assert checks["printer bar"]["ok"] is False
    assert kitchen.jobs == []


async def test_doctor_reports_a_broken_config(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    result = await edge_async("doctor", "--config", str(config), "--json")
    assert result.returncode == 1
    checks = _checks(result)
    assert list(checks) == ["config"]
    assert "store.bogus" in checks["config"]["detail"]


# ---- control socket -------------------------------------------------------------------------


async def test_control_socket_answers_even_when_a_command_fails(tmp_path: Path) -> None:
    from edge.control import ControlServer, call
    from edge.errors import DaemonNotRunningError

    async def handler(command: str, args: dict[str, Any]) -> dict[str, Any]:
        if command == "boom":
            raise RuntimeError("disk on fire")
        return {"ok": True, "result": {"command": command, "args": args}}

    path = tmp_path / "control.sock"
    with pytest.raises(DaemonNotRunningError, match="not running"):
        await call(path, "ping")
    server = ControlServer(path, handler)
    task = asyncio.create_task(server.run())
    try:
        async with asyncio.timeout(10):
            await server.ready.wait()
        assert oct(path.stat().st_mode & 0o777) == "0o660"
        assert await call(path, "ping", {"x": 1}) == {
            "ok": True,
            "result": {"command": "ping", "args": {"x": 1}},
        }
        reply = await call(path, "boom")
        assert reply["ok"] is False
        assert reply["error"] == {"code": "internal", "message": "disk on fire"}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not path.exists(), "the socket file goes away with the server"


async def test_orders_show_png_renders_the_ticket_exactly_as_printed(store: Store) -> None:
    png = store.config.parent / "preview.png"
    shown = await edge_async("orders", "show", ORDER, *store.cfg, "--png", str(png), "--json")
    assert shown.returncode == 0, shown.stderr
    preview = json_out(shown)["preview"]
    assert preview["printer"] == "kitchen"
    # the preview is the very text the printer decoded from the bytes it received
    [printed] = store.kitchen.jobs
    assert preview["text"] == printed.text
    from PIL import Image

    with Image.open(png) as image:
        assert image.width == 48 * 12, "one 12-pixel column per character of an 80 mm printer"

    receipt = await edge_async(
        "orders", "show", ORDER, *store.cfg, "--png", str(png), "--ticket", "receipt", "--json"
    )
    assert receipt.returncode == 0, receipt.stderr
    assert "€45.50" in json_out(receipt)["preview"]["text"], "the order total on the receipt"
