"""A fake Lightspeed K-Series "Order and Pay" API on loopback, strict and fault-injectable.

It checks every request, and every successful answer, against our OpenAPI document
(edge/pos/openapi/lightspeed_k.yaml). An off-spec request is recorded in ``violations`` and
refused with the vendor's 400 shape. Orders and payments are only acknowledged (200
``{"status": "ok"}``). Their outcome comes later as notifications; see fake_lightspeed_pos.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.fake_lightspeed_auth import TOKEN_PATH, TokenIssuer
from tests.support.fake_lightspeed_errors import (
    injected,
    refusal,
    simple_error,
    spring_entry,
    spring_error,
)
from tests.support.fake_lightspeed_orders import external_reference, receipt, snapshot
from tests.support.fake_lightspeed_pos import LightspeedPos, Notify
from tests.support.fake_server import Fault, LoopbackServer
from tests.support.lightspeed_menu import (
    BUSINESS_ID,
    BUSINESS_LOCATION_ID,
    BUSINESS_NAME,
    COUNTRY,
    CURRENCY,
    LOCATION_NAME,
    PROFILES,
    TIME_ZONE,
)
from tests.support.lightspeed_spec import (
    FORM,
    FieldError,
    SpecViolation,
    form_fields,
    query_parameters,
    validate_request,
    validate_response,
)

Json = dict[str, Any]
ORDER_OBJECTS = {"/o/op/1/order/toGo": "toGoOrder", "/o/op/1/order/local": "localOrder"}


@dataclass
class Recorded:
    """One request the fake received (a form body is recorded as a dict of its fields)."""

    method: str
    path: str
    query: dict[str, str]
    body: Json | list[Any] | None
    headers: dict[str, str] = field(default_factory=dict)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakeLightspeedK(TokenIssuer, LightspeedPos):
    """Lightspeed K-Series Order and Pay for one business location, with the POS behind it."""

    def __init__(
        self,
        *,
        client_id: str = "edge-box",
        client_secret: str = "edge-box-secret",
        refresh_token: str = "lsk-refresh-initial",
        token_lifetime_s: float = 3600.0,
        scope: str = "orders-api financial-api",
        business_location_id: int = BUSINESS_LOCATION_ID,
        endpoint_id: str = "store-edge",
        webhook_url: str = "https://cloud.example.test/hooks/lightspeed/store-edge",
        on_notification: Notify | None = None,
        hold_results: bool = False,
        provide_account: bool = True,
        subscribe_delivered: bool = True,
        extra_items: int = 0,
    ) -> None:
        TokenIssuer.__init__(
            self,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            token_lifetime_s=token_lifetime_s,
            scope=scope,
        )
        LightspeedPos.__init__(
            self,
            business_location_id=business_location_id,
            endpoint_id=endpoint_id,
            webhook_url=webhook_url,
            on_notification=on_notification,
            hold_results=hold_results,
            provide_account=provide_account,
            subscribe_delivered=subscribe_delivered,
            extra_items=extra_items,
        )
        self.requests: list[Recorded] = []
        self._references: set[tuple[int, str]] = set()  # (location, order reference)
        self._payment_refs: set[tuple[int, str]] = set()
        self.server = LoopbackServer(auth_paths=(TOKEN_PATH,))

    @property
    def url(self) -> str:
        """Base URL for the connector."""
        return self.server.url

    @property
    def port(self) -> int:
        """The loopback port."""
        return self.server.port

    @property
    def hung(self) -> asyncio.Event:
        """Set when a request is hung (hang_next)."""
        return self.server.hung

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._middleware])
        add = app.router
        add.add_post(TOKEN_PATH, self._token)
        add.add_get("/o/op/data/businesses", self._businesses)
        add.add_get("/o/op/1/onlineOrderReadiness", self._readiness)
        add.add_get("/o/op/data/account-profiles", self._profiles)
        add.add_get("/o/op/1/menu/list", self._menus)
        add.add_get("/o/op/2/menu/load/{menuId}", self._menu)
        add.add_post("/o/op/1/itemAvailability", self._availability)
        add.add_get("/f/data/businesses", self._financial_businesses)
        add.add_get("/o/wh/1/webhook/{endpointId}", self._webhook)
        add.add_post("/o/op/1/order/toGo", self._place_order)
        add.add_post("/o/op/1/order/local", self._place_order)
        add.add_post("/o/op/1/pay", self._pay)
        add.add_get("/o/op/1/order/accounts/{accountIdentifier}", self._account)
        add.add_get("/f/finance/{businessLocationId}/saleByExternalReference", self._sale)
        await self.server.start(app)
        self._start_pos()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop_pos()
        await self.server.stop()

    # fault controls

    async def refuse(self) -> None:
        """Stop listening and drop idle keep-alive connections: refused until reset()."""
        await self.server.refuse()

    async def reset(self) -> None:
        """Clear every HTTP fault and listen again; orders, accounts and scripted results stay."""
        self.server.faults.clear()
        await self.server.listen()

    def fail_next(
        self,
        status: int,
        retry_after: float | str | None = None,
        *,
        after_processing: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next request (on ``path``, a prefix) with this HTTP status.

        Without ``path``, token requests never consume it. With ``after_processing`` the work
        is done first (the order is accepted and its result will come), then the client gets
        the error.
        """
        self.server.fail_next(status, retry_after, after_processing=after_processing, path=path)

    def hang_next(self, *, after_processing: bool = False, path: str | None = None) -> None:
        """Accept the next request (on ``path``) and never answer it; ``hung`` is set then."""
        self.server.hang_next(after_processing=after_processing, path=path)

    def posted(self, path: str) -> list[Json]:
        """Bodies of the POSTs received on this path."""
        return [
            r.body if isinstance(r.body, dict) else {}
            for r in self.requests
            if r.method == "POST" and r.path == path
        ]

    # plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        form = request.content_type == FORM
        try:
            body = dict(parse_qsl(raw.decode())) if form else (json.loads(raw) if raw else None)
        except ValueError as err:
            body = None
            parse_error: str | None = f"JSON parse error: {err}"
        else:
            parse_error = None
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), body, dict(request.headers))
        )
        fault = self.server.take_fault(request.path)
        if fault and not fault.after_processing:
            return await self._fault(fault, request)
        route = request.match_info.route.resource
        if route is None:
            self.violations.append(f"{request.method} {request.path}: no such operation")
            return simple_error(404, "No handler found", request.path)
        if request.path != TOKEN_PATH and (denied := self._check_bearer(request)) is not None:
            return denied
        try:
            if parse_error is not None:
                raise SpecViolation(parse_error)
            validate_request(
                request.method,
                request.path,
                body=raw or None,
                query=dict(request.query),
                headers=dict(request.headers),
                content_type=request.content_type,
            )
            self._check_extras(request, route.canonical, body if form else None)
        except SpecViolation as err:
            self.violations.append(f"{request.method} {request.path}: {err}")
            return refusal(request.path, err, ORDER_OBJECTS.get(request.path))
        response: web.StreamResponse = await handler(request)
        if 200 <= response.status < 300 and isinstance(response, web.Response):
            try:
                validate_response(
                    request.method,
                    request.path,
                    response.status,
                    json.loads(response.body),  # type: ignore[arg-type]
                    query=dict(request.query),
                )
            except SpecViolation as err:
                self.violations.append(f"answer to {request.method} {request.path}: {err}")
                return simple_error(500, f"fake answer off-spec: {err}", request.path)
        if fault:
            return await self._fault(fault, request)
        return response

    def _check_extras(self, request: web.Request, template: str, form: Json | None) -> None:
        unknown = set(request.query) - query_parameters(template, request.method)
        if unknown:
            raise SpecViolation(f"unknown query parameters {sorted(unknown)}")
        if form is not None and (extra := set(form) - form_fields(template)):
            raise SpecViolation(f"unknown form fields {sorted(extra)}")

    async def _fault(self, fault: Fault, request: web.Request) -> web.Response:
        if fault.status is None:
            await self.server.hang()
            return simple_error(503, "hung", request.path)
        return injected(fault.status, request.path, fault.retry_after)

    def _location_denied(self, request: web.Request, location: int) -> web.Response | None:
        if location == self.business_location_id:
            return None
        # our judgment: the token has no access to another location
        return simple_error(403, f"access denied to business location {location}", request.path)

    def _query_location(self, request: web.Request) -> int:
        return int(request.query["businessLocationId"])

    # endpoints: auth and discovery

    async def _businesses(self, request: web.Request) -> web.Response:
        location = {"id": self.business_location_id, "name": LOCATION_NAME}
        business = {"id": BUSINESS_ID, "name": BUSINESS_NAME, "businessLocations": [location]}
        return web.json_response([business])

    async def _readiness(self, request: web.Request) -> web.Response:
        if (denied := self._location_denied(request, self._query_location(request))) is not None:
            return denied
        return web.json_response(self.readiness_body())

    async def _profiles(self, request: web.Request) -> web.Response:
        if (denied := self._location_denied(request, self._query_location(request))) is not None:
            return denied
        profiles = [
            {"id": pid, "code": code, "name": name, "deliveryMode": mode}
            for pid, code, name, mode in PROFILES
        ]
        body = {"businessLocationId": self.business_location_id, "accountProfileList": profiles}
        return web.json_response(body)

    async def _menus(self, request: web.Request) -> web.Response:
        if (denied := self._location_denied(request, self._query_location(request))) is not None:
            return denied
        return web.json_response(self.catalog.menus())

    async def _menu(self, request: web.Request) -> web.Response:
        if (denied := self._location_denied(request, self._query_location(request))) is not None:
            return denied
        menu_id = int(request.match_info["menuId"])
        profile = request.query.get("accountProfile", "")
        rich = request.query.get("richContent", "false").lower() == "true"
        menu = self.catalog.menu(menu_id, profile, rich)
        if menu is None:
            return simple_error(404, f"menu not found for id {menu_id}", request.path)
        return web.json_response(menu)

    async def _availability(self, request: web.Request) -> web.Response:
        if (denied := self._location_denied(request, self._query_location(request))) is not None:
            return denied
        body: Json = await request.json()
        page = int(request.query.get("page", "0"))
        size = int(request.query.get("size", "25"))
        found = self.catalog.restricted(body["skus"])
        pages = -(-len(found) // size)
        return web.json_response(
            {
                "data": found[page * size : (page + 1) * size],
                "metadata": {
                    "warnings": [],
                    "current": {"page": page, "pageSize": size},
                    "total": len(found),
                    "totalPages": pages,
                },
            }
        )

    async def _financial_businesses(self, request: web.Request) -> web.Response:
        page = int(request.query.get("page", "0"))
        size = int(request.query.get("size", "1000"))
        location = {
            "blName": LOCATION_NAME,
            "blID": self.business_location_id,
            "country": COUNTRY,
            "timezone": TIME_ZONE,
        }
        business = {
            "businessName": BUSINESS_NAME,
            "businessId": BUSINESS_ID,
            "currencyCode": CURRENCY,
            "businessLocations": [location],
        }
        listed = [business][page * size : (page + 1) * size]
        href = f"{self.url}/f/data/businesses?page={page}&size={size}"
        return web.json_response(
            {"_embedded": {"businessList": listed}, "_links": {"self": {"href": href}}}
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpointId"]
        hook = self.webhooks.get(endpoint)
        if hook is None:
            return simple_error(404, f"endpoint ID not found for {endpoint}", request.path)
        return web.json_response(hook)

    # endpoints: orders and payments

    async def _place_order(self, request: web.Request) -> web.Response:
        body: Json = await request.json()
        path = request.path
        obj = ORDER_OBJECTS[path]
        now = datetime.now(UTC)
        past = [
            FieldError(f, "future", None, body[f], "must be a future date")
            for f in ("orderCollectionTimeAsIso8601", "scheduledTimeForOrderAsIso8601")
            if f in body and _parse_time(body[f]) <= now
        ]
        if past:
            self.violations.append(
                f"POST {path}: {', '.join(e.field for e in past)} not in the future"
            )
            return spring_error(obj, path, [spring_entry(obj, e, "Future") for e in past])
        location, reference = body["businessLocationId"], body["thirdPartyReference"]
        if (denied := self._location_denied(request, location)) is not None:
            return denied
        if body["endpointId"] not in self.webhooks:
            bad = FieldError("endpointId", "endpoint", None, body["endpointId"], "not registered")
            return spring_error(obj, path, [spring_entry(obj, bad, "EndpointNotFound")])
        if (location, reference) in self._references:
            return web.json_response(
                {"status": "fail", "msg": f"reference has already been used {reference}"},
                status=409,
            )
        code = body.get("collectionCode")
        if code and any(
            a["collectionCode"] == code and a["status"] == "OPEN" for a in self.orders.values()
        ):
            taken = FieldError("collectionCode", "unique", None, code, "already used")
            return spring_error(obj, path, [spring_entry(obj, taken, "Unique")])
        self._references.add((location, reference))
        self._accept_order(body, path)
        return web.json_response({"status": "ok"})

    async def _pay(self, request: web.Request) -> web.Response:
        body: Json = await request.json()
        location, reference = body["businessLocationId"], body["thirdPartyPaymentReference"]
        if (denied := self._location_denied(request, location)) is not None:
            return denied
        if body["endpointId"] not in self.webhooks:
            return simple_error(
                400, f"endpoint ID not found for {body['endpointId']}", request.path
            )
        if (location, reference) in self._payment_refs:
            return simple_error(400, f"reference has already been used {reference}", request.path)
        self._payment_refs.add((location, reference))
        self._accept_payment(body)
        return web.json_response({"status": "ok"})

    # endpoints: looking orders up

    async def _account(self, request: web.Request) -> web.Response:
        location = self._query_location(request)
        account_id = request.match_info["accountIdentifier"]
        if not re.fullmatch(r"A[0-9]+\.[0-9]+", account_id):
            return simple_error(400, "Invalid account identifier", request.path)
        account = self.orders.get(account_id)
        if account is None or account["businessLocationId"] != location:
            return simple_error(404, f"account not found for BL {location}", request.path)
        return web.json_response(snapshot(account))

    async def _sale(self, request: web.Request) -> web.Response:
        location = int(request.match_info["businessLocationId"])
        wanted = request.query["externalReferenceId"]
        for account in self.orders.values():
            refs = {external_reference(location, r) for r in account["references"]}
            if (
                account["businessLocationId"] == location
                and account["status"] == "CLOSED"
                and wanted in refs
            ):
                return web.json_response(receipt(account, account["receiptNumber"]))
        return simple_error(404, f"sale not found for external reference {wanted}", request.path)
