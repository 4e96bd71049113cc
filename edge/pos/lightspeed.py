"""Lightspeed Restaurant K-Series connector ("Order and Pay" API).

Lightspeed takes an order and answers later: the 200 only says it will try to reach the
till, and the outcome goes to a webhook. The box is behind NAT, so the cloud receives that
webhook and relays it on `in/pos-events`; the connector reads it from the attempt
(`Attempt.events`). Until then the job waits (`PosPending`) and, where the API allows it,
the connector also looks for the order itself (a closed order's receipt by our reference),
so a lost relay never leaves an order in limbo. Our reference is the order's
`thirdPartyReference`, unique per location: sent again after a doubt, a 409 says Lightspeed
has it. OAuth refresh tokens rotate: each new one is saved durably before it is used.

The menu (edge/pos/lightspeed_menu.py normalizes it): the menu list, then one load per menu
(Lightspeed does not paginate either: a menu is one page), then the item availability of
every SKU read (50 SKUs a request, pages of `availability_page_size`), then the currency from
the Financial API when the token may read it (Order and Pay has no currency).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from edge.orders.model import Order

from .base import PosConnector, PosPending, PosPermanentError, PosTransientError
from .http import VendorHttp, VendorRejectedError
from .lightspeed_menu import MenuReader, currency_of, sold_out, total_pages
from .lightspeed_orders import (
    DELIVER_WITHIN_MS,
    DELIVERY_MODES,
    REFUSED,
    MenuIndex,
    injected_from,
    order_body,
    result_of,
    too_long_skus,
)
from .menu import Menu
from .model import Attempt, Closed, Injected, InjectionPlan, LinkStatus, unlinked_lines
from .paging import PageReader
from .secrets import SecretStore
from .tokens import TokenKeeper

PRODUCTION_URL = "https://api.lsk.lightspeed.app"
REFRESH_SECRET = "lightspeed_k_refresh_token"  # noqa: S105 (a name, not a secret)
# After Lightspeed stopped trying to reach the till, how long we still wait for its answer.
_ANSWER_MARGIN_S = 300.0
_CHECK_FIRST_S = 5.0
_CHECK_MAX_S = 60.0
_NOT_READY_RETRY_S = 60.0
MENU_LIST = "/o/op/1/menu/list"
MENU_LOAD = "/o/op/2/menu/load/{}"
AVAILABILITY = "/o/op/1/itemAvailability"
BUSINESSES = "/f/data/businesses"
SKUS_PER_REQUEST = 50  # what the item availability takes at once
_BUSINESSES_PAGE = 100
_MAX_PAGES = 1000  # of one paginated list: a loop guard

log = logging.getLogger(__name__)

Json = dict[str, Any]


class LightspeedKConnector(PosConnector):
    """The Lightspeed K POS of one business location."""

    name = "lightspeed_k"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        initial_refresh_token: str,
        business_location_id: int,
        endpoint_id: str,
        secrets: SecretStore,
        base_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_id = client_id
        self._secret = client_secret
        self._initial = initial_refresh_token
        self._seed = hashlib.sha256(initial_refresh_token.encode()).hexdigest()[:16]
        self._location = business_location_id
        self._endpoint = endpoint_id
        self._secrets = secrets
        self._clock = clock
        self.http = VendorHttp(
            "Lightspeed",
            base_url or PRODUCTION_URL,
            timeout=timeout,
            transport=transport,
            error_keys=("message", "msg", "error", "error_description"),
        )
        self.tokens = TokenKeeper(self._refresh)
        self._index: MenuIndex | None = None
        self.availability_page_size = 50  # 1..100; tests shrink it to read several pages
        self._profiles: list[Json] | None = None
        self._in_use: dict[str, dict[str, str]] = {}

    async def open(self) -> None:
        """Create the HTTP client."""
        await self.http.open()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.close()

    # tokens

    async def _refresh_token(self) -> str:
        """The refresh token in force: the last rotated one, unless token_file was replaced."""
        saved = await self._secrets.load(REFRESH_SECRET)
        if saved:
            doc = json.loads(saved)
            if doc.get("seed") == self._seed and doc.get("token"):
                return str(doc["token"])
        return self._initial

    async def _refresh(self) -> tuple[str, float]:
        tried: set[str] = set()
        while True:
            refresh = await self._refresh_token()
            if refresh in tried:
                raise PosPermanentError(
                    "Lightspeed refused our refresh token: link the store again (a new refresh "
                    "token in [pos] token_file)"
                )
            tried.add(refresh)
            form = {
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": self._client_id,
                "client_secret": self._secret,
            }
            response = await self.http.send("POST", "/oauth/token", data=form)
            if response.status_code in (400, 401) and "invalid_grant" in response.text:
                continue  # another process may have rotated it meanwhile: read it again
            try:
                doc = self.http.read("POST /oauth/token", response)
            except VendorRejectedError as err:
                raise PosPermanentError(
                    f"Lightspeed refused our client credentials (HTTP {err.status}): check "
                    "[pos] client_id and client_secret_file"
                ) from err
            access, rotated = (doc or {}).get("access_token"), (doc or {}).get("refresh_token")
            if not isinstance(access, str) or not isinstance(rotated, str):
                raise PosTransientError("Lightspeed answered the token refresh without tokens")
            # The one we used is dead now: the new one is kept before anything else happens.
            await self._secrets.save(
                REFRESH_SECRET, json.dumps({"token": rotated, "seed": self._seed})
            )
            lifetime = (doc or {}).get("expires_in")
            return access, float(lifetime) if isinstance(lifetime, int | float) else 3600.0

    async def _call(self, method: str, path: str, *, body: Any = None, params: Any = None) -> Any:
        doc, _ = await self.http.call(method, path, tokens=self.tokens, json=body, params=params)
        return doc

    # the interface

    async def check_link(self) -> LinkStatus:
        """Our location among the token's, whether it takes online orders, our webhook."""
        try:
            businesses = await self._call("GET", "/o/op/data/businesses")
            names = {
                loc.get("id"): f"{b.get('name')} / {loc.get('name')}"
                for b in businesses or []
                for loc in b.get("businessLocations") or []
            }
            if self._location not in names:
                return LinkStatus(
                    ok=False, detail=f"business location {self._location} is not in this token's"
                )
            try:
                await self._call("GET", f"/o/wh/1/webhook/{self._endpoint}")
            except VendorRejectedError:
                return LinkStatus(
                    ok=False,
                    location_name=names[self._location],
                    detail=f"no webhook endpoint {self._endpoint!r}: the cloud registers it",
                )
            ready, why = await self._readiness()
        except (PosTransientError, PosPermanentError) as err:
            return LinkStatus(ok=False, detail=err.reason)
        return LinkStatus(ok=ready, location_name=names[self._location], detail=why)

    async def _readiness(self) -> tuple[bool, str]:
        doc = await self._call(
            "GET", "/o/op/1/onlineOrderReadiness", params={"businessLocationId": self._location}
        )
        doc = doc or {}
        if doc.get("status") == "READY":
            return True, ""
        pos = doc.get("posStatus") or {}
        config = doc.get("onlineOrderingApiConfiguration") or {}
        reasons = [
            why
            for why, bad in (
                ("online ordering is off in Lightspeed", not config.get("enabled")),
                ("the sales period is closed", pos.get("salesPeriod") != "OPENED"),
                ("no till accepts online orders", not pos.get("acceptingOnlineOrders")),
                ("no till is running", not pos.get("availableDevices")),
            )
            if bad
        ]
        return False, "not ready: " + (", ".join(reasons) or "NOT_READY")

    async def read_menu(self, pages: PageReader | None = None) -> Menu:
        """Every menu of the location, each SKU once, with its availability and the currency.

        Each menu is normalized as soon as it is loaded: only one raw menu is held at a time.
        """
        pages = pages or PageReader()
        location = {"businessLocationId": self._location}
        listed = await pages.page(
            functools.partial(self._call, "GET", MENU_LIST, params=location), "menu list"
        )
        reader = MenuReader()
        for summary in listed if isinstance(listed, list) else []:
            menu_id = summary.get("ikentooMenuId") if isinstance(summary, dict) else None
            if not isinstance(menu_id, int) or isinstance(menu_id, bool):
                continue
            fetch = functools.partial(
                self._call,
                "GET",
                MENU_LOAD.format(menu_id),
                params={**location, "richContent": "true"},
            )
            doc = await pages.page(fetch, f"menu {summary.get('menuName') or menu_id}")
            if isinstance(doc, dict):
                reader.add(doc)
            del doc  # normalized: the raw menu goes before the next one is loaded
        gone = await self._sold_out(reader.skus(), pages)
        menu, self._index = reader.menu(gone, await self._currency(pages))
        return menu

    async def _sold_out(self, skus: list[str], pages: PageReader) -> set[str]:
        """The SKUs the item availability says are sold out (none when it cannot be read)."""
        gone: set[str] = set()
        for start in range(0, len(skus), SKUS_PER_REQUEST):
            batch = {"skus": skus[start : start + SKUS_PER_REQUEST]}
            page = 0
            while page < _MAX_PAGES:
                params = {
                    "businessLocationId": self._location,
                    "page": page,
                    "size": self.availability_page_size,
                }
                fetch = functools.partial(
                    self._call, "POST", AVAILABILITY, body=batch, params=params
                )
                try:
                    doc = await pages.page(fetch, "item availability")
                except VendorRejectedError as err:
                    if err.status not in (403, 404):
                        raise
                    log.warning(
                        "Lightspeed refused the item availability (%s): sold-out items are read"
                        " as available",
                        err.reason,
                    )
                    return set()
                gone |= sold_out(doc)
                page += 1
                if page >= total_pages(doc):
                    break
        return gone

    async def _currency(self, pages: PageReader) -> str | None:
        """The location's currency (ISO 4217) from the Financial API; None without its scope."""
        for page in range(_MAX_PAGES):
            params = {"page": page, "size": _BUSINESSES_PAGE}
            fetch = functools.partial(self._call, "GET", BUSINESSES, params=params)
            try:
                doc = await pages.page(fetch, "businesses (currency)")
            except VendorRejectedError as err:
                if err.status not in (403, 404):
                    raise
                log.info("no currency from Lightspeed's Financial API (%s)", err.reason)
                return None
            code, more = currency_of(doc, self._location, _BUSINESSES_PAGE)
            if not more:
                return code
        return None

    async def _profile(self, order: Order, plan: InjectionPlan) -> str | None:
        configured = plan.order_type_for(order)
        key = f"order_profile {order.source.partner}/{order.type}"
        if configured:
            self._in_use[key] = {"id": configured[0], "from": configured[1]}
            return configured[0]
        if self._profiles is None:
            doc = await self._call(
                "GET", "/o/op/data/account-profiles", params={"businessLocationId": self._location}
            )
            self._profiles = [p for p in (doc or {}).get("accountProfileList") or [] if p]
        mode = DELIVERY_MODES[order.type]
        match = [p for p in self._profiles if p.get("deliveryMode") == mode and p.get("code")]
        if not match:
            return None  # Lightspeed's own default profile for the endpoint
        self._in_use[key] = {"id": str(match[0]["code"]), "from": f"delivery mode {mode}"}
        return str(match[0]["code"])

    async def inject(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected:
        """Submit once; then the relayed answer (or our own look) says where it went."""
        missing = unlinked_lines(order)
        if missing:
            raise PosPermanentError("lines not linked to the POS menu", unlinked=missing)
        long = too_long_skus(order)
        if long:
            raise PosPermanentError("SKUs longer than Lightspeed orders take (25)", unlinked=long)
        found = await self._outcome(order, plan, attempt)
        if found is not None:
            return found
        if not attempt.progress.get("submitted_at"):
            await self._submit(order, plan, attempt)
        raise PosPending(
            "Lightspeed has the order and has not said yet where it went", self._wait(attempt)
        )

    async def _submit(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> None:
        ready, why = await self._readiness()
        if not ready:
            raise PosTransientError(f"Lightspeed is {why}", retry_after=_NOT_READY_RETRY_S)
        if self._index is None:  # one try: the injection's own retries wait out failures
            await self.read_menu(PageReader(tries=1))
        assert self._index is not None
        partner = order.source.partner
        configured = plan.configured_tender(partner)
        if configured:
            self._in_use[f"payment_method {partner}"] = {"id": configured[0], "from": configured[1]}
        body = order_body(
            order,
            plan,
            self._index,
            location=self._location,
            endpoint_id=self._endpoint,
            profile=await self._profile(order, plan),
            payment_method=configured[0] if configured else None,
            now=datetime.fromtimestamp(self._clock(), UTC),
        )
        path = "/o/op/1/order/local" if order.type == "dine_in" else "/o/op/1/order/toGo"
        try:
            await self._call("POST", path, body=body)
        except VendorRejectedError as err:
            if err.status != 409:  # 409: "reference has already been used": it has it
                raise
        await attempt.note(submitted_at=self._clock())

    def _wait(self, attempt: Attempt) -> float:
        return min(_CHECK_FIRST_S * 2.0 ** max(attempt.tries - 1, 0), _CHECK_MAX_S)

    async def find(self, order: Order, plan: InjectionPlan, attempt: Attempt) -> Injected | None:
        """The order an earlier try put on the till; PosPending while that cannot be known."""
        result = result_of(attempt.events)
        if result is not None and str(result.get("status")).upper() in REFUSED:
            return None  # never reached the till
        found = await self._outcome(order, plan, attempt)
        if found is None and attempt.ambiguous:
            raise PosPending("a try was sent and never answered", self._wait(attempt))
        return found

    async def _outcome(
        self, order: Order, plan: InjectionPlan, attempt: Attempt
    ) -> Injected | None:
        """The outcome the POS told (relayed), else a closed order's receipt; PosPending when
        Lightspeed may still deliver it, a permanent error when it refused it; None when the
        order was never submitted (or its submission was never recorded)."""
        result = result_of(attempt.events)
        if result is not None:
            if str(result.get("status")).upper() in REFUSED:
                why = result.get("reason") or result.get("status")
                raise PosPermanentError(f"Lightspeed could not put the order on the till: {why}")
            account_id = str(result["ikentooAccountIdentifier"])
            return injected_from(order, plan, account_id, result.get("account"))
        submitted = attempt.progress.get("submitted_at")
        if submitted is None:  # never sent, or sent unanswered: sending it again tells (409)
            return None
        receipt = await self._receipt(attempt.reference)  # the relay lost, the order closed
        if receipt is not None:
            return injected_from(order, plan, receipt, None)
        deadline = float(submitted) + DELIVER_WITHIN_MS / 1000 + _ANSWER_MARGIN_S
        if self._clock() > deadline:
            raise PosPermanentError(
                f"Lightspeed never said whether order {attempt.reference} reached the till: "
                "look for it there before entering it by hand"
            )
        raise PosPending("waiting for Lightspeed's answer", self._wait(attempt))

    async def _receipt(self, reference: str) -> str | None:
        """The account id of the closed order carrying our reference (financial API)."""
        external = f"TASK:OO-{self._location}-{reference}"
        try:
            doc = await self._call(
                "GET",
                f"/f/finance/{self._location}/saleByExternalReference",
                params={"externalReferenceId": external},
            )
        except VendorRejectedError as err:
            if err.status in (403, 404):  # not closed yet, or no financial-api scope
                return None
            raise
        account = (doc or {}).get("accountFiscId")
        return str(account) if account else None

    async def close_ticket(
        self, order: Order, injected: Injected, plan: InjectionPlan, attempt: Attempt
    ) -> Closed:
        """Nothing to send: the partner's payment went with the order."""
        method = plan.configured_tender(order.source.partner)
        tender = method[0] if method else "default"
        return Closed(injected.pos_order_id, tender, injected.pos_total, tender)

    async def void(self, pos_order_id: str) -> None:
        """Lightspeed's API cannot cancel an order: staff must, at the till."""
        raise PosPermanentError(
            f"Lightspeed K cannot cancel orders through its API: void order {pos_order_id} "
            "on the till"
        )

    def ids_in_use(self) -> dict[str, dict[str, str]]:
        """Order profiles and payment methods used so far, and where each came from."""
        return dict(self._in_use)
