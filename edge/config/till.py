"""`[card_reader]` (the payment terminal) and `[staff]` (ours: how wrong PINs lock people out)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.config.section import Section


class CardReaderConfig(Section):
    """`[card_reader]`: an Ingenico Telium terminal speaking Concert, on a serial/USB port."""

    uri: str = Field(
        description="serial:///dev/X[?baudrate=N&flow=…&usb-id=VID:PID]; usb-id finds the "
        "terminal again when it comes back under another name (ttyACM0 -> ttyACM1)."
    )
    protocol: Literal["concert", "concert-e"] = Field(
        default="concert", description='"concert" (protocol E+) or "concert-e" (protocol E).'
    )
    pos_number: str = Field(
        default="01",
        pattern=r"^[0-9]{1,2}$",
        description="The till number sent in each request (two digits).",
    )
    answer_timeout_s: float = Field(
        default=180.0,
        ge=30.0,
        le=900.0,
        description="Extension. How long the customer has at the terminal; silence past it "
        "is an UNKNOWN payment (never declined).",
    )
    ack_timeout_s: float = Field(
        default=3.0, gt=0, le=30.0, description="Extension. Deadline for each ACK/ENQ."
    )

    @field_validator("uri")
    @classmethod
    def _valid_uri(cls, value: str) -> str:
        from drivers.concert import parse_card_reader_uri
        from drivers.errors import DriverError

        try:  # the driver's own parser: one definition of what the URI may say
            parse_card_reader_uri(value)
        except (DriverError, ValueError) as err:
            raise ValueError(str(err)) from err
        return value


class StaffConfig(Section):
    """`[staff]` (extension): wrong-PIN lockouts. People and PINs are in the database."""

    lockout_after: int = Field(
        default=5, ge=2, le=20, description="Extension. Wrong PINs before a person is locked out."
    )
    box_lockout_after: int = Field(
        default=5,
        ge=2,
        le=50,
        description="Extension. Wrong PINs (anyone's, within 15 min of each other) before the "
        "whole box refuses PINs; a right PIN does not reset the count.",
    )
    lockout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600.0,
        description="Extension. The first lockout; each next one doubles, up to lockout_max_s.",
    )
    lockout_max_s: float = Field(
        default=900.0, gt=0, le=86400.0, description="Extension. The longest lockout."
    )
