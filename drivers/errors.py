"""Errors of the hardware library: transient (retry) or permanent (a human must act)."""

from __future__ import annotations


class DriverError(Exception):
    """Base of every error raised by `drivers`."""


class TransientDriverError(DriverError):
    """The device may work on a later attempt (unreachable, busy, timed out)."""


class PermanentDriverError(DriverError):
    """The device cannot work as configured (bad URI, missing library or hardware)."""


class DeviceUnavailableError(TransientDriverError):
    """The device could not be reached (refused, unplugged, no route)."""


class WriteTimeoutError(TransientDriverError):
    """The device stopped accepting bytes before the deadline (paper out, stalled)."""

    def __init__(self, message: str, sent: int) -> None:
        super().__init__(message)
        self.sent = sent


class ConnectionLostError(TransientDriverError):
    """The connection dropped while writing or reading."""

    def __init__(self, message: str, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent


class UnsupportedTransportError(PermanentDriverError):
    """The URI scheme is unknown, or this machine cannot offer it."""
