"""A port-9100 receipt printer on a local TCP socket that records what it prints.

Faults: while the printer is stopped (paper out, cover open, offline or error) it keeps
answering DLE EOT but prints nothing. Received data is held per connection, the way a
printer holds its receive buffer, and becomes jobs once the fault clears; when a
connection holds more than `buffer_size` unprinted bytes, reading from it pauses, so the
sender's writes block as they do on a real printer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, get_args

from drivers.emulator._connection import Connection, listening_socket
from drivers.emulator._output import RecordedJob, last_ticket_number, slugify, write_ticket
from drivers.emulator._wire import STATUS_FIXED, STATUS_FIXED_MASK, Faults, status_byte

StatusMode = Literal["normal", "silent", "garbage", "late"]

_log = logging.getLogger(__name__)


class PrinterEmulator:
    """An ESC/POS network printer with settable faults, stalls and dropped connections."""

    def __init__(
        self,
        *,
        name: str = "printer",
        host: str = "127.0.0.1",
        port: int = 0,
        output_dir: Path | None = None,
        width_chars: int = 48,
        status_mode: StatusMode = "normal",
        status_delay_s: float = 0.5,
        buffer_size: int = 4096,
        receive_buffer: int | None = 4096,
        backlog: int = 64,
    ) -> None:
        self.name = name
        self.host = host
        self.output_dir = output_dir
        self.width_chars = width_chars
        self.status_mode = status_mode
        self.status_delay_s = status_delay_s
        self.buffer_size = buffer_size
        self.receive_buffer = receive_buffer
        self.backlog = backlog
        self.jobs: list[RecordedJob] = []
        self.status_requests = 0
        self.drawer_pulses: list[tuple[int, int]] = []
        self.faults = Faults()
        self._port = port
        self._slug = slugify(name)
        self._server: asyncio.Server | None = None
        self._open: dict[int, Connection] = {}
        self._held: list[Connection] = []
        self._stalled = False
        self._drop_next: int | None = None
        self._changed = asyncio.Event()
        self._writes: set[asyncio.Task[None]] = set()
        self._job_count = 0
        self._connection_count = 0

    @property
    def status_mode(self) -> StatusMode:
        """How DLE EOT is answered: normal, silent (never), garbage (bad byte) or late."""
        return self._status_mode

    @status_mode.setter
    def status_mode(self, mode: StatusMode) -> None:
        if mode not in get_args(StatusMode):
            raise ValueError(f"status_mode must be one of {get_args(StatusMode)}, not {mode!r}")
        self._status_mode = mode

    @property
    def port(self) -> int:
        """The TCP port, known once started."""
        return self._port

    @property
    def uri(self) -> str:
        """The printer's URI, as a printer config names it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self._port}"

    @property
    def connections(self) -> int:
        """Connections currently open."""
        return len(self._open)

    @property
    def held_bytes(self) -> int:
        """Bytes received but not printed yet (the printer is stopped)."""
        return sum(c.splitter.unprinted for c in [*self._open.values(), *self._held])

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Prepare the output folder and start listening."""
        if self.output_dir is not None:
            last = await asyncio.to_thread(last_ticket_number, self.output_dir, self._slug)
            # Number after an earlier run's tickets instead of overwriting them.
            self._job_count = max(self._job_count, last)
        await self._listen()

    async def stop(self) -> None:
        """Stop listening, reset every connection, record leftovers, finish writing files."""
        self.refuse()
        for connection in list(self._open.values()):
            connection.reset()
        await self.wait_until(lambda: not self._open, timeout=5.0, what="connections closed")
        for connection in self._held:
            self._record(connection.splitter.take_rest(), connection, complete=False)
        self._held.clear()
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def set_fault(
        self,
        *,
        paper_out: bool | None = None,
        near_end: bool | None = None,
        cover_open: bool | None = None,
        offline: bool | None = None,
        error: bool | None = None,
        drawer_open: bool | None = None,
    ) -> None:
        """Change printer conditions; None leaves one as it is. Clearing the last fault prints."""
        changes = {
            "paper_out": paper_out,
            "near_end": near_end,
            "cover_open": cover_open,
            "offline": offline,
            "error": error,
            "drawer_open": drawer_open,
        }
        self.faults = replace(self.faults, **{k: v for k, v in changes.items() if v is not None})
        if not self.faults.stopped:
            for connection in self._held:
                self._finish(connection)
            self._held.clear()
            for connection in list(self._open.values()):
                self._print(connection)
        self._update_all()

    def clear_faults(self) -> None:
        """A healthy printer with its drawer closed."""
        self.set_fault(**{f.name: False for f in fields(Faults)})

    def refuse(self) -> None:
        """Close the listening socket: new connections are refused, open ones carry on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def accept(self) -> None:
        """Listen again, on the same port."""
        if self._server is None:
            await self._listen()

    def stall(self) -> None:
        """Stop reading from every connection, current and new, until resume()."""
        self._stalled = True
        self._update_all()

    def resume(self) -> None:
        """Read again after stall()."""
        self._stalled = False
        self._update_all()

    def drop_after(self, n_bytes: int) -> None:
        """Reset the next connection once it has sent n_bytes (one-shot)."""
        if n_bytes < 0:
            raise ValueError("n_bytes must be >= 0")
        self._drop_next = n_bytes

    def drop_now(self) -> None:
        """Reset every open connection."""
        for connection in list(self._open.values()):
            connection.reset()

    # A timeout parameter rather than asyncio.timeout: the failure message says what was seen.
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 10.0,
        what: str = "condition",
    ) -> None:
        """Wait until predicate() holds, checked after every change the printer sees."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.name}: no {what} after {timeout}s; {self.describe()}"
            ) from None

    async def wait_for_jobs(
        self,
        n: int,
        *,
        timeout: float = 10.0,
        include_incomplete: bool = False,
    ) -> list[RecordedJob]:
        """Wait for n complete jobs (with their files written) and return all of them."""

        def selected() -> list[RecordedJob]:
            return [job for job in self.jobs if job.complete or include_incomplete]

        kind = "jobs" if include_incomplete else "complete jobs"
        await self.wait_until(
            # len(self.jobs) first: checked at every change, it keeps a long wait linear
            lambda: len(self.jobs) >= n and len(selected()) >= n and not self._writes,
            timeout=timeout,
            what=f"{n} {kind}",
        )
        return selected()

    def describe(self) -> str:
        """One line on what the printer has seen, for failure messages."""
        complete = sum(job.complete for job in self.jobs)
        faults = [f.name for f in fields(Faults) if getattr(self.faults, f.name)] or ["none"]
        summary = (
            f"{complete} complete and {len(self.jobs) - complete} incomplete jobs, "
            f"{self.status_requests} status requests, {self.connections} open connections, "
            f"faults: {', '.join(faults)}, stalled: {self._stalled}, "
            f"{self.held_bytes} bytes held, listening: {self._server is not None}"
        )
        if self.jobs:
            summary += f"; last job text: {self.jobs[-1].text[-200:]!r}"
        return summary

    async def _listen(self) -> None:
        sock = listening_socket(self.host, self._port, self.receive_buffer, self.backlog)
        self._port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, sock=sock, backlog=self.backlog
        )

    def _new_connection(self) -> Connection:
        self._connection_count += 1
        budget, self._drop_next = self._drop_next, None
        return Connection(self, self._connection_count, budget)

    def _connected(self, connection: Connection) -> None:
        self._open[connection.number] = connection
        if connection.drop_budget == 0:
            connection.reset()
        self._update_reading(connection)
        self._notify()

    def _received(self, connection: Connection, data: bytes) -> None:
        if connection.closed:
            return
        drop = False
        if connection.drop_budget is not None:
            data = data[: connection.drop_budget]
            connection.drop_budget -= len(data)
            drop = connection.drop_budget == 0
        realtime = connection.realtime.feed(data)
        for n in realtime.status_requests:
            self.status_requests += 1
            self._answer(connection, n)
        self.drawer_pulses.extend(realtime.drawer_pulses)
        connection.splitter.feed(realtime.data)
        self._print(connection)
        if drop:
            connection.reset()
        self._notify()

    def _lost(self, connection: Connection) -> None:
        self._open.pop(connection.number, None)
        connection.splitter.feed(connection.realtime.flush())
        if self.faults.stopped and connection.splitter.unprinted:
            self._held.append(connection)
        else:
            self._finish(connection)
        self._notify()

    def _print(self, connection: Connection) -> None:
        if not self.faults.stopped:
            for raw in connection.splitter.take_jobs():
                self._record(raw, connection, complete=True)
        self._update_reading(connection)

    def _finish(self, connection: Connection) -> None:
        for raw in connection.splitter.take_jobs():
            self._record(raw, connection, complete=True)
        self._record(connection.splitter.take_rest(), connection, complete=False)

    def _record(self, raw: bytes, connection: Connection, *, complete: bool) -> None:
        if not raw:
            return
        self._job_count += 1
        job = RecordedJob(self._job_count, raw, complete, datetime.now(UTC), connection.number)
        self.jobs.append(job)
        _log.info("%s: job %d, %d bytes, complete: %s", self.name, job.number, len(raw), complete)
        if complete and self.output_dir is not None:
            task = asyncio.get_running_loop().create_task(
                self._write(job, self.output_dir), name=f"emulator-{self._slug}-job-{job.number}"
            )
            self._writes.add(task)
            task.add_done_callback(self._written)
        self._notify()

    async def _write(self, job: RecordedJob, folder: Path) -> None:
        args = (job, folder, self._slug, self.width_chars)
        job.files = await asyncio.to_thread(write_ticket, *args)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _log.error("%s: could not write %s: %s", self.name, task.get_name(), err)
        self._notify()

    def _answer(self, connection: Connection, n: int) -> None:
        if self._status_mode == "silent":
            return
        answer = status_byte(n, self.faults)
        if self._status_mode == "garbage":
            while (answer := random.randrange(256)) & STATUS_FIXED_MASK == STATUS_FIXED:
                pass
        delay = self.status_delay_s if self._status_mode == "late" else 0.0
        connection.send(bytes([answer]), delay=delay)

    def _update_all(self) -> None:
        for connection in list(self._open.values()):
            self._update_reading(connection)
        self._notify()

    def _update_reading(self, connection: Connection) -> None:
        full = self.faults.stopped and connection.splitter.unprinted >= self.buffer_size
        connection.set_reading(not (self._stalled or full))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
