"""A disk that fills up or fails under a running daemon: real filesystems, the daemon as a child.

The database lives on a small tmpfs the test mounts (and fills); the daemon's log and config
stay outside it. Needs the right to mount (root, as in CI); skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config
from tests.support.fsfault import set_fault, shim_env

FS_SIZE = 8 * 1024 * 1024
RESERVE_MB = 1.0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A fresh 8 MiB tmpfs, unmounted at the end."""
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): run as root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Take every free byte of the filesystem in one go; returns the file (delete it to give
    the room back). One allocation, so the daemon never races the filling."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize)
    finally:
        os.close(fd)
    with pytest.raises(OSError, match="No space left") as full:
        (folder / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def presences(cloud: FakeCloud) -> list[dict[str, Any]]:
    """Every presence document the cloud saw, oldest first."""
    return [json.loads(p) for t, p, _ in cloud.messages if t.endswith("/out/presence") and p]


async def wait_presence(cloud: FakeCloud, storage: str) -> None:
    """Until a presence message says this storage state."""
    await cloud.wait_for(
        lambda _: any(p.get("storage") == storage for p in presences(cloud)),
        timeout=30,
        what=f"presence with storage {storage}",
    )


@pytest.fixture
async def kitchen() -> PrinterEmulator:
    async with PrinterEmulator(name="kitchen") as emu:
        yield emu


def make_edge(
    tmp_path: Path, small_fs: Path, broker: Broker, kitchen: PrinterEmulator, procs: list
) -> EdgeProcess:
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        # The idle printer's status is read often: a fault is known before a ticket is sent.
        printers=[{"name": "kitchen", "uri": kitchen.uri, "status_interval_s": 0.2}],
        database={
            "path": small_fs / "edge.db",
            "reserve_mb": RESERVE_MB,
            "check_interval_s": 0.2,
        },
    )
    edge = EdgeProcess(config)
    procs.append(edge)
    return edge


def order(n: int) -> dict[str, Any]:
    """A distinct accepted order."""
    doc = load_order("ubereats_delivery", id=f"ord_disk_{n}")
    doc["source"] = {**doc["source"], "display_id": f"D{n}"}
    return doc


async def test_disk_full_holds_new_orders_at_the_broker_keeps_printing_and_resumes(
    tmp_path: Path,
    small_fs: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes: list,
) -> None:
    edge = make_edge(tmp_path, small_fs, broker, kitchen, edge_processes).start()
    await cloud.wait_event("edge.connected")
    assert (small_fs / "edge.db.reserve").stat().st_size == RESERVE_MB * 1024 * 1024
    await cloud.send_order(order(1))
    await cloud.wait_event("order.printed", order_id="ord_disk_1")

    # Two tickets held by a printer out of paper, then the disk fills up.
    kitchen.set_fault(paper_out=True)
    await cloud.wait_event("printer.status", paper="out")
    for n in (2, 3):
        await cloud.send_order(order(n))
    await cloud.wait_event("order.received", count=1, order_id="ord_disk_3")
    await cloud.wait_event("print.failed", reason="paper_out")
    filler = fill(small_fs)
    await wait_presence(cloud, "full")
    await cloud.send_order(order(4))  # waits at the broker, unacknowledged

    # What the store holds still prints, and is recorded (in the room the reserve gave back).
    kitchen.clear_faults()
    await cloud.wait_event("order.printed", order_id="ord_disk_2", timeout=30)
    await cloud.wait_event("order.printed", order_id="ord_disk_3", timeout=30)
    assert not (small_fs / "edge.db.reserve").exists(), "the reserve was given back"
    with edge.db() as db:
        stored = {r[0] for r in db.execute("SELECT id FROM orders")}
        done = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state = 'done' AND order_id IN (?, ?)",
            ("ord_disk_2", "ord_disk_3"),
        ).fetchone()[0]
    assert "ord_disk_4" not in stored, "not taken while the disk is full"
    assert done == 2
    assert cloud.of_type("order.received", order_id="ord_disk_4") == []

    filler.unlink()  # room again: everything flows by itself
    await cloud.wait_event("storage.recovered", fault="full", timeout=30)
    await cloud.wait_event("order.printed", order_id="ord_disk_4", timeout=30)
    await wait_presence(cloud, "ok")
    assert (small_fs / "edge.db.reserve").exists(), "the reserve is back"
    assert len(kitchen.jobs) == 4
    assert not any("REPRINT" in job.text for job in kitchen.jobs)

    log = edge.log()
    assert len(cloud.of_type("edge.connected")) == 1, "the link stayed up the whole time"
    assert log.count("storage: full") == 1, "one line per change of state"
    assert log.count("storage: recovered") == 1
    assert "Traceback" not in log


