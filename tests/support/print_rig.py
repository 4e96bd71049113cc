"""The printing side of the daemon in the test's event loop: printer workers on a real SQLite
file, orders through the real lifecycle, each printer's transport made by a factory the test
passes (the seam a Bluetooth fake or an RFCOMM stand-in goes through).

    async with PrintRig(tmp_path, [kitchen, backup], transports={"kitchen": factory}) as rig:
        await rig.receive(load_order("ubereats_delivery"))
        await rig.wait_jobs(lambda jobs: all(j.state == "done" for j in jobs))

Printers without a factory use their URI's transport (a TCP emulator as the backup).
Waiting is on the database: `wait_jobs` looks again after every write the workers make.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from edge.db import Database, Durability
from edge.orders.intake import Lifecycle, apply_order
from edge.orders.model import Order
from edge.orders.routing import PrinterRoute
from edge.printing.link import TransportFactory
from edge.printing.render import PrinterSettings, TicketStyle
from edge.printing.worker import PrinterWorker

T = TypeVar("T")


@dataclass(frozen=True)
class JobRow:
    """One row of the jobs table, as a test reads it."""

    id: int
    order_id: str | None
    ticket: str
    printer: str
    state: str
    attempts: int
    reprint: bool
    meant_for: str | None


@dataclass(frozen=True)
class EventRow:
    """One event of the outbox."""

    type: str
    data: dict[str, Any]


class PrintRig:
    """Workers for `printers`, the first one routed the kitchen tickets of every order."""

    def __init__(
        self,
        folder: Path,
        printers: Sequence[PrinterSettings],
        *,
        transports: dict[str, TransportFactory] | None = None,
        style: TicketStyle | None = None,
    ) -> None:
        self.db = Database(folder / "edge.db")
        self.life = Lifecycle((PrinterRoute(printers[0].name),))
        self._changed = asyncio.Event()
        factories = transports or {}
        self.workers = {
            p.name: PrinterWorker(
                p,
                self.db,
                style or TicketStyle(timezone="Europe/Paris"),
                on_events=self._changed.set,
                wake_printer=self._wake,
                transports=factories.get(p.name),
            )
            for p in printers
        }
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        await self.db.__aenter__()
        write = self.db.write

        async def noticing(*args: Any, **kw: Any) -> Any:
            result = await write(*args, **kw)
            self._changed.set()
            return result

        self.db.write = noticing  # type: ignore[method-assign]
        self._tasks = [
            asyncio.create_task(w.run(), name=f"printer {name}") for name, w in self.workers.items()
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for w in self.workers.values():
            w.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.db.__aexit__(exc_type, exc, tb)

    def _wake(self, name: str) -> None:
        worker = self.workers.get(name)
        if worker is not None:
            worker.wake.set()

    async def receive(self, doc: dict[str, Any]) -> None:
        """An order (or a new revision of one) accepted as the daemon would, then printed."""
        payload = json.dumps(doc)
        order = Order.model_validate_json(payload)
        await self.db.write(lambda c: apply_order(c, order, payload, self.life), Durability.FULL)
        for w in self.workers.values():
            w.wake.set()

    async def jobs(self) -> list[JobRow]:
        def read(c: sqlite3.Connection) -> list[JobRow]:
            rows = c.execute(
                "SELECT id, order_id, ticket, printer, state, attempts, reprint, meant_for "
                "FROM jobs WHERE kind = 'print' ORDER BY id"
            )
            return [JobRow(**{k: r[k] for k in r.keys()}) for r in rows]  # noqa: SIM118

        return await self.db.read(read)

    async def events(self, kind: str | None = None) -> list[EventRow]:
        def read(c: sqlite3.Connection) -> list[EventRow]:
            rows = c.execute("SELECT type, data FROM events ORDER BY seq")
            return [EventRow(r["type"], json.loads(r["data"])) for r in rows]

        found = await self.db.read(read)
        return [e for e in found if kind is None or e.type == kind]

    async def wait_jobs(
        self, done: Callable[[list[JobRow]], bool], *, timeout: float = 20.0
    ) -> list[JobRow]:
        """Wait until `done(jobs)` holds, looked at after every database write."""
        return await self._wait(self.jobs, done, timeout, "jobs")

    async def wait_events(
        self, done: Callable[[list[EventRow]], bool], *, timeout: float = 20.0
    ) -> list[EventRow]:
        """Wait until `done(events)` holds, looked at after every database write."""
        return await self._wait(self.events, done, timeout, "events")

    async def _wait(
        self,
        read: Callable[[], Awaitable[T]],
        done: Callable[[T], bool],
        timeout: float,
        what: str,
    ) -> T:
        seen: T | None = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()  # before looking: a write meanwhile is not missed
                    seen = await read()
                    if done(seen):
                        return seen
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{what} never reached the condition; last seen: {seen}") from None
