"""`ble://` and `rfcomm://` printer URIs: one parser each, used by the transports and the
configuration check alike."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from drivers.errors import UnsupportedTransportError

_MAC = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"
_BLE_RE = re.compile(rf"^(?P<mac>{_MAC})$")
_RFCOMM_RE = re.compile(rf"^(?P<mac>{_MAC})(?::(?P<channel>[0-9]{{1,2}}))?$")
# The Bluetooth base UUID: a 16-bit id such as 18f0 stands for 000018f0-0000-1000-8000-00805f9b34fb.
_BASE_UUID = "0000{:04x}-0000-1000-8000-00805f9b34fb"

#: Largest payload of one ATT write with response (bleak refuses more).
MAX_WRITE = 512


class Connection(StrEnum):
    """How a BLE printer's connection is held between batches."""

    #: stay connected, with a periodic health check (fast first ticket; one central only)
    KEEP = "keep"
    #: connect for each batch and disconnect after (slower, frees the printer for phones)
    PER_BATCH = "per_batch"


@dataclass(frozen=True, slots=True)
class BleAddress:
    """What a `ble://MAC?service=…&char=…&chunk=…&gap_ms=…&connect=…` URI says."""

    mac: str
    service: str | None = None  # full 128-bit UUID, lower case
    char: str | None = None
    chunk: int | None = None  # bytes per write; None: what the characteristic allows
    gap_ms: float | None = None  # pause between writes without response; None: default
    connect: Connection = Connection.KEEP


@dataclass(frozen=True, slots=True)
class RfcommAddress:
    """What a `rfcomm://MAC[:CHANNEL]` or `rfcomm://MAC?channel=N` URI says."""

    mac: str
    channel: int = 1


def full_uuid(text: str) -> str:
    """A 16- or 32-bit short id (`18f0`, `0x2af1`) or a full UUID, as a full lower-case UUID."""
    value = text.strip().lower().removeprefix("0x")
    if re.fullmatch(r"[0-9a-f]{4}", value):
        return _BASE_UUID.format(int(value, 16))
    if re.fullmatch(r"[0-9a-f]{8}", value):
        return f"{value}-0000-1000-8000-00805f9b34fb"
    try:
        return str(uuid.UUID(value))
    except ValueError as err:
        raise UnsupportedTransportError(f"{text!r} is not a Bluetooth UUID") from err


def _query(uri: str, allowed: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, found in parse_qs(urlsplit(uri).query, keep_blank_values=True).items():
        if key not in allowed:
            raise UnsupportedTransportError(
                f"{uri}: unknown parameter {key!r}; expected {', '.join(allowed)}"
            )
        if len(found) != 1 or not found[0]:
            raise UnsupportedTransportError(f"{uri}: {key!r} should be given once, with a value")
        values[key] = found[0]
    return values


def _number(uri: str, key: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise UnsupportedTransportError(f"{uri}: {key} should be {low:g}..{high:g}, got {text!r}")
    return value


def _no_path(uri: str, path: str) -> None:
    if path not in ("", "/"):
        raise UnsupportedTransportError(f"{uri}: unexpected path {path!r}")


def parse_ble_uri(uri: str) -> BleAddress:
    """Parse a `ble://` URI; UnsupportedTransportError says what is wrong."""
    parts = urlsplit(uri)
    match = _BLE_RE.match(parts.netloc) if parts.scheme == "ble" else None
    if match is None:
        raise UnsupportedTransportError(f"{uri!r} should be ble://AA:BB:CC:DD:EE:FF")
    _no_path(uri, parts.path)
    query = _query(uri, ("service", "char", "chunk", "gap_ms", "connect"))
    chunk = query.get("chunk")
    gap = query.get("gap_ms")
    connect = query.get("connect", Connection.KEEP.value)
    if connect not in {c.value for c in Connection}:
        raise UnsupportedTransportError(
            f"{uri}: connect should be {' or '.join(c.value for c in Connection)}, got {connect!r}"
        )
    return BleAddress(
        mac=match["mac"].upper(),
        service=full_uuid(query["service"]) if "service" in query else None,
        char=full_uuid(query["char"]) if "char" in query else None,
        chunk=int(_number(uri, "chunk", chunk, 1, MAX_WRITE)) if chunk is not None else None,
        gap_ms=_number(uri, "gap_ms", gap, 0, 1000) if gap is not None else None,
        connect=Connection(connect),
    )


def parse_rfcomm_uri(uri: str) -> RfcommAddress:
    """Parse `rfcomm://MAC[:CHANNEL]` (CONTRACT) or `rfcomm://MAC?channel=N`; channel 1..30."""
    parts = urlsplit(uri)
    match = _RFCOMM_RE.match(parts.netloc) if parts.scheme == "rfcomm" else None
    if match is None:
        raise UnsupportedTransportError(f"{uri!r} should be rfcomm://AA:BB:CC:DD:EE:FF[:CHANNEL]")
    _no_path(uri, parts.path)
    query = _query(uri, ("channel",))
    if match["channel"] is not None and "channel" in query:
        raise UnsupportedTransportError(f"{uri}: the channel is given twice")
    text = match["channel"] or query.get("channel", "1")
    if not text.isdigit() or not 1 <= int(text) <= 30:
        raise UnsupportedTransportError(f"{uri}: RFCOMM channel should be 1..30, got {text!r}")
    return RfcommAddress(mac=match["mac"].upper(), channel=int(text))
