"""Roles, the PIN rules and PIN hashing (argon2id); hashing blocks: call it in a thread."""

from __future__ import annotations

import enum
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge.staff._errors import InvalidPin, InvalidStaffName

PIN_MIN = 4
PIN_MAX = 8
NAME_MAX = 64

# argon2id at OWASP's smallest recommended cost (19 MiB, 2 passes, 1 lane) rather than the
# library's default (64 MiB, 3 passes, 4 lanes): a PIN given alone is checked against every
# person's hash, so 20 staff cost 20 verifications (~22 ms each on a 2-core x86 box; the
# default costs ~120 ms). A salted slow hash of a 4-8 digit PIN cannot resist an offline
# search whatever the cost: the lockouts guard the till; the hash keeps PINs out of sight.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class Role(enum.StrEnum):
    """What a staff member may do; a supervisor may do everything a cashier may."""

    CASHIER = "cashier"
    SUPERVISOR = "supervisor"

    def allows(self, needed: Role) -> bool:
        """Whether this role covers `needed`."""
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.CASHIER: 1, Role.SUPERVISOR: 2}


def check_pin(pin: str) -> str:
    """`pin` when it is 4 to 8 ASCII digits, else InvalidPin (which never repeats it)."""
    if not PIN_MIN <= len(pin) <= PIN_MAX or not all(c in string.digits for c in pin):
        raise InvalidPin(f"a PIN is {PIN_MIN} to {PIN_MAX} digits (0-9), nothing else")
    return pin


def check_name(name: str) -> str:
    """`name` when it is a valid staff name, else InvalidStaffName."""
    if not 1 <= len(name) <= NAME_MAX or name != name.strip() or not name.isprintable():
        raise InvalidStaffName(
            f"a staff name is 1 to {NAME_MAX} printable characters, without spaces at either end"
        )
    return name


def hash_pin(pin: str) -> str:
    """A salted argon2id hash of a valid PIN (blocking: ~20 ms)."""
    return HASHER.hash(check_pin(pin))


def pin_matches(pin_hash: str, pin: str) -> bool:
    """Whether `pin` is the one hashed in `pin_hash` (blocking: ~20 ms)."""
    try:
        return HASHER.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(pin_hash: str) -> bool:
    """Whether `pin_hash` was made with other costs than HASHER's (then hash the PIN again)."""
    return HASHER.check_needs_rehash(pin_hash)
