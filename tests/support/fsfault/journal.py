"""The shim's journal: one binary record per file operation under `$FSFAULT_PREFIX`.

A record is a 48-byte little-endian header (`HEADER`: total length, op, flags, reserved, pid,
inode, argument, wall-clock ns, then the lengths of path, second path and data) followed by
those three byte strings. `a` is the offset of a write or fallocate, the length of a truncate,
the errno of a fault; a fallocate's data is its length (int64) and its flags the mode.
Records are appended with one write(2) each, in the order the calls completed.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct("<IBBHiQqqIII")


class Op(enum.IntEnum):
    """Operation codes, as in fsfault.c."""

    CREATE = 1
    WRITE = 2
    TRUNCATE = 3
    FSYNC = 4
    DIRSYNC = 5
    UNLINK = 6
    RENAME = 7
    MKDIR = 8
    RMDIR = 9
    SYNCALL = 10
    FAULT = 11
    FALLOCATE = 12


@dataclass(frozen=True, slots=True)
class Record:
    """One journaled operation."""

    index: int
    op: Op
    flags: int
    pid: int
    ino: int
    a: int
    t_ns: int
    path: str
    path2: str
    data: bytes

    @property
    def length(self) -> int:
        """The length argument of a FALLOCATE record."""
        return int.from_bytes(self.data[:8], "little", signed=True)

    def describe(self, root: Path | str | None = None) -> str:
        """One human-readable line, paths relative to `root` when given."""
        path, path2 = self.path, self.path2
        if root is not None:
            path, path2 = _rel(path, root), _rel(path2, root)
        what = f"#{self.index} pid {self.pid} {self.op.name.lower()} {path}"
        if self.op is Op.WRITE:
            return f"{what} @{self.a} +{len(self.data)} ({self.data[:16].hex()}…)"
        if self.op is Op.TRUNCATE:
            return f"{what} to {self.a}"
        if self.op in (Op.FSYNC, Op.DIRSYNC):
            return f"{what}{' (fdatasync)' if self.flags & 1 else ''}"
        if self.op is Op.RENAME:
            return f"{what} -> {path2}"
        if self.op is Op.FALLOCATE:
            return f"{what} @{self.a} +{self.length} mode {self.flags}"
        if self.op is Op.FAULT:
            return f"{what} failed with errno {self.a}"
        return what


def _rel(path: str, root: Path | str) -> str:
    if not path:
        return path
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def read_journal(path: Path) -> list[Record]:
    """Every complete record of a journal (a truncated last record is ignored)."""
    raw = path.read_bytes() if path.exists() else b""
    records: list[Record] = []
    pos = 0
    while pos + HEADER.size <= len(raw):
        length, op, flags, _, pid, ino, a, t_ns, l1, l2, ld = HEADER.unpack_from(raw, pos)
        if length != HEADER.size + l1 + l2 + ld:
            raise ValueError(f"{path}: corrupt record at byte {pos}")
        if pos + length > len(raw):
            break
        body = pos + HEADER.size
        p1 = os.fsdecode(raw[body : body + l1])
        p2 = os.fsdecode(raw[body + l1 : body + l1 + l2])
        data = raw[body + l1 + l2 : pos + length]
        records.append(Record(len(records), Op(op), flags, pid, ino, a, t_ns, p1, p2, data))
        pos += length
    return records


def excerpt(
    records: Iterable[Record],
    root: Path | str | None = None,
    path_contains: str | None = None,
    limit: int = 60,
) -> str:
    """The last `limit` records (optionally only those whose path contains a string), as text."""
    chosen = [r for r in records if path_contains is None or path_contains in r.path]
    return "\n".join(r.describe(root) for r in chosen[-limit:])
