"""usb:// against a fake sysfs tree, with a pty standing in for the usblp device node.

No USB hardware is here: without pyusb, the pyusb path is only checked for its clear error
here; test_usb_pyusb.py runs it on a fake libusb.
"""

import asyncio
import contextlib
import os
import sys
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.errors import DeviceUnavailableError, UnsupportedTransportError, WriteTimeoutError
from drivers.realtime import PrinterStatus, query_status
from drivers.transports import transport_for
from drivers.transports.usb import (
    UsbAddress,
    UsbTransport,
    find_usb_devices,
    find_usblp,
    parse_usb_uri,
)
from tests.drivers.test_serial_transport import Pty, play_printer, read_master

DEADLINE = 10.0
HEALTHY = 0x12


@pytest.fixture
def pty() -> Iterator[Pty]:
    """A raw pty: the kernel's usblp node does no line processing, so neither may this one."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    try:
        yield Pty(master, slave, os.ttyname(slave))
    finally:
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class Machine:
    """A fake /sys and /dev laid out as Linux lays them out for USB printers."""

    def __init__(self, root: Path) -> None:
        self.sysfs = root / "sys"
        self.dev = root / "dev"
        self.bus = self.sysfs / "bus" / "usb" / "devices"
        self.bus.mkdir(parents=True)
        self._usb1 = self.sysfs / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1"
        self._device(self._usb1, "usb1", "1d6b", "0002", "0000:00:14.0")  # the root hub

    def _device(self, path: Path, bus_id: str, vid: str, pid: str, serial: str | None) -> None:
        path.mkdir(parents=True)
        (path / "idVendor").write_text(f"{vid}\n")
        (path / "idProduct").write_text(f"{pid}\n")
        if serial is not None:
            (path / "serial").write_text(f"{serial}\n")
        (self.bus / bus_id).symlink_to(os.path.relpath(path, self.bus))

    def plug(
        self,
        port: str,
        vid: str,
        pid: str,
        serial: str | None = None,
        *,
        lp: str | None = None,
        node: str | None = None,
    ) -> None:
        """A USB device on root port `port`; held by usblp as `lp`, its node linked to `node`."""
        bus_id = f"1-{port}"
        device = self._usb1 / bus_id
        self._device(device, bus_id, vid, pid, serial)
        interface = device / f"{bus_id}:1.0"
        interface.mkdir()
        (interface / "bInterfaceClass").write_text("07\n")
        (self.bus / interface.name).symlink_to(os.path.relpath(interface, self.bus))
        if lp is None:
            return
        entry = interface / "usbmisc" / lp
        entry.mkdir(parents=True)
        (entry / "device").symlink_to("../..")
        (entry / "dev").write_text("180:0\n")
        usbmisc = self.sysfs / "class" / "usbmisc"
        usbmisc.mkdir(parents=True, exist_ok=True)
        (usbmisc / lp).symlink_to(os.path.relpath(entry, usbmisc))
        if node is not None:
            (self.dev / "usb").mkdir(parents=True, exist_ok=True)
            (self.dev / "usb" / lp).symlink_to(node)

    def transport(self, uri: str, *, write_timeout: float = DEADLINE) -> UsbTransport:
        return UsbTransport(
            uri, write_timeout=write_timeout, sysfs_root=self.sysfs, dev_root=self.dev
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


@pytest.fixture
def no_pyusb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usb", None)


def test_uri_parsing() -> None:
    assert parse_usb_uri("usb://04b8:0202") == UsbAddress(0x04B8, 0x0202)
    assert parse_usb_uri("usb://4B8:202?serial=J7PF0123") == UsbAddress(0x04B8, 0x0202, "J7PF0123")
    assert str(UsbAddress(0x0416, 0x5011, "A1")) == "0416:5011 (serial A1)"


@pytest.mark.parametrize(
    "uri",
    [
        "usb://04b8",
        "usb://04b8:",
        "usb://xyz:0202",
        "usb://04b81:0202",
        "usb://04b8:0202/lp0",
        "usb://04b8:0202?port=1",
        "usb://04b8:0202?serial=",
        "usb://04b8:0202?serial=a&serial=b",
    ],
)
def test_bad_uri_is_unsupported(uri: str) -> None:
    with pytest.raises(UnsupportedTransportError):
        transport_for(uri)


def test_registered_for_its_scheme() -> None:
    transport = transport_for("usb://04b8:0202")
    assert isinstance(transport, UsbTransport)
    assert not transport.is_open


def test_sysfs_lookup(machine: Machine) -> None:
    machine.plug("1", "04b8", "0202", "AAA", lp="lp0", node="/nowhere/lp0")
    machine.plug("2", "04b8", "0202", "BBB", lp="lp1", node="/nowhere/lp1")
    machine.plug("3", "0416", "5011")
    sysfs, dev = machine.sysfs, machine.dev

    held = find_usblp(UsbAddress(0x04B8, 0x0202, "BBB"), sysfs, dev)
    assert [(lp.name, lp.device.serial, lp.device.sysfs_path.name) for lp in held] == [
        ("lp1", "BBB", "1-2")
    ]
    assert held[0].node is None  # the node's target does not exist
    assert len(find_usblp(UsbAddress(0x04B8, 0x0202), sysfs, dev)) == 2
    assert find_usblp(UsbAddress(0x0416, 0x5011), sysfs, dev) == []
    assert find_usblp(UsbAddress(0x04B8, 0x0202, "CCC"), sysfs, dev) == []

    present = find_usb_devices(UsbAddress(0x0416, 0x5011), sysfs)
    assert present is not None
    assert [(d.sysfs_path.name, d.serial) for d in present] == [("1-3", None)]
    assert find_usb_devices(UsbAddress(0x0416, 0x5011), machine.dev) is None  # no USB bus


async def test_writes_through_the_usblp_node(machine: Machine, pty: Pty) -> None:
    machine.plug("1", "0416", "5011", lp="lp0")
    machine.plug("4", "04b8", "0202", "J7PF0123", lp="lp3", node=pty.path)
    transport = machine.transport("usb://04b8:0202?serial=J7PF0123")
    await transport.open()
    try:
        assert transport.is_open
        assert transport.bidirectional
        ticket = bytes(range(256)) * 400
        received, _ = await asyncio.gather(read_master(pty, len(ticket)), transport.write(ticket))
        assert received == ticket
    finally:
        await transport.close()
        await transport.close()
    assert not transport.is_open


async def test_status_is_read_back_through_the_usblp_node(machine: Machine, pty: Pty) -> None:
    machine.plug("1", "04b8", "0202", lp="lp0", node=pty.path)
    requests: list[int] = []
    printer = asyncio.create_task(play_printer(pty, {1: HEALTHY, 2: HEALTHY, 4: HEALTHY}, requests))
    transport = machine.transport("usb://04b8:0202")
    await transport.open()
    try:
        assert await query_status(transport, timeout=DEADLINE) == PrinterStatus(
            online=True, paper="ok", cover_open=False, error=False
        )
        assert await transport.read(1, 0.05) == b""  # a silent printer is tolerated
    finally:
        printer.cancel()
        await transport.close()
    assert requests == [1, 2, 4]


async def test_write_times_out_when_the_printer_stops_taking_data(
    machine: Machine, pty: Pty
) -> None:
    machine.plug("1", "04b8", "0202", lp="lp0", node=pty.path)
    transport = machine.transport("usb://04b8:0202", write_timeout=0.3)
    await transport.open()
    ticket = b"x" * (1024 * 1024)
    try:
        with pytest.raises(WriteTimeoutError) as caught:
            async with asyncio.timeout(DEADLINE):
                await transport.write(ticket)
        assert 0 < caught.value.sent < len(ticket)
        assert not transport.is_open
    finally:
        await transport.close()


async def test_two_identical_printers_need_a_serial(machine: Machine, pty: Pty) -> None:
    machine.plug("1", "04b8", "0202", "AAA", lp="lp0", node=pty.path)
    machine.plug("2", "04b8", "0202", "BBB", lp="lp1", node=pty.path)
    with pytest.raises(UnsupportedTransportError, match=r"\?serial=.*AAA, BBB"):
        await machine.transport("usb://04b8:0202").open()


async def test_nothing_connected_is_unavailable(machine: Machine) -> None:
    machine.plug("1", "0416", "5011", lp="lp0")
    with pytest.raises(DeviceUnavailableError, match="no USB printer 04b8:0202 is connected"):
        await machine.transport("usb://04b8:0202").open()
    machine.plug("2", "04b8", "0202", "AAA")
    with pytest.raises(DeviceUnavailableError, match=r"04b8:0202 \(serial BBB\) is connected"):
        await machine.transport("usb://04b8:0202?serial=BBB").open()


@pytest.mark.usefixtures("no_pyusb")
async def test_printer_without_usblp_needs_pyusb(machine: Machine) -> None:
    machine.plug("1", "04b8", "0202")
    with pytest.raises(
        UnsupportedTransportError,
        match=r"connected but .* does not hold it.*pyusb is not installed",
    ):
        await machine.transport("usb://04b8:0202").open()


@pytest.mark.usefixtures("no_pyusb")
async def test_usblp_without_a_device_node_needs_pyusb(machine: Machine) -> None:
    machine.plug("1", "04b8", "0202", lp="lp0")
    with pytest.raises(UnsupportedTransportError, match="lp0 but no device node"):
        await machine.transport("usb://04b8:0202").open()


@pytest.mark.usefixtures("no_pyusb")
async def test_machine_without_usb_is_unsupported(tmp_path: Path) -> None:
    transport = UsbTransport("usb://04b8:0202", sysfs_root=tmp_path, dev_root=tmp_path)
    with pytest.raises(UnsupportedTransportError, match="no USB bus"):
        await transport.open()
