"""An `rfcomm://` printer end to end through the printing rig: real workers on a real SQLite
file, the real RfcommTransport, and a stand-in for the Bluetooth link (a loopback socket to
the printer emulator, or the kernel's answer for a printer out of range)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drivers.bluetooth.uris import RfcommAddress
from drivers.emulator import PrinterEmulator, RecordedJob
from drivers.transports import PrinterTransport
from drivers.transports.rfcomm import RfcommTransport
from edge.printing.link import TransportFactory
from edge.printing.render import PrinterSettings
from tests.conftest import load_order
from tests.support.print_rig import EventRow, JobRow, PrintRig

MAC = "00:11:22:AA:BB:CC"
URI = f"rfcomm://{MAC}:2"
REPRINT = "REPRINT"
# The fixture orders that print a kitchen ticket on arrival, and what their tickets say.
FIXTURES = {
    "ubereats_delivery": "Uber Eats A1B2C",
    "self_delivery_with_tip": "Website W42",
    "large_catering_order": "Uber Eats Z9Y8X",
    "deliveroo_pickup_scheduled": "Deliveroo #4821",
}


class Radio:
    """Stands in for the Bluetooth link to the printer: while the printer is in range each
    connect reaches the emulator over loopback; out of range, the kernel's EHOSTDOWN."""

    def __init__(self, emu: PrinterEmulator) -> None:
        self.emu = emu
        self.in_range = True
        self.addresses: list[RfcommAddress] = []
        # Each connection drops this many bytes in, until one ticket was cut short.
        self.drop_ticket_after: int | None = None
        self.leaves_after_drop = False  # out of range from the connect after that drop on

    async def __call__(self, address: RfcommAddress) -> socket.socket:
        self.addresses.append(address)
        if not self.in_range or (self.leaves_after_drop and partial(self.emu)):
            raise OSError(errno.EHOSTDOWN, os.strerror(errno.EHOSTDOWN))
        if self.drop_ticket_after is not None and not partial(self.emu):
            self.emu.drop_after(self.drop_ticket_after)
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (self.emu.host, self.emu.port))
        except BaseException:
            sock.close()
            raise
        return sock

    def transports(self) -> TransportFactory:
        """The kitchen printer's transport factory: RfcommTransport over this radio."""

        def make(printer: PrinterSettings) -> PrinterTransport:
            return RfcommTransport(
                printer.uri,
                connect=self,
                connect_timeout=printer.connect_timeout_s,
                write_timeout=printer.write_timeout_s,
            )

        return make


@pytest.fixture
async def emu() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="kitchen") as printer:
        yield printer


@pytest.fixture
async def front() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="front") as printer:
        yield printer


def kitchen(**changes: Any) -> PrinterSettings:
    """The Bluetooth printer at the pass, with the rig's short retry delays."""
    settings: dict[str, Any] = {
        "name": "kitchen",
        "uri": URI,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.2,
        "fault_poll_s": 0.05,
    }
    return PrinterSettings(**(settings | changes))


def partial(emu: PrinterEmulator) -> list[RecordedJob]:
    return [job for job in emu.jobs if not job.complete]


def complete(emu: PrinterEmulator) -> list[RecordedJob]:
    return [job for job in emu.jobs if job.complete]


def all_done(jobs: list[JobRow]) -> bool:
    return bool(jobs) and all(job.state == "done" for job in jobs)


def of_type(events: list[EventRow], kind: str, **data: Any) -> list[EventRow]:
    return [e for e in events if e.type == kind and data.items() <= e.data.items()]


