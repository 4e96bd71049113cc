"""store-edge soak: zero loss under abuse.

Starts a private mosquitto (persistence on), printer emulators and the daemon (a child process),
then sends orders as the cloud of CONTRACT §2 does (QoS 1, re-sent until `order.received`, on
every `edge.connected` and every 10 s; events de-duplicated by id, gaps replayed) while, at
seeded random points, it SIGKILLs and restarts the daemon, restarts the broker (SIGTERM, and
SIGKILL: PUBACKed messages are lost, the cloud's re-sending covers them) and breaks the printers
(dropped connection, stall, paper out). At the end it waits (bounded) until everything printed,
stops the daemon with SIGTERM and checks: every order received and stored, printed on each of
its kitchen printers with at most one unmarked copy (every other copy says REPRINT), an
`order.printed` event for each, event seqs 1..last all seen, `PRAGMA integrity_check` ok.

Order mix (tests/fixtures/orders): accepted orders of every fixture, scheduled orders released
during the run, pending orders accepted later (revision 2), accepted orders cancelled later
(revision 2; the cancellation slip must print wherever the kitchen ticket printed) and pending
orders never accepted (nothing may print).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import getpass
import json
import logging
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.emulator import PrinterEmulator, RecordedJob  # noqa: E402

STORE = "st_soak"
BASE = f"stores/{STORE}"
FIXTURES = ROOT / "tests" / "fixtures" / "orders"
LEAD_MIN = 30  # [orders] release_lead_min
RESEND_S = 10.0  # the cloud re-sends unacknowledged orders this often ...
RESEND_MIN_AGE_S = 5.0  # ... when their last attempt is at least this old
GAP_GRACE_S = 3.0  # a seq missing this long (with later ones seen) is replayed
REPLAY_EVERY_S = 10.0
PASTA = "Pasta Nostra"  # the brand the second printer serves (beside the kitchen printer)
DISPLAY_PREFIX = "SK"

# (kind, fixture, weight). Kinds: accepted, scheduled (released during the run), pending_accept
# (pending, then accepted as revision 2), cancel (accepted, then cancelled as revision 2),
# pending_only (never accepted: nothing prints).
MIX: list[tuple[str, str, int]] = [
    ("accepted", "ubereats_delivery", 28),
    ("accepted", "self_delivery_with_tip", 17),
    ("accepted", "deliveroo_pickup_scheduled", 13),
    ("accepted", "large_catering_order", 6),
    ("scheduled", "deliveroo_pickup_scheduled", 6),
    ("pending_accept", "doordash_pending", 12),
    ("cancel", "ubereats_delivery", 15),
    ("pending_only", "doordash_pending", 3),
]

DAEMON_PRINTER_SETTINGS = {
    # Production-shaped but quicker to notice and retry, so a soak does not spend its time
    # in 60 s backoffs; every timeout still applies.
    "connect_timeout_s": 2.0,
    "write_timeout_s": 3.0,
    "status_timeout_s": 1.0,
    "status_interval_s": 5.0,
    "retry_initial_s": 0.2,
    "retry_max_s": 2.0,
    "fault_poll_s": 0.5,
}


def log(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


# ---- the plan -------------------------------------------------------------------------------


@dataclass
class PlannedOrder:
    n: int
    id: str
    display_id: str
    kind: str
    fixture: str
    brand: str | None
    at: float  # first send, seconds after the start
    release_in_s: float = 0.0  # scheduled: released this long after the first send
    placed_at: str = ""
    scheduled_for: str | None = None

    @property
    def final_revision(self) -> int:
        return 2 if self.kind in ("pending_accept", "cancel") else 1

    @property
    def final_status(self) -> str:
        return {"pending_only": "pending", "cancel": "cancelled"}.get(self.kind, "accepted")


@dataclass
class Send:
    at: float
    order_id: str
    revision: int


@dataclass
class Action:
    at: float
    kind: str  # kill | broker_restart | broker_kill | printer_fault
    hold_s: float = 0.0  # restart delay, broker downtime, fault duration
    printer: str = ""
    fault: str = ""  # drop | stall | paper_out
    nbytes: int = 0
    refuse: bool = False
    note: str = ""


@dataclass
class Plan:
    duration_s: float
    orders: list[PlannedOrder]
    sends: list[Send]
    actions: list[Action]
    bursts: list[float]


def spread(rng: random.Random, k: int, lo: float, hi: float) -> list[float]:
    """k points over [lo, hi], one in each of k equal slices: spread over the run, yet random."""
    if k <= 0:
        return []
    width = (hi - lo) / k
    return [lo + width * i + rng.uniform(0, width) for i in range(k)]


def make_plan(args: argparse.Namespace, printers: list[str]) -> Plan:
    rng = random.Random(args.seed)
    duration = args.minutes * 60.0
    n = args.orders
    digits = max(5, len(str(n)))
    bursts_n = 0 if n < 50 else (1 if n < 600 else 3)
    burst_size = max(5, n // 25) if bursts_n else 0
    bursts = sorted(
        duration * (i + 1) / (bursts_n + 1) + rng.uniform(-0.05, 0.05) * duration
        for i in range(bursts_n)
    )
    steady = n - bursts_n * burst_size
    times = sorted(
        [duration * (i + 0.5) / steady for i in range(steady)]
        + [t for t in bursts for _ in range(burst_size)]
    )
    kinds = rng.choices(MIX, weights=[w for _, _, w in MIX], k=n)
    fixtures = {name: load_fixture(name) for _, name, _ in MIX}
    orders: list[PlannedOrder] = []
    sends: list[Send] = []
    for i, (t, (kind, fixture, _)) in enumerate(zip(times, kinds, strict=True), start=1):
        order = PlannedOrder(
            n=i,
            id=f"ord_soak_{i:0{digits}d}",
            display_id=f"{DISPLAY_PREFIX}{i:0{digits}d}",
            kind=kind,
            fixture=fixture,
            brand=fixtures[fixture].get("brand"),
            at=t,
        )
        sends.append(Send(t, order.id, 1))
        if kind == "scheduled":
            order.release_in_s = min(rng.uniform(3, 40), max(1.0, duration + 5 - t))
        elif kind == "pending_accept":
            sends.append(Send(min(duration, t + rng.uniform(1, 20)), order.id, 2))
        elif kind == "cancel":
            soon = rng.random() < 0.3  # often before the kitchen ticket printed
            delay = rng.uniform(0, 0.3) if soon else rng.uniform(1, 25)
            sends.append(Send(min(duration, t + delay), order.id, 2))
        orders.append(order)
    sends.sort(key=lambda s: (s.at, s.revision))

    actions: list[Action] = []
    lo, hi = 0.05 * duration, 0.92 * duration
    burst_kills = min(len(bursts), max(1, args.kills // 4) if args.kills >= 2 else 0)
    kill_times = [b + rng.uniform(0.05, 1.5) for b in bursts[:burst_kills]]
    notes = ["in a burst"] * len(kill_times)
    kill_times += spread(rng, args.kills - burst_kills, lo, hi)
    notes += [""] * (args.kills - burst_kills)
    for t, note in zip(kill_times, notes, strict=True):
        delay = rng.uniform(0, 0.5) if rng.random() < 0.7 else rng.uniform(0.5, 3)
        actions.append(Action(t, "kill", hold_s=delay, note=note))
    for t in spread(rng, args.broker_restarts, 0.1 * duration, 0.85 * duration):
        actions.append(Action(t, "broker_restart", hold_s=rng.uniform(0.2, 3)))
    for _ in range(args.broker_kills):
        t = rng.uniform(0.15 * duration, 0.85 * duration)
        actions.append(Action(t, "broker_kill", hold_s=rng.uniform(0.2, 2)))
    faults = ["drop", "stall", "paper_out"]
    rng.shuffle(faults)
    for i, t in enumerate(spread(rng, args.printer_faults, lo, 0.9 * duration)):
        fault = faults[i % len(faults)]
        printer = printers[0] if len(printers) == 1 or rng.random() < 0.65 else printers[1]
        action = Action(t, "printer_fault", printer=printer, fault=fault)
        if fault == "drop":
            action.nbytes = rng.randint(20, 4000)
            action.refuse = rng.random() < 0.5
            action.hold_s = rng.uniform(1, 4) if action.refuse else 0.0
        elif fault == "stall":
            action.hold_s = rng.uniform(2, 8)
        else:
            action.hold_s = rng.uniform(3, 15)
        actions.append(action)
    actions.sort(key=lambda a: a.at)
    return Plan(duration, orders, sends, actions, bursts)


def load_fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return doc


def build_doc(order: PlannedOrder, revision: int, fixtures: dict[str, dict[str, Any]]) -> bytes:
    doc = copy.deepcopy(fixtures[order.fixture])
    doc["id"] = order.id
    doc["revision"] = revision
    doc["source"] = {
        **doc["source"],
        "display_id": order.display_id,
        "partner_order_id": f"soak-{order.n}",
    }
    doc["placed_at"] = order.placed_at
    doc["scheduled_for"] = order.scheduled_for
    if order.kind in ("pending_accept", "pending_only"):
        doc["status"] = "accepted" if revision == 2 else "pending"
    elif order.kind == "cancel":
        doc["status"] = "cancelled" if revision == 2 else "accepted"
    else:
        doc["status"] = "accepted"
    return json.dumps(doc, ensure_ascii=False).encode()


# ---- processes ------------------------------------------------------------------------------


async def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Until something accepts on 127.0.0.1:port (our broker), with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)  # polling a port that is not open yet
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise RuntimeError(f"mosquitto did not listen on port {port} within {timeout} s")


class Broker:
    """Our mosquitto: persistent, on a fixed loopback port, stopped and killed by its pid."""

    def __init__(self, work: Path, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = work / "mosquitto.log"
        self.lock = asyncio.Lock()
        store = work / "mosquitto"
        store.mkdir(parents=True, exist_ok=True)
        self.conf = work / "mosquitto.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # As root, mosquitto would switch to its own user, who cannot write our files.
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {store}/\n"
            "max_queued_messages 100000\n"
            "set_tcp_nodelay true\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        )
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with self.log_path.open("ab") as out:
            out.write(f"\n===== soak: start {self.starts} =====\n".encode())
            out.flush()
            self.proc = subprocess.Popen([mosquitto, "-c", str(self.conf)], stdout=out, stderr=out)
        await wait_port(self.port, self.proc, 20)

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None
        proc.send_signal(sig)
        try:
            return await asyncio.to_thread(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return await asyncio.to_thread(proc.wait, 10)


class Daemon:
    """`python -m edge run --config …` as our child; SIGKILLed and SIGTERMed by its pid."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = asyncio.Lock()
        self.runs = 0
        self.unexpected_exits: list[dict[str, Any]] = []

    def start(self, why: str) -> None:
        self.runs += 1
        with self.log_path.open("ab") as out:
            out.write(
                f"\n===== soak: run {self.runs} ({why}) at {rfc3339(time.time())} =====\n".encode()
            )
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "--config", str(self.config)],
                stdout=out,
                stderr=out,
                cwd=self.config.parent,
            )

    async def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)

    async def terminate(self, timeout: float) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
            return None  # did not stop in time: reported


