"""The Order document of CONTRACT §3, validated strictly (a number given as a string is invalid)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]

#: SQLite stores integers as 64-bit signed: a larger one could not even be written down.
INT64_MAX = 2**63 - 1

# RFC 3339 date-time (section 5.6): the offset is required, a number is not a time.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)


def _rfc3339(value: Any) -> datetime:
    """Only an RFC 3339 string with an offset is a time (pydantic would also take a number)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-23T18:02:11Z")
    return datetime.fromisoformat(value.upper())  # ValueError for a day or hour out of range


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _printable(value: str) -> str:
    """Shown large on every ticket: characters that print, and not only spaces."""
    if not value.isprintable() or not value.strip():
        raise ValueError("must be printable characters, not only spaces")
    return value


DisplayId = Annotated[
    str, StringConstraints(min_length=1, max_length=32), AfterValidator(_printable)
]
Money = Annotated[int, Field(ge=0, le=INT64_MAX)]
ShortText = Annotated[str, StringConstraints(max_length=500)]

OrderStatus = Literal["pending", "accepted", "cancelled"]
OrderType = Literal["delivery", "self_delivery", "pickup", "dine_in"]


class _Strict(BaseModel):
    # Unknown fields are tolerated (the cloud may extend the contract); types are not.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Source(_Strict):
    """Where the order was placed."""

    partner: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    partner_order_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    display_id: DisplayId | None = None


class Address(_Strict):
    """A delivery address."""

    line1: ShortText | None = None
    line2: ShortText | None = None
    city: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(max_length=32)] | None = None


class Customer(_Strict):
    """The customer as the partner shares them."""

    name: ShortText | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    address: Address | None = None
    notes: ShortText | None = None


class Modifier(_Strict):
    """A modifier of an item line (extra, option, cooking)."""

    id: Identifier | None = None
    pos_id: Identifier | None = None
    group: ShortText | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    quantity: Annotated[int, Field(ge=1, le=999)] = 1
    unit_price: Money = 0


class Item(_Strict):
    """One line of the order."""

    id: Identifier | None = None
    pos_id: Identifier | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    quantity: Annotated[int, Field(ge=1, le=999)]
    unit_price: Money
    modifiers: Annotated[list[Modifier], Field(max_length=100)] = []
    notes: ShortText | None = None


class Totals(_Strict):
    """Order totals in minor units."""

    subtotal: Money | None = None
    tax: Money | None = None
    tip: Money | None = None
    delivery_fee: Money | None = None
    discount: Money | None = None
    total: Money | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


class Payment(_Strict):
    """How the order was paid."""

    method: Annotated[str, StringConstraints(max_length=32)] | None = None
    paid: bool | None = None


class Order(_Strict):
    """An order as the cloud sends it on `in/orders`."""

    id: Identifier
    revision: Annotated[int, Field(ge=1, le=INT64_MAX)]
    status: OrderStatus
    source: Source
    brand: Annotated[str, StringConstraints(max_length=100)] | None = None
    type: OrderType
    placed_at: Timestamp
    scheduled_for: Timestamp | None = None
    prep_time_min: Annotated[int, Field(ge=0, le=10_000)] | None = None
    customer: Customer | None = None
    items: Annotated[list[Item], Field(min_length=1, max_length=200)]
    totals: Totals | None = None
    payment: Payment | None = None
    notes: ShortText | None = None
    allergens: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=50)
    ] = []

    @property
    def display_id(self) -> str:
        """The number staff call out: the partner's display id, else our id."""
        return self.source.display_id or self.id
