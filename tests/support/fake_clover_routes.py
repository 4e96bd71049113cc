"""The fake Clover's endpoints. Only requests our document accepts reach them (the middleware of
FakeClover judges auth, permissions, the document and faults first)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.support.fake_clover_orders import (
    CartError,
    checkout_answer,
    new_order,
    new_payment,
    price_cart,
    render_order,
    settle,
)
from tests.support.fake_clover_query import (
    ALIASES,
    ALLOWED_FILTERS,
    Filter,
    expansions,
    inventory_list,
    page,
)

if TYPE_CHECKING:
    from tests.support.fake_clover import FakeClover

Json = dict[str, Any]
M = "/v3/merchants/{mId}"
ALL_PERMISSIONS = frozenset(
    {"MERCHANT_R", "MERCHANT_W", "ORDERS_R", "ORDERS_W", "INVENTORY_R", "PAYMENTS_W"}
)
# The app permission each endpoint needs (Clover: tenders need MERCHANT_R/W; the rest is our
# judgment from the permission names). A missing permission answers 401, like a bad token.
PERMISSION: dict[tuple[str, str], str] = {
    ("GET", M): "MERCHANT_R",
    ("GET", f"{M}/order_types"): "ORDERS_R",
    ("POST", f"{M}/order_types"): "ORDERS_W",
    ("GET", f"{M}/tenders"): "MERCHANT_R",
    ("POST", f"{M}/tenders"): "MERCHANT_W",
    ("POST", f"{M}/atomic_order/checkouts"): "ORDERS_W",
    ("POST", f"{M}/atomic_order/orders"): "ORDERS_W",
    ("GET", f"{M}/orders"): "ORDERS_R",
    ("GET", f"{M}/orders/{{orderId}}"): "ORDERS_R",
    ("DELETE", f"{M}/orders/{{orderId}}"): "ORDERS_W",
    ("POST", f"{M}/orders/{{orderId}}/payments"): "PAYMENTS_W",
    ("GET", f"{M}/items"): "INVENTORY_R",
    ("GET", f"{M}/categories"): "INVENTORY_R",
    ("GET", f"{M}/modifier_groups"): "INVENTORY_R",
    ("GET", f"{M}/tags"): "INVENTORY_R",
    ("GET", f"{M}/modifiers"): "INVENTORY_R",
    ("GET", f"{M}/item_groups"): "INVENTORY_R",
}
NINETY_DAYS_MS = 90 * 86_400_000
MERCHANT_CREATED_MS = 1767225600000  # 2026-01-01


def message(status: int, text: str, details: str | None = None) -> web.Response:
    """Clover's error shape: {"message"} (+ "details" on atomic-order 400s)."""
    body = {"message": text} if details is None else {"message": text, "details": details}
    return web.json_response(body, status=status)


def install(app: web.Application, fake: FakeClover) -> None:
    """Add every endpoint of clover.yaml to the app."""
    r = _Routes(fake)
    app.router.add_get(M, r.merchant)
    app.router.add_get(f"{M}/order_types", r.list_order_types)
    app.router.add_post(f"{M}/order_types", r.create_order_type)
    app.router.add_get(f"{M}/tenders", r.list_tenders)
    app.router.add_post(f"{M}/tenders", r.create_tender)
    app.router.add_post(f"{M}/atomic_order/checkouts", r.checkout)
    app.router.add_post(f"{M}/atomic_order/orders", r.create_order)
    app.router.add_get(f"{M}/orders", r.list_orders)
    app.router.add_get(f"{M}/orders/{{orderId}}", r.get_order)
    app.router.add_delete(f"{M}/orders/{{orderId}}", r.delete_order)
    app.router.add_post(f"{M}/orders/{{orderId}}/payments", r.create_payment)
    for kind in ("items", "categories", "modifier_groups", "modifiers", "tags", "item_groups"):
        app.router.add_get(f"{M}/{kind}", r.inventory(kind))


