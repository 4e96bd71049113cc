"""How the fake Square prices an order and records an external payment (tax-inclusive catalog)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

Json = dict[str, Any]


def _money(amount: int, currency: str) -> Json:
    return {"amount": amount, "currency": currency}


def _price_at(data: Json, location_id: str) -> int:
    """The catalog price at this location: its override if it has one."""
    for override in data.get("location_overrides") or []:
        if override.get("location_id") == location_id and "price_money" in override:
            return int(override["price_money"]["amount"])
    return int((data.get("price_money") or {}).get("amount", 0))


def price_order(
    order_id: str,
    order: Json,
    variations: dict[str, Json],
    modifiers: dict[str, Json],
    item_names: dict[str, str],
    now: str,
) -> Json:
    """The order as Square returns it: catalog prices, computed totals, version 1."""
    currency = "EUR"
    location_id = order.get("location_id") or ""
    subtotal = 0
    for line in order.get("line_items") or []:
        var = variations.get(line.get("catalog_object_id", ""))
        if var is not None:
            data = var["item_variation_data"]
            base = _price_at(data, location_id)
            line["name"] = item_names.get(data["item_id"], "")
            line["variation_name"] = data["name"]
            line["catalog_version"] = var["version"]
            line["item_type"] = "ITEM"
        else:
            base = (line.get("base_price_money") or {}).get("amount", 0)
        line["base_price_money"] = _money(base, currency)
        qty = Decimal(line["quantity"])
        per_unit = base
        for mod in line.get("modifiers") or []:
            mod_obj = modifiers.get(mod.get("catalog_object_id", ""))
            price = _price_at(mod_obj["modifier_data"], location_id) if mod_obj else 0
            mod_qty = Decimal(mod.get("quantity") or "1")
            if mod_obj:
                mod["name"] = mod_obj["modifier_data"]["name"]
                mod["catalog_version"] = mod_obj["version"]
            mod["base_price_money"] = _money(price, currency)
            mod["total_price_money"] = _money(int(price * mod_qty * qty), currency)
            per_unit += int(price * mod_qty)
        gross = int(per_unit * qty)
        line["variation_total_price_money"] = _money(int(base * qty), currency)
        line["gross_sales_money"] = _money(gross, currency)
        line["total_tax_money"] = _money(0, currency)
        line["total_discount_money"] = _money(0, currency)
        line["total_money"] = _money(gross, currency)
        subtotal += gross
    service = 0
    for charge in order.get("service_charges") or []:
        amount = charge["amount_money"]["amount"]
        charge["applied_money"] = _money(amount, currency)
        charge["total_money"] = _money(amount, currency)
        charge["total_tax_money"] = _money(0, currency)
        charge["type"] = "CUSTOM"
        service += amount
    for fulfillment in order.get("fulfillments") or []:
        fulfillment.setdefault("state", "PROPOSED")
    total = subtotal + service
    order.update(
        id=order_id,
        state="OPEN",
        version=1,
        created_at=now,
        updated_at=now,
        total_money=_money(total, currency),
        total_tax_money=_money(0, currency),
        total_discount_money=_money(0, currency),
        total_tip_money=_money(0, currency),
        total_service_charge_money=_money(service, currency),
        net_amount_due_money=_money(total, currency),
    )
    return order


def external_payment(payment_id: str, body: Json, now: str) -> Json:
    """A payment recorded from money taken outside Square."""
    status = "COMPLETED" if body.get("autocomplete", True) else "APPROVED"
    payment: Json = {
        "id": payment_id,
        "created_at": now,
        "updated_at": now,
        "amount_money": body["amount_money"],
        "total_money": body["amount_money"],
        "approved_money": body["amount_money"],
        "status": status,
        "source_type": "EXTERNAL",
        "external_details": body["external_details"],
        "location_id": body.get("location_id"),
        "order_id": body.get("order_id"),
        "reference_id": body.get("reference_id"),
        "note": body.get("note"),
    }
    return {k: v for k, v in payment.items() if v is not None}
