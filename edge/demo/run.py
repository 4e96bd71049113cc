"""The scripted demonstration behind `edge demo` / `scripts/demo`.

Starts a private mosquitto, two emulated network printers that write every ticket as
text and PNG, a simulated card terminal, and the real daemon; then plays the cloud: sends
sample orders (with a duplicate, a malformed payload, an acceptance, a cancellation and a
scheduled order), then takes payments at the till and opens the cash drawer, and shows each
event the daemon publishes and each reply to a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console

from drivers.concert.simulator import ConcertTerminalSim
from drivers.emulator import PrinterEmulator
from edge.demo import till

STORE = "st_demo"
PREFIX = "stores"
console = Console(highlight=False)


def _fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        resources.files("edge.demo").joinpath(f"{name}.json").read_text("utf-8")
    )
    return doc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while True:  # wait for the listener: connect attempts, not sleeps
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("mosquitto did not start") from None
            await asyncio.sleep(0.05)


def _write_config(
    workdir: Path,
    port: int,
    kitchen: PrinterEmulator,
    pasta: PrinterEmulator,
    locale: str,
    terminal: str,
    path: Path | None = None,
) -> Path:
    path = path or workdir / "edge.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""# store-edge demo configuration (written by `edge demo`)
[store]
id = "{STORE}"
name = "Burger Lab Bastille"
timezone = "Europe/Paris"
locale = "{locale}"

[cloud]
url = "mqtt://127.0.0.1:{port}"
backoff_initial_s = 0.2
backoff_max_s = 2

[database]
path = "{workdir / "edge.db"}"

[orders]
release_lead_min = 30

[[printers]]
name = "kitchen"
uri = "{kitchen.uri}"
width = 48
cash_drawer = true

[[printers]]
name = "pasta"
uri = "{pasta.uri}"
width = 32
brands = ["Pasta Nostra"]
"""
        + till.config_lines(terminal),
        encoding="utf-8",
    )
    return path


def _describe(event: dict[str, Any]) -> str:
    data = event.get("data", {})
    detail = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("job",))
    return f"#{event['seq']:<4} {event['type']:<17} {event.get('order_id') or '':<13} {detail}"


async def run_demo(
    out: Path, *, keep_running: bool, locale: str, config_path: Path | None = None
) -> bool:
    """Run the demonstration; True when every expected ticket and event was seen."""
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "tickets").mkdir(parents=True)
    broker, port = await _start_broker(out)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        async with (
            PrinterEmulator(name="kitchen", output_dir=out / "tickets", width_chars=48) as kitchen,
            PrinterEmulator(name="pasta", output_dir=out / "tickets", width_chars=32) as pasta,
            ConcertTerminalSim() as terminal,
        ):
            config = _write_config(out, port, kitchen, pasta, locale, terminal.path, config_path)
            console.print(
                f"[bold]store-edge demo[/bold]  broker 127.0.0.1:{port}, printers kitchen {kitchen.uri} and pasta {pasta.uri}"
            )
            console.print(f"config {config}; tickets in {out / 'tickets'}")
            console.print(
                f"card terminal (simulated Ingenico, Concert protocol) on {terminal.path}"
            )
            await till.add_staff(config, console)
            console.print()
            log = (out / "daemon.log").open("wb")
            daemon = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "--config", str(config)],
                stdout=log,
                stderr=log,
            )
            ok = await _play(port, kitchen, pasta)
            if keep_running and ok:
                console.print(
                    f"\n[bold]Still running[/bold] (Ctrl-C to stop). Publish orders with:\n"
                    f"  mosquitto_pub -p {port} -q 1 -t {PREFIX}/{STORE}/in/orders -f ORDER.json\n"
                    f"  edge orders list --config {config}"
                )
                with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
                    await asyncio.Event().wait()
            return ok
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
        broker.terminate()
        broker.wait(10)
        console.print(f"\ntickets: {out / 'tickets'}   daemon log: {out / 'daemon.log'}")


