"""Discovery: the runner, naming and marking, and the USB, serial and CloudPRNT sources."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.transports.serial import parse_serial_uri
from drivers.transports.usb import parse_usb_uri
from edge.config import PrinterConfig
from edge.control import ControlServer
from edge.discover import (
    Found,
    Source,
    SourceFailed,
    SourceProgress,
    SourceRun,
    SourceSkipped,
    SourceState,
    candidates,
    discover,
    toml_report,
)
from edge.discover.cloudprnt import find_cloudprnt
from edge.discover.found import Tick
from edge.discover.serial import SerialPort, find_serial
from edge.discover.uris import same_device
from edge.discover.usb import find_usb

# ---- same device, named two ways ------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "found", "same"),
    [
        ("tcp://192.168.1.50", "tcp://192.168.1.50:9100", True),
        ("tcp://Printer.LAN:9100", "tcp://printer.lan:9100", True),
        ("tcp://192.168.1.50:9101", "tcp://192.168.1.50:9100", False),
        ("ble://aa:bb:cc:dd:ee:ff?chunk=20&gap_ms=20", "ble://AA:BB:CC:DD:EE:FF", True),
        ("cloudprnt://00:11:62:aa:bb:cc", "cloudprnt://00:11:62:AA:BB:CC", True),
        ("cloudprnt://00:11:62:AA:BB:CC", "ble://00:11:62:AA:BB:CC", False),
        ("usb://4b8:202", "usb://04b8:0202?serial=X1", True),  # no serial: any of those ids
        ("usb://04B8:0202?serial=X1", "usb://04b8:0202?serial=X1", True),
        ("usb://04b8:0202?serial=X2", "usb://04b8:0202?serial=X1", False),
        ("serial:///dev/ttyUSB0?baudrate=19200", "serial:///dev/ttyUSB0", True),
        ("serial:///dev/ttyUSB1", "serial:///dev/ttyUSB0", False),
    ],
)
def test_same_device(configured: str, found: str, same: bool) -> None:
    assert same_device(configured, found) is same


# ---- names, marks and the TOML blocks -------------------------------------------------------


def found(uri: str, label: str, source: Source = Source.SWEEP, **kw: Any) -> Found:
    return Found(source, uri, label, f"seen at {uri}", **kw)


def test_names_are_unique_and_configured_printers_are_marked_and_commented_out() -> None:
    result = candidates(
        [
            found("tcp://192.168.1.50:9100", "Kitchen", Source.MDNS),
            found("tcp://192.168.1.51:9100", "Kitchen", Source.MDNS),
            found("tcp://192.168.1.52:9100", "kitchen!", Source.MDNS),
            found("usb://04b8:0202?serial=X1", "TM-T20III", Source.USB),
            found(
                "serial:///dev/serial/by-id/usb-FTDI-if00",
                "",
                Source.SERIAL,
                aliases=("serial:///dev/ttyUSB0",),
            ),
        ],
        [
            ("bar", "tcp://192.168.1.50"),
            ("kitchen", "tcp://10.0.0.9"),
            ("pass", "serial:///dev/ttyUSB0"),
        ],
    )
    assert [(c.name, c.configured) for c in result] == [
        ("bar", "bar"),
        ("kitchen-2", None),  # "kitchen" is taken by a configured printer
        ("kitchen-3", None),
        ("tm-t20iii", None),
        ("pass", "pass"),  # by its /dev/ttyUSB0 alias
    ]
    out = toml_report(result, ["Bluetooth LE skipped: no Bluetooth adapter"])
    doc = tomllib.loads(out)  # the whole output pastes as TOML
    new = [PrinterConfig.model_validate(p) for p in doc["printers"]]  # and is a valid config
    assert [(p.name, p.uri) for p in new] == [
        ("kitchen-2", "tcp://192.168.1.51:9100"),
        ("kitchen-3", "tcp://192.168.1.52:9100"),
        ("tm-t20iii", "usb://04b8:0202?serial=X1"),
    ]
    assert "# already configured as 'bar'\n# [[printers]]\n# name = \"bar\"" in out
    assert "# mDNS: seen at tcp://192.168.1.51:9100\n[[printers]]" in out
    assert out.endswith("# Bluetooth LE skipped: no Bluetooth adapter")
    assert result[1].document() == {
        "source": "mdns",
        "uri": "tcp://192.168.1.51:9100",
        "name": "kitchen-2",
        "detail": "seen at tcp://192.168.1.51:9100",
        "configured": None,
    }


def test_nothing_found_says_how_to_look_further() -> None:
    assert "--sweep" in toml_report([], [])


# ---- the runner -----------------------------------------------------------------------------


def run(source: Source, result: list[Found] | Exception, deadline_s: float = 5.0) -> SourceRun:
    async def find(tick: Tick) -> list[Found]:
        tick(0, 2)
        if isinstance(result, Exception):
            raise result
        tick(2, 2)
        return result

    return SourceRun(source, find, deadline_s)


async def test_sources_run_together_and_one_failing_never_stops_the_others() -> None:
    hang = asyncio.Event()

    async def forever(tick: Tick) -> list[Found]:
        await hang.wait()  # never set: the deadline ends it
        return []

    seen: list[SourceProgress] = []
    report = await discover(
        [
            run(Source.MDNS, [found("tcp://10.0.0.5:9100", "a", Source.MDNS)]),
            run(Source.SWEEP, [found("tcp://10.0.0.5", "b"), found("tcp://10.0.0.6:9100", "c")]),
            run(Source.USB, SourceSkipped("no USB bus")),
            run(Source.SERIAL, SourceFailed("cannot list ports")),
            SourceRun(Source.BLE, forever, 0.05),
        ],
        seen.append,
    )
    # The sweep's 10.0.0.5 is the mDNS printer: one entry, what both said.
    assert [(f.source, f.uri) for f in report.found] == [
        (Source.MDNS, "tcp://10.0.0.5:9100"),
        (Source.SWEEP, "tcp://10.0.0.6:9100"),
    ]
    assert (
        report.found[0].detail == "seen at tcp://10.0.0.5:9100; port sweep: seen at tcp://10.0.0.5"
    )
    states = {s: (p.state, p.note) for s, p in report.sources.items()}
    assert states == {
        Source.MDNS: (SourceState.DONE, ""),
        Source.SWEEP: (SourceState.DONE, ""),
        Source.USB: (SourceState.SKIPPED, "no USB bus"),
        Source.SERIAL: (SourceState.FAILED, "cannot list ports"),
        Source.BLE: (SourceState.FAILED, "did not finish within 0.05 s"),
    }
    assert not report.all_failed
    sweep = [(p.state, p.done, p.total, p.found) for p in seen if p.source is Source.SWEEP]
    assert sweep == [
        (SourceState.RUNNING, 0, None, 0),
        (SourceState.RUNNING, 0, 2, 0),
        (SourceState.RUNNING, 2, 2, 0),
        (SourceState.DONE, 2, 2, 2),
    ]


async def test_when_every_source_that_ran_failed_the_discovery_failed() -> None:
    report = await discover(
        [run(Source.MDNS, SourceFailed("no interface")), run(Source.BLE, SourceSkipped("no"))]
    )
    assert report.all_failed


# ---- USB ------------------------------------------------------------------------------------


def usb_device(root: Path, name: str, **files: str) -> Path:
    path = root / "bus" / "usb" / "devices" / name
    path.mkdir(parents=True)
    for key, value in files.items():
        (path / key).write_text(value + "\n")
    return path


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    usb_device(root, "1-1", idVendor="04b8", idProduct="0202", manufacturer="EPSON",
               product="TM-T20III", serial="X1 Y/2")  # fmt: skip
    printer_if = usb_device(root, "1-1:1.0", bInterfaceClass="07", bInterfaceProtocol="02")
    (root / "bus" / "usb" / "drivers" / "usblp").mkdir(parents=True)
    (printer_if / "driver").symlink_to(root / "bus" / "usb" / "drivers" / "usblp")
    usb_device(root, "1-1:1.1", bInterfaceClass="07", bInterfaceProtocol="02")  # same device
    usb_device(root, "1-2", idVendor="046d", idProduct="c31c", product="Keyboard")
    usb_device(root, "1-2:1.0", bInterfaceClass="03")
    usb_device(root, "2-1", idVendor="0fe6", idProduct="811e")  # no strings, no serial
    usb_device(root, "2-1:1.0", bInterfaceClass="07", bInterfaceProtocol="01")
    usb_device(root, "usb1", idVendor="1d6b", idProduct="0002")  # a root hub
    return root


async def test_usb_printer_class_devices_from_sysfs(sysfs: Path) -> None:
    result = await find_usb(sysfs)
    assert [(f.uri, f.label, f.detail) for f in result] == [
        (
            "usb://04b8:0202?serial=X1%20Y%2F2",
            "TM-T20III",
            "USB printer class: EPSON TM-T20III, bidirectional, serial X1 Y/2, driver usblp",
        ),
        (
            "usb://0fe6:811e",
            "USB printer",
            "USB printer class: USB printer, unidirectional, no kernel driver bound",
        ),
    ]
    address = parse_usb_uri(result[0].uri)  # the transport finds the same device again
    assert (address.vendor_id, address.product_id, address.serial) == (0x04B8, 0x0202, "X1 Y/2")
    assert PrinterConfig(name="p", uri=result[0].uri).uri == result[0].uri


async def test_a_machine_without_usb_is_skipped(tmp_path: Path) -> None:
    with pytest.raises(SourceSkipped, match="no USB bus"):
        await find_usb(tmp_path)


# ---- serial ---------------------------------------------------------------------------------


@pytest.fixture
def pty() -> Iterator[str]:
    """A real serial-like device: the slave end of a pseudo-terminal."""
    leader, follower = os.openpty()
    try:
        yield os.ttyname(follower)
    finally:
        os.close(leader)
        os.close(follower)


async def test_serial_ports_prefer_their_by_id_path_and_are_only_possible_printers(
    tmp_path: Path, pty: str
) -> None:
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0").symlink_to(pty)

    def lister() -> list[SerialPort]:
        return [
            SerialPort(pty, "FT232R USB UART", "FTDI", "FT232R USB UART", 0x0403, 0x6001),
            SerialPort("/dev/ttyS0"),
        ]

    result = await find_serial(lister, by_id)
    stable = f"serial://{by_id}/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"
    assert [(f.uri, f.aliases) for f in result] == [
        (stable, (f"serial://{pty}",)),
        ("serial:///dev/ttyS0", ()),
    ]
    assert f"possible printer on serial port ({pty}): FT232R USB UART [0403:6001]" in (
        result[0].detail
    )
    assert "cannot say what is behind it" in result[1].detail
    assert parse_serial_uri(result[0].uri).path == str(by_id / result[0].uri.rpartition("/")[2])
    # A configured printer on the plain device path is the same port.
    marked = candidates(result, [("bar", f"serial://{pty}?baudrate=19200")])
    assert [(c.name, c.configured) for c in marked] == [("bar", "bar"), ("ttys0", None)]
    # The card reader's port is never offered as a printer.
    excluded = await find_serial(lister, by_id, excluded=[str(by_id / os.listdir(by_id)[0])])
    assert [f.uri for f in excluded] == ["serial:///dev/ttyS0"]


async def test_pyserial_lists_this_machines_ports() -> None:
    from edge.discover.serial import pyserial_ports

    ports = await asyncio.to_thread(pyserial_ports)
    assert all(p.device.startswith("/dev/") for p in ports)


# ---- CloudPRNT printers that polled the daemon ----------------------------------------------


@contextlib.asynccontextmanager
async def daemon_answering(path: Path, status: dict[str, Any]) -> AsyncIterator[None]:
    async def handler(command: str, args: dict[str, Any]) -> dict[str, Any]:
        assert command == "status"
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


async def test_cloudprnt_printers_that_polled_the_daemon(tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    polled = {
        "printers": [],
        "cloudprnt": {
            "printers": [
                {"mac": "00:11:62:aa:bb:cc", "last_poll_at": "2026-11-23T18:02:11Z",
                 "status_code": "200 OK", "client_type": "Star Intelligent Interface HI01X"},
                {"mac": "not-a-mac", "last_poll_at": None},
                "garbage",
            ]
        },
    }  # fmt: skip
    async with daemon_answering(sock, polled):
        result = await find_cloudprnt(sock)
    assert [(f.source, f.uri, f.label) for f in result] == [
        (Source.CLOUDPRNT, "cloudprnt://00:11:62:AA:BB:CC", "Star Intelligent Interface HI01X")
    ]
    assert result[0].detail == (
        "polled this box's CloudPRNT server, last at 2026-11-23T18:02:11Z, status 200 OK "
        "(Star Intelligent Interface HI01X)"
    )
    async with daemon_answering(sock, {"printers": []}):  # a daemon without CloudPRNT
        assert await find_cloudprnt(sock) == []
    assert await find_cloudprnt(sock) == []  # no daemon at all
