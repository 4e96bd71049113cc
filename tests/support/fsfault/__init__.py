"""Disk faults for tests: an LD_PRELOAD shim that journals and fails file operations.

The shim (`fsfault.c`) touches only files at or below one directory, `$FSFAULT_PREFIX`:

- with `$FSFAULT_JOURNAL` it appends a record for every create, write, truncate,
  fsync/fdatasync (of a file or of a directory), unlink, rename, mkdir and rmdir there
  (`journal.read_journal`), from which `powercut.build_image` rebuilds what a power cut
  would have left on disk;
- with `$FSFAULT_CONTROL` it makes those calls fail on demand (`set_fault`), e.g. ENOSPC
  on writes, which SQLite reports as SQLITE_FULL ("database or disk is full").

Typical use, with the daemon under test::

    shim = build_shim(cache_dir)                      # gcc, once per source version
    control = tmp_path / "fault"
    env = shim_env(shim, prefix=state_dir, control=control)
    edge = EdgeProcess(config, env=env).start()       # database under state_dir
    set_fault(control, "ENOSPC", ops=("write",))      # the disk is full from now on
    ...
    set_fault(control, None)                          # and has room again

The shim intercepts libc's open/openat/creat (+64 and fortified variants), close, dup*,
fcntl(F_DUPFD*), write/pwrite/writev/pwritev*, ftruncate/truncate, posix_fallocate/fallocate,
fsync/fdatasync, sync/syncfs, unlink/unlinkat, rename/renameat/renameat2, mkdir/mkdirat/rmdir,
and statvfs (while an EROFS fault is set it reports the filesystem read-only).
Writes through mmap, raw syscalls and sendfile/copy_file_range are not seen. The system
SQLite (3.40, Debian) goes through open64, pwrite64, ftruncate64, fdatasync (files and, after
creating a journal or WAL, their directory), unlink and close; mmap only for the -shm file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.support.fsfault.journal import Op, Record, excerpt, read_journal

__all__ = [
    "ERRNOS",
    "FAULT_OPS",
    "Op",
    "Record",
    "ShimUnavailable",
    "build_shim",
    "excerpt",
    "read_journal",
    "set_fault",
    "shim_env",
    "shim_or_skip",
]

SOURCE = Path(__file__).with_name("fsfault.c")
CFLAGS = ("-shared", "-fPIC", "-O2", "-Wall", "-Wextra")
LIBS = ("-ldl", "-lpthread")
# STALL is no errno: matching calls block (a hung disk) until the fault is changed.
ERRNOS = frozenset({"ENOSPC", "EIO", "EROFS", "EDQUOT", "STALL"})
# write = write/pwrite/writev…/fallocate, fsync = fsync/fdatasync (files and directories),
# truncate = ftruncate/truncate, open = opens that may write or create,
# meta = unlink/rename/mkdir/rmdir. Without a list: write, fsync, truncate, open.
FAULT_OPS = frozenset({"write", "fsync", "truncate", "open", "meta", "all"})


class ShimUnavailable(RuntimeError):
    """The shim cannot be built or loaded on this machine (no gcc, not Linux/glibc)."""


def build_shim(cache_dir: Path) -> Path:
    """Compile fsfault.c into `cache_dir` (once per source and flags) and return the .so."""
    if not sys.platform.startswith("linux"):
        raise ShimUnavailable(f"the fsfault LD_PRELOAD shim needs Linux/glibc, not {sys.platform}")
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ShimUnavailable("gcc is not installed: the fsfault shim is built from C (apt gcc)")
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join(CFLAGS + LIBS).encode()).hexdigest()[:16]
    out = cache_dir / f"fsfault-{key}.so"
    if out.exists():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    proc = subprocess.run(
        [gcc, *CFLAGS, "-o", str(tmp), str(SOURCE), *LIBS],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"gcc could not build {SOURCE.name}:\n{proc.stderr}")
    os.replace(tmp, out)  # atomic: parallel sessions may build the same file
    return out


def shim_or_skip(cache_dir: Path) -> Path:
    """`build_shim` for a pytest fixture: skip the test (with the reason) when unavailable."""
    import pytest

    try:
        return build_shim(cache_dir)
    except ShimUnavailable as err:
        pytest.skip(str(err))


def shim_env(
    shim: Path,
    prefix: Path,
    *,
    journal: Path | None = None,
    control: Path | None = None,
) -> dict[str, str]:
    """The environment variables that run a child process under the shim.

    Merge them into the child's environment (`{**os.environ, **shim_env(...)}`, or pass them
    as `EdgeProcess(config, env=...)`). Only paths at or below `prefix` (an existing directory)
    are journaled and faulted; `journal` and `control` are best kept outside it. The journal
    is appended to (several processes may share it); the control file need not exist yet.
    """
    root = prefix.resolve()
    if not root.is_dir():
        raise ValueError(f"FSFAULT_PREFIX must be an existing directory: {prefix}")
    preload = " ".join(p for p in (str(shim.resolve()), os.environ.get("LD_PRELOAD", "")) if p)
    env = {"LD_PRELOAD": preload, "FSFAULT_PREFIX": str(root)}
    if journal is not None:
        env["FSFAULT_JOURNAL"] = str(journal.resolve())
    if control is not None:
        env["FSFAULT_CONTROL"] = str(control.resolve())
    return env


def set_fault(
    control: Path,
    errno_name: str | None,
    ops: Iterable[str] = (),
    *,
    grow_only: bool = False,
    path_contains: str | None = None,
) -> None:
    """Make the shimmed processes fail matching calls with `errno_name` (None: no fault).

    `ops` is a subset of FAULT_OPS (default: write, fsync, truncate, open; "open" fails opens
    for writing, but with ENOSPC/EDQUOT only those that create a file). `grow_only` fails
    only calls that need new space (writes past the end of file, growing truncates, creating
    a file): a realistic full disk, on which SQLite can still overwrite pages in place.
    `path_contains` restricts the fault to paths containing that string (e.g. "-wal").
    A failed call does nothing. "STALL" instead blocks matching calls (and, while it lasts,
    every captured call of that process) until the fault is changed; the journal gets a
    FAULT record with `a == 0` when a call starts to wait, so a test can wait for that.
    The file is replaced atomically, so the change is seen by the very next call (the shim
    compares inode, size and timestamps of the control file).
    """
    words: list[str] = []
    if errno_name is not None:
        if errno_name not in ERRNOS:
            raise ValueError(f"unsupported errno {errno_name!r}; one of {sorted(ERRNOS)}")
        unknown = set(ops) - FAULT_OPS
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}; from {sorted(FAULT_OPS)}")
        if path_contains is not None and (
            not path_contains or any(c.isspace() for c in path_contains)
        ):
            raise ValueError("path_contains must be a non-empty string without spaces")
        words = [errno_name, *ops]
        if grow_only:
            words.append("grow")
        if path_contains is not None:
            words.append(f"path={path_contains}")
    tmp = control.with_name(f".{control.name}.{os.getpid()}.tmp")
    tmp.write_text(" ".join(words) + ("\n" if words else ""), encoding="ascii")
    os.replace(tmp, control)
