"""The till through the real daemon (issue 12): `pay` on a simulated Concert terminal (a real
pty), `drawer_open` on the printer emulator's kick port, PINs and lockouts, a SIGKILL in the
middle of a payment, and `edge payments …` / `edge drawer open` / `edge audit` on the command
line (CONTRACT §1, §5, §6). Everything on loopback; every wait is on an event, never a sleep."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drivers.concert.simulator import ConcertTerminalSim, Script
from drivers.emulator import PrinterEmulator
from tests.conftest import load_order
from tests.support.broker import Broker
from tests.support.cloud import FakeCloud
from tests.support.edge_process import EdgeProcess, write_config

EDGE = str(Path(sys.executable).with_name("edge"))
CASHIER, SUPERVISOR = "alice", "bob"
CASHIER_PIN, SUPERVISOR_PIN = "583920", "7316048"  # long enough never to occur by chance
WRONG_PIN = "864209"  # nobody's
KICK = b"\x1bp\x00\x32\x32"  # ESC p 0 t1 t2: pin 2, 100 ms on, 100 ms off
PRINTER = "counter"
REPLY_WAIT_S = 45.0  # a PIN check is slow on purpose (argon2 per staff member)


# ---- helpers ----------------------------------------------------------------------------


async def cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`edge ARGS --config CONFIG`, the PIN (if any) piped on stdin."""
    result = await asyncio.to_thread(
        subprocess.run,
        [EDGE, *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    for pin in (CASHIER_PIN, SUPERVISOR_PIN, WRONG_PIN):
        assert pin not in result.stdout + result.stderr, "a PIN is never printed"
    return result


async def start_edge(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    procs: list[EdgeProcess],
    *,
    sim: ConcertTerminalSim | None = None,
    drawer: PrinterEmulator | None = None,
    printer: dict[str, Any] | None = None,
) -> EdgeProcess:
    """A daemon with the cashier and the supervisor added by the CLI before it starts; with
    `sim`, a `[card_reader]` on its pty; with `drawer`, a printer with `cash_drawer = true`."""
    extra = ""
    if sim is not None:
        extra = (
            "[card_reader]\n"
            f'uri = "serial://{sim.path}"\n'
            'protocol = "concert"\n'
            'pos_number = "01"\n'
            "answer_timeout_s = 30\n"
        )
    printers = []
    if drawer is not None:
        printers.append(
            {"name": PRINTER, "uri": drawer.uri, "cash_drawer": True, **(printer or {})}
        )
    config = write_config(
        tmp_path / "edge.toml", broker_url=broker.url, printers=printers, extra=extra
    )
    for name, role, pin in (
        (CASHIER, "cashier", CASHIER_PIN),
        (SUPERVISOR, "supervisor", SUPERVISOR_PIN),
    ):
        added = await cli(config, "staff", "add", name, "--role", role, "--json", stdin=pin + "\n")
        assert added.returncode == 0, added.stdout + added.stderr
    edge = EdgeProcess(config)
    procs.append(edge)
    edge.start()
    await cloud.wait_event("edge.connected", timeout=30)
    return edge


def replies_to(cloud: FakeCloud, command_id: str) -> list[dict[str, Any]]:
    """Every reply published so far to `command_id`, oldest first."""
    found = []
    for topic, payload, _ in cloud.messages:
        if topic.endswith("/out/replies"):
            doc = json.loads(payload)
            if doc.get("id") == command_id:
                found.append(doc)
    return found


async def wait_reply(cloud: FakeCloud, command_id: str, count: int = 1) -> dict[str, Any]:
    """The `count`-th reply to `command_id` (the broker's arrivals wake the wait)."""
    await cloud.wait_for(
        lambda _: len(replies_to(cloud, command_id)) >= count,
        REPLY_WAIT_S,
        f"reply #{count} to {command_id}",
    )
    return replies_to(cloud, command_id)[count - 1]


_ids = iter(range(1, 10_000))


async def command(
    cloud: FakeCloud, name: str, args: dict[str, Any], command_id: str | None = None
) -> dict[str, Any]:
    """Send a command and return its reply."""
    command_id = command_id or f"cmd_{name}_{next(_ids)}"
    await cloud.send_command({"id": command_id, "name": name, "args": args})
    return await wait_reply(cloud, command_id)


def pay_args(
    order_id: str, amount: int = 1250, pin: str = CASHIER_PIN, **more: Any
) -> dict[str, Any]:
    return {"order_id": order_id, "amount": amount, "currency": "EUR", "pin": pin, **more}


def error_code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    return str(reply["error"]["code"])


def keys_in(doc: Any) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in keys_in(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in keys_in(v)}
    return set()


def kicks(emu: PrinterEmulator) -> list[tuple[int, int, int]]:
    """The ESC p kicks the printer received (a kick alone is an unfinished job: it is
    recorded when the worker lets the connection go, a second or so after it)."""
    return [k for job in emu.jobs for k in job.decoded.drawer_kicks]


async def wait_kicks(emu: PrinterEmulator, n: int) -> None:
    """Until `n` kicks arrived and no connection is open (so none is still unrecorded)."""
    await emu.wait_until(
        lambda: len(kicks(emu)) >= n and emu.connections == 0, timeout=20.0, what=f"{n} kicks"
    )


async def audit(config: Path) -> list[dict[str, Any]]:
    done = await cli(config, "audit", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    entries: list[dict[str, Any]] = json.loads(done.stdout)
    return entries


@pytest.fixture
async def sim() -> AsyncIterator[ConcertTerminalSim]:
    """The payment terminal on a real pty; whatever it saw must follow the protocol."""
    async with ConcertTerminalSim() as terminal:
        yield terminal
        assert terminal.violations == []


@pytest.fixture
async def till_printer() -> AsyncIterator[PrinterEmulator]:
    """The counter's receipt printer, a cash drawer on its kick port."""
    async with PrinterEmulator(name=PRINTER) as emu:
        yield emu


# ---- card payments ----------------------------------------------------------------------


async def test_an_approved_card_payment_replies_and_publishes_without_any_pin(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    sim: ConcertTerminalSim,
    edge_processes: list[EdgeProcess],
) -> None:
    await start_edge(tmp_path, broker, cloud, edge_processes, sim=sim)

    reply = await command(cloud, "pay", pay_args("ord_counter_1", 1250))

    assert reply["ok"] is True, reply
    result = reply["result"]
    assert result["outcome"] == "approved"
    payment_id = result["payment_id"]
    [approved] = await cloud.wait_event("payment.approved", payment_id=payment_id)
    assert approved["order_id"] == "ord_counter_1"
    assert {
        k: approved["data"][k] for k in ("payment_id", "order_id", "amount", "currency", "staff")
    } == {
        "payment_id": payment_id,
        "order_id": "ord_counter_1",
        "amount": 1250,
        "currency": "EUR",
        "staff": CASHIER,
    }
    assert [r.amount_minor for r in sim.decoded] == [1250], "exactly one request, of the amount"
    assert len(sim.requests) == 1
    for event in cloud.events:
        assert not keys_in(event) & {"pin", "pin_hash"}, event
    for _, payload, _ in cloud.messages:
        assert CASHIER_PIN.encode() not in payload
        assert SUPERVISOR_PIN.encode() not in payload


async def test_a_declined_payment_and_a_wrong_pin(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    sim: ConcertTerminalSim,
    edge_processes: list[EdgeProcess],
) -> None:
    await start_edge(tmp_path, broker, cloud, edge_processes, sim=sim)

    wrong = await command(cloud, "pay", pay_args("ord_counter_2", pin=WRONG_PIN))
    assert error_code(wrong) == "forbidden"
    assert sim.received == bytearray(), "a refused PIN never reaches the terminal"

    sim.script = Script(status="7", rep="4970100000000000")  # a card, refused
    reply = await command(cloud, "pay", pay_args("ord_counter_2", 990))
    assert reply["ok"] is True, reply
    assert reply["result"]["outcome"] == "declined"
    await cloud.wait_event(
        "payment.declined", payment_id=reply["result"]["payment_id"], staff=CASHIER
    )
    assert cloud.of_type("payment.approved") == []


async def test_a_second_payment_while_one_waits_at_the_terminal_is_busy(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    sim: ConcertTerminalSim,
    edge_processes: list[EdgeProcess],
) -> None:
    edge = await start_edge(tmp_path, broker, cloud, edge_processes, sim=sim)
    sim.script = Script(answer=False)  # the customer is still at the terminal
    await cloud.send_command({"id": "cmd_first", "name": "pay", "args": pay_args("ord_a", 1500)})
    await asyncio.wait_for(sim.accepted.wait(), 30)

    second = await command(cloud, "pay", pay_args("ord_b", 700))

    assert error_code(second) == "busy"
    assert replies_to(cloud, "cmd_first") == [], "the first payment goes on"
    status = await command(cloud, "status", {})
    with edge.db() as db:
        rows = [tuple(r) for r in db.execute("SELECT id, order_id, state FROM payments")]
    [(first_id, order_id, state)] = rows
    assert (order_id, state) == ("ord_a", "started")
    assert status["result"]["till"]["paying"] == first_id
    assert [r.amount_minor for r in sim.decoded] == [1500], "the second never reached the terminal"


async def test_sigkill_mid_payment_leaves_it_unknown_never_retried_and_a_supervisor_resolves_it(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    sim: ConcertTerminalSim,
    edge_processes: list[EdgeProcess],
) -> None:
    edge = await start_edge(tmp_path, broker, cloud, edge_processes, sim=sim)
    sim.script = Script(answer=False)
    pay = {"id": "cmd_pay_kill", "name": "pay", "args": pay_args("ord_kill", 2390)}
    await cloud.send_command(pay)
    await asyncio.wait_for(sim.accepted.wait(), 30)
    edge.kill()
    assert edge.proc is not None
    assert edge.proc.returncode == -signal.SIGKILL
    with edge.db() as db:
        assert [tuple(r) for r in db.execute("SELECT state FROM payments")] == [("started",)]

    edge.start()  # the terminal is still there
    [unknown] = await cloud.wait_event("payment.unknown", order_id="ord_kill", timeout=30)
    payment_id = unknown["data"]["payment_id"]
    assert unknown["data"]["staff"] == CASHIER
    assert unknown["data"]["amount"] == 2390
    first = await wait_reply(cloud, "cmd_pay_kill")
    assert first["ok"] is True, first
    assert first["result"]["payment_id"] == payment_id
    assert first["result"]["outcome"] == "unknown"
    with edge.db() as db:
        rows = [tuple(r) for r in db.execute("SELECT id, state FROM payments")]
    assert rows == [(payment_id, "unknown")]

    await cloud.send_command(pay)  # the cloud sends the same command again
    again = await wait_reply(cloud, "cmd_pay_kill", count=2)
    assert again == first, "the same reply, not a new payment"
    with edge.db() as db:
        assert db.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == 1
    assert len(sim.requests) == 1, "nothing was sent to the terminal again"
    assert sim.enqs == 1

    listed = await cli(edge.config, "payments", "unresolved", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [p["payment_id"] for p in json.loads(listed.stdout)["payments"]] == [payment_id]

    resolve = ("payments", "resolve", payment_id, "--as", "approved", "--json")
    refused = await cli(edge.config, *resolve, stdin=CASHIER_PIN + "\n")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["code"] == "forbidden"

    done = await cli(edge.config, *resolve, stdin=SUPERVISOR_PIN + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    [resolved] = await cloud.wait_event("payment.resolved", payment_id=payment_id)
    assert resolved["data"]["outcome"] == "approved"
    assert resolved["data"]["resolved_by"] == SUPERVISOR
    with edge.db() as db:
        assert db.execute("SELECT state FROM payments").fetchone()[0] == "approved"
    after = await cli(edge.config, "payments", "unresolved", "--json")
    assert json.loads(after.stdout)["payments"] == []
    assert len(sim.requests) == 1


async def test_an_order_paid_on_its_platform_is_already_paid(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    sim: ConcertTerminalSim,
    edge_processes: list[EdgeProcess],
) -> None:
    await start_edge(tmp_path, broker, cloud, edge_processes, sim=sim)
    order = load_order("ubereats_delivery")
    assert order["payment"]["paid"] is True
    await cloud.send_order(order)
    await cloud.wait_event("order.received", order_id=order["id"])

    reply = await command(cloud, "pay", pay_args(order["id"], order["totals"]["total"]))

    assert error_code(reply) == "already_paid"
    assert sim.received == bytearray(), "not a byte to the terminal"


async def test_without_a_card_reader_pay_is_no_terminal(
    tmp_path: Path, broker: Broker, cloud: FakeCloud, edge_processes: list[EdgeProcess]
) -> None:
    await start_edge(tmp_path, broker, cloud, edge_processes)

    reply = await command(cloud, "pay", pay_args("ord_counter_3"))

    assert error_code(reply) == "no_terminal"
    assert cloud.of_type("payment.approved") == cloud.of_type("payment.unknown") == []


# ---- the cash drawer --------------------------------------------------------------------


async def test_drawer_open_by_a_supervisor_kicks_and_is_audited_a_cashier_is_forbidden(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    till_printer: PrinterEmulator,
    edge_processes: list[EdgeProcess],
) -> None:
    edge = await start_edge(tmp_path, broker, cloud, edge_processes, drawer=till_printer)

    refused = await command(cloud, "drawer_open", {"pin": CASHIER_PIN, "reason": "change"})
    assert error_code(refused) == "forbidden"
    assert cloud.of_type("drawer.opened") == []

    opened = await command(cloud, "drawer_open", {"pin": SUPERVISOR_PIN, "reason": "float count"})

    assert opened["ok"] is True, opened
    [event] = await cloud.wait_event("drawer.opened")
    assert {k: event["data"][k] for k in ("staff", "reason", "printer", "sale")} == {
        "staff": SUPERVISOR,
        "reason": "float count",
        "printer": PRINTER,
        "sale": False,
    }
    await wait_kicks(till_printer, 1)
    assert kicks(till_printer) == [(0, 50, 50)], "one kick: the supervisor's, none for the cashier"
    assert any(KICK in job.raw for job in till_printer.jobs)
    entries = await audit(edge.config)
    [row] = [e for e in entries if e["kind"] == "drawer.opened"]
    assert row["actor"] == SUPERVISOR
    assert row["data"]["reason"] == "float count"
    assert row["data"]["sale"] is False

    # A cash sale: the cashier's PIN is enough, and the drawer opens for it.
    cash = await command(cloud, "pay", pay_args("ord_cash_1", 850, method="cash"))
    assert cash["ok"] is True, cash
    assert cash["result"]["outcome"] == "approved"
    [sale] = await cloud.wait_event("drawer.opened", sale=True)
    assert sale["data"]["staff"] == CASHIER
    assert sale["data"]["payment_id"] == cash["result"]["payment_id"]
    await cloud.wait_event("payment.approved", payment_id=cash["result"]["payment_id"])
    await wait_kicks(till_printer, 2)
    assert len(kicks(till_printer)) == 2


async def test_five_wrong_pins_lock_the_drawer_out_even_for_the_right_pin(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    till_printer: PrinterEmulator,
    edge_processes: list[EdgeProcess],
) -> None:
    edge = await start_edge(tmp_path, broker, cloud, edge_processes, drawer=till_printer)
    for _ in range(5):
        wrong = await command(cloud, "drawer_open", {"pin": WRONG_PIN, "reason": "guessing"})
        assert error_code(wrong) == "forbidden"

    locked = await command(cloud, "drawer_open", {"pin": SUPERVISOR_PIN, "reason": "float count"})

    assert locked["ok"] is False, f"5 wrong PINs in a row, then the drawer opened: {locked}"
    assert error_code(locked) == "forbidden"
    assert cloud.of_type("drawer.opened") == []
    assert kicks(till_printer) == []
    kinds = [e["kind"] for e in await audit(edge.config)]
    assert "staff.locked_out" in kinds


async def test_edge_drawer_open_on_the_command_line_goes_through_the_daemon(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    till_printer: PrinterEmulator,
    edge_processes: list[EdgeProcess],
) -> None:
    edge = await start_edge(tmp_path, broker, cloud, edge_processes, drawer=till_printer)

    done = await cli(
        edge.config, "drawer", "open", "--reason", "float count", "--json",
        stdin=SUPERVISOR_PIN + "\n",
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True
    [event] = await cloud.wait_event("drawer.opened", reason="float count")
    assert event["data"]["staff"] == SUPERVISOR
    assert event["data"]["sale"] is False
    await wait_kicks(till_printer, 1)
    assert kicks(till_printer) == [(0, 50, 50)]


async def test_a_drawer_left_open_is_reported_once(
    tmp_path: Path,
    broker: Broker,
    cloud: FakeCloud,
    till_printer: PrinterEmulator,
    edge_processes: list[EdgeProcess],
) -> None:
    polled = {"status_interval_s": 0.2, "drawer_left_open_min": 0.01}  # 0.6 s
    edge = await start_edge(
        tmp_path, broker, cloud, edge_processes, drawer=till_printer, printer=polled
    )
    await cloud.wait_event("printer.status", printer=PRINTER, drawer_open=False)

    till_printer.set_fault(drawer_open=True)
    await cloud.wait_event("printer.status", printer=PRINTER, drawer_open=True)
    [left] = await cloud.wait_event("drawer.left_open", printer=PRINTER)
    assert left["data"]["open_min"] >= 0  # minutes, to a tenth: 0.6 s is 0.0
    seen = till_printer.status_requests
    # three more polls (three DLE EOT each) with the drawer still open
    await till_printer.wait_until(
        lambda: till_printer.status_requests >= seen + 9, timeout=20.0, what="three more polls"
    )
    till_printer.set_fault(drawer_open=False)
    await cloud.wait_event("printer.status", printer=PRINTER, drawer_open=False, count=2)

    with edge.db() as db:
        stored = db.execute("SELECT COUNT(*) FROM events WHERE type = 'drawer.left_open'")
        assert stored.fetchone()[0] == 1
    assert len(cloud.of_type("drawer.left_open")) == 1
    kinds = [e["kind"] for e in await audit(edge.config)]
    assert kinds.count("drawer.left_open") == 1