class _Routes:
    def __init__(self, fake: FakeClover) -> None:
        self.f = fake

    def _page(self, request: web.Request, rows: list[Json], path: str, kind: str) -> web.Response:
        limit = int(request.query.get("limit", "100"))
        offset = int(request.query.get("offset", "0"))
        body = page(rows, limit, offset, self.f.href(path))
        headers = {"X-Clover-Allowed-Filter-Fields": ALLOWED_FILTERS[kind]}
        return web.json_response(body, headers=headers)

    @staticmethod
    def _filtered(request: web.Request, rows: list[Json], kind: str) -> list[Json]:
        checks = [Filter(v, ALIASES.get(kind)) for v in request.query.getall("filter", [])]
        return [row for row in rows if all(c.matches(row) for c in checks)]

    async def merchant(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "id": self.f.merchant_id,
                "href": self.f.href(""),
                "name": "Burger Lab Bastille",
                "createdTime": MERCHANT_CREATED_MS,  # our judgment beyond id and name
            }
        )

    # order types and tenders

    def _order_type(self, order_type: Json, expand: set[str]) -> Json:
        out = {**copy.deepcopy(order_type), "href": self.f.href(f"/order_types/{order_type['id']}")}
        for key in expand:  # our judgment: no hours, attributes or category filter in the fake
            out[key] = {"elements": []}
        return out

    async def list_order_types(self, request: web.Request) -> web.Response:
        expand = expansions(request.query.getall("expand", []))
        rows = [self._order_type(t, expand) for t in self.f.order_types.values()]
        rows = self._filtered(request, rows, "order_types")
        return self._page(request, rows, "/order_types", "order_types")

    async def create_order_type(self, request: web.Request) -> web.Response:
        created = self.f.add_order_type(await request.json())
        return web.json_response(self._order_type(created, set()))

    def _tender(self, tender: Json) -> Json:
        return {**copy.deepcopy(tender), "href": self.f.href(f"/tenders/{tender['id']}")}

    async def list_tenders(self, request: web.Request) -> web.Response:
        rows = [self._tender(t) for t in self.f.tenders.values()]
        rows = self._filtered(request, rows, "tenders")
        return self._page(request, rows, "/tenders", "tenders")

    async def create_tender(self, request: web.Request) -> web.Response:
        # no uniqueness of label or labelKey is documented: a second POST makes a second tender
        return web.json_response(self._tender(self.f.add_tender(await request.json())))

    # atomic orders

    def _price(self, body: Json) -> Any:
        f = self.f
        return price_cart(
            body,
            f.inventory,
            merchant_id=f.merchant_id,
            currency=f.currency,
            order_types=f.order_types,
            service_charges=f.service_charges,
            vat=f.vat,
        )

    async def checkout(self, request: web.Request) -> web.Response:
        body: Json = await request.json()
        try:
            priced = self._price(body)
        except CartError as err:
            return message(400, err.code, err.details)
        return web.json_response(checkout_answer(body, priced, vat=self.f.vat))

    async def create_order(self, request: web.Request) -> web.Response:
        f = self.f
        body: Json = await request.json()
        try:
            priced = self._price(body)
        except CartError as err:
            return message(400, err.code, err.details)
        order_id = f.new_id("order")
        order = new_order(
            order_id,
            body["orderCart"],
            priced,
            new_id=f.new_id,
            now=f.clock(),
            merchant_id=f.merchant_id,
            currency=f.currency,
            vat=f.vat,
            href=f.href(f"/orders/{order_id}"),
        )
        f.orders[order_id] = order
        f._indexed_after[order_id] = f._list_calls + f.index_lag
        f.rule_breaches += [f"order {order_id} {p}" for p in priced.rule_problems]
        answer = render_order(
            order,
            {"lineItems", "discounts", "serviceCharge"},  # our judgment for the create answer
            order_types=f.order_types,
            tenders=f.tenders,
        )
        return web.json_response(answer)

    # orders

    def _clamps(self, filters: list[Filter]) -> list[Filter]:
        """Time filters only look at the most recent 90 days of the requested range (§3)."""
        extra = []
        for name in ("createdTime", "modifiedTime"):
            mine = [c for c in filters if c.field == name]
            if not mine:
                continue
            uppers = [int(c.values[0]) for c in mine if c.op in ("<", "<=")]
            upper = min(uppers) if uppers else self.f.clock()
            extra.append(Filter(f"{name}>={upper - NINETY_DAYS_MS}"))
        return extra

    async def list_orders(self, request: web.Request) -> web.Response:
        f = self.f
        f._list_calls += 1
        checks = [Filter(v, ALIASES["orders"]) for v in request.query.getall("filter", [])]
        checks += self._clamps(checks)
        expand = expansions(request.query.getall("expand", []))
        rows = [
            render_order(o, expand, order_types=f.order_types, tenders=f.tenders)
            for o in reversed(f.orders.values())  # newest first (our judgment)
            if o["id"] not in f.deleted
            and o.get("state") is not None  # hidden orders are never listed
            and f._list_calls > f._indexed_after[o["id"]]  # indexing lag (field report)
            and all(c.matches(o) for c in checks)
        ]
        return self._page(request, rows, "/orders", "orders")

    def _order(self, request: web.Request) -> Json | None:
        order_id = request.match_info["orderId"]
        if order_id in self.f.deleted:
            return None
        return self.f.orders.get(order_id)

    async def get_order(self, request: web.Request) -> web.Response:
        order = self._order(request)
        if order is None:
            return message(404, "Not Found")
        expand = expansions(request.query.getall("expand", []))
        f = self.f
        return web.json_response(
            render_order(order, expand, order_types=f.order_types, tenders=f.tenders)
        )

    async def delete_order(self, request: web.Request) -> web.Response:
        order = self._order(request)
        if order is None:  # our judgment: a second DELETE answers 404
            return message(404, "Not Found")
        self.f.deleted.add(order["id"])
        order["deletedTime"] = self.f.clock()
        return web.Response(status=200)  # our judgment: empty body

    async def create_payment(self, request: web.Request) -> web.Response:
        f = self.f
        order = self._order(request)
        if order is None:
            return message(404, "Not Found")
        body: Json = await request.json()
        tender = f.tenders.get(body["tender"]["id"])
        if tender is None:  # "a valid tender ID" is required (§6.5); the text is our judgment
            return message(400, f"Tender {body['tender']['id']} does not exist")
        payment_id = f.new_id("payment")
        payment = new_payment(
            payment_id,
            order,
            body,
            self._tender(tender),
            now=f.clock(),
            href=f.href(f"/payments/{payment_id}"),
        )
        f.payments[payment_id] = payment
        order["payments"]["elements"].append(copy.deepcopy(payment))
        order["modifiedTime"] = payment["createdTime"]
        settle(order)
        return web.json_response(payment)

    # inventory

    def inventory(self, kind: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            rows = inventory_list(
                self.f.inventory,
                kind,
                filters=request.query.getall("filter", []),
                expand=expansions(request.query.getall("expand", [])),
                order_by=request.query.get("orderBy"),
                base=self.f.href(""),
            )
            return self._page(request, rows, f"/{kind}", kind)

        return handler
