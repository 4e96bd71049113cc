"""store-edge benchmark: ingest rate, print latency and memory against same-run baselines.

(a) raw broker rate: a burst of N order messages, publisher → a plain paho subscriber (QoS 1,
    its own process), until it holds all N
(b) durable ingest: the same burst to the daemon, until all N are committed (the database's
    own receive times); then the same with 1,000,000 orders already stored (generated in
    SQLite, cached in bench-out/) against the empty-database rate
(c) publish → first ticket byte at 20 orders/s (p50, p99) beside raw broker latency
(d) a rush of 10,000 orders at once: peak resident memory, and (c) again in the minute after
    it (20 orders/s for --after-rush-s)
(e) resident memory once quiet after --memory-orders (40,000) orders
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.emulator import PrinterEmulator  # noqa: E402
from edge.housekeeping import QUIET_S  # noqa: E402

STORE = "st_bench"
BASE = f"stores/{STORE}"
ORDER = json.loads((ROOT / "tests/fixtures/orders/ubereats_delivery.json").read_text("utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def order_payload(i: int, prefix: str) -> bytes:
    doc = dict(ORDER)
    doc["id"] = f"{prefix}{i}"
    doc["source"] = {**ORDER["source"], "display_id": f"{prefix}{i}"}
    return json.dumps(doc).encode()


def stop_started(procs: list[subprocess.Popen[Any]], timeout: float = 15.0) -> None:
    """End the processes this benchmark started (only those, by pid), newest first."""
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class TimedEmulator(PrinterEmulator):
    """The printer emulator, noting when the first byte of each job (ESC @) arrives."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.job_starts: list[float] = []

    def _received(self, connection: Any, data: bytes) -> None:
        now = time.perf_counter()
        self.job_starts.extend(now for _ in range(data.count(b"\x1b@")))
        super()._received(connection, data)


def start_broker(work: Path, *settings: str) -> tuple[int, subprocess.Popen[bytes]]:
    """A private mosquitto on a free loopback port, its config in `work` (plus `settings`
    lines); its port and process. Then `wait_broker`."""
    port = free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        # Without it mosquitto's Nagle meets the client's delayed ACK and adds up to 40 ms to a
        # message that follows an acknowledgement; latency-minded brokers set it.
        "set_tcp_nodelay true\n" + "".join(f"{line}\n" for line in settings)
    )
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen(
        [mosquitto, "-c", str(work / "mosquitto.conf")], stderr=subprocess.DEVNULL
    )
    return port, broker


async def wait_broker(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.025)
    raise RuntimeError("mosquitto did not start")


class Counter:
    """Counts messages on a subscription and timestamps each arrival."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.count = 0
        self.events: dict[str, int] = {}
        self.max_seq = 0
        self.changed = asyncio.Event()

    async def wait(self, predicate: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def subscriber(port: int, topic: str, counter: Counter, ident: str, events: bool) -> None:
    async with aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=ident,
        protocol=aiomqtt.ProtocolVersion.V5,
        max_inflight_messages=1000,
    ) as client:
        await client.subscribe(topic, qos=1)
        counter.changed.set()
        async for msg in client.messages:
            now = time.perf_counter()
            payload = msg.payload if isinstance(msg.payload, bytes) else b""
            if events:
                event = json.loads(payload)
                counter.max_seq = max(counter.max_seq, event["seq"])
                counter.events[event["type"]] = counter.events.get(event["type"], 0) + 1
                if event["type"] == "order.received" and not event["data"]["duplicate"]:
                    counter.count += 1
                    counter.times[event["order_id"]] = now
            else:
                counter.count += 1
                counter.times[json.loads(payload)["id"]] = now
            counter.changed.set()


async def confirm_events(client: aiomqtt.Client, topic: str, counter: Counter) -> None:
    """What the cloud does: confirm the events it stored, about every second (the daemon
    prunes them; in a rush that is a lot of deleting)."""
    confirmed = 0
    while True:
        await asyncio.sleep(1.0)  # the cloud's own pace
        if counter.max_seq > confirmed:
            confirmed = counter.max_seq
            await client.publish(topic, json.dumps({"seq": confirmed}), qos=1)


async def burst(client: aiomqtt.Client, topic: str, payloads: list[bytes]) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(client.publish(topic, p, qos=1) for p in payloads))
    return start


async def paced(
    client: aiomqtt.Client, topic: str, payloads: list[bytes], rate: float
) -> list[float]:
    sent = []
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not waiting for a result
        sent.append(time.perf_counter())
        await client.publish(topic, p, qos=1)
    return sent


# A plain paho subscriber, in a process of its own (no GIL shared with the publisher): the
# raw broker rate the daemon's ingest is held against. Prints {order id: arrival time}.
PAHO_SUBSCRIBER = r"""
import json, re, sys, time
import paho.mqtt.client as mqtt
port, topic, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ident = re.compile(rb'"id": ?"([^"]+)"')
times = {}
def on_connect(client, userdata, flags, reason, props):
    client.subscribe(topic, qos=1)
