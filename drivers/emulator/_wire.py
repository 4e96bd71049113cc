"""Byte-stream pieces of the emulated printer: realtime commands, job splitting, status bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.emulator._commands import DC4, DLE, EOT, command_at, is_cut

STATUS_FIXED = 0x12  # bits 1 and 4 are always set in a DLE EOT answer
STATUS_FIXED_MASK = 0x93  # bits 0, 1, 4 and 7 are fixed


@dataclass
class Faults:
    """Printer conditions reported by DLE EOT; any of the first four stops printing."""

    paper_out: bool = False
    cover_open: bool = False
    offline: bool = False
    error: bool = False
    near_end: bool = False
    drawer_open: bool = False

    @property
    def stopped(self) -> bool:
        """The printer is offline: it answers status but prints nothing."""
        return self.paper_out or self.cover_open or self.offline or self.error


def status_byte(n: int, faults: Faults) -> int:
    """The answer a healthy-protocol printer gives to DLE EOT n."""
    value = STATUS_FIXED
    if n == 1:
        value |= (0x08 if faults.stopped else 0) | (0x04 if faults.drawer_open else 0)
    elif n == 2:
        value |= 0x04 if faults.cover_open else 0
        value |= 0x20 if faults.paper_out else 0
        value |= 0x40 if faults.error else 0
    elif n == 3:
        value |= 0x20 if faults.error else 0  # unrecoverable error
    elif n == 4:
        value |= (0x0C if faults.near_end else 0) | (0x60 if faults.paper_out else 0)
    return value


@dataclass
class Realtime:
    """What one chunk carried besides job data."""

    data: bytes
    status_requests: list[int] = field(default_factory=list)
    drawer_pulses: list[tuple[int, int]] = field(default_factory=list)


class RealtimeFilter:
    """Takes DLE EOT n out of a byte stream wherever it appears, as a printer does."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> Realtime:
        """Split a received chunk into job data and realtime requests."""
        data = self._tail + chunk
        self._tail = b""
        out = Realtime(b"")
        kept = bytearray()
        i = 0
        while (j := data.find(DLE, i)) >= 0:
            kept += data[i:j]
            rest = data[j : j + 5]
            needed = 5 if rest[1:2] == bytes([DC4]) else 3
            if len(rest) < 2 or (rest[1] in (EOT, DC4) and len(rest) < needed):
                self._tail = data[j:]  # may be the start of a realtime command
                out.data = bytes(kept)
                return out
            if rest[1] == EOT and 1 <= rest[2] <= 4:
                out.status_requests.append(rest[2])
                i = j + 3
                continue
            if rest[1] == DC4 and rest[2] == 1:  # DLE DC4 1 m t: drawer pulse, stays in the job
                out.drawer_pulses.append((rest[3], rest[4]))
            kept.append(DLE)
            i = j + 1
        kept += data[i:]
        out.data = bytes(kept)
        return out

    def flush(self) -> bytes:
        """Bytes held back at the end of the stream."""
        tail, self._tail = self._tail, b""
        return tail


class JobSplitter:
    """Accumulates job data and cuts it into jobs at each cut command."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        """Append received job data."""
        self._buf += data

    @property
    def unprinted(self) -> int:
        """Bytes received but not yet examined (held while the printer is stopped)."""
        return len(self._buf) - self._pos

    def take_jobs(self) -> list[bytes]:
        """Examine the buffer and return every job completed by a cut."""
        jobs: list[bytes] = []
        buf = bytes(self._buf)
        start, pos = 0, self._pos
        while pos < len(buf):
            command = command_at(buf, pos)
            if command is None:
                break
            cut = is_cut(buf, pos)
            pos += command.length
            if cut:
                jobs.append(buf[start:pos])
                start = pos
        del self._buf[:start]
        self._pos = pos - start
        return jobs

    def take_rest(self) -> bytes:
        """Everything left over, examined or not (an unfinished job)."""
        rest = bytes(self._buf)
        self._buf.clear()
        self._pos = 0
        return rest
