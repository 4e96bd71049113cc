"""Every printer that polls the box: what it said last, and what it told us about itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.escpos.status import PrinterStatus
from edge.cloudprnt.protocol import (
    ONLINE_STATUS,
    ClientAction,
    Poll,
    StatusClass,
    StatusCode,
    normalise_mac,
    parse_encodings,
    parse_interval,
    parse_page_width,
    printer_status,
)
from edge.ids import utc_now_rfc3339

#: the print width of an 80 mm Star printer (72 mm at 8 dots/mm), until it says its own
DEFAULT_WIDTH_DOTS = 576
#: how often the printers are asked again what they are (Star's servers: every 60 to 120 s)
ACTIONS_EVERY_S = 90.0
#: printers that poll without being configured are remembered up to this many
MAX_STRANGERS = 64


@dataclass
class PrinterRecord:
    """One printer that polled: its last poll, its state, and what it said about itself."""

    mac: str
    configured: bool
    allowed: bool = True
    last_poll_at: float | None = None  # the registry's clock (monotonic)
    last_poll_wall: float | None = None  # wall time, for people
    status: StatusCode | None = None  # the last code it reported (a poll or a confirmation)
    state: PrinterStatus | None = None  # the last printer state it reported (2xx, 4xx)
    printing: bool = False
    client_type: str | None = None
    client_version: str | None = None
    encodings: tuple[str, ...] | None = None
    page_width: int | None = None  # dots, from PageInfo
    header_width: int | None = None  # dots, from the X-Star-Print-Width header
    poll_interval: float | None = None  # seconds, from GetPollInterval
    remote: str | None = None
    user_agent: str | None = None
    unique_id: str | None = None
    actions_asked_at: float | None = None

    @property
    def print_width(self) -> int:
        """Dots to render a ticket image at: PageInfo, else the header, else 80 mm paper."""
        return self.page_width or self.header_width or DEFAULT_WIDTH_DOTS

    @property
    def ready(self) -> bool:
        """Whether a job may be offered: its last code is 2xx and it is not printing."""
        return (
            self.status is not None and self.status.kind is StatusClass.ONLINE and not self.printing
        )


class Registry:
    """The printers that polled, by MAC; who may poll; when a printer counts as offline."""

    def __init__(
        self,
        *,
        configured: Iterable[str] = (),
        allowed: Iterable[str] = (),
        poll_interval_s: float = 5.0,
        offline_grace_s: float = 5.0,
        actions_every_s: float = ACTIONS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.configured = {normalise_mac(mac) or mac for mac in configured}
        self.allowed = {normalise_mac(mac) or mac for mac in allowed}
        self.poll_interval_s = poll_interval_s
        self.offline_grace_s = offline_grace_s
        self.actions_every_s = actions_every_s
        self.clock = clock
        self.wall = wall
        self._records: dict[str, PrinterRecord] = {}

    def configure(self, mac: str) -> None:
        """A printer of the configuration: allowed, and the one jobs go to."""
        self.configured.add(mac)
        record = self._records.get(mac)
        if record is not None:
            record.configured = record.allowed = True

    def allows(self, mac: str) -> bool:
        """Configured printers may poll, and the MACs of `allowed_macs`; others get 403."""
        return mac in self.configured or mac in self.allowed

    def get(self, mac: str) -> PrinterRecord | None:
        return self._records.get(mac)

    def polled(
        self,
        poll: Poll,
        *,
        remote: str | None,
        user_agent: str | None,
        header_width: int | None,
    ) -> PrinterRecord:
        """Remember a poll (allowed or not) and the clientAction results it carries."""
        record = self._record(poll.mac)
        record.allowed = self.allows(poll.mac)
        record.last_poll_at = self.clock()
        record.last_poll_wall = self.wall()
        record.printing = poll.printing
        record.remote = remote
        record.user_agent = user_agent[:200] if user_agent else None
        record.unique_id = poll.unique_id
        if header_width is not None:
            record.header_width = header_width
        self.reported(record, poll.status)
        if poll.results:
            _learn(record, poll.results)
        return record

    def reported(self, record: PrinterRecord, code: StatusCode) -> None:
        """A code the printer reported, in a poll or a confirmation; the latest one counts."""
        record.status = code
        state = printer_status(code)
        if state is not None:
            record.state = state

    def actions_due(self, record: PrinterRecord) -> bool:
        """Whether to ask the printer what it is now (first poll, then every actions_every_s);
        counted as asked when True."""
        now = self.clock()
        if record.actions_asked_at is not None and (
            now - record.actions_asked_at < self.actions_every_s
        ):
            return False
        record.actions_asked_at = now
        return True

    def offline_after(self, record: PrinterRecord | None) -> float:
        """Silence after which the printer is offline: 2 × its poll interval + the grace."""
        interval = self.poll_interval_s
        if record is not None and record.poll_interval is not None:
            interval = max(interval, record.poll_interval)  # it may poll slower than asked
        return 2 * interval + self.offline_grace_s

    def online(self, mac: str) -> bool:
        """Whether the printer polled recently enough."""
        record = self._records.get(mac)
        if record is None or record.last_poll_at is None:
            return False
        return self.clock() - record.last_poll_at <= self.offline_after(record)

    def last_state(self, mac: str) -> PrinterStatus:
        """What the printer said of its state last (online and ok if it said nothing yet)."""
        record = self._records.get(mac)
        return record.state if record is not None and record.state is not None else ONLINE_STATUS

    def snapshot(self) -> list[dict[str, Any]]:
        """The printers that polled, configured ones first: what `status` reports."""
        # `status` may read this from the database thread: a copy, not the live dict view.
        records = sorted(list(self._records.values()), key=lambda r: (not r.configured, r.mac))
        return [
            {
                "mac": r.mac,
                "configured": r.configured,
                "allowed": r.allowed,
                "online": self.online(r.mac),
                "last_poll_at": utc_now_rfc3339(r.last_poll_wall) if r.last_poll_wall else None,
                "status_code": str(r.status) if r.status is not None else None,
                "printing": r.printing,
                "client_type": r.client_type,
                "client_version": r.client_version,
                "encodings": list(r.encodings) if r.encodings is not None else None,
                "print_width": r.print_width,
                "poll_interval_s": r.poll_interval,
                "remote": r.remote,
            }
            for r in records
        ]

    def _record(self, mac: str) -> PrinterRecord:
        record = self._records.get(mac)
        if record is None:
            record = PrinterRecord(mac, configured=mac in self.configured)
            self._records[mac] = record
            self._forget_strangers()
        return record

    def _forget_strangers(self) -> None:
        """Bound what unconfigured printers (or anything posting a MAC) can make us keep."""
        strangers = [r for r in self._records.values() if not r.configured]
        if len(strangers) <= MAX_STRANGERS:
            return
        strangers.sort(key=lambda r: r.last_poll_at or 0.0)
        for record in strangers[: len(strangers) - MAX_STRANGERS]:
            del self._records[record.mac]


def _learn(record: PrinterRecord, results: Mapping[str, object]) -> None:
    """Keep what the printer answered to our clientAction requests."""
    for request, result in results.items():
        if request == ClientAction.PAGE_INFO:
            record.page_width = parse_page_width(result) or record.page_width
        elif request == ClientAction.ENCODINGS:
            record.encodings = parse_encodings(result) or record.encodings
        elif request == ClientAction.CLIENT_TYPE and isinstance(result, str):
            record.client_type = result[:100]
        elif request == ClientAction.CLIENT_VERSION and isinstance(result, str):
            record.client_version = result[:100]
        elif request == ClientAction.GET_POLL_INTERVAL:
            record.poll_interval = parse_interval(result) or record.poll_interval
