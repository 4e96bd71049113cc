"""What this box cannot serve: every branch through a `Machine` of the test's making, then
`edge check-config` and `edge doctor` on this very machine (no Bluetooth here), and the daemon,
which starts and prints anyway."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drivers.emulator import PrinterEmulator
from drivers.escpos.fonts import FontChoice, font_report
from edge.cli import main
from edge.config import Config
from edge.config.serviceable import (
    Issue,
    Lack,
    Machine,
    font_issues,
    font_summary,
    unserviceable,
)
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config

CJK = FontChoice(
    "cjk", Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), "fonts-noto-cjk"
)
ARABIC = FontChoice(
    "arabic", Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), "fonts-dejavu-core"
)
THAI = FontChoice("thai", Path("/usr/share/fonts/truetype/tlwg/Loma.ttf"), "fonts-tlwg-loma-ttf")
# A box with everything: BlueZ, an adapter, Bluetooth sockets, every font.
FULL = Machine(
    has_bleak=True,
    has_system_bus=True,
    has_bluez=True,
    adapters=("hci0",),
    has_af_bluetooth=True,
    kernel_bluetooth=True,
    fonts=(CJK, ARABIC, THAI),
)
# A box with nothing of it (fonts not looked at).
BARE = Machine(
    has_bleak=False,
    has_system_bus=False,
    has_bluez=False,
    adapters=(),
    has_af_bluetooth=False,
    kernel_bluetooth=False,
    fonts=None,
)
EVERY_KIND = {
    "tcp": "tcp://192.168.1.50:9100",
    "usb": "usb://04b8:0202",
    "serial": "serial:///dev/ttyUSB0?baudrate=19200",
    "ble": "ble://00:11:22:AA:BB:CC",
    "rfcomm": "rfcomm://00:11:22:AA:BB:CD:2",
    "file": "file:///tmp/tickets.bin",
    "cloudprnt": "cloudprnt://00:11:62:AA:BB:CC",
}


def config(*uris: str, cloudprnt: bool = True) -> Config:
    """A config with one printer per URI, named after its scheme."""
    doc: dict[str, Any] = {
        "store": {"id": "st_test"},
        "printers": [{"name": uri.partition(":")[0], "uri": uri} for uri in uris],
    }
    if cloudprnt:
        doc["cloudprnt"] = {"listen": "127.0.0.1:8085"}
    return Config.model_validate(doc)


def lacks(issues: list[Issue]) -> dict[str | None, tuple[Lack, ...]]:
    return {issue.printer: issue.lacks for issue in issues}


# ---- printers, machine by machine -----------------------------------------------------------


def test_a_box_with_everything_serves_every_kind_of_printer() -> None:
    assert unserviceable(config(*EVERY_KIND.values()), FULL) == []


def test_a_bare_box_cannot_serve_bluetooth_but_unplugged_usb_and_serial_are_fine() -> None:
    issues = unserviceable(config(*EVERY_KIND.values()), BARE)
    assert lacks(issues) == {
        "ble": (Lack.NO_BLEAK, Lack.NO_SYSTEM_BUS, Lack.NO_BLUEZ, Lack.NO_ADAPTER),
        "rfcomm": (Lack.NO_PYTHON_BLUETOOTH, Lack.NO_ADAPTER),
    }
    [ble, rfcomm] = issues
    assert (ble.uri, rfcomm.uri) == (EVERY_KIND["ble"], EVERY_KIND["rfcomm"])
    assert "apt-get install bluez" in ble.fix
    assert "bleak" in ble.reason
    assert "no Bluetooth adapter found" in rfcomm.reason
    assert "AF_BLUETOOTH" in rfcomm.reason
    assert str(rfcomm).startswith(f"printer rfcomm ({EVERY_KIND['rfcomm']}): this box cannot")


@pytest.mark.parametrize(
    ("missing", "lack", "fix"),
    [
        ({"has_bleak": False}, Lack.NO_BLEAK, "reinstall store-edge"),
        ({"has_system_bus": False}, Lack.NO_SYSTEM_BUS, "apt-get install dbus"),
        ({"has_bluez": False}, Lack.NO_BLUEZ, "apt-get install bluez"),
        ({"adapters": ()}, Lack.NO_ADAPTER, "plug in a Bluetooth adapter"),
    ],
)
def test_ble_needs_bleak_bluez_on_the_system_bus_and_an_adapter(
    missing: dict[str, Any], lack: Lack, fix: str
) -> None:
    machine = replace(FULL, **missing)
    [issue] = unserviceable(config(EVERY_KIND["ble"], EVERY_KIND["tcp"]), machine)
    assert (issue.printer, issue.lacks) == ("ble", (lack,))
    assert issue.fix.startswith(fix)
    if lack != Lack.NO_ADAPTER:
        assert unserviceable(config(EVERY_KIND["rfcomm"]), machine) == [], "RFCOMM needs no BlueZ"


@pytest.mark.parametrize(
    ("missing", "lack", "fix"),
    [
        ({"has_af_bluetooth": False, "kernel_bluetooth": False}, Lack.NO_PYTHON_BLUETOOTH, "run"),
        ({"kernel_bluetooth": False}, Lack.NO_KERNEL_BLUETOOTH, "modprobe bluetooth rfcomm"),
        ({"adapters": ()}, Lack.NO_ADAPTER, "plug in a Bluetooth adapter"),
    ],
)
def test_rfcomm_needs_bluetooth_sockets_and_an_adapter_not_bluez(
    missing: dict[str, Any], lack: Lack, fix: str
) -> None:
    machine = replace(FULL, has_bleak=False, has_system_bus=False, has_bluez=False, **missing)
    [issue] = unserviceable(config(EVERY_KIND["rfcomm"]), machine)
    assert (issue.printer, issue.lacks) == ("rfcomm", (lack,))
    assert issue.fix.startswith(fix)


def test_cloudprnt_needs_the_server_table() -> None:
    # The config check refuses this already; a config built in code may still lack it.
    without = config(EVERY_KIND["cloudprnt"]).model_copy(update={"cloudprnt": None})
    [issue] = unserviceable(without, FULL)
    assert (issue.printer, issue.lacks) == ("cloudprnt", (Lack.NO_CLOUDPRNT_SERVER,))
    assert "[cloudprnt]" in issue.fix


# ---- fonts ------------------------------------------------------------------------------------


def test_a_missing_font_is_one_issue_per_package_to_install() -> None:
    fonts = (
        replace(CJK, path=None),
        replace(ARABIC, path=None),
        FontChoice("hebrew", None, "fonts-dejavu-core"),
        THAI,
    )
    issues = unserviceable(config(EVERY_KIND["tcp"]), replace(FULL, fonts=fonts))
    assert [(i.printer, i.lacks, i.fix) for i in issues] == [
        (None, (Lack.NO_FONT,), "apt-get install fonts-noto-cjk"),
        (None, (Lack.NO_FONT,), "apt-get install fonts-dejavu-core"),
    ]
    cjk, rtl = issues
    assert cjk.reason == 'no font for Chinese, Japanese and Korean text: it prints as "?"'
    assert rtl.reason == 'no font for Arabic, Hebrew text: it prints as "?"'
    assert str(cjk) == f"{cjk.reason}; fix: apt-get install fonts-noto-cjk"


def test_fonts_matter_only_to_a_box_with_printers() -> None:
    machine = replace(FULL, fonts=(replace(CJK, path=None),))
    assert unserviceable(config(), machine) == []
    assert unserviceable(config(EVERY_KIND["usb"]), replace(machine, fonts=None)) == []


def test_the_doctor_fonts_line() -> None:
    ok = font_summary(FULL)
    assert ok.ok is True
    assert ok.detail == (
        "Chinese, Japanese and Korean: NotoSansCJK-Regular.ttc; Arabic: DejaVuSans.ttf; "
        "Thai: Loma.ttf"
    )
    missing = font_summary(replace(FULL, fonts=(replace(CJK, path=None), ARABIC)))
    assert missing.ok is None, "yellow: the box prints, some names as '?'"
    assert missing.detail.startswith("no font for Chinese, Japanese and Korean text")
    assert "found Arabic: DejaVuSans.ttf" in missing.detail
    assert missing.fix == "apt-get install fonts-noto-cjk"
    unknown = font_summary(BARE)
    assert (unknown.ok, unknown.fix) == (None, "")
    assert font_issues(()) == []


# ---- this machine ------------------------------------------------------------------------------


def test_probing_this_machine() -> None:
    machine = Machine.probe()
    assert machine.has_bleak, "bleak is a pinned dependency"
    assert machine.has_af_bluetooth == hasattr(socket, "AF_BLUETOOTH")
    assert machine.has_af_bluetooth or not machine.kernel_bluetooth
    assert all(name.startswith("hci") and ":" not in name for name in machine.adapters)
    assert machine.fonts == tuple(font_report())


HERE = Machine.probe()
needs_no_bluetooth = pytest.mark.skipif(
    HERE.kernel_bluetooth and bool(HERE.adapters) and HERE.has_bluez and HERE.has_system_bus,
    reason="this machine has Bluetooth: the checks pass",
)


def bluetooth_config(tmp_path: Path, kitchen_uri: str) -> Path:
    return write_config(
        tmp_path / "edge.toml",
        broker_url=None,
        printers=[
            {"name": "kitchen", "uri": kitchen_uri},
            {"name": "bar", "uri": "rfcomm://00:11:22:AA:BB:CC:2"},
            {"name": "pass", "uri": "ble://00:11:22:AA:BB:CD"},
        ],
    )


@needs_no_bluetooth
def test_check_config_warns_and_still_passes(tmp_path: Path) -> None:
    path = bluetooth_config(tmp_path, "tcp://127.0.0.1:9100")
    runner = CliRunner()

    as_json = runner.invoke(main, ["check-config", "--config", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    warned = {w["printer"]: w for w in report["warnings"] if w["printer"] is not None}
    assert set(warned) == {"bar", "pass"}, "the TCP printer is fine"
    assert warned["bar"]["uri"] == "rfcomm://00:11:22:AA:BB:CC:2"
    assert warned["bar"]["lacks"], warned["bar"]
    assert all(w["reason"] and w["fix"] for w in report["warnings"])

    human = runner.invoke(main, ["check-config", "--config", str(path)])
    assert human.exit_code == 0, human.output
    assert f"{path}: OK" in human.output
    assert "warning: printer bar (rfcomm://00:11:22:AA:BB:CC:2): this box cannot serve" in (
        human.output
    )
    assert "warning: printer pass (ble://" in human.output
    assert "warning: printer kitchen" not in human.output


def edge(*args: str) -> subprocess.CompletedProcess[str]:
    """`edge ARGS` as a child process, the way a technician runs it."""
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


@needs_no_bluetooth
async def test_doctor_fails_each_printer_it_cannot_serve_with_the_fix(
    tmp_path: Path, kitchen: PrinterEmulator
) -> None:
    path = bluetooth_config(tmp_path, kitchen.uri)
    result = await asyncio.to_thread(edge, "doctor", "--config", str(path), "--json")
    assert result.returncode == 1, "a FAIL line fails the doctor"
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["printer kitchen"]["ok"] is True, "the TCP printer is asked as before"
    for name, uri in (("bar", "rfcomm://00:11:22:AA:BB:CC:2"), ("pass", "ble://")):
        line = checks[f"printer {name}"]
        assert line["ok"] is False
        assert line["detail"].startswith(uri)
        assert "this box cannot serve it" in line["detail"]
        assert line["fix"]
    assert "apt-get install bluez" in checks["printer pass"]["fix"] or HERE.has_bluez
    assert checks["fonts"]["ok"] in (True, None)
    assert checks["fonts"]["detail"]

    human = await asyncio.to_thread(edge, "doctor", "--config", str(path))
    [bar] = [line for line in human.stdout.splitlines() if "printer bar" in line]
    assert bar.startswith("[FAIL]")
    assert "→" in bar, "with its fix"
    assert len(re.findall(r"^\[.{4}\] fonts ", human.stdout, re.MULTILINE)) == 1


@needs_no_bluetooth
async def test_the_daemon_starts_and_prints_beside_a_printer_it_cannot_serve(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes: list[EdgeProcess],
) -> None:
    path = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[
            {"name": "kitchen", "uri": kitchen.uri},
            {"name": "bar", "uri": "rfcomm://00:11:22:AA:BB:CC"},
        ],
    )
    proc = EdgeProcess(path).start()
    edge_processes.append(proc)
    await cloud.wait_event("edge.connected")
    [bar] = await cloud.wait_event("printer.status", printer="bar", online=False)
    assert bar["data"]["error"] is not None
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.wait_event("order.printed", printer="kitchen")
    [ticket] = await kitchen.wait_for_jobs(1)
    assert "Uber Eats A1B2C" in ticket.text
    assert proc.proc is not None
    assert proc.proc.poll() is None, "still running"
