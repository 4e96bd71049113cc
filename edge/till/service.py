"""The till in the daemon: carries out the cloud's till commands, answers each when done.

`pay`, `refund`, `payment_resolve` and `drawer_open` take a PIN check (slow on purpose) and a
device, so they are deferred commands (`edge.commands`): stored when received, carried out
here, answered when they end. A copy of a command received meanwhile is not started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from drivers.concert import ConcertTerminal, ConcertTimeouts
from edge.commands import Reply, deferred_commands, finish_deferred
from edge.config import Config
from edge.db import Database, Durability
from edge.staff import LockoutPolicy, LockoutRule, Role, StaffBook
from edge.till import ledger
from edge.till.args import DrawerArgs
from edge.till.desk import PaymentDesk, Terminal, check_pin
from edge.till.drawers import CashDrawers, DrawerPrinter
from edge.till.errors import TillError, TillErrorCode
from edge.wakeup import Wakeup

log = logging.getLogger(__name__)

#: the commands the till carries out (deferred: answered when done)
TILL_COMMANDS = frozenset({"pay", "refund", "payment_resolve", "drawer_open"})
_PAYING = frozenset({"pay", "refund"})

# A payment running at shut-down gets this long to end before it is recorded UNKNOWN.
SHUTDOWN_GRACE_S = 20.0


def lockout_policy(config: Config) -> LockoutPolicy:
    """`[staff]` as the staff book's lockout rules."""
    s = config.staff
    return LockoutPolicy(
        person=LockoutRule(s.lockout_after, s.lockout_s, s.lockout_max_s, 86400.0),
        box=LockoutRule(s.box_lockout_after, s.lockout_s, s.lockout_max_s, 900.0),
    )


def terminal_of(config: Config) -> Terminal | None:
    """The `[card_reader]` terminal, or None."""
    reader = config.card_reader
    if reader is None:
        return None
    return ConcertTerminal(
        reader.uri,
        protocol=reader.protocol,
        pos_number=reader.pos_number,
        timeouts=ConcertTimeouts(ack=reader.ack_timeout_s, answer=reader.answer_timeout_s),
    )


