"""Why a print attempt did not go through: one enum, the `reason` of `print.failed`."""

from __future__ import annotations

from enum import StrEnum

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    DriverError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.escpos.status import Fault


class FailureKind(StrEnum):
    """A failure kind; its value is what events and the jobs table say (README "Events")."""

    # the link: the attempt may be tried again at once on another connection
    UNREACHABLE = "unreachable"
    WRITE_TIMEOUT = "write_timeout"
    CONNECTION_LOST = "connection_lost"
    DEVICE_ERROR = "device_error"
    UNSUPPORTED = "unsupported"
    # the printer says it cannot print now: the job is held, its tries are not spent
    NOT_RESPONDING = "not_responding"
    OFFLINE = "offline"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    ERROR = "error"
    # the ticket itself: never printable
    UNPRINTABLE = "unprintable"

    @staticmethod
    def of(err: DriverError) -> FailureKind:
        """The kind of a driver error."""
        if isinstance(err, DeviceUnavailableError):
            return FailureKind.UNREACHABLE
        if isinstance(err, WriteTimeoutError):
            return FailureKind.WRITE_TIMEOUT
        if isinstance(err, ConnectionLostError):
            return FailureKind.CONNECTION_LOST
        if isinstance(err, UnsupportedTransportError):
            return FailureKind.UNSUPPORTED
        return FailureKind.DEVICE_ERROR

    @staticmethod
    def of_fault(fault: Fault) -> FailureKind:
        """The kind of a fault the printer's status reports."""
        return FailureKind(fault)
