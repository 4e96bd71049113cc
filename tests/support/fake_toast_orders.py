"""How the fake Toast checks an order (dining option, customer, delivery, schedule, service
charges, payments) and builds the Order it answers; and how it voids one.

A check's `amount` = its selections' prices + its service charges (not taxable, our
judgment), `taxAmount` = the selections' taxes, `totalAmount` = amount + taxAmount: the
tax-inclusive total a payment should carry (see fake_toast_selections.py for selections).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.fake_toast_selections import SelectionPricer
from tests.support.fake_toast_values import (
    EPOCH,
    bad,
    business_date,
    cents,
    guid_of,
    known,
    missing,
    money,
    parse_time,
    toast_time,
)

Json = dict[str, Any]
DEFAULT_PREP = timedelta(minutes=15)  # estimatedFulfillmentDate of ASAP orders (our judgment)
# what the fake's restaurant has not configured (a reference to one is an unknown entity)
UNCONFIGURED = ("table", "server", "revenueCenter", "serviceArea", "restaurantService")
# what the fake does not model (our judgment: refused rather than silently ignored)
UNSUPPORTED = ("marketplaceFacilitatorTaxInfo", "appliedPackagingInfo", "channelGuid")


class OrderPricer(SelectionPricer):
    """Checks one order body and builds the Order Toast answers (persisted or not)."""

    def price(self, body: Json) -> Json:
        """The Order as Toast answers it; OrderRejected when Toast would refuse it."""
        for key in UNSUPPORTED:
            if key in body:
                raise bad(f"{key} is not supported by this restaurant (fake)")
        for key in UNCONFIGURED:
            if key in body:
                raise missing(f"{key} {body[key].get('guid')} does not exist at this restaurant")
        dining = known(
            guid_of(body.get("diningOption"), "diningOption"),
            self.r.dining_options,
            self.r,
            "Dining option",
        )
        behavior = dining["behavior"]
        order: Json = self._ids("Order")
        self._external(body, "order", order)
        promised = self._promised(body)
        opened = promised or self.now
        order.update(
            openedDate=toast_time(opened),
            createdDate=toast_time(self.now),
            modifiedDate=toast_time(self.now),
            diningOption={"guid": dining["guid"], "entityType": "DiningOption"},
            numberOfGuests=body.get("numberOfGuests", 1),
            source="API",
            voided=False,
            deleted=False,
            deletedDate=EPOCH,
            businessDate=business_date(opened),
            approvalStatus="FUTURE" if promised else "NEEDS_APPROVAL",
            pricingFeatures=["TAXESV2"],
            createdInTestMode=False,
            excessFood=False,
            displayNumber=str(next(self.numbers)),
        )
        if promised:
            order["promisedDate"] = toast_time(promised)
        prep = self._prep_time(body.get("requiredPrepTime"))
        if prep is not None:
            order["requiredPrepTime"] = body["requiredPrepTime"]
        if behavior in ("TAKE_OUT", "DELIVERY"):
            ready = promised or self.now + (prep or DEFAULT_PREP)
            order["estimatedFulfillmentDate"] = toast_time(ready)
        self._delivery(body, behavior, order)
        self._curbside(body, order)
        order["checks"] = [
            self._check(c, i, behavior, dining) for i, c in enumerate(body["checks"])
        ]
        paid = [c for c in order["checks"] if c["paymentStatus"] == "CLOSED"]
        if order["checks"] and len(paid) == len(order["checks"]):
            order["paidDate"] = order["closedDate"] = toast_time(self.now)
        return order

    def _promised(self, body: Json) -> datetime | None:
        value = body.get("promisedDate")
        if value is None:
            return None
        try:
            promised = parse_time(value)
        except ValueError:
            raise bad(f"promisedDate {value!r} is not an ISO-8601 date and time") from None
        if promised <= self.now:
            raise bad(f"promisedDate {value} is not in the future")
        return promised

    @staticmethod
    def _prep_time(value: str | None) -> timedelta | None:
        if value is None:
            return None
        match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", value)
        minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0) if match else 0
        if not minutes or minutes % 5:
            raise bad(
                f"requiredPrepTime {value!r} must be an ISO-8601 duration, more than zero "
                "and a multiple of five minutes (e.g. PT15M)"
            )
        return timedelta(minutes=minutes)

    def _delivery(self, body: Json, behavior: str, order: Json) -> None:
        info = body.get("deliveryInfo")
        if info is None:
            if behavior == "DELIVERY":
                raise bad("deliveryInfo is required for a DELIVERY dining option")
            return
        if not re.fullmatch(r"[A-Z]{2}", info["state"]):
            raise bad(f"deliveryInfo.state {info['state']!r} must be two capital letters")
        for key in ("address1", "city", "zipCode"):
            if not str(info[key]).strip():
                raise bad(f"deliveryInfo.{key} is empty")
        order["deliveryInfo"] = {**info, "deliveryState": "PENDING"}

    @staticmethod
    def _curbside(body: Json, order: Json) -> None:
        info = body.get("curbsidePickupInfo")
        if info is None:
            return
        if not info.get("transportDescription"):
            raise bad("curbsidePickupInfo.transportDescription is required")
        order["curbsidePickupInfo"] = {"entityType": "CurbsidePickupInfo", **info}

    def _check(self, body: Json, index: int, behavior: str, dining: Json) -> Json:
        where = f"checks[{index}]"
        if body.get("appliedDiscounts"):
            raise missing(f"{where}: no discount is configured at this restaurant")
        if "appliedLoyaltyInfo" in body:
            raise bad(f"{where}: appliedLoyaltyInfo is not supported by this restaurant (fake)")
        check: Json = self._ids("Check")
        self._external(body, "check", check)
        if not body["selections"]:
            raise bad(f"{where}: a check needs at least one selection")
        customer = body.get("customer")
        if customer is None and behavior in ("TAKE_OUT", "DELIVERY"):
            raise bad(f"{where}.customer is required for a {behavior} dining option")
        selections = [
            self._selection(s, f"{where}.selections[{i}]", dining)
            for i, s in enumerate(body["selections"])
        ]
        charges = [
            self._service_charge(c, f"{where}.appliedServiceCharges[{i}]")
            for i, c in enumerate(body.get("appliedServiceCharges") or [])
        ]
        amount = sum((cents(s["price"]) for s in selections), Decimal(0))
        amount += sum((cents(c["chargeAmount"]) for c in charges), Decimal(0))
        tax = sum((cents(s["tax"]) for s in selections), Decimal(0))
        total = amount + tax
        payments = [
            self._payment(p, f"{where}.payments[{i}]")
            for i, p in enumerate(body.get("payments") or [])
        ]
        paid = sum((cents(p["amount"]) for p in payments), Decimal(0))
        if payments and paid != total:
            message = f"{where}: payments total {paid} but the check's totalAmount is {total}"
            if self.r.refuse_payment_mismatch:
                raise bad(message)
            self.mismatches.append(message)
        check.update(
            displayNumber=body.get("displayNumber") or str(index + 1),
            openedDate=toast_time(self.now),
            createdDate=toast_time(self.now),
            modifiedDate=toast_time(self.now),
            deleted=False,
            deletedDate=EPOCH,
            voided=False,
            taxExempt=False,
            selections=selections,
            appliedServiceCharges=charges,
            appliedDiscounts=[],
            payments=payments,
            amount=money(amount),
            taxAmount=money(tax),
            totalAmount=money(total),
            paymentStatus="CLOSED" if payments and paid >= total else "OPEN",
        )
        if check["paymentStatus"] == "CLOSED":
            check["paidDate"] = check["closedDate"] = toast_time(self.now)
        if "tabName" in body:
            check["tabName"] = body["tabName"]
        if customer is not None:
            check["customer"] = self._customer(customer, f"{where}.customer")
        if self.new_guid is not None:
            for p in payments:
                p["checkGuid"] = check["guid"]
        return check

    def _customer(self, body: Json, where: str) -> Json:
        for key in ("firstName", "lastName", "phone", "email"):
            if not str(body[key]).strip():
                raise bad(f"{where}.{key} is empty")
        email = body["email"]
        if len(email) > 53 or not re.fullmatch(r"[A-Za-z0-9_.+-]+@[A-Za-z0-9_.-]+", email):
            raise bad(
                f"{where}.email {email!r}: up to 53 characters, prefix@domain, "
                "no international characters"
            )
        # Toast answers the phone as digits only ("555-555-5555" -> "5555555555")
        out = {**self._ids("Customer"), **body, "phone": re.sub(r"\D", "", body["phone"])}
        return out

    def _service_charge(self, body: Json, where: str) -> Json:
        config = known(
            guid_of(body.get("serviceCharge"), f"{where}.serviceCharge"),
            self.r.service_charges,
            self.r,
            "Service charge",
        )
        if config["amountType"] == "OPEN" and "chargeAmount" not in body:
            raise bad(f"{where}.chargeAmount is required for the OPEN charge {config['name']!r}")
        amount = cents(body.get("chargeAmount", config.get("amount") or 0))
        if amount < 0:
            raise bad(f"{where}.chargeAmount is negative")
        return {
            **self._ids("AppliedServiceCharge"),
            "serviceCharge": {"guid": config["guid"], "entityType": "ServiceCharge"},
            "chargeAmount": money(amount),
            "chargeType": config["amountType"],
            "name": config["name"],
            "delivery": config["criteria"]["delivery"],
            "takeout": config["criteria"]["takeout"],
            "dineIn": config["criteria"]["dineIn"],
            "gratuity": config["gratuity"],
            "taxable": config["taxable"],
            "appliedTaxes": [],
            "serviceChargeCategory": "SERVICE_CHARGE",
        }

    def _payment(self, body: Json, where: str) -> Json:
        if body["type"] != "OTHER":
            raise bad(
                f"{where}.type {body['type']}: this restaurant takes OTHER payments only "
                "(CREDIT needs Toast's credit cards API; other types are response only)"
            )
        config = known(
            guid_of(body.get("otherPayment"), f"{where}.otherPayment"),
            self.r.payment_types,
            self.r,
            "Alternate payment type",
        )
        amount, tip = cents(body["amount"]), cents(body["tipAmount"])
        if amount < 0 or tip < 0:
            raise bad(f"{where}: amount and tipAmount cannot be negative")
        payment: Json = {
            **self._ids("OrderPayment"),
            "type": "OTHER",
            "otherPayment": {"guid": config["guid"], "entityType": "AlternatePaymentType"},
            "amount": money(amount),
            "tipAmount": money(tip),
            "paidDate": body.get("paidDate") or toast_time(self.now),
            "paidBusinessDate": business_date(self.now),
            "paymentStatus": "CAPTURED",
            "refundStatus": "NONE",
        }
        if "amountTendered" in body:
            payment["amountTendered"] = money(cents(body["amountTendered"]))
        if body.get("externalId") is not None:
            payment["externalId"] = body["externalId"]
        return payment


def void_order(order: Json, now: datetime) -> None:
    """Void the order, its checks, selections and (all OTHER) payments."""
    stamp = {"voided": True, "voidDate": toast_time(now), "voidBusinessDate": business_date(now)}
    order.update(stamp, modifiedDate=toast_time(now))
    for check in order["checks"]:
        check.update(stamp, modifiedDate=toast_time(now))
        for selection in check["selections"]:
            selection.update(stamp)
        for payment in check["payments"]:
            payment["paymentStatus"] = "VOIDED"
            payment["voidInfo"] = {
                "voidDate": stamp["voidDate"],
                "voidBusinessDate": stamp["voidBusinessDate"],
            }
