"""Which sources a discovery runs, with what settings: `edge printers discover`'s options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edge.discover.found import Source
from edge.discover.runner import SourceRun

if TYPE_CHECKING:
    from bleak.backends.scanner import BaseBleakScanner

    from edge.discover.serial import PortLister
    from edge.discover.sweep import SweepSettings

# Slack on top of each source's own deadlines, for start-up and closing.
_SLACK_S = 10.0


@dataclass(slots=True)
class Plan:
    """What to look through; the seams (sysfs root, port lister, BLE backend) are for tests."""

    sources: frozenset[Source] = frozenset(Source)
    mdns_seconds: float = 3.0
    mdns_interfaces: list[str] | None = None
    sweep_hosts: list[str] = field(default_factory=list)
    sweep: SweepSettings | None = None
    ble_seconds: float = 5.0
    ble_backend: type[BaseBleakScanner] | None = None
    sysfs_root: Path = Path("/sys")
    serial_lister: PortLister | None = None
    serial_by_id: Path = Path("/dev/serial/by-id")
    serial_excluded: tuple[str, ...] = ()
    control_socket: Path | None = None  # the daemon's, when there is a config


def source_runs(plan: Plan) -> list[SourceRun]:
    """The sources to run for `plan`: a sweep only with hosts, CloudPRNT only with a config."""
    from edge.discover.ble import find_ble
    from edge.discover.cloudprnt import find_cloudprnt
    from edge.discover.mdns import RESOLVE_TIMEOUT_MS, find_mdns
    from edge.discover.serial import find_serial, pyserial_ports
    from edge.discover.sweep import SweepSettings, sweep
    from edge.discover.usb import find_usb

    runs: list[SourceRun] = []
    wanted = plan.sources
    if Source.MDNS in wanted:
        mdns_s = plan.mdns_seconds + RESOLVE_TIMEOUT_MS / 1000 + _SLACK_S
        runs.append(
            SourceRun(
                Source.MDNS,
                lambda tick: find_mdns(plan.mdns_seconds, plan.mdns_interfaces, tick=tick),
                mdns_s,
            )
        )
    if Source.SWEEP in wanted and plan.sweep_hosts:
        settings = plan.sweep or SweepSettings()
        runs.append(
            SourceRun(
                Source.SWEEP,
                lambda tick: sweep(plan.sweep_hosts, settings, tick=tick),
                settings.deadline_s(len(plan.sweep_hosts)) + _SLACK_S,
            )
        )
    if Source.USB in wanted:
        runs.append(
            SourceRun(Source.USB, lambda tick: find_usb(plan.sysfs_root, tick=tick), _SLACK_S)
        )
    if Source.SERIAL in wanted:
        lister = plan.serial_lister or pyserial_ports
        runs.append(
            SourceRun(
                Source.SERIAL,
                lambda tick: find_serial(
                    lister, plan.serial_by_id, plan.serial_excluded, tick=tick
                ),
                _SLACK_S,
            )
        )
    if Source.BLE in wanted:
        runs.append(
            SourceRun(
                Source.BLE,
                lambda tick: find_ble(
                    plan.ble_seconds,
                    backend=plan.ble_backend,
                    sysfs_root=plan.sysfs_root,
                    tick=tick,
                ),
                plan.ble_seconds + 2 * _SLACK_S,
            )
        )
    socket = plan.control_socket
    if Source.CLOUDPRNT in wanted and socket is not None:
        runs.append(
            SourceRun(Source.CLOUDPRNT, lambda tick: find_cloudprnt(socket, tick=tick), _SLACK_S)
        )
    return runs
