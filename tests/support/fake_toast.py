"""A fake Toast API on loopback that validates every request against Toast's published
Swagger documents (orders, menus) and our extra document (login, configuration, stock).

Like Toast, it answers the whole published menu in one /menus/v2/menus document and the
stock in one /stock/v1/inventory array: neither is paginated."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self

from aiohttp import web

from tests.support.fake_server import LoopbackServer
from tests.support.fake_toast_http import (
    LOGIN,
    Fault,
    Recorded,
    bulk_links,
    check_bulk_query,
    config_page,
    error,
    fault_response,
)
from tests.support.fake_toast_orders import OrderPricer, void_order
from tests.support.fake_toast_values import OrderRejected, Restaurant, parse_time, toast_time
from tests.support.toast_menu import (
    CONFIG_UPDATED,
    NAMESPACE,
    RESTAURANT_GUID,
    ToastMenu,
    alternate_payment_types,
    dining_options,
    pos_id,
    service_charges,
)
from tests.support.toast_spec import (
    SpecViolation,
    check_parameters,
    operation,
    validate_request_body,
    validate_response,
)

Json = dict[str, Any]
PRICES = "/orders/v2/prices"
ORDERS = "/orders/v2/orders"
BULK = "/orders/v2/ordersBulk"
MENUS = "/menus/v2/menus"
METADATA = "/menus/v2/metadata"
INVENTORY = "/stock/v1/inventory"
STOCK_STATUSES = ("OUT_OF_STOCK", "QUANTITY")
GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
BODY: web.RequestKey[Any] = web.RequestKey("body", object)  # the parsed JSON body


class FakeToast:
    """Toast's authentication, menus, configuration and orders endpoints, strict and
    fault-injectable."""

    def __init__(
        self,
        *,
        client_id: str = "toast-client-id",
        client_secret: str = "toast-client-secret",
        restaurant_guid: str = RESTAURANT_GUID,
        token_lifetime_s: int = 86400,
        config_page_size: int = 5,
        clock: Callable[[], datetime] | None = None,
        refuse_payment_mismatch: bool = False,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.restaurant_guid = restaurant_guid
        self.token_lifetime_s = token_lifetime_s
        self.config_page_size = config_page_size
        self.clock = clock or (lambda: datetime.now(UTC))
        self.menu = ToastMenu()
        self.stock_readable = True  # False: the API client lacks the stock:read scope (403)
        self.menu_updated = CONFIG_UPDATED
        self.config = {
            "/config/v2/diningOptions": dining_options(),
            "/config/v2/alternatePaymentTypes": alternate_payment_types(),
            "/config/v2/serviceCharges": service_charges(),
        }
        self.restaurant = Restaurant(
            self.menu,
            {d["guid"]: d for d in self.config["/config/v2/diningOptions"]},
            {p["guid"]: p for p in self.config["/config/v2/alternatePaymentTypes"]},
            {s["guid"]: s for s in self.config["/config/v2/serviceCharges"]},
            refuse_payment_mismatch=refuse_payment_mismatch,
        )
        self.requests: list[Recorded] = []
        self.violations: list[str] = []  # what the validator rejected (requests or our answers)
        self.orders: dict[str, Json] = {}  # every order created, by GUID
        self.voided: set[str] = set()
        self.logins = 0  # successful logins
        self.payment_mismatches: list[str] = []  # accepted payments not equal to the total
        self._modified: dict[str, datetime] = {}
        self._token: str | None = None
        self._token_expires = 0.0
        self._ids = itertools.count(1)
        self._display_numbers = itertools.count(1)
        self.server = LoopbackServer(auth_paths=(LOGIN,))

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
        app.router.add_post(LOGIN, self._login)
        app.router.add_get(METADATA, self._metadata)
        app.router.add_get(MENUS, self._menus)
        app.router.add_get(INVENTORY, self._inventory)
        for path in self.config:
            app.router.add_get(path, self._config)
        app.router.add_post(PRICES, self._prices)
        app.router.add_post(ORDERS, self._create_order)
        app.router.add_get(ORDERS + "/{guid}", self._get_order)
        app.router.add_get(BULK, self._orders_bulk)
        app.router.add_post(ORDERS + "/{orderGuid}/void", self._void)
        await self.server.start(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    # fault controls

    async def refuse(self) -> None:
        """Stop listening: connections (open keep-alive ones too) are refused until reset()."""
        await self.server.refuse()

    async def reset(self) -> None:
        """Clear every fault and listen again on the same port; created orders are kept."""
        self.server.faults.clear()
        self.restaurant.rejected.clear()
        await self.server.listen()

    def fail_next(
        self,
        status: int,
        retry_after: float | str | None = None,
        *,
        after_processing: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next request (on `path`, a prefix, if given) with this HTTP status,
        after doing the work if asked. Login requests take only faults aimed at LOGIN."""
        self.server.fail_next(status, retry_after, after_processing=after_processing, path=path)

    def hang_next(self, *, after_processing: bool = False, path: str | None = None) -> None:
        """Accept the next request (on `path`, if given) and never answer it."""
        self.server.hang_next(after_processing=after_processing, path=path)

    def expire_token(self) -> None:
        """The current access token stops working: the next call answers 401."""
        self._token = None

    def reject_guids(self, guids: set[str]) -> None:
        """Orders naming these GUIDs (items, groups, options, configuration) answer 404,
        as if the restaurant had deleted them since the connector read the menu."""
        self.restaurant.rejected |= guids

    def set_price(self, item: str, price: Decimal | float | str) -> None:
        """Change a menu item's or option's price (a GUID or one of our fixture ids);
        the menus' lastUpdated moves on."""
        guid = item if item in self.menu.items or item in self.menu.options else pos_id(item)
        self.menu.set_price(guid, Decimal(str(price)))
        self.menu_updated = toast_time(self.clock())

    def add_pos_card_payment(self, order_guid: str) -> None:
        """A card payment taken at the restaurant on the order's first check (such an
        order can no longer be voided through the API)."""
        check = self.orders[order_guid]["checks"][0]
        check["payments"].append(
            {
                "guid": self._new_guid(),
                "entityType": "OrderPayment",
                "type": "CREDIT",
                "cardType": "VISA",
                "last4Digits": "4242",
                "cardEntryMode": "EMV_CHIP_SIGN",
                "amount": check["totalAmount"],
                "tipAmount": 0.0,
                "paidDate": toast_time(self.clock()),
                "paymentStatus": "CAPTURED",
                "refundStatus": "NONE",
                "orderGuid": order_guid,
                "checkGuid": check["guid"],
            }
        )

    def posted(self, path: str) -> list[Json]:
        """Bodies of the POSTs received on this path."""
        return [r.body or {} for r in self.requests if r.method == "POST" and r.path == path]

    # plumbing

    def _new_guid(self) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.restaurant_guid}/entity/{next(self._ids)}"))

    async def _fault(self, fault: Fault) -> web.Response:
        if fault.status is None:
            await self.server.hang()
        return fault_response(fault)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            body, not_json = (json.loads(raw) if raw else None), None
        except ValueError as err:
            body, not_json = None, str(err)
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), body, dict(request.headers))
        )
        fault = self.server.take_fault(request.path)
        if fault and not fault.after_processing:
            return await self._fault(fault)
        response = await self._serve(request, handler, raw, body, not_json)
        if fault:
            return await self._fault(fault)
        return response

    def _violation(self, request: web.Request, err: str, status: int = 400) -> web.Response:
        self.violations.append(f"{request.method} {request.path}: {err}")
        return error(status, f"request rejected by the Toast API description: {err}")

    async def _serve(
        self, request: web.Request, handler: Any, raw: bytes, body: Any, not_json: str | None
    ) -> web.StreamResponse:
        unmatched = request.match_info.http_exception
        resource = request.match_info.route.resource
        op = (
            None if unmatched or resource is None else operation(request.method, resource.canonical)
        )
        if op is None:
            status = unmatched.status if unmatched else 404
            return self._violation(request, "no such Toast operation", status)
        if request.path != LOGIN and not self._authorized(request):
            return error(
                401, "Authentication failed: the access token is missing, invalid or expired"
            )
        if raw and request.content_type != "application/json":
            return self._violation(request, f"Content-Type {request.content_type!r}", 415)
        try:
            check_parameters(op, request.headers, request.query)
            if not_json is not None:
                raise SpecViolation(f"the body is not JSON: {not_json}")
            validate_request_body(op, body)
            if request.path == BULK:
                check_bulk_query(request.query)
        except SpecViolation as err:
            return self._violation(request, str(err))
        restaurant = request.headers.get("Toast-Restaurant-External-ID")
        if request.path != LOGIN and restaurant != self.restaurant_guid:
            return error(403, f"The API client does not have access to restaurant {restaurant}")
        request[BODY] = body
        response: web.Response = await handler(request)
        if 200 <= response.status < 300:
            try:
                answer = json.loads(response.text or "null")
                validate_response(op, answer, unpersisted=request.path == PRICES)
            except SpecViolation as err:
                self.violations.append(f"answer to {request.method} {request.path}: {err}")
                return error(500, f"fake answer off-spec: {err}")
        return response

    def _authorized(self, request: web.Request) -> bool:
        return (
            self._token is not None
            and time.monotonic() < self._token_expires
            and request.headers.get("Authorization") == f"Bearer {self._token}"
        )

    # endpoints

    async def _login(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if (body["clientId"], body["clientSecret"]) != (self.client_id, self.client_secret):
            return error(401, "Invalid client credentials")
        self.logins += 1
        self._token = f"fake-toast-token-{self.logins}-{uuid.uuid4().hex}"
        self._token_expires = time.monotonic() + self.token_lifetime_s
        token = {
            "tokenType": "Bearer",
            "scope": None,
            "expiresIn": self.token_lifetime_s,
            "accessToken": self._token,
            "idToken": None,
            "refreshToken": None,
        }
        return web.json_response({"token": token, "status": "SUCCESS"})

    async def _metadata(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"restaurantGuid": self.restaurant_guid, "lastUpdated": self.menu_updated}
        )

    async def _menus(self, request: web.Request) -> web.Response:
        return web.json_response(self.menu.restaurant(self.restaurant_guid, self.menu_updated))

    async def _inventory(self, request: web.Request) -> web.Response:
        if not self.stock_readable:
            return error(403, "The API client does not have the stock:read scope")
        status = request.query.get("status")
        if status is not None and status not in STOCK_STATUSES:
            return error(400, f"status must be one of {', '.join(STOCK_STATUSES)}")
        return web.json_response(self.menu.inventory(status))

    async def _config(self, request: web.Request) -> web.Response:
        try:
            page, headers = config_page(
                self.config[request.path], request.path, request.query, self.config_page_size
            )
        except ValueError as err:
            return error(400, str(err))
        return web.json_response(page, headers=headers)

    def _pricer(self, persist: bool) -> OrderPricer:
        return OrderPricer(
            self.restaurant,
            self.clock(),
            self._new_guid if persist else None,
            self._display_numbers if persist else None,
        )

    async def _prices(self, request: web.Request) -> web.Response:
        try:
            order = self._pricer(persist=False).price(request[BODY])
        except OrderRejected as err:
            return error(err.status, err.message, err.code)
        return web.json_response(order)

    async def _create_order(self, request: web.Request) -> web.Response:
        pricer = self._pricer(persist=True)
        try:
            order = pricer.price(request[BODY])
        except OrderRejected as err:
            return error(err.status, err.message, err.code)
        used = self.restaurant.external_ids
        for entity, ids in pricer.external_ids.items():
            taken = [i for i in ids if i in used.get(entity, set())]
            if taken or len(set(ids)) != len(ids):
                # our judgment: Toast says the request "will fail", not with which status
                return error(409, f"The {entity} externalId {(taken or ids)[0]} is already used")
        for entity, ids in pricer.external_ids.items():
            used.setdefault(entity, set()).update(ids)
        for check in order["checks"]:
            for payment in check["payments"]:
                payment["orderGuid"] = order["guid"]
        self.payment_mismatches += [f"order {order['guid']}: {m}" for m in pricer.mismatches]
        self.orders[order["guid"]] = order
        self._modified[order["guid"]] = self.clock()
        return web.json_response(order)

    def _find(self, guid: str) -> Json | web.Response:
        if not re.fullmatch(GUID, guid):
            return error(400, f"The GUID {guid!r} was malformed")
        order = self.orders.get(guid)
        if order is None:
            return error(404, f"Order {guid} was not found")
        return order

    async def _get_order(self, request: web.Request) -> web.Response:
        found = self._find(request.match_info["guid"])
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def _orders_bulk(self, request: web.Request) -> web.Response:
        query = request.query
        size, page = int(query.get("pageSize", 100)), int(query.get("page", 1))
        if "startDate" in query:
            start, end = parse_time(query["startDate"]), parse_time(query["endDate"])
            chosen = [g for g, m in self._modified.items() if start <= m < end]
        else:
            day = int(query["businessDate"])
            chosen = [g for g, o in self.orders.items() if o["businessDate"] == day]
        chosen.sort(key=lambda g: (self._modified[g], g))
        answer = web.json_response([self.orders[g] for g in chosen[(page - 1) * size :][:size]])
        for link in bulk_links(request.url, page, size, len(chosen)):
            answer.headers.add("Link", link)
        return answer

    async def _void(self, request: web.Request) -> web.Response:
        found = self._find(request.match_info["orderGuid"])
        if isinstance(found, web.Response):
            return found
        body = request[BODY] or {}
        if not all((body.get(k) or {}).get("voidAll") is True for k in ("selections", "payments")):
            return error(
                400,
                'Voiding needs {"selections": {"voidAll": true}, "payments": {"voidAll": true}}',
            )
        if found["voided"]:
            return web.json_response(found)  # voiding twice is harmless
        payments = [p for c in found["checks"] for p in c["payments"]]
        if any(p["type"] != "OTHER" for p in payments):
            return error(400, "Only orders whose payments are all OTHER can be voided")
        now = self.clock()
        void_order(found, now)
        self.voided.add(found["guid"])
        self._modified[found["guid"]] = now
        return web.json_response(found)
