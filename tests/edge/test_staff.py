"""Staff and PINs: the PIN rules, hashes only, a PIN alone finds its person, roles, unique
PINs, and wrong-PIN lockouts per person and per box on a fake clock, all audited."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge import audit
from edge.db import Database
from edge.staff import (
    BOX,
    Forbidden,
    InvalidPin,
    InvalidStaffName,
    LockedOut,
    LockoutPolicy,
    LockoutRule,
    PinInUse,
    Role,
    Staff,
    StaffBook,
    StaffExists,
    UnknownStaff,
    WrongPin,
    check_name,
    check_pin,
)

ALICE_PIN = "482913"
BOB_PIN = "7305"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "edge.db") as database:
        yield database


@pytest.fixture
async def book(db: Database, clock: Clock) -> StaffBook:
    """Alice the cashier and Bob the supervisor; the box locks after 10 wrong PINs (not the
    default 5), so that a person's own lockout shows first."""
    staff = StaffBook(
        db, clock=clock, policy=LockoutPolicy(box=LockoutRule(10, 30.0, 900.0, 900.0))
    )
    await staff.add("Alice", Role.CASHIER, ALICE_PIN)
    await staff.add("Bob", Role.SUPERVISOR, BOB_PIN)
    return staff


async def _audit(db: Database) -> list[audit.AuditEntry]:
    return await db.read(audit.entries)


@pytest.mark.parametrize("pin", ["1234", "00000000", "0042"])
def test_pins_of_4_to_8_digits_are_accepted(pin: str) -> None:
    assert check_pin(pin) == pin


@pytest.mark.parametrize(
    "pin", ["", "123", "123456789", "12a4", " 1234", "1234 ", "١٢٣٤", "１２３４", "12.4"]
)
def test_other_pins_are_refused_without_repeating_them(pin: str) -> None:
    with pytest.raises(InvalidPin) as caught:
        check_pin(pin)
    assert "4 to 8 digits" in str(caught.value)
    assert not pin.strip() or pin.strip() not in str(caught.value)


@pytest.mark.parametrize("name", ["", " Alice", "Alice ", "a\nb", "x" * 65])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidStaffName):
        check_name(name)


async def test_only_a_salted_argon2id_hash_is_stored(book: StaffBook, db: Database) -> None:
    hashes = await db.read(lambda c: [r[0] for r in c.execute("SELECT pin_hash FROM staff")])
    assert len(hashes) == 2
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert all(ALICE_PIN not in h and BOB_PIN not in h for h in hashes)
    await db.close()
    stored = b"".join(p.read_bytes() for p in db.path.parent.glob("edge.db*"))
    assert ALICE_PIN.encode() not in stored, "the PIN itself never reaches the disk"
    # Same PIN twice gives two hashes: salted.
    assert len({h.split("$")[-2] for h in hashes}) == 2


async def test_a_pin_alone_finds_its_person(book: StaffBook) -> None:
    assert await book.verify(None, ALICE_PIN, Role.CASHIER) == Staff("Alice", Role.CASHIER)
    assert await book.verify(None, BOB_PIN, Role.CASHIER) == Staff("Bob", Role.SUPERVISOR)
    assert await book.verify("bob", BOB_PIN, Role.SUPERVISOR) == Staff("Bob", Role.SUPERVISOR)


async def test_a_cashier_cannot_do_what_needs_a_supervisor(book: StaffBook) -> None:
    with pytest.raises(Forbidden) as caught:
        await book.verify(None, ALICE_PIN, Role.SUPERVISOR)
    assert caught.value.code == "forbidden"
    assert caught.value.name == "Alice"
    assert ALICE_PIN not in str(caught.value)


async def test_wrong_and_unknown(book: StaffBook) -> None:
    with pytest.raises(WrongPin):
        await book.verify(None, "1111", Role.CASHIER)
    with pytest.raises(WrongPin):
        await book.verify("Alice", BOB_PIN, Role.CASHIER)
    with pytest.raises(WrongPin):
        await book.verify(None, "not a pin", Role.CASHIER)
    with pytest.raises(UnknownStaff):
        await book.verify("Carol", ALICE_PIN, Role.CASHIER)


