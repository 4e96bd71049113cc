"""The CloudPRNT protocol as our server reads it: status codes, poll bodies, media types.

Ours, written from Star's public protocol guide (see PROTOCOL.md); nothing here talks HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote_plus

from drivers.escpos.status import PrinterStatus

_CODE = re.compile(r"^(\d{3,4})(?:\s+(.*))?$")
_HEX12 = re.compile(r"^[0-9A-F]{12}$")
_MAX_FIELD = 512  # longest status text, MAC or token we keep


class BadRequest(ValueError):
    """A request a printer sent that we cannot read; the message says why (the 400 answer)."""


class StatusClass(StrEnum):
    """What a Star status code is about, from its first digit."""

    ONLINE = "online"  # 2xx: the printer can print
    PRINTER_ERROR = "printer_error"  # 4xx: paper out, jam, cover open…
    CLIENT_ERROR = "client_error"  # 5xx: a job the printer could not take (not a printer fault)
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class StatusCode:
    """A Star status code as sent ("200 OK", URL-encoded or not): its digits and its text."""

    code: str
    text: str = ""

    @property
    def kind(self) -> StatusClass:
        """The class of the code (matched on its prefix, as Star advises)."""
        return {
            "2": StatusClass.ONLINE,
            "4": StatusClass.PRINTER_ERROR,
            "5": StatusClass.CLIENT_ERROR,
        }.get(self.code[0], StatusClass.OTHER)

    def __str__(self) -> str:
        """The code as a printer writes it: `410 Paper Empty`."""
        return f"{self.code} {self.text}".strip()


def parse_status_code(raw: object) -> StatusCode:
    """Read a statusCode or a confirmation `code`; BadRequest when it is no Star code."""
    if not isinstance(raw, str):
        raise BadRequest(f"statusCode should be a string, got {type(raw).__name__}")
    text = unquote_plus(raw[:_MAX_FIELD]).strip()
    match = _CODE.match(text)
    if match is None:
        raise BadRequest(f"statusCode {text[:40]!r} is not a Star status code (e.g. '200 OK')")
    return StatusCode(match[1], (match[2] or "").strip())


#: what a 2xx code says (and what a printer that polls and said nothing else is taken for)
ONLINE_STATUS = PrinterStatus(online=True, paper="ok", cover_open=False, error=False)


def printer_status(code: StatusCode) -> PrinterStatus | None:
    """The printer's state a code reports; None for a code about a job (5xx) or unknown."""
    digits = code.code
    if code.kind is StatusClass.ONLINE:
        # 211 paper low in the current guide, 210 in the first one.
        if digits.startswith("21"):
            return PrinterStatus(online=True, paper="near_end", cover_open=False, error=False)
        return ONLINE_STATUS
    if code.kind is not StatusClass.PRINTER_ERROR:
        return None
    if digits.startswith("410"):
        return PrinterStatus(online=False, paper="out", cover_open=False, error=False)
    if digits.startswith("42"):
        return PrinterStatus(online=False, paper="ok", cover_open=True, error=False)
    # 411 paper jam, 412 roll position error, and 4xx codes we do not know yet
    return PrinterStatus(online=False, paper="ok", cover_open=False, error=True)


def normalise_mac(raw: object) -> str | None:
    """`00:11:62:AA:BB:CC` from the forms printers and people write; None when it is not one."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    digits = re.sub(r"[\s:.\-]", "", raw).upper()
    if not _HEX12.match(digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


class ClientAction(StrEnum):
    """The clientAction requests we make of every printer (answered in an immediate poll)."""

    PAGE_INFO = "PageInfo"
    ENCODINGS = "Encodings"
    CLIENT_TYPE = "ClientType"
    CLIENT_VERSION = "ClientVersion"
    GET_POLL_INTERVAL = "GetPollInterval"


@dataclass(frozen=True, slots=True)
class Poll:
    """What one poll (POST) says; only `status` is mandatory in the protocol."""

    mac: str
    status: StatusCode
    printing: bool = False
    unique_id: str | None = None
    results: Mapping[str, object] | None = None  # clientAction request -> result


def parse_poll(body: bytes, header_mac: str | None) -> Poll:
    """Read a poll body (JSON); BadRequest with the reason when it cannot be used."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"the poll body is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise BadRequest("the poll body is not a JSON object")
    if "statusCode" not in doc:
        raise BadRequest("the poll has no statusCode")
    status = parse_status_code(doc["statusCode"])
    raw_mac = doc.get("printerMAC") or header_mac
    mac = normalise_mac(raw_mac)
    if mac is None:
        if raw_mac is None:
            raise BadRequest("the poll names no printer (no printerMAC, no X-Star-Mac header)")
        raise BadRequest(f"printerMAC {str(raw_mac)[:40]!r} is not a MAC address")
    unique_id = doc.get("uniqueID")
    return Poll(
        mac=mac,
        status=status,
        printing=doc.get("printingInProgress") is True,
        unique_id=unique_id[:_MAX_FIELD] if isinstance(unique_id, str) and unique_id else None,
        results=_action_results(doc.get("clientAction")),
    )


