"""Errors of the daemon, split into transient (retry, keep the order queued) and permanent."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.db.faults import StorageFault


class EdgeError(Exception):
    """Base of every error the daemon raises on purpose."""


class TransientError(EdgeError):
    """Worth retrying later: the order stays queued."""


class PermanentError(EdgeError):
    """Retrying will not help: park the work and tell a human."""


class DatabaseError(PermanentError):
    """The durable store refused an operation (corrupt file, full disk, newer schema)."""


class DaemonNotRunningError(EdgeError):
    """The local control socket does not answer."""


class StorageError(DatabaseError):
    """The disk under the database failed a write (full, read-only, failing, corrupt).

    Nothing of the failed transaction was kept; the work is tried again once the disk
    recovers (`edge.db.health.StorageHealth`).
    """

    def __init__(self, message: str, fault: StorageFault) -> None:
        super().__init__(message)
        self.fault = fault
