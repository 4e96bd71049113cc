"""What a power cut leaves on disk, rebuilt from an fsfault journal.

The model is the POSIX worst case, the one SQLite's own documentation assumes ("Atomic
Commit In SQLite", section 2, hardware assumptions): the operating system buffers writes,
reorders them, and only an fsync/fdatasync that has returned guarantees that earlier writes
to *that file* are on the medium; a write may be torn, but "linearly" and only within the
range written ("powersafe overwrite", the unix VFS default). Directory entries are data of
the directory: SQLite fsyncs the directory after creating a rollback journal or WAL file
(`unixSync`, UNIXFILE_DIRSYNC) precisely because POSIX does not promise that fsyncing a
new file persists its name, and the `synchronous=EXTRA` documentation explains that an
unlinked journal may come back after a power cut unless the directory is synced. So:

1. Start from an empty directory (or `base`, a copy of what existed before the process ran).
   Directories that the journal does not create existed before, and survive.
2. A write, truncate or fallocate of a file survives only if an fsync or fdatasync of that
   same file (same inode) completed after it. Both count as a full flush of data and size.
3. A name operation (create, unlink, rename, mkdir, rmdir) survives only if the directory
   holding it was fsynced afterwards (a rename: its destination directory). A file whose
   creation never became durable is gone with all its data, even fsynced data (its inode is
   orphaned, as fsck would find it). Linux filesystems are kinder (ext4 commits a new name
   with the file's fsync); this model deliberately is not.
4. sync() or syncfs() makes everything durable.

Modes:

- `synced_only`: exactly the above; every operation not made durable is dropped.
- `torn`: additionally, each unsynced write, truncate or fallocate survives with probability
  `keep`, independently (the disk reorders), and a surviving write that spans a 512-byte sector
  boundary keeps, with probability `tear`, only its bytes up to a randomly chosen boundary
  (a prefix of its sectors; never a byte outside the range written). Unsynced name
  operations of each directory survive as a random in-order prefix (filesystems journal
  metadata in order). Everything is drawn from `random.Random(seed)`.

Not modelled: sub-sector tearing, garbage in space a file grew into but never wrote (holes
read as zeros here), hard links, O_TMPFILE, writes through mmap.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.support.fsfault.journal import Op, Record, read_journal

Mode = Literal["synced_only", "torn"]
SECTOR = 512

FALLOC_KEEP_SIZE, FALLOC_PUNCH_HOLE, FALLOC_ZERO_RANGE = 0x01, 0x02, 0x10


@dataclass(frozen=True, slots=True)
class _Change:
    """A change to a file's content: write `data` at `at`; truncate to `at`; allocate (grow
    to at least `at + length`); zero `length` bytes at `at` (within the size, or growing)."""

    rec: Record
    kind: Literal["write", "truncate", "allocate", "zero", "zero-grow"]
    at: int
    data: bytes = b""
    length: int = 0


# A pending name operation: (kind, path, second path, inode key).
_Name = tuple[str, str, str, int]


@dataclass
class _Inode:
    durable: bytearray = field(default_factory=bytearray)
    pending: list[_Change] = field(default_factory=list)


@dataclass
class PowerCut:
    """The image `build_image` wrote, and what it kept and dropped on the way."""

    root: Path
    mode: Mode
    seed: int
    files: dict[str, int]  # relative path -> size, as written
    synced: int = 0  # writes and truncates made durable by an fsync of their file
    unsynced: int = 0  # writes and truncates with no fsync after them
    kept_unsynced: int = 0  # of those, kept anyway (torn mode)
    torn: int = 0  # of those, kept only up to a sector boundary
    names_dropped: int = 0  # name operations whose directory was not fsynced after them
    lost_names: list[str] = field(default_factory=list)  # their descriptions

    def summary(self) -> str:
        """One line for test output."""
        return (
            f"{self.mode} seed={self.seed}: {len(self.files)} files, {self.synced} synced, "
            f"{self.unsynced} unsynced writes ({self.kept_unsynced} kept, {self.torn} torn), "
            f"{self.names_dropped} name operations dropped"
        )


class _Model:
    def __init__(self, prefix: Path) -> None:
        self.prefixes = sorted({str(prefix), str(prefix.resolve())}, key=len, reverse=True)
        self.inodes: dict[int, _Inode] = {}
        self.by_ino: dict[int, int] = {}  # st_ino -> inode key, as the process sees it
        self.live: dict[str, int] = {}  # relative path -> inode key, as the process sees it
        self.durable: dict[str, int] = {}  # relative path -> inode key, on the medium
        self.dirs: dict[str, bool] = {}  # directories made or removed durably
        self.seen_dirs: set[str] = set()  # every directory a journaled path lives in
        self.pending_names: dict[str, list[_Name]] = defaultdict(list)  # by directory
        self.absent_before: set[str] = set()
        self.next_key = 0
        self.synced = 0

    def rel(self, path: str) -> str | None:
        for p in self.prefixes:
            if path == p:
                return "."
            if path.startswith(p + "/"):
                return path[len(p) + 1 :]
        return None

    def new_inode(self, content: bytes = b"") -> int:
        self.next_key += 1
        self.inodes[self.next_key] = _Inode(bytearray(content))
        return self.next_key

    def load_base(self, base: Path) -> None:
        for dirpath, _, filenames in os.walk(base):
            rel_dir = os.path.relpath(dirpath, base)
            self.seen_dirs.add(rel_dir)
            for name in filenames:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                key = self.new_inode(Path(dirpath, name).read_bytes())
                self.live[rel] = self.durable[rel] = key

    def key_for(self, rec: Record, rel: str) -> int:
        key = self.by_ino.get(rec.ino) if rec.ino else None
        if key is None:
            key = self.live.get(rel)
            if key is None:
                raise ValueError(
                    f"{rec.describe()}: {rel} existed before the journal began; "
                    "pass a copy of the directory as base="
                )
            if rec.ino:
                self.by_ino[rec.ino] = key
        return key

    def apply(self, rec: Record) -> None:
        rel = self.rel(rec.path) if rec.path else None
        if rec.op is Op.SYNCALL:
            for key in self.inodes:
                self.flush(key)
            for directory in list(self.pending_names):
                self.sync_dir(directory)
            return
        if rec.op is Op.RENAME and rel is None and self.rel(rec.path2) is not None:
            raise ValueError(f"{rec.describe()}: a file moved in from outside is not modelled")
        if rec.op is Op.FAULT or rel is None:
            return
        parent = os.path.dirname(rel) or "."
        self.seen_dirs.add(parent)
        if rec.op is Op.CREATE:
            key = self.new_inode()
            self.by_ino[rec.ino] = key
            self.live[rel] = key
            self.pending_names[parent].append(("link", rel, "", key))
        elif rec.op is Op.WRITE:
            self.change(rec, rel, _Change(rec, "write", rec.a, rec.data))
        elif rec.op is Op.TRUNCATE:
            self.change(rec, rel, _Change(rec, "truncate", rec.a))
        elif rec.op is Op.FALLOCATE:
            change = _fallocate(rec)
            if change is not None:
                self.change(rec, rel, change)
        elif rec.op is Op.FSYNC:
            self.flush(self.key_for(rec, rel))
        elif rec.op is Op.DIRSYNC:
            self.sync_dir(rel)
        elif rec.op is Op.UNLINK:
            self.live.pop(rel, None)
            self.pending_names[parent].append(("unlink", rel, "", 0))
        elif rec.op is Op.MKDIR:
            self.seen_dirs.add(rel)
            self.pending_names[parent].append(("mkdir", rel, "", 0))
        elif rec.op is Op.RMDIR:
            self.pending_names[parent].append(("rmdir", rel, "", 0))
        elif rec.op is Op.RENAME:
            self.rename(rec, rel)

    def change(self, rec: Record, rel: str, change: _Change) -> None:
        self.inodes[self.key_for(rec, rel)].pending.append(change)

    def rename(self, rec: Record, src: str) -> None:
        if rec.flags & 2:  # RENAME_EXCHANGE
            raise ValueError(f"{rec.describe()}: RENAME_EXCHANGE is not modelled")
        dst = self.rel(rec.path2)
        key = self.live.pop(src, None)
        if dst is None:  # moved out of the prefix: as an unlink
            self.pending_names[os.path.dirname(src) or "."].append(("unlink", src, "", 0))
            return
        if key is None:
            raise ValueError(f"{rec.describe()}: renames a file the journal does not know")
        self.live[dst] = key
        parent = os.path.dirname(dst) or "."
        self.seen_dirs.add(parent)
        self.pending_names[parent].append(("rename", src, dst, key))

    def flush(self, key: int) -> None:
        inode = self.inodes[key]
        for change in inode.pending:
            _apply_change(inode.durable, change)
        self.synced += len(inode.pending)
        inode.pending.clear()

    def sync_dir(self, directory: str) -> None:
        for name_op in self.pending_names.pop(directory, []):
            self.apply_name(name_op)

    def apply_name(self, name_op: _Name) -> None:
        kind, path, dst, key = name_op
        if kind == "link":
            self.durable[path] = key
        elif kind == "unlink":
            self.durable.pop(path, None)
        elif kind == "rename":
            if self.durable.get(path) == key:
                del self.durable[path]
            self.durable[dst] = key
        elif kind == "mkdir":
            self.dirs[path] = True
        elif kind == "rmdir":
            self.dirs[path] = False

    def dir_exists(self, rel_dir: str) -> bool:
        """Whether a directory and all its ancestors below the prefix are on the medium."""
        while rel_dir not in (".", ""):
            # Without a durable mkdir/rmdir: there if it was there before the journal began.
            if not self.dirs.get(rel_dir, rel_dir not in self.absent_before):
                return False
            rel_dir = os.path.dirname(rel_dir)
        return True

    def note_absent_dirs(self, records: Sequence[Record]) -> None:
        """Directories whose first journaled operation makes them did not exist before."""
        first: dict[str, Op] = {}
        for r in records:
            if r.op in (Op.MKDIR, Op.RMDIR) and (rel := self.rel(r.path)) is not None:
                first.setdefault(rel, r.op)
        self.absent_before = {rel for rel, op in first.items() if op is Op.MKDIR}


def _fallocate(rec: Record) -> _Change | None:
    mode = rec.flags
    if mode == 0:
        return _Change(rec, "allocate", rec.a, length=rec.length)
    if mode == FALLOC_KEEP_SIZE:
        return None  # space reserved, content and size unchanged
    if mode in (FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE, FALLOC_ZERO_RANGE | FALLOC_KEEP_SIZE):
        return _Change(rec, "zero", rec.a, length=rec.length)
    if mode == FALLOC_ZERO_RANGE:
        return _Change(rec, "zero-grow", rec.a, length=rec.length)
    raise ValueError(f"{rec.describe()}: fallocate mode {mode:#x} is not modelled")


def _apply_change(buf: bytearray, change: _Change) -> None:
    at = change.at
    if change.kind == "truncate":
        if at < len(buf):
            del buf[at:]
        else:
            buf.extend(bytes(at - len(buf)))
        return
    if change.kind in ("allocate", "zero-grow") and at + change.length > len(buf):
        buf.extend(bytes(at + change.length - len(buf)))
    if change.kind in ("zero", "zero-grow"):
        end = min(at + change.length, len(buf))
        if end > at:
            buf[at:end] = bytes(end - at)
        return
    if change.kind == "write":
        if at > len(buf):
            buf.extend(bytes(at - len(buf)))
        buf[at : at + len(change.data)] = change.data


def build_image(
    journal: Path | Sequence[Record],
    prefix: Path,
    out: Path,
    mode: Mode = "synced_only",
    *,
    seed: int = 0,
    keep: float = 0.5,
    tear: float = 0.5,
    base: Path | None = None,
) -> PowerCut:
    """Write into `out` (new or empty) what a power cut would leave of `prefix`'s files."""
    if mode not in ("synced_only", "torn"):
        raise ValueError(f"unknown mode {mode!r}")
    records = read_journal(journal) if isinstance(journal, Path) else list(journal)
    model = _Model(prefix)
    model.note_absent_dirs(records)
    if base is not None:
        model.load_base(base)
    for rec in records:
        model.apply(rec)

    cut = PowerCut(root=out, mode=mode, seed=seed, files={}, synced=model.synced)
    rng = random.Random(seed)
    for inode in model.inodes.values():
        for change in inode.pending:
            cut.unsynced += 1
            if mode == "synced_only" or rng.random() >= keep:
                continue
            cut.kept_unsynced += 1
            kept = change
            if change.kind == "write" and rng.random() < tear:
                at, data = change.at, change.data
                boundaries = range((at // SECTOR + 1) * SECTOR, at + len(data), SECTOR)
                if boundaries:
                    kept = _Change(change.rec, "write", at, data[: rng.choice(boundaries) - at])
                    cut.torn += 1
            _apply_change(inode.durable, kept)
    for directory in sorted(model.pending_names):
        ops = model.pending_names[directory]
        survive = rng.randint(0, len(ops)) if mode == "torn" else 0
        for name_op in ops[:survive]:
            model.apply_name(name_op)
        cut.names_dropped += len(ops) - survive
        cut.lost_names += [
            f"{kind} {path}{' -> ' + dst if dst else ''}" for kind, path, dst, _ in ops[survive:]
        ]

    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValueError(f"{out} is not empty")
    for rel_dir in sorted(model.seen_dirs | set(model.dirs)):
        if model.dir_exists(rel_dir):
            (out / rel_dir).mkdir(parents=True, exist_ok=True)
    for rel, key in sorted(model.durable.items()):
        if not model.dir_exists(os.path.dirname(rel) or "."):
            continue
        content = bytes(model.inodes[key].durable)
        (out / rel).write_bytes(content)
        cut.files[rel] = len(content)
    return cut
