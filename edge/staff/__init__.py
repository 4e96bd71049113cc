"""Staff, their roles and PINs: who may take a payment or open the drawer.

PINs are 4 to 8 digits, stored only as argon2id hashes; a PIN alone identifies its person
(PINs are unique), and wrong PINs lock that person, and the whole box, out for a growing
delay. Every change and lockout goes to the audit log (edge.audit).
"""

from edge.staff._book import Staff, StaffBook, StaffListing, listing
from edge.staff._errors import (
    Forbidden,
    InvalidPin,
    InvalidStaffName,
    LockedOut,
    PinInUse,
    PinRefused,
    StaffError,
    StaffExists,
    UnknownStaff,
    WrongPin,
)
from edge.staff._lockout import BOX, LockoutPolicy, LockoutRule
from edge.staff._pins import PIN_MAX, PIN_MIN, Role, check_name, check_pin

__all__ = [
    "BOX",
    "PIN_MAX",
    "PIN_MIN",
    "Forbidden",
    "InvalidPin",
    "InvalidStaffName",
    "LockedOut",
    "LockoutPolicy",
    "LockoutRule",
    "PinInUse",
    "PinRefused",
    "Role",
    "Staff",
    "StaffBook",
    "StaffError",
    "StaffExists",
    "StaffListing",
    "UnknownStaff",
    "WrongPin",
    "check_name",
    "check_pin",
    "listing",
]
