#!/usr/bin/env python3
"""The new printer kinds, each beside its baseline measured in the same run.

(a) CloudPRNT: the real daemon (`edge run`) with its LAN CloudPRNT server on loopback and a
    simulated Star printer polling it every `--poll` seconds (tests/support/cloudprnt_printer.py),
    next to a TCP printer emulator serving the same kitchen tickets. Orders are published on
    the broker at varied phases of the poll; measured per order: publish -> ticket at the TCP
    printer (the baseline: everything but the poll), publish -> job offered to the polling
    printer (`jobReady` in a poll answer), publish -> printed (the printer's confirmation).
    Theory for the offer: the baseline plus the wait for the next poll, uniform over the
    interval (mean poll/2, max poll).
(b) BLE: scripts/bench_ble.py — a ticket batch through BleTransport and the fake printer at
    20-byte writes paced 20 ms apart, against the 1000 B/s that pacing allows.

Merged under "printers" into bench-out/report.json. Loopback only; ends only what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import bench_ble  # noqa: E402
from bench import free_port, start_broker, stop_started, wait_broker  # noqa: E402

from drivers.emulator import PrinterEmulator  # noqa: E402
from tests.conftest import load_order  # noqa: E402
from tests.support.cloudprnt_printer import SimulatedPrinter  # noqa: E402

STORE = "st_printers_bench"
MAC = "00:11:62:00:00:42"


def daemon_config(work: Path, broker: int, cloudprnt: int, tcp_uri: str, poll: float) -> Path:
    path = work / "edge.toml"
    path.write_text(
        f'[store]\nid = "{STORE}"\ntimezone = "Europe/Paris"\n\n'
        f'[cloud]\nurl = "mqtt://127.0.0.1:{broker}"\nclient_id = "edge-{STORE}"\n\n'
        f'[database]\npath = "{work / "edge.db"}"\n\n[log]\nlevel = "warning"\n\n'
        "[mdns]\nadvertise = false\n\n"
        f'[cloudprnt]\nlisten = "127.0.0.1:{cloudprnt}"\npoll_interval_s = {poll:g}\n\n'
        f'[[printers]]\nname = "star"\nuri = "cloudprnt://{MAC}"\n\n'
        f'[[printers]]\nname = "kitchen"\nuri = "{tcp_uri}"\n'
    )
    return path


def figures_ms(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "mean_ms": round(statistics.mean(ms), 1),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))], 1),
        "max_ms": round(ms[-1], 1),
    }


async def cloudprnt(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="edge-printers-bench-"))
    server_port = free_port()
    broker_port, broker = start_broker(work)
    procs: list[subprocess.Popen[Any]] = [broker]
    try:
        await wait_broker(broker_port, broker)
        async with PrinterEmulator(name="kitchen") as emu:
            config = daemon_config(work, broker_port, server_port, emu.uri, args.poll)
            edge_bin = ROOT / ".venv/bin/edge"
            command = [str(edge_bin)] if edge_bin.exists() else [sys.executable, "-m", "edge"]
            with (work / "edge.log").open("w") as log:
                daemon = subprocess.Popen(
                    [*command, "run", "--config", str(config)], stdout=log, stderr=log, cwd=work
                )
            procs.append(daemon)
            url = f"http://127.0.0.1:{server_port}/cloudprnt"
            async with SimulatedPrinter(url, mac=MAC, poll_interval=args.poll) as star:
                return await measure(args, emu, star, broker_port)
    finally:
        stop_started(procs, timeout=30)
        shutil.rmtree(work, ignore_errors=True)


async def measure(
    args: argparse.Namespace, emu: PrinterEmulator, star: SimulatedPrinter, port: int
) -> dict[str, Any]:
    tcp, offered, printed = [], [], []
    await star.wait_polls(3, timeout=60)  # the daemon's server answers and knows the printer
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-cloud") as cloud:
        for i in range(args.orders):
            # Publish at varied phases of the printer's poll.
            await asyncio.sleep(args.poll * ((i * 0.37) % 1.0))
            doc = load_order("ubereats_delivery", id=f"ord_b{i}")
            doc["source"] = {**doc["source"], "display_id": f"B{i}"}
            offers = len(star.offered_at)
            start = time.monotonic()
            await cloud.publish(f"stores/{STORE}/in/orders", json.dumps(doc), qos=1)

            async def at_tcp(n: int = i + 1) -> float:
                await emu.wait_for_jobs(n, timeout=30)
                return time.monotonic()

            async def at_offer(k: int = offers) -> float:
                await star.wait_until(lambda: len(star.offered_at) > k, timeout=30)
                return star.offered_at[k]

            tcp_at, offer_at = await asyncio.gather(at_tcp(), at_offer())
            await star.wait_printed(i + 1, timeout=30)
            tcp.append(tcp_at - start)
            offered.append(offer_at - start)
            printed.append(time.monotonic() - start)
    base, offer = figures_ms(tcp), figures_ms(offered)
    return {
        "poll_interval_s": args.poll,
        "orders": args.orders,
        "publish_to_tcp_ticket": base,
        "publish_to_offered": offer,
        "publish_to_printed": figures_ms(printed),
        "theory_offered_mean_ms": round(base["mean_ms"] + args.poll * 500, 1),
        "theory_offered_max_ms": round(base["max_ms"] + args.poll * 1000, 1),
        "tickets_printed": len(star.printed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--poll", type=float, default=1.0, help="the printer's poll interval")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "report.json")
    args = parser.parse_args()
    figures = {"cloudprnt": asyncio.run(cloudprnt(args)), "ble": bench_ble.run()}
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["printers"] = figures
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
