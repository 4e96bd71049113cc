"""The POS side of the fake Lightspeed K-Series: asynchronous results, notifications, lifecycle.

The API answers 200 and then the POS processes each accepted order or payment, in order of
arrival. Processing produces notifications (facts §7). Each is validated against our document's
webhooks, appended to ``notifications`` and awaited through ``on_notification``. The test relays
it to the daemon, as the cloud relays Lightspeed's webhook POSTs.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from tests.support.fake_lightspeed_errors import ls_time
from tests.support.fake_lightspeed_orders import (
    OrderFailed,
    Pricer,
    add_lines,
    add_payment,
    dec,
    due,
    new_account,
    snapshot,
)
from tests.support.lightspeed_menu import POS_ID, PROFILES, STAFF_ID, Catalog
from tests.support.lightspeed_spec import SpecViolation, validate_notification

Json = dict[str, Any]
Notify = Callable[[Json], Awaitable[None]]
TIMEOUT_REASON = "Not processed before validity ended"
PROFILE_MODES = {code: mode for _, code, _, mode in PROFILES}


@dataclass
class _Script:
    outcome: Literal["fail", "drop", "timeout"]
    reason: str = ""
    status: str = "FAILURE"
    error_type: str | None = None


class LightspeedPos:
    """Accounts, scripted outcomes and notifications; FakeLightspeedK puts the HTTP API on top."""

    def __init__(
        self,
        *,
        business_location_id: int,
        endpoint_id: str,
        webhook_url: str,
        on_notification: Notify | None,
        hold_results: bool,
        provide_account: bool,
        subscribe_delivered: bool,
        extra_items: int,
    ) -> None:
        self.business_location_id = business_location_id
        self.catalog = Catalog(extra_items)
        self.webhooks: dict[str, Json] = {
            endpoint_id: {
                "endpointId": endpoint_id,
                "url": webhook_url,
                "withBasicAuth": False,
                "provideAccount": provide_account,
                "expandTransactions": provide_account,
                "expandPayments": provide_account,
                "subscribeTo": (
                    [{"resource": "order", "name": "DELIVERED"}] if subscribe_delivered else []
                ),
            }
        }
        self.violations: list[str] = []  # what the validator rejected (requests, answers, notes)
        self.orders: dict[str, Json] = {}  # POS accounts, by account identifier (SUCCESS only)
        self.notifications: list[Json] = []
        self.callback_errors: list[BaseException] = []
        self.readiness: dict[str, Any] = {
            "enabled": True,
            "salesPeriod": "OPENED",
            "acceptingOnlineOrders": True,
            "availableDevices": True,
            "lastUpdatedAt": datetime.now(UTC),
        }
        self._on_notification = on_notification
        self._hold = hold_results
        self._held: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._queue: asyncio.Queue[Callable[[], Coroutine[Any, Any, None]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._scripts: list[_Script] = []
        self._accounts = itertools.count(1)
        self._line_ids = itertools.count(304087979524125)
        self._receipts = itertools.count(1)
        self._codes = itertools.count(1)
        self._customers: dict[str, str] = {}  # email -> customer thirdPartyReference
        self._notified = asyncio.Event()

    # scripted outcomes (consumed by the next order or payment the API accepts)

    def fail_next_result(
        self, reason: str = "POS rejected the order", *, error_type: str | None = None
    ) -> None:
        """The next accepted order or payment FAILS with this reason.

        For a payment, ``error_type`` goes in ``errors.account.type`` (default UNKNOWN).
        """
        self._scripts.append(_Script("fail", reason, error_type=error_type))

    def drop_next_result(self) -> None:
        """The next accepted order or payment never produces a notification."""
        self._scripts.append(_Script("drop"))

    def time_out_next_result(self, status: Literal["ABANDONED", "FAILURE"] = "ABANDONED") -> None:
        """The next accepted order never reached the POS in time (facts §15.2: unspecified).

        For an order the notification has this status. For a payment it is a FAILURE with
        ``errors.timeout``.
        """
        self._scripts.append(_Script("timeout", TIMEOUT_REASON, status))

    def _take_script(self) -> _Script | None:
        return self._scripts.pop(0) if self._scripts else None

    # readiness and the result queue

    @property
    def ready(self) -> bool:
        """READY when all four inputs hold (facts §3 [guide])."""
        r = self.readiness
        return bool(
            r["enabled"]
            and r["salesPeriod"] == "OPENED"
            and r["acceptingOnlineOrders"]
            and r["availableDevices"]
        )

    def set_ready(
        self,
        ready: bool = True,
        *,
        why: Literal["salesPeriod", "acceptingOnlineOrders", "availableDevices", "enabled"] = (
            "salesPeriod"
        ),
    ) -> None:
        """READY again (held results go to the POS), or NOT_READY for this reason.

        While NOT_READY, accepted orders wait (our judgment: the platform keeps trying).
        """
        if ready:
            self.readiness.update(
                enabled=True,
                salesPeriod="OPENED",
                acceptingOnlineOrders=True,
                availableDevices=True,
            )
        else:
            self.readiness[why] = "CLOSED" if why == "salesPeriod" else False
        self.readiness["lastUpdatedAt"] = datetime.now(UTC)
        if ready and not self._hold:
            self._flush()

    def _submit(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._hold or not self.ready:
            self._held.append(job)
        else:
            self._queue.put_nowait(job)

    def _flush(self) -> None:
        held, self._held = self._held, []
        for job in held:
            self._queue.put_nowait(job)

    async def release_results(self) -> None:
        """Let the held results through (hold_results=True) and wait until they are out."""
        self._flush()
        await self._queue.join()

    async def settle(self) -> None:
        """Wait until every result the POS may produce now has been notified."""
        await self._queue.join()

    async def wait_notifications(self, count: int, timeout: float = 5.0) -> list[Json]:
        """Wait until at least ``count`` notifications were sent; return them all."""
        async with asyncio.timeout(timeout):
            while len(self.notifications) < count:
                self._notified.clear()
                await self._notified.wait()
        return self.notifications

    def _start_pos(self) -> None:
        self._worker = asyncio.create_task(self._work())

    async def _stop_pos(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job()
            except Exception as err:
                self.violations.append(f"fake POS crashed on a job: {err!r}")
            finally:
                self._queue.task_done()

    # notifications

    def _endpoint(self, endpoint_id: str) -> Json:
        return self.webhooks.get(endpoint_id) or next(iter(self.webhooks.values()))

    async def _emit(self, kind: Literal["Order", "Payment"], body: Json) -> None:
        try:
            validate_notification(kind, body)
        except SpecViolation as err:
            self.violations.append(f"{kind} notification {body.get('status')}: {err}")
        self.notifications.append(body)
        self._notified.set()
        if self._on_notification is not None:
            try:
                await self._on_notification(copy.deepcopy(body))
            except Exception as err:
                self.callback_errors.append(err)

    async def _order_event(self, account: Json, status: str, reference: str | None = None) -> None:
        hook = self._endpoint(account["endpointId"])
        body: Json = {
            "type": "ORDER",
            "status": status,
            "thirdPartyReference": reference or account["thirdPartyReference"],
            "businessLocationId": account["businessLocationId"],
            "ikentooAccountIdentifier": account["accountIdentifier"],
        }
        if hook["provideAccount"]:
            body["account"] = snapshot(
                account, lines=hook["expandTransactions"], payments=hook["expandPayments"]
            )
        await self._emit("Order", body)

    # processing an accepted order

    def _accept_order(self, request: Json, path: str) -> None:
        script = self._take_script()
        self._submit(lambda: self._run_order(request, path, script))

    async def _run_order(self, request: Json, path: str, script: _Script | None) -> None:
        base = {
            "type": "ORDER",
            "thirdPartyReference": request["thirdPartyReference"],
            "businessLocationId": request["businessLocationId"],
        }
        if script is not None:
            if script.outcome != "drop":
                await self._emit("Order", base | {"status": script.status, "reason": script.reason})
            return
        try:
            account = self._apply_order(request, path)
        except OrderFailed as err:
            await self._emit("Order", base | {"status": "FAILURE", "reason": str(err)})
            return
        hook = self._endpoint(request["endpointId"])
        if {"resource": "order", "name": "DELIVERED"} in hook["subscribeTo"]:
            await self._order_event(account, "SUCCESS", request["thirdPartyReference"])
        if account["status"] == "CLOSED":
            await self._order_event(account, "CLOSED", request["thirdPartyReference"])

    def _apply_order(self, request: Json, path: str) -> Json:
        local = path.endswith("/local")
        code = request.get("accountProfileCode") or ("EATIN" if local else "TAKEAWAY")
        if code not in PROFILE_MODES:
            raise OrderFailed(f"Account profile not found for code {code}")
        customer = request["customerInfo"]
        email, ref = customer.get("email"), customer.get("thirdPartyReference")
        if email and ref and self._customers.setdefault(email, ref) != ref:
            raise OrderFailed(
                "A consumer already exists for this email address with a different "
                "external reference."
            )
        now = datetime.now(UTC)
        pricer = Pricer(self.catalog.products(code), self._line_ids, now)
        lines, amount = pricer.lines(request.get("items") or [], local=local)
        account_id = request.get("accountIdentifier")
        if local and account_id:
            account = self.orders.get(account_id)
            if account is None or account["businessLocationId"] != request["businessLocationId"]:
                raise OrderFailed("Account not found")
            if account["status"] != "OPEN":
                raise OrderFailed(f"Account {account_id} is already {account['status'].lower()}")
            for f in ("tableNumber", "clientCount"):
                if f in request and request[f] != account[f]:
                    raise OrderFailed(f"{f} cannot be changed on an existing order")
        else:
            collection = request.get("collectionCode") or ""
            if not collection and PROFILE_MODES[code] != "NONE":
                collection = f"K{next(self._codes):03d}"
            account = new_account(
                f"A{POS_ID}.{next(self._accounts)}", request, path, now, collection
            )
            account["accountProfileCode"] = code
            if not collection:
                account["name"] = f"Table {request.get('tableNumber') or '-'}"
        payment = request.get("payment")
        tip = dec(payment.get("tipAmount", 0)) if payment else Decimal(0)
        if payment and dec(payment["paymentAmount"]) < tip:
            raise OrderFailed("paymentAmount must include tipAmount")
        add_lines(account, request, lines, amount)
        if payment:
            add_payment(
                account,
                dec(payment["paymentAmount"]) - tip,
                tip,
                method=payment.get("paymentMethod"),
                reference=request["thirdPartyReference"],
                now=now,
            )
        if account["status"] == "CLOSED":
            account["receiptNumber"] = next(self._receipts)
        self.orders[account["accountIdentifier"]] = account
        return account

    # processing an accepted payment

    def _accept_payment(self, request: Json) -> None:
        script = self._take_script()
        self._submit(lambda: self._run_payment(request, script))

    async def _run_payment(self, request: Json, script: _Script | None) -> None:
        body: Json = {
            "type": "PAYMENT",
            "thirdPartyReference": request["thirdPartyPaymentReference"],
            "businessLocationId": request["businessLocationId"],
        }
        account_id = request.get("iKaccountIdentifier")
        if account_id:
            body["ikentooAccountIdentifier"] = account_id
        account = self.orders.get(account_id or "")
        if account is not None and account["businessLocationId"] != request["businessLocationId"]:
            account = None
        amount = dec(request["paymentAmount"])
        failure: tuple[str, str] | None = None
        if script is not None and script.outcome == "drop":
            return
        if script is not None and script.outcome == "timeout":
            timeout = {"errorKey": "errors.payment.pos.task_timeout", "message": TIMEOUT_REASON}
            await self._emit(
                "Payment",
                body
                | {"status": "FAILURE", "reason": TIMEOUT_REASON, "errors": {"timeout": timeout}},
            )
            return
        if script is not None:
            failure = (script.reason, script.error_type or "UNKNOWN")
        elif account is None:
            failure = ("Account not found", "ACCOUNT_NOT_FOUND")
        elif account["status"] != "OPEN":
            failure = (f"Account is already {account['status'].lower()}", "ACCOUNT_ALREADY_CLOSED")
        elif amount > due(account):
            failure = ("the payment amount is greater than the amount due", "OVERPAID")
        if failure is not None or account is None:
            reason, kind = failure or ("Account not found", "ACCOUNT_NOT_FOUND")
            await self._emit(
                "Payment",
                body
                | {"status": "FAILURE", "reason": reason, "errors": {"account": {"type": kind}}},
            )
            return
        now = datetime.now(UTC)
        add_payment(
            account,
            amount,
            dec(request.get("tipAmount", 0)),
            method=request.get("paymentMethod"),
            reference=request["thirdPartyPaymentReference"],
            now=now,
        )
        await self._emit("Payment", body | {"status": "SUCCESS"})
        if account["status"] == "CLOSED":
            account["receiptNumber"] = next(self._receipts)
            await self._order_event(account, "CLOSED")

    # staff at the till

    def _open_account(self, account_id: str) -> Json:
        account = self.orders[account_id]
        if account["status"] != "OPEN":
            raise ValueError(f"account {account_id} is {account['status']}")
        return account

    async def cancel(self, account_id: str) -> None:
        """Staff cancel the order at the till (there is no cancel endpoint): CANCELLED."""
        account = self._open_account(account_id)
        account["status"] = "CANCELLED"
        await self._order_event(account, "CANCELLED")

    async def mark_ready(self, account_id: str) -> None:
        """The kitchen marks the order ready: READY_FOR_PICKUP."""
        await self._order_event(self._open_account(account_id), "READY_FOR_PICKUP")

    async def close(self, account_id: str, payment_method: str = "CASH") -> None:
        """Staff take what is due at the till and close the account: CLOSED."""
        account = self._open_account(account_id)
        now = datetime.now(UTC)
        if due(account) > 0:
            add_payment(
                account, due(account), Decimal(0), method=payment_method, reference=None, now=now
            )
        account["status"], account["closeDate"] = "CLOSED", ls_time(now)
        account["receiptNumber"] = next(self._receipts)
        await self._order_event(account, "CLOSED")

    def set_price(self, sku: str, price: float | str, *, profile: str | None = None) -> None:
        """Change a menu price (major units), for every order profile or only one."""
        self.catalog.set_price(sku, Decimal(str(price)), profile or "")

    def set_stock(self, sku: str, count: int | None) -> None:
        """Staff restrict a SKU to ``count`` left (0: sold out), or lift the restriction (None)."""
        self.catalog.set_stock(sku, count, ls_time(datetime.now(UTC)))

    def readiness_body(self) -> Json:
        """``apeOrderApiReadinessDto`` for the current state."""
        r = self.readiness
        return {
            "status": "READY" if self.ready else "NOT_READY",
            "lastUpdatedAt": r["lastUpdatedAt"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "onlineOrderingApiConfiguration": {
                "enabled": r["enabled"],
                "orderProfileId": PROFILES[0][0],
                "staffId": STAFF_ID,
            },
            "posStatus": {
                "salesPeriod": r["salesPeriod"],
                "acceptingOnlineOrders": r["acceptingOnlineOrders"],
                "availableDevices": r["availableDevices"],
            },
        }
