#!/usr/bin/env python3
"""The till, each figure beside its baseline measured in the same run.

(a) PIN checks: `StaffBook.verify` with the PIN alone, for the first and the last of N staff
    and for a PIN nobody has, against one bare argon2id verification (the library's cost, what
    a check cannot go below) and N of them.
(b) Payments through the real daemon (`edge run`) and broker: a `pay` command with a cashier's
    PIN, approved at once by the simulated Concert terminal on a pty. Measured per payment:
    publish -> the terminal ACKs our request (our overhead: command intake, PIN check, the
    intent's durable write, opening the port, ENQ/ACK), and publish -> reply. The baseline is
    a `ping` command's round trip through the same broker and daemon.
(c) Drawer: `drawer_open` (a supervisor's PIN) publish -> its reply, sent once the printer's
    connection took the kick, beside the same `ping` baseline; every kick is then checked at
    the printer emulator.

Merged under "till" into bench-out/report.json. Loopback only; ends only what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench import start_broker, stop_started, wait_broker  # noqa: E402
from bench_printers import figures_ms  # noqa: E402

from drivers.concert.simulator import ConcertTerminalSim  # noqa: E402
from drivers.emulator import PrinterEmulator  # noqa: E402
from edge.db import Database  # noqa: E402
from edge.staff import Role, StaffBook  # noqa: E402
from edge.staff._pins import hash_pin, pin_matches  # noqa: E402

STORE = "st_till_bench"
CASHIER_PIN, SUPERVISOR_PIN = "24680", "97531"


async def pin_checks(staff: int, rounds: int) -> dict[str, Any]:
    """(a): the staff book against bare argon2."""
    work = Path(tempfile.mkdtemp(prefix="edge-till-bench-"))
    try:
        async with Database(work / "edge.db") as db:
            book = StaffBook(db)
            pins = [f"{10000 + i * 7}" for i in range(staff)]
            for i, pin in enumerate(pins):
                await book.add(f"staff{i}", Role.CASHIER, pin)
            one = hash_pin(pins[0])
            bare = []
            for _ in range(rounds):
                start = time.perf_counter()
                pin_matches(one, pins[0])
                bare.append(time.perf_counter() - start)

            async def timed(pin: str) -> list[float]:
                spent = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    try:
                        await book.verify(None, pin, Role.CASHIER)
                    except Exception:
                        await book.unlock()  # so that the next round is tried, not refused
                    spent.append(time.perf_counter() - start)
                return spent

            first, last, nobody = (
                await timed(pins[0]),
                await timed(pins[-1]),
                await timed("99999999"),
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bare_ms = figures_ms(bare)
    return {
        "staff": staff,
        "rounds": rounds,
        "bare_argon2_verify": bare_ms,
        "theory_all_staff_ms": round(bare_ms["median_ms"] * staff, 1),
        "pin_of_first_staff": figures_ms(first),
        "pin_of_last_staff": figures_ms(last),
        "pin_of_nobody": figures_ms(nobody),
    }


def daemon_config(work: Path, broker: int, terminal: str, printer: str) -> Path:
    path = work / "edge.toml"
    path.write_text(
        f'[store]\nid = "{STORE}"\ntimezone = "Europe/Paris"\n\n'
        f'[cloud]\nurl = "mqtt://127.0.0.1:{broker}"\nclient_id = "edge-{STORE}"\n\n'
        f'[database]\npath = "{work / "edge.db"}"\n\n[log]\nlevel = "warning"\n\n'
        "[mdns]\nadvertise = false\n\n"
        f'[card_reader]\nuri = "serial://{terminal}"\n\n'
        f'[[printers]]\nname = "counter"\nuri = "{printer}"\ncash_drawer = true\n'
    )
    return path


def edge_command() -> list[str]:
    edge_bin = ROOT / ".venv/bin/edge"
    return [str(edge_bin)] if edge_bin.exists() else [sys.executable, "-m", "edge"]


async def through_daemon(args: argparse.Namespace) -> dict[str, Any]:
    """(b) and (c)."""
    work = Path(tempfile.mkdtemp(prefix="edge-till-bench-"))
    broker_port, broker = start_broker(work)
    procs: list[subprocess.Popen[Any]] = [broker]
    try:
        await wait_broker(broker_port, broker)
        async with ConcertTerminalSim() as sim, PrinterEmulator(name="counter") as emu:
            config = daemon_config(work, broker_port, sim.path, emu.uri)
            for name, role, pin in (
                ("cashier", "cashier", CASHIER_PIN),
                ("boss", "supervisor", SUPERVISOR_PIN),
            ):
                await asyncio.to_thread(
                    subprocess.run,
                    [
                        *edge_command(),
                        "staff",
                        "add",
                        name,
                        "--role",
                        role,
                        "--config",
                        str(config),
                    ],
                    input=pin + "\n",
                    text=True,
                    check=True,
                    capture_output=True,
                )
            with (work / "edge.log").open("w") as log:
                daemon = subprocess.Popen(
                    [*edge_command(), "run", "--config", str(config)],
                    stdout=log,
                    stderr=log,
                    cwd=work,
                )
            procs.append(daemon)
            return await measure(args, sim, emu, broker_port)
    finally:
        stop_started(procs, timeout=30)
        shutil.rmtree(work, ignore_errors=True)


async def measure(
    args: argparse.Namespace, sim: ConcertTerminalSim, emu: PrinterEmulator, port: int
) -> dict[str, Any]:
    replies: dict[str, float] = {}
    arrived = asyncio.Event()
    base = f"stores/{STORE}"
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, identifier="bench-cloud"
    ) as cloud:
        await cloud.subscribe(f"{base}/out/replies", qos=1)

        async def collect() -> None:
            async for msg in cloud.messages:
                reply = json.loads(bytes(msg.payload))  # type: ignore[arg-type,unused-ignore]
                replies[reply["id"]] = time.monotonic()
                arrived.set()

        async def command(command_id: str, name: str, args_: dict[str, Any]) -> float:
            start = time.monotonic()
            doc = {"id": command_id, "name": name, "args": args_}
            await cloud.publish(f"{base}/in/commands", json.dumps(doc), qos=1)
            return start

        async def replied(command_id: str) -> float:
            async with asyncio.timeout(10):
                while command_id not in replies:
                    arrived.clear()
                    await arrived.wait()
            return replies[command_id]

        collector = asyncio.create_task(collect())
        try:
            for i in range(60):  # the daemon is up and subscribed
                try:
                    await command(f"warm{i}", "ping", {})
                    await replied(f"warm{i}")
                    break
                except TimeoutError:
                    continue
            ping, at_terminal, paid, kicked = [], [], [], []
            for i in range(args.payments):
                start = await command(f"ping{i}", "ping", {})
                ping.append(await replied(f"ping{i}") - start)
                sim.accepted.clear()
                pay = {"order_id": f"ord_c{i}", "amount": 100 + i, "currency": "EUR"}
                start = await command(f"pay{i}", "pay", {**pay, "pin": CASHIER_PIN})
                await asyncio.wait_for(sim.accepted.wait(), 60)
                at_terminal.append(time.monotonic() - start)
                paid.append(await replied(f"pay{i}") - start)
            for i in range(args.drawers):
                start = await command(
                    f"drawer{i}", "drawer_open", {"pin": SUPERVISOR_PIN, "reason": "bench"}
                )
                # Answered once the printer's connection took the kick (the emulator files
                # a kick-only job when the connection closes, a second later: not a measure).
                kicked.append(await replied(f"drawer{i}") - start)
            await emu.wait_until(
                lambda: sum(len(j.decoded.drawer_kicks) for j in emu.jobs) >= args.drawers,
                timeout=30,
                what="every kick at the printer",
            )
        finally:
            collector.cancel()
    return {
        "payments": args.payments,
        "ping_round_trip": figures_ms(ping),
        "pay_publish_to_request_acked": figures_ms(at_terminal),
        "pay_publish_to_reply": figures_ms(paid),
        "drawer_publish_to_reply_kick_written": figures_ms(kicked) if kicked else None,
        "requests_at_terminal": len(sim.decoded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--staff", type=int, default=20, help="staff for (a)")
    parser.add_argument("--rounds", type=int, default=10, help="checks of each kind in (a)")
    parser.add_argument("--payments", type=int, default=20)
    parser.add_argument("--drawers", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "report.json")
    args = parser.parse_args()
    figures = {
        "pin_checks": asyncio.run(pin_checks(args.staff, args.rounds)),
        "daemon": asyncio.run(through_daemon(args)),
    }
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["till"] = figures
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
