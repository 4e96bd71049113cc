"""The progress of a discovery on a terminal: one live line per source, gone once it ends."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn

from edge.discover.runner import SourceProgress, SourceRun, SourceState


class ProgressDisplay:
    """Called with each source's progress; shows it on `console` (stderr: stdout stays TOML)."""

    def __init__(self, console: Console, runs: Sequence[SourceRun]) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {
            run.source: self._progress.add_task(run.source.display, total=None, status="waiting")
            for run in runs
        }

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def __call__(self, progress: SourceProgress) -> None:
        task = self._tasks.get(progress.source)
        if task is None:
            return
        if progress.state is SourceState.RUNNING:
            counted = f"{progress.done}/{progress.total}" if progress.total else ""
            status = counted or (f"{progress.done} seen" if progress.done else "looking")
            self._progress.update(
                task, total=progress.total, completed=progress.done, status=status
            )
            return
        status = {
            SourceState.DONE: f"{progress.found} found",
            SourceState.SKIPPED: "skipped",
            SourceState.FAILED: "failed",
            SourceState.WAITING: "waiting",
        }[progress.state]
        self._progress.update(task, total=1, completed=1, status=status)
