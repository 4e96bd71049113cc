"""The audit log is append-only in the database itself, is purged only past its retention,
and arrives with migration 7 on a database of version 6."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from edge import audit
from edge.audit import AuditKind
from edge.db import SCHEMA_VERSION, Database
from edge.db.migrations import MIGRATIONS, _statements, migrate
from edge.housekeeping import AUDIT_RETENTION_S, ORDER_RETENTION_S, Housekeeping

DAY = 86400.0


async def test_record_and_read_back(tmp_path: Path) -> None:
    async with Database(tmp_path / "edge.db") as db:
        at = 1_795_000_000.25
        await db.write(
            lambda c: audit.record(
                c,
                AuditKind.DRAWER_OPENED,
                "Bob",
                "kitchen",
                {"reason": "change", "sale": False},
                now=at,
            )
        )
        await db.write(lambda c: audit.record(c, AuditKind.STAFF_ADDED, audit.TECHNICIAN, "Al"))
        (entry, later) = await db.read(audit.entries)
        assert entry.as_dict() == {
            "id": 1,
            "at": "2026-11-18T11:06:40.250Z",
            "kind": "drawer.opened",
            "actor": "Bob",
            "subject": "kitchen",
            "data": {"reason": "change", "sale": False},
        }
        assert await db.read(lambda c: audit.entries(c, since=at + 1)) == [later]
        assert await db.read(lambda c: audit.entries(c, until=at + 1)) == [entry]


@pytest.mark.parametrize("key", ["pin", "PIN", "pin_hash", "pan", "card_number"])
async def test_secrets_are_refused(tmp_path: Path, key: str) -> None:
    async with Database(tmp_path / "edge.db") as db:
        with pytest.raises(ValueError, match="secrets"):
            await db.write(lambda c: audit.record(c, AuditKind.PIN_WRONG, "x", None, {key: "1"}))
        assert await db.read(audit.entries) == []


async def test_the_database_refuses_to_change_or_delete_an_entry(tmp_path: Path) -> None:
    async with Database(tmp_path / "edge.db") as db:
        await db.write(lambda c: audit.record(c, AuditKind.PAYMENT_APPROVED, "Al", "pay_1"))
        year_old = time.time() - 366 * DAY
        await db.write(
            lambda c: audit.record(c, AuditKind.PAYMENT_DECLINED, "Al", "p0", now=year_old)
        )
        for statement in (
            "UPDATE audit SET actor = 'someone else'",
            "UPDATE audit SET at_epoch = 0 WHERE id = 1",
            "DELETE FROM audit WHERE id = 1",
            "DELETE FROM audit WHERE id = 2",  # a year old: still within retention
            "DELETE FROM audit",
        ):

            def change(conn: sqlite3.Connection, sql: str = statement) -> None:
                conn.execute(sql)

            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                await db.write(change)
        entries = await db.read(audit.entries)
        assert [(e.actor, e.subject) for e in entries] == [("Al", "pay_1"), ("Al", "p0")]


async def test_entries_past_retention_are_purged_by_housekeeping(tmp_path: Path) -> None:
    assert AUDIT_RETENTION_S > ORDER_RETENTION_S
    async with Database(tmp_path / "edge.db") as db:
        now = time.time()
        ages = (401, 400.01, 399.99, 1)

        def fill(conn: sqlite3.Connection) -> None:
            for age in ages:
                audit.record(conn, AuditKind.DRAWER_OPENED, "Bob", f"{age}", now=now - age * DAY)

        await db.write(fill)
        await Housekeeping(db, retention_s=3600, retention_max=1000).maintain()
        left = [e.subject for e in await db.read(audit.entries)]
        assert left == ["399.99", "1"]
        assert await db.write(audit.purge) == 0


def test_a_trigger_body_is_kept_whole() -> None:
    script = """
    CREATE TABLE t (a TEXT);
    INSERT INTO t VALUES ('x;y');
    CREATE TRIGGER t_guard BEFORE DELETE ON t
    BEGIN
        SELECT RAISE(ABORT, 'no; never');
        SELECT 1;
    END;
    CREATE INDEX t_a ON t (a)
    """
    statements = _statements(script)
    assert len(statements) == 4
    assert statements[2].startswith("CREATE TRIGGER")
    assert statements[2].endswith("END;")
    assert statements[1] == "INSERT INTO t VALUES ('x;y');"
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    with pytest.raises(sqlite3.IntegrityError, match="no; never"):
        conn.execute("DELETE FROM t")


def test_earlier_migrations_split_as_before() -> None:
    for script in MIGRATIONS[:6]:
        old = [s.strip() for s in script.split(";") if s.strip()]
        assert [s.removesuffix(";").strip() for s in _statements(script)] == old


async def test_migration_from_version_6_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, script in enumerate(MIGRATIONS[:6]):
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version + 1}")
    conn.execute("INSERT INTO meta (key, value) VALUES ('confirmed_seq', '41')")
    conn.close()
    async with Database(path) as db:
        version = await db.read(lambda c: c.execute("PRAGMA user_version").fetchone()[0])
        assert version == SCHEMA_VERSION == 8
        kept = await db.read(lambda c: c.execute("SELECT value FROM meta").fetchone()[0])
        assert kept == "41"
        tables = await db.read(
            lambda c: {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
        )
        assert {"staff", "pin_lockouts", "audit", "audit_no_update", "payments"} <= tables

    def migrate_again() -> int:
        again = sqlite3.connect(path, isolation_level=None)
        try:
            return migrate(again)
        finally:
            again.close()

    assert await asyncio.to_thread(migrate_again) == 8, "a second start applies nothing"