async def test_an_rfcomm_printer_prints_the_fixture_orders(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    radio = Radio(emu)
    async with PrintRig(tmp_path, [kitchen()], transports={"kitchen": radio.transports()}) as rig:
        for name in FIXTURES:
            await rig.receive(load_order(name))
        jobs = await rig.wait_jobs(lambda jobs: len(jobs) == len(FIXTURES) and all_done(jobs))
        events = await rig.events()

    assert [(j.printer, j.attempts, j.reprint) for j in jobs] == [("kitchen", 1, 0)] * 4
    tickets = await emu.wait_for_jobs(len(FIXTURES))
    assert [t.complete for t in emu.jobs] == [True] * len(FIXTURES), "nothing partial"
    for ticket, heading in zip(tickets, FIXTURES.values(), strict=True):
        assert heading in ticket.text
        assert REPRINT not in ticket.text
        assert ticket.raw.startswith(b"\x1b@\x1bt\x10")
    printed = of_type(events, "order.printed", printer="kitchen", reprint=False)
    assert [e.data["job"] for e in printed] == [j.id for j in jobs]
    assert of_type(events, "print.failed") == []
    [status] = of_type(events, "printer.status")
    assert status.data["online"] is True
    assert status.data["answers_status"] is True
    assert radio.addresses, "the rig went through the RFCOMM transport"
    assert set(radio.addresses) == {RfcommAddress(MAC, 2)}, "to the URI's printer and channel"


async def test_a_disconnect_mid_job_reprints_the_ticket_marked(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    radio = Radio(emu)
    # Status checks send 3 requests of 3 bytes each; the link drops about 200 bytes into the
    # ticket, as when the printer's battery browns out or it walks out of range mid-job.
    radio.drop_ticket_after = 2 * 9 + 200
    async with PrintRig(tmp_path, [kitchen()], transports={"kitchen": radio.transports()}) as rig:
        await rig.receive(load_order("ubereats_delivery"))
        [job] = await rig.wait_jobs(all_done)
        events = await rig.events()

    assert (job.reprint, job.attempts) == (1, 2)
    [failed, *_] = of_type(events, "print.failed", job=job.id)
    assert failed.data["will_retry"] is True
    [printed] = of_type(events, "order.printed", job=job.id)
    assert printed.data["reprint"] is True
    assert events.index(failed) < events.index(printed)

    cut_short, reprint = await emu.wait_for_jobs(2, include_incomplete=True)
    assert not cut_short.complete
    assert cut_short.raw.startswith(b"\x1b@")
    assert len(cut_short.raw) <= 2 * 9 + 200
    assert reprint.complete
    assert "Uber Eats A1B2C" in reprint.text
    assert REPRINT in reprint.text
    assert [REPRINT in t.text for t in complete(emu)] == [True], "never a second unmarked copy"


async def test_paper_out_holds_the_ticket_and_it_prints_once_cleared(
    tmp_path: Path, emu: PrinterEmulator
) -> None:
    radio = Radio(emu)
    emu.set_fault(paper_out=True)
    async with PrintRig(tmp_path, [kitchen()], transports={"kitchen": radio.transports()}) as rig:
        await rig.receive(load_order("ubereats_delivery"))
        events = await rig.wait_events(lambda e: bool(of_type(e, "print.failed")))
        [failed] = of_type(events, "print.failed")
        assert (failed.data["reason"], failed.data["will_retry"]) == ("paper_out", True)
        [out] = of_type(events, "printer.status", online=False)
        assert (out.data["paper"], out.data["error"]) == ("out", "paper_out")

        # The printer is asked again and again while it is out of paper: nothing is sent.
        polled = emu.status_requests
        await emu.wait_until(lambda: emu.status_requests >= polled + 9, what="three more polls")
        assert emu.jobs == []
        assert emu.held_bytes == 0, "no ticket byte goes to a printer without paper"
        [held] = await rig.jobs()
        assert (held.state, held.attempts, held.reprint) == ("queued", 0, 0)

        emu.clear_faults()
        [job] = await rig.wait_jobs(all_done)
        events = await rig.events()

    [printed] = of_type(events, "order.printed", job=job.id)
    assert printed.data["reprint"] is False
    [back] = of_type(events, "printer.status", online=True, paper="ok")
    assert events.index(out) < events.index(back) < events.index(printed)
    assert of_type(events, "print.failed") == [failed], "one event per fault, not per poll"
    [ticket] = await emu.wait_for_jobs(1)
    assert "Uber Eats A1B2C" in ticket.text
    assert REPRINT not in ticket.text


async def test_an_unreachable_rfcomm_printer_fails_over_to_a_tcp_backup(
    tmp_path: Path, emu: PrinterEmulator, front: PrinterEmulator
) -> None:
    radio = Radio(emu)
    radio.in_range = False  # switched off, or its battery is flat
    printers = [
        kitchen(backup="front", failover_after_s=0.3),
        PrinterSettings(name="front", uri=front.uri),
    ]
    async with PrintRig(tmp_path, printers, transports={"kitchen": radio.transports()}) as rig:
        await rig.receive(load_order("ubereats_delivery"))
        [job] = await rig.wait_jobs(all_done)
        events = await rig.events()

    assert (job.printer, job.meant_for, job.reprint) == ("front", "kitchen", 0)
    [failover] = of_type(events, "printer.failover")
    assert failover.data == {"printer": "kitchen", "backup": "front", "jobs": [job.id]}
    [down] = of_type(events, "printer.status", printer="kitchen")
    assert (down.data["online"], down.data["error"]) == (False, "unreachable")
    assert of_type(events, "print.failed", reason="unreachable", will_retry=True)
    [printed] = of_type(events, "order.printed", job=job.id)
    assert printed.data == {**printed.data, "printer": "front", "reprint": False}

    [ticket] = await front.wait_for_jobs(1)
    assert "Meant for printer kitchen" in ticket.text
    assert "Uber Eats A1B2C" in ticket.text
    assert REPRINT not in ticket.text, "nothing of it reached the kitchen printer"
    assert emu.jobs == []
    assert len(radio.addresses) >= 2, "the kitchen printer was tried again before failover"


async def test_a_ticket_cut_short_then_failed_over_says_reprint_at_the_backup(
    tmp_path: Path, emu: PrinterEmulator, front: PrinterEmulator
) -> None:
    """Part of the ticket may be on paper at the pass: the backup's copy is marked."""
    radio = Radio(emu)
    radio.drop_ticket_after = 2 * 9 + 200
    radio.leaves_after_drop = True  # and the printer does not come back
    printers = [
        kitchen(backup="front", failover_after_s=0.3),
        PrinterSettings(name="front", uri=front.uri),
    ]
    async with PrintRig(tmp_path, printers, transports={"kitchen": radio.transports()}) as rig:
        await rig.receive(load_order("ubereats_delivery"))
        [job] = await rig.wait_jobs(all_done)

    assert (job.printer, job.meant_for, job.reprint) == ("front", "kitchen", 1)
    [ticket] = await front.wait_for_jobs(1)
    assert REPRINT in ticket.text
    assert "Meant for printer kitchen" in ticket.text
    assert complete(emu) == [], "the kitchen printer never finished a copy"
    assert len(partial(emu)) == 1
