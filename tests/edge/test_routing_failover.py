"""Routing by role and brand, receipts, and failover to a backup printer (daemon end to end)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config


@pytest.fixture
async def printers() -> AsyncIterator[dict[str, PrinterEmulator]]:
    async with (
        PrinterEmulator(name="kitchen") as kitchen,
        PrinterEmulator(name="pasta", width_chars=32) as pasta,
        PrinterEmulator(name="front") as front,
    ):
        yield {"kitchen": kitchen, "pasta": pasta, "front": front}


def start(
    tmp_path: Path, broker: Broker, printers: list[dict], procs: list[EdgeProcess]
) -> EdgeProcess:
    config = write_config(
        tmp_path / "edge.toml", broker_url=broker.url, printers=printers, locale="fr"
    )
    proc = EdgeProcess(config).start()
    procs.append(proc)
    return proc


async def test_routing_by_brand_and_role_with_receipts(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, printers, edge_processes
) -> None:
    kitchen, pasta, front = printers["kitchen"], printers["pasta"], printers["front"]
    start(
        tmp_path,
        broker,
        [
            {"name": "kitchen", "uri": kitchen.uri, "brands": ["Burger Lab"]},
            {
                "name": "pasta",
                "uri": pasta.uri,
                "width": 32,
                "brands": ["Pasta Nostra"],
                "copies": 2,
            },
            {"name": "front", "uri": front.uri, "roles": ["receipt"]},
        ],
        edge_processes,
    )
    await cloud.wait_event("edge.connected")
    await cloud.send_order(load_order("ubereats_delivery"))  # Burger Lab
    await cloud.send_order(
        load_order("deliveroo_pickup_scheduled", scheduled_for=None)
    )  # Pasta Nostra
    await cloud.send_order(load_order("self_delivery_with_tip"))  # no brand: no kitchen serves it

    await cloud.wait_event("order.printed", ticket="receipt", count=3)
    await cloud.wait_event("order.printed", ticket="kitchen", count=2)
    [unroutable] = await cloud.wait_event("order.unroutable", order_id="ord_web_0003")
    assert unroutable["data"]["ticket"] == "kitchen"

    [burger] = await kitchen.wait_for_jobs(1)
    assert "Uber Eats A1B2C" in burger.text
    pasta_jobs = await pasta.wait_for_jobs(2)
    assert all("#4821" in j.text for j in pasta_jobs), "copies = 2"
    assert all(max(len(line.text) for line in j.decoded.lines) <= 32 for j in pasta_jobs)
    receipts = await front.wait_for_jobs(3)
    texts = "\n".join(j.text for j in receipts)
    assert "27,50 €" in texts, "the website order's total on its receipt"
    assert len(kitchen.jobs) == 1
    assert len(pasta.jobs) == 2


async def test_jobs_fail_over_to_the_backup_and_say_where_they_were_meant(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, printers, edge_processes
) -> None:
    kitchen, pasta = printers["kitchen"], printers["pasta"]
    start(
        tmp_path,
        broker,
        [
            {"name": "kitchen", "uri": kitchen.uri, "backup": "pasta", "failover_after_s": 0.5},
            {"name": "pasta", "uri": pasta.uri, "brands": ["Pasta Nostra"]},
        ],
        edge_processes,
    )
    await cloud.wait_event("edge.connected")
    await cloud.wait_event("printer.status", printer="kitchen", online=True)
    kitchen.set_fault(paper_out=True)
    await cloud.send_order(load_order("ubereats_delivery"))
    await cloud.send_order(load_order("self_delivery_with_tip"))

    [failover] = await cloud.wait_event("printer.failover")
    assert failover["data"]["printer"] == "kitchen"
    assert failover["data"]["backup"] == "pasta"
    printed = await cloud.wait_event("order.printed", count=2, printer="pasta")
    assert {e["order_id"] for e in printed} == {"ord_ue_0001", "ord_web_0003"}
    jobs = await pasta.wait_for_jobs(2)
    for job in jobs:
        assert "Pour l'imprimante kitchen" in job.text
        assert "RÉIMPRESSION" not in job.text, "nothing reached the kitchen printer"
    assert kitchen.jobs == []
    assert kitchen.held_bytes == 0

    # the kitchen printer is back: nothing of what moved prints there, new orders do
    kitchen.clear_faults()
    await cloud.send_order(load_order("ubereats_delivery", id="ord_after"))
    await cloud.wait_event("order.printed", order_id="ord_after", printer="kitchen")
    [after] = await kitchen.wait_for_jobs(1)
    assert "Pour l'imprimante" not in after.text
    assert len(pasta.jobs) == 2
