"""Printing throughput: N kitchen tickets to the printer emulator three ways, in rounds.

(a) store-edge: the daemon with one tcp:// printer, timed twice with durability as configured
    (FULL commits, status checks, an `order.printed` event per ticket):
    - end to end: N distinct orders published on in/orders in one QoS 1 burst, from the first
      publish until the emulator holds N complete jobs; beside it, the MQTT hop alone (the same
      burst from the same publisher to a bare subscriber);
    - tickets already queued: N more orders taken in while the printer refused connections,
      from the printer's return (the daemon's first connection) to the last complete ticket.
      The like-for-like of (c), which is handed finished bytes.
(b) CUPS: a private cupsd (own ServerRoot/state/cache/spool/logs in a temp folder, loopback port)
    with a raw queue `socket://` to the emulator; one `lp -o raw` per ticket; timed from the first
    `lp` until the emulator holds N complete jobs. Skipped, with a hint, when cups is not installed.
(c) python-escpos: `escpos.printer.Network` per ticket, `_raw(bytes)` then `close()`, in a thread;
    timed from the first connect until the emulator holds N complete jobs.

All three send the same bytes (rendered as the daemon renders them; checked against what it
printed). Each measurement gets a fresh emulator; `--repeat` rounds, medians compared. Results
are merged under "printing" into bench-out/report.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiomqtt
from escpos.capabilities import get_profile
from escpos.printer import Network

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench import Counter as Arrivals  # noqa: E402
from bench import burst, free_port, order_payload, start_broker, subscriber, wait_broker  # noqa: E402

from drivers.emulator import PrinterEmulator  # noqa: E402
from drivers.escpos import encode  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.orders.model import Order  # noqa: E402
from edge.tickets import kitchen_ticket  # noqa: E402

STORE = "st_bench_print"
BASE = f"stores/{STORE}"
PREFIX = "pt"  # order ids pt0 … pt{N-1}
CUPS_HINT = "cups not installed: apt-get install cups (scripts/bench does, when run as root)"
QUEUE = "bench"
ESCPOS_BACKLOG = 4096


class CountingEmulator(PrinterEmulator):
    """The printer emulator, also counting connections and timing what arrives."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.accepted = 0
        self.accepted_at: list[float] = []  # perf_counter of each connection
        # Per received chunk: when, jobs started in it (ESC @), status requests (DLE EOT) in it.
        self.chunks: list[tuple[float, int, int]] = []

    def _connected(self, connection: Any) -> None:
        self.accepted += 1
        self.accepted_at.append(time.perf_counter())
        super()._connected(connection)

    def _received(self, connection: Any, data: bytes) -> None:
        self.chunks.append((time.perf_counter(), data.count(b"\x1b@"), data.count(b"\x10\x04")))
        super()._received(connection, data)

    def ticket_gaps(self) -> dict[str, float] | None:
        """Between consecutive tickets (first bytes to first bytes), and the status part of it.

        `status_ms`: from a ticket's first bytes to the last status request before the next
        ticket (the sender's status round trips); `between_ms`: from that request to the next
        ticket's first bytes (the sender's own work between tickets).
        """
        starts = [i for i, (_, jobs, _) in enumerate(self.chunks) if jobs]
        if len(starts) < 2:
            return None
        whole, status, between = [], [], []
        for a, b in itertools.pairwise(starts):
            asked = [i for i in range(a, b) if self.chunks[i][2]]
            last = self.chunks[asked[-1]][0] if asked else self.chunks[a][0]
            whole.append(self.chunks[b][0] - self.chunks[a][0])
            status.append(last - self.chunks[a][0])
            between.append(self.chunks[b][0] - last)
        ms = 1000.0
        return {
            "interval_ms_p50": statistics.median(whole) * ms,
            "interval_ms_mean": statistics.fmean(whole) * ms,
            "status_ms_p50": statistics.median(status) * ms,
            "between_ms_p50": statistics.median(between) * ms,
            "between_ms_mean": statistics.fmean(between) * ms,
        }


