"""The till in process: payments on a simulated terminal (a real pty), drawers, resolution,
recovery after a crash, each checked through the database (rows, audit, events)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drivers.concert import ConcertTerminal, ConcertTimeouts, TransactionKind
from drivers.concert.simulator import ConcertTerminalSim, Script
from edge.commands import CommandContext, Reply, ReplyTo, finish_deferred, run_command, without_pins
from edge.config import Config
from edge.db import Database, Durability
from edge.printing.drawer import DrawerUnavailableError, DrawerWatch
from edge.printing.render import DrawerSettings
from edge.staff import Role
from edge.till import ledger
from edge.till.errors import TillError, TillErrorCode
from edge.till.service import Till

QUICK = ConcertTimeouts(ack=5.0, answer=10.0, open=5.0)
CASHIER_PIN, SUPERVISOR_PIN = "2468", "97531"


@dataclass
class FakeDrawerPrinter:
    """A printer worker's kick seam: counts kicks, or fails like an unreachable printer."""

    kicks: int = 0
    fail: bool = False
    kicked: asyncio.Event = field(default_factory=asyncio.Event)

    async def kick_drawer(self, deadline_s: float) -> bool:
        if self.fail:
            raise DrawerUnavailableError("connection refused")
        self.kicks += 1
        self.kicked.set()
        return False


