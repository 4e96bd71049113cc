"""Square connector: Orders, Payments, Catalog and Locations APIs with an access token."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from edge.orders.model import Order

from .base import PosConnector, PosPermanentError, PosTransientError
from .http import retry_after
from .menu import Menu
from .model import Attempt, Closed, Injected, InjectionPlan, LinkStatus, unlinked_lines
from .paging import PageReader
from .square_menu import CATALOG_TYPES, CatalogReader
from .square_orders import Json, create_order_body, order_label, read_injected, unlinked_from_errors

PRODUCTION_URL = "https://connect.squareup.com"
# The API version of the spec our requests are validated against (shared/specs/square-api.json).
SQUARE_VERSION = "2025-08-20"
_MAX_PAGES = 1000  # of 100 objects: far beyond a restaurant's catalog


class SquareRejectedError(PosPermanentError):
    """Square answered 4xx; `errors` holds its error objects."""

    def __init__(self, reason: str, status: int, errors: list[Json]) -> None:
        super().__init__(reason)
        self.status = status
        self.errors = errors


def _describe(errors: list[Json]) -> str:
    parts = []
    for e in errors:
        text = str(e.get("code", "ERROR"))
        if e.get("field"):
            text += f" {e['field']}"
        if e.get("detail"):
            text += f": {e['detail']}"
        parts.append(text)
    return "; ".join(parts) or "no error detail"


class SquareConnector(PosConnector):
    """The Square POS of one location."""

    name = "square"

    def __init__(
        self,
        *,
        token: str,
        location_id: str,
        base_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self._location_id = location_id
        self._base_url = (base_url or PRODUCTION_URL).rstrip("/")
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        """Create the HTTP client."""
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Square-Version": SQUARE_VERSION,
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(self._timeout),
            transport=self._transport,
        )

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _call(
        self, method: str, path: str, *, body: Json | None = None, params: Json | None = None
    ) -> Json:
        if self._client is None:
            raise RuntimeError("SquareConnector used outside `async with`")
        what = f"{method} {path}"
        try:
            # httpx times each phase; this bounds the whole exchange.
            async with asyncio.timeout(self._timeout):
                response = await self._client.request(method, path, json=body, params=params)
        except (TimeoutError, httpx.TimeoutException) as err:
            raise PosTransientError(f"Square timed out on {what} after {self._timeout}s") from err
        except httpx.TransportError as err:
            raise PosTransientError(f"cannot reach Square for {what}: {err!r}") from err
        return self._read(what, response)

    @staticmethod
    def _read(what: str, response: httpx.Response) -> Json:
        status = response.status_code
        try:
            doc = response.json()
        except ValueError:
            doc = None
        errors = [e for e in (doc or {}).get("errors") or [] if isinstance(e, dict)]
        wait = retry_after(response.headers.get("Retry-After"))
        if status == 429:
            raise PosTransientError(f"Square rate-limited {what}", retry_after=wait)
        if status >= 500 or status == 408:
            raise PosTransientError(
                f"Square failed {what} with HTTP {status}: {_describe(errors)}", retry_after=wait
            )
        if status >= 400:
            reason = f"Square refused {what} with HTTP {status}: {_describe(errors)}"
            raise SquareRejectedError(reason, status, errors)
        if not isinstance(doc, dict):
            raise PosTransientError(f"Square answered {what} with a body that is not JSON")
        return doc

    async def check_link(self) -> LinkStatus:
        """Retrieve our location: a wrong token or location id shows here."""
        try:
            doc = await self._call("GET", f"/v2/locations/{self._location_id}")
        except (PosTransientError, PosPermanentError) as err:
            return LinkStatus(ok=False, detail=err.reason)
        location = doc.get("location") or {}
        if location.get("status") == "INACTIVE":
            return LinkStatus(ok=False, location_name=location.get("name"), detail="inactive")
        return LinkStatus(ok=True, location_name=location.get("name"))

    async def read_menu(self, pages: PageReader | None = None) -> Menu:
        """Every page of the catalog (ListCatalog's cursor), normalized page by page.

        The next page is asked for as soon as its cursor is known, and a page is normalized
        while the next one is on its way.
        """
        pages = pages or PageReader()
        catalog = CatalogReader(self._location_id)
        doc = await pages.page(self._catalog_page(None), "catalog page 1")
        for n in range(2, _MAX_PAGES + 2):
            cursor = doc.get("cursor") if isinstance(doc.get("cursor"), str) else None
            if not cursor:
                catalog.add(doc.get("objects"))
                return catalog.menu()
            following = asyncio.ensure_future(
                pages.page(self._catalog_page(cursor), f"catalog page {n}")
            )
            try:
                catalog.add(doc.get("objects"))
                doc = await following
            finally:
                following.cancel()  # only when leaving early (cancelled, an error)
        raise PosPermanentError(f"the Square catalog has more than {_MAX_PAGES} pages")

    def _catalog_page(self, cursor: str | None) -> Callable[[], Awaitable[Json]]:
        params: Json = {"types": CATALOG_TYPES}
        if cursor:
            params["cursor"] = cursor
        return functools.partial(self._call, "GET", "/v2/catalog/list", params=params)

    async def inject(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected:
        """CreateOrder with a key derived from store, order and revision: a retry finds the same.

        Square keeps idempotency keys, so an ambiguous earlier try needs no lookup.
        """
        missing = unlinked_lines(order)
        if missing:
            raise PosPermanentError("lines not linked to the POS menu", unlinked=missing)
        try:
            answer = await self._call("POST", "/v2/orders", body=create_order_body(order, plan))
        except SquareRejectedError as err:
            unknown = unlinked_from_errors(order, err.errors)
            if unknown:
                raise PosPermanentError(err.reason, unlinked=unknown) from err
            raise
        try:
            return read_injected(order, plan, answer)
        except ValueError as err:
            raise PosTransientError(str(err)) from err

    async def find(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected | None:
        """The same CreateOrder: its key names the order an earlier try created, if any.

        (An order no try created is created now, to be voided by the caller.)
        """
        return await self.inject(order, plan, attempt)

    async def close_ticket(
        self, order: Order, injected: Injected, plan: InjectionPlan, attempt: Attempt
    ) -> Closed:
        """An EXTERNAL payment for what the partner collected, then PayOrder to close the ticket."""
        tender = plan.tender_for(order.source.partner)
        external: Json = {"type": tender, "source": order_label(order)[:255]}
        if order.source.partner_order_id:
            external["source_id"] = order.source.partner_order_id[:255]
        payment_body: Json = {
            "idempotency_key": plan.key("payment", order),
            "source_id": "EXTERNAL",
            "amount_money": {"amount": injected.pos_total, "currency": injected.currency},
            "order_id": injected.pos_order_id,
            "location_id": plan.location_id,
            # left APPROVED so that PayOrder attaches it to the order and completes both
            "autocomplete": False,
            "external_details": external,
            "reference_id": (order.source.partner_order_id or order.id)[:40],
            "note": order_label(order)[:500],
        }
        doc = await self._call("POST", "/v2/payments", body=payment_body)
        payment = doc.get("payment") or {}
        payment_id = payment.get("id")
        if not isinstance(payment_id, str):
            raise PosTransientError("CreatePayment answered without a payment id")
        pay_body: Json = {"idempotency_key": plan.key("pay", order), "payment_ids": [payment_id]}
        await self._call("POST", f"/v2/orders/{injected.pos_order_id}/pay", body=pay_body)
        return Closed(injected.pos_order_id, payment_id, injected.pos_total, tender)

    async def void(self, pos_order_id: str) -> None:
        """UpdateOrder to CANCELED at the order's current version."""
        doc = await self._call("GET", f"/v2/orders/{pos_order_id}")
        current: Any = doc.get("order") or {}
        if current.get("state") == "CANCELED":
            return
        if current.get("state") == "COMPLETED":
            raise PosPermanentError(
                f"Square order {pos_order_id} is completed: refund it at the POS to void it"
            )
        key = hashlib.sha256(f"void|{pos_order_id}|{current.get('version')}".encode()).hexdigest()
        change: Json = {
            "location_id": current.get("location_id") or self._location_id,
            "state": "CANCELED",
        }
        if isinstance(current.get("version"), int):
            change["version"] = current["version"]
        body: Json = {"idempotency_key": key[:40], "order": change}
        await self._call("PUT", f"/v2/orders/{pos_order_id}", body=body)
