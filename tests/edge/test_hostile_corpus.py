"""Hostile payloads replayed against the running daemon through a real mosquitto (CONTRACT §2).

tests/fixtures/hostile/corpus.jsonl (written by make_corpus.py beside it) holds each payload
with its topic and what the contract requires. They are sent one at a time, each followed by a
`ping` whose reply shows the daemon took it in (messages are committed and answered in arrival
order); then one valid order must print. A payload the daemon chokes on leaves the link
unacknowledged and reconnecting: it is reported with the daemon's error and the replay goes on
with a fresh MQTT session, so one run lists every payload that fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config
from tests.support.escpos_audit import layout_commands, problems

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "hostile" / "corpus.jsonl"
BASE = "stores/st_test"
STEP_S = 15.0  # deadline for one payload's outcome (it normally takes milliseconds)
PRINT_S = 30.0  # deadline for a weird order's two tickets


@dataclass(frozen=True)
class Entry:
    """One hostile payload of the corpus."""

    name: str
    topic: str  # suffix after {p}/{s}/
    payload: bytes
    retain: bool
    expect: dict[str, Any]


def _bytes(part: dict[str, Any]) -> bytes:
    if "text" in part:
        return str(part["text"]).encode("utf-8", "surrogatepass")
    if "hex" in part:
        return bytes.fromhex(part["hex"])
    return base64.b64decode(part["base64"])


def load_corpus() -> list[Entry]:
    """The corpus, payloads rebuilt byte for byte."""
    entries = []
    for line in CORPUS.read_text(encoding="ascii").splitlines():
        doc = json.loads(line)
        parts = doc.get("parts") or [doc]
        payload = b"".join(_bytes(part) * int(part.get("times", 1)) for part in parts)
        entries.append(
            Entry(doc["name"], doc["topic"], payload, bool(doc.get("retain")), doc["expect"])
        )
    return entries


class Stuck(Exception):
    """The daemon did not take the payload in: its link dropped or the deadline passed."""


class Replay:
    """The daemon under test, a printer, the cloud; sends payloads and checks their outcomes."""

    def __init__(
        self,
        tmp_path: Path,
        broker: Broker,
        cloud: FakeCloud,
        printer: PrinterEmulator,
        procs: list[EdgeProcess],
    ) -> None:
        self.tmp_path = tmp_path
        self.broker = broker
        self.cloud = cloud
        self.printer = printer
        self.procs = procs
        self.session = 0
        self.barriers = 0
        self.proc: EdgeProcess | None = None
        self.log_offset = 0

    async def start(self) -> None:
        """(Re)start the daemon under a fresh MQTT session, and wait until it serves."""
        self.session += 1
        config = write_config(
            self.tmp_path / "edge.toml",
            broker_url=self.broker.url,
            printers=[
                {"name": "counter", "uri": self.printer.uri, "roles": ["kitchen", "receipt"]}
            ],
            cloud={"client_id": f"edge-st_test-{self.session}"},
        )
        seen = len(self.cloud.events)
        self.proc = EdgeProcess(config).start()
        self.procs.append(self.proc)
        self.log_offset = self.proc.log_path.stat().st_size
        # Subscribed (edge.connected comes after the SUBACK): from now on nothing sent is lost.
        await self.until(
            lambda: any(e["type"] == "edge.connected" for e in self.cloud.events[seen:]),
            "edge.connected",
        )
        await self.barrier()

    async def recover(self) -> None:
        """After a payload the daemon choked on: kill it (it holds the payload unacknowledged,
        the broker would redeliver it forever), clear retained settings, start afresh."""
        assert self.proc is not None
        self.proc.kill()
        await self.cloud.publish("in/settings", b"", retain=True)
        await self.start()

    def alive(self) -> bool:
        return (
            self.proc is not None and self.proc.proc is not None and self.proc.proc.poll() is None
        )

    def _new_log(self) -> str:
        """What the daemon logged since it was (re)started."""
        assert self.proc is not None
        with self.proc.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode("utf-8", "replace")

    def trouble(self) -> str | None:
        """Why the daemon is not taking messages, from its log: its last error, if any."""
        if not self.alive():
            assert self.proc is not None
            assert self.proc.proc is not None
            return f"daemon exited with {self.proc.proc.returncode}"
        log = self._new_log()
        if "cloud link: reconnecting in" not in log:
            return None
        errors = re.findall(r"^[ |]*((?!ExceptionGroup)\w+(?:Error|Exception): .*)$", log, re.M)
        reason = errors[-1] if errors else log.strip().splitlines()[-1]
        return f"the cloud link dropped and reconnects: {reason[:300]}"

    def replies(self) -> list[dict[str, Any]]:
        found = []
        for topic, payload, _ in self.cloud.messages:
            if topic == f"{BASE}/out/replies":
                found.append(json.loads(payload))
        return found

    async def until(
        self, predicate: Callable[[], bool], what: str, timeout: float = STEP_S
    ) -> None:
        """Wait for a condition on what the cloud received; Stuck when the daemon is in trouble."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    if (why := self.trouble()) is not None:
                        raise Stuck(why)
                    # Woken by every message the cloud receives (FakeCloud's condition), and
                    # every 0.2 s to read the daemon's log again.
                    changed = self.cloud._changed
                    try:
                        async with asyncio.timeout(0.2), changed:
                            await changed.wait()
                    except TimeoutError:
                        pass
        except TimeoutError:
            why = self.trouble() or "no error logged"
            raise Stuck(f"no {what} within {timeout:.0f} s; {why}") from None

    async def barrier(self) -> None:
        """A ping and its reply: everything sent before it has been committed and answered."""
        self.barriers += 1
        ping = f"barrier_{self.session}_{self.barriers}"
        await self.cloud.send_command({"id": ping, "name": "ping"})
        await self.until(lambda: any(r.get("id") == ping for r in self.replies()), f"{ping} reply")

    def dead_letter(self, entry: Entry) -> str | None:
        assert self.proc is not None
        with self.proc.db() as db:
            row = db.execute(
                "SELECT reason FROM dead_letters WHERE topic = ? AND payload = ?"
                " ORDER BY id DESC LIMIT 1",
                (f"{BASE}/{entry.topic}", entry.payload),
            ).fetchone()
        return None if row is None else str(row["reason"])

    def received(self, order_id: str) -> bool:
        assert self.proc is not None
        with self.proc.db() as db:
            return (
                db.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is not None
            )

    async def send(self, entry: Entry) -> None:
        """Send one payload, then check every outcome the corpus asks for."""
        seen = len(self.cloud.events)
        await self.cloud.publish(entry.topic, entry.payload, retain=entry.retain)
        await self.barrier()
        expect = entry.expect
        if "order" in expect:
            await self._order(entry, seen)
        if "reply" in expect:
            await self._reply(entry)
        self._dead_letter(entry)
        if expect.get("stored"):
            assert self.proc is not None
            with self.proc.db() as db:
                row = db.execute("SELECT value FROM meta WHERE key = 'cloud_settings'").fetchone()
            assert row is not None
            assert json.loads(row["value"]) == json.loads(entry.payload), "settings not stored"
        if expect.get("ignored"):
            intake = ("order.received", "order.rejected")
            order_events = [e for e in self.cloud.events[seen:] if e["type"] in intake]
            assert order_events == [], (
                f"a topic the daemon does not serve was acted on: {order_events}"
            )
        assert self.alive(), self.trouble()

    def _dead_letter(self, entry: Entry) -> None:
        want = entry.expect.get("dead_letter", "any")
        if want == "any":
            return
        have = self.dead_letter(entry)
        if want is False:
            assert have is None, f"dead-lettered ({have}) though valid"
        elif want == "*":
            assert have is not None, "not dead-lettered"
        else:
            assert have == want, f"dead letter reason {have}, expected {want}"

    async def _order(self, entry: Entry, seen: int) -> None:
        expect = entry.expect
        order_id = _order_id(entry.payload)
        readable = (
            order_id if isinstance(order_id, str) and _IDENTIFIER.fullmatch(order_id) else None
        )
        # The batch is committed (the barrier answered): the database has the outcome already.
        outcome = "rejected" if self.dead_letter(entry) is not None else None
        if outcome is None and readable is not None and self.received(readable):
            outcome = "printed"
        assert outcome is not None, "neither rejected nor received"
        assert outcome in expect["order"].split("_or_"), (
            f"{outcome.replace('printed', 'received')}, the contract says {expect['order']}"
        )
        if outcome == "rejected":

            def rejection() -> dict[str, Any] | None:
                # Each payload's event was awaited before the next was sent: the first
                # order.rejected since this one was sent is its own.
                events = self.cloud.events[seen:]
                return next((e for e in events if e["type"] == "order.rejected"), None)

            await self.until(lambda: rejection() is not None, "order.rejected event")
            event = rejection()
            assert event is not None
            if "order_id" in expect:
                assert event["order_id"] == expect["order_id"], f"order_id {event['order_id']}"
            if "reason" in expect:
                assert event["data"]["reason"] == expect["reason"], event["data"]
            assert event["data"]["errors"], event
            return
        assert readable is not None

        def tickets() -> set[str]:
            return {
                e["data"]["ticket"]
                for e in self.cloud.events[seen:]
                if e["type"] == "order.printed" and e["order_id"] == readable
            }

        def given_up() -> list[dict[str, Any]]:
            return [
                e
                for e in self.cloud.events[seen:]
                if e["type"] == "print.failed"
                and e["order_id"] == readable
                and e["data"].get("will_retry") is False
            ]

        await self.until(
            lambda: tickets() >= {"kitchen", "receipt"} or bool(given_up()), "tickets", PRINT_S
        )
        assert not given_up(), f"a ticket cannot print: {given_up()[0]['data']}"
        display = json.loads(entry.payload)["source"].get("display_id") or readable
        kitchen = next(
            (j.text for j in self.printer.jobs if display in j.text and "Placed at" in j.text), None
        )
        assert kitchen is not None, f"no kitchen ticket shows {display} and the time placed"
        for shown in expect.get("shows", []):
            assert shown in kitchen, f"{shown!r} not on the ticket:\n{kitchen}"

    async def _reply(self, entry: Entry) -> None:
        expect = entry.expect
        if expect["reply"] == "any":
            return
        if expect["reply"] == "none":
            # Replies go out in arrival order, before the barrier's: none came, none will.
            command_id = _order_id(entry.payload)
            assert not [r for r in self.replies() if r.get("id") == command_id], "replied"
            return

        def reply() -> dict[str, Any] | None:
            return next((r for r in self.replies() if r.get("id") == expect["id"]), None)

        await self.until(lambda: reply() is not None, f"reply to {expect['id']}")
        answer = reply()
        assert answer is not None
        if expect["reply"] == "answered":
            assert answer["ok"] is False or answer["result"].get("count") == 0, answer
            return
        assert answer["ok"] is False, answer
        if "code" in expect:
            assert answer["error"]["code"] == expect["code"], answer


