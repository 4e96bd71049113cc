"""One SQLite connection owned by one thread; each transaction is one function run there.

Running a whole transaction as a single call on the database thread (rather than one
thread hop per statement, as aiosqlite does) means two tasks can never interleave
statements inside each other's transactions, and a batch of orders costs one hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from edge.db.faults import StorageFault, storage_fault
from edge.db.health import StorageHealth
from edge.db.migrations import migrate
from edge.errors import DatabaseError, StorageError

T = TypeVar("T")
log = logging.getLogger(__name__)

# A database up to this size gets a full `quick_check` before the daemon starts (about 0.2 s
# here; a store keeping 90 days of 300 orders a day is about 40 MiB).
QUICK_CHECK_AT_OPEN_BYTES = 128 * 1024 * 1024
# A write waiting out a storage fault tries again at least this often.
STORAGE_RETRY_S = 5.0


# SQLite reports a full disk met while making its -wal or -shm file as an I/O error.
_NEARLY_FULL_BYTES = 64 * 1024


def _what_io_error_is(folder: Path) -> StorageFault:
    """An I/O error on a read-only or full filesystem is that, not a failing device."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return StorageFault.IO_ERROR
    if st.f_flag & os.ST_RDONLY:
        return StorageFault.READ_ONLY
    if st.f_bavail * st.f_frsize < _NEARLY_FULL_BYTES:
        return StorageFault.FULL
    return StorageFault.IO_ERROR


class Durability(enum.Enum):
    """How hard a commit must hit the disk."""

    # fsync of the WAL at commit: anything acknowledged upstream (PUBACK, events-ack).
    FULL = "FULL"
    # WAL without fsync at commit: survives a process crash, not a power cut.
    NORMAL = "NORMAL"


