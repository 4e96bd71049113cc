"""Star CloudPRNT printers print orders with the guarantees of any printer (issue 11, part 3):
the printing rig's workers drive a simulated printer through the real CloudPRNT server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from drivers.emulator import PrinterEmulator
from edge.cloudprnt import CloudPrnt, ServerSettings
from edge.printing.render import PrinterSettings
from tests.conftest import load_order
from tests.support.cloudprnt_printer import SimulatedPrinter
from tests.support.print_rig import JobRow, PrintRig

MAC = "00:11:62:00:00:01"
POLL = 0.05

# Timings shrunk for tests: poll every 50 ms, offline after 2 × 50 ms + 0.3 s.
SETTINGS = ServerSettings(
    host="127.0.0.1", port=0, poll_interval_s=POLL, job_timeout_s=1.0, offline_grace_s=0.3
)
KITCHEN = PrinterSettings(
    name="kitchen",
    uri=f"cloudprnt://{MAC}",
    batch_max_jobs=1,  # what the daemon sets for a CloudPRNT printer
    status_interval_s=0.2,
    fault_poll_s=0.1,
    retry_initial_s=0.05,
    retry_max_s=0.2,
    failover_after_s=600.0,
)


@pytest.fixture
async def service() -> AsyncIterator[CloudPrnt]:
    async with CloudPrnt(SETTINGS, printers=[MAC]) as cloudprnt:
        yield cloudprnt


def rig(tmp_path: Path, service: CloudPrnt, *printers: PrinterSettings) -> PrintRig:
    return PrintRig(
        tmp_path,
        printers or [KITCHEN],
        transports={"kitchen": service.transport_factory},
    )


def all_done(jobs: list[JobRow]) -> bool:
    return bool(jobs) and all(j.state == "done" for j in jobs)


def reprint_marks(printer: SimulatedPrinter) -> list[bool]:
    """For each ticket printed as text: whether it carries the REPRINT mark."""
    return ["REPRINT" in (p.text or "") for p in printer.printed]


async def test_prints_the_fixture_orders_as_png_at_the_printer_width(
    tmp_path: Path, service: CloudPrnt
) -> None:
    orders = ["ubereats_delivery", "self_delivery_with_tip", "large_catering_order"]
    async with (
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer,
        rig(tmp_path, service) as r,
    ):
        for name in orders:
            await r.receive(load_order(name))
        jobs = await r.wait_jobs(lambda jobs: len(jobs) == len(orders) and all_done(jobs))
        printed = await r.wait_events(
            lambda events: len([e for e in events if e.type == "order.printed"]) == len(orders)
        )
    assert [p.media for p in printer.printed] == ["image/png"] * len(orders), "one PNG a job"
    assert {p.size[0] for p in printer.printed if p.size} == {576}, "PageInfo: 72 mm x 8 dots"
    assert all(p.size and p.size[1] > 200 for p in printer.printed)
    assert not any(j.reprint for j in jobs)
    assert {e.data["job"] for e in printed if e.type == "order.printed"} == {j.id for j in jobs}
    assert printer.violations == []
    assert printer.settings_status == 404, "the MQTT settings document is refused: HTTP mode"


async def test_a_printer_powered_off_after_the_fetch_reprints_marked(
    tmp_path: Path, service: CloudPrnt
) -> None:
    async with (
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL, accepts=["text/plain"]) as p,
        rig(tmp_path, service) as r,
    ):
        p.faults.power_off_after_get = True  # it prints, and dies before confirming
        await r.receive(load_order("ubereats_delivery"))
        await p.wait_printed(1)
        await r.wait_events(lambda events: any(e.type == "print.failed" for e in events))
        assert not p.powered
        p.power_on()
        [job] = await r.wait_jobs(all_done)
        await p.wait_printed(2)
    assert job.reprint
    assert reprint_marks(p) == [False, True], "the second copy is marked, never silent"
    assert p.violations == []


@pytest.mark.parametrize("fault", ["lost_deletes", "lost_delete_answers", "duplicate_gets"])
async def test_lost_confirmations_and_repeated_fetches_never_print_an_unmarked_copy(
    tmp_path: Path, service: CloudPrnt, fault: str
) -> None:
    async with (
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL, accepts=["text/plain"]) as p,
        rig(tmp_path, service) as r,
    ):
        # A lost confirmation is lost with its retries (retry=1, retry=2).
        setattr(p.faults, fault, 1 + p.delete_retries if fault == "lost_deletes" else 1)
        await r.receive(load_order("ubereats_delivery"))
        [job] = await r.wait_jobs(all_done)
    marks = reprint_marks(p)
    assert marks.count(False) == 1, f"exactly one unmarked ticket, got {marks}"
    if fault == "lost_deletes":
        # The server never heard back: after job_timeout_s the job is "unknown", printed again
        # marked REPRINT.
        assert marks == [False, True]
        assert job.reprint
    else:
        # The server had the confirmation (the retry is answered 200), or served the same
        # job twice to the same fetch: one ticket.
        assert marks == [False]
        assert not job.reprint
    assert p.violations == []


async def test_paper_out_is_reported_and_printing_resumes_when_cleared(
    tmp_path: Path, service: CloudPrnt
) -> None:
    async with (
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as p,
        rig(tmp_path, service) as r,
    ):
        p.paper_out()
        await p.wait_polls(2)
        await r.receive(load_order("ubereats_delivery"))
        events = await r.wait_events(
            lambda events: any(
                e.type == "printer.status" and e.data["paper"] == "out" for e in events
            )
        )
        await r.wait_events(
            lambda events: any(
                e.type == "print.failed" and e.data["reason"] == "paper_out" for e in events
            )
        )
        assert p.printed == [], "no GET while the printer reports 410"
        p.clear_faults()
        [job] = await r.wait_jobs(all_done)
        events = await r.wait_events(
            lambda events: any(
                e.type == "printer.status" and e.data["paper"] == "ok" and e.data["online"]
                for e in events
            )
        )
    [paper_out] = [e for e in events if e.type == "printer.status" and e.data["paper"] == "out"]
    assert paper_out.data["online"] is False
    assert paper_out.data["error"] == "paper_out"
    assert len(p.printed) == 1
    assert not job.reprint, "never fetched while out of paper: the first copy is the only one"


async def test_paper_running_out_mid_job_reprints_marked_once_refilled(
    tmp_path: Path, service: CloudPrnt
) -> None:
    async with (
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL, accepts=["text/plain"]) as p,
        rig(tmp_path, service) as r,
    ):
        p.faults.stop_mid_job = "410 Paper Empty"  # fetched, then confirmed with 410
        await r.receive(load_order("ubereats_delivery"))
        await r.wait_events(
            lambda events: any(
                e.type == "print.failed" and e.data["reason"] == "paper_out" for e in events
            )
        )
        p.clear_faults()
        [job] = await r.wait_jobs(all_done)
    assert job.reprint, "it may be half printed: the next copy says REPRINT"
    assert reprint_marks(p) == [True]


async def test_fails_over_to_a_tcp_backup_when_the_printer_stops_polling(
    tmp_path: Path, service: CloudPrnt
) -> None:
    kitchen = replace(KITCHEN, backup="backup", failover_after_s=0.5)
    async with (
        PrinterEmulator(name="backup") as emulator,
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as p,
    ):
        backup = PrinterSettings(name="backup", uri=emulator.uri)
        async with rig(tmp_path, service, kitchen, backup) as r:
            await p.wait_polls(2)
            p.power_off()
            await r.wait_events(
                lambda events: any(
                    e.type == "printer.status"
                    and e.data["printer"] == "kitchen"
                    and e.data["online"] is False
                    for e in events
                )
            )
            await r.receive(load_order("ubereats_delivery"))
            [job] = await r.wait_jobs(all_done)
        [ticket] = await emulator.wait_for_jobs(1)
    assert job.printer == "backup"
    assert job.meant_for == "kitchen"
    assert "kitchen" in ticket.text, "the backup's ticket says which printer it was meant for"
    assert p.printed == []


async def test_a_printer_that_takes_no_png_gets_the_text_fallback(
    tmp_path: Path, service: CloudPrnt
) -> None:
    async with (
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as p,
        rig(tmp_path, service) as r,
    ):
        p.faults.refuse_media = {"image/png"}  # fetches the PNG, answers 510
        await r.receive(load_order("ubereats_delivery"))
        await r.wait_jobs(all_done)
        await r.receive(load_order("self_delivery_with_tip"))
        jobs = await r.wait_jobs(lambda jobs: len(jobs) == 2 and all_done(jobs))
    first, second = p.printed
    assert first.media == second.media == "text/plain"
    assert "A1B2C" in (first.text or "")
    # The printer cannot take PNG at all (510): its next job is offered as text only.
    assert [media for media, _ in p.gets] == ["image/png", "text/plain", "text/plain"]
    assert [c["code"] for c in p.confirmations] == [
        "510 Incompatible Media Type",
        "200 OK",
        "200 OK",
    ]
    assert not any(j.reprint for j in jobs)
