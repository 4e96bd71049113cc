"""Online prices: a per-brand markup or price list from the cloud's `in/settings`.

They change what is published only; what is injected carries the order's own prices and the
POS keeps its in-store prices. Shape (README "Menu prices"):

    {"menu": {"prices": {"markup_percent": 10, "round_to": 10, "price_list": {"POS_ID": 1290}},
              "brands": {"Burger Lab": {"markup_percent": 15}}}}

A brand's own entry replaces the store-wide one key by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from edge.errors import PermanentError


class PricingError(PermanentError):
    """The cloud's menu prices cannot be applied (not the POS's fault: a settings error)."""


class Pricing(pydantic.BaseModel):
    """How one brand's published prices are made from the POS prices."""

    model_config = pydantic.ConfigDict(strict=True, extra="forbid", frozen=True)

    markup_percent: float = pydantic.Field(default=0.0, ge=-90, le=500)
    round_to: int = pydantic.Field(default=1, ge=1, le=100_000)
    price_list: dict[str, int] = {}

    def price(self, pos_id: str, pos_price: int) -> int:
        """The published price of the object `pos_id` the POS sells at `pos_price`."""
        listed = self.price_list.get(pos_id)
        if listed is not None:
            return listed
        if not self.markup_percent or pos_price <= 0:
            return pos_price
        raised = pos_price * (100 + self.markup_percent) / 100
        steps = int(raised / self.round_to + 0.5)  # half up, to the nearest step
        return max(steps * self.round_to, 0)

    @pydantic.field_validator("price_list")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [k for k, v in value.items() if v < 0]
        if bad:
            raise ValueError(f"negative prices for {', '.join(sorted(bad)[:5])}")
        return value


IDENTITY = Pricing()


def pricing_for(settings: Mapping[str, Any], brands: list[str]) -> dict[str, Pricing]:
    """Each brand's pricing from `in/settings`; PricingError naming what is wrong."""
    menu = settings.get("menu")
    if menu is None:
        return {b: IDENTITY for b in brands}
    if not isinstance(menu, Mapping):
        raise PricingError("in/settings menu must be an object")
    store_wide = menu.get("prices") or {}
    per_brand = menu.get("brands") or {}
    if not isinstance(store_wide, Mapping) or not isinstance(per_brand, Mapping):
        raise PricingError("in/settings menu.prices and menu.brands must be objects")
    found = {}
    for brand in brands:
        own = per_brand.get(brand) or {}
        where = f"menu.brands.{brand}" if own else "menu.prices"
        if not isinstance(own, Mapping):
            raise PricingError(f"in/settings menu.brands.{brand} must be an object")
        try:
            found[brand] = Pricing.model_validate({**store_wide, **own})
        except pydantic.ValidationError as err:
            first = err.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise PricingError(f"in/settings {where}.{loc}: {first['msg']}") from err
    return found