_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _settings(conn: sqlite3.Connection) -> dict[str, str]:
    """What makes an acknowledged commit durable, as SQLite reports it in force."""
    (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
    if str(journal).lower() != "wal":
        raise DatabaseError(f"journal_mode is {journal}: WAL could not be set")
    (sync,) = conn.execute("PRAGMA synchronous").fetchone()
    return {"journal_mode": str(journal).lower(), "synchronous": _SYNCHRONOUS.get(sync, str(sync))}


class DatabaseCorruptError(DatabaseError):
    """The database file is damaged: the daemon refuses it rather than start afresh."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"database {path} is damaged ({detail}). store-edge will not start on it: a new "
            "database would drop the orders it holds. Fix: stop the service, copy "
            f"{path}* somewhere safe, then restore a backup, or salvage it with "
            f"`sqlite3 {path} .recover | sqlite3 {path}.recovered` and move "
            f"{path}.recovered to {path} (remove {path}-wal and {path}-shm)."
        )
        self.path = path


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """PRAGMA quick_check (every page, not the index contents); DatabaseCorruptError if bad."""
    problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    if problems != ["ok"]:
        raise DatabaseCorruptError(path, "; ".join(problems))


class Database:
    """The daemon's SQLite file; use as `async with Database(path) as db`."""

    def __init__(self, path: Path | str, health: StorageHealth | None = None) -> None:
        self.path = Path(path)
        #: a write that fails for the disk's sake is reported here (and raised as StorageError)
        self.health = health or StorageHealth()
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        # Reads run on a second connection and thread: WAL lets them proceed while a write
        # commits, so a printer worker's look-up never queues behind the cloud link's commits.
        self._read_executor: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None
        self._sync: Durability | None = None
        self._thread_ident: int | None = None
        self._unsynced = False  # a NORMAL commit came since the last FULL one
        #: journal mode and synchronous level of acknowledged commits, as read back at open
        self.durability: dict[str, str] = {}

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the file (creating parents), switch to WAL, check it and apply migrations.

        A damaged file is refused with DatabaseCorruptError: starting afresh beside it would
        drop every order it holds.
        """
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-db")
        self._read_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-db-read")
        self._sync = None  # a new connection: set its synchronous level again
        try:
            await self._submit(self._open_sync)
            await asyncio.get_running_loop().run_in_executor(self._read_executor, self._open_reader)
        except BaseException as err:
            await self.close()
            if not isinstance(err, sqlite3.Error):
                raise
            if storage_fault(err) is StorageFault.CORRUPT:
                raise DatabaseCorruptError(self.path, str(err)) from err
            translated = self._translate("open", err)  # StorageError: waited out by the daemon
            if isinstance(translated, DatabaseError):
                raise translated from err
            raise DatabaseError(f"cannot open database {self.path}: {err}") from err

    def _open_reader(self) -> None:
        reader = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only=ON")
        reader.execute("PRAGMA busy_timeout=10000")
        self._reader = reader

    def _open_sync(self) -> None:
        self._thread_ident = threading.get_ident()
        _make_folder(self.path.parent)
        existed = self.path.exists()
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        self._conn = conn
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        if existed:
            # Reading the schema proves the header and first pages; the whole file is read
            # here only while that is quick (the storage watch checks a larger one later).
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            if self.path.stat().st_size <= QUICK_CHECK_AT_OPEN_BYTES:
                check_integrity(conn, self.path)
        self._set_sync(Durability.FULL)
        self.durability = _settings(conn)
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
            read_executor.shutdown(wait=False)  # its work is done; joining would block the loop

        def _close() -> None:
            if self._conn is not None:
                try:
                    with contextlib.suppress(sqlite3.Error):  # a full or failing disk
                        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    self._conn.close()
                    self._conn = None

        await asyncio.get_running_loop().run_in_executor(executor, _close)
        executor.shutdown(wait=False)

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
        except sqlite3.Error as err:
            raise self._translate("read", err) from err

    def _read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._reader is not None
        return fn(self._reader)

    async def write(
        self, fn: Callable[[sqlite3.Connection], T], durability: Durability = Durability.FULL
    ) -> T:
        """Run `fn(conn)` inside one IMMEDIATE transaction; commit, or roll back on error."""
        try:
            result: T = await self._submit(self._write_sync, fn, durability)
        except sqlite3.Error as err:
            raise self._translate("write", err) from err
        # A FULL commit fsyncs the whole WAL: every commit before it is on disk too.
        self._unsynced = durability is Durability.NORMAL
        return result

    async def sync(self) -> None:
        """Make every commit so far durable (one FULL commit, when a NORMAL one came since
        the last), waiting out a storage fault as `write_when_stored` does. Whatever leaves
        the box (an event published) must survive a power cut: an event lost after the cloud
        saw it would have its `seq` given to another."""
        if self._unsynced:
            await self.write_when_stored(_mark_synced, Durability.FULL)

    def _translate(self, what: str, err: sqlite3.Error) -> Exception:
        """A storage fault (reported to `health`), an operational error, or `err` itself
        (a constraint or a value SQLite cannot take: the caller's bug or bad input)."""
        fault = storage_fault(err)
        if fault is StorageFault.IO_ERROR:
            fault = _what_io_error_is(self.path.parent)
        if fault is not None:
            self.health.report(fault, str(err))
            return StorageError(f"database {what} failed: {err}", fault)
        if isinstance(err, sqlite3.OperationalError):
            return DatabaseError(f"database {what} failed: {err}")
        return err

    async def write_when_stored(
        self,
        fn: Callable[[sqlite3.Connection], T],
        durability: Durability = Durability.FULL,
        *,
        new_work: bool = False,
    ) -> T:
        """`write`, waiting out a storage fault: tried again whenever the storage state
        changes (or room is made), and every STORAGE_RETRY_S.

        `new_work` (orders taken in): tried only while there is no fault at all, so that it
        never eats the reserve held for recording the tickets already stored.
        """
        while True:
            if new_work:
                await self.health.wait_ok()
            try:
                return await self.write(fn, durability)
            except StorageError:
                if not new_work:
                    await self.health.wait_change(STORAGE_RETRY_S)

    def _write_sync(self, fn: Callable[[sqlite3.Connection], T], durability: Durability) -> T:
        conn = self._conn
        assert conn is not None
        self._set_sync(durability)
        return in_transaction(conn, fn)


def _make_folder(folder: Path) -> None:
    """Create `folder` and its missing parents, each entry fsynced into its parent: a power
    cut must not take a new state folder, and the database in it, away."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
        fd = os.open(created.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _mark_synced(conn: sqlite3.Connection) -> None:
    # A commit with no change writes nothing to the WAL, so nothing would be fsynced.
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('synced_at', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (repr(time.time()),),
    )


def in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn(conn)` in one IMMEDIATE transaction: commit, or roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some errors (SQLITE_FULL): a second ROLLBACK
        # would raise and hide the real error.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                conn.execute("ROLLBACK")
        raise
    return result