def printer_facts(emu: CountingEmulator, jobs: list[Any], tickets: list[bytes]) -> dict[str, Any]:
    """What the printer saw: connections, status requests, and whether it got exactly our bytes."""
    raws = [job.raw for job in jobs]
    return {
        "connections": emu.accepted,
        "status_requests": emu.status_requests,
        "incomplete_jobs": sum(not job.complete for job in emu.jobs),
        "bytes_match": Counter(raws) == Counter(tickets),
        "in_order": raws == tickets,
        "per_ticket": emu.ticket_gaps(),
    }


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because an accept queue was full (system-wide)."""
    try:
        head, values = Path("/proc/net/netstat").read_text().splitlines()[:2]
        return int(dict(zip(head.split(), values.split(), strict=True))["ListenOverflows"])
    except (OSError, ValueError, KeyError):
        return None


def _with_id(payload: bytes, order_id: str) -> bytes:
    doc = json.loads(payload)
    doc["id"] = order_id
    return json.dumps(doc).encode()


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


# ---- (a) store-edge ----------------------------------------------------------------------------


def write_config(work: Path, broker_port: int, printer_uri: str) -> Path:
    config = work / "edge.toml"
    config.write_text(
        f'[store]\nid = "{STORE}"\ntimezone = "Europe/Paris"\n\n'
        f'[cloud]\nurl = "mqtt://127.0.0.1:{broker_port}"\n\n'
        f'[database]\npath = "{work / "edge.db"}"\n\n[log]\nlevel = "warning"\n\n'
        f'[[printers]]\nname = "kitchen"\nuri = "{printer_uri}"\n'
        # the queued-drain measurement waits for the printer to come back: retry often
        "retry_max_s = 0.2\n"
    )
    return config


def render_tickets(config_path: Path, payloads: list[bytes]) -> list[bytes]:
    """Each order's kitchen ticket, encoded with the daemon's settings for the configured printer."""
    config = load_config(config_path)
    printer = config.printers[0]
    tickets = []
    for payload in payloads:
        blocks = kitchen_ticket(
            Order.model_validate_json(payload),
            locale=config.store.locale,
            timezone=config.store.timezone,
            printer=printer.name,
        )
        tickets.append(encode(blocks, width=printer.width, encoding=printer.encoding))
    return tickets


class Events:
    """The daemon's events as the cloud sees them: connected, and first `order.printed` per order."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.subscribed = asyncio.Event()
        self.connected = asyncio.Event()
        self.all_printed = asyncio.Event()
        self.printed: dict[str, float] = {}
        self.received: dict[str, float] = {}
        self.types: dict[str, int] = {}
        self.queued: set[str] = set()
        self.all_queued = asyncio.Event()

    async def watch(self, port: int) -> None:
        async with aiomqtt.Client(
            "127.0.0.1",
            port,
            identifier="bench-print-cloud",
            protocol=aiomqtt.ProtocolVersion.V5,
            max_inflight_messages=1000,
        ) as client:
            await client.subscribe(f"{BASE}/out/events", qos=1)
            self.subscribed.set()
            async for msg in client.messages:
                now = time.perf_counter()
                event = json.loads(msg.payload if isinstance(msg.payload, bytes) else b"{}")
                kind = event.get("type", "?")
                self.types[kind] = self.types.get(kind, 0) + 1
                if kind == "edge.connected":
                    self.connected.set()
                elif kind == "order.received" and str(event.get("order_id")).startswith(PREFIX):
                    self.received.setdefault(event["order_id"], now)
                elif kind == "order.received" and str(event.get("order_id")).startswith("q"):
                    self.queued.add(event["order_id"])
                    if len(self.queued) >= self.n:
                        self.all_queued.set()
                elif kind == "order.printed" and str(event.get("order_id")).startswith(PREFIX):
                    self.printed.setdefault(event["order_id"], now)
                    if len(self.printed) >= self.n:
                        self.all_printed.set()


