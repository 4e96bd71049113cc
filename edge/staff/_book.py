"""The staff book: add, change and remove staff, and check a PIN for a role, with lockouts."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge import audit
from edge.audit import AuditKind, rfc3339
from edge.db import Database, Durability
from edge.staff._errors import (
    Forbidden,
    InvalidPin,
    LockedOut,
    PinInUse,
    StaffError,
    StaffExists,
    UnknownStaff,
    WrongPin,
)
from edge.staff._lockout import BOX, Lockout, LockoutPolicy, clear, count_failure, locks
from edge.staff._lockout import person_scope as _scope
from edge.staff._pins import Role, check_name, check_pin, hash_pin, needs_rehash
from edge.staff._pins import pin_matches as _matches

# Adding a PIN is checked against the others' hashes outside the transaction (it is slow);
# when the staff changed meanwhile, it is checked again, this many times at most.
_TRIES = 3


@dataclass(frozen=True)
class Staff:
    """A person whose PIN was checked, or who was just added."""

    name: str
    role: Role


@dataclass(frozen=True)
class StaffListing:
    """A staff member as `edge staff list` shows them (never the hash)."""

    name: str
    role: Role
    created_at: float
    updated_at: float
    locked_until: float | None


@dataclass(frozen=True)
class _Row:
    name: str
    role: Role
    pin_hash: str


class _StaffChanged(Exception):
    """The staff changed between the duplicate-PIN check and the write."""


def _rows(conn: sqlite3.Connection, other_than: str | None = None) -> list[_Row]:
    rows = conn.execute(
        "SELECT name, role, pin_hash FROM staff WHERE name != ? ORDER BY name",
        (other_than if other_than is not None else "",),
    ).fetchall()
    return [_Row(r[0], Role(r[1]), r[2]) for r in rows]


def _first_match(rows: Sequence[_Row], pin: str) -> _Row | None:
    """The person whose hash `pin` matches (blocking: one argon2 verification per person)."""
    return next((row for row in rows if _matches(row.pin_hash, pin)), None)


def _hash_if_free(others: Sequence[_Row], pin: str) -> str | None:
    """A hash of `pin`, or None when one of `others` already has it (blocking)."""
    if _first_match(others, pin) is not None:
        return None
    return hash_pin(pin)


def listing(conn: sqlite3.Connection, now: float) -> tuple[list[StaffListing], float | None]:
    """Every staff member by name, and when the box's lockout ends (if locked at `now`)."""
    locked = locks(conn, now)
    rows = conn.execute("SELECT name, role, created_at, updated_at FROM staff ORDER BY name")
    members = [
        StaffListing(r[0], Role(r[1]), r[2], r[3], locked.get(_scope(r[0]).casefold()))
        for r in rows.fetchall()
    ]
    return members, locked.get(BOX)


