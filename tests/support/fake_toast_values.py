"""The fake Toast's vocabulary: its refusals, money, timestamps, and the restaurant (menu,
configuration, earlier orders) that an order is checked against."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.toast_menu import TIME_ZONE, ToastMenu

Json = dict[str, Any]
CENT = Decimal("0.01")
EPOCH = "1970-01-01T00:00:00.000+0000"
CLOSEOUT_HOUR = 4  # the business day ends at 04:00 local time (our judgment)
# Toast: "{authority}:{identifier}", authority <= 16 characters, identifier <= 256
EXTERNAL_ID = re.compile(r"^[^:\s]{1,16}:.{1,256}$", re.DOTALL)
TOAST_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")


class OrderRejected(Exception):
    """Toast refuses the order: `status` and the ErrorMessage `code` and `message`."""

    def __init__(self, status: int, message: str, code: int = 10400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def bad(message: str) -> OrderRejected:
    """A 400: the order breaks one of Toast's rules."""
    return OrderRejected(400, message, 10400)


def missing(message: str) -> OrderRejected:
    """A 404: "an entity referenced in the order does not exist"."""
    return OrderRejected(404, message, 10404)


def money(amount: Decimal) -> float:
    """Toast money: decimal currency units (12.5), not cents."""
    return float(amount.quantize(CENT, ROUND_HALF_UP))


def cents(value: Any) -> Decimal:
    """A JSON amount as an exact Decimal."""
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def toast_time(when: datetime) -> str:
    """Toast's timestamp form: 2026-11-23T18:02:12.000+0000 (UTC)."""
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}+0000"


def parse_time(value: str, *, fraction: bool = False) -> datetime:
    """A Toast ISO-8601 timestamp ("+0000", "+00:00" or "Z"); ValueError if not one."""
    match = TOAST_TIME.match(value)
    if match is None or (fraction and match.group(2) is None):
        raise ValueError(value)
    zone = match.group(3).replace("Z", "+00:00")
    zone = zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(f"{match.group(1)}{match.group(2) or ''}{zone}")


def business_date(when: datetime) -> int:
    """The restaurant's business date (yyyyMMdd) of this instant."""
    local = when.astimezone(ZoneInfo(TIME_ZONE)) - timedelta(hours=CLOSEOUT_HOUR)
    return int(f"{local:%Y%m%d}")


@dataclass
class Restaurant:
    """What an order is checked against: the menu, the configuration, earlier orders."""

    menu: ToastMenu
    dining_options: dict[str, Json]
    payment_types: dict[str, Json]
    service_charges: dict[str, Json]
    rejected: set[str] = field(default_factory=set)  # GUIDs answered as unknown
    external_ids: dict[str, set[str]] = field(default_factory=dict)  # entity -> used ids
    refuse_payment_mismatch: bool = False


def guid_of(ref: Any, what: str) -> str:
    """The `guid` of a reference; 400 when it has none."""
    guid = ref.get("guid") if isinstance(ref, dict) else None
    if not guid:
        raise bad(f"{what}.guid is required")
    return str(guid)


def known(guid: str, table: dict[str, Any], restaurant: Restaurant, what: str) -> Any:
    """The configured entity with this GUID; 404 when there is none (or it is rejected)."""
    if guid in restaurant.rejected or guid not in table:
        raise missing(f"{what} {guid} does not exist at this restaurant")
    return table[guid]