async def mqtt_hop(pub: aiomqtt.Client, port: int, payloads: list[bytes], timeout: float) -> float:
    """The MQTT hop alone: the same burst from the same publisher to a bare subscriber."""
    got = Arrivals()
    task = asyncio.create_task(subscriber(port, "bench/hop", got, "bench-print-hop", events=False))
    try:
        await got.wait(got.changed.is_set, 10)
        start = await burst(pub, "bench/hop", payloads)
        await got.wait(lambda: got.count >= len(payloads), timeout)
        return max(got.times.values()) - start
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_edge(
    args: argparse.Namespace, payloads: list[bytes]
) -> tuple[dict[str, Any], list[bytes]]:
    """(a): returns the result and the tickets rendered the daemon's way."""
    work = Path(tempfile.mkdtemp(prefix="edge-bench-print-"))
    port, broker = start_broker(work, "max_queued_messages 1000000", "max_inflight_messages 1000")
    daemon: subprocess.Popen[bytes] | None = None
    watcher: asyncio.Task[None] | None = None
    daemon_log = (work / "edge.log").open("wb")
    try:
        await wait_broker(port, broker)
        async with CountingEmulator(name="kitchen") as emu:
            config = write_config(work, port, emu.uri)
            tickets = render_tickets(config, payloads)
            events = Events(args.n)
            watcher = asyncio.create_task(events.watch(port))
            async with asyncio.timeout(10):
                await events.subscribed.wait()
            profile = (
                ["-m", "cProfile", "-o", str(args.profile_daemon)] if args.profile_daemon else []
            )
            daemon = subprocess.Popen(
                [sys.executable, *profile, "-m", "edge", "run", "--config", str(config)],
                stderr=daemon_log,
            )
            try:
                async with asyncio.timeout(30):
                    await events.connected.wait()
            except TimeoutError:
                raise RuntimeError(f"the daemon did not connect; {work / 'edge.log'}") from None
            async with aiomqtt.Client(
                "127.0.0.1",
                port,
                identifier="bench-print-pub",
                protocol=aiomqtt.ProtocolVersion.V5,
                max_inflight_messages=args.n,
                max_concurrent_outgoing_calls=args.n,
            ) as pub:
                pub.pending_calls_threshold = 10**9  # a burst: no warning per message
                hop_s = await mqtt_hop(pub, port, payloads, args.timeout)
                cpu0 = cpu_seconds(daemon.pid)
                wall_start, start = time.time(), time.perf_counter()
                await asyncio.gather(
                    *(pub.publish(f"{BASE}/in/orders", p, qos=1) for p in payloads)
                )
                published = time.perf_counter() - start
                jobs = await emu.wait_for_jobs(args.n, timeout=args.timeout)
                printed_s = time.perf_counter() - start
                cpu = cpu_seconds(daemon.pid) - cpu0
                try:
                    async with asyncio.timeout(args.timeout):
                        await events.all_printed.wait()
                except TimeoutError:
                    raise RuntimeError(
                        f"{len(events.printed)} of {args.n} order.printed events arrived"
                    ) from None
                events_s = max(events.printed.values()) - start
                ingested_s = max(events.received.values(), default=start) - start
                # The printing path alone: N tickets already queued (the printer was down
                # while they came in), timed from the first ticket to the last at the printer.
                emu.refuse()
                emu.drop_now()  # also the connection kept open for a rush
                before = len(emu.jobs)
                queued = [_with_id(p, f"q{i}") for i, p in enumerate(payloads)]
                await asyncio.gather(*(pub.publish(f"{BASE}/in/orders", p, qos=1) for p in queued))
                async with asyncio.timeout(args.timeout):
                    await events.all_queued.wait()
                assert len(emu.jobs) == before, "nothing printed while the printer was away"
                # The cloud's subscriber shares this process (and its CPU) with the emulator:
                # it stops here, so the drain times the daemon and the printer only. The
                # daemon still writes and publishes every event.
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await watcher
                connections = len(emu.accepted_at)
                await emu.accept()
                await emu.wait_for_jobs(before + args.n, timeout=args.timeout)
                # From the printer's return (the daemon's first connection to it) to the last
                # ticket complete: status check, reading the queue and commits included.
                drain_s = emu.chunks[-1][0] - emu.accepted_at[connections]
            result = {
                "mqtt_hop_seconds": hop_s,
                "mqtt_hop_msgs_per_s": rate(args.n, hop_s),
                "seconds": printed_s,
                "tickets_per_s": rate(args.n, printed_s),
                "events_seconds": events_s,
                "events_tickets_per_s": rate(args.n, events_s),
                "publish_seconds": published,
                "first_ticket_seconds": jobs[0].received_at.timestamp() - wall_start,
                "all_received_seconds": ingested_s,
                "daemon_cpu_seconds": cpu,
                "queued_drain_seconds": drain_s,
                "queued_drain_tickets_per_s": rate(args.n, drain_s),
                **printer_facts(emu, jobs[: args.n], tickets),
                "driven_by": "the daemon (`python -m edge run`), one tcp:// printer, orders "
                "published on in/orders in one QoS 1 burst",
            }
            return result, tickets
    except BaseException:
        daemon_log.flush()
        log = work / "edge.log"
        if log.stat().st_size:
            print("edge.log (tail):\n" + log.read_text(errors="replace")[-2000:], file=sys.stderr)
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await watcher
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(10)
        daemon_log.close()
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(work, ignore_errors=True)