class Till:
    """Payments, refunds, resolutions and drawer openings, for the cloud and the CLI."""

    def __init__(
        self,
        db: Database,
        config: Config,
        drawer_printers: Mapping[str, DrawerPrinter],
        on_events: Callable[[], None],
        *,
        terminal: Terminal | None = None,
        pins: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        # the PINs of the deferred commands, held in memory by edge.commands (never stored)
        self.pins = pins if pins is not None else {}
        self.on_events = on_events
        self.clock = clock
        self.staff = StaffBook(db, clock=clock, policy=lockout_policy(config))
        self.drawers = CashDrawers(db, drawer_printers, on_events, clock=clock)
        self.desk = PaymentDesk(
            db,
            self.staff,
            terminal if terminal is not None else terminal_of(config),
            self.drawers,
            on_events,
            clock=clock,
        )
        self.wake = Wakeup()
        self._handling: set[str] = set()
        self._group: asyncio.TaskGroup | None = None

    # ---- commands -------------------------------------------------------------------------

    async def carry_out(
        self, name: str, args: dict[str, Any], command_id: str | None = None
    ) -> dict[str, Any]:
        """Carry out one till command; its result, or TillError."""
        handlers: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
            "pay": lambda: self.desk.pay(args, command_id),
            "refund": lambda: self.desk.refund(args, command_id),
            "payment_resolve": lambda: self.desk.resolve(args),
            "drawer_open": lambda: self.drawer_open(args),
        }
        return await handlers[name]()

    async def drawer_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """`drawer_open`: without a sale, only a supervisor opens the drawer."""
        req = DrawerArgs.parse(args)
        self.drawers.pick(req.printer)  # no drawer: said before a PIN is spent
        supervisor = await check_pin(self.staff, req.pin, Role.SUPERVISOR, req.staff)
        return await self.drawers.open(supervisor.name, req.reason, req.printer)

    async def reply(self, command_id: str, name: str, args: dict[str, Any]) -> Reply:
        """The reply to a till command carried out now."""
        try:
            result = await self.carry_out(name, args, command_id)
        except TillError as err:
            return Reply.failure(command_id, err.code.value, str(err))
        return Reply.success(command_id, result)

    # ---- start-up -------------------------------------------------------------------------

    async def recover(self) -> None:
        """After a crash: payments left running become UNKNOWN (never retried), and the
        till commands received before it are answered (never carried out late)."""

        def settle(conn: sqlite3.Connection) -> int:
            now = self.clock()
            unknown = ledger.recover_interrupted(conn, now)
            for payment in unknown:
                log.warning(
                    "payment %s (%s %s, order %s) was running when the daemon stopped: its "
                    "outcome is UNKNOWN; a supervisor must resolve it",
                    payment.id,
                    payment.amount,
                    payment.currency,
                    payment.order_id,
                )
            waiting = deferred_commands(conn, TILL_COMMANDS)
            for command_id, name, _args in waiting:
                started = ledger.of_command(conn, command_id) if name in _PAYING else None
                reply = _after_restart(command_id, name, started)
                finish_deferred(conn, command_id, reply)
            return len(unknown) + len(waiting)

        if await self.db.write_when_stored(settle, Durability.FULL):
            self.on_events()

    # ---- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Carry out till commands as they arrive, each in its own task, until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            while True:
                mark = self.wake.mark()
                try:
                    waiting = await self.db.read(lambda c: deferred_commands(c, TILL_COMMANDS))
                except Exception:  # a failing disk: tried again on the next wake-up
                    log.exception("till: could not read the waiting commands")
                    waiting = []
                for command_id, name, args in waiting:
                    if command_id not in self._handling:
                        self._handling.add(command_id)
                        pin = self.pins.pop(command_id, None)
                        given = args if pin is None else {**args, "pin": pin}
                        group.create_task(
                            self._answer(command_id, name, given), name=f"till-{name}"
                        )
                await self.wake.wait(mark, 60.0 if waiting else None)

    async def _answer(self, command_id: str, name: str, args: dict[str, Any]) -> None:
        try:
            reply = await self.reply(command_id, name, args)
            await self.db.write_when_stored(
                lambda c: finish_deferred(c, command_id, reply), Durability.FULL
            )
        except Exception:
            # Never kills the till, and never carried out again in this run (a payment must
            # not be retried): it stays in `_handling`, and is answered after a restart.
            log.exception("till: %s %s failed unexpectedly", name, command_id)
            return
        self.on_events()
        self._handling.discard(command_id)

    async def stop(self, task: asyncio.Task[None]) -> None:
        """Let a payment at the terminal end (up to SHUTDOWN_GRACE_S), then stop."""
        if self.desk.running is not None:
            log.info("waiting up to %.0f s for the payment at the terminal", SHUTDOWN_GRACE_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.desk.idle.wait(), SHUTDOWN_GRACE_S)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def snapshot(self) -> dict[str, Any]:
        """What `status` says of the till."""
        running = self.desk.running
        return {
            "terminal": self.desk.terminal is not None,
            "paying": running.id if running is not None else None,
            "drawers": sorted(self.drawers.printers),
        }


def _after_restart(command_id: str, name: str, payment: ledger.Payment | None) -> Reply:
    """The reply to a till command the daemon stopped before answering."""
    if payment is not None and payment.state is ledger.PaymentState.FAILED:
        return Reply.failure(
            command_id,
            TillErrorCode.NO_TERMINAL.value,
            f"the terminal did not take the payment: {payment.detail or 'not charged'}",
        )
    if payment is not None:
        return Reply.success(command_id, {"payment_id": payment.id, "outcome": payment.state.value})
    if name in _PAYING:
        message = f"the daemon restarted before {name} reached the terminal: nothing was charged"
    else:
        message = (
            f"the daemon restarted while carrying out {name}: whether it was done is in the "
            "audit log (edge audit) and payment_status"
        )
    return Reply.failure(command_id, TillErrorCode.INTERRUPTED.value, message)