async def test_a_pin_already_in_use_is_refused(book: StaffBook, db: Database) -> None:
    with pytest.raises(PinInUse):
        await book.add("Carol", Role.CASHIER, ALICE_PIN)
    with pytest.raises(PinInUse):
        await book.set_pin("Bob", ALICE_PIN)
    await book.set_pin("Alice", ALICE_PIN)  # one's own PIN again is fine
    with pytest.raises(StaffExists):
        await book.add("alice", Role.CASHIER, "9999")
    with pytest.raises(UnknownStaff):
        await book.set_pin("Carol", "9999")
    names = await db.read(lambda c: [r[0] for r in c.execute("SELECT name FROM staff")])
    assert sorted(names) == ["Alice", "Bob"]


async def test_changes_are_audited_without_secrets(book: StaffBook, db: Database) -> None:
    await book.set_pin("Alice", "2468")
    await book.remove("Bob")
    with pytest.raises(UnknownStaff):
        await book.remove("Bob")
    entries = await _audit(db)
    assert [(e.kind, e.actor, e.subject) for e in entries] == [
        ("staff.added", "technician", "Alice"),
        ("staff.added", "technician", "Bob"),
        ("staff.pin_changed", "technician", "Alice"),
        ("staff.removed", "technician", "Bob"),
    ]
    assert entries[0].data == {"role": "cashier"}
    dump = json.dumps([e.as_dict() for e in entries])
    assert all(secret not in dump for secret in (ALICE_PIN, BOB_PIN, "2468", "argon2"))
    assert await book.verify(None, "2468", Role.CASHIER) == Staff("Alice", Role.CASHIER)
    with pytest.raises(WrongPin):
        await book.verify(None, BOB_PIN, Role.CASHIER)


async def test_a_person_is_locked_out_for_a_growing_delay(
    book: StaffBook, db: Database, clock: Clock
) -> None:
    for _ in range(4):
        with pytest.raises(WrongPin):
            await book.verify("Alice", "0000", Role.CASHIER)
    with pytest.raises(LockedOut) as caught:
        await book.verify("Alice", "0000", Role.CASHIER)
    assert caught.value.scope == "Alice"
    assert caught.value.until == pytest.approx(clock.now + 30)
    with pytest.raises(LockedOut):  # even the right PIN, named or alone
        await book.verify("Alice", ALICE_PIN, Role.CASHIER)
    with pytest.raises(LockedOut):
        await book.verify(None, ALICE_PIN, Role.CASHIER)
    assert await book.verify(None, BOB_PIN, Role.CASHIER) == Staff("Bob", Role.SUPERVISOR)
    assert [m.locked_until for m in await book.members()] == [clock.now + 30, None]

    clock.now += 31
    with pytest.raises(LockedOut) as caught:  # the next wrong PIN locks again, twice as long
        await book.verify("Alice", "0000", Role.CASHIER)
    assert caught.value.until == pytest.approx(clock.now + 60)
    clock.now += 61
    assert await book.verify("Alice", ALICE_PIN, Role.CASHIER) == Staff("Alice", Role.CASHIER)
    with pytest.raises(WrongPin):  # the right PIN cleared her count
        await book.verify("Alice", "0000", Role.CASHIER)

    locks = [e for e in await _audit(db) if e.kind == "staff.locked_out"]
    assert [(e.actor, e.subject, e.data["seconds"], e.data["scope"]) for e in locks] == [
        ("system", "Alice", 30.0, "person"),
        ("system", "Alice", 60.0, "person"),
    ]
    wrong = [e for e in await _audit(db) if e.kind == "pin.wrong"]
    assert len(wrong) == 7
    assert all(e.subject == "Alice" for e in wrong)