_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _order_id(payload: bytes) -> Any:
    """The `id` of a payload that is a JSON object (for finding what the daemon made of it)."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return doc.get("id") if isinstance(doc, dict) else None


@pytest.mark.timeout(300)  # a daemon that chokes costs a restart per payload
async def test_hostile_corpus_leaves_the_daemon_serving_and_the_printer_clean(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, edge_processes: list[EdgeProcess]
) -> None:
    entries = load_corpus()
    assert len(entries) >= 40
    async with PrinterEmulator(name="counter") as printer:
        replay = Replay(tmp_path, broker, cloud, printer, edge_processes)
        await replay.start()
        failures: list[str] = []
        for entry in entries:
            try:
                await replay.send(entry)
            except Stuck as err:
                failures.append(f"{entry.name} on {entry.topic}: STUCK: {err}")
                await replay.recover()
            except AssertionError as err:
                failures.append(f"{entry.name} on {entry.topic}: {str(err).splitlines()[0]}")
        # in/settings is retained: leave no hostile settings behind on the broker.
        await cloud.publish("in/settings", b"", retain=True)
        # Still serving: a valid order prints.
        seen = len(cloud.events)
        await cloud.send_order(load_order("ubereats_delivery"))

        def valid_order_tickets() -> set[str]:
            return {
                e["data"]["ticket"]
                for e in cloud.events[seen:]
                if e["type"] == "order.printed" and e["order_id"] == "ord_ue_0001"
            }

        try:
            await replay.barrier()
            await replay.until(
                lambda: valid_order_tickets() >= {"kitchen", "receipt"}, "two tickets", PRINT_S
            )
        except Stuck as err:
            failures.append(f"the valid order after the corpus did not print: {err}")
        if not replay.alive():
            failures.append(f"the daemon is gone: {replay.trouble()}")

        # Nothing a payload carried reached the printer as a command: no drawer pulse, no
        # extra cut (every job the printer took is a ticket the daemon reported printed), only
        # the layout's commands, and printable text.
        def tickets_printed() -> int:
            return sum(e["type"] == "order.printed" for e in cloud.events)

        try:
            await replay.until(lambda: tickets_printed() >= len(printer.jobs), "order.printed")
        except Stuck:
            failures.append(f"{len(printer.jobs)} jobs at the printer, {tickets_printed()} tickets")
        if printer.drawer_pulses:
            failures.append(f"the cash drawer was pulsed: {printer.drawer_pulses}")
        allowed = await asyncio.to_thread(layout_commands)  # renders: not in the event loop
        for job in printer.jobs:
            if not job.complete or (found := problems(job.raw, "cp1252", allowed)):
                failures.append(f"printer job {job.number}: {found or 'incomplete'}:\n{job.text}")
        assert not failures, f"{len(failures)} failures, {len(entries)} payloads:\n" + "\n".join(
            failures
        )


def test_corpus_is_what_make_corpus_writes() -> None:
    """The corpus file is generated: edit make_corpus.py and run it, not the file."""
    import runpy

    script = CORPUS.parent / "make_corpus.py"
    generated = runpy.run_path(str(script), run_name="corpus")
    for build in ("orders", "commands", "events_ack", "settings", "unknown_topics"):
        generated[build]()
    lines = [json.dumps(e, ensure_ascii=True) for e in generated["entries"]]
    assert CORPUS.read_text(encoding="ascii").splitlines() == lines
