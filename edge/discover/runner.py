"""Every discovery source at once, in one TaskGroup, each bounded by its deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from edge.discover.found import Found, Source, SourceFailed, SourceSkipped, Tick
from edge.discover.uris import identity


class SourceState(StrEnum):
    """Where one source stands."""

    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SourceProgress:
    """A snapshot of one source for the progress display."""

    source: Source
    state: SourceState = SourceState.WAITING
    done: int = 0
    total: int | None = None
    found: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class SourceRun:
    """One source to run: what finds, and how long it may take at most."""

    source: Source
    find: Callable[[Tick], Awaitable[list[Found]]]
    deadline_s: float


@dataclass(slots=True)
class Discovery:
    """What every source found (one entry per device) and how each source ended."""

    found: list[Found] = field(default_factory=list)
    sources: dict[Source, SourceProgress] = field(default_factory=dict)

    @property
    def all_failed(self) -> bool:
        """Every source that ran failed: nothing can be said about the printers here."""
        states = [p.state for p in self.sources.values() if p.state is not SourceState.SKIPPED]
        return bool(states) and all(s is SourceState.FAILED for s in states)


ProgressCallback = Callable[[SourceProgress], None]


async def discover(
    runs: Sequence[SourceRun], on_progress: ProgressCallback | None = None
) -> Discovery:
    """Run the sources concurrently; a source that fails or is skipped never stops the others."""
    report = Discovery(sources={run.source: SourceProgress(run.source) for run in runs})

    def update(source: Source, **changes: Any) -> None:
        report.sources[source] = replace(report.sources[source], **changes)
        if on_progress is not None:
            on_progress(report.sources[source])

    async def one(run: SourceRun) -> list[Found]:
        def tick(done: int, total: int | None) -> None:
            update(run.source, done=done, total=total)

        update(run.source, state=SourceState.RUNNING)
        try:
            async with asyncio.timeout(run.deadline_s):
                found = await run.find(tick)
        except SourceSkipped as err:
            update(run.source, state=SourceState.SKIPPED, note=str(err))
            return []
        except SourceFailed as err:
            update(run.source, state=SourceState.FAILED, note=str(err))
            return []
        except TimeoutError:
            update(
                run.source,
                state=SourceState.FAILED,
                note=f"did not finish within {run.deadline_s:g} s",
            )
            return []
        update(run.source, state=SourceState.DONE, found=len(found))
        return found

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(run), name=f"discover-{run.source}") for run in runs]
    report.found = merge([f for task in tasks for f in task.result()])
    return report


def merge(found: list[Found]) -> list[Found]:
    """One entry per device: the first source's, with what the others said about it too."""
    order = list(Source)
    groups: dict[tuple[str, ...], list[Found]] = {}
    for f in sorted(found, key=lambda f: order.index(f.source)):
        groups.setdefault(identity(f.uri), []).append(f)
    merged = []
    for first, *others in groups.values():
        said = [f"{o.source.display}: {o.detail}" for o in others if o.detail != first.detail]
        merged.append(
            replace(
                first,
                detail="; ".join([first.detail, *dict.fromkeys(said)]),
                aliases=tuple(dict.fromkeys(a for f in (first, *others) for a in f.aliases)),
            )
        )
    return sorted(merged, key=lambda f: order.index(f.source))  # each source's own order
