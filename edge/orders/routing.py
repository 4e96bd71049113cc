"""Which printers serve an order's tickets (by role and brand)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PrinterRoute:
    """What routing needs to know of one configured printer."""

    name: str
    roles: tuple[str, ...] = ("kitchen",)
    brands: tuple[str, ...] = ()
    copies: int = 1

    def serves(self, role: str, brand: str | None) -> bool:
        """Whether this printer prints `role` tickets for orders of `brand`."""
        if role not in self.roles:
            return False
        return not self.brands or (brand is not None and brand in self.brands)


def printers_for(
    routes: Sequence[PrinterRoute], role: str, brand: str | None
) -> list[PrinterRoute]:
    """The printers that print `role` tickets for an order of `brand`, in config order."""
    return [r for r in routes if r.serves(role, brand)]
