"""`[cloudprnt]`: the LAN CloudPRNT server that `cloudprnt://` printers poll."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator, model_validator

from edge.config.locate import KeyPath
from edge.config.section import Section, cross_field_error

# Name of the systemd credential (a file in $CREDENTIALS_DIRECTORY), not a secret itself.
CREDENTIAL_CLOUDPRNT_PASSWORD = "cloudprnt-password"  # noqa: S105

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (`[v6]:PORT` for IPv6) as (host, port); ValueError when it is not one."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} should be HOST:PORT, e.g. 0.0.0.0:8085")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as err:
            raise ValueError(f"{host!r} is not an IPv6 address") from err
    elif ":" in host:
        raise ValueError(f"{value!r}: write an IPv6 address in brackets, e.g. [::]:8085")
    elif len(host) > 253 or not _HOST_NAME.match(host):
        raise ValueError(f"{host!r} is not a host name or address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} should be a number from 1 to 65535")
    return host, int(port_text)


class CloudPrntConfig(Section):
    """`[cloudprnt]`: where the box serves CloudPRNT, who may poll it, and its timings."""

    listen: str = Field(
        default="0.0.0.0:8085",
        description="HOST:PORT the server listens on; the printers' Server URL is "
        "http://<box>:<port>/cloudprnt.",
    )
    poll_interval_s: int = Field(
        default=5,
        ge=1,
        le=120,
        description="The poll interval set on the printers (Star's range 1 to 120 s); a "
        "printer silent for 2 x this + 5 s is offline (the slower interval a printer reports "
        "wins).",
    )
    username: str = Field(
        default="",
        max_length=64,
        description='Extension. HTTP Basic user name the printers must send; "" = no '
        "authentication.",
    )
    password_file: str = Field(
        default="",
        description='Extension. File holding the Basic password; "" = the systemd credential '
        f'"{CREDENTIAL_CLOUDPRNT_PASSWORD}".',
    )
    allowed_macs: list[str] = Field(
        default=[],
        description="Extension. MACs allowed to poll besides the configured cloudprnt:// "
        "printers (they are listed by `edge printers discover`, never sent a job); any other "
        "MAC is refused (403) and only listed.",
    )
    job_timeout_s: float = Field(
        default=60.0,
        ge=5,
        le=600,
        description="Extension. A ticket the printer fetched and did not confirm within this "
        "is 'unknown': printed again, marked REPRINT.",
    )

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("allowed_macs")
    @classmethod
    def _valid_macs(cls, value: list[str]) -> list[str]:
        for mac in value:
            if not _MAC.match(mac):
                raise ValueError(f"{mac!r} is not a MAC address, e.g. 00:11:62:AA:BB:CC")
        return [mac.upper() for mac in value]

    @model_validator(mode="after")
    def _password_needs_user(self) -> CloudPrntConfig:
        if self.password_file and not self.username:
            raise cross_field_error([(("password_file",), "a password needs a username")])
        return self

    @property
    def host(self) -> str:
        """The address listened on."""
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        return parse_listen(self.listen)[1]


def cloudprnt_printer_problems(
    printers: list[tuple[str, str]], server_configured: bool
) -> list[tuple[KeyPath, str]]:
    """Problems of the `cloudprnt://` printers among the (name, uri) of [[printers]]: no
    [cloudprnt] table to poll, or two printers with one MAC."""
    problems: list[tuple[KeyPath, str]] = []
    seen: dict[str, str] = {}
    for index, (name, uri) in enumerate(printers):
        if not uri.lower().startswith("cloudprnt://"):
            continue
        key: KeyPath = ("printers", index, "uri")
        if not server_configured:
            problems.append(
                (
                    key,
                    f"printer {name!r} is a CloudPRNT printer: it needs the [cloudprnt] table "
                    "(the server it polls)",
                )
            )
        mac = uri.partition("://")[2].upper()
        if mac in seen:
            problems.append((key, f"printer {seen[mac]!r} is already CloudPRNT printer {mac}"))
        seen.setdefault(mac, name)
    return problems
