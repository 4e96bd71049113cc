"""`edge printers discover` as a technician runs it: a child process, printers emulated on
loopback addresses, a config that already has one of them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from drivers.emulator import PrinterEmulator
from edge.config import PrinterConfig
from edge.control import ControlServer
from tests.edge.test_cli import edge_async, json_out, offline_config
from tests.support.broker import free_port
from tests.support.cloudprnt_printer import SimulatedPrinter
from tests.support.edge_process import EdgeProcess

KEYS = {"source", "uri", "name", "detail", "configured"}


@pytest.fixture
async def printers() -> AsyncIterator[tuple[PrinterEmulator, PrinterEmulator]]:
    """A printer on 127.0.0.1 and one that never answers status on 127.0.0.2, same port."""
    async with PrinterEmulator(name="kitchen", host="127.0.0.1") as answering:
        silent = PrinterEmulator(name="bar", host="127.0.0.2", port=answering.port)
        silent.status_mode = "silent"
        async with silent:
            yield answering, silent


async def test_a_sweep_lists_printers_and_marks_the_configured_one(
    tmp_path: Path, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    answering, _ = printers
    port = answering.port
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": f"tcp://127.0.0.1:{port}"}])
    result = await edge_async(
        "printers", "discover", "--only", "sweep", "--sweep", "127.0.0.0/30",
        "--port", str(port), "--config", str(config), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json_out(result) == [
        {
            "source": "sweep",
            "uri": f"tcp://127.0.0.1:{port}",
            "name": "kitchen",
            "detail": "answered an ESC/POS status request: ready, paper ok",
            "configured": "kitchen",
        },
        {
            "source": "sweep",
            "uri": f"tcp://127.0.0.2:{port}",
            "name": "printer-127-0-0-2",
            "detail": f"port {port} open, no status answer",
            "configured": None,
        },
    ]
    assert result.stderr == ""


async def test_every_source_at_once_with_the_printer_swept_and_announced(
    tmp_path: Path, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    """The whole command: mDNS (loopback), the sweep, USB, serial ports, Bluetooth LE (or why
    not), CloudPRNT (no daemon: quietly nothing). What USB and serial find depends on this
    machine; everything listed must paste into a valid config."""
    answering, _ = printers
    port = answering.port
    config = offline_config(tmp_path, [])
    info = ServiceInfo(
        "_pdl-datastream._tcp.local.",
        "Kitchen TM-T20._pdl-datastream._tcp.local.",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=port,
        properties={"ty": "EPSON TM-T20III"},
        server="kitchen-printer.local.",
    )
    azc = AsyncZeroconf(interfaces=["127.0.0.1"])
    try:
        await (await azc.async_register_service(info))  # probed and announced
        result = await edge_async(
            "printers", "discover", "--interface", "127.0.0.1", "--seconds", "1.5",
            "--sweep", "127.0.0.1/32", "--port", str(port), "--ble-seconds", "0.5",
            "--config", str(config), "--json",
        )  # fmt: skip
    finally:
        await azc.async_unregister_service(info)
        await azc.async_close()
    assert result.returncode == 0, result.stderr
    found = json_out(result)
    assert all(set(f) == KEYS for f in found), found
    first = found[0]  # announced and swept: one entry, saying both
    assert first["source"] == "mdns"
    assert first["uri"] == f"tcp://127.0.0.1:{port}"
    assert first["name"] == "epson-tm-t20iii"
    assert first["detail"] == (
        "mDNS _pdl-datastream._tcp 'Kitchen TM-T20' (EPSON TM-T20III); port sweep: "
        "answered an ESC/POS status request: ready, paper ok"
    )
    assert len({f["uri"] for f in found}) == len(found)
    assert len({f["name"] for f in found}) == len(found)
    for f in found:
        assert f["source"] in {"mdns", "usb", "serial", "ble"}
        assert PrinterConfig(name=f["name"], uri=f["uri"]).uri == f["uri"]
    # What could not run says why, on stderr: stdout stays one JSON document.
    for line in result.stderr.splitlines():
        assert line.split(" ")[0] in {"USB", "serial", "Bluetooth", "mDNS"}, line


async def test_human_output_is_toml_to_paste(
    tmp_path: Path, printers: tuple[PrinterEmulator, PrinterEmulator]
) -> None:
    answering, _ = printers
    port = answering.port
    config = offline_config(tmp_path, [{"name": "kitchen", "uri": f"tcp://127.0.0.1:{port}"}])
    result = await edge_async(
        "printers", "discover", "--only", "sweep", "--only", "ble", "--ble-seconds", "0",
        "--sweep", "127.0.0.0/30", "--port", str(port), "--config", str(config),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("# 2 printer(s) found, 1 not configured yet")
    assert "# already configured as 'kitchen'\n# [[printers]]" in out
    assert f"# port sweep: port {port} open, no status answer\n[[printers]]" in out
    doc = tomllib.loads(out)
    assert doc == {"printers": [{"name": "printer-127-0-0-2", "uri": f"tcp://127.0.0.2:{port}"}]}
    # Bluetooth LE ran (a fake-free machine here): it found nothing, or says why it could not.
    ble = [line for line in out.splitlines() if line.startswith("# Bluetooth LE")]
    assert all("skipped" in line or "failed" in line for line in ble), ble


async def test_a_closed_port_finds_nothing(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        result = await edge_async(
            "printers", "discover", "--only", "sweep", "--sweep", "127.0.0.1/32",
            "--port", str(port), "--json",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json_out(result) == []


async def test_a_sweep_larger_than_a_slash_22_is_refused_with_why() -> None:
    result = await edge_async("printers", "discover", "--sweep", "10.0.0.0/21", "--json")
    assert result.returncode == 2
    assert "10.0.0.0/21 holds 2048 addresses; a sweep covers at most 1024" in result.stderr
    result = await edge_async("printers", "discover", "--only", "sweep", "--json")
    assert result.returncode == 2
    assert "the sweep needs a subnet: --sweep CIDR" in result.stderr


@contextlib.asynccontextmanager
async def daemon_answering(path: Path, status: dict[str, Any]) -> AsyncIterator[None]:
    """The daemon's control socket, answering `status` (the CloudPRNT server's printers)."""

    async def handler(command: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": "local-1", "ok": True, "result": status}

    server = ControlServer(path, handler)
    task = asyncio.create_task(server.run())
    try:
        async with asyncio.timeout(5):
            await server.ready.wait()
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_cloudprnt_printers_that_polled_the_running_daemon(tmp_path: Path) -> None:
    config = offline_config(tmp_path, [{"name": "bar", "uri": "cloudprnt://00:11:62:aa:bb:01"}])
    with config.open("a", encoding="utf-8") as f:
        f.write('\n[cloudprnt]\nlisten = "127.0.0.1:8085"\n')
    status = {
        "printers": [],
        "cloudprnt": {
            "printers": [
                {"mac": "00:11:62:AA:BB:01", "last_poll_at": "2026-11-23T18:02:11Z",
                 "status_code": "200 OK", "client_type": "Star mC-Print3"},
                {"mac": "00:11:62:AA:BB:02", "last_poll_at": "2026-11-23T18:02:12Z",
                 "status_code": "200 OK", "client_type": "Star mC-Print3"},
            ]
        },
    }  # fmt: skip
    async with daemon_answering(tmp_path / "control.sock", status):
        result = await edge_async(
            "printers", "discover", "--only", "cloudprnt", "--config", str(config), "--json"
        )
    assert result.returncode == 0, result.stderr
    assert [(f["uri"], f["name"], f["configured"]) for f in json_out(result)] == [
        ("cloudprnt://00:11:62:AA:BB:01", "bar", "bar"),
        ("cloudprnt://00:11:62:AA:BB:02", "star-mc-print3", None),
    ]


async def test_a_polling_cloudprnt_printer_is_listed_by_the_real_daemon(tmp_path: Path) -> None:
    """End to end: the daemon's CloudPRNT server, two simulated Star printers polling it (one
    configured, one not), and `discover` reading them from the daemon's `status`."""
    port = free_port()
    config = offline_config(tmp_path, [{"name": "bar", "uri": "cloudprnt://00:11:62:00:00:01"}])
    with config.open("a", encoding="utf-8") as f:
        f.write(f'\n[cloudprnt]\nlisten = "127.0.0.1:{port}"\n')
    daemon = EdgeProcess(config).start()
    url = f"http://127.0.0.1:{port}/cloudprnt"
    try:
        async with (
            SimulatedPrinter(url, mac="00:11:62:00:00:01", poll_interval=0.05) as bar,
            SimulatedPrinter(url, mac="00:11:62:00:00:02", poll_interval=0.05) as stranger,
        ):
            await bar.wait_until(lambda: 200 in bar.poll_statuses, timeout=30)
            await stranger.wait_until(lambda: bool(stranger.poll_statuses), timeout=30)
            result = await edge_async(
                "printers", "discover", "--only", "cloudprnt", "--config", str(config), "--json"
            )
    finally:
        await asyncio.to_thread(daemon.terminate)
    assert result.returncode == 0, result.stderr
    found = json_out(result)
    assert [(f["uri"], f["name"], f["configured"]) for f in found] == [
        ("cloudprnt://00:11:62:00:00:01", "bar", "bar"),
        ("cloudprnt://00:11:62:00:00:02", "cloudprnt-0002", None),
    ]
    assert found[0]["detail"].startswith("polled this box's CloudPRNT server, last at 20")
    assert found[0]["detail"].endswith(", status 200 OK (Star mC-Print3)")
    # Not configured: the server refuses it, and says so (it never gets a job).
    assert found[1]["detail"].endswith(
        "refused (403) until configured or listed in [cloudprnt] allowed_macs"
    )
