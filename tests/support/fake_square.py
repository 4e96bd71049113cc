"""A fake Square API on loopback that validates every request against Square's published spec."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Self

from aiohttp import web

from tests.support.fake_server import Fault, LoopbackServer
from tests.support.square_catalog import build_catalog
from tests.support.square_spec import (
    SpecViolation,
    enum_values,
    query_parameters,
    validate_request,
    validate_response,
)

Json = dict[str, Any]
NOW = "2026-11-23T18:02:12.000Z"
EXTERNAL_TYPES = {
    "CHECK", "BANK_TRANSFER", "OTHER_GIFT_CARD", "CRYPTO", "SQUARE_CASH", "SOCIAL",
    "EXTERNAL", "EMONEY", "CARD", "STORED_BALANCE", "FOOD_VOUCHER", "OTHER",
}  # fmt: skip
# ListCatalog without `types`: the top-level types (the spec's list, at our API version)
DEFAULT_TYPES = frozenset({
    "ITEM", "CATEGORY", "TAX", "DISCOUNT", "MODIFIER_LIST", "PRICING_RULE", "PRODUCT_SET",
    "TIME_PERIOD", "MEASUREMENT_UNIT", "SUBSCRIPTION_PLAN", "ITEM_OPTION",
    "CUSTOM_ATTRIBUTE_DEFINITION", "QUICK_AMOUNTS_SETTINGS",
})  # fmt: skip
PAGE_SIZE = 10  # Square's is 100: small, so that the recorded catalog spans several pages


def _error(
    status: int, code: str, detail: str, category: str = "INVALID_REQUEST_ERROR", **extra: str
) -> web.Response:
    error = {"category": category, "code": code, "detail": detail, **extra}
    return web.json_response({"errors": [error]}, status=status)


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    body: Json | None
    headers: dict[str, str] = field(default_factory=dict)


class FakeSquare:
    """Square's Locations, Catalog, Orders and Payments endpoints, strict and fault-injectable."""

    def __init__(
        self,
        *,
        token: str = "sq-test-token",
        location_id: str = "LBASTILLE1",
        page_size: int = PAGE_SIZE,
        extra_items: int = 0,
    ) -> None:
        self.token = token
        self.location_id = location_id
        self.page_size = page_size
        self.catalog = build_catalog(extra_items)
        self.requests: list[Recorded] = []
        self.violations: list[str] = []  # what the validator rejected (requests or our answers)
        self.orders: dict[str, Json] = {}  # every order created, by id
        self.payments: dict[str, Json] = {}
        self._by_key: dict[str, tuple[str, web.Response]] = {}
        self._unknown_ids: set[str] = set()
        self._ids = itertools.count(1)
        self.server = LoopbackServer()

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
        app.router.add_get("/v2/locations/{location_id}", self._location)
        app.router.add_get("/v2/catalog/list", self._catalog)
        app.router.add_post("/v2/orders", self._create_order)
        app.router.add_get("/v2/orders/{order_id}", self._retrieve_order)
        app.router.add_put("/v2/orders/{order_id}", self._update_order)
        app.router.add_post("/v2/orders/{order_id}/pay", self._pay_order)
        app.router.add_post("/v2/payments", self._create_payment)
        await self.server.start(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    # fault controls

    async def refuse(self) -> None:
        """Stop listening: connections (open keep-alive ones too) are refused until reset()."""
        await self.server.refuse()

    def fail_next(
        self,
        status: int,
        retry_after: float | str | None = None,
        *,
        after_processing: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next request (on `path`) with this HTTP status (after the work, if asked)."""
        self.server.fail_next(status, retry_after, after_processing=after_processing, path=path)

    def hang_next(self, *, after_processing: bool = False, path: str | None = None) -> None:
        """Accept the next request (on `path`) and never answer it."""
        self.server.hang_next(after_processing=after_processing, path=path)

    def reject_catalog_ids(self, ids: set[str]) -> None:
        """CreateOrder answers Square's NOT_FOUND for lines naming these catalog objects."""
        self._unknown_ids |= ids

    async def reset(self) -> None:
        """Clear every fault and listen again; created orders are kept."""
        self.server.faults.clear()
        self._unknown_ids.clear()
        await self.server.listen()

    def set_price(self, variation_id: str, amount: int) -> None:
        """Change a variation's price in the catalog (the POS disagrees with the partner)."""
        for var in self._variations().values():
            if var["id"] == variation_id:
                var["item_variation_data"]["price_money"]["amount"] = amount

    def posted(self, path: str) -> list[Json]:
        """Bodies of the POSTs received on this path."""
        return [r.body or {} for r in self.requests if r.method == "POST" and r.path == path]

    # plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), body, dict(request.headers))
        )
        fault = self.server.take_fault(request.path)
        if fault and not fault.after_processing:
            return await self._fault(fault)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(
                401, "UNAUTHORIZED", "The access token is not valid.", "AUTHENTICATION_ERROR"
            )
        if not request.headers.get("Square-Version"):
            return _error(400, "INVALID_SQUARE_VERSION_FORMAT", "Square-Version header is missing.")
        try:
            validate_request(
                request.method, request.path, body=raw or None, query=dict(request.query)
            )
            self._check_query(request)
        except SpecViolation as err:
            self.violations.append(f"{request.method} {request.path}: {err}")
            return _error(400, "BAD_REQUEST", f"request rejected by the Square spec: {err}")
        response = await handler(request)
        if 200 <= response.status < 300:
            try:
                validate_response(
                    request.method, request.path, response.status, json.loads(response.body)
                )
            except SpecViolation as err:
                self.violations.append(f"answer to {request.method} {request.path}: {err}")
                return _error(
                    500, "INTERNAL_SERVER_ERROR", f"fake answer off-spec: {err}", "API_ERROR"
                )
        if fault:
            return await self._fault(fault)
        return response

    def _check_query(self, request: web.Request) -> None:
        route = request.match_info.route.resource
        template = route.canonical if route is not None else request.path
        unknown = set(request.query) - query_parameters(template, request.method)
        if unknown:
            raise SpecViolation(f"unknown query parameters {sorted(unknown)}")

    async def _fault(self, fault: Fault) -> web.Response:
        if fault.status is None:
            await self.server.hang()
            return _error(503, "SERVICE_UNAVAILABLE", "hung", "API_ERROR")
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
        code = "RATE_LIMITED" if fault.status == 429 else "INTERNAL_SERVER_ERROR"
        category = "RATE_LIMIT_ERROR" if fault.status == 429 else "API_ERROR"
        error = {"category": category, "code": code, "detail": "injected fault"}
        return web.json_response({"errors": [error]}, status=fault.status, headers=headers)

    def _idempotent(self, key: str, body: Json) -> web.Response | None:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        seen = self._by_key.get(key)
        if seen is None:
            return None
        if seen[0] != digest:
            return _error(
                400, "IDEMPOTENCY_KEY_REUSED", "The idempotency key was used with another request."
            )
        return web.Response(
            body=seen[1].body, status=seen[1].status, content_type="application/json"
        )

    def _remember(self, key: str, body: Json, response: web.Response) -> web.Response:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        self._by_key[key] = (digest, response)
        return response

    def _variations(self) -> dict[str, Json]:
        return {
            v["id"]: v
            for obj in self.catalog
            if obj["type"] == "ITEM"
            for v in obj["item_data"]["variations"]
        }

    def _item_names(self) -> dict[str, str]:
        return {o["id"]: o["item_data"]["name"] for o in self.catalog if o["type"] == "ITEM"}

    def _modifiers(self) -> dict[str, Json]:
        return {
            m["id"]: m
            for obj in self.catalog
            if obj["type"] == "MODIFIER_LIST"
            for m in obj["modifier_list_data"]["modifiers"]
        }

    # endpoints

    async def _location(self, request: web.Request) -> web.Response:
        if request.match_info["location_id"] not in (self.location_id, "main"):
            return _error(404, "NOT_FOUND", "Location not found.")
        location = {
            "id": self.location_id, "name": "Burger Lab Bastille", "status": "ACTIVE",
            "timezone": "Europe/Paris", "currency": "EUR", "country": "FR",
            "merchant_id": "MLABS0001", "business_name": "Burger Lab", "type": "PHYSICAL",
        }  # fmt: skip
        return web.json_response({"location": location})

    async def _catalog(self, request: web.Request) -> web.Response:
        """ListCatalog: the objects of the asked types, `page_size` a page, an opaque cursor."""
        asked = request.query.get("types")
        types = (
            {t.strip().upper() for t in asked.split(",") if t.strip()} if asked else DEFAULT_TYPES
        )
        unknown = types - enum_values("CatalogObjectType")
        if unknown:
            return _error(
                400, "INVALID_ENUM_VALUE", f"Unknown object types {sorted(unknown)}.", field="types"
            )
        objects = [o for o in self.catalog if o["type"] in types]
        if "ITEM_VARIATION" in types:  # Square lists nested variations as objects of their own too
            objects += list(self._variations().values())
        key = ",".join(sorted(types))
        start = 0
        if request.query.get("cursor"):
            start = self._cursor_offset(request.query["cursor"], key)
            if start < 0 or start >= len(objects):
                return _error(400, "INVALID_CURSOR", "The cursor is not valid.", field="cursor")
        end = start + self.page_size
        page: Json = {"objects": objects[start:end]}
        if end < len(objects):
            page["cursor"] = base64.urlsafe_b64encode(f"{end}|{key}".encode()).decode()
        return web.json_response(page)

    @staticmethod
    def _cursor_offset(cursor: str, key: str) -> int:
        """Where a cursor we gave for these types resumes; -1 for any other string."""
        try:
            offset, types = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
            return int(offset) if types == key else -1
        except ValueError:
            return -1

    async def _create_order(self, request: web.Request) -> web.Response:
        from tests.support.fake_square_orders import price_order

        body: Json = await request.json()
        key = body.get("idempotency_key") or ""
        if (again := self._idempotent(key, body)) is not None:
            return again
        order = copy.deepcopy(body.get("order") or {})
        if order.get("location_id") != self.location_id:
            return _error(400, "NOT_FOUND", "Location not found.", field="order.location_id")
        for i, line in enumerate(order.get("line_items") or []):
            unknown = self._unknown_catalog(line, f"order.line_items[{i}]")
            if unknown is not None:
                return unknown
        order_id = f"sqord{next(self._ids):06d}"
        priced = price_order(
            order_id, order, self._variations(), self._modifiers(), self._item_names(), NOW
        )
        self.orders[order_id] = priced
        return self._remember(key, body, web.json_response({"order": priced}))

    def _unknown_catalog(self, line: Json, where: str) -> web.Response | None:
        variation = line.get("catalog_object_id")
        if variation is not None and (
            variation in self._unknown_ids or variation not in self._variations()
        ):
            return _error(
                400,
                "NOT_FOUND",
                f"Item variation with catalog object ID `{variation}` not found.",
                field=f"{where}.catalog_object_id",
            )
        for j, mod in enumerate(line.get("modifiers") or []):
            mod_id = mod.get("catalog_object_id")
            if mod_id is not None and (
                mod_id in self._unknown_ids or mod_id not in self._modifiers()
            ):
                return _error(
                    400,
                    "NOT_FOUND",
                    f"Modifier with catalog object ID `{mod_id}` not found.",
                    field=f"{where}.modifiers[{j}].catalog_object_id",
                )
        return None

    async def _retrieve_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, "NOT_FOUND", "Order not found.")
        return web.json_response({"order": order})

    async def _update_order(self, request: web.Request) -> web.Response:
        body: Json = await request.json()
        key = body.get("idempotency_key") or ""
        if key and (again := self._idempotent(key, body)) is not None:
            return again
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, "NOT_FOUND", "Order not found.")
        change = body.get("order") or {}
        if change.get("version") != order["version"]:
            return _error(
                400, "VERSION_MISMATCH", "The order version does not match.", field="order.version"
            )
        if set(change) - {"location_id", "version", "state"}:
            return _error(400, "BAD_REQUEST", "The fake only changes the order state.")
        if change.get("state") == "CANCELED":
            if order["state"] != "OPEN":
                return _error(
                    400, "BAD_REQUEST", f"An order in state {order['state']} cannot be canceled."
                )
            order["state"] = "CANCELED"
            for f in order.get("fulfillments") or []:
                f["state"] = "CANCELED"
        order["version"] += 1
        response = web.json_response({"order": order})
        return self._remember(key, body, response) if key else response

    async def _create_payment(self, request: web.Request) -> web.Response:
        from tests.support.fake_square_orders import external_payment

        body: Json = await request.json()
        key = body["idempotency_key"]
        if (again := self._idempotent(key, body)) is not None:
            return again
        if body["source_id"] != "EXTERNAL":
            return _error(
                400, "BAD_REQUEST", "The fake takes only EXTERNAL payments.", field="source_id"
            )
        details = body.get("external_details")
        if details is None or details["type"] not in EXTERNAL_TYPES:
            return _error(
                400,
                "INVALID_VALUE",
                "external_details.type is not a valid type.",
                field="external_details.type",
            )
        order = self.orders.get(body.get("order_id") or "")
        if order is None or order["state"] != "OPEN":
            return _error(400, "BAD_REQUEST", "The order is not open.", field="order_id")
        payment = external_payment(f"sqpay{next(self._ids):06d}", body, NOW)
        self.payments[payment["id"]] = payment
        return self._remember(key, body, web.json_response({"payment": payment}))

    async def _pay_order(self, request: web.Request) -> web.Response:
        body: Json = await request.json()
        key = body["idempotency_key"]
        if (again := self._idempotent(key, body)) is not None:
            return again
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, "NOT_FOUND", "Order not found.")
        payments = [self.payments.get(p) for p in body.get("payment_ids") or []]
        if not payments or any(
            p is None or p["order_id"] != order["id"] or p["status"] != "APPROVED" for p in payments
        ):
            return _error(
                400,
                "BAD_REQUEST",
                "Payments must be APPROVED payments of this order.",
                field="payment_ids",
            )
        paid = sum(Decimal(p["amount_money"]["amount"]) for p in payments if p)
        due = order["net_amount_due_money"]["amount"]
        if paid != due:
            return _error(
                400,
                "BAD_REQUEST",
                f"Payments total {paid}, the order is due {due}.",
            )
        order["tenders"] = []
        for p in payments:
            assert p is not None
            p["status"] = "COMPLETED"
            order["tenders"].append(
                {
                    "id": p["id"],
                    "location_id": order["location_id"],
                    "payment_id": p["id"],
                    "type": "OTHER",
                    "amount_money": p["amount_money"],
                    "created_at": NOW,
                }
            )
        order["state"] = "COMPLETED"
        order["net_amount_due_money"] = {"amount": 0, "currency": order["total_money"]["currency"]}
        order["version"] += 1
        return self._remember(key, body, web.json_response({"order": order}))
