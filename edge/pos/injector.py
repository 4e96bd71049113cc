"""The POS worker: injects released orders and voids cancelled ones, from the durable job queue.

Printing never waits for it: a POS that is down or slow only delays injection. Each step
sent to the POS is recorded first (`pos_attempts`, synchronous commit), so that after a
crash, a timeout or a lost answer the connector looks the order up by our reference and
adopts it instead of creating a second one; vendors with idempotency keys (Square) also get
the same key again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, cast

from edge import jobs
from edge.config import PosConfig
from edge.crashpoints import crash_point
from edge.db import Database, Durability
from edge.errors import StorageError
from edge.jobs import Job, JobState
from edge.orders.model import Order, OrderType
from edge.orders.routing import PrinterRoute
from edge.wakeup import Wakeup

from . import attempts
from .base import PosConnector, PosPending, PosPermanentError, PosTransientError
from .menu import CurrentMenu
from .model import (
    DEFAULT_FULFILLMENT,
    Attempt,
    Closed,
    FulfillmentKind,
    Injected,
    InjectionPlan,
    PriceDifference,
    rule_violations,
    unlinked_lines,
)
from .outcomes import RETRY_MAX_S, Outcomes

log = logging.getLogger(__name__)


def injected_from_dict(doc: Mapping[str, Any]) -> Injected:
    """An Injected saved with `dataclasses.asdict`, rebuilt."""
    return Injected(
        pos_order_id=doc["pos_order_id"],
        pos_version=doc.get("pos_version"),
        pos_total=doc.get("pos_total", 0),
        currency=doc.get("currency", ""),
        tip_sent=doc.get("tip_sent", 0),
        differences=tuple(PriceDifference(**d) for d in doc.get("differences") or ()),
        subtotal_difference=doc.get("subtotal_difference", 0),
    )


class Injector:
    """One task owning the POS connection; takes inject and void jobs in order."""

    def __init__(
        self,
        connector: PosConnector,
        db: Database,
        pos: PosConfig,
        store_id: str,
        routes: Sequence[PrinterRoute],
        on_events: Callable[[], None],
        wake_printers: Callable[[set[str]], None],
        menus: CurrentMenu | None = None,
    ) -> None:
        self.connector = connector
        self.db = db
        self.pos = pos
        self.store_id = store_id
        self.outcomes = Outcomes(db, pos.kind, routes, on_events, wake_printers)
        self.wake = Wakeup()
        # the last good menu the menu sync stored (edge/menu): what orders are checked against
        self.menus = menus or CurrentMenu()
        self.linked: bool | None = None
        self.last_error: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """What `status` reports of the POS link."""
        return {
            "kind": self.pos.kind,
            "linked": self.linked,
            "last_error": self.last_error,
            "menu_items": len(self.menus.menu.items) if self.menus.menu else None,
            "ids": self.connector.ids_in_use(),
        }

    async def run(self) -> None:
        """Serve inject and void jobs until cancelled (the caller opened the connector)."""
        while True:
            try:
                await self._step()
            except StorageError:  # reported once by the storage health; tried again
                await self.db.health.wait_change(RETRY_MAX_S)
            except Exception:  # a bug must not stop the daemon; the job is tried again
                log.exception("pos: a job failed unexpectedly")
                await asyncio.sleep(RETRY_MAX_S)

    async def _step(self) -> None:
        mark = self.wake.mark()  # before looking: a job queued meanwhile wakes us
        job = await self.db.read(_head_pos_job)
        if job is None or job.next_attempt_at > time.time():
            await self._idle(job, mark)
            return
        await self._carry_out(job)

    async def _idle(self, head: Job | None, mark: int) -> None:
        timeout = None if head is None else max(head.next_attempt_at - time.time(), 0.0)
        await self.wake.wait(mark, timeout)

    def _plan(self, settings: dict[str, Any]) -> tuple[InjectionPlan, set[str]]:
        """The file's [pos] settings, overridden by the cloud's retained in/settings `pos`."""
        cloud = settings.get("pos") if isinstance(settings.get("pos"), dict) else {}
        assert isinstance(cloud, dict)
        cloud_tenders = _str_map(cloud.get("tenders"))
        cloud_types = _str_map(cloud.get("order_types"))
        fulfillment = {**self.pos.fulfillment, **(cloud.get("fulfillment") or {})}
        plan = InjectionPlan(
            store_id=self.store_id,
            location_id=str(cloud.get("location_id") or self.pos.location_id),
            fulfillment=cast(
                "dict[OrderType, FulfillmentKind]", {**DEFAULT_FULFILLMENT, **fulfillment}
            ),
            tenders={**self.pos.tenders, **cloud_tenders},
            order_types={**self.pos.order_types, **cloud_types},
            from_cloud=frozenset(
                [f"tenders.{k}" for k in cloud_tenders] + [f"order_types.{k}" for k in cloud_types]
            ),
            auto_close=bool(cloud.get("auto_close", self.pos.auto_close)),
            delivery_state=self.pos.delivery_state,
        )
        disabled = set(cloud.get("disabled_partners", self.pos.disabled_partners) or [])
        return plan, disabled

    async def _carry_out(self, job: Job) -> None:
        row, settings = await self.db.read(lambda c: (_order_row(c, job.order_id), _settings(c)))
        if row is None:
            await self.outcomes.ended(job, JobState.CANCELLED, "order not in the database")
            return
        order = Order.model_validate_json(row["payload"])
        plan, disabled = self._plan(settings)
        if job.kind == "inject":
            if row["status"] != "accepted":
                await self.outcomes.ended(job, JobState.CANCELLED, f"order is {row['status']}")
            elif order.source.partner in disabled:
                why = f"injection is off for {order.source.partner}"
                await self.outcomes.ended(job, JobState.CANCELLED, why)
            else:
                await self._inject(job, order, plan, row["pos_order_id"])
        else:
            await self._void(job, order, plan, row["pos_order_id"])

    async def _inject(self, job: Job, order: Order, plan: InjectionPlan, live: str | None) -> None:
        live_revision = await self.db.read(lambda c: _injected_revision(c, order.id, live))
        if live is not None and live_revision in (None, order.revision):
            await self.outcomes.ended(
                job, JobState.DONE, f"revision {order.revision} is in the POS"
            )
            return
        unlinked = unlinked_lines(order, self.menus.menu)
        if unlinked:
            await self.outcomes.refused(job, order, PosPermanentError("unlinked lines", unlinked))
            return
        broken = rule_violations(order, self.menus.menu)
        if broken:
            reason = "menu rule: " + "; ".join(broken)
            await self.outcomes.refused(job, order, PosPermanentError(reason))
            return
        attempt = await self._begin(job, order, "create", plan.reference(order))
        crash_point("before_pos_request")
        try:
            replaced = None
            if live is None:  # an earlier revision's try may have created it: never two
                live = await self._settle_earlier(order, plan)
            if live is not None:  # an earlier revision is in the POS: update it, or replace it
                previous = await self.db.read(lambda c: _injected_at(c, order.id, live))
                injected = await self.connector.update(order, previous, plan, attempt)
                if injected is None:
                    await self.connector.void(live)
                    replaced = live
                    await self.db.write(lambda c: _forget_live(c, order.id, live), Durability.FULL)
                    injected = await self._create(order, plan, attempt)
            else:
                injected = await self._create(order, plan, attempt)
            closed = await self._close(order, injected, plan)
        except PosPending as err:
            await self.outcomes.pending(job, err)
            return
        except PosTransientError as err:
            self.linked, self.last_error = False, err.reason
            await self.outcomes.retry(job, err)
            return
        except PosPermanentError as err:
            await self.outcomes.refused(job, order, err)
            return
        self.linked, self.last_error = True, None
        await self.outcomes.injected(job, order, injected, closed, replaced=replaced)

    async def _settle_earlier(self, order: Order, plan: InjectionPlan) -> str | None:
        """The POS order an unanswered try of an earlier revision created, adopted as live."""
        earlier = [
            a
            for a in await self.db.read(lambda c: _unsettled_creates(c, order.id))
            if a.progress.get("revision") != order.revision
        ]
        live = None
        for attempt in earlier:
            found = await self.connector.find(order, plan, attempt)
            revision = int(attempt.progress.get("revision", 0))
            saved = asdict(found) if found else None

            def _write(c: sqlite3.Connection, rev: int = revision, doc: Any = saved) -> None:
                attempts.settle(c, order.id, rev, doc)
                if doc is not None:
                    c.execute(
                        "UPDATE orders SET pos_order_id = ? WHERE id = ?",
                        (doc["pos_order_id"], order.id),
                    )

            await self.db.write(_write, Durability.FULL)
            live = found.pos_order_id if found else live
        return live

    async def _create(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected:
        """The order created (or found again) in the POS, its id kept before going on."""
        done = attempt.progress.get("injected")
        if isinstance(done, dict):  # created by an earlier try, which was told so
            return injected_from_dict(done)
        try:
            injected = await self.connector.inject(order, plan, attempt)
        except PosPending:  # taken, answer later (Lightspeed K): the request went out too
            crash_point("after_pos_request")
            raise
        crash_point("after_pos_request")
        await attempt.note(injected=asdict(injected))
        return injected

    async def _close(self, order: Order, injected: Injected, plan: InjectionPlan) -> Closed | None:
        if not plan.should_close(order):
            return None
        attempt = await self.db.write(
            lambda c: attempts.begin(c, order, "pay", plan.reference(order)), Durability.FULL
        )
        attempt = self._saving(order, attempt)
        return await self.connector.close_ticket(order, injected, plan, attempt)

    async def _begin(self, job: Job, order: Order, step: str, reference: str) -> Attempt:
        def _write(c: sqlite3.Connection) -> Attempt:
            jobs.start_attempt(c, job.id)
            return attempts.begin(c, order, step, reference)

        return self._saving(order, await self.db.write(_write, Durability.FULL))

    def _saving(self, order: Order, attempt: Attempt) -> Attempt:
        """The attempt, able to record its progress durably."""

        async def save(progress: Mapping[str, Any]) -> None:
            await self.db.write(
                lambda c: attempts.save_progress(c, order, attempt.step, progress),
                Durability.FULL,
            )

        attempt.save = save
        return attempt

    async def _void(self, job: Job, order: Order, plan: InjectionPlan, live: str | None) -> None:
        """Void the live POS order, and any an unanswered try may have created."""
        await self.db.write(lambda c: jobs.start_attempt(c, job.id), Durability.FULL)
        unsettled = await self.db.read(lambda c: _unsettled_creates(c, order.id))
        targets = [live] if live is not None else []
        settled: list[tuple[int, Mapping[str, Any] | None]] = []
        try:
            for attempt in unsettled:
                found = await self.connector.find(order, plan, attempt)
                revision = int(attempt.progress.get("revision", 0))
                settled.append((revision, asdict(found) if found else None))
                if found is not None and found.pos_order_id not in targets:
                    targets.append(found.pos_order_id)
            for pos_order_id in targets:
                await self.connector.void(pos_order_id)
        except PosPending as err:
            unknown = PosPermanentError(
                f"{err.reason}: the order may be on the till; void it there if it is"
            )
            await self.outcomes.cancelled(job, order, voided=False, error=unknown)
            return
        except PosTransientError as err:
            await self.outcomes.retry(job, err)
            return
        except PosPermanentError as err:
            await self.outcomes.cancelled(job, order, voided=False, error=err)
            return
        await self.outcomes.cancelled(job, order, voided=bool(targets), settled=settled)


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int) and v != ""}


def _injected_revision(conn: sqlite3.Connection, order_id: str, live: str | None) -> int | None:
    """The revision the live POS order was created or updated at (None: before we kept it)."""
    if live is None:
        return None
    row = conn.execute(
        "SELECT MAX(revision) FROM pos_attempts WHERE order_id = ? AND step = 'create'"
        " AND done = 1 AND pos_order_id = ?",
        (order_id, live),
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def _injected_at(conn: sqlite3.Connection, order_id: str, live: str) -> Injected:
    row = conn.execute(
        "SELECT progress FROM pos_attempts WHERE order_id = ? AND step = 'create' AND done = 1"
        " AND pos_order_id = ? ORDER BY revision DESC LIMIT 1",
        (order_id, live),
    ).fetchone()
    doc = json.loads(row["progress"]).get("injected") if row else None
    if isinstance(doc, dict):
        return injected_from_dict(doc)
    return Injected(pos_order_id=live, pos_version=None, pos_total=0, currency="")


def _forget_live(conn: sqlite3.Connection, order_id: str, live: str) -> None:
    """The old POS order is voided: the order has no live POS order until the new one."""
    conn.execute(
        "UPDATE orders SET pos_order_id = NULL WHERE id = ? AND pos_order_id = ?", (order_id, live)
    )


def _unsettled_creates(conn: sqlite3.Connection, order_id: str) -> list[Attempt]:
    """Create tries that were sent and whose outcome was never recorded."""
    rows = conn.execute(
        "SELECT revision, reference, tries, first_at, progress FROM pos_attempts"
        " WHERE order_id = ? AND step = 'create' AND done = 0 AND tries > 0",
        (order_id,),
    ).fetchall()
    found = []
    for r in rows:
        progress = {**json.loads(r["progress"]), "revision": r["revision"]}
        found.append(
            Attempt(
                step="create",
                reference=r["reference"],
                tries=r["tries"],
                first_at=r["first_at"],
                progress=progress,
                events=tuple(attempts.events_for(conn, r["reference"])),
            )
        )
    return found


def _head_pos_job(conn: sqlite3.Connection) -> Job | None:
    """The next job to carry out (or, when none is due, the one to wait for).

    Orders go into the POS in the order they arrived: the oldest job runs first, and the
    ones behind it wait for it, whatever their own retry times (a POS that is down is down
    for all). A job whose order the POS took and will answer for later (`PosPending`) does
    not hold the line: it is looked at again when its own time comes.
    """
    now = time.time()
    waiting = conn.execute(
        f"SELECT * FROM jobs j WHERE {jobs.POS_QUEUED} AND {attempts.AWAITING_ANSWER}"
        " ORDER BY next_attempt_at LIMIT 1"
    ).fetchone()
    if waiting is not None and waiting["next_attempt_at"] <= now:
        return Job.from_row(waiting)
    head = conn.execute(
        f"SELECT * FROM jobs j WHERE {jobs.POS_QUEUED} AND NOT {attempts.AWAITING_ANSWER}"
        " ORDER BY id LIMIT 1"
    ).fetchone()
    if head is None or (
        waiting is not None and waiting["next_attempt_at"] < head["next_attempt_at"]
    ):
        head = waiting
    return Job.from_row(head) if head else None


def _order_row(conn: sqlite3.Connection, order_id: str | None) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT payload, status, pos_order_id FROM orders WHERE id = ?", (order_id,)
    ).fetchone()
    return row


def _settings(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'cloud_settings'").fetchone()
    if row is None:
        return {}
    doc = json.loads(row[0])
    return doc if isinstance(doc, dict) else {}
