#!/usr/bin/env python3
"""BLE throughput: a realistic ticket batch written by BleTransport through the fake BLE printer
(a sink that takes every write at once, tests/support/fake_ble.py), at 20-byte writes without
response paced 20 ms apart, beside the theoretical figure for that pacing (20 B / 20 ms =
1000 B/s, the upper bound). What it measures is the pacing's own cost (timer wake-ups, the
event loop); a real printer adds the radio. Median of several rounds.

`run()` returns the figures (scripts/bench merges them); run as a script it prints them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from drivers.bluetooth.failures import Backoff  # noqa: E402
from drivers.escpos import encode  # noqa: E402
from drivers.transports.ble import BleTransport  # noqa: E402
from edge.orders.model import Order  # noqa: E402
from edge.tickets import kitchen_ticket  # noqa: E402
from tests.conftest import load_order  # noqa: E402
from tests.support.fake_ble import ADDRESS, GENERIC_18F0, FakeBlePrinter  # noqa: E402

CHUNK = 20
GAP_MS = 20.0
ROUNDS = 5
ORDERS = (
    "ubereats_delivery",
    "self_delivery_with_tip",
    "large_catering_order",
    "deliveroo_pickup_scheduled",
)


def ticket_batch() -> bytes:
    """The kitchen tickets of the fixture orders, encoded as the daemon encodes them."""
    tickets = []
    for name in ORDERS:
        order = Order.model_validate_json(json.dumps(load_order(name)))
        blocks = kitchen_ticket(order, locale="en", timezone="Europe/Paris", printer="kitchen")
        tickets.append(encode(blocks, width=48, encoding="cp1252"))
    return b"".join(tickets)


async def one_round(data: bytes) -> float:
    """Bytes per second for one batch, from the first write to the last."""
    fake = FakeBlePrinter(services=GENERIC_18F0)  # write without response, 20-byte limit
    transport = BleTransport(
        f"ble://{ADDRESS}?chunk={CHUNK}&gap_ms={GAP_MS:g}", links=fake, backoff=Backoff()
    )
    await transport.open()
    started = time.perf_counter()
    await transport.write(data)
    elapsed = time.perf_counter() - started
    await transport.close()
    if fake.sent != data or fake.violations:
        raise RuntimeError(f"the fake printer did not get the batch intact: {fake.violations}")
    return len(data) / elapsed


async def measure(rounds: int) -> dict[str, Any]:
    data = ticket_batch()
    rates = [await one_round(data) for _ in range(rounds)]
    median = statistics.median(rates)
    theoretical = CHUNK / (GAP_MS / 1000)
    return {
        "batch_bytes": len(data),
        "tickets": len(ORDERS),
        "chunk_bytes": CHUNK,
        "gap_ms": GAP_MS,
        "writes_per_batch": -(-len(data) // CHUNK),
        "rounds_bytes_per_s": [round(r, 1) for r in rates],
        "median_bytes_per_s": round(median, 1),
        "theoretical_bytes_per_s": theoretical,
        "ratio_to_theoretical": round(median / theoretical, 4),
        "median_batch_s": round(len(data) / median, 3),
    }


def run(rounds: int = ROUNDS) -> dict[str, Any]:
    """The BLE throughput figures (scripts/bench merges them under "ble")."""
    return asyncio.run(measure(rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds), indent=2))
