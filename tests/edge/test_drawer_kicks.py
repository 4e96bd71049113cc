"""Kicking a cash drawer through its printer's worker, against the printer emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.emulator import PrinterEmulator
from edge.printing.drawer import DrawerKicks, DrawerUnavailableError
from edge.printing.render import DrawerSettings, PrinterSettings
from edge.wakeup import Wakeup
from tests.support.print_rig import PrintRig

DEADLINE_S = 10.0


@pytest.fixture
async def emulator() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="counter") as emu:
        yield emu


def counter(uri: str, **drawer: float) -> PrinterSettings:
    return PrinterSettings(
        name="counter",
        uri=uri,
        connect_timeout_s=2.0,
        write_timeout_s=2.0,
        status_timeout_s=0.5,
        status_interval_s=0.2,
        retry_initial_s=0.05,
        retry_max_s=0.5,
        drawer=DrawerSettings(pin=5, **drawer),  # type: ignore[arg-type]
    )


async def test_a_kick_reaches_the_printer_as_esc_p(
    tmp_path: Path, emulator: PrinterEmulator
) -> None:
    async with PrintRig(tmp_path, [counter(emulator.uri)]) as rig:
        realtime = await rig.workers["counter"].kick_drawer(DEADLINE_S)

        jobs = await emulator.wait_for_jobs(1, include_incomplete=True)

    assert realtime is False
    assert [k for job in jobs for k in job.decoded.drawer_kicks] == [(1, 50, 50)]  # pin 5


async def test_an_offline_printer_gets_the_real_time_pulse(
    tmp_path: Path, emulator: PrinterEmulator
) -> None:
    emulator.set_fault(cover_open=True)  # ESC p would wait for the cover, then spring open
    async with PrintRig(tmp_path, [counter(emulator.uri)]) as rig:
        realtime = await rig.workers["counter"].kick_drawer(DEADLINE_S)
        await emulator.wait_until(lambda: bool(emulator.drawer_pulses), what="a drawer pulse")

    assert realtime is True
    assert emulator.drawer_pulses == [(1, 1)]
    assert all(not job.decoded.drawer_kicks for job in emulator.jobs)


async def test_an_unreachable_printer_says_the_drawer_did_not_open(tmp_path: Path) -> None:
    async with PrinterEmulator(name="gone") as emu:
        uri = emu.uri
    async with PrintRig(tmp_path, [counter(uri)]) as rig:
        with pytest.raises(DrawerUnavailableError):
            await rig.workers["counter"].kick_drawer(DEADLINE_S)


async def test_a_kick_not_taken_by_its_deadline_is_never_sent(
    tmp_path: Path, emulator: PrinterEmulator
) -> None:
    async with PrintRig(tmp_path, [counter(emulator.uri)]) as rig:
        worker = rig.workers["counter"]
        assert worker.drawer is not None
        worker.stop()  # the worker takes no more work: the kick waits, then is withdrawn
        with pytest.raises(DrawerUnavailableError):
            await worker.kick_drawer(0.2)
        assert worker.drawer.take() is None  # withdrawn: nothing left to send

    assert all(not job.decoded.drawer_kicks for job in emulator.jobs)


async def test_the_sensor_is_reported_and_a_drawer_left_open_once(
    tmp_path: Path, emulator: PrinterEmulator
) -> None:
    emulator.set_fault(drawer_open=True)
    async with PrintRig(tmp_path, [counter(emulator.uri, left_open_after_s=0.3)]) as rig:
        events = await rig.wait_events(lambda es: any(e.type == "drawer.left_open" for e in es))
        status = next(e for e in events if e.type == "printer.status")
        assert status.data["drawer_open"] is True
        # More status polls go by with the drawer still open: no second report.
        seen, asked = len(events), emulator.status_requests
        await emulator.wait_until(
            lambda: emulator.status_requests >= asked + 3 * 3, what="three more status polls"
        )
        emulator.set_fault(drawer_open=False)
        events = await rig.wait_events(
            lambda es: any(
                e.type == "printer.status" and e.data["drawer_open"] is False for e in es
            )
        )

    assert [e.type for e in events].count("drawer.left_open") == 1
    assert len(events) > seen
    left = next(e for e in events if e.type == "drawer.left_open")
    assert left.data["printer"] == "counter"


async def test_a_printer_without_a_drawer_refuses_a_kick(
    tmp_path: Path, emulator: PrinterEmulator
) -> None:
    plain = PrinterSettings(name="counter", uri=emulator.uri)
    async with PrintRig(tmp_path, [plain]) as rig:
        with pytest.raises(DrawerUnavailableError):
            await asyncio.wait_for(rig.workers["counter"].kick_drawer(DEADLINE_S), DEADLINE_S)
        events = await rig.events("printer.status")
    assert all("drawer_open" not in e.data for e in events)


async def test_a_kick_whose_caller_is_gone_is_never_sent() -> None:
    kicks = DrawerKicks(DrawerSettings())
    asking = asyncio.create_task(kicks.kick(Wakeup(), DEADLINE_S))
    await asyncio.sleep(0)  # a turn of the loop: the kick is queued
    assert kicks.pending()

    asking.cancel()  # a shut-down, or a client that hung up
    with pytest.raises(asyncio.CancelledError):
        await asking

    assert kicks.take() is None