class StaffBook:
    """Staff and PIN checks over the daemon's database; `clock` and `policy` are test seams."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        policy: LockoutPolicy | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or LockoutPolicy()
        # One PIN check at a time: checks sent all at once would each read the lockout
        # state before any of them counted its failure, and guess past the lockout.
        self._checking = asyncio.Lock()

    async def add(self, name: str, role: Role, pin: str, *, actor: str = audit.TECHNICIAN) -> Staff:
        """Add a person; StaffExists, PinInUse, InvalidPin, InvalidStaffName. Audited."""
        check_name(name)
        role = Role(role)

        def insert(conn: sqlite3.Connection, pin_hash: str, now: float) -> None:
            try:
                conn.execute(
                    "INSERT INTO staff (name, role, pin_hash, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, role.value, pin_hash, now, now),
                )
            except sqlite3.IntegrityError as err:
                raise StaffExists(name) from err
            clear(conn, _scope(name), now)  # a lock left by someone of that name before
            audit.record(conn, AuditKind.STAFF_ADDED, actor, name, {"role": role.value}, now=now)

        await self._store_pin(name, pin, insert, must_exist=False)
        return Staff(name, role)

    async def set_pin(self, name: str, pin: str, *, actor: str = audit.TECHNICIAN) -> Staff:
        """Give a person a new PIN (lifting their lockout); UnknownStaff, PinInUse. Audited."""
        found: list[Staff] = []

        def update(conn: sqlite3.Connection, pin_hash: str, now: float) -> None:
            row = conn.execute("SELECT name, role FROM staff WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownStaff(name)
            conn.execute(
                "UPDATE staff SET pin_hash = ?, updated_at = ? WHERE name = ?",
                (pin_hash, now, name),
            )
            audit.record(conn, AuditKind.STAFF_PIN_CHANGED, actor, row[0], now=now)
            if clear(conn, _scope(row[0]), now):
                audit.record(
                    conn, AuditKind.STAFF_UNLOCKED, actor, row[0], {"by": "pin_changed"}, now=now
                )
            found.append(Staff(row[0], Role(row[1])))

        await self._store_pin(name, pin, update, must_exist=True)
        return found[0]

    async def _store_pin(
        self,
        name: str,
        pin: str,
        store: Callable[[sqlite3.Connection, str, float], None],
        *,
        must_exist: bool,
    ) -> None:
        """Hash `pin` once no one else has it, then run `store` with the hash, in one write."""
        check_pin(pin)
        for _ in range(_TRIES):
            snapshot = await self.db.read(lambda c: self._exists_and_others(c, name))
            exists, others = snapshot
            if must_exist and not exists:
                raise UnknownStaff(name)
            if not must_exist and exists:
                raise StaffExists(name)
            pin_hash = await asyncio.to_thread(_hash_if_free, others, pin)
            if pin_hash is None:
                raise PinInUse

            def write(conn: sqlite3.Connection, h: str = pin_hash, seen: object = others) -> None:
                if _rows(conn, other_than=name) != seen:
                    raise _StaffChanged
                store(conn, h, self.clock())

            try:
                await self.db.write(write, Durability.FULL)
            except _StaffChanged:
                continue
            return
        raise StaffError("the staff kept changing while this PIN was checked: try again")

    @staticmethod
    def _exists_and_others(conn: sqlite3.Connection, name: str) -> tuple[bool, list[_Row]]:
        exists = conn.execute("SELECT 1 FROM staff WHERE name = ?", (name,)).fetchone()
        return exists is not None, _rows(conn, other_than=name)

    async def remove(self, name: str, *, actor: str = audit.TECHNICIAN) -> None:
        """Remove a person (their past stays in the audit); UnknownStaff. Audited."""

        def delete(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT name, role FROM staff WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownStaff(name)
            now = self.clock()
            conn.execute("DELETE FROM staff WHERE name = ?", (name,))
            clear(conn, _scope(row[0]), now)
            audit.record(conn, AuditKind.STAFF_REMOVED, actor, row[0], {"role": row[1]}, now=now)

        await self.db.write(delete, Durability.FULL)

    async def members(self) -> list[StaffListing]:
        """Every staff member, by name, with the end of their lockout if locked now."""
        now = self.clock()
        return (await self.db.read(lambda c: listing(c, now)))[0]

    async def box_locked_until(self) -> float | None:
        """When the box's lockout ends, if every PIN check is locked out now."""
        now = self.clock()
        return (await self.db.read(lambda c: listing(c, now)))[1]

    async def unlock(self, name: str | None = None, *, actor: str = audit.TECHNICIAN) -> bool:
        """Lift a person's lockout (or the box's, `name` None) and forget their wrong PINs;
        whether it was locked. Audited when it was; UnknownStaff for an unknown name."""

        def lift(conn: sqlite3.Connection) -> bool:
            now = self.clock()
            subject = BOX
            if name is not None:
                row = conn.execute("SELECT name FROM staff WHERE name = ?", (name,)).fetchone()
                if row is None:
                    raise UnknownStaff(name)
                subject = row[0]
            was_locked = clear(conn, BOX if name is None else _scope(subject), now)
            if was_locked:
                audit.record(
                    conn, AuditKind.STAFF_UNLOCKED, actor, subject, {"by": "unlock"}, now=now
                )
            return was_locked

        return await self.db.write(lift, Durability.FULL)

    async def verify(self, name: str | None, pin: str, needed: Role) -> Staff:
        """The person this PIN belongs to (`name` None: whoever has it), allowed `needed`.

        Raises LockedOut, UnknownStaff, WrongPin (each wrong PIN counts against the box and
        the person named) or Forbidden (right PIN, role too low). Costs one argon2
        verification per candidate: every staff member when `name` is None. Checks run one
        at a time.
        """
        async with self._checking:
            return await self._verify(name, pin, needed)

    async def _verify(self, name: str | None, pin: str, needed: Role) -> Staff:
        now = self.clock()
        try:
            check_pin(pin)
            well_formed = True
        except InvalidPin:
            well_formed = False

        def look(conn: sqlite3.Connection) -> tuple[dict[str, float], list[_Row]]:
            if name is None:
                return locks(conn, now), _rows(conn)
            rows = conn.execute(
                "SELECT name, role, pin_hash FROM staff WHERE name = ?", (name,)
            ).fetchall()
            return locks(conn, now), [_Row(r[0], Role(r[1]), r[2]) for r in rows]

        locked, candidates = await self.db.read(look)
        if BOX in locked:
            raise LockedOut(BOX, locked[BOX])
        if name is not None:
            if not candidates:
                await self._wrong(None, now)
                raise UnknownStaff(name)
            until = locked.get(_scope(candidates[0].name).casefold())
            if until is not None:
                raise LockedOut(candidates[0].name, until)
        match = await asyncio.to_thread(_first_match, candidates, pin) if well_formed else None
        if match is None:
            lockout = await self._wrong(candidates[0].name if name is not None else None, now)
            if lockout is not None:
                scope = lockout.scope.removeprefix("staff:")
                raise LockedOut(scope, lockout.until)
            raise WrongPin(name)
        until = locked.get(_scope(match.name).casefold())
        if until is not None:
            raise LockedOut(match.name, until)
        await self._right(match, pin)
        if not match.role.allows(needed):
            raise Forbidden(match.name, match.role.value, Role(needed).value)
        return Staff(match.name, match.role)

    async def _right(self, match: _Row, pin: str) -> None:
        """Clear the person's wrong PINs; hash the PIN again when the costs changed."""
        fresh = await asyncio.to_thread(hash_pin, pin) if needs_rehash(match.pin_hash) else None

        def write(conn: sqlite3.Connection) -> None:
            now = self.clock()
            clear(conn, _scope(match.name), now)
            if fresh is not None:  # only if nobody changed it meanwhile
                conn.execute(
                    "UPDATE staff SET pin_hash = ? WHERE name = ? AND pin_hash = ?",
                    (fresh, match.name, match.pin_hash),
                )

        await self.db.write(write, Durability.FULL)

    async def _wrong(self, name: str | None, now: float) -> Lockout | None:
        """Count a wrong PIN against the box (and `name`); audit it and any lockout it starts.

        Returns the lockout that now applies to this attempt (the person's first)."""

        def write(conn: sqlite3.Connection) -> Lockout | None:
            audit.record(conn, AuditKind.PIN_WRONG, audit.SYSTEM, name, now=now)
            started = []
            if name is not None:
                started.append(count_failure(conn, _scope(name), self.policy.person, now))
            started.append(count_failure(conn, BOX, self.policy.box, now))
            lockouts = [lock for lock in started if lock is not None]
            for lock in lockouts:
                audit.record(
                    conn,
                    AuditKind.STAFF_LOCKED_OUT,
                    audit.SYSTEM,
                    lock.scope.removeprefix("staff:"),
                    {
                        "scope": "box" if lock.scope == BOX else "person",
                        "until": rfc3339(lock.until),
                        "seconds": lock.seconds,
                        "wrong_pins": lock.failures,
                    },
                    now=now,
                )
            return lockouts[0] if lockouts else None

        return await self.db.write(write, Durability.FULL)