def on_subscribe(client, userdata, mid, reasons, props):
    print("ready", flush=True)
def on_message(client, userdata, message):
    times[ident.search(message.payload).group(1).decode()] = time.time()
    if len(times) >= n:
        client.disconnect()
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-paho-" + topic,
                     protocol=mqtt.MQTTv5)
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", port)
client.loop_forever()
print(json.dumps(times), flush=True)
"""


class PahoSubscriber:
    """`PAHO_SUBSCRIBER` as a child process: start, wait until subscribed, collect the times."""

    def __init__(self, port: int, topic: str, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PAHO_SUBSCRIBER, str(port), topic, str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )

    async def ready(self) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 10)
        assert line.strip() == "ready", line

    async def times(self, timeout: float) -> dict[str, float]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        self.proc.wait(10)
        return {k: float(v) for k, v in json.loads(line).items()}


async def wall_burst(client: aiomqtt.Client, topic: str, payloads: list[bytes]) -> float:
    """Publish all at once; the wall-clock time of the first publish."""
    start = time.time()
    await asyncio.gather(*(client.publish(topic, p, qos=1) for p in payloads))
    return start


async def committed(db: Path, low: str, high: str, n: int, timeout: float) -> float:
    """Wait until the daemon's database holds n orders with ids in [low, high); the
    wall-clock time the last of them was received (set in the transaction that stored it)."""
    deadline = time.monotonic() + timeout
    while True:
        row = await asyncio.to_thread(_count_orders, db, low, high)
        if row[0] >= n:
            return float(row[1])
        if time.monotonic() > deadline:
            raise TimeoutError(f"{row[0]} of {n} orders committed in {timeout:g} s")
        await asyncio.sleep(0.05)  # polling another process's file, not waiting for an event


def _count_orders(db: Path, low: str, high: str) -> tuple[int, float]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as c:
        count, last = c.execute(
            "SELECT COUNT(*), MAX(received_at) FROM orders WHERE id >= ? AND id < ?", (low, high)
        ).fetchone()
    return int(count), float(last or 0.0)


def million_orders(path: Path, n: int) -> None:
    """A database holding n finished orders of the last 30 days (their tickets printed),
    written directly in SQLite; made once and kept (about 1.5 GB for a million)."""
    if path.exists():
        return
    from edge.db.migrations import migrate

    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    migrate(conn)
    now = time.time()
    chunk = 50_000
    for start in range(0, n, chunk):
        orders, jobs = [], []
        for i in range(start, min(n, start + chunk)):
            oid = f"old{i:07d}"
            doc = {**ORDER, "id": oid, "source": {**ORDER["source"], "display_id": f"O{i}"}}
            at = now - 30 * 86400 * (1 - i / n)
            orders.append((oid, json.dumps(doc), f"O{i}", doc.get("brand"), at, at))
            jobs.append((oid, at, at))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO orders (id, revision, status, payload, partner, display_id, brand,"
            " released, received_at, updated_at) VALUES (?, 1, 'accepted', ?, 'ubereats', ?, ?,"
            " 1, ?, ?)",
            orders,
        )
        conn.executemany(
            "INSERT INTO jobs (kind, order_id, revision, printer, ticket, state, attempts,"
            " created_at, updated_at) VALUES ('print', ?, 1, 'kitchen', 'kitchen', 'done', 1,"
            " ?, ?)",
            jobs,
        )
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(path)


def copy_synced(source: Path, target: Path) -> None:
    """Copy, then fsync: otherwise the daemon's first fsync of the database would also write
    out the whole copy still dirty in the page cache (seconds for 1.5 GB), timed as ingest."""
    shutil.copyfile(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def daemon_config(path: Path, port: int, store: str, db: Path, printer_uri: str, rm: int) -> Path:
    path.write_text(
        f'[store]\nid = "{store}"\ntimezone = "Europe/Paris"\n\n'
        f'[cloud]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "edge-{store}"\n'
        f"receive_maximum = {rm}\n\n"
        f'[database]\npath = "{db}"\n\n[log]\nlevel = "warning"\n\n'
        f'[[printers]]\nname = "kitchen"\nuri = "{printer_uri}"\n'
    )
    return path


def latency_figures(raw_ms: list[float], edge_ms: list[float]) -> dict[str, float]:
    return {
        "orders": len(edge_ms),
        "raw_p50": percentile(raw_ms, 50),
        "raw_p99": percentile(raw_ms, 99),
        "edge_p50": percentile(edge_ms, 50),
        "edge_p99": percentile(edge_ms, 99),
        "edge_max": max(edge_ms),
        "added_p99": percentile(edge_ms, 99) - percentile(raw_ms, 99),
    }


def rss_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    port, broker = start_broker(work, "max_queued_messages 1000000", "max_inflight_messages 1000")
    daemons: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {"n": args.n, "machine": {"cpus": os.cpu_count()}}

    def start_daemon(config: Path, log: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            stderr=(work / log).open("wb"),
        )
        daemons.append(proc)
        return proc

    try:
        await wait_broker(port, broker)
        async with (
            TimedEmulator(name="kitchen") as printer,
            aiomqtt.Client(
                "127.0.0.1",
                port,
                identifier="bench-pub",
                protocol=aiomqtt.ProtocolVersion.V5,
                max_inflight_messages=200,
                max_concurrent_outgoing_calls=200,
            ) as pub,
            asyncio.TaskGroup() as tg,
        ):
            pub.pending_calls_threshold = 10**9  # a burst is the point here: no warning per message
            # ---- (a) raw broker rate: a plain paho subscriber ---------------------------
            rates = []
            for attempt in range(args.raw_rounds):
                sub = PahoSubscriber(port, f"bench/raw{attempt}", args.n)
                await sub.ready()
                payloads = [order_payload(i, f"raw{attempt}-") for i in range(args.n)]
                start = await wall_burst(pub, f"bench/raw{attempt}", payloads)
                times = await sub.times(120)
                rates.append(args.n / (max(times.values()) - start))
            raw_rate = statistics.median(rates)
            report["raw_broker"] = {"msgs_per_s": raw_rate, "rounds": rates}
            print(
                f"(a) raw broker, plain paho subscriber: {args.n} msgs at {raw_rate:,.0f} msg/s"
                f" (median of {len(rates)}: {', '.join(f'{r:,.0f}' for r in rates)})",
                flush=True,
            )

            # ---- the daemon ------------------------------------------------------------
            db = work / "edge.db"
            config = daemon_config(
                work / "edge.toml", port, STORE, db, printer.uri, args.receive_maximum
            )
            events = Counter()
            tg.create_task(
                subscriber(port, f"{BASE}/out/events", events, "bench-cloud", events=True)
            )
            await events.wait(lambda: events.changed.is_set(), 10)
            tg.create_task(confirm_events(pub, f"{BASE}/in/events-ack", events))
            daemon = start_daemon(config, "edge.log")
            await events.wait(lambda: events.events.get("edge.connected", 0) >= 1, 30)
            report["rss_idle_kib"] = rss_kib(daemon.pid)

            # ---- (b) durable ingest ------------------------------------------------------
            payloads = [order_payload(i, "ing") for i in range(args.n)]
            start = await wall_burst(pub, f"{BASE}/in/orders", payloads)
            last = await committed(db, "ing", "inh", args.n, 300)
            ingest_rate = args.n / (last - start)
            report["ingest"] = {
                "seconds": last - start,
                "orders_per_s": ingest_rate,
                "ratio_to_raw": ingest_rate / raw_rate,
            }
            print(
                f"(b) durable ingest: {args.n} orders at {ingest_rate:,.0f} orders/s"
                f" ({ingest_rate / raw_rate:.0%} of raw broker; target >= 25%)",
                flush=True,
            )
            await events.wait(lambda: events.events.get("order.printed", 0) >= args.n, 600)

            # ---- (c) latency at 20 orders/s, quiet ----------------------------------------
            m = args.latency_orders
            raw_lat = Counter()
            tg.create_task(subscriber(port, "bench/lat", raw_lat, "bench-lat-sub", events=False))
            await raw_lat.wait(lambda: raw_lat.changed.is_set(), 10)
            lat_payloads = [order_payload(i, "rl") for i in range(m)]
            sent = await paced(pub, "bench/lat", lat_payloads, args.rate)
            await raw_lat.wait(lambda: raw_lat.count >= m, 60)
            raw_ms = [(raw_lat.times[f"rl{i}"] - sent[i]) * 1000 for i in range(m)]

            async def edge_latency(prefix: str, count: int) -> list[float]:
                before = len(printer.job_starts)
                payloads = [order_payload(i, prefix) for i in range(count)]
                sent = await paced(pub, f"{BASE}/in/orders", payloads, args.rate)
                await printer.wait_until(
                    lambda: len(printer.job_starts) >= before + count, timeout=120, what="tickets"
                )
                starts = printer.job_starts[before : before + count]
                jobs = await printer.wait_for_jobs(before + count, timeout=60)
                assert all(f"{prefix}{i}" in jobs[before + i].text for i in range(count))
                return [(starts[i] - sent[i]) * 1000 for i in range(count)]

            report["latency_ms"] = {
                "rate_per_s": args.rate,
                **latency_figures(raw_ms, await edge_latency("lat", m)),
            }
            lat = report["latency_ms"]
            print(
                f"(c) publish → first ticket byte at {args.rate:g}/s, quiet: p50 {lat['edge_p50']:.1f} ms,"
                f" p99 {lat['edge_p99']:.1f} ms; raw broker p50 {lat['raw_p50']:.1f} ms, p99 {lat['raw_p99']:.1f} ms;"
                f" added p99 {lat['added_p99']:.1f} ms (target <= 15 ms)",
                flush=True,
            )

            # ---- (d) a rush, and the minute after it ------------------------------------------
            done = args.n + m
            payloads = [order_payload(i, "rush") for i in range(args.rush)]
            await wall_burst(pub, f"{BASE}/in/orders", payloads)
            done += args.rush
            await events.wait(lambda: events.events.get("order.printed", 0) >= done, 900)
            rushed = rss_kib(daemon.pid)
            after = int(args.after_rush_s * args.rate)
            after_ms = await edge_latency("after", after)
            done += after
            report["after_rush_latency_ms"] = {
                "rush": args.rush,
                "rate_per_s": args.rate,
                "seconds": args.after_rush_s,
                **latency_figures(raw_ms, after_ms),
            }
            lat = report["after_rush_latency_ms"]
            print(
                f"(d) a rush of {args.rush:,} orders: peak resident memory {rushed['VmHWM'] / 1024:.1f} MiB"
                f" (target <= 100 MB); in the {args.after_rush_s:g} s after it, publish → first ticket byte"
                f" p50 {lat['edge_p50']:.1f} ms, p99 {lat['edge_p99']:.1f} ms, max {lat['edge_max']:.1f} ms;"
                f" added p99 {lat['added_p99']:.1f} ms (target <= 15 ms)",
                flush=True,
            )

            # ---- (e) memory once quiet after many orders ------------------------------------
            rest = max(0, args.memory_orders - done)
            for chunk in range(0, rest, 10_000):
                payloads = [
                    order_payload(i, "mem") for i in range(chunk, min(rest, chunk + 10_000))
                ]
                await wall_burst(pub, f"{BASE}/in/orders", payloads)
                total = done + chunk + len(payloads)
                await events.wait(
                    lambda total=total: events.events.get("order.printed", 0) >= total, 900
                )
            done += rest
            busy = rss_kib(daemon.pid)
            # The daemon gives freed heap back once it has been quiet for a few seconds.
            await asyncio.sleep(QUIET_S + 2)
            mem = rss_kib(daemon.pid)
            report["memory"] = {
                "orders": done,
                "rss_idle_mib": report["rss_idle_kib"]["VmRSS"] / 1024,
                "rss_mib": mem["VmRSS"] / 1024,
                "rss_mib_right_after_last_ticket": busy["VmRSS"] / 1024,
                "peak_rss_mib_in_rush": rushed["VmHWM"] / 1024,
                "peak_rss_mib": mem["VmHWM"] / 1024,
            }
            print(
                f"(e) resident memory: {report['memory']['rss_idle_mib']:.1f} MiB idle,"
                f" {mem['VmRSS'] / 1024:.1f} MiB once quiet after {done:,} orders (target <= 80 MB),"
                f" {busy['VmRSS'] / 1024:.1f} MiB right after the last ticket, peak {mem['VmHWM'] / 1024:.1f} MiB",
                flush=True,
            )
            report["events_seen"] = events.events
            daemon.send_signal(signal.SIGTERM)
            await asyncio.to_thread(daemon.wait, 60)

            # ---- (b) again, with a million orders stored -------------------------------------
            if args.stored:
                big = ROOT / "bench-out" / f"stored-{args.stored}.db"
                big.parent.mkdir(parents=True, exist_ok=True)
                t = time.perf_counter()
                await asyncio.to_thread(million_orders, big, args.stored)
                made_s = time.perf_counter() - t
                big_db = work / "big.db"
                await asyncio.to_thread(copy_synced, big, big_db)
                store = "st_bench_big"
                config = daemon_config(
                    work / "big.toml", port, store, big_db, printer.uri, args.receive_maximum
                )
                big_events = Counter()
                tg.create_task(
                    subscriber(
                        port,
                        f"stores/{store}/out/events",
                        big_events,
                        "bench-cloud-big",
                        events=True,
                    )
                )
                await big_events.wait(lambda: big_events.changed.is_set(), 10)
                tg.create_task(confirm_events(pub, f"stores/{store}/in/events-ack", big_events))
                t = time.perf_counter()
                big_daemon = start_daemon(config, "big.log")
                await big_events.wait(lambda: big_events.events.get("edge.connected", 0) >= 1, 120)
                startup_s = time.perf_counter() - t
                payloads = [order_payload(i, "new") for i in range(args.n)]
                start = await wall_burst(pub, f"stores/{store}/in/orders", payloads)
                last = await committed(big_db, "new", "nex", args.n, 300)
                big_rate = args.n / (last - start)
                report["ingest_stored"] = {
                    "stored_orders": args.stored,
                    "generated_s": made_s,
                    "startup_s": startup_s,
                    "orders_per_s": big_rate,
                    "ratio_to_empty": big_rate / ingest_rate,
                }
                print(
                    f"(b) with {args.stored:,} orders stored: {big_rate:,.0f} orders/s,"
                    f" {big_rate / ingest_rate:.0%} of the empty-database rate (target >= 80%);"
                    f" started in {startup_s:.1f} s",
                    flush=True,
                )
                await big_events.wait(
                    lambda: big_events.events.get("order.printed", 0) >= args.n, 600
                )
                big_daemon.send_signal(signal.SIGTERM)
                await asyncio.to_thread(big_daemon.wait, 60)
            for task in tg._tasks:  # end the subscribers
                task.cancel()
    except* asyncio.CancelledError:
        pass
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="burst size for (a) and (b)")
    parser.add_argument("--raw-rounds", type=int, default=3, help="rounds of (a); median kept")
    parser.add_argument("--rate", type=float, default=20.0, help="orders/s for (c) and (d)")
    parser.add_argument("--latency-orders", type=int, default=200)
    parser.add_argument("--rush", type=int, default=10_000, help="orders at once in (d)")
    parser.add_argument("--after-rush-s", type=float, default=60.0)
    parser.add_argument("--memory-orders", type=int, default=40_000)
    parser.add_argument(
        "--stored",
        type=int,
        default=1_000_000,
        help="orders already stored for the second ingest run (0: skip it)",
    )
    parser.add_argument(
        "--receive-maximum",
        type=int,
        default=100,
        help="the daemon's [cloud] receive_maximum (its default: 100)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "report.json")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    mb = 1 / 1.048576  # MiB per MB
    report["targets"] = {
        "ingest_ratio_ok": report.get("ingest", {}).get("ratio_to_raw", 0) >= 0.25,
        "ingest_stored_ok": report.get("ingest_stored", {}).get("ratio_to_empty", 1) >= 0.8,
        "added_p99_ok": report.get("latency_ms", {}).get("added_p99", 1e9) <= 15,
        "after_rush_added_p99_ok": report.get("after_rush_latency_ms", {}).get("added_p99", 1e9)
        <= 15,
        "memory_quiet_ok": report.get("memory", {}).get("rss_mib", 1e9) <= 80 * mb,
        "memory_rush_peak_ok": report.get("memory", {}).get("peak_rss_mib_in_rush", 1e9)
        <= 100 * mb,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"report: {args.out}  targets: {report['targets']}")


if __name__ == "__main__":
    main()
