"""Errors of the daemon, split into transient (retry, keep the order queued) and permanent."""

from __future__ import annotations


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
