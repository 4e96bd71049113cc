"""Check ESC/POS jobs for commands a ticket's content smuggled in (hostile input tests).

A job is framed with the printer emulator's own framing (`drivers.emulator._commands`): text
runs (bytes 0x20-0xff) and commands. A job is clean when every command is one the ticket
layout emits (the `allowed` set, taken from rendering benign orders), every text run decodes in
the announced code page to printable characters, and the job has the frame of CONTRACT §7:
`ESC @`, `ESC t n`, ..., a cut.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from drivers.emulator import decode_job
from drivers.emulator._commands import command_at, is_cut
from drivers.emulator.decode import CODE_PAGES
from drivers.escpos import CODEPAGES
from edge.jobs import Job
from edge.printing.render import PrinterSettings, TicketStyle, render_job

INIT = b"\x1b@"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "orders"
ENCODINGS = ("cp1252", "cp437", "cp858")
TICKETS = (  # (the job's ticket column, reprint): every kind of ticket an order gets
    ("kitchen", False),
    ("kitchen", True),
    ("updated", False),
    ("cancellation", False),
    ("manual_entry", False),
    ("receipt", False),
    ("receipt", True),
)


def frames(data: bytes) -> Iterator[bytes]:
    """The job's text runs and commands, in order; AssertionError when it ends mid-command."""
    i = 0
    while i < len(data):
        command = command_at(data, i)
        assert command is not None, f"job ends inside a command: {data[i : i + 16]!r}"
        yield data[i : i + command.length]
        i += command.length


def is_text(frame: bytes) -> bool:
    """A run of printable bytes (as the printer sees them), not a command."""
    return frame[0] >= 0x20


def commands(data: bytes) -> set[bytes]:
    """Every distinct command (with its arguments) in the job."""
    return {frame for frame in frames(data) if not is_text(frame)}


def split_copies(data: bytes) -> list[bytes]:
    """A rendered ticket's copies: each one a job starting with ESC @ (the dots of a raster
    line are skipped whole: they may hold any byte, ESC @ included)."""
    assert data.startswith(INIT), f"job does not start with ESC @: {data[:16]!r}"
    starts, i = [], 0
    while i < len(data):
        if data.startswith(b"\x1dv0", i) and i + 8 <= len(data):
            i += 8 + (data[i + 4] | data[i + 5] << 8) * (data[i + 6] | data[i + 7] << 8)
        elif data.startswith(INIT, i):
            starts.append(i)
            i += len(INIT)
        else:
            i += 1
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def is_raster_line(frame: bytes) -> bool:
    """A line the encoder drew as an image (`GS v 0`, drivers/escpos/raster.py): at most the
    width of the paper, one line high (two, double height); its dots are not commands."""
    if not frame.startswith(b"\x1dv0\x00") or len(frame) < 8:
        return False
    width_bytes, height = frame[4] | frame[5] << 8, frame[6] | frame[7] << 8
    return width_bytes * 8 <= 576 and height in (30, 60) and len(frame) == 8 + width_bytes * height


def problems(job: bytes, encoding: str, allowed: Iterable[bytes]) -> list[str]:
    """What is wrong with one job (one copy of a ticket); empty when clean."""
    found: list[str] = []
    number = CODEPAGES[encoding]
    head = INIT + b"\x1bt" + bytes([number])
    if not job.startswith(head):
        found.append(f"does not start with ESC @, ESC t {number}: {job[:8]!r}")
    allowed = set(allowed)
    codec = CODE_PAGES[number]
    last = b""
    for frame in frames(job):
        last = frame
        if not is_text(frame):
            if frame not in allowed and not is_raster_line(frame):
                found.append(f"command the layout never emits: {frame!r}")
            continue
        try:
            text = frame.decode(codec)
        except UnicodeDecodeError as err:
            found.append(f"text bytes undefined in {codec}: {frame[err.start : err.end]!r}")
            continue
        controls = sorted({c for c in text if unicodedata.category(c) in ("Cc", "Cs")})
        if controls:
            found.append(f"control characters in text: {controls!r} in {text[:60]!r}")
    if not (last and is_cut(last, 0)):
        found.append(f"does not end with a cut: {job[-8:]!r}")
    decoded = decode_job(job)
    if decoded.unknown or decoded.truncated:
        found.append(f"unknown commands {decoded.unknown!r}, truncated {decoded.truncated!r}")
    if len(decoded.cuts) != 1 or decoded.code_pages != [number] or decoded.drawer_kicks:
        found.append(
            f"cuts {decoded.cuts}, code pages {decoded.code_pages}, "
            f"drawer kicks {decoded.drawer_kicks}"
        )
    inits = sum(1 for frame in frames(job) if frame == INIT)  # not the dots of a raster line
    if inits != 1:
        found.append(f"{inits} ESC @ in one job")
    return found


def too_wide(job: bytes, width: int) -> list[str]:
    """Printed lines wider than the paper (double-width characters count twice)."""
    return [
        line.text
        for line in decode_job(job).lines
        if sum(len(s.text) * s.style.width for s in line.segments) > width
    ]


def print_job(ticket: str, reprint: bool, copies: int = 1, meant_for: str | None = None) -> Job:
    """A print job as the worker hands it to `render_job`."""
    return Job(
        id=1,
        kind="print",
        order_id="ord_1",
        revision=1,
        printer="kitchen",
        ticket=ticket,
        copies=copies,
        reprint=reprint,
        state="running",
        attempts=0,
        not_before=0.0,
        next_attempt_at=0.0,
        last_error=None,
        meant_for=meant_for,
    )


def render(
    order_json: str,
    ticket: str,
    reprint: bool,
    *,
    locale: str = "en",
    width: int = 48,
    encoding: str = "cp1252",
    copies: int = 1,
    meant_for: str | None = None,
    store_name: str = "",
) -> bytes:
    """The bytes the daemon sends for this ticket of the order (`render_job`, as the worker)."""
    printer = PrinterSettings(
        name="kitchen", uri="tcp://127.0.0.1:9", width=width, encoding=encoding
    )
    style = TicketStyle(locale=locale, timezone="Europe/Paris", store_name=store_name)
    job = print_job(ticket, reprint, copies, meant_for)
    return render_job(job, order_json, printer, style)


@functools.cache
def layout_commands() -> frozenset[bytes]:
    """Every command our layout emits: benign orders (tests/fixtures/orders), every ticket kind,
    both locales, both widths, each code page."""
    found: set[bytes] = set()
    for path in sorted(FIXTURES.glob("*.json")):
        order_json = path.read_text(encoding="utf-8")
        for ticket, reprint in TICKETS:
            for locale in ("fr", "en"):
                for width in (32, 48):
                    for encoding in ENCODINGS:
                        data = render(
                            order_json,
                            ticket,
                            reprint,
                            locale=locale,
                            width=width,
                            encoding=encoding,
                            meant_for="bar",
                            store_name="Burger Lab",
                        )
                        found |= commands(data)
    return frozenset(found)
