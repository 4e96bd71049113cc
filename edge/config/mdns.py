"""`[mdns]` (extension): the box announces itself by mDNS so technicians' tools find it."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from edge.config.section import Section

# An interface name (Linux: at most 15 characters) or an IPv4 address.
_INTERFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
Interface = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MdnsConfig(Section):
    """`[mdns]`: whether and where the box advertises `_store-edge._tcp`."""

    advertise: bool = Field(
        default=True,
        description="Extension. Announce this box by mDNS as _store-edge._tcp (store id, version, "
        "the CloudPRNT path and port when [cloudprnt] is set).",
    )
    interfaces: list[Interface] = Field(
        default=[],
        description="Extension. Announce only on these interfaces, by name (eth0) or IPv4 "
        "address; empty = every interface that has an IPv4 address.",
    )

    @field_validator("interfaces")
    @classmethod
    def _interfaces(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                address = ipaddress.ip_address(entry)
            except ValueError:
                if not _INTERFACE.match(entry):
                    raise ValueError(
                        f"{entry!r} is neither an interface name (eth0) nor an IPv4 address"
                    ) from None
                continue
            if address.version != 4:
                raise ValueError(f"{entry!r}: the box announces itself over IPv4 only")
        if len(set(value)) != len(value):
            raise ValueError("interfaces should not repeat")
        return value
