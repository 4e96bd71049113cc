"""Recorded jobs and the ticket files written for them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

from drivers.emulator.decode import DecodedJob, decode_job
from drivers.emulator.render import render_png


@dataclass(eq=False)
class RecordedJob:
    """One job as the printer received it: bytes up to and including a cut."""

    number: int
    raw: bytes
    complete: bool
    received_at: datetime
    connection: int
    files: list[Path] = field(default_factory=list)

    @cached_property
    def decoded(self) -> DecodedJob:
        """The job decoded to styled lines."""
        return decode_job(self.raw)

    @property
    def text(self) -> str:
        """The job's printed text."""
        return self.decoded.text


def slugify(name: str) -> str:
    """A file-name-safe form of a printer name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "printer"


def last_ticket_number(folder: Path, slug: str) -> int:
    """Create the folder; return the highest ticket number already in it for this printer."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"(\d+)-{re.escape(slug)}\.")
    numbers = [int(m[1]) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return max(numbers, default=0)


def write_ticket(job: RecordedJob, folder: Path, slug: str, width_chars: int) -> list[Path]:
    """Write NNNN-slug.bin (raw bytes), .txt (decoded text) and .png (rendered ticket)."""
    stem = folder / f"{job.number:04d}-{slug}"
    raw, text, image = (stem.with_suffix(suffix) for suffix in (".bin", ".txt", ".png"))
    raw.write_bytes(job.raw)
    text.write_text(job.decoded.text + "\n", encoding="utf-8")
    render_png(job.decoded, image, width_chars=width_chars)
    return [raw, text, image]