def _action_results(raw: object) -> Mapping[str, object] | None:
    """The clientAction results of a poll, by request name; malformed entries are skipped."""
    if not isinstance(raw, list):
        return None
    results: dict[str, object] = {}
    for entry in raw:
        if isinstance(entry, dict) and isinstance(entry.get("request"), str):
            results[entry["request"]] = entry.get("result")
    return results or None


def action_requests() -> list[dict[str, str]]:
    """The clientAction list of a poll answer: what we want to know about a printer."""
    return [{"request": action.value, "options": ""} for action in ClientAction]


def parse_encodings(result: object) -> tuple[str, ...] | None:
    """The media types an `Encodings` result lists ("image/png; text/plain; …")."""
    if not isinstance(result, str):
        return None
    types = tuple(media_type_of(part) for part in result.split(";"))
    return tuple(t for t in types if t) or None


def parse_page_width(result: object) -> int | None:
    """Print width in dots from a `PageInfo` result: printWidth (mm) × horizontalResolution
    (dots per mm), as Star's own sample computes it."""
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return None
    if not isinstance(result, dict):
        return None
    width = _number(result.get("printWidth"))
    resolution = _number(result.get("horizontalResolution")) or 8.0
    if width is None or width <= 0 or not 0 < resolution <= 50:
        return None
    return _plausible_dots(width * resolution)


def header_width(print_width: str | None, resolution: str | None) -> int | None:
    """Print width in dots from X-Star-Print-Width (mm; a value past 200 is taken as dots)
    and X-Star-Horizontal-Resolution (dots per mm, default 8)."""
    width = _number(print_width)
    if width is None or width <= 0:
        return None
    if width > 200:
        return _plausible_dots(width)
    dots_per_mm = _number(resolution) or 8.0
    return _plausible_dots(width * dots_per_mm) if 0 < dots_per_mm <= 50 else None


def parse_interval(result: object) -> float | None:
    """Seconds from a `GetPollInterval` result."""
    value = _number(result)
    return value if value is not None and 0 < value <= 3600 else None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _plausible_dots(dots: float) -> int | None:
    """Receipt printers print 200 to 2000 dots wide; anything else is a misread."""
    return int(dots) if 200 <= dots <= 2000 else None


class MediaType(StrEnum):
    """The media types we render a ticket in, best first."""

    PNG = "image/png"
    TEXT = "text/plain"

    @property
    def content_type(self) -> str:
        """The Content-Type of the GET answer (its media type matches the one asked for)."""
        return "text/plain; charset=utf-8" if self is MediaType.TEXT else self.value


SERVED: tuple[MediaType, ...] = (MediaType.PNG, MediaType.TEXT)


def media_type_of(value: str) -> str:
    """`text/plain` from `Text/Plain; charset=utf-8`: the bare, lower-case media type."""
    return value.split(";", 1)[0].strip().lower()


def media_offer(remaining: Sequence[MediaType], encodings: Iterable[str] | None) -> list[MediaType]:
    """What to offer: the types still in play, in our order, that the printer reported it
    takes (all of them while it has not said)."""
    if encodings is None:
        return list(remaining)
    accepted = set(encodings)
    return [media for media in remaining if media.value in accepted]


def served_media(value: str | None) -> MediaType | None:
    """The media type a GET asks for, if it is one we serve."""
    if not value:
        return None
    try:
        return MediaType(media_type_of(value))
    except ValueError:
        return None


class Confirmation(StrEnum):
    """What a confirmation code (DELETE `code`) tells about the job the printer had."""

    PRINTED = "printed"  # 2xx
    RETRY = "retry"  # 520 download timeout: not printed, offer it again
    NEXT_MEDIA = "next_media"  # 510/511/512/521: this media type does not work on it
    PRINTER_ERROR = "printer_error"  # 4xx: the printer stopped (paper out mid-job…)
    UNKNOWN = "unknown"  # anything else: it may or may not have printed


def confirmation(code: StatusCode | None) -> Confirmation:
    """The meaning of a confirmation code; a missing one tells nothing."""
    if code is None:
        return Confirmation.UNKNOWN
    if code.kind is StatusClass.ONLINE:
        return Confirmation.PRINTED
    if code.kind is StatusClass.PRINTER_ERROR:
        return Confirmation.PRINTER_ERROR
    if code.code.startswith("520"):
        return Confirmation.RETRY
    if code.code[:3] in ("510", "511", "512", "521"):
        return Confirmation.NEXT_MEDIA
    return Confirmation.UNKNOWN
