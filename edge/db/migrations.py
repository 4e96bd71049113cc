"""Ordered schema migrations, applied at start-up; `PRAGMA user_version` is the schema version."""

from __future__ import annotations

import sqlite3

from edge.errors import DatabaseError

# Each entry moves the schema from version i to i + 1. Never edit a released entry: append.
MIGRATIONS: tuple[str, ...] = (
    # 1: orders, jobs, the event outbox, dead letters, command replies, settings.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE orders (
        id            TEXT PRIMARY KEY,
        revision      INTEGER NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'cancelled')),
        payload       TEXT NOT NULL,
        partner       TEXT NOT NULL,
        display_id    TEXT NOT NULL,
        brand         TEXT,
        scheduled_for TEXT,
        release_at    REAL,
        released      INTEGER NOT NULL DEFAULT 0,
        received_at   REAL NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE INDEX orders_received ON orders (received_at);
    CREATE TABLE jobs (
        id              INTEGER PRIMARY KEY,
        kind            TEXT NOT NULL CHECK (kind IN ('print', 'release')),
        order_id        TEXT,
        revision        INTEGER,
        printer         TEXT,
        ticket          TEXT,
        copies          INTEGER NOT NULL DEFAULT 1,
        reprint         INTEGER NOT NULL DEFAULT 0,
        state           TEXT NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        not_before      REAL NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error      TEXT,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL
    );
    CREATE INDEX jobs_ready ON jobs (kind, state, printer, not_before, next_attempt_at);
    CREATE INDEX jobs_order ON jobs (order_id);
    CREATE TABLE events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT NOT NULL UNIQUE,
        type         TEXT NOT NULL,
        at           TEXT NOT NULL,
        order_id     TEXT,
        data         TEXT NOT NULL,
        created_at   REAL NOT NULL,
        published_at REAL
    );
    CREATE INDEX events_unpublished ON events (published_at) WHERE published_at IS NULL;
    CREATE TABLE dead_letters (
        id          INTEGER PRIMARY KEY,
        topic       TEXT NOT NULL,
        payload     BLOB NOT NULL,
        reason      TEXT NOT NULL,
        errors      TEXT,
        received_at REAL NOT NULL
    );
    CREATE TABLE commands (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        reply       TEXT NOT NULL,
        received_at REAL NOT NULL
    );
    """,
    # 2: a ticket moved to a backup printer says which printer it was meant for.
    """
    ALTER TABLE jobs ADD COLUMN meant_for TEXT
    """,
    # 3: injection into the POS: inject and void jobs, and the POS's id of an injected order.
    """
    CREATE TABLE jobs_v3 (
        id              INTEGER PRIMARY KEY,
        kind            TEXT NOT NULL CHECK (kind IN ('print', 'release', 'inject', 'void')),
        order_id        TEXT,
        revision        INTEGER,
        printer         TEXT,
        ticket          TEXT,
        copies          INTEGER NOT NULL DEFAULT 1,
        reprint         INTEGER NOT NULL DEFAULT 0,
        state           TEXT NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        not_before      REAL NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error      TEXT,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL,
        meant_for       TEXT
    );
    INSERT INTO jobs_v3 SELECT id, kind, order_id, revision, printer, ticket, copies, reprint,
        state, attempts, not_before, next_attempt_at, last_error, created_at, updated_at, meant_for
        FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v3 RENAME TO jobs;
    CREATE INDEX jobs_ready ON jobs (kind, state, printer, not_before, next_attempt_at);
    CREATE INDEX jobs_order ON jobs (order_id);
    ALTER TABLE orders ADD COLUMN pos_order_id TEXT
    """,
    # 4: what start-up and pruning look for, without reading every row of a large store.
    """
    CREATE INDEX orders_updated ON orders (updated_at);
    CREATE INDEX jobs_running ON jobs (id) WHERE state = 'running'
    """,
    # 5: exactly once without idempotency keys: each step of an order revision in the POS is
    # recorded before its request goes out; POS webhooks the cloud relays (in/pos-events).
    """
    CREATE TABLE pos_attempts (
        order_id     TEXT NOT NULL,
        revision     INTEGER NOT NULL,
        step         TEXT NOT NULL,
        reference    TEXT NOT NULL,
        tries        INTEGER NOT NULL DEFAULT 0,
        first_at     REAL NOT NULL,
        last_at      REAL NOT NULL,
        progress     TEXT NOT NULL DEFAULT '{}',
        pos_order_id TEXT,
        done         INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (order_id, revision, step)
    );
    CREATE INDEX pos_attempts_reference ON pos_attempts (reference);
    CREATE TABLE pos_events (
        id          INTEGER PRIMARY KEY,
        pos         TEXT NOT NULL,
        reference   TEXT,
        received_at TEXT,
        body        TEXT NOT NULL,
        stored_at   REAL NOT NULL
    );
    CREATE INDEX pos_events_reference ON pos_events (reference)
    """,
    # 6: the menu read from the POS (the last good one per POS), what was queued for
    # publishing per brand, messages waiting for the broker other than events (retained
    # menus, replies of commands that finish later), and those commands.
    """
    CREATE TABLE pos_menus (
        pos       TEXT PRIMARY KEY,
        doc       BLOB NOT NULL,
        hash      TEXT NOT NULL,
        items     INTEGER NOT NULL,
        modifiers INTEGER NOT NULL,
        read_at   REAL NOT NULL
    );
    CREATE TABLE menu_brands (
        brand      TEXT PRIMARY KEY,
        hash       TEXT NOT NULL,
        items      INTEGER NOT NULL,
        modifiers  INTEGER NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE mqtt_out (
        key         TEXT PRIMARY KEY,
        topic       TEXT NOT NULL,
        payload     BLOB NOT NULL,
        retain      INTEGER NOT NULL,
        properties  TEXT NOT NULL DEFAULT '{}',
        generation  INTEGER NOT NULL,
        queued_at   REAL NOT NULL
    );
    CREATE TABLE deferred_commands (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        args        TEXT NOT NULL,
        reply_topic TEXT NOT NULL,
        correlation BLOB,
        received_at REAL NOT NULL
    );
    DELETE FROM meta WHERE key = 'pos_menu'
    """,
    # 7: staff and their PIN hashes, wrong-PIN lockouts (per person and for the whole box),
    # and the append-only audit log. The audit refuses every UPDATE, and every DELETE of a
    # row younger than its retention (400 days, edge.audit.RETENTION_S): only the retention
    # purge can remove anything. A later retention change replaces the trigger in a new step.
    """
    CREATE TABLE staff (
        name       TEXT PRIMARY KEY COLLATE NOCASE,
        role       TEXT NOT NULL CHECK (role IN ('cashier', 'supervisor')),
        pin_hash   TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE pin_lockouts (
        scope           TEXT PRIMARY KEY COLLATE NOCASE,
        failures        INTEGER NOT NULL DEFAULT 0,
        lockouts        INTEGER NOT NULL DEFAULT 0,
        locked_until    REAL,
        last_failure_at REAL
    );
    CREATE TABLE audit (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        at_epoch REAL NOT NULL,
        kind     TEXT NOT NULL,
        actor    TEXT NOT NULL,
        subject  TEXT,
        data     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_at ON audit (at_epoch);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN
        SELECT RAISE(ABORT, 'audit is append-only: rows cannot be changed');
    END;
    CREATE TRIGGER audit_no_early_delete BEFORE DELETE ON audit
    WHEN OLD.at_epoch >= CAST(strftime('%s', 'now') AS REAL) - 400 * 86400
    BEGIN
        SELECT RAISE(ABORT, 'audit is append-only: rows are deleted only past retention');
    END
    """,
    # 8: payments at the till. A row is written (the intent, state 'started') before the
    # first byte goes to the terminal; a row still 'started' at start-up becomes 'unknown'.
    # At most one payment is 'started' per box: the partial unique index says so.
    """
    CREATE TABLE payments (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
        method      TEXT NOT NULL CHECK (method IN ('card', 'cash')),
        order_id    TEXT,
        refund_of   TEXT REFERENCES payments (id),
        amount      INTEGER NOT NULL CHECK (amount > 0),
        currency    TEXT NOT NULL,
        staff       TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('started', 'approved', 'declined',
                                                   'cancelled', 'unknown', 'failed')),
        command_id  TEXT,
        detail      TEXT,
        masked_pan  TEXT,
        auth_code   TEXT,
        terminal    TEXT,
        resolved_by TEXT,
        resolved_at REAL,
        started_at  REAL NOT NULL,
        ended_at    REAL
    );
    CREATE INDEX payments_order ON payments (order_id);
    CREATE INDEX payments_state ON payments (state);
    CREATE UNIQUE INDEX payments_one_running ON payments (state) WHERE state = 'started'
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; refuse a file written by a newer version."""
    (current,) = conn.execute("PRAGMA user_version").fetchone()
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"database schema version {current} is newer than this store-edge ({SCHEMA_VERSION}); "
            "upgrade store-edge or restore a backup"
        )
    for version in range(current, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    """The statements of `script`, each whole: a trigger's BEGIN … END body keeps its ";"s."""
    # executescript() would COMMIT implicitly; split so a migration is one transaction.
    # sqlite3.complete_statement knows where SQLite would end a statement (string literals,
    # comments, CREATE TRIGGER bodies), so pieces are joined until they make one.
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip() != ";":
                statements.append(pending.strip())
            pending = ""
    if pending.rstrip(";").strip():  # the last statement may omit its ";"
        statements.append(pending.rstrip(";").strip())
    return statements