# ---- the cloud ------------------------------------------------------------------------------


class Cloud:
    """The cloud of CONTRACT §2: sends orders, re-sends the unacknowledged ones, collects events."""

    def __init__(self, port: int, verbose: bool) -> None:
        self.port = port
        self.verbose = verbose
        self.client: aiomqtt.Client | None = None
        # paho's "connection reset" warnings are the point of a broker restart, not news
        self.logger = logging.getLogger("soak.cloud")
        self.logger.setLevel(logging.INFO if verbose else logging.CRITICAL)
        self.connections = 0
        self.events: dict[str, dict[str, Any]] = {}
        self.seq_ids: dict[int, str] = {}
        self.seq_conflicts: list[int] = []
        self.deliveries = 0
        self.by_type: Counter[str] = Counter()
        self.acked: dict[str, int] = {}
        self.rejected: list[dict[str, Any]] = []
        self.printed: set[tuple[str, str, str]] = set()
        self.printed_jobs: set[int] = set()
        self.cancelled: set[str] = set()
        self.connected_events = 0
        self.current: dict[str, int] = {}
        self.payloads: dict[tuple[str, int], bytes] = {}
        self.last_attempt: dict[str, float] = {}
        self.attempts = 0
        self.resends = 0
        self.publish_failures = 0
        self.replays: list[int] = []
        self.replies: list[dict[str, Any]] = []
        self.acked_seq = 0
        self._contiguous = 0
        self._gap_seen: dict[int, float] = {}
        self._last_replay = 0.0
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- connection --

    async def run(self) -> None:
        while True:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
            client = aiomqtt.Client(
                "127.0.0.1",
                self.port,
                identifier="soak-cloud",
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=props,
                timeout=5,
                max_inflight_messages=100,
                logger=self.logger,
            )
            client.pending_calls_threshold = 10**6  # bursts and re-sends are the point
            try:
                async with client:
                    await client.subscribe(f"{BASE}/out/#", qos=1)
                    self.client = client
                    self.connections += 1
                    self._notify()
                    async for msg in client.messages:
                        self._handle(msg)
            except aiomqtt.MqttError as err:
                if self.verbose:
                    log(f"  cloud: {err}; reconnecting")
            finally:
                self.client = None
            await asyncio.sleep(0.3)  # reconnect pace

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- waiting --

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout: float) -> None:
        """Until the next event (or `timeout` s, so callers re-check other conditions)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()

    async def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
            await self.changed(min(left, 1.0))

    # -- inbound --

    def _handle(self, msg: aiomqtt.Message) -> None:
        topic = msg.topic.value
        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
        if topic.endswith("/out/replies"):
            with contextlib.suppress(ValueError):
                self.replies.append(json.loads(payload))
            return
        if not topic.endswith("/out/events"):
            return
        self.deliveries += 1
        event = json.loads(payload)
        if event["id"] in self.events:
            return  # at least once: de-duplicated by id
        self.events[event["id"]] = event
        seq = event["seq"]
        if seq in self.seq_ids:
            self.seq_conflicts.append(seq)
        self.seq_ids[seq] = event["id"]
        self._gap_seen.pop(seq, None)
        kind, order_id, data = event["type"], event.get("order_id"), event.get("data") or {}
        self.by_type[kind] += 1
        if kind == "order.received" and order_id:
            rev = max(data.get("revision", 0), data.get("current_revision", 0))
            self.acked[order_id] = max(self.acked.get(order_id, 0), rev)
        elif kind == "order.rejected":
            self.rejected.append(event)
            if order_id:  # acknowledged too (the contract): never re-sent
                self.acked[order_id] = max(self.acked.get(order_id, 0), 10**6)
        elif kind == "order.printed" and order_id:
            self.printed.add((order_id, data.get("printer", ""), data.get("ticket", "")))
            if isinstance(data.get("job"), int):
                self.printed_jobs.add(data["job"])
        elif kind == "order.cancelled" and order_id:
            self.cancelled.add(order_id)
        elif kind == "edge.connected":
            self.connected_events += 1
            if self.verbose:
                log(f"  cloud: edge.connected seq {seq} last_seq {data.get('last_seq')}")
            self.resend(min_age=0.0)
        self._notify()

    # -- outbound --

    def send(self, order_id: str, revision: int, payload: bytes) -> None:
        """The cloud has a new revision of an order: publish it (and re-send until acknowledged)."""
        self.payloads[(order_id, revision)] = payload
        self.current[order_id] = max(self.current.get(order_id, 0), revision)
        self.spawn(self._publish(order_id, revision))

    def unacked(self) -> list[str]:
        return [o for o, rev in self.current.items() if self.acked.get(o, 0) < rev]

    def resend(self, min_age: float) -> None:
        now = time.monotonic()
        for order_id in self.unacked():
            if now - self.last_attempt.get(order_id, 0.0) >= min_age:
                self.resends += 1
                self.spawn(self._publish(order_id, self.current[order_id]))

    async def _publish(self, order_id: str, revision: int) -> None:
        self.attempts += 1
        self.last_attempt[order_id] = time.monotonic()
        client = self.client
        if client is None:
            self.publish_failures += 1
            return
        try:
            async with asyncio.timeout(10):
                await client.publish(
                    f"{BASE}/in/orders", self.payloads[(order_id, revision)], qos=1
                )
        except (aiomqtt.MqttError, TimeoutError):
            self.publish_failures += 1

    async def _publish_json(self, topic: str, doc: dict[str, Any]) -> bool:
        client = self.client
        if client is None:
            return False
        try:
            async with asyncio.timeout(10):
                await client.publish(f"{BASE}/{topic}", json.dumps(doc), qos=1)
        except (aiomqtt.MqttError, TimeoutError):
            return False
        return True

    # -- sequence --

    def contiguous(self) -> int:
        n = self._contiguous
        while n + 1 in self.seq_ids:
            n += 1
        self._contiguous = n
        return n

    def missing(self, upto: int | None = None) -> list[int]:
        top = max(self.seq_ids, default=0) if upto is None else upto
        return [s for s in range(self.contiguous() + 1, top + 1) if s not in self.seq_ids]

    async def tick(self) -> None:
        """Every second: confirm the contiguous events, replay stale gaps."""
        contiguous = self.contiguous()
        if contiguous > self.acked_seq and await self._publish_json(
            "in/events-ack", {"seq": contiguous}
        ):
            self.acked_seq = contiguous
        now = time.monotonic()
        missing = self.missing()
        for seq in missing:
            self._gap_seen.setdefault(seq, now)
        stale = [s for s in missing if now - self._gap_seen[s] >= GAP_GRACE_S]
        if stale and now - self._last_replay >= REPLAY_EVERY_S:
            await self.replay(min(stale))

    async def replay(self, from_seq: int) -> None:
        command = {
            "id": f"soak-replay-{len(self.replays) + 1}-{int(time.time())}",
            "name": "replay",
            "args": {"from_seq": from_seq},
        }
        if await self._publish_json("in/commands", command):
            self._last_replay = time.monotonic()
            self.replays.append(from_seq)
            if self.verbose:
                log(f"  cloud: replay from seq {from_seq}")


# ---- the soak -------------------------------------------------------------------------------


@dataclass
class Soak:
    args: argparse.Namespace
    work: Path
    plan: Plan
    broker: Broker
    cloud: Cloud
    daemon: Daemon
    printers: dict[str, PrinterEmulator]
    t0: float = 0.0
    done: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def until(self, at: float) -> None:
        delay = self.t0 + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule (load pacing, fault times), not a wait

    def record(self, action: Action, **extra: Any) -> None:
        entry = {
            "t": round(self.now(), 2),
            "utc": datetime.now(UTC).isoformat(timespec="milliseconds"),  # to match the logs
            **{k: v for k, v in asdict(action).items() if v},
        }
        entry.pop("at", None)
        entry.update(extra)
        self.done.append(entry)
        if self.args.verbose:
            log(f"  t={entry['t']:7.1f}s chaos: {json.dumps(entry)}")

    # -- load --

    async def sender(self) -> None:
        fixtures = {name: load_fixture(name) for _, name, _ in MIX}
        orders = {o.id: o for o in self.plan.orders}
        for send in self.plan.sends:
            await self.until(send.at)
            order = orders[send.order_id]
            if send.revision == 1:
                now = time.time()
                order.placed_at = rfc3339(now)
                if order.kind == "scheduled":
                    order.scheduled_for = rfc3339(now + LEAD_MIN * 60 + order.release_in_s)
            payload = build_doc(order, send.revision, fixtures)
            self.cloud.send(order.id, send.revision, payload)

    # -- chaos --

    async def chaos(self, kinds: tuple[str, ...]) -> None:
        pending: list[asyncio.Task[None]] = []
        for action in self.plan.actions:
            if action.kind not in kinds:
                continue
            await self.until(action.at)
            if action.kind == "printer_fault":
                pending.append(asyncio.create_task(self.printer_fault(action)))
            elif action.kind == "kill":
                await self.kill_daemon(action)
            else:
                await self.broker_fault(action)
        await asyncio.gather(*pending)

    async def kill_daemon(self, action: Action) -> None:
        async with self.daemon.lock:
            pid = self.daemon.proc.pid if self.daemon.proc else None
            await self.daemon.kill()
            self.record(action, pid=pid)
            await asyncio.sleep(action.hold_s)  # down for a moment, as before systemd restarts it
            self.daemon.start("after SIGKILL")

    async def broker_fault(self, action: Action) -> None:
        async with self.broker.lock:
            sig = signal.SIGKILL if action.kind == "broker_kill" else signal.SIGTERM
            pid = self.broker.proc.pid if self.broker.proc else None
            rc = await self.broker.stop(sig)
            self.record(action, pid=pid, rc=rc)
            await asyncio.sleep(action.hold_s)  # the broker's outage
            await self.broker.start()

    async def printer_fault(self, action: Action) -> None:
        emu = self.printers[action.printer]
        self.record(action)
        if action.fault == "drop":
            emu.drop_after(action.nbytes)  # the next connection breaks part-way
            emu.drop_now()
            if action.refuse:
                emu.refuse()
                await asyncio.sleep(action.hold_s)  # unreachable for a while
                await emu.accept()
        elif action.fault == "stall":
            emu.stall()
            await asyncio.sleep(action.hold_s)
            emu.resume()
        else:
            emu.set_fault(near_end=True, paper_out=True)
            await asyncio.sleep(action.hold_s)
            emu.set_fault(near_end=False, paper_out=False)

    async def watchdog(self) -> None:
        """A daemon that exits by itself is a finding: note it and start it again."""
        while True:
            await asyncio.sleep(0.5)  # polling our child's exit status
            async with self.daemon.lock:
                proc = self.daemon.proc
                if proc is not None and proc.poll() is not None:
                    entry = {"t": round(self.now(), 2), "rc": proc.returncode}
                    self.daemon.unexpected_exits.append(entry)
                    log(f"  t={self.now():7.1f}s daemon exited by itself (rc {proc.returncode})")
                    self.daemon.start("after it exited by itself")

    async def ticker(self) -> None:
        last_resend = time.monotonic()
        while True:
            await asyncio.sleep(1.0)  # the cloud's housekeeping period
            await self.cloud.tick()
            if time.monotonic() - last_resend >= RESEND_S:
                last_resend = time.monotonic()
                self.cloud.resend(min_age=RESEND_MIN_AGE_S)

    async def progress(self) -> None:
        every = 5.0 if self.args.verbose else 15.0
        while True:
            await asyncio.sleep(every)  # a progress line
            log(self.status_line())

    def status_line(self) -> str:
        c = self.cloud
        kinds = Counter(a["kind"] for a in self.done)
        received = sum(1 for o, rev in c.current.items() if c.acked.get(o, 0) >= rev)
        return (
            f"t={self.now():6.0f}s orders sent {len(c.current)}/{len(self.plan.orders)},"
            f" received {received}, printed {len({o for o, _, t in c.printed if t == 'kitchen'})},"
            f" events {len(c.events)} (contiguous {c.contiguous()}),"
            f" kills {kinds['kill']}, broker {kinds['broker_restart'] + kinds['broker_kill']},"
            f" printer faults {kinds['printer_fault']}"
        )

    # -- the end --

    def db_progress(self) -> tuple[int, int] | None:
        """(jobs still queued or running, newest event seq) read while the daemon runs."""
        try:
            conn = sqlite3.connect(f"file:{self.work / 'edge.db'}?mode=ro", uri=True, timeout=5)
            try:
                (busy,) = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
                ).fetchone()
                row = conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
                ).fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        return int(busy), int(row[0]) if row else 0

    async def drain(self, timeout: float) -> str | None:
        """Until every order is acknowledged, every job finished and every event seen."""
        deadline = time.monotonic() + timeout
        why = "not checked yet"
        while time.monotonic() < deadline:
            unacked = self.cloud.unacked()
            state = await asyncio.to_thread(self.db_progress)
            if unacked:
                why = f"{len(unacked)} orders without order.received (e.g. {unacked[:3]})"
            elif state is None:
                why = "database not readable"
            elif state[0]:
                why = f"{state[0]} jobs still queued or running"
            elif self.cloud.contiguous() < state[1]:
                why = f"events seen up to seq {self.cloud.contiguous()} of {state[1]}"
            else:
                return None
            await self.cloud.changed(0.5)  # an event, or re-read the database
        return why


def write_config(work: Path, port: int, printers: dict[str, PrinterEmulator]) -> Path:
    lines = [
        "[store]",
        f'id = "{STORE}"',
        'name = "Soak Kitchen"',
        'timezone = "Europe/Paris"',
        'locale = "en"',
        "",
        "[cloud]",
        f'url = "mqtt://127.0.0.1:{port}"',
        "backoff_initial_s = 0.2",
        "backoff_max_s = 2.0",
        "",
        "[database]",
        f"path = {toml_value(str(work / 'edge.db'))}",
        "",
        "[orders]",
        f"release_lead_min = {LEAD_MIN}",
        "",
        "[log]",
        'level = "info"',
    ]
    for name, emu in printers.items():
        lines += ["", "[[printers]]", f'name = "{name}"', f'uri = "{emu.uri}"']
        if name != "kitchen":
            lines.append(f"brands = {toml_value([PASTA])}")
        lines += [f"{k} = {toml_value(v)}" for k, v in DAEMON_PRINTER_SETTINGS.items()]
    path = work / "edge.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.time()
    names = ["kitchen", "pasta"][: args.printers]
    plan = make_plan(args, names)
    broker = Broker(work, free_port())
    await broker.start()
    cloud = Cloud(broker.port, args.verbose)
    report: dict[str, Any] = {}
    emulators = {name: PrinterEmulator(name=name) for name in names}
    for emu in emulators.values():
        await emu.start()
    daemon: Daemon | None = None
    cloud_task = asyncio.create_task(cloud.run(), name="cloud")
    helpers: list[asyncio.Task[None]] = []
    soak: Soak | None = None
    try:
        await cloud.wait(lambda: cloud.client is not None, 20, "the cloud's subscription")
        config = write_config(work, broker.port, emulators)
        daemon = Daemon(config, work / "edge.log")
        soak = Soak(args, work, plan, broker, cloud, daemon, emulators)
        daemon.start("first start")
        await cloud.wait(lambda: cloud.connected_events >= 1, 60, "the first edge.connected")
        soak.t0 = time.monotonic()
        log(
            f"soak: {len(plan.orders)} orders over {plan.duration_s:.0f} s"
            f" ({len(plan.bursts)} bursts), {sum(a.kind == 'kill' for a in plan.actions)} kills,"
            f" {sum(a.kind.startswith('broker') for a in plan.actions)} broker restarts/kills,"
            f" {sum(a.kind == 'printer_fault' for a in plan.actions)} printer faults;"
            f" seed {args.seed}; work dir {work}"
        )
        helpers = [
            asyncio.create_task(soak.watchdog(), name="watchdog"),
            asyncio.create_task(soak.ticker(), name="ticker"),
            asyncio.create_task(soak.progress(), name="progress"),
        ]
        await asyncio.gather(
            soak.sender(),
            soak.chaos(("kill",)),
            soak.chaos(("broker_restart", "broker_kill")),
            soak.chaos(("printer_fault",)),
        )
        log(soak.status_line())
        report["load_done_s"] = round(soak.now(), 1)
        log(
            f"soak: load and faults done at t={soak.now():.0f}s; draining (≤ {args.drain_timeout:.0f} s)"
        )
        why = await soak.drain(args.drain_timeout)
        if why is not None:
            soak.problems.append(f"drain timed out after {args.drain_timeout:.0f} s: {why}")
        drained_at = soak.now()
        helpers[0].cancel()  # the watchdog: from here on we stop the daemon ourselves
        async with daemon.lock:
            rc = await daemon.terminate(60)
        if rc != 0:
            soak.problems.append(f"the daemon's SIGTERM exit status was {rc} (expected 0)")
        # what the daemon flushed while stopping reaches the cloud
        last = await asyncio.to_thread(soak.db_progress)
        if last is not None:
            with contextlib.suppress(RuntimeError):
                await cloud.wait(lambda: cloud.contiguous() >= last[1], 10, "the last events")
        report["final_sigterm_rc"] = rc
        report["drained_at_s"] = round(drained_at, 1)
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if daemon is not None and daemon.proc is not None and daemon.proc.poll() is None:
            await daemon.kill()  # only on an error above
        for emu in emulators.values():
            await emu.stop()  # records what a stopped printer still held
        cloud_task.cancel()
        await asyncio.gather(cloud_task, return_exceptions=True)
        await cloud.close()
        await broker.stop()
    assert soak is not None
    report.update(check(soak))
    report["duration_s"] = round(time.time() - started, 1)
    return report


# ---- the checks -----------------------------------------------------------------------------


@dataclass
class Copy:
    printer: str
    job: int
    complete: bool
    marked: bool
    kind: str
    at: str


def classify(job: RecordedJob, id_re: re.Pattern[str]) -> tuple[str, str, bool] | None:
    """(display id, ticket kind, marked REPRINT) of a printed job, None when unrecognisable."""
    try:
        lines = job.text.splitlines()
    except Exception:
        return None
    for i, line in enumerate(lines):
        found = id_re.search(line)
        if found:
            banner = " ".join(lines[:i])  # REPRINT / CANCELLED / UPDATED come first
            kind = "kitchen"
            if "CANCELLED" in banner:
                kind = "cancellation"
            elif "UPDATED" in banner:
                kind = "updated"
            elif "MANUAL ENTRY" in banner:
                kind = "manual_entry"
            return found.group(0), kind, "REPRINT" in banner
    return None


def check(soak: Soak) -> dict[str, Any]:
    cloud, plan = soak.cloud, soak.plan
    digits = len(plan.orders[0].display_id) - len(DISPLAY_PREFIX) if plan.orders else 5
    id_re = re.compile(rf"\b{DISPLAY_PREFIX}\d{{{digits}}}\b")
    by_display = {o.display_id: o for o in plan.orders}

    # paper: every copy (a complete job, or a partial one that got as far as the order's number)
    copies: dict[str, list[Copy]] = defaultdict(list)
    unrecognised = 0
    partial_unknown = 0
    jobs_total = 0
    for name, emu in soak.printers.items():
        for job in emu.jobs:
            jobs_total += 1
            found = classify(job, id_re)
            if found is None or found[0] not in by_display:
                if job.complete:
                    unrecognised += 1
                else:
                    partial_unknown += 1
                continue
            display, kind, marked = found
            copies[by_display[display].id].append(
                Copy(name, job.number, job.complete, marked, kind, job.received_at.isoformat())
            )

    # the database, after the daemon stopped
    conn = sqlite3.connect(soak.work / "edge.db")
    conn.row_factory = sqlite3.Row
    try:
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        db_orders = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM orders")}
        db_jobs = [dict(r) for r in conn.execute("SELECT * FROM jobs ORDER BY id")]
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        last_seq = int(row[0]) if row else 0
        unpublished = {
            r[0] for r in conn.execute("SELECT seq FROM events WHERE published_at IS NULL")
        }
    finally:
        conn.close()
    jobs_by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job_row in db_jobs:
        if job_row["order_id"]:
            jobs_by_order[job_row["order_id"]].append(job_row)

    issues: dict[str, list[str]] = defaultdict(list)
    marked_reprints = 0
    unmarked_duplicates = 0
    only_marked = 0
    for order in plan.orders:
        oid = order.id
        mine = copies.get(oid, [])
        marked_reprints += sum(1 for c in mine if c.marked and c.complete)
        if cloud.acked.get(oid, 0) < order.final_revision:
            issues["not_received"].append(oid)
        row = db_orders.get(oid)
        if row is None:
            issues["not_in_db"].append(oid)
        elif (row["revision"], row["status"]) != (order.final_revision, order.final_status):
            issues["wrong_in_db"].append(
                f"{oid}: rev {row['revision']} {row['status']}, expected"
                f" rev {order.final_revision} {order.final_status}"
            )
        groups: dict[tuple[str, str], list[Copy]] = defaultdict(list)
        for c in mine:
            groups[(c.printer, c.kind)].append(c)
        for (printer, kind), group in groups.items():
            unmarked = [c for c in group if not c.marked]
            if len(unmarked) > 1:
                unmarked_duplicates += len(unmarked) - 1
                issues["unmarked_duplicates"].append(
                    f"{oid} {kind} on {printer}: jobs {[c.job for c in unmarked]}"
                )
        routed = [p for p in soak.printers if p == "kitchen" or order.brand == PASTA]
        if order.final_status == "pending":
            if mine:
                issues["unexpected_tickets"].append(f"{oid} (never accepted): {len(mine)} tickets")
            continue
        for c in mine:
            if c.printer not in routed:
                issues["unexpected_tickets"].append(f"{oid}: a {c.kind} ticket on {c.printer}")
        if order.final_status == "accepted":
            for printer in routed:
                kitchen = [
                    c for c in mine if c.printer == printer and c.kind == "kitchen" and c.complete
                ]
                if not kitchen:
                    issues["not_printed"].append(f"{oid} on {printer}")
                elif all(c.marked for c in kitchen):
                    only_marked += 1
                if (oid, printer, "kitchen") not in cloud.printed:
                    issues["printed_event_missing"].append(f"{oid} on {printer}")
            for c in mine:
                if c.kind != "kitchen":
                    issues["unexpected_tickets"].append(f"{oid}: a {c.kind} ticket on {c.printer}")
        else:  # cancelled
            if oid not in cloud.cancelled:
                issues["cancelled_event_missing"].append(oid)
            for c in mine:
                if c.kind not in ("kitchen", "cancellation"):
                    issues["unexpected_tickets"].append(f"{oid}: a {c.kind} ticket on {c.printer}")
            for printer in routed:
                here = [c for c in mine if c.printer == printer]
                if any(c.kind == "kitchen" for c in here) and not any(
                    c.kind == "cancellation" and c.complete for c in here
                ):
                    issues["cancel_slip_missing"].append(f"{oid} on {printer}")
        for job_row in jobs_by_order.get(oid, []):
            if job_row["state"] in ("queued", "running", "failed"):
                issues["jobs_unfinished"].append(
                    f"{oid} job {job_row['id']} {job_row['kind']} {job_row['ticket']}"
                    f" on {job_row['printer']}: {job_row['state']} ({job_row['last_error']})"
                )
            elif (
                job_row["kind"] == "print"
                and job_row["state"] == "done"
                and (oid, job_row["printer"], job_row["ticket"]) not in cloud.printed
            ):
                issues["printed_event_missing"].append(
                    f"{oid} {job_row['ticket']} on {job_row['printer']} (job {job_row['id']})"
                )
    issues["printed_event_missing"] = sorted(set(issues["printed_event_missing"]))
    for event in cloud.rejected:
        issues["rejected"].append(json.dumps(event["data"])[:300])
    if unrecognised:
        issues["unrecognised_tickets"].append(f"{unrecognised} complete jobs name no soak order")

    missing_seqs = [s for s in range(1, last_seq + 1) if s not in cloud.seq_ids]
    never_published = [s for s in missing_seqs if s in unpublished]
    gaps = [s for s in missing_seqs if s not in unpublished]
    lost = sorted(
        set(issues["not_received"])
        | set(issues["not_in_db"])
        | {entry.split()[0] for entry in issues["not_printed"]}
    )
    events_missing = len(issues["printed_event_missing"]) + len(issues["cancelled_event_missing"])
    kinds = Counter(a["kind"] for a in soak.done)
    received = sum(1 for o in plan.orders if cloud.acked.get(o.id, 0) >= o.final_revision)

    problems = list(soak.problems)
    labels = {
        "not_received": "orders never acknowledged (no order.received)",
        "not_in_db": "orders missing from the database",
        "wrong_in_db": "orders stored with the wrong revision or status",
        "not_printed": "kitchen tickets never printed",
        "unmarked_duplicates": "tickets printed more than once unmarked",
        "printed_event_missing": "order.printed events missing",
        "cancelled_event_missing": "order.cancelled events missing",
        "cancel_slip_missing": "cancellation slips missing where the kitchen ticket printed",
        "unexpected_tickets": "tickets that should not have printed",
        "jobs_unfinished": "jobs left queued, running or failed",
        "rejected": "orders rejected",
        "unrecognised_tickets": "unrecognised tickets",
    }
    for key, label in labels.items():
        if issues.get(key):
            problems.append(f"{len(issues[key])} {label}: {issues[key][:10]}")
    if gaps:
        problems.append(f"{len(gaps)} event seqs never seen by the cloud: {gaps[:20]}")
    if cloud.seq_conflicts:
        problems.append(f"seqs carried by two different events: {cloud.seq_conflicts[:20]}")
    if integrity != "ok":
        problems.append(f"PRAGMA integrity_check: {integrity[:500]}")
    if soak.daemon.unexpected_exits:
        problems.append(f"the daemon exited by itself: {soak.daemon.unexpected_exits}")

    write_evidence(soak, issues, copies, db_orders, jobs_by_order)
    return {
        "ok": not problems,
        "problems": problems,
        "orders": {
            "sent": len(cloud.current),
            "planned": len(plan.orders),
            "by_kind": dict(Counter(o.kind for o in plan.orders)),
            "received": received,
            "lost": len(lost),
            "lost_ids": lost[:100],
            "in_db": sum(1 for o in plan.orders if o.id in db_orders),
            "cancelled_seen": len(cloud.cancelled),
        },
        "printing": {
            "jobs_recorded": jobs_total,
            "unmarked_duplicates": unmarked_duplicates,
            "marked_reprints": marked_reprints,
            "printed_only_marked": only_marked,
            "partial_jobs_without_order_number": partial_unknown,
            "by_printer": {name: len(emu.jobs) for name, emu in soak.printers.items()},
        },
        "events": {
            "unique": len(cloud.events),
            "deliveries": cloud.deliveries,
            "last_seq": last_seq,
            "events_missing": events_missing,
            "seq_gaps": len(gaps),
            "seq_gap_list": gaps[:100],
            "unpublished_at_stop": len(never_published),
            "replays_requested": len(cloud.replays),
            "replay_from": cloud.replays[:50],
            "by_type": dict(cloud.by_type),
        },
        "cloud": {
            "publish_attempts": cloud.attempts,
            "resends": cloud.resends,
            "publish_failures": cloud.publish_failures,
            "connections": cloud.connections,
            "edge_connected_seen": cloud.connected_events,
        },
        "integrity": integrity,
        "chaos": {
            "kills": kinds["kill"],
            "broker_restarts": kinds["broker_restart"],
            "broker_kills": kinds["broker_kill"],
            "printer_faults": kinds["printer_fault"],
            "printer_faults_by_kind": dict(
                Counter(a["fault"] for a in soak.done if a["kind"] == "printer_fault")
            ),
            "daemon_runs": soak.daemon.runs,
            "broker_starts": soak.broker.starts,
            "unexpected_daemon_exits": soak.daemon.unexpected_exits,
            "log": soak.done,
        },
        "issues": {k: v[:200] for k, v in issues.items() if v},
    }


def write_evidence(
    soak: Soak,
    issues: dict[str, list[str]],
    copies: dict[str, list[Copy]],
    db_orders: dict[str, dict[str, Any]],
    jobs_by_order: dict[str, list[dict[str, Any]]],
) -> None:
    """For each order with a problem: its rows, events, paper copies and daemon log lines."""
    ids = sorted(
        {
            m.group(0)
            for entries in issues.values()
            for entry in entries
            for m in re.finditer(r"ord_soak_\d+", entry)
        }
    )[:50]
    if not ids:
        return
    folder = soak.work / "evidence"
    folder.mkdir(exist_ok=True)
    log_lines = (soak.work / "edge.log").read_text(errors="replace").splitlines()
    jobs = {(name, job.number): job for name, emu in soak.printers.items() for job in emu.jobs}
    for oid in ids:
        row = dict(db_orders.get(oid) or {})
        row.pop("payload", None)
        parts = [
            f"order {oid}",
            f"database row: {json.dumps(row)}",
            "jobs:",
            *(f"  {json.dumps(j)}" for j in jobs_by_order.get(oid, [])),
            "events seen by the cloud:",
            *(
                f"  {json.dumps(e)}"
                for e in sorted(soak.cloud.events.values(), key=lambda e: e["seq"])
                if e.get("order_id") == oid
            ),
            "copies on paper:",
        ]
        for c in copies.get(oid, []):
            parts.append(f"  {json.dumps(asdict(c))}")
            parts += [f"    | {t}" for t in jobs[(c.printer, c.job)].text.splitlines()[:8]]
        parts += ["daemon log:", *(f"  {line}" for line in log_lines if oid in line)]
        parts += ["faults (utc):", *(f"  {json.dumps(a)}" for a in soak.done)]
        (folder / f"{oid}.txt").write_text("\n".join(parts) + "\n", encoding="utf-8")


# ---- output ---------------------------------------------------------------------------------


def show(report: dict[str, Any], out: Path, work: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    o, p, e, c = report["orders"], report["printing"], report["events"], report["chaos"]
    table = Table(title="store-edge soak", show_header=True)
    table.add_column("check")
    table.add_column("value", justify="right")
    table.add_column("")

    def row(name: str, value: Any, bad: bool | None = None) -> None:
        mark = "" if bad is None else ("[red]FAIL[/red]" if bad else "[green]ok[/green]")
        table.add_row(name, str(value), mark)

    row("orders sent", o["sent"], o["sent"] != o["planned"])
    row("orders received (order.received)", o["received"], o["received"] != o["planned"])
    row("orders in the database", o["in_db"], o["in_db"] != o["planned"])
    row("orders lost", o["lost"], o["lost"] > 0)
    row("unmarked duplicate tickets", p["unmarked_duplicates"], p["unmarked_duplicates"] > 0)
    row("marked reprints (REPRINT)", p["marked_reprints"])
    row("kitchen tickets printed only as REPRINT", p["printed_only_marked"])
    row("events missing (order.printed/cancelled)", e["events_missing"], e["events_missing"] > 0)
    row("event seq gaps", e["seq_gaps"], e["seq_gaps"] > 0)
    row(
        "last seq / unique events / deliveries",
        f"{e['last_seq']} / {e['unique']} / {e['deliveries']}",
    )
    row("replays requested by the cloud", e["replays_requested"])
    row("orders re-sent by the cloud", report["cloud"]["resends"])
    row("integrity_check", report["integrity"], report["integrity"] != "ok")
    row("daemon SIGKILLs", c["kills"])
    row("broker restarts (SIGTERM) / SIGKILLs", f"{c['broker_restarts']} / {c['broker_kills']}")
    faults = ", ".join(f"{k} {v}" for k, v in sorted(c["printer_faults_by_kind"].items()))
    row("printer faults", f"{c['printer_faults']} ({faults})" if faults else c["printer_faults"])
    drain = report.get("drained_at_s", 0) - report.get("load_done_s", 0)
    row("duration", f"{report['duration_s']:.0f} s (drained {drain:.0f} s after the load)")
    console = Console()
    console.print(table)
    for problem in report["problems"]:
        console.print(f"[red]problem:[/red] {problem}", markup=True, highlight=False)
    console.print(f"report: {out}")
    if work is not None:
        console.print(f"work dir (daemon log, database, broker log, evidence): {work}")
    console.print("[green]PASS[/green]" if report["ok"] else "[red]FAIL[/red]")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=2000, help="orders to send (default 2000)")
    parser.add_argument(
        "--minutes", type=float, default=5.0, help="sending lasts this long (default 5)"
    )
    parser.add_argument("--kills", type=int, default=20, help="daemon SIGKILLs (default 20)")
    parser.add_argument(
        "--broker-restarts", type=int, default=3, help="broker SIGTERM restarts (default 3)"
    )
    parser.add_argument(
        "--broker-kills",
        type=int,
        default=1,
        help="broker SIGKILLs, losing PUBACKed messages (default 1)",
    )
    parser.add_argument(
        "--printer-faults", type=int, default=6, help="drops, stalls, paper outs (default 6)"
    )
    parser.add_argument("--printers", type=int, choices=(1, 2), default=2, help="emulated printers")
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: random, printed)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="bound on the final wait (s, default 300)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="work dir (default: a temp dir, kept on failure)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "soak-out" / "report.json", help="JSON report"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="every fault as it happens")
    args = parser.parse_args()
    if args.orders < 1 or args.minutes <= 0:
        parser.error("--orders must be >= 1 and --minutes > 0")
    if args.seed is None:
        args.seed = random.randrange(1, 10**6)
    if args.workdir is None:
        work = Path(tempfile.mkdtemp(prefix="edge-soak-"))
        keep = False
    else:
        work = args.workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
        keep = True
    report: dict[str, Any] = {
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    }
    try:
        report.update(asyncio.run(run(args, work)))
    except Exception as err:
        report.update({"ok": False, "problems": [f"the soak itself failed: {err!r}"]})
        log(f"soak: failed: {err!r}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report["workdir"] = str(work)
        args.out.write_text(json.dumps(report, indent=2))
        log(f"report: {args.out}; work dir kept: {work}")
        raise
    keep = keep or not report["ok"]
    report["workdir"] = str(work) if keep else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    show(report, args.out, work if keep else None)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
