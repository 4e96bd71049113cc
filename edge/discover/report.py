"""What was found, as `[[printers]]` blocks ready to paste into edge.toml (or JSON): each with
a suggested unique name, and marked when the config already has it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edge.discover.found import Found
from edge.discover.uris import same_device

_NAME_MAX = 48


@dataclass(frozen=True, slots=True)
class Candidate:
    """A found printer with the name to give it, and the configured printer it already is."""

    found: Found
    name: str
    configured: str | None

    def document(self) -> dict[str, Any]:
        """The `--json` object."""
        return {
            "source": self.found.source.value,
            "uri": self.found.uri,
            "name": self.name,
            "detail": self.found.detail,
            "configured": self.configured,
        }

    def toml(self) -> str:
        """The `[[printers]]` block, with a comment saying where it came from.

        A printer already configured comes commented out: pasting the whole output never
        adds a printer twice.
        """
        lines = [
            "[[printers]]",
            f"name = {json.dumps(self.name, ensure_ascii=False)}",
            f"uri = {json.dumps(self.found.uri, ensure_ascii=False)}",
        ]
        head = [f"# {self.found.source.display}: {_one_line(self.found.detail)}"]
        if self.configured is not None:
            head.append(f"# already configured as {self.configured!r}")
            lines = [f"# {line}" for line in lines]
        return "\n".join([*head, *lines])


def _one_line(text: str) -> str:
    return " ".join(text.split())


def slug(text: str) -> str:
    """A printer name made of what the printer calls itself: `kitchen-tm-t20`."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:_NAME_MAX].strip("-")
    return name or "printer"


def unique_name(label: str, taken: set[str]) -> str:
    """slug(label), or slug(label)-2, -3, … when a printer already has that name."""
    base = slug(label)
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def candidates(found: Iterable[Found], configured: Iterable[tuple[str, str]]) -> list[Candidate]:
    """Name each found printer, and tell which configured printer (name, uri) it already is."""
    known = list(configured)
    taken = {name for name, _ in known}
    out = []
    for f in found:
        match = next(
            (name for name, uri in known if any(same_device(uri, u) for u in (f.uri, *f.aliases))),
            None,
        )
        if match is not None:
            out.append(Candidate(f, match, match))
            continue
        name = unique_name(f.label, taken)
        taken.add(name)
        out.append(Candidate(f, name, None))
    return out


def toml_report(found: list[Candidate], notes: list[str]) -> str:
    """The whole human output: a header, one block per printer, then what was skipped."""
    new = sum(1 for c in found if c.configured is None)
    if found:
        header = (
            f"# {len(found)} printer(s) found, {new} not configured yet: "
            "paste the blocks you want into edge.toml"
        )
    else:
        header = "# no printer found (a network printer without mDNS is found with --sweep)"
    parts = [header, *(c.toml() for c in found)]
    if notes:
        parts.append("\n".join(f"# {_one_line(n)}" for n in notes))
    return "\n\n".join(parts)
