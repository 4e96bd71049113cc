"""What a discovery source reports: a printer it found, or why it could not look."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from edge.errors import EdgeError


class Source(StrEnum):
    """Where a printer was found, in the order they are shown."""

    MDNS = "mdns"
    SWEEP = "sweep"
    USB = "usb"
    SERIAL = "serial"
    BLE = "ble"
    CLOUDPRNT = "cloudprnt"

    @property
    def display(self) -> str:
        """The source in a technician's words."""
        return _DISPLAY[self]


_DISPLAY = {
    Source.MDNS: "mDNS",
    Source.SWEEP: "port sweep",
    Source.USB: "USB",
    Source.SERIAL: "serial ports",
    Source.BLE: "Bluetooth LE",
    Source.CLOUDPRNT: "CloudPRNT",
}


@dataclass(frozen=True, slots=True)
class Found:
    """A printer (or a place where one may be) that a source saw."""

    source: Source
    uri: str
    #: what the printer calls itself: the suggested name is made from it
    label: str
    #: how it was found and what it said
    detail: str
    #: other URIs naming the same device (a serial port's /dev/ttyUSB0 beside its by-id path)
    aliases: tuple[str, ...] = ()


class SourceSkipped(EdgeError):
    """The source cannot run on this machine (no Bluetooth adapter, …): the reason."""


class SourceFailed(EdgeError):
    """The source ran and failed (cannot listen for mDNS, …): what went wrong."""


#: Progress of one source: (done, total); total None when the source cannot know it.
Tick = Callable[[int, int | None], None]


def no_tick(done: int, total: int | None) -> None:
    """A progress callback that shows nothing."""
