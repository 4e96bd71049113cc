"""A Bluetooth LE printer end to end: real workers on a real database (the print rig), the
BleTransport over the fake BLE printer, whose bytes reach a real printer emulator over
loopback TCP and whose status answers come back as notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from drivers.bluetooth.failures import Backoff
from drivers.emulator import PrinterEmulator, RecordedJob
from drivers.transports.ble import BleTransport
from edge.printing.link import TransportFactory
from edge.printing.render import PrinterSettings
from tests.conftest import load_order
from tests.support.fake_ble import ADDRESS, BLIND, GENERIC_18F0, ISSC, FakeBlePrinter
from tests.support.print_rig import EventRow, JobRow, PrintRig

REPRINT = "REPRINT"
KITCHEN = PrinterSettings(
    name="kitchen",
    uri=f"ble://{ADDRESS}",
    connect_timeout_s=1.0,
    write_timeout_s=2.0,
    status_timeout_s=0.5,
    retry_initial_s=0.05,
    retry_max_s=0.2,
    fault_poll_s=0.1,
)
FIXTURES = (
    "ubereats_delivery",
    "self_delivery_with_tip",
    "doordash_pending",
    "large_catering_order",
    "deliveroo_pickup_scheduled",
)


@pytest.fixture
async def emu() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as printer:
        yield printer


def through(fake: FakeBlePrinter) -> TransportFactory:
    """The kitchen printer's transports: BLE over the fake, with the printer's deadlines."""

    def make(p: PrinterSettings) -> BleTransport:
        return BleTransport(
            p.uri,
            links=fake,
            connect_timeout=p.connect_timeout_s,
            write_timeout=p.write_timeout_s,
            backoff=Backoff(0.01, 0.05),
        )

    return make


def all_done(jobs: list[JobRow]) -> bool:
    return bool(jobs) and all(j.state == "done" for j in jobs)


def of(kind: str, **data: object) -> Callable[[list[EventRow]], bool]:
    return lambda events: any(
        e.type == kind and all(e.data.get(k) == v for k, v in data.items()) for e in events
    )


def complete(emu: PrinterEmulator) -> list[RecordedJob]:
    return [job for job in emu.jobs if job.complete]


async def test_prints_the_fixture_orders(tmp_path: Path, emu: PrinterEmulator) -> None:
    fake = FakeBlePrinter(emu, services=ISSC)
    async with PrintRig(tmp_path, [KITCHEN], transports={"kitchen": through(fake)}) as rig:
        for name in FIXTURES:
            await rig.receive(load_order(name))
        jobs = await rig.wait_jobs(all_done)
        printed = await rig.events("order.printed")
    tickets = await emu.wait_for_jobs(len(jobs))
    assert len(jobs) == len(tickets) == 4, "the pending order prints nothing"
    for display in ("A1B2C", "W42", "Z9Y8X", "#4821"):
        assert sum(display in t.text for t in tickets) == 1, f"{display} printed once"
    assert all(REPRINT not in t.text for t in tickets)
    assert all(t.raw.startswith(b"\x1b@") and t.decoded.cut for t in tickets)
    assert [e.data["reprint"] for e in printed] == [False] * 4
    assert fake.violations == []
    assert fake.connects == 1, "connect=keep: one connection for the whole run"
    assert all(w.response for w in fake.writes), "the ISSC write characteristic acknowledges"


async def test_a_disconnect_mid_job_reprints_the_ticket_marked(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    fake = FakeBlePrinter(emu, services=ISSC)
    async with PrintRig(tmp_path, [KITCHEN], transports={"kitchen": through(fake)}) as rig:
        await rig.wait_events(of("printer.status", online=True))  # the idle check at start
        # The status check before the job asks 3 times with 3 bytes; drop 200 bytes into it.
        fake.drop_after(9 + 200)
        await rig.receive(load_order("ubereats_delivery"))
        [job] = await rig.wait_jobs(all_done)
        failed = await rig.events("print.failed")
        [printed] = await rig.events("order.printed")
    assert (job.reprint, job.attempts) == (True, 2)
    assert failed[0].data["reason"] == "connection_lost"
    assert printed.data["reprint"] is True
    partial, second = await emu.wait_for_jobs(2, include_incomplete=True)
    assert not partial.complete
    assert len(partial.raw) == 200
    assert second.complete
    assert REPRINT in second.text, "the second copy says REPRINT"
    assert "A1B2C" in second.text
    assert len(complete(emu)) == 1, "never a second unmarked copy"
    assert fake.violations == []
    assert fake.connects == 2


async def test_paper_out_holds_the_ticket_and_printing_resumes(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    fake = FakeBlePrinter(emu, services=GENERIC_18F0)
    kitchen = replace(KITCHEN, uri=f"{KITCHEN.uri}?gap_ms=1")
    emu.set_fault(paper_out=True)
    async with PrintRig(tmp_path, [kitchen], transports={"kitchen": through(fake)}) as rig:
        await rig.receive(load_order("ubereats_delivery"))
        await rig.wait_events(of("printer.status", online=False, paper="out"))
        await rig.wait_events(of("print.failed", reason="paper_out"))
        assert (await rig.jobs())[0].state == "queued"
        assert emu.jobs == [], "nothing is sent to a printer out of paper"
        polled = emu.status_requests
        await emu.wait_until(lambda: emu.status_requests >= polled + 6, what="two more checks")
        assert emu.jobs == []
        emu.clear_faults()
        [job] = await rig.wait_jobs(all_done)
        await rig.wait_events(of("printer.status", online=True, paper="ok"))
        [printed] = await rig.events("order.printed")
    assert printed.data["reprint"] is False
    assert (job.reprint, job.attempts) == (False, 1)
    [ticket] = await emu.wait_for_jobs(1)
    assert "A1B2C" in ticket.text
    assert REPRINT not in ticket.text
    assert fake.violations == []


async def test_a_vanished_printer_fails_over_to_a_tcp_backup(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    fake = FakeBlePrinter(emu, services=ISSC)
    fake.vanish()  # switched off, or out of range
    kitchen = replace(KITCHEN, backup="bar", failover_after_s=0.5, connect_timeout_s=0.3)
    async with PrinterEmulator(name="bar") as bar:
        printers = [kitchen, PrinterSettings(name="bar", uri=bar.uri)]
        async with PrintRig(tmp_path, printers, transports={"kitchen": through(fake)}) as rig:
            await rig.receive(load_order("ubereats_delivery"))
            [job] = await rig.wait_jobs(lambda js: all_done(js) and js[0].printer == "bar")
            down = await rig.events("printer.status")
            [printed] = await rig.events("order.printed")
        [ticket] = await bar.wait_for_jobs(1)
    assert job.meant_for == "kitchen"
    assert "Meant for printer kitchen" in ticket.text
    assert "A1B2C" in ticket.text
    assert printed.data["printer"] == "bar"
    assert printed.data["reprint"] is False, "nothing reached the kitchen printer"
    assert any(
        e.data["printer"] == "kitchen"
        and e.data["online"] is False
        and e.data["error"] == "unreachable"
        for e in down
    )
    assert fake.connect_attempts >= 2, "the kitchen printer was looked for again"
    assert emu.jobs == []
    assert fake.violations == []


async def test_a_printer_without_a_notify_characteristic_prints_blind(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    fake = FakeBlePrinter(emu, services=BLIND)
    kitchen = replace(KITCHEN, uri=f"{KITCHEN.uri}?gap_ms=1")
    async with PrintRig(tmp_path, [kitchen], transports={"kitchen": through(fake)}) as rig:
        for n in (1, 2):
            await rig.receive(load_order("ubereats_delivery", id=f"ord_blind_{n}"))
        await rig.wait_jobs(lambda js: len(js) == 2 and all_done(js))
        statuses = await rig.events("printer.status")
        snapshot = rig.workers["kitchen"].snapshot()
    assert statuses[0].data["online"] is True
    assert statuses[0].data["answers_status"] is False, "printer.status says it is blind"
    assert snapshot["answers_status"] is False
    tickets = await emu.wait_for_jobs(2)
    assert all(REPRINT not in t.text for t in tickets)
    assert emu.status_requests == 0, "no status request goes to a printer that cannot answer"
    assert fake.violations == []


async def test_a_printer_that_never_answers_on_its_notify_characteristic_prints_blind(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    emu.status_mode = "silent"
    fake = FakeBlePrinter(emu, services=ISSC)
    async with PrintRig(tmp_path, [KITCHEN], transports={"kitchen": through(fake)}) as rig:
        await rig.receive(load_order("ubereats_delivery"))
        [job] = await rig.wait_jobs(all_done)
        statuses = await rig.events("printer.status")
        snapshot = rig.workers["kitchen"].snapshot()
    assert not job.reprint
    assert statuses[-1].data["answers_status"] is False
    assert snapshot["answers_status"] is False
    [ticket] = await emu.wait_for_jobs(1)
    assert REPRINT not in ticket.text
    assert emu.status_requests > 0, "it was asked"
    assert fake.violations == []


async def test_per_batch_lets_the_printer_go_between_batches(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    fake = FakeBlePrinter(emu, services=ISSC)
    kitchen = replace(KITCHEN, uri=f"{KITCHEN.uri}?connect=per_batch")
    async with PrintRig(tmp_path, [kitchen], transports={"kitchen": through(fake)}) as rig:
        sent: list[str] = []
        for n in (1, 2):
            sent.append(f"ord_pb_{n}")
            await rig.receive(load_order("ubereats_delivery", id=sent[-1]))
            await rig.wait_jobs(lambda js: all_done(js) and len(js) == len(sent))
            # Idle, the worker closes the transport: per batch, that disconnects.
            await fake.wait_until(lambda: not fake.link.is_connected, what="a disconnect")
    first, second = await emu.wait_for_jobs(2)
    assert first.connection != second.connection, "each batch on a connection of its own"
    assert fake.pings == 0, "no kept connection to check"
    assert fake.violations == []
