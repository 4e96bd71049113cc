"""Finding printers: mDNS, a port-9100 sweep, USB, serial ports, Bluetooth LE and CloudPRNT
printers that polled the box, run together; one module per source, imported when it runs."""

from edge.discover.found import Found, Source, SourceFailed, SourceSkipped
from edge.discover.plan import Plan, source_runs
from edge.discover.report import Candidate, candidates, toml_report
from edge.discover.runner import Discovery, SourceProgress, SourceRun, SourceState, discover

__all__ = [
    "Candidate",
    "Discovery",
    "Found",
    "Plan",
    "Source",
    "SourceFailed",
    "SourceProgress",
    "SourceRun",
    "SourceSkipped",
    "SourceState",
    "candidates",
    "discover",
    "source_runs",
    "toml_report",
]
