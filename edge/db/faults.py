"""What a failed SQLite (or file) call says about the disk under the database."""

from __future__ import annotations

import enum
import errno
import sqlite3


class StorageFault(enum.Enum):
    """Why the database cannot be written; each clears by itself except CORRUPT."""

    FULL = "full"  # no space left (SQLITE_FULL, ENOSPC, quota)
    READ_ONLY = "read_only"  # the filesystem went read-only (an ext4 error remounts it so)
    IO_ERROR = "io_error"  # the device fails reads or writes (SQLITE_IOERR, EIO)
    CORRUPT = "corrupt"  # the file is damaged (SQLITE_CORRUPT, SQLITE_NOTADB): a human acts


_SQLITE = {
    13: StorageFault.FULL,  # SQLITE_FULL
    8: StorageFault.READ_ONLY,  # SQLITE_READONLY
    10: StorageFault.IO_ERROR,  # SQLITE_IOERR
    14: StorageFault.IO_ERROR,  # SQLITE_CANTOPEN (the -wal or -shm file cannot be made)
    11: StorageFault.CORRUPT,  # SQLITE_CORRUPT
    26: StorageFault.CORRUPT,  # SQLITE_NOTADB
}
_ERRNO = {
    errno.ENOSPC: StorageFault.FULL,
    errno.EDQUOT: StorageFault.FULL,
    errno.EROFS: StorageFault.READ_ONLY,
    errno.EIO: StorageFault.IO_ERROR,
}


def storage_fault(err: BaseException) -> StorageFault | None:
    """The storage fault behind `err`, or None when it is not the disk's doing."""
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorcode", None)
        return _SQLITE.get(code & 0xFF) if isinstance(code, int) else None
    if isinstance(err, OSError) and err.errno is not None:
        return _ERRNO.get(err.errno)
    return None
