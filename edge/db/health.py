"""Whether the database can be written now, shared by every task that writes.

The first write that fails for the disk's sake (full, read-only, failing) puts the store
in a storage fault: the cloud link stops taking new orders (they wait at the broker,
unacknowledged), printers keep printing what is held, and `edge.storage.StorageWatch`
works on the recovery. One log line per change of state, not one per failed write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.db.faults import StorageFault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StorageState:
    """A storage fault and since when (epoch seconds), or all clear."""

    fault: StorageFault | None = None
    since: float | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        """`ok`, or the fault's name (what presence and `status` show)."""
        return "ok" if self.fault is None else self.fault.value


class StorageHealth:
    """The current storage state, with waiters for its changes (event loop only)."""

    def __init__(self) -> None:
        self.state = StorageState()
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[StorageState, StorageState], None]] = []

    @property
    def ok(self) -> bool:
        """No storage fault: new orders may be taken."""
        return self.state.fault is None

    def listen(self, callback: Callable[[StorageState, StorageState], None]) -> None:
        """Call `callback(before, after)` on every change of state."""
        self._listeners.append(callback)

    def report(self, fault: StorageFault, detail: str) -> None:
        """A write failed because of the disk; a fault already known changes nothing."""
        if self.state.fault is fault:
            return
        if fault is StorageFault.CORRUPT or self.state.fault is not StorageFault.CORRUPT:
            self._set(StorageState(fault, time.time(), detail))
            log.error(
                "storage: %s (%s): not taking new orders; printing what is held",
                fault.value,
                detail,
            )

    def recovered(self) -> None:
        """Writes work again."""
        before = self.state
        if before.fault is None:
            return
        self._set(StorageState())
        log.warning(
            "storage: recovered from %s after %.0f s; taking orders again",
            before.fault.value,
            time.time() - (before.since or time.time()),
        )

    def room_made(self) -> None:
        """Space was given back (the reserve): writes waiting out the fault try again now."""
        self._wake_waiters()

    def _set(self, state: StorageState) -> None:
        before, self.state = self.state, state
        self._wake_waiters()
        for callback in self._listeners:
            callback(before, state)

    def _wake_waiters(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float | None = None) -> bool:
        """Until the state changes or room is made (True), or `timeout` (False)."""
        changed = self._changed
        try:
            async with asyncio.timeout(timeout):
                await changed.wait()
        except TimeoutError:
            return False
        return True

    async def wait_ok(self) -> None:
        """Until there is no storage fault."""
        while self.state.fault is not None:
            await self.wait_change()
