"""The POS worker: injects released orders and voids cancelled ones, from the durable job queue.

Printing never waits for it: a POS that is down or slow only delays injection. Every job is
idempotent at the POS (keys derived from store, order and revision), so a job interrupted by
a crash between the request and our commit is simply run again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, cast

from edge import jobs, outbox
from edge.backoff import retry_delay
from edge.config import PosConfig
from edge.crashpoints import crash_point
from edge.db import Database, Durability
from edge.errors import StorageError
from edge.jobs import Job
from edge.orders.model import Order, OrderType
from edge.orders.routing import PrinterRoute, printers_for
from edge.wakeup import Wakeup

from .base import PosConnector, PosPermanentError, PosTransientError
from .model import (
    DEFAULT_FULFILLMENT,
    Category,
    FulfillmentKind,
    InjectionPlan,
    Menu,
    MenuItem,
    MenuModifier,
    MenuVariation,
    ModifierList,
    unlinked_lines,
)

log = logging.getLogger(__name__)

RETRY_INITIAL_S = 2.0
RETRY_MAX_S = 120.0


def menu_from_dict(doc: dict[str, Any]) -> Menu:
    """The Menu saved with `dataclasses.asdict`, rebuilt."""
    return Menu(
        items=tuple(
            MenuItem(
                id=i["id"],
                name=i["name"],
                category_ids=tuple(i["category_ids"]),
                variations=tuple(MenuVariation(**v) for v in i["variations"]),
                modifier_list_ids=tuple(i["modifier_list_ids"]),
            )
            for i in doc["items"]
        ),
        modifier_lists=tuple(
            ModifierList(
                id=m["id"],
                name=m["name"],
                modifiers=tuple(MenuModifier(**x) for x in m["modifiers"]),
            )
            for m in doc["modifier_lists"]
        ),
        categories=tuple(Category(**c) for c in doc["categories"]),
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
    ) -> None:
        self.connector = connector
        self.db = db
        self.pos = pos
        self.store_id = store_id
        self.routes = routes
        self.on_events = on_events
        self.wake_printers = wake_printers
        self.wake = Wakeup()
        self.menu: Menu | None = None
        self.linked: bool | None = None
        self.last_error: str | None = None
        self._menu_read_at = 0.0

    def snapshot(self) -> dict[str, Any]:
        """What `status` reports of the POS link."""
        return {
            "kind": self.pos.kind,
            "linked": self.linked,
            "last_error": self.last_error,
            "menu_items": len(self.menu.items) if self.menu else None,
        }

    async def run(self) -> None:
        """Serve inject and void jobs until cancelled."""
        self.menu = await self.db.read(_saved_menu)
        async with self.connector:
            while True:
                try:
                    await self._step()
                except StorageError:  # reported once by the storage health; tried again
                    await self.db.health.wait_change(RETRY_MAX_S)
                except Exception:  # a bug must not stop the daemon; the job is tried again
                    log.exception("pos: a job failed unexpectedly")
                    await asyncio.sleep(RETRY_MAX_S)

    async def _step(self) -> None:
        if time.time() - self._menu_read_at >= self.pos.menu_refresh_min * 60:
            await self._refresh_menu()
        mark = self.wake.mark()  # before looking: a job queued meanwhile wakes us
        job = await self.db.read(_head_pos_job)
        if job is None or job.next_attempt_at > time.time():
            await self._idle(job, mark)
            return
        await self._carry_out(job)

    async def _idle(self, head: Job | None, mark: int) -> None:
        timeout = self.pos.menu_refresh_min * 60.0
        if head is not None:
            timeout = min(timeout, max(head.next_attempt_at - time.time(), 0.0))
        await self.wake.wait(mark, timeout)

    async def _refresh_menu(self) -> None:
        self._menu_read_at = time.time()
        try:
            menu = await self.connector.read_menu()
        except (PosTransientError, PosPermanentError) as err:
            self.linked = False
            self.last_error = err.reason
            log.warning("pos: cannot read the menu (%s); using the last one read", err.reason)
            return
        self.menu, self.linked = menu, True
        doc = json.dumps(asdict(menu))
        await self.db.write(lambda c: _save_menu(c, doc), Durability.NORMAL)

    def _plan(self, settings: dict[str, Any]) -> tuple[InjectionPlan, set[str]]:
        """The file's [pos] settings, overridden by the cloud's retained in/settings `pos`."""
        cloud = settings.get("pos") if isinstance(settings.get("pos"), dict) else {}
        assert isinstance(cloud, dict)
        tenders = {**self.pos.tenders, **(cloud.get("tenders") or {})}
        fulfillment = {**self.pos.fulfillment, **(cloud.get("fulfillment") or {})}
        plan = InjectionPlan(
            store_id=self.store_id,
            location_id=str(cloud.get("location_id") or self.pos.location_id),
            fulfillment=cast(
                "dict[OrderType, FulfillmentKind]", {**DEFAULT_FULFILLMENT, **fulfillment}
            ),
            tenders=tenders,
            auto_close=bool(cloud.get("auto_close", self.pos.auto_close)),
        )
        disabled = set(cloud.get("disabled_partners", self.pos.disabled_partners) or [])
        return plan, disabled

    async def _carry_out(self, job: Job) -> None:
        row, settings = await self.db.read(lambda c: (_order_row(c, job.order_id), _settings(c)))
        if row is None:
            await self._end(job, "cancelled", "order not in the database")
            return
        order = Order.model_validate_json(row["payload"])
        plan, disabled = self._plan(settings)
        if job.kind == "inject":
            if row["status"] != "accepted":
                await self._end(job, "cancelled", f"order is {row['status']}")
            elif order.source.partner in disabled:
                await self._end(job, "cancelled", f"injection is off for {order.source.partner}")
            else:
                await self._inject(job, order, plan)
        else:
            await self._void(job, order, plan, row["pos_order_id"])

    async def _inject(self, job: Job, order: Order, plan: InjectionPlan) -> None:
        unlinked = unlinked_lines(order, self.menu)
        if unlinked:
            await self._refused(job, order, PosPermanentError("unlinked lines", unlinked))
            return
        await self.db.write(
            lambda c: jobs.set_state(c, job.id, "running", count_attempt=True), Durability.FULL
        )
        crash_point("before_pos_request")
        try:
            injected = await self.connector.inject(order, plan)
            crash_point("after_pos_request")
            closed = None
            if plan.should_close(order):
                closed = await self.connector.close_ticket(order, injected, plan)
        except PosTransientError as err:
            await self._retry(job, err)
            return
        except PosPermanentError as err:
            await self._refused(job, order, err)
            return
        self.linked, self.last_error = True, None
        data = {
            "pos": self.pos.kind,
            "pos_order_id": injected.pos_order_id,
            "pos_total": injected.pos_total,
            "tip_sent": injected.tip_sent,
            "price_differences": [asdict(d) for d in injected.differences],
            "subtotal_difference": injected.subtotal_difference,
            "closed": closed is not None,
        }

        def _done(c: sqlite3.Connection) -> None:
            jobs.set_state(c, job.id, "done")
            c.execute(
                "UPDATE orders SET pos_order_id = ? WHERE id = ?", (injected.pos_order_id, order.id)
            )
            outbox.add_event(c, "order.injected", order.id, data)

        await self.db.write(_done, Durability.FULL)
        self.on_events()

    async def _void(
        self, job: Job, order: Order, plan: InjectionPlan, pos_order_id: str | None
    ) -> None:
        await self.db.write(
            lambda c: jobs.set_state(c, job.id, "running", count_attempt=True), Durability.FULL
        )
        try:
            if pos_order_id is None:
                # An earlier attempt may have created it without us hearing back: the same
                # idempotency key names that order (or creates it, to cancel it at once).
                pos_order_id = (await self.connector.inject(order, plan)).pos_order_id
            await self.connector.void(pos_order_id)
        except PosTransientError as err:
            await self._retry(job, err)
            return
        except PosPermanentError as err:
            await self._cancelled(job, order, voided=False, error=err)
            return
        await self._cancelled(job, order, voided=True)

    async def _cancelled(
        self, job: Job, order: Order, *, voided: bool, error: PosPermanentError | None = None
    ) -> None:
        def _write(c: sqlite3.Connection) -> None:
            reason = error.reason if error is not None else None
            jobs.set_state(c, job.id, "done" if voided else "failed", error=reason)
            if error is not None:
                outbox.add_event(
                    c,
                    "pos.error",
                    order.id,
                    {
                        "reason": error.reason,
                        "unlinked": error.unlinked,
                        "will_retry": False,
                        "manual_entry_required": False,
                        "operation": "void",
                    },
                )
            outbox.add_event(
                c,
                "order.cancelled",
                order.id,
                {"revision": order.revision, "voided_in_pos": voided},
            )

        await self.db.write(_write, Durability.FULL)
        self.on_events()

    async def _retry(self, job: Job, err: PosTransientError) -> None:
        self.linked, self.last_error = False, err.reason
        delay = err.retry_after or retry_delay(job.attempts + 1, RETRY_INITIAL_S, RETRY_MAX_S)
        first = job.last_error != err.reason
        log.warning("pos: %s %s: %s (retry in %.1f s)", job.kind, job.order_id, err.reason, delay)

        def _write(c: sqlite3.Connection) -> None:
            jobs.set_state(
                c, job.id, "queued", error=err.reason, next_attempt_at=time.time() + delay
            )
            c.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (job.attempts + 1, job.id))
            if first:  # once per cause, not per retry
                outbox.add_event(
                    c,
                    "pos.error",
                    job.order_id,
                    {
                        "reason": err.reason,
                        "unlinked": [],
                        "will_retry": True,
                        "manual_entry_required": False,
                        "operation": job.kind,
                    },
                )

        await self.db.write(_write, Durability.FULL)
        if first:
            self.on_events()

    async def _refused(self, job: Job, order: Order, err: PosPermanentError) -> None:
        """The order cannot go in by itself: tell the cloud and print it for manual entry."""
        log.error("pos: order %s refused: %s %s", order.id, err.reason, err.unlinked)
        kitchen = [r for r in printers_for(self.routes, "kitchen", order.brand)]

        def _write(c: sqlite3.Connection) -> None:
            jobs.set_state(c, job.id, "failed", error=err.reason)
            outbox.add_event(
                c,
                "pos.error",
                order.id,
                {
                    "reason": err.reason,
                    "unlinked": err.unlinked,
                    "will_retry": False,
                    "manual_entry_required": True,
                    "operation": "inject",
                },
            )
            for route in kitchen:
                jobs.add_print_job(
                    c,
                    printer=route.name,
                    ticket="manual_entry",
                    order_id=order.id,
                    revision=order.revision,
                )

        await self.db.write(_write, Durability.FULL)
        self.on_events()
        self.wake_printers({r.name for r in kitchen})

    async def _end(self, job: Job, state: str, why: str) -> None:
        log.info("pos: %s of %s not carried out: %s", job.kind, job.order_id, why)
        await self.db.write(
            lambda c: jobs.set_state(c, job.id, state, error=why), Durability.NORMAL
        )


def _head_pos_job(conn: sqlite3.Connection) -> Job | None:
    row = conn.execute(
        "SELECT * FROM jobs WHERE kind IN ('inject', 'void') AND state = 'queued'"
        " ORDER BY next_attempt_at > ?, id LIMIT 1",
        (time.time(),),
    ).fetchone()
    return Job.from_row(row) if row else None


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


def _saved_menu(conn: sqlite3.Connection) -> Menu | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'pos_menu'").fetchone()
    return menu_from_dict(json.loads(row[0])) if row else None


def _save_menu(conn: sqlite3.Connection, doc: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('pos_menu', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (doc,),
    )