# ---- (b) CUPS ----------------------------------------------------------------------------------


def cups_tools() -> dict[str, str] | None:
    """cupsd, lpadmin and lp, or None when cups is not installed."""
    tools = {}
    for name in ("cupsd", "lpadmin", "lp"):
        path = shutil.which(name) or next(
            (p for d in ("/usr/sbin", "/usr/bin") if os.access(p := f"{d}/{name}", os.X_OK)), None
        )
        if path is None:
            return None
        tools[name] = path
    return tools


def write_cups_config(work: Path, port: int) -> tuple[Path, Path]:
    """A cupsd of our own: loopback port, no auth, every path inside `work`."""
    dirs = {name: work / name for name in ("etc", "state", "cache", "spool", "spool/tmp", "log")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    conf = dirs["etc"] / "cupsd.conf"
    conf.write_text(
        f"Listen 127.0.0.1:{port}\n"
        "LogLevel warn\nBrowsing No\nWebInterface No\nDefaultAuthType None\n"
        "MaxJobs 0\nPreserveJobHistory No\nPreserveJobFiles No\n"
        "<Location />\n  Order allow,deny\n  Allow from 127.0.0.1\n</Location>\n"
        "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
    )
    files = dirs["etc"] / "cups-files.conf"
    files.write_text(
        f"ServerRoot {dirs['etc']}\nStateDir {dirs['state']}\nCacheDir {dirs['cache']}\n"
        f"RequestRoot {dirs['spool']}\nTempDir {dirs['spool/tmp']}\n"
        f"ErrorLog {dirs['log']}/error_log\nAccessLog {dirs['log']}/access_log\n"
        f"PageLog {dirs['log']}/page_log\n"
        # Backends and data from the system's installation (read only).
        "ServerBin /usr/lib/cups\nDataDir /usr/share/cups\nFileDevice No\n"
    )
    return conf, files


@contextlib.asynccontextmanager
async def private_cupsd(tools: dict[str, str], work: Path) -> AsyncIterator[int]:
    """Run cupsd in the foreground on a private loopback port; yields the port."""
    port = free_port()
    conf, files = write_cups_config(work, port)
    log = (work / "log" / "cupsd.out").open("wb")
    proc = subprocess.Popen(
        [tools["cupsd"], "-f", "-c", str(conf), "-s", str(files)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(400):  # a bounded poll for a server to start listening
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.025)
        else:
            raise RuntimeError("cupsd did not start listening within 10 s")
        if proc.poll() is not None:
            raise RuntimeError(f"cupsd exited with {proc.returncode}")
        yield port
    except BaseException:
        for name in ("cupsd.out", "error_log"):
            path = work / "log" / name
            if path.exists():
                print(f"cupsd {name} (tail):\n{path.read_text(errors='replace')[-2000:]}")
        raise
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


async def run_tool(*cmd: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def cups_server_header(port: int) -> str | None:
    server: str | None = None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            server = resp.headers.get("Server")
    except urllib.error.HTTPError as err:
        server = err.headers.get("Server")
    except OSError:
        pass
    return server


def ticket_files(tickets: list[bytes]) -> tuple[Path, list[Path]]:
    """A temp folder for cupsd, holding one file per ticket for `lp`."""
    work = Path(tempfile.mkdtemp(prefix="edge-bench-cups-"))
    work.chmod(0o755)  # backends run as the `lp` user and read the spooled files
    (work / "tickets").mkdir()
    files = [work / "tickets" / f"{i:04d}.bin" for i in range(len(tickets))]
    for path, data in zip(files, tickets, strict=True):
        path.write_bytes(data)
    return work, files


async def measure_cups(args: argparse.Namespace, tickets: list[bytes]) -> dict[str, Any]:
    tools = None if args.skip_cups else cups_tools()
    if args.skip_cups:
        return {"skipped": "--skip-cups"}
    if tools is None:
        print(f"(b) {CUPS_HINT}; skipping the CUPS measurement", flush=True)
        return {"skipped": CUPS_HINT}
    work, files = await asyncio.to_thread(ticket_files, tickets)
    try:
        async with private_cupsd(tools, work) as port, CountingEmulator(name="cups") as emu:
            server = f"127.0.0.1:{port}"
            device = f"socket://127.0.0.1:{emu.port}"
            # CUPS 2.4 takes `-m raw` with a deprecation warning; without -m it also makes a
            # raw queue ("Local Raw Printer"), the form left once the raw model is gone.
            lpadmin = [tools["lpadmin"], "-h", server, "-p", QUEUE, "-E", "-v", device]
            model = ["-m", "raw"]
            rc, said = await run_tool(*lpadmin, *model)
            if rc != 0:
                model = []
                rc, said_again = await run_tool(*lpadmin)
                said = f"with -m raw: {said}; without -m: {said_again}"
            if rc != 0:
                raise RuntimeError(f"lpadmin failed ({rc}): {said}")
            header = await asyncio.to_thread(cups_server_header, port)
            limit = asyncio.Semaphore(args.lp_concurrency)

            async def lp(path: Path) -> None:
                async with limit:
                    rc, out = await run_tool(
                        tools["lp"], "-h", server, "-d", QUEUE, "-o", "raw", str(path)
                    )
                if rc != 0:
                    raise RuntimeError(f"lp failed ({rc}): {out}")

            start = time.perf_counter()
            async with asyncio.TaskGroup() as tg:
                for path in files:  # started in order; the semaphore lets them through in order
                    tg.create_task(lp(path))
            submitted = time.perf_counter() - start
            jobs = await emu.wait_for_jobs(len(tickets), timeout=args.timeout)
            seconds = time.perf_counter() - start
            return {
                "seconds": seconds,
                "tickets_per_s": rate(len(tickets), seconds),
                "submit_seconds": submitted,
                "lp_concurrency": args.lp_concurrency,
                "cups_server": header,
                "queue": " ".join(
                    ["lpadmin", *lpadmin[1:-1], "socket://127.0.0.1:<emulator>", *model]
                ),
                "lpadmin_said": said,
                "submit": f"one `lp -h {server} -d {QUEUE} -o raw <file>` process per ticket, "
                f"{args.lp_concurrency} at a time",
                **printer_facts(emu, jobs[: len(tickets)], tickets),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- (c) python-escpos -------------------------------------------------------------------------


def escpos_send(port: int, tickets: list[bytes], timeout: float) -> list[float]:
    """Print each ticket the way python-escpos users do; returns the seconds each one took."""
    took = []
    for data in tickets:
        t0 = time.perf_counter()
        printer = Network("127.0.0.1", port=port, timeout=timeout)
        printer._raw(data)
        printer.close()
        took.append(time.perf_counter() - t0)
    return took


async def measure_escpos(args: argparse.Namespace, tickets: list[bytes]) -> dict[str, Any]:
    get_profile()  # load the capabilities database before timing (a POS process has it loaded)
    # A listen backlog deep enough for the sender to run ahead of the emulator: with the
    # emulator's default (64) a connection beyond it waits a second for a SYN retransmit.
    async with CountingEmulator(name="escpos", backlog=ESCPOS_BACKLOG) as emu:
        overflows = listen_overflows()
        start = time.perf_counter()
        took = await asyncio.to_thread(escpos_send, emu.port, tickets, args.escpos_timeout)
        sent = time.perf_counter() - start
        jobs = await emu.wait_for_jobs(len(tickets), timeout=args.timeout)
        seconds = time.perf_counter() - start
        after = listen_overflows()
        return {
            "seconds": seconds,
            "tickets_per_s": rate(len(tickets), seconds),
            "send_seconds": sent,
            "slowest_ticket_ms": max(took) * 1000,
            # The sender can get up to the listen backlog (ESCPOS_BACKLOG, capped by the kernel's
            # somaxconn) ahead of the emulator; beyond, a SYN is retransmitted after 1 s.
            "listen_overflows_system_wide": None
            if overflows is None or after is None
            else after - overflows,
            "version": version("python-escpos"),
            "driven_by": "escpos.printer.Network per ticket: _raw(bytes), close(); in a thread",
            **printer_facts(emu, jobs[: len(tickets)], tickets),
        }


# ---- report ------------------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


async def one_round(args: argparse.Namespace, payloads: list[bytes], r: int) -> dict[str, Any]:
    """(a), (b) and (c) once, each against a fresh emulator; prints a line per measurement."""
    edge, tickets = await measure_edge(args, payloads)
    print(
        f"[{r}] (a) store-edge: {args.n} tickets in {edge['seconds']:.3f} s ="
        f" {edge['tickets_per_s']:,.0f}/s end to end from MQTT (the MQTT hop alone:"
        f" {edge['mqtt_hop_seconds']:.3f} s; all {args.n} order.received"
        f" after {edge['all_received_seconds']:.3f} s, daemon CPU"
        f" {edge['daemon_cpu_seconds']:.2f} s); already queued: {edge['queued_drain_seconds']:.3f}"
        f" s = {edge['queued_drain_tickets_per_s']:,.0f}/s",
        flush=True,
    )
    if not edge["bytes_match"]:
        print("    note: the daemon printed other bytes than the tickets rendered here", flush=True)
    cups = await measure_cups(args, tickets)
    if "skipped" not in cups:
        print(
            f"[{r}] (b) CUPS raw queue: {cups['seconds']:.3f} s = {cups['tickets_per_s']:,.0f}/s"
            f" ({args.lp_concurrency} lp at a time; {cups['cups_server']})",
            flush=True,
        )
    escpos = await measure_escpos(args, tickets)
    print(
        f"[{r}] (c) python-escpos: {escpos['seconds']:.3f} s = {escpos['tickets_per_s']:,.0f}/s"
        f" (Network {escpos['version']}, one connection per ticket)",
        flush=True,
    )
    if escpos["slowest_ticket_ms"] > 500:
        print(
            f"    note: one python-escpos ticket took {escpos['slowest_ticket_ms']:,.0f} ms"
            f" ({escpos['listen_overflows_system_wide']} accept-queue overflow(s) on this machine"
            " meanwhile): a connect waited for a SYN retransmit",
            flush=True,
        )
    return {
        "store_edge": edge,
        "cups": cups,
        "python_escpos": escpos,
        "ticket_bytes": len(tickets[0]),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    payloads = [order_payload(i, PREFIX) for i in range(args.n)]
    rounds = [await one_round(args, payloads, r + 1) for r in range(args.repeat)]
    edges = [x["store_edge"] for x in rounds]
    cupses = [x["cups"] for x in rounds if "skipped" not in x["cups"]]
    escposes = [x["python_escpos"] for x in rounds]
    edge_rate = _median(edges, "tickets_per_s") or 0.0
    drain = _median(edges, "queued_drain_tickets_per_s") or 0.0
    cups_rate = _median(cupses, "tickets_per_s")
    escpos_rate = _median(escposes, "tickets_per_s") or float("inf")
    hop_rate = _median(edges, "mqtt_hop_msgs_per_s") or float("inf")
    vs_cups = None if cups_rate is None else edge_rate / cups_rate
    drain_vs_cups = None if cups_rate is None else drain / cups_rate
    vs_escpos = edge_rate / escpos_rate
    drain_vs_escpos = drain / escpos_rate

    skipped = next((x["cups"]["skipped"] for x in rounds if "skipped" in x["cups"]), "")

    def times(x: float | None) -> str:
        return f"n/a ({skipped})" if x is None else f"{x:.1f}×"

    cups_text = "n/a" if cups_rate is None else f"{cups_rate:,.0f}/s"
    print(
        f"medians of {args.repeat} round(s), {args.n} tickets each: store-edge end to end"
        f" {edge_rate:,.0f}/s, already queued {drain:,.0f}/s; CUPS {cups_text};"
        f" python-escpos {escpos_rate:,.0f}/s",
        flush=True,
    )
    print(
        f"    end to end from MQTT:   {times(vs_cups)} CUPS (target >= 10×),"
        f" {vs_escpos:.2f}× python-escpos; {edge_rate / hop_rate:.0%} of the MQTT hop alone"
        f" ({hop_rate:,.0f} msg/s: same publisher, bare subscriber, no printing)",
        flush=True,
    )
    print(
        f"    tickets already queued: {times(drain_vs_cups)} CUPS,"
        f" {drain_vs_escpos:.2f}× python-escpos (target >= 1.0)  [printing path, durability kept]",
        flush=True,
    )
    return {
        "tickets": args.n,
        "ticket_bytes": rounds[0]["ticket_bytes"],
        "rounds": args.repeat,
        "machine": {"cpus": os.cpu_count()},
        "median_tickets_per_s": {
            "store_edge_end_to_end": edge_rate,
            "store_edge_queued": drain,
            "mqtt_hop_alone": hop_rate,
            "cups": cups_rate,
            "python_escpos": escpos_rate,
        },
        "store_edge": edges,
        "cups": [x["cups"] for x in rounds],
        "python_escpos": escposes,
        "ratio_edge_to_cups": vs_cups,
        "ratio_edge_to_escpos": vs_escpos,
        "ratio_queued_drain_to_cups": drain_vs_cups,
        "ratio_queued_drain_to_escpos": drain_vs_escpos,
        "targets": {
            "vs_cups_ok": None if vs_cups is None else vs_cups >= 10,
            "vs_escpos_ok": drain_vs_escpos >= 1.0,
            "same_bytes_everywhere": all(
                r.get("bytes_match", True)
                for x in rounds
                for r in x.values()
                if isinstance(r, dict)
            ),
        },
    }


def merge_report(out: Path, printing: dict[str, Any]) -> None:
    report: dict[str, Any] = {}
    if out.exists():
        try:
            report = json.loads(out.read_text("utf-8"))
        except ValueError:
            print(f"{out} was not JSON; starting a new report", file=sys.stderr)
    report["printing"] = printing
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="tickets per measurement")
    parser.add_argument(
        "--lp-concurrency",
        type=int,
        default=1,
        help="lp processes running at once for (b); 1 = one after the other, as a POS does",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of (a), (b), (c); medians are compared"
    )
    parser.add_argument("--skip-cups", action="store_true", help="leave (b) out")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per measurement")
    parser.add_argument(
        "--escpos-timeout", type=float, default=10.0, help="python-escpos socket timeout"
    )
    parser.add_argument(
        "--profile-daemon",
        type=Path,
        metavar="FILE",
        help="run the daemon of (a) under cProfile and write its stats to FILE (slower)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "report.json")
    args = parser.parse_args()
    if args.n < 2 or args.lp_concurrency < 1 or args.repeat < 1:
        parser.error("--n must be at least 2, --lp-concurrency and --repeat at least 1")
    printing = asyncio.run(run(args))
    merge_report(args.out, printing)
    print(f'report: {args.out} ("printing")  targets: {printing["targets"]}')


if __name__ == "__main__":
    main()