async def test_a_full_disk_at_start_up_is_waited_out_not_a_crash_loop(
    tmp_path: Path,
    small_fs: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes: list,
) -> None:
    edge = make_edge(tmp_path, small_fs, broker, kitchen, edge_processes).start()
    await cloud.wait_event("edge.connected")
    kitchen.set_fault(cover_open=True)
    await cloud.send_order(order(1))
    await cloud.wait_event("print.failed", reason="cover_open")
    assert edge.terminate() == 0
    filler = fill(small_fs)  # the disk fills up while the daemon is stopped

    edge.start()  # the reserve gives it room to open the database and print what it holds
    await wait_presence(cloud, "full")
    kitchen.clear_faults()
    [job] = await kitchen.wait_for_jobs(1, timeout=30)
    assert "D1" in job.text
    await cloud.send_order(order(2))  # waits at the broker
    filler.unlink()
    await cloud.wait_event("order.printed", order_id="ord_disk_2", timeout=30)

    # No reserve left and no room at all: it cannot even open the database. It waits (a
    # process that exits would be given up by systemd) and serves once there is room.
    assert edge.terminate() == 0
    (small_fs / "edge.db.reserve").unlink()
    filler = fill(small_fs)
    edge.start()
    await cloud.send_order(order(3))
    await wait_for_log(edge, "storage: full", run=3)
    assert edge.proc is not None
    assert edge.proc.poll() is None
    filler.unlink()
    await cloud.wait_event("order.printed", order_id="ord_disk_3", timeout=30)
    assert len(kitchen.jobs) == 3


async def wait_for_log(edge: EdgeProcess, text: str, run: int, timeout: float = 30) -> None:
    """Until the daemon's log of run `run` says `text` (the log is a file: looked at again
    after each short pause, within the deadline)."""
    async with asyncio.timeout(timeout):
        while text not in edge.log().split(f"===== run {run} ")[-1]:
            await asyncio.sleep(0.05)


async def test_a_damaged_database_is_refused_at_start_with_the_fix(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, kitchen: PrinterEmulator, edge_processes
) -> None:
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}],
    )
    edge = EdgeProcess(config)
    edge_processes.append(edge)
    edge.start()
    await cloud.wait_event("edge.connected")
    for n in range(30):  # enough rows for several pages
        await cloud.send_order(order(n))
    await cloud.wait_event("order.received", count=30)
    assert edge.terminate() == 0
    path = edge.db_path
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page : 3 * page] = os.urandom(page)  # one page of the orders gone bad
    path.write_bytes(bytes(data))
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    edge.start()
    assert edge.wait_exit(30) == 1
    log = edge.log().split("===== run 2")[1]
    assert "is damaged" in log
    assert ".recover" in log
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the file is left as it was"

    path.write_bytes(b"this is not a database" * 300)  # garbage from the first byte
    edge.start()
    assert edge.wait_exit(30) == 1
    assert "is damaged" in edge.log().split("===== run 3")[1]


@pytest.mark.parametrize(("errno_name", "state"), [("EIO", "io_error"), ("EROFS", "read_only")])
async def test_a_failing_or_read_only_disk_holds_orders_at_the_broker_until_it_recovers(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    kitchen: PrinterEmulator,
    edge_processes: list,
    shim: Path,
    errno_name: str,
    state: str,
) -> None:
    """Faults injected under SQLite by the fsfault layer: writes and fsyncs fail with EIO (a
    dying SD card) or EROFS (the kernel remounted the filesystem read-only)."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    control = tmp_path / "fault"
    config = write_config(
        tmp_path / "edge.toml",
        broker_url=broker.url,
        printers=[{"name": "kitchen", "uri": kitchen.uri}],
        database={"path": state_dir / "edge.db", "reserve_mb": 0.5, "check_interval_s": 0.2},
    )
    edge = EdgeProcess(config, env=shim_env(shim, state_dir, control=control))
    edge_processes.append(edge)
    edge.start()
    await cloud.wait_event("edge.connected")
    await cloud.send_order(order(1))
    await cloud.wait_event("order.printed", order_id="ord_disk_1")

    set_fault(control, errno_name, ops=("write", "fsync", "truncate", "open"))
    await cloud.send_order(order(2))  # its commit fails: it stays at the broker
    await wait_presence(cloud, state)
    with edge.db() as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1
    assert cloud.of_type("order.received", order_id="ord_disk_2") == []

    set_fault(control, None)  # the disk works again
    await cloud.wait_event("storage.recovered", fault=state, timeout=30)
    [printed] = await cloud.wait_event("order.printed", order_id="ord_disk_2", timeout=30)
    assert printed["data"]["reprint"] is False
    assert len(kitchen.jobs) == 2
    log = edge.log()
    assert len(cloud.of_type("edge.connected")) == 1, "the link stayed up"
    assert log.count(f"storage: {state}") == 1
    assert "Traceback" not in log
