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
        # Reads run on a second connection and thread: WAL lets them proceed while a write
        # commits, so a printer worker's look-up never queues behind the cloud link's commits.
        self._read_executor: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None
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
        self._read_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-db-read")
        try:
            await self._submit(self._open_sync)
            await asyncio.get_running_loop().run_in_executor(self._read_executor, self._open_reader)
        except sqlite3.Error as err:
            raise DatabaseError(f"cannot open database {self.path}: {err}") from err

    def _open_reader(self) -> None:
        reader = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only=ON")
        reader.execute("PRAGMA busy_timeout=10000")
        self._reader = reader

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
        read_executor, self._read_executor = self._read_executor, None
        if read_executor is not None:

            def _close_reader() -> None:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None

            await asyncio.get_running_loop().run_in_executor(read_executor, _close_reader)
            read_executor.shutdown(wait=True)

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
        """Run `fn(conn)` on the read-only connection; it sees every committed write."""
        if self._read_executor is None:
            raise DatabaseError("database is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._read_executor, self._read_sync, fn
            )
        except sqlite3.OperationalError as err:
            raise DatabaseError(f"database read failed: {err}") from err

    def _read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._reader is not None
        return fn(self._reader)

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