async def test_the_delay_is_capped(db: Database, clock: Clock) -> None:
    policy = LockoutPolicy(person=LockoutRule(2, 10.0, 35.0, 86400.0))
    book = StaffBook(db, clock=clock, policy=policy)
    await book.add("Alice", Role.CASHIER, ALICE_PIN)
    delays = []
    for _ in range(5):
        try:
            await book.verify("Alice", "0000", Role.CASHIER)
        except LockedOut as err:
            delays.append(err.until - clock.now)
            clock.now = err.until + 1
        except WrongPin:
            pass
    assert delays == pytest.approx([10.0, 20.0, 35.0, 35.0])


async def test_the_box_locks_every_pin_check(book: StaffBook, db: Database, clock: Clock) -> None:
    for i in range(9):
        with pytest.raises(WrongPin):
            await book.verify(None, f"{1000 + i}", Role.CASHIER)
    with pytest.raises(LockedOut) as caught:
        await book.verify(None, "1009", Role.CASHIER)
    assert caught.value.scope == BOX
    assert caught.value.until == pytest.approx(clock.now + 30)
    for name, pin in ((None, BOB_PIN), ("Alice", ALICE_PIN)):
        with pytest.raises(LockedOut):
            await book.verify(name, pin, Role.CASHIER)
    assert await book.box_locked_until() == pytest.approx(clock.now + 30)

    clock.now += 31
    assert await book.verify(None, BOB_PIN, Role.SUPERVISOR) == Staff("Bob", Role.SUPERVISOR)
    with pytest.raises(LockedOut) as caught:  # a right PIN does not clear the box's count
        await book.verify(None, "1010", Role.CASHIER)
    assert caught.value.until == pytest.approx(clock.now + 60)

    clock.now += 61 + 900  # a quarter of an hour without a wrong PIN: the box forgets
    with pytest.raises(WrongPin):
        await book.verify(None, "1011", Role.CASHIER)
    subjects = [e.subject for e in await _audit(db) if e.kind == "staff.locked_out"]
    assert subjects == ["box", "box"]


async def test_a_technician_unlocks_a_person_or_the_box(
    book: StaffBook, db: Database, clock: Clock
) -> None:
    for name in ["Alice"] * 5 + [None] * 5:  # a locked person's checks are not counted
        with pytest.raises((WrongPin, LockedOut)):
            await book.verify(name, "0000", Role.CASHIER)
    assert await book.box_locked_until() is not None
    assert await book.unlock() is True
    assert await book.unlock() is False
    with pytest.raises(LockedOut):
        await book.verify("Alice", ALICE_PIN, Role.CASHIER)
    assert await book.unlock("alice") is True
    assert await book.verify("Alice", ALICE_PIN, Role.CASHIER) == Staff("Alice", Role.CASHIER)
    unlocked = [(e.subject, e.actor) for e in await _audit(db) if e.kind == "staff.unlocked"]
    assert unlocked == [("box", "technician"), ("Alice", "technician")]
    with pytest.raises(UnknownStaff):
        await book.unlock("Carol")


async def test_a_new_pin_lifts_a_lockout(book: StaffBook, db: Database) -> None:
    for _ in range(5):
        with pytest.raises((WrongPin, LockedOut)):
            await book.verify("Alice", "0000", Role.CASHIER)
    await book.set_pin("Alice", "2468")
    assert await book.verify(None, "2468", Role.CASHIER) == Staff("Alice", Role.CASHIER)
    kinds = [e.kind for e in await _audit(db)][-2:]
    assert kinds == ["staff.pin_changed", "staff.unlocked"]


async def test_a_hash_made_with_other_costs_is_renewed(book: StaffBook, db: Database) -> None:
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(ALICE_PIN)

    def downgrade(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE staff SET pin_hash = ? WHERE name = 'Alice'", (old,))

    await db.write(downgrade)
    assert await book.verify(None, ALICE_PIN, Role.CASHIER) == Staff("Alice", Role.CASHIER)
    renewed = await db.read(
        lambda c: c.execute("SELECT pin_hash FROM staff WHERE name = 'Alice'").fetchone()[0]
    )
    assert renewed != old
    assert "m=19456,t=2,p=1" in renewed
