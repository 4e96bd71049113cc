"""`[pos]`: the point of sale orders are injected into, and what each vendor needs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.config.locate import KeyPath
from edge.config.section import HTTP_URL, Section, cross_field_error

PosKind = Literal["none", "square", "toast", "clover", "lightspeed_k"]
CloverRegion = Literal["us", "eu", "la"]

# Names of systemd credentials (files in $CREDENTIALS_DIRECTORY), not secrets themselves.
CREDENTIAL_POS_TOKEN = "pos-token"  # noqa: S105
CREDENTIAL_POS_CLIENT_SECRET = "pos-client-secret"  # noqa: S105


class PosConfig(Section):
    """`[pos]`: the point of sale orders are injected into; kind "none" injects nothing."""

    kind: PosKind = Field(default="none", description='POS vendor; "none" = no injection.')
    base_url: str = Field(
        default="",
        description='Vendor API base URL; "" = the vendor\'s production URL.',
    )
    token_file: str = Field(
        default="",
        description='API access token file; "" = the systemd credential '
        f'"{CREDENTIAL_POS_TOKEN}" if there is one.',
    )
    client_id: str = Field(default="", description="Toast and Lightspeed K: the API client id.")
    client_secret_file: str = Field(
        default="",
        description='Toast and Lightspeed K: the client secret file; "" = the systemd '
        f'credential "{CREDENTIAL_POS_CLIENT_SECRET}" if there is one.',
    )
    location_id: str = Field(default="", description="The vendor's id of this store.")
    region: CloverRegion = Field(
        default="us", description='Clover only: "us", "eu" or "la" (ignored when base_url is set).'
    )
    order_types: dict[str, str] = Field(
        default={},
        description="Extension. POS order type per partner and order type, as "
        '"partner/type", "type" or "partner" -> id (Toast dining option GUID, Clover order '
        'type id, Lightspeed K order profile code); "" = chosen by meaning.',
    )
    delivery_state: str = Field(
        default="",
        pattern=r"^([A-Z]{2})?$",
        description="Extension. Toast: the two-letter state of the store's delivery addresses "
        "(Toast requires one; the orders carry none).",
    )
    endpoint_id: str = Field(
        default="store-edge",
        description="Extension. Lightspeed K: the webhook endpoint id the cloud registered "
        "for this store (where Lightspeed sends the results the cloud relays).",
    )
    disabled_partners: list[str] = Field(
        default=[],
        description="Extension. Partners (channels) whose orders are not injected; "
        "the cloud may override it through in/settings.",
    )
    tenders: dict[str, str] = Field(
        default={},
        description="Extension. Partner -> the POS tender recording what the partner "
        'collected (Square external payment type, default "EXTERNAL"; Toast alternate payment '
        "type GUID; Clover tender id; Lightspeed K payment method code); unset = chosen by name.",
    )
    fulfillment: dict[str, Literal["pickup", "delivery", "shipment", "none"]] = Field(
        default={},
        description="Extension. Order type -> POS fulfillment (default: delivery and "
        "self_delivery -> delivery, pickup -> pickup, dine_in -> none).",
    )
    auto_close: bool = Field(
        default=True,
        description="Extension. Record the partner's payment and close the POS ticket "
        "right after injecting a paid order.",
    )

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        if value and not HTTP_URL.match(value):
            raise ValueError("should be empty or an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _complete_for_kind(self) -> PosConfig:
        problems = pos_config_problems(self)
        if problems:
            raise cross_field_error(problems)
        return self


_LOCATION_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "toast": (
        re.compile(
            r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        ),
        "the restaurant GUID (Toast-Restaurant-External-ID)",
    ),
    "clover": (re.compile(r"^[0-9A-Z]{13}$"), "the 13-character merchant id"),
    "lightspeed_k": (re.compile(r"^[0-9]{1,18}$"), "the numeric business location id"),
    # Square: "" is the merchant's main location (Square's "main" alias)
    "square": (re.compile(r"^\S{0,64}$"), "the Square location id, or empty for the main one"),
}


def pos_config_problems(pos: PosConfig) -> list[tuple[KeyPath, str]]:
    """What `[pos]` lacks for its kind (secrets are checked when they are read)."""
    if pos.kind == "none":
        return []
    problems: list[tuple[KeyPath, str]] = []
    pattern, what = _LOCATION_FORMS[pos.kind]
    if not pattern.match(pos.location_id):
        problems.append((("location_id",), f"{pos.kind} needs location_id = {what}"))
    if pos.kind in ("toast", "lightspeed_k") and not pos.client_id:
        problems.append((("client_id",), f"{pos.kind} needs client_id (the API client id)"))
    return problems
