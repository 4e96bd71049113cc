"""One SQLite connection owned by one thread; each transaction is one function run there.

Running a whole transaction as a single call on the database thread (rather than one
thread hop per statement, as aiosqlite does) means two tasks can never interleave
statements inside each other's transactions, and a batch of orders costs one hop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from edge.db.migrations import migrate
from edge.errors import DatabaseError

T = TypeVar("T")
log = logging.getLogger(__name__)


class Durability(enum.Enum):
    """How hard a commit must hit the disk."""

    # fsync of the WAL at commit: anything acknowledged upstream (PUBACK, events-ack).
    FULL = "FULL"
    # WAL without fsync at commit: survives a process crash, not a power cut.
    NORMAL = "NORMAL"


class Database:
    """The daemon's SQLite file; use as `async with Database(path) as db`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._sync: Durability | None = None
        self._thread_ident: int | None = None

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the file (creating parents), switch to WAL and apply migrations."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-db")
        try:
            await self._submit(self._open_sync)
        except sqlite3.Error as err:
            raise DatabaseError(f"cannot open database {self.path}: {err}") from err

    def _open_sync(self) -> None:
        self._thread_ident = threading.get_ident()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        self._conn = conn
        self._set_sync(Durability.FULL)
        migrate(conn)

    def _set_sync(self, durability: Durability) -> None:
        if self._sync is not durability and self._conn is not None:
            self._conn.execute(f"PRAGMA synchronous={durability.value}")
            self._sync = durability

    async def close(self) -> None:
        """Checkpoint and close; idempotent."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None

        def _close() -> None:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    self._conn.close()
                    self._conn = None

        await asyncio.get_running_loop().run_in_executor(executor, _close)
        executor.shutdown(wait=True)

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise DatabaseError("database is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the database thread outside any write transaction."""
        return await self._submit(self._read_sync, fn)

    def _read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._conn is not None
        return fn(self._conn)

    async def write(
        self, fn: Callable[[sqlite3.Connection], T], durability: Durability = Durability.FULL
    ) -> T:
        """Run `fn(conn)` inside one IMMEDIATE transaction; commit, or roll back on error."""
        try:
            return await self._submit(self._write_sync, fn, durability)
        except sqlite3.OperationalError as err:
            raise DatabaseError(f"database write failed: {err}") from err

    def _write_sync(self, fn: Callable[[sqlite3.Connection], T], durability: Durability) -> T:
        conn = self._conn
        assert conn is not None
        self._set_sync(durability)
        return in_transaction(conn, fn)


def in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn(conn)` in one IMMEDIATE transaction: commit, or roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
