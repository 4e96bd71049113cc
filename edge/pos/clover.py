"""Clover connector: REST v3 with a merchant token; atomic orders, custom tenders, inventory.

Clover keeps no idempotency key on v3 (clover-facts.md §7): our reference goes in the order's
title and note, and after an ambiguous try we list the orders created since the first try
and adopt the one carrying it before creating anything. Payments are checked the same way
(`externalPaymentId`) before being posted again.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from edge.orders.model import Order
from edge.tickets.i18n import partner_name

from .base import PosConnector, PosPermanentError, PosTransientError
from .clover_menu import PAGE_MAX, CloverMenuReader
from .clover_orders import (
    TENDER_KEY_PREFIX,
    order_cart,
    payment_body,
    payment_reference,
    read_order,
)
from .http import VendorHttp, VendorRejectedError
from .menu import Menu
from .model import Attempt, Closed, Injected, InjectionPlan, LinkStatus, unlinked_lines
from .paging import PageReader

REGION_URLS = {
    "us": "https://api.clover.com",
    "eu": "https://api.eu.clover.com",
    "la": "https://api.la.clover.com",
}
_PAGE = 1000  # Clover's largest page
_LIST_PAGE = 100
_MAX_PAGES = 100
_LOOKBACK_S = 300.0
# Clover may list a new order a little late (clover-facts.md §7): an order not found this
# soon after the first try is looked for again before a second one is created.
_SETTLE_S = 20.0

Json = dict[str, Any]


class CloverConnector(PosConnector):
    """The Clover POS of one merchant."""

    name = "clover"

    def __init__(
        self,
        *,
        token: str,
        merchant_id: str,
        region: str = "us",
        base_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Any = time.time,
        page_size: int = PAGE_MAX,
    ) -> None:
        self._merchant = merchant_id
        self._clock = clock
        self._page_size = page_size  # of the menu's lists (`limit`, at most 1000)
        self.http = VendorHttp(
            "Clover",
            base_url or REGION_URLS[region],
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
            error_keys=("message", "details"),
        )
        self._order_types: dict[str, str] = {}  # label (casefold) -> id
        self._tenders: dict[str, str] = {}  # partner -> id
        self._in_use: dict[str, dict[str, str]] = {}

    async def open(self) -> None:
        """Create the HTTP client."""
        await self.http.open()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.close()

    def _path(self, tail: str = "") -> str:
        return f"/v3/merchants/{self._merchant}{tail}"

    async def _call(self, method: str, tail: str, *, body: Any = None, params: Any = None) -> Any:
        path = self._path(tail)
        response = await self.http.send(method, path, json=body, params=params)
        if response.status_code == 401:
            raise PosPermanentError(
                f"Clover refused our token on {method} {path} (expired, revoked, another region,"
                " or a permission the app lacks): check [pos] token_file, region and location_id"
            )
        return self.http.read(f"{method} {path}", response)

    async def _all(self, tail: str, params: list[tuple[str, str]], page: int = _PAGE) -> list[Json]:
        found: list[Json] = []
        for n in range(_MAX_PAGES):
            doc = await self._call(
                "GET", tail, params=[*params, ("limit", str(page)), ("offset", str(n * page))]
            )
            elements = [e for e in (doc or {}).get("elements") or [] if isinstance(e, dict)]
            found += elements
            if len(elements) < page:
                return found
        raise PosTransientError(f"Clover lists more than {_MAX_PAGES} pages of {tail}")

    # the interface

    async def check_link(self) -> LinkStatus:
        """Our merchant, read with our token."""
        try:
            doc = await self._call("GET", "")
        except (PosTransientError, PosPermanentError) as err:
            return LinkStatus(ok=False, detail=err.reason)
        name = (doc or {}).get("name")
        return LinkStatus(ok=True, location_name=name if isinstance(name, str) else None)

    async def read_menu(self, pages: PageReader | None = None) -> Menu:
        """The whole inventory, page by page (edge/pos/clover_menu.py)."""
        reader = CloverMenuReader(self._call, pages or PageReader(), self._page_size)
        return await reader.read()

    async def _order_type(self, order: Order, plan: InjectionPlan) -> str:
        configured = plan.order_type_for(order)
        key = f"order_type {order.source.partner}/{order.type}"
        if configured:
            self._in_use[key] = {"id": configured[0], "from": configured[1]}
            return configured[0]
        label = partner_name(order.source.partner, "en")
        if order.type == "pickup":
            label += " pickup"
        elif order.type == "dine_in":
            label += " dine in"
        wanted = label.casefold()
        if wanted not in self._order_types:
            listed = await self._all("/order_types", [])
            for t in listed:
                if isinstance(t.get("label"), str) and t.get("id"):
                    self._order_types.setdefault(t["label"].casefold(), t["id"])
        source = f"label {label!r}"
        if wanted not in self._order_types:  # created once; found by label from then on
            made = await self._call(
                "POST", "/order_types", body={"label": label, "taxable": True, "isHidden": False}
            )
            self._order_types[wanted] = str((made or {}).get("id"))
            source += " (created)"
        self._in_use[key] = {"id": self._order_types[wanted], "from": source}
        return self._order_types[wanted]

    async def _tender(self, order: Order, plan: InjectionPlan) -> str:
        partner = order.source.partner
        configured = plan.configured_tender(partner)
        if configured:
            self._in_use[f"tender {partner}"] = {"id": configured[0], "from": configured[1]}
            return configured[0]
        if partner not in self._tenders:
            key = TENDER_KEY_PREFIX + "".join(c for c in partner.lower() if c.isalnum())
            found = await self._all("/tenders", [("filter", f"labelKey={key}")])
            source = f"labelKey {key}"
            if found:
                tender = str(found[0]["id"])
            else:
                made = await self._call(
                    "POST",
                    "/tenders",
                    body={
                        "label": partner_name(partner, "en"),
                        "labelKey": key,
                        "enabled": True,
                        "visible": True,
                        "opensCashDrawer": False,
                    },
                )
                tender = str((made or {}).get("id"))
                source += " (created)"
            self._tenders[partner] = tender
            self._in_use[f"tender {partner}"] = {"id": tender, "from": source}
        return self._tenders[partner]

    async def inject(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected:
        """Checkout to price, then the atomic order; an ambiguous earlier try is looked up."""
        missing = unlinked_lines(order)
        if missing:
            raise PosPermanentError("lines not linked to the POS menu", unlinked=missing)
        if attempt.ambiguous:
            found = await self.find(order, plan, attempt)
            if found is not None:
                return found
            if self._clock() - attempt.first_at < _SETTLE_S:
                raise PosTransientError(
                    "waiting for Clover to list the order an unanswered try may have created",
                    retry_after=_SETTLE_S,
                )
        try:
            cart = {"orderCart": order_cart(order, plan, await self._order_type(order, plan))}
        except ValueError as err:
            raise PosPermanentError(str(err)) from err
        await self._call("POST", "/atomic_order/checkouts", body=cart)
        doc = await self._call("POST", "/atomic_order/orders", body=cart)
        try:
            return read_order(order, plan, doc if isinstance(doc, dict) else {})
        except ValueError as err:
            raise PosTransientError(str(err)) from err

    async def find(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected | None:
        """The order whose title carries our reference, among those created since the try."""
        since = int(((attempt.first_at or self._clock()) - _LOOKBACK_S) * 1000)
        until = int((self._clock() + 60) * 1000)
        params = [
            ("filter", f"createdTime>={since}"),
            ("filter", f"createdTime<={until}"),
            ("expand", "lineItems"),
        ]
        for doc in await self._all("/orders", params, page=_LIST_PAGE):
            if attempt.reference in str(doc.get("title") or ""):
                return read_order(order, plan, doc)
        return None

    async def close_ticket(
        self, order: Order, injected: Injected, plan: InjectionPlan, attempt: Attempt
    ) -> Closed:
        """The partner's payment with its custom tender, unless an earlier try recorded it."""
        tender = await self._tender(order, plan)
        if attempt.ambiguous:
            doc = await self._call(
                "GET", f"/orders/{injected.pos_order_id}", params={"expand": "payments"}
            )
            wanted = payment_reference(plan.reference(order))
            for payment in ((doc or {}).get("payments") or {}).get("elements") or []:
                if isinstance(payment, dict) and payment.get("externalPaymentId") == wanted:
                    return Closed(
                        injected.pos_order_id, str(payment.get("id")), injected.pos_total, tender
                    )
        body = payment_body(order, injected, plan, tender)
        doc = await self._call("POST", f"/orders/{injected.pos_order_id}/payments", body=body)
        payment_id = (doc or {}).get("id")
        if not isinstance(payment_id, str):
            raise PosTransientError("Clover answered the payment without an id")
        return Closed(injected.pos_order_id, payment_id, injected.pos_total, tender)

    async def void(self, pos_order_id: str) -> None:
        """Delete the order; one already deleted is not an error."""
        try:
            await self._call("DELETE", f"/orders/{pos_order_id}")
        except VendorRejectedError as err:
            if err.status != 404:
                raise

    def ids_in_use(self) -> dict[str, dict[str, str]]:
        """Order types and tenders used so far, and where each came from."""
        return dict(self._in_use)
