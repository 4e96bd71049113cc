"""A fake Clover REST v3 API on loopback that judges every request by our Clover OpenAPI document
(edge/pos/openapi/clover.yaml, written from shared/specs/clover-facts.md: Clover publishes none)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from tests.support.clover_inventory import Inventory, build_inventory, clover_id
from tests.support.clover_spec import (
    SpecViolation,
    has_operation,
    query_parameters,
    validate_refresh,
    validate_request,
    validate_response,
)
from tests.support.fake_clover_query import expansions
from tests.support.fake_clover_routes import ALL_PERMISSIONS, PERMISSION, install, message
from tests.support.fake_server import Fault, LoopbackServer

Json = dict[str, Any]
REFRESH_PATH = "/oauth/v2/refresh"
RATE_LIMIT_HEADERS = {  # §4: the value of each header is the limit
    "X-RateLimit-tokenLimit": "16",
    "X-RateLimit-tokenConcurrentLimit": "5",
    "X-RateLimit-crossTokenLimit": "50",
    "X-RateLimit-crossTokenConcurrentLimit": "10",
}
SYSTEM_TENDERS = [  # (labelKey, label, opensCashDrawer)
    ("com.clover.tender.cash", "Cash", True),
    ("com.clover.tender.credit_card", "Credit Card", False),
    ("com.clover.tender.external_payment", "External Payment", False),
]
ORDER_TYPES = [  # (label, systemOrderTypeId, isDefault): no platform order type yet
    ("Dine In", "DINE-IN-TYPE", True),
    ("To Go", "TAKE-OUT-TYPE", False),
    ("Delivery", "DELIVERY-TYPE", False),
]


@dataclass
class Recorded:
    """One request the fake received (`params` keeps repeated query keys such as filter=)."""

    method: str
    path: str
    query: dict[str, str]
    body: Json | None
    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)


class FakeClover:
    """Clover's merchant, order type, tender, atomic order, order, payment and inventory endpoints
    under /v3/merchants/{mId}, plus OAuth v2 refresh; strict and fault-injectable."""

    def __init__(
        self,
        *,
        merchant_id: str = "MBURGERLAB001",
        token: str = "clover-test-token",
        refresh_token: str = "clover-test-refresh",
        client_id: str = "APPCLIENT0001",
        permissions: frozenset[str] | set[str] = ALL_PERMISSIONS,
        index_lag: int = 0,
        extra_items: int = 0,
        vat: bool = True,
        max_in_flight: int = 5,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.merchant_id = merchant_id
        self.token = token
        self.refresh_token = refresh_token
        self.client_id = client_id
        self.permissions = set(permissions)
        self.index_lag = index_lag
        self.vat = vat
        self.max_in_flight = max_in_flight
        self.currency = "EUR"
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.inventory: Inventory = build_inventory(extra_items)
        self.requests: list[Recorded] = []
        self.violations: list[str] = []  # what the document rejected (requests or our answers)
        self.orders: dict[str, Json] = {}  # every order created, by id (deleted ones too)
        self.deleted: set[str] = set()
        self.payments: dict[str, Json] = {}
        self.tenders: dict[str, Json] = {}
        self.order_types: dict[str, Json] = {}
        self.rule_breaches: list[str] = []  # min/max modifier rules broken by created orders
        charge_id = clover_id("service_charge", "default")
        self.service_charges: dict[str, Json] = {
            charge_id: {"id": charge_id, "name": "Service", "enabled": True,
                        "percentageDecimal": 100_000},  # 10 %
        }  # fmt: skip
        self._tokens = {token}
        self._expired: set[str] = set()
        self._refresh_tokens = {refresh_token}
        self._ids = itertools.count(1)
        self._in_flight: Counter[str] = Counter()
        self._list_calls = 0
        self._indexed_after: dict[str, int] = {}
        self.server = LoopbackServer()
        for label_key, label, drawer in SYSTEM_TENDERS:
            self.add_tender({"labelKey": label_key, "label": label, "opensCashDrawer": drawer},
                             editable=False)  # fmt: skip
        for label, system_id, default in ORDER_TYPES:
            self.add_order_type({"label": label, "taxable": True, "isDefault": default,
                                  "systemOrderTypeId": system_id})  # fmt: skip

    @property
    def url(self) -> str:
        """Base URL for the connector (stands for https://api.clover.com)."""
        return self.server.url

    @property
    def port(self) -> int:
        """The loopback port."""
        return self.server.port

    @property
    def hung(self) -> asyncio.Event:
        """Set when a request is hung (hang_next)."""
        return self.server.hung

    @property
    def base_path(self) -> str:
        """/v3/merchants/{mId} of this fake's merchant."""
        return f"/v3/merchants/{self.merchant_id}"

    def new_id(self, kind: str) -> str:
        """A fresh 13-character [0-9A-Z] id."""
        return clover_id(kind, f"{self.merchant_id}:{next(self._ids)}")

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._middleware])
        install(app, self)
        await self.server.start(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    # fault controls

    async def refuse(self) -> None:
        """Stop listening: connections (open keep-alive ones too) are refused until reset()."""
        await self.server.refuse()

    async def reset(self) -> None:
        """Clear every fault (queued faults, expired tokens) and listen again on the same port;
        created orders, tenders and order types are kept."""
        self.server.faults.clear()
        self._tokens |= self._expired
        self._expired.clear()
        await self.server.listen()

    def _full(self, path: str | None) -> str | None:
        if path is None or path.startswith(("/v3/", "/oauth/")):
            return path
        return self.base_path + path

    def fail_next(
        self,
        status: int,
        retry_after: float | str | None = None,
        *,
        after_processing: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next request (the next one under `path`, when given; a path not starting
        with /v3/ is taken under base_path) with this status, after doing the work if asked.
        A 429 carries the four X-RateLimit-* headers and retry-after when given."""
        self.server.fail_next(
            status, retry_after, after_processing=after_processing, path=self._full(path)
        )

    def hang_next(self, *, after_processing: bool = False, path: str | None = None) -> None:
        """Accept the next request (under `path`, when given) and never answer it."""
        self.server.hang_next(after_processing=after_processing, path=self._full(path))

    def expire_token(self) -> None:
        """The current access token stops working (401) until a refresh or reset()."""
        self._tokens.discard(self.token)
        self._expired.add(self.token)

    def issue_token(self) -> str:
        """A new valid access token, as a merchant generating a new API token; it becomes
        `self.token`."""
        self.token = f"clover-access-{self.new_id('token').lower()}"
        self._tokens.add(self.token)
        return self.token

    def set_price(self, item_id: str, amount: int) -> None:
        """Change an item's price in the inventory (the POS disagrees with the partner)."""
        self.inventory.items[item_id]["price"] = amount

    def posted(self, path: str) -> list[Json]:
        """Bodies of the POSTs received on this path (relative paths are under base_path)."""
        full = self._full(path)
        return [r.body or {} for r in self.requests if r.method == "POST" and r.path == full]

    # plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        params = list(request.query.items())
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                body,
                dict(request.headers),
                params,
            )
        )
        if request.path == REFRESH_PATH:
            return await self._refresh(request.method, body)  # auth: consumes no fault
        # Concurrency per token (§4): a request holds its slot until answered (a hung one, until
        # the fake exits); the sixth at once gets 429 with retry-after.
        slot = request.headers.get("Authorization", "")
        if self._in_flight[slot] >= self.max_in_flight:
            return self._rate_limited("1")
        self._in_flight[slot] += 1
        try:
            return await self._serve(request, handler, raw, params)
        finally:
            self._in_flight[slot] -= 1

    async def _serve(
        self, request: web.Request, handler: Any, raw: bytes, params: list[tuple[str, str]]
    ) -> web.StreamResponse:
        fault = self.server.take_fault(request.path)
        if fault and not fault.after_processing:
            self._judge(request, raw, params)  # record what was off-spec, answer the fault
            return await self._fault(fault)
        refused = self._authorize(request)
        if refused is not None:
            return refused
        problem = self._judge(request, raw, params)
        if problem is not None:
            return self._bad(request, problem)
        response: web.Response = await handler(request)
        if 200 <= response.status < 300:
            raw_answer = response.body
            assert raw_answer is None or isinstance(raw_answer, bytes)
            answer = json.loads(raw_answer) if raw_answer else None
            try:
                validate_response(request.method, request.path, response.status, answer)
            except SpecViolation as err:
                self.violations.append(f"answer to {request.method} {request.path}: {err}")
                return message(500, f"fake answer off-spec: {err}")
        if fault:
            return await self._fault(fault)
        return response

    def _template(self, request: web.Request) -> str | None:
        if request.match_info.http_exception is not None:
            return None
        resource = request.match_info.route.resource
        return resource.canonical if resource is not None else None

    def _authorize(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if token is None or token not in self._tokens:
            return message(401, "401 Unauthorized")  # body: our judgment
        parts = request.path.split("/")
        if len(parts) < 4 or parts[3] != self.merchant_id:  # the token is another merchant's
            return message(401, "401 Unauthorized")
        needed = PERMISSION.get((request.method, self._template(request) or ""))
        if needed is not None and needed not in self.permissions:
            return message(401, "401 Unauthorized")  # Clover has no 403
        return None

    def _judge(self, request: web.Request, raw: bytes, params: list[tuple[str, str]]) -> str | None:
        """Record and return what makes this request off-spec, if anything."""
        template = self._template(request)
        try:
            if template is None or not has_operation(template, request.method):
                raise SpecViolation("not an endpoint of our Clover document")
            validate_request(
                request.method, request.path, body=raw or None, query=params,
                headers=list(request.headers.items()),
            )  # fmt: skip
            unknown = {k for k, _ in params} - query_parameters(template, request.method)
            if unknown:
                raise SpecViolation(f"unknown query parameters {sorted(unknown)}")
            try:
                expansions(request.query.getall("expand", []))
            except ValueError as err:
                raise SpecViolation(str(err)) from err
        except SpecViolation as err:
            problem = f"{request.method} {request.path}: {err}"
            self.violations.append(problem)
            return str(err)
        return None

    def _bad(self, request: web.Request, problem: str) -> web.Response:
        unmatched = request.match_info.http_exception
        if unmatched is not None:  # 404 or 405, as the router says
            return message(unmatched.status, unmatched.reason)
        if "/atomic_order/" in request.path:
            return message(400, "bad_request", problem)
        return message(400, problem)

    def _rate_limited(self, retry_after: str | None) -> web.Response:
        headers = dict(RATE_LIMIT_HEADERS)
        if retry_after:
            headers["retry-after"] = retry_after
        return web.Response(status=429, headers=headers)  # no body is documented

    async def _fault(self, fault: Fault) -> web.Response:
        if fault.status is None:
            await self.server.hang()
            return message(503, "hung")
        if fault.status == 429:
            return self._rate_limited(fault.retry_after)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
        return web.json_response(
            {"message": f"{fault.status} injected fault"}, status=fault.status, headers=headers
        )

    async def _refresh(self, method: str, body: Json | None) -> web.Response:
        """POST /oauth/v2/refresh {client_id, refresh_token}: a new pair; refresh tokens are
        single-use (§2). Error bodies are undocumented: 401 {"message"} is our judgment."""
        try:
            if method != "POST":
                raise SpecViolation(f"{method} {REFRESH_PATH}: only POST")
            validate_refresh(body)
        except SpecViolation as err:
            self.violations.append(f"{method} {REFRESH_PATH}: {err}")
            return message(400, str(err))
        assert body is not None
        if body["client_id"] != self.client_id or body["refresh_token"] not in self._refresh_tokens:
            return message(401, "invalid refresh token")
        self._refresh_tokens.discard(body["refresh_token"])
        self.issue_token()
        self.refresh_token = f"clover-refresh-{self.new_id('refresh').lower()}"
        self._refresh_tokens.add(self.refresh_token)
        now_s = self.clock() // 1000
        return web.json_response(
            {
                "access_token": self.token,
                "access_token_expiration": now_s + 1800,
                "refresh_token": self.refresh_token,
                "refresh_token_expiration": now_s + 30 * 86400,
            }
        )

    # state helpers used by the routes

    def href(self, path: str) -> str:
        """An absolute href under this merchant."""
        return f"{self.url}{self.base_path}{path}"

    def add_tender(self, fields: Json, *, editable: bool = True) -> Json:
        """A tender with a generated id (what POST /tenders does)."""
        tender_id = self.new_id("tender")
        tender = {
            "id": tender_id, "editable": editable,
            "enabled": True, "visible": True, "opensCashDrawer": False, "supportsTipping": False,
            **fields,
        }  # fmt: skip
        self.tenders[tender_id] = tender
        return tender

    def add_order_type(self, fields: Json) -> Json:
        """An order type with a generated id (what POST /order_types does)."""
        type_id = self.new_id("order_type")
        order_type = {
            "id": type_id, "taxable": True,
            "isDefault": False, "filterCategories": False, "isHidden": False,
            "hoursAvailable": "ALL", **fields,
        }  # fmt: skip
        self.order_types[type_id] = order_type
        return order_type