@dataclass
class Rig:
    db: Database
    till: Till
    sim: ConcertTerminalSim
    drawer: FakeDrawerPrinter

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return await self.db.read(lambda c: [tuple(r) for r in c.execute(sql, params)])

    async def events(self, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        rows = await self.rows("SELECT type, data FROM events ORDER BY seq")
        return [(t, json.loads(d)) for t, d in rows if t.startswith(prefix)]

    async def audit(self) -> list[str]:
        """The audit log's kinds after the staff were added."""
        rows = await self.rows("SELECT kind FROM audit WHERE kind != 'staff.added' ORDER BY id")
        return [r[0] for r in rows]

    def silent_terminal(self) -> None:
        """The terminal takes the request, then never answers (the answer deadline shrunk)."""
        self.sim.script = Script(answer=False)
        quick = ConcertTimeouts(ack=5.0, answer=1.0, open=5.0)
        self.till.desk.terminal = ConcertTerminal(f"serial://{self.sim.path}", timeouts=quick)

    async def pay(self, **args: Any) -> dict[str, Any]:
        base = {"order_id": "ord_counter_1", "amount": 1250, "currency": "EUR"}
        return await self.till.carry_out("pay", {**base, "pin": CASHIER_PIN, **args})


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = Config.model_validate(
        {"store": {"id": "st_test"}, "database": {"path": str(tmp_path / "edge.db")}}
    )
    async with Database(tmp_path / "edge.db") as db, ConcertTerminalSim() as sim:
        drawer = FakeDrawerPrinter()
        terminal = ConcertTerminal(f"serial://{sim.path}", timeouts=QUICK)
        till = Till(db, config, {"counter": drawer}, lambda: None, terminal=terminal)
        await till.staff.add("alice", Role.CASHIER, CASHIER_PIN)
        await till.staff.add("bob", Role.SUPERVISOR, SUPERVISOR_PIN)
        yield Rig(db, till, sim, drawer)
        assert sim.violations == []


async def test_an_approved_card_payment_is_recorded_audited_and_published(rig: Rig) -> None:
    reply = await rig.pay()

    assert reply["outcome"] == "approved"
    assert reply["staff"] == "alice"
    assert [r.amount_minor for r in rig.sim.decoded] == [1250]
    state = await rig.rows("SELECT state, staff FROM payments WHERE id = ?", reply["payment_id"])
    assert state == [("approved", "alice")]
    assert await rig.audit() == ["payment.started", "payment.approved"]
    [(kind, body)] = await rig.events("payment.")
    assert kind == "payment.approved"
    assert {k: body[k] for k in ("payment_id", "order_id", "amount", "currency", "staff")} == {
        "payment_id": reply["payment_id"],
        "order_id": "ord_counter_1",
        "amount": 1250,
        "currency": "EUR",
        "staff": "alice",
    }
    dump = json.dumps(await rig.events()) + json.dumps(await rig.rows("SELECT data FROM audit"))
    assert CASHIER_PIN not in dump


async def test_a_pin_sent_as_a_json_number_is_taken_as_its_digits(rig: Rig) -> None:
    reply = await rig.pay(pin=int(CASHIER_PIN))

    assert reply["staff"] == "alice"


async def test_a_declined_payment_says_declined(rig: Rig) -> None:
    rig.sim.script = Script(status="7", rep="4970100000000000")

    reply = await rig.pay()

    assert reply["outcome"] == "declined"
    assert [t for t, _ in await rig.events("payment.")] == ["payment.declined"]


async def test_a_wrong_pin_is_forbidden_and_the_terminal_hears_nothing(rig: Rig) -> None:
    with pytest.raises(TillError) as refused:
        await rig.pay(pin="0000")

    assert refused.value.code is TillErrorCode.FORBIDDEN
    assert rig.sim.received == bytearray()
    assert await rig.rows("SELECT id FROM payments") == []


async def test_a_second_payment_while_one_runs_is_refused_busy_not_queued(rig: Rig) -> None:
    rig.silent_terminal()  # the customer is still at the terminal
    first = asyncio.create_task(rig.pay())
    await rig.sim.accepted.wait()

    with pytest.raises(TillError) as refused:
        await rig.pay(order_id="ord_counter_2")

    assert refused.value.code is TillErrorCode.BUSY
    reply = await first  # the terminal never answers: uncertain, never "declined"
    assert reply["outcome"] == "unknown"
    assert len(rig.sim.decoded) == 1
    assert await rig.rows("SELECT order_id, state FROM payments") == [("ord_counter_1", "unknown")]


async def test_a_payment_cancelled_midway_is_recorded_unknown(rig: Rig) -> None:
    rig.sim.script = Script(answer=False)
    paying = asyncio.create_task(rig.pay())
    await rig.sim.accepted.wait()

    paying.cancel()  # the daemon stops while the customer is at the terminal
    with pytest.raises(asyncio.CancelledError):
        await paying

    [(state, detail)] = await rig.rows("SELECT state, detail FROM payments")
    assert state == "unknown"
    assert "stopped" in detail
    assert [t for t, _ in await rig.events("payment.")] == ["payment.unknown"]


async def test_an_order_paid_on_its_platform_never_touches_the_terminal(rig: Rig) -> None:
    await _store_order(rig.db, "ord_paid", {"payment": {"method": "partner", "paid": True}})

    with pytest.raises(TillError) as refused:
        await rig.pay(order_id="ord_paid")

    assert refused.value.code is TillErrorCode.ALREADY_PAID
    assert rig.sim.received == bytearray()


async def test_an_unknown_payment_blocks_the_next_one_of_its_order(rig: Rig) -> None:
    rig.silent_terminal()
    assert (await rig.pay())["outcome"] == "unknown"
    rig.sim.script = Script()

    with pytest.raises(TillError) as refused:
        await rig.pay()

    assert refused.value.code is TillErrorCode.UNRESOLVED_PAYMENT
    assert len(rig.sim.decoded) == 1


async def test_a_supervisor_resolves_an_unknown_payment_a_cashier_cannot(rig: Rig) -> None:
    rig.silent_terminal()
    payment_id = (await rig.pay())["payment_id"]
    ask = {"payment_id": payment_id, "as": "approved"}

    with pytest.raises(TillError) as refused:
        await rig.till.carry_out("payment_resolve", {**ask, "pin": CASHIER_PIN})
    assert refused.value.code is TillErrorCode.FORBIDDEN

    resolved = await rig.till.carry_out("payment_resolve", {**ask, "pin": SUPERVISOR_PIN})

    assert resolved["outcome"] == "approved"
    assert await rig.rows("SELECT state, resolved_by FROM payments") == [("approved", "bob")]
    assert (await rig.events("payment."))[-1][0] == "payment.resolved"
    assert "payment.resolved" in await rig.audit()
    with pytest.raises(TillError) as again:
        await rig.till.carry_out("payment_resolve", {**ask, "pin": SUPERVISOR_PIN})
    assert again.value.code is TillErrorCode.NOT_UNRESOLVED


async def test_after_a_crash_the_intent_is_unknown_and_its_command_answered(rig: Rig) -> None:
    # What a SIGKILL leaves: the intent written, its command stored and not answered.
    def crashed(conn: sqlite3.Connection) -> None:
        for command_id in ("cmd_paying", "cmd_never_started", "cmd_failed"):
            conn.execute(
                "INSERT INTO deferred_commands (id, name, args, reply_topic, received_at)"
                " VALUES (?, 'pay', '{}', 'replies', 0)",
                (command_id,),
            )
        failed = ledger.start(
            conn,
            kind=ledger.PaymentKind.PAYMENT,
            method=ledger.Method.CARD,
            order_id="ord_2",
            amount=500,
            currency="EUR",
            staff="alice",
            now=0.5,
            command_id="cmd_failed",
        )
        ledger.finish(conn, failed.id, ledger.PaymentState.FAILED, now=0.6, detail="no port")
        ledger.start(
            conn,
            kind=ledger.PaymentKind.PAYMENT,
            method=ledger.Method.CARD,
            order_id="ord_1",
            amount=990,
            currency="EUR",
            staff="alice",
            now=1.0,
            command_id="cmd_paying",
        )

    await rig.db.write(crashed, Durability.FULL)

    await rig.till.recover()

    assert await rig.rows("SELECT state FROM payments ORDER BY started_at") == [
        ("failed",),
        ("unknown",),
    ]
    replies = dict(await rig.rows("SELECT id, reply FROM commands"))
    assert json.loads(replies["cmd_failed"])["ok"] is False  # not an outcome of the contract
    assert json.loads(replies["cmd_paying"])["result"]["outcome"] == "unknown"
    assert json.loads(replies["cmd_never_started"])["error"]["code"] == "interrupted"
    assert await rig.rows("SELECT id FROM deferred_commands") == []
    assert rig.sim.received == bytearray()  # nothing retried
    assert [t for t, _ in await rig.events("payment.")] == ["payment.failed", "payment.unknown"]


async def test_a_cash_sale_opens_the_drawer_as_a_sale(rig: Rig) -> None:
    reply = await rig.pay(method="cash")

    assert reply["outcome"] == "approved"
    assert reply["drawer"]["opened"] is True
    assert rig.drawer.kicks == 1
    assert rig.sim.received == bytearray()
    [(_, opened)] = await rig.events("drawer.")
    assert opened == {
        "staff": "alice",
        "reason": "cash sale",
        "printer": "counter",
        "sale": True,
        "payment_id": reply["payment_id"],
    }


async def test_only_a_supervisor_opens_the_drawer_without_a_sale(rig: Rig) -> None:
    ask = {"reason": "float count"}
    with pytest.raises(TillError) as refused:
        await rig.till.carry_out("drawer_open", {**ask, "pin": CASHIER_PIN})
    assert refused.value.code is TillErrorCode.FORBIDDEN
    assert rig.drawer.kicks == 0

    opened = await rig.till.carry_out("drawer_open", {**ask, "pin": SUPERVISOR_PIN})

    assert opened == {"printer": "counter", "opened": True, "sale": False}
    assert rig.drawer.kicks == 1
    assert await rig.audit() == ["drawer.opening", "drawer.opened"]  # a right PIN, a low role
    [(_, event)] = await rig.events("drawer.")
    assert event == {"staff": "bob", "reason": "float count", "printer": "counter", "sale": False}


async def test_a_drawer_that_did_not_open_is_said_and_audited(rig: Rig) -> None:
    rig.drawer.fail = True

    with pytest.raises(TillError) as failed:
        await rig.till.carry_out("drawer_open", {"reason": "change", "pin": SUPERVISOR_PIN})

    assert failed.value.code is TillErrorCode.PRINTER_UNAVAILABLE
    assert (await rig.audit())[-2:] == ["drawer.opening", "drawer.open_failed"]
    assert await rig.events("drawer.") == []


async def test_repeated_wrong_pins_lock_the_drawer_out(rig: Rig) -> None:
    ask = {"reason": "float count", "printer": "counter"}
    for _ in range(5):
        with pytest.raises(TillError):
            await rig.till.carry_out("drawer_open", {**ask, "pin": "1111"})

    with pytest.raises(TillError) as locked:
        await rig.till.carry_out("drawer_open", {**ask, "pin": SUPERVISOR_PIN})

    assert locked.value.code is TillErrorCode.FORBIDDEN
    assert "locked" in str(locked.value)
    assert rig.drawer.kicks == 0


async def test_wrong_pins_sent_all_at_once_still_lock_the_box(rig: Rig) -> None:
    wrong = {"reason": "guessing", "pin": "1111"}
    guesses = [rig.till.carry_out("drawer_open", {**wrong, "pin": f"{1000 + i}"}) for i in range(8)]

    refused = await asyncio.gather(*guesses, return_exceptions=True)

    assert all(isinstance(r, TillError) for r in refused)
    with pytest.raises(TillError) as locked:
        await rig.till.carry_out("drawer_open", {"reason": "x", "pin": SUPERVISOR_PIN})
    assert "locked" in str(locked.value)
    assert rig.drawer.kicks == 0


async def test_more_than_a_known_order_owes_is_refused(rig: Rig) -> None:
    await _store_order(rig.db, "ord_counter_9", {"totals": {"total": 1000}})

    with pytest.raises(TillError) as refused:
        await rig.pay(order_id="ord_counter_9", amount=1001)

    assert refused.value.code is TillErrorCode.INVALID_ARGS
    assert rig.sim.received == bytearray()


async def test_a_card_refund_needs_a_supervisor_and_goes_as_a_credit(rig: Rig) -> None:
    paid = await rig.pay()
    ask = {"payment_id": paid["payment_id"], "amount": 500}
    with pytest.raises(TillError) as refused:
        await rig.till.carry_out("refund", {**ask, "pin": CASHIER_PIN})
    assert refused.value.code is TillErrorCode.FORBIDDEN

    refund = await rig.till.carry_out("refund", {**ask, "pin": SUPERVISOR_PIN})

    assert refund["outcome"] == "approved"
    assert refund["kind"] == "refund"
    assert [(r.kind, r.amount_minor) for r in rig.sim.decoded] == [
        (TransactionKind.DEBIT, 1250),
        (TransactionKind.CREDIT, 500),
    ]
    assert [t for t, _ in await rig.events("refund.")] == ["refund.approved"]
    with pytest.raises(TillError) as too_much:  # 750 left
        await rig.till.carry_out("refund", {**ask, "amount": 800, "pin": SUPERVISOR_PIN})
    assert too_much.value.code is TillErrorCode.INVALID_ARGS

    rest = await rig.till.carry_out(
        "refund", {"payment_id": paid["payment_id"], "pin": SUPERVISOR_PIN}
    )

    assert rest["amount"] == 750  # what is left, not the whole payment again
    assert [r.amount_minor for r in rig.sim.decoded] == [1250, 500, 750]
    with pytest.raises(TillError) as nothing_left:
        await rig.till.carry_out(
            "refund", {"payment_id": paid["payment_id"], "pin": SUPERVISOR_PIN}
        )
    assert nothing_left.value.code is TillErrorCode.INVALID_ARGS


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"amount": 0}, TillErrorCode.INVALID_ARGS),
        ({"amount": "12.50"}, TillErrorCode.INVALID_ARGS),
        ({"currency": "XXX"}, TillErrorCode.INVALID_ARGS),
        ({"pin": None}, TillErrorCode.INVALID_ARGS),
        ({"pin": -2468}, TillErrorCode.INVALID_ARGS),
        ({"method": "cheque"}, TillErrorCode.INVALID_ARGS),
        ({"order_id": "ord 1; DROP"}, TillErrorCode.INVALID_ARGS),
        ({"order_id": "o" * 65}, TillErrorCode.INVALID_ARGS),
    ],
)
async def test_bad_arguments_are_refused_before_anything(
    rig: Rig, args: dict[str, Any], code: TillErrorCode
) -> None:
    with pytest.raises(TillError) as refused:
        await rig.pay(**args)

    assert refused.value.code is code
    assert rig.sim.received == bytearray()
    assert await rig.rows("SELECT id FROM audit WHERE kind LIKE 'payment.%'") == []


