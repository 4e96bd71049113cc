"""Errors of staff and PIN checks; none ever carries a PIN or a hash."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.errors import EdgeError, PermanentError


class StaffError(EdgeError):
    """Base of every staff and PIN error."""


class InvalidPin(StaffError, ValueError):
    """The PIN is not 4 to 8 ASCII digits (said without repeating it)."""


class InvalidStaffName(StaffError, ValueError):
    """A staff name must be 1 to 64 printable characters, without spaces at either end."""


class StaffExists(PermanentError, StaffError):
    """A person of that name is already on the staff."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} is already on the staff")
        self.name = name


class PinInUse(PermanentError, StaffError):
    """Another person already has this PIN: a PIN alone must tell who is at the till."""

    def __init__(self) -> None:
        super().__init__(
            "another staff member already has this PIN (a PIN alone identifies a person at "
            "the till): choose another"
        )


class PinRefused(StaffError):
    """A PIN check failed; `code` is the contract's error code for it."""

    code = "forbidden"


class UnknownStaff(PinRefused):
    """No staff member of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no staff member named {name!r}")
        self.name = name


class WrongPin(PinRefused):
    """The PIN matches nobody (or not the person named)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(f"wrong PIN for {name!r}" if name else "wrong PIN")
        self.name = name


class LockedOut(PinRefused):
    """Too many wrong PINs: checks for `scope` ("box" or a person) are refused `until`."""

    def __init__(self, scope: str, until: float) -> None:
        when = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        who = "PIN checks on this box are" if scope == "box" else f"{scope!r} is"
        super().__init__(f"too many wrong PINs: {who} locked out until {when}")
        self.scope = scope
        self.until = until


class Forbidden(PinRefused):
    """The PIN is right but the person's role may not do this."""

    def __init__(self, name: str, role: str, needed: str) -> None:
        super().__init__(f"{name!r} is a {role}: this needs a {needed}")
        self.name = name
        self.role = role
        self.needed = needed
