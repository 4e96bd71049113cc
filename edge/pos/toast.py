"""Toast connector: machine-client login, the restaurant's menu and configuration, orders.

Toast has no idempotency key, but an order's `externalId` must be unique in the restaurant:
we send our reference there, and after an ambiguous try we look the order up by it (orders
modified since the first try) before creating anything.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from edge.orders.model import Order
from edge.tickets.i18n import partner_name

from .base import PosConnector, PosPermanentError, PosTransientError
from .http import VendorHttp, VendorRejectedError
from .menu import Menu
from .model import Attempt, Closed, Injected, InjectionPlan, LinkStatus, unlinked_lines
from .paging import PageReader
from .toast_menu import out_of_stock, read_menus, with_stock
from .toast_orders import (
    BEHAVIORS,
    Choices,
    ToastMenuIndex,
    check_total,
    external_id,
    order_body,
    read_order,
    toast_time,
)
from .tokens import TokenKeeper

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://ws-api.toasttab.com"
LOGIN_PATH = "/authentication/v1/authentication/login"
METADATA_PATH = "/menus/v2/metadata"
MENUS_PATH = "/menus/v2/menus"
STOCK_PATH = "/stock/v1/inventory"
# An order found again is looked for among those modified from a little before the first try.
_LOOKBACK_S = 300.0
_PAGE_SIZE = 100
_MAX_PAGES = 50

Json = dict[str, Any]


class ToastConnector(PosConnector):
    """The Toast POS of one restaurant."""

    name = "toast"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        restaurant_guid: str,
        base_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client_id = client_id
        self._secret = client_secret
        self._restaurant = restaurant_guid
        self.http = VendorHttp(
            "Toast",
            base_url or PRODUCTION_URL,
            timeout=timeout,
            headers={"Toast-Restaurant-External-ID": restaurant_guid},
            transport=transport,
            error_keys=("message", "developerMessage"),
        )
        self.tokens = TokenKeeper(self._login)
        self._index: ToastMenuIndex | None = None
        self._published: tuple[str, Menu] | None = None  # (lastUpdated, the menus normalized)
        self._config: dict[str, list[Json]] | None = None
        self._in_use: dict[str, dict[str, str]] = {}

    async def open(self) -> None:
        """Create the HTTP client."""
        await self.http.open()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.close()

    # plumbing

    async def _login(self) -> tuple[str, float]:
        body = {
            "clientId": self._client_id,
            "clientSecret": self._secret,
            "userAccessType": "TOAST_MACHINE_CLIENT",
        }
        response = await self.http.send("POST", LOGIN_PATH, json=body)
        try:
            doc = self.http.read(f"POST {LOGIN_PATH}", response)
        except VendorRejectedError as err:
            raise PosPermanentError(
                f"Toast refused our client credentials (HTTP {err.status}): check [pos] "
                "client_id and client_secret_file"
            ) from err
        token = (doc or {}).get("token") or {}
        access = token.get("accessToken")
        if not isinstance(access, str) or not access:
            raise PosTransientError("Toast login answered without an access token")
        lifetime = token.get("expiresIn")
        return access, float(lifetime) if isinstance(lifetime, int | float) else 3600.0

    async def _call(self, method: str, path: str, *, body: Any = None, params: Any = None) -> Any:
        return (await self._exchange(method, path, body=body, params=params))[0]

    async def _exchange(
        self, method: str, path: str, *, body: Any = None, params: Any = None
    ) -> tuple[Any, httpx.Headers]:
        return await self.http.call(method, path, tokens=self.tokens, json=body, params=params)

    async def _pages(self, path: str) -> list[Json]:
        """Every page of a configuration list (Toast-Next-Page-Token)."""
        found: list[Json] = []
        params: dict[str, str] = {}
        for _ in range(_MAX_PAGES):
            doc, headers = await self._exchange("GET", path, params=params or None)
            found += [d for d in doc or [] if isinstance(d, dict) and d.get("guid")]
            token = headers.get("Toast-Next-Page-Token")
            if not token:
                return found
            params = {"pageToken": token}
        raise PosTransientError(f"Toast lists more than {_MAX_PAGES} pages of {path}")

    async def _configuration(self) -> dict[str, list[Json]]:
        if self._config is None:
            config = {}
            for key, path in (
                ("dining", "/config/v2/diningOptions"),
                ("payments", "/config/v2/alternatePaymentTypes"),
                ("charges", "/config/v2/serviceCharges"),
            ):
                config[key] = await self._pages(path)
            self._config = config
        return self._config

    async def _menu_index(self) -> ToastMenuIndex:
        if self._index is None:  # one try: the injection's own retries wait out failures
            await self.read_menu(PageReader(tries=1))
        assert self._index is not None
        return self._index

    # the interface

    async def check_link(self) -> LinkStatus:
        """Log in and read the menu metadata: credentials and restaurant GUID show here."""
        try:
            doc = await self._call("GET", METADATA_PATH)
        except (PosTransientError, PosPermanentError) as err:
            return LinkStatus(ok=False, detail=err.reason)
        guid = (doc or {}).get("restaurantGuid")
        return LinkStatus(ok=True, location_name=guid if isinstance(guid, str) else None)

    async def read_menu(self, pages: PageReader | None = None) -> Menu:
        """The published menus, then the stock: three requests, none paginated by Toast.

        The menus document (the whole menu at once) is downloaded again only when the
        metadata says Toast published since, as Toast asks; the stock is read every time.
        """
        pages = pages or PageReader()
        meta = await pages.page(functools.partial(self._call, "GET", METADATA_PATH), "metadata")
        updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
        published = self._published
        if published is None or not isinstance(updated, str) or published[0] != updated:
            fetch = functools.partial(self._call, "GET", MENUS_PATH)
            doc = await pages.page(fetch, "published menus")
            if not isinstance(doc, dict):
                raise PosTransientError(
                    "Toast answered the menus with a body that is not an object"
                )
            menu, self._index = read_menus(doc)
            del doc  # normalized: the raw document goes before the stock is read
            published = (updated, menu) if isinstance(updated, str) else None
            self._published = published
        else:
            menu = published[1]
        self._config = None  # read again with the menu: ids may have changed
        return with_stock(menu, await self._out_of_stock(pages))

    async def _out_of_stock(self, pages: PageReader) -> frozenset[str]:
        """What the stock API says is 86'd; nothing when our client may not read the stock."""
        try:
            entries = await pages.page(functools.partial(self._call, "GET", STOCK_PATH), "stock")
        except VendorRejectedError as err:
            # 403: the client lacks stock:read; 404: a Toast environment without the stock
            # API. Either way the menu stands without it (a 5xx fails the read: tried later).
            log.warning(
                "Toast refused the stock (%s): give the API client the stock:read scope;"
                " out-of-stock items are read as available",
                err.reason,
            )
            return frozenset()
        return out_of_stock(entries)

    async def _choices(self, order: Order, plan: InjectionPlan) -> Choices:
        config = await self._configuration()
        configured = plan.order_type_for(order)
        dining, source = configured if configured else (None, "")
        behavior = None
        if dining is None:
            behavior = BEHAVIORS[order.type]
            named = partner_name(order.source.partner, "en").casefold()
            has_address = bool(order.customer and order.customer.address)
            own = [  # the partner's own dining option, if we can fill what it requires
                d
                for d in config["dining"]
                if str(d.get("name", "")).casefold() == named
                and (d.get("behavior") != "DELIVERY" or has_address)
            ]
            match = own or sorted(  # else by meaning, curbside ones last
                (d for d in config["dining"] if d.get("behavior") == behavior),
                key=lambda d: bool(d.get("curbside")),
            )
            if not match:
                raise PosPermanentError(
                    f"no Toast dining option with behavior {behavior} for a {order.type} order:"
                    " create one, or set [pos] order_types"
                )
            dining, source = match[0]["guid"], f"{match[0].get('name')!r}, {behavior}"
            behavior = match[0].get("behavior") or behavior
        partner = order.source.partner
        configured_payment = plan.configured_tender(partner)
        payment, pay_source = configured_payment if configured_payment else (None, "")
        if payment is None:
            wanted = partner_name(partner, "en").casefold()
            match = [p for p in config["payments"] if str(p.get("name", "")).casefold() == wanted]
            payment, pay_source = (match[0]["guid"], f"name {wanted!r}") if match else (None, "")
        charge = next(
            (c["guid"] for c in config["charges"] if "deliver" in str(c.get("name", "")).lower()),
            None,
        )
        self._in_use[f"dining_option {partner}/{order.type}"] = {"id": dining, "from": source}
        if payment is not None:
            self._in_use[f"payment_type {partner}"] = {"id": payment, "from": pay_source}
        return Choices(
            dining_option=dining, behavior=behavior, payment_type=payment, delivery_charge=charge
        )

    async def inject(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected:
        """Price the order, then create it (paid when the partner collected); never twice."""
        missing = unlinked_lines(order)
        if missing:
            raise PosPermanentError("lines not linked to the POS menu", unlinked=missing)
        if attempt.ambiguous:
            found = await self.find(order, plan, attempt)
            if found is not None:
                return found
        index = await self._menu_index()
        choices = await self._choices(order, plan)
        try:
            priced = await self._call(
                "POST", "/orders/v2/prices", body=order_body(order, plan, index, choices)
            )
        except ValueError as err:  # what Toast requires and the order cannot give
            raise PosPermanentError(str(err)) from err
        total = check_total(priced or {})
        paid = plan.should_close(order) and choices.payment_type is not None
        body = order_body(order, plan, index, choices, payment_amount=total if paid else None)
        try:
            doc = await self._call("POST", "/orders/v2/orders", body=body)
        except VendorRejectedError as err:
            if err.status == 409 or "externalid" in str(err.doc).lower():
                found = await self.find(order, plan, attempt)  # an earlier try got through
                if found is not None:
                    return found
            raise
        try:
            return read_order(order, plan, doc if isinstance(doc, dict) else {})
        except ValueError as err:
            raise PosTransientError(str(err)) from err

    async def find(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected | None:
        """The order carrying our reference as `externalId`, among those changed since."""
        start = datetime.fromtimestamp((attempt.first_at or time.time()) - _LOOKBACK_S, UTC)
        end = datetime.fromtimestamp(time.time() + 60, UTC)
        for page in range(1, _MAX_PAGES + 1):
            params = {
                "startDate": toast_time(start),
                "endDate": toast_time(end),
                "pageSize": _PAGE_SIZE,
                "page": page,
            }
            orders = await self._call("GET", "/orders/v2/ordersBulk", params=params)
            orders = [o for o in orders or [] if isinstance(o, dict)]
            for doc in orders:
                if doc.get("externalId") == external_id(attempt.reference):
                    return read_order(order, plan, doc)
            if len(orders) < _PAGE_SIZE:
                return None
        raise PosTransientError("too many Toast orders to look through for our reference")

    async def close_ticket(
        self, order: Order, injected: Injected, plan: InjectionPlan, attempt: Attempt
    ) -> Closed:
        """Nothing to send: the partner's payment went in with the order (one request less)."""
        choices = await self._choices(order, plan)
        return Closed(
            injected.pos_order_id,
            choices.payment_type or "",
            injected.pos_total,
            choices.payment_type or "",
        )

    async def void(self, pos_order_id: str) -> None:
        """Void the order with its selections and payments (voiding twice is harmless)."""
        body = {"selections": {"voidAll": True}, "payments": {"voidAll": True}}
        await self._call("POST", f"/orders/v2/orders/{pos_order_id}/void", body=body)

    def ids_in_use(self) -> dict[str, dict[str, str]]:
        """Dining options and payment types used so far, and where each came from."""
        return dict(self._in_use)
