"""The POS link: one abstract connector, one module per vendor, imported lazily by `kind`."""

from __future__ import annotations

from edge.config.load import read_secret
from edge.config.model import CREDENTIAL_POS_TOKEN, PosConfig

from .base import PosConnector, PosError, PosPermanentError, PosTransientError
from .model import (
    Category,
    Closed,
    Injected,
    InjectionPlan,
    LinkStatus,
    Menu,
    MenuItem,
    MenuModifier,
    MenuVariation,
    ModifierList,
    PriceDifference,
    unlinked_lines,
)

__all__ = [
    "Category",
    "Closed",
    "Injected",
    "InjectionPlan",
    "LinkStatus",
    "Menu",
    "MenuItem",
    "MenuModifier",
    "MenuVariation",
    "ModifierList",
    "PosConnector",
    "PosError",
    "PosPermanentError",
    "PosTransientError",
    "PriceDifference",
    "connector_for",
    "unlinked_lines",
]


def connector_for(config: PosConfig, *, timeout: float = 10.0) -> PosConnector | None:
    """The connector `[pos]` names, or None for kind "none"; the token is read now."""
    if config.kind == "none":
        return None
    token = read_secret(config.token_file, CREDENTIAL_POS_TOKEN)
    if not token:
        raise PosPermanentError(f"no POS token: set [pos] token_file or {CREDENTIAL_POS_TOKEN}")
    if config.kind == "square":
        from .square import SquareConnector

        return SquareConnector(
            token=token,
            location_id=config.location_id,
            base_url=config.base_url or None,
            timeout=timeout,
        )
    raise PosPermanentError(f"POS kind {config.kind!r} has no connector yet")