async def _play(port: int, kitchen: PrinterEmulator, pasta: PrinterEmulator) -> bool:
    base = f"{PREFIX}/{STORE}"
    events: list[dict[str, Any]] = []
    changed = asyncio.Event()
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, identifier="demo-cloud"
    ) as cloud:
        await cloud.subscribe(f"{base}/out/#", qos=1)

        replies: dict[str, dict[str, Any]] = {}

        async def collect() -> None:
            async for msg in cloud.messages:
                if msg.topic.value.endswith("/out/events"):
                    event = json.loads(bytes(msg.payload))  # type: ignore[arg-type,unused-ignore]
                    events.append(event)
                    console.print(_describe(event))
                    changed.set()
                elif msg.topic.value.endswith("/out/replies"):
                    reply = json.loads(bytes(msg.payload))  # type: ignore[arg-type,unused-ignore]
                    replies[reply.get("id")] = reply
                    console.print(f"      reply {json.dumps(reply, ensure_ascii=False)}")
                    changed.set()

        async def wait(what: str, predicate: Any, timeout: float = 60) -> bool:
            try:
                async with asyncio.timeout(timeout):
                    while not predicate():
                        changed.clear()
                        await changed.wait()
            except TimeoutError:
                console.print(f"[red]timed out waiting for {what}[/red]")
                return False
            return True

        def count(type_: str, **match: Any) -> int:
            return sum(
                1
                for e in events
                if e["type"] == type_
                and all(e.get("data", {}).get(k, e.get(k)) == v for k, v in match.items())
            )

        async def send(title: str, order: dict[str, Any] | str) -> None:
            console.print(f"\n[cyan]cloud → {title}[/cyan]")
            payload = order if isinstance(order, str) else json.dumps(order)
            await cloud.publish(f"{base}/in/orders", payload, qos=1)

        async def command(title: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
            console.print(f"\n[cyan]cloud → {title}[/cyan]")
            command_id = f"demo-{len(replies) + 1}-{name}"
            doc = {"id": command_id, "name": name, "args": args}
            await cloud.publish(f"{base}/in/commands", json.dumps(doc), qos=1)
            await wait(f"the reply to {name}", lambda: command_id in replies)
            return replies.get(command_id, {})

        collector = asyncio.create_task(collect(), name="demo-collector")
        try:
            if not await wait("edge.connected", lambda: count("edge.connected") >= 1, 30):
                return False
            now = datetime.now(UTC)
            burger = _fixture("ubereats_delivery") | {"placed_at": _iso(now)}
            await send("Uber Eats order A1B2C (Burger Lab)", burger)
            ok = await wait(
                "its kitchen ticket", lambda: count("order.printed", ticket="kitchen") >= 1
            )
            await send("the same order again (a platform re-send)", burger)
            ok &= await wait(
                "the duplicate answer", lambda: count("order.received", duplicate=True) >= 1
            )
            await send(
                "a malformed order (revision given as a string)",
                json.dumps(burger | {"id": "ord_bad", "revision": "1"}),
            )
            ok &= await wait("order.rejected", lambda: count("order.rejected") >= 1)
            pending = _fixture("doordash_pending") | {"placed_at": _iso(now)}
            await send("DoorDash order 77123, pending (nothing prints)", pending)
            ok &= await wait(
                "order.received", lambda: count("order.received", order_id=pending["id"]) >= 1
            )
            await send(
                "DoorDash order 77123 accepted (revision 2)",
                pending | {"revision": 2, "status": "accepted"},
            )
            ok &= await wait(
                "its kitchen ticket", lambda: count("order.printed", ticket="kitchen") >= 2
            )
            web = _fixture("self_delivery_with_tip") | {"placed_at": _iso(now)}
            await send("website order W42, own courier (address on the ticket)", web)
            ok &= await wait(
                "its kitchen ticket", lambda: count("order.printed", ticket="kitchen") >= 3
            )
            scripts = _fixture("ubereats_delivery_scripts") | {"placed_at": _iso(now)}
            await send(
                "Uber Eats order K7M3Q for 王小明, an Arabic note (lines no code page holds "
                "print as images)",
                scripts,
            )
            ok &= await wait(
                "its kitchen ticket", lambda: count("order.printed", ticket="kitchen") >= 4
            )
            cancelled = _fixture("ubereats_delivery_cancelled_rev2") | {"placed_at": _iso(now)}
            await send("Uber Eats cancels A1B2C (revision 2)", cancelled)
            ok &= await wait(
                "the cancellation ticket",
                lambda: count("order.printed", ticket="cancellation") >= 1,
            )
            scheduled = _fixture("deliveroo_pickup_scheduled") | {
                "placed_at": _iso(now),
                "scheduled_for": _iso(now + timedelta(minutes=30, seconds=8)),
            }
            await send(
                "Deliveroo pickup #4821 (Pasta Nostra) for 30 min 8 s from now: released in 8 s",
                scheduled,
            )
            ok &= await wait("order.scheduled", lambda: count("order.scheduled") >= 1)
            ok &= await wait(
                "the release and its tickets",
                lambda: count("order.printed", order_id=scheduled["id"]) >= 2,
            )
            ok &= await till.play(command, wait, count, burger["id"], console)
            await kitchen.wait_for_jobs(len(kitchen.jobs))
            await pasta.wait_for_jobs(len(pasta.jobs))
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await collector
    tickets = len(kitchen.jobs) + len(pasta.jobs)
    verdict = "[green]demo complete[/green]" if ok else "[red]demo incomplete[/red]"
    console.print(
        f"\n{verdict}: {tickets} tickets printed ({len(kitchen.jobs)} kitchen, {len(pasta.jobs)} pasta), {len(events)} events"
    )
    return bool(ok)
