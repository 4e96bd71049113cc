"""The disk under the database: a reserve kept for bad days, free space, and recovery.

A file of `[database] reserve_mb` sits beside the database. When the disk fills up (a
write fails with "disk full", or free space falls under a quarter of the reserve) the
store goes into a storage fault (`edge.db.health`): new orders wait at the broker, and the
reserve is given back so the tickets already held can still be marked running and done.
The watch then checks every `check_interval_s`; once there is room for the reserve and as
much again, it rebuilds the reserve, proves a durable write works, records a
`storage.recovered` event in that same write, and orders flow again. A read-only or
failing disk is retried the same way; a corrupt database waits for a human.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from edge import outbox
from edge.db import Database, Durability
from edge.db.database import QUICK_CHECK_AT_OPEN_BYTES, DatabaseCorruptError, check_integrity
from edge.db.faults import StorageFault, storage_fault
from edge.db.health import StorageState
from edge.errors import StorageError
from edge.ids import utc_now_rfc3339
from edge.wakeup import Wakeup

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# While in fault, the disk is looked at this often at most (or `check_interval_s` if shorter).
FAULT_CHECK_S = 2.0
# A database too large to be checked whole before start-up is checked this long after it,
# once a rush that may have followed a restart is printed.
LATE_INTEGRITY_CHECK_S = 60.0


@dataclass(frozen=True)
class DiskSpace:
    """What the filesystem holding the database says."""

    free_bytes: int  # available to an unprivileged user
    total_bytes: int
    read_only: bool
    database_bytes: int  # the database file and its WAL


def disk_space(db_path: Path) -> DiskSpace:
    """Free space and size of the filesystem holding `db_path`, and the database's size."""
    st = os.statvfs(db_path.parent)
    size = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            size += (db_path.parent / (db_path.name + suffix)).stat().st_size
    return DiskSpace(
        free_bytes=st.f_bavail * st.f_frsize,
        total_bytes=st.f_blocks * st.f_frsize,
        read_only=bool(st.f_flag & os.ST_RDONLY),
        database_bytes=size,
    )


def reserve_path(db_path: Path) -> Path:
    """The reserve file beside the database."""
    return db_path.with_name(db_path.name + ".reserve")


class StorageWatch:
    """Keeps the reserve, notices a disk filling up, and brings the store back after a fault."""

    def __init__(self, db: Database, reserve_bytes: int, interval_s: float) -> None:
        self.db = db
        self.health = db.health
        self.reserve_bytes = reserve_bytes
        self.interval_s = interval_s
        self.reserve = reserve_path(db.path)
        # Orders flow again once the reserve is back and as much again is free (1 MiB at least).
        self.resume_bytes = reserve_bytes + max(reserve_bytes, MIB)
        self.last: DiskSpace | None = None
        self._integrity_due: float | None = time.monotonic() + LATE_INTEGRITY_CHECK_S
        self._wake = Wakeup()
        self.health.listen(self._changed)

    def _changed(self, before: StorageState, after: StorageState) -> None:
        if after.fault is not None:
            self._wake.set()  # give the reserve back at once

    async def run(self) -> None:
        """Watch until cancelled."""
        while True:
            mark = self._wake.mark()
            try:
                await self.check()
            except Exception:  # the watch must outlive any surprise; it looks again later
                log.exception("storage: checking the disk failed")
            interval = self.interval_s if self.health.ok else min(self.interval_s, FAULT_CHECK_S)
            await self._wake.wait(mark, interval)

    async def check(self) -> None:
        """One look at the disk; acts on what it sees."""
        try:
            space = await asyncio.to_thread(disk_space, self.db.path)
        except OSError as err:
            self._report(err)
            return
        self.last = space
        if self._integrity_due is not None and time.monotonic() >= self._integrity_due:
            self._integrity_due = None
            await self._check_integrity()
        fault = self.health.state.fault
        if fault is None:
            if not await self._keep_reserve():
                return
            if self.reserve_bytes and space.free_bytes < self.reserve_bytes // 4:
                self.health.report(
                    StorageFault.FULL, f"only {space.free_bytes / MIB:.1f} MiB left on the disk"
                )
            return
        if fault is StorageFault.CORRUPT or space.read_only:
            return  # a human repairs it / the filesystem is still read-only
        if fault is StorageFault.FULL:
            await self.give_back_reserve()
            if space.free_bytes < self.resume_bytes:
                return
        if not await self._keep_reserve():
            return
        state = self.health.state
        try:
            await self.db.write(partial(_recovered, state=state), Durability.FULL)
        except StorageError:
            return  # still failing; reported, looked at again later
        log.info("storage: %.1f MiB free, the reserve is back", space.free_bytes / MIB)
        self.health.recovered()

    async def _check_integrity(self) -> None:
        """Read a large database whole, once, on a connection and thread of its own (one
        checked at open is not read again)."""
        if self.db.path.stat().st_size <= QUICK_CHECK_AT_OPEN_BYTES:
            return
        try:
            await asyncio.to_thread(_quick_check, self.db.path)
        except DatabaseCorruptError as err:
            self.health.report(StorageFault.CORRUPT, str(err))
        except sqlite3.Error as err:
            fault = storage_fault(err)
            if fault is not None:
                self.health.report(fault, str(err))
            else:
                log.warning("storage: the integrity check could not run: %s", err)
        else:
            log.info("storage: integrity check of %s: ok", self.db.path)

    def _report(self, err: OSError) -> None:
        fault = storage_fault(err)
        if fault is not None:
            self.health.report(fault, str(err))
        else:
            log.warning("storage: %s", err)

    async def _keep_reserve(self) -> bool:
        """Make sure the reserve exists; False (and a fault) when there is no room for it."""
        if not self.reserve_bytes:
            return True
        try:
            await asyncio.to_thread(_make_reserve, self.reserve, self.reserve_bytes)
        except OSError as err:
            self._report(err)
            return False
        return True

    async def give_back_reserve(self) -> bool:
        """Delete the reserve file, so its room serves the database; whether there was one."""
        try:
            released = await asyncio.to_thread(_remove, self.reserve)
        except OSError as err:
            log.warning("storage: cannot give the reserve back: %s", err)
            return False
        if released:
            log.warning("storage: reserve of %.1f MiB given back", self.reserve_bytes / MIB)
            self.health.room_made()
        return released


def _quick_check(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        check_integrity(conn, path)


def _make_reserve(path: Path, size: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size >= size:
            return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as err:
            if storage_fault(err) is not None:
                raise
            _fill(fd, size)  # a filesystem without fallocate
    except OSError:
        os.close(fd)
        fd = -1
        path.unlink(missing_ok=True)  # half a reserve would only eat the space it protects
        raise
    finally:
        if fd >= 0:
            os.close(fd)


def _fill(fd: int, size: int) -> None:
    block = bytes(MIB)
    written = 0
    while written < size:
        written += os.write(fd, block[: size - written])


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _recovered(conn: sqlite3.Connection, *, state: StorageState) -> None:
    """The proof that durable writes work again, and the record of the outage."""
    now = time.time()
    since = state.since or now
    outbox.add_event(
        conn,
        "storage.recovered",
        None,
        {
            "fault": state.label,
            "since": utc_now_rfc3339(since),
            "duration_s": round(now - since, 1),
            "detail": state.detail,
        },
    )