async def test_without_a_terminal_a_card_payment_is_no_terminal(tmp_path: Path) -> None:
    config = Config.model_validate({"store": {"id": "st_test"}})
    async with Database(tmp_path / "edge.db") as db:
        till = Till(db, config, {}, lambda: None)
        with pytest.raises(TillError) as refused:
            await till.carry_out(
                "pay", {"order_id": "o", "amount": 1, "currency": "EUR", "pin": "1234"}
            )
    assert refused.value.code is TillErrorCode.NO_TERMINAL


async def test_a_reply_is_stored_for_copies_of_the_command(rig: Rig) -> None:
    reply = await rig.till.reply("cmd_1", "drawer_open", {"reason": "x", "pin": "0000"})

    assert reply.document["error"]["code"] == "forbidden"
    await rig.db.write(lambda c: _defer(c, "cmd_1"), Durability.FULL)
    await rig.db.write(lambda c: finish_deferred(c, "cmd_1", reply), Durability.FULL)
    [(stored,)] = await rig.rows("SELECT reply FROM commands WHERE id = 'cmd_1'")
    assert Reply(json.loads(stored)).document == reply.document


async def test_payment_status_by_payment_or_by_order(rig: Rig) -> None:
    rig.sim.script = Script(rep="4970101234567890   A1B2C3")
    paid = await rig.pay()
    ctx = CommandContext(store_id="st", version="0", routes=())

    by_id = await rig.db.write(lambda c: _status(c, ctx, "s1", payment_id=paid["payment_id"]))
    by_order = await rig.db.write(lambda c: _status(c, ctx, "s2", order_id="ord_counter_1"))
    missing = await rig.db.write(lambda c: _status(c, ctx, "s3", payment_id="pay_nope"))
    neither = await rig.db.write(lambda c: _status(c, ctx, "s4"))

    assert by_id["result"]["outcome"] == "approved"
    assert by_id["result"]["staff"] == "alice"
    assert "masked_pan" not in json.dumps(by_id)  # it stays on the box
    assert by_order["result"]["outcome"] == "approved"
    assert [p["payment_id"] for p in by_order["result"]["payments"]] == [paid["payment_id"]]
    assert missing["error"]["code"] == "not_found"
    assert neither["error"]["code"] == "invalid_args"
    [(masked,)] = await rig.rows("SELECT masked_pan FROM payments")
    assert masked is not None
    assert "4970101234567890" not in masked  # the box keeps only the masked number


