"""The POS link: one abstract connector, one module per vendor, imported lazily by `kind`."""

from __future__ import annotations

from edge.config.load import read_secret
from edge.config.pos import CREDENTIAL_POS_CLIENT_SECRET, CREDENTIAL_POS_TOKEN, PosConfig

from .base import (
    PosConnector,
    PosCredentials,
    PosError,
    PosPending,
    PosPermanentError,
    PosTransientError,
)
from .menu import Category, Menu, MenuItem, MenuModifier, MenuVariation, ModifierList, ModifierRule
from .model import (
    Attempt,
    Closed,
    Injected,
    InjectionPlan,
    LinkStatus,
    PriceDifference,
    unlinked_lines,
)
from .secrets import NoSecrets, SecretStore

__all__ = [
    "Attempt",
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
    "ModifierRule",
    "PosConnector",
    "PosCredentials",
    "PosError",
    "PosPending",
    "PosPermanentError",
    "PosTransientError",
    "PriceDifference",
    "connector_for",
    "read_credentials",
    "unlinked_lines",
]


def read_credentials(config: PosConfig) -> PosCredentials:
    """The secrets `[pos]` names for its kind, read now; what is missing is a permanent error.

    `edge check-config` calls this too, so a config the daemon would refuse at start is
    refused there as well.
    """
    token = read_secret(config.token_file, CREDENTIAL_POS_TOKEN)
    secret = read_secret(config.client_secret_file, CREDENTIAL_POS_CLIENT_SECRET)
    needs_token = config.kind in ("square", "clover", "lightspeed_k")
    if needs_token and not token:
        what = "the initial OAuth refresh token" if config.kind == "lightspeed_k" else "the token"
        raise PosPermanentError(
            f"no POS token for {config.kind}: set [pos] token_file ({what}) "
            f"or the systemd credential {CREDENTIAL_POS_TOKEN}"
        )
    if config.kind in ("toast", "lightspeed_k") and not secret:
        raise PosPermanentError(
            f"no client secret for {config.kind}: set [pos] client_secret_file "
            f"or the systemd credential {CREDENTIAL_POS_CLIENT_SECRET}"
        )
    return PosCredentials(token=token or "", client_secret=secret or "")


def connector_for(
    config: PosConfig, *, timeout: float = 10.0, secrets: SecretStore | None = None
) -> PosConnector | None:
    """The connector `[pos]` names, or None for kind "none"; the secrets are read now.

    `secrets` keeps what a POS rotates (Lightspeed K's refresh token): the daemon's
    database. Without it (`edge check-config`) the connector can be built, never used.
    """
    if config.kind == "none":
        return None
    credentials = read_credentials(config)
    if config.kind == "square":
        from .square import SquareConnector

        return SquareConnector(
            token=credentials.token,
            location_id=config.location_id or "main",
            base_url=config.base_url or None,
            timeout=timeout,
        )
    if config.kind == "toast":
        from .toast import ToastConnector

        return ToastConnector(
            client_id=config.client_id,
            client_secret=credentials.client_secret,
            restaurant_guid=config.location_id,
            base_url=config.base_url or None,
            timeout=timeout,
        )
    if config.kind == "clover":
        from .clover import CloverConnector

        return CloverConnector(
            token=credentials.token,
            merchant_id=config.location_id,
            region=config.region,
            base_url=config.base_url or None,
            timeout=timeout,
        )
    from .lightspeed import LightspeedKConnector

    return LightspeedKConnector(
        client_id=config.client_id,
        client_secret=credentials.client_secret,
        initial_refresh_token=credentials.token,
        business_location_id=int(config.location_id),
        endpoint_id=config.endpoint_id,
        secrets=secrets or NoSecrets(),
        base_url=config.base_url or None,
        timeout=timeout,
    )
