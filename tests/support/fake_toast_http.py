"""The fake Toast's HTTP pieces: Toast's error body, recorded requests, injected faults,
and the two ways Toast paginates (page tokens and page numbers)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from yarl import URL

from tests.support.fake_server import Fault
from tests.support.fake_toast_values import parse_time
from tests.support.toast_menu import CONFIG_UPDATED
from tests.support.toast_spec import SpecViolation

Json = dict[str, Any]
LOGIN = "/authentication/v1/authentication/login"
# ErrorMessage `code` per HTTP status: Toast documents the field, not its values (ours)
CODES = {400: 10400, 401: 10401, 403: 10403, 404: 10404, 409: 10409, 415: 10415, 429: 10429}
EARLIEST = datetime(2015, 12, 1, tzinfo=UTC)


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    body: Json | None
    headers: dict[str, str] = field(default_factory=dict)


def error(
    status: int, message: str, code: int | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """Toast's ErrorMessage body (developer guide "API responses and errors")."""
    body = {
        "status": status,
        "code": code or CODES.get(status, 10500),
        "message": message,
        "messageKey": None,
        "fieldName": None,
        "link": None,
        "requestId": str(uuid.uuid4()),
        "developerMessage": None,
        "errors": [],
        "canRetry": None,
    }
    return web.json_response(body, status=status, headers=headers)


def fault_response(fault: Fault) -> web.Response:
    """The answer of an injected fault (a hang's answer is sent only when the fake exits)."""
    if fault.status is None:
        return error(503, "hung request released")
    headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
    message = "Too many requests" if fault.status == 429 else "injected fault"
    return error(fault.status, message, headers=headers)


def config_page(
    objects: list[Json], path: str, query: Mapping[str, str], size: int
) -> tuple[list[Json], dict[str, str]]:
    """One page of a configuration list and its headers: `Toast-Next-Page-Token` unless it is
    the last page (the token is opaque: ours encodes the path and an offset). ValueError for
    a token or a lastModified the fake did not issue or cannot read."""
    if "lastModified" in query:
        try:
            since = parse_time(query["lastModified"])
        except ValueError:
            raise ValueError("lastModified is not an ISO-8601 date and time") from None
        if since >= parse_time(CONFIG_UPDATED):  # the whole configuration dates from then
            objects = []
    start = 0
    token = query.get("pageToken")
    if token is not None:
        try:
            token_path, offset = base64.urlsafe_b64decode(token.encode()).decode().split("|")
            start = int(offset)
        except ValueError:
            token_path = ""
        if token_path != path:
            raise ValueError(f"Invalid pageToken {token!r}")
    end = start + size
    headers = {}
    if end < len(objects):
        headers["Toast-Next-Page-Token"] = base64.urlsafe_b64encode(
            f"{path}|{end}".encode()
        ).decode()
    return objects[start:end], headers


def check_bulk_query(query: Mapping[str, str]) -> None:
    """ordersBulk's parameter descriptions, enforced: SpecViolation when one is broken."""
    if ("startDate" in query) != ("endDate" in query):
        raise SpecViolation("startDate and endDate go together")
    if "startDate" not in query and "businessDate" not in query:
        raise SpecViolation("give startDate and endDate, or businessDate")
    if "startDate" in query:
        try:
            start = parse_time(query["startDate"], fraction=True)
            end = parse_time(query["endDate"], fraction=True)
        except ValueError as err:
            raise SpecViolation(
                f"{err} is not ISO-8601 with a fraction of a second "
                "(e.g. 2016-01-01T14:13:12.000+0400)"
            ) from None
        if start <= EARLIEST or end <= start:
            raise SpecViolation("startDate must be after 2015-12-01 and before endDate")
    if "businessDate" in query and not query["businessDate"].isdigit():
        raise SpecViolation("businessDate is yyyymmdd")
    if not 1 <= int(query.get("pageSize", 100)) <= 100:
        raise SpecViolation("pageSize is 1 to 100")
    if int(query.get("page", 1)) < 1:
        raise SpecViolation("page starts at 1")


def bulk_links(url: URL, page: int, size: int, total: int) -> list[str]:
    """ordersBulk's `Link` header fields (Toast sends one field per relation); "next" only
    while more orders follow (our judgment: Toast's example shows a middle page)."""
    links = []
    for rel, number in (("first", 1), ("self", page), ("prev", page - 1), ("next", page + 1)):
        if number < 1 or (rel == "next" and page * size >= total):
            continue
        links.append(f'<{url.update_query(page=str(number))}>; rel="{rel}"')
    return links