def _status(
    conn: sqlite3.Connection, ctx: CommandContext, command_id: str, **args: Any
) -> dict[str, Any]:
    reply = run_command(conn, ctx, command_id, "payment_status", args)
    assert reply is not None
    return reply.document


async def test_a_deferred_command_keeps_its_pin_in_memory_only(rig: Rig) -> None:
    ctx = CommandContext(store_id="st", version="0", routes=(), deferred=frozenset({"pay"}))
    args = {"order_id": "o1", "amount": 100, "currency": "EUR", "pin": CASHIER_PIN}

    def receive(conn: sqlite3.Connection) -> Reply | None:
        return run_command(conn, ctx, "cmd_9", "pay", args, ReplyTo("replies"))

    assert await rig.db.write(receive, Durability.FULL) is None
    [(stored,)] = await rig.rows("SELECT args FROM deferred_commands")
    assert CASHIER_PIN not in stored
    assert ctx.pins == {"cmd_9": CASHIER_PIN}
    refused = b'{"id": "c1", "name": "pay", "args": {"pin": "2468", "amount": "x"}}'
    assert b"2468" not in without_pins(refused)
    assert without_pins(b"not json") == b"not json"


def test_an_open_drawer_is_reported_once_when_left_open_too_long() -> None:
    now = [0.0]
    watch = DrawerWatch(DrawerSettings(left_open_after_s=60.0), clock=lambda: now[0])

    seen = []
    for t, is_open in [(0, True), (30, True), (61, True), (90, True), (95, False), (100, True)]:
        now[0] = float(t)
        seen.append(watch.observe(is_open))

    assert seen == [None, None, 61.0, None, None, None]
    now[0] = 170.0
    assert watch.observe(True) == 70.0  # a new opening, left open again
    assert watch.observe(None) is None  # an unread sensor tells nothing


