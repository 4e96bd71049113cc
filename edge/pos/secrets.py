"""Where a connector keeps a secret it is given back rotated (Lightspeed K's refresh token).

A rotated refresh token replaces the one just used, which stops working: losing it unlinks
the store. It is written with a synchronous commit before the access token it came with is
used, in the daemon's database, which `edge pos` commands open too.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from edge.db import Database, Durability

_PREFIX = "secret:"


class SecretStore(Protocol):
    """Durable storage for a connector's rotated secrets."""

    async def load(self, name: str) -> str | None:
        """The secret last saved under `name`, if any."""
        ...

    async def save(self, name: str, value: str) -> None:
        """Keep `value` under `name`, durably, before returning."""
        ...


class DatabaseSecrets:
    """Secrets in the `meta` table of the daemon's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, name: str) -> str | None:
        """The secret last saved under `name`, if any."""

        def _read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (_PREFIX + name,)).fetchone()
            return None if row is None else str(row[0])

        return await self.db.read(_read)

    async def save(self, name: str, value: str) -> None:
        """Keep `value` under `name` (synchronous commit)."""
        await self.db.write(
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_PREFIX + name, value),
            ),
            Durability.FULL,
        )


class NoSecrets:
    """For a connector that must never rotate a secret (`edge check-config`)."""

    async def load(self, name: str) -> str | None:
        """Nothing is kept."""
        return None

    async def save(self, name: str, value: str) -> None:
        """Refuse: a rotated secret with nowhere to go would unlink the store."""
        raise RuntimeError(f"no durable place for the rotated secret {name}")