def _defer(conn: sqlite3.Connection, command_id: str) -> None:
    conn.execute(
        "INSERT INTO deferred_commands (id, name, args, reply_topic, received_at)"
        " VALUES (?, 'drawer_open', '{}', 'replies', 0)",
        (command_id,),
    )


async def _store_order(db: Database, order_id: str, changes: dict[str, Any]) -> None:
    payload = json.dumps({"id": order_id, **changes})
    await db.write(
        lambda c: c.execute(
            "INSERT INTO orders (id, revision, status, payload, partner, display_id,"
            " received_at, updated_at) VALUES (?, 1, 'accepted', ?, 'web', 'A1', 0, 0)",
            (order_id, payload),
        ),
        Durability.FULL,
    )


async def test_naming_the_person_locks_that_person_out_not_the_box(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"store": {"id": "st_test"}, "staff": {"lockout_after": 3, "box_lockout_after": 10}}
    )
    async with Database(tmp_path / "edge.db") as db:
        drawer = FakeDrawerPrinter()
        till = Till(db, config, {"counter": drawer}, lambda: None)
        await till.staff.add("alice", Role.SUPERVISOR, CASHIER_PIN)
        await till.staff.add("bob", Role.SUPERVISOR, SUPERVISOR_PIN)
        ask = {"reason": "float count", "staff": "bob"}
        for _ in range(3):
            with pytest.raises(TillError):
                await till.carry_out("drawer_open", {**ask, "pin": "1111"})

        with pytest.raises(TillError) as locked:
            await till.carry_out("drawer_open", {**ask, "pin": SUPERVISOR_PIN})
        opened = await till.carry_out("drawer_open", {"reason": "x", "pin": CASHIER_PIN})

    assert "locked" in str(locked.value)
    assert opened["opened"] is True  # alice: the box is not locked
    assert drawer.kicks == 1
