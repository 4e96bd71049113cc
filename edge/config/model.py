"""The configuration file's schema: CONTRACT §1 plus our documented extensions.

`[pos]` lives in `edge.config.pos`; the names below re-export it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from edge.config.cloudprnt import CloudPrntConfig, cloudprnt_printer_problems
from edge.config.locate import KeyPath
from edge.config.mdns import MdnsConfig
from edge.config.menu import MenuConfig
from edge.config.pos import (
    PosConfig,
)
from edge.config.section import Section as _Section
from edge.config.section import cross_field_error
from edge.config.till import CardReaderConfig, StaffConfig
from edge.config.uris import (
    BrokerAddress,
    check_printer_uri,
    parse_broker_url,
)

IDENTIFIER_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
Locale = Literal["fr", "en"]
PrinterEncoding = Literal["cp1252", "cp437", "cp850", "cp858", "cp852", "cp866"]
PrinterRole = Literal["kitchen", "receipt"]
LogLevel = Literal["debug", "info", "warning", "error"]

# Names of systemd credentials (files in $CREDENTIALS_DIRECTORY), not secrets themselves.
CREDENTIAL_MQTT_PASSWORD = "mqtt-password"  # noqa: S105

_TOPIC_PREFIX = re.compile(r"^[^/#+\s]+(/[^/#+\s]+)*$")

# Longest path the kernel accepts for an AF_UNIX socket (sun_path, minus the NUL).
_MAX_SOCKET_PATH = 107


def printer_link_problems(printers: Iterable[tuple[object, object]]) -> list[tuple[KeyPath, str]]:
    """Problems among (name, backup) pairs: duplicate names, backups naming no other printer."""
    pairs = list(printers)
    names = [name for name, _ in pairs if isinstance(name, str)]
    problems: list[tuple[KeyPath, str]] = []
    seen: set[str] = set()
    for index, (name, backup) in enumerate(pairs):
        if isinstance(name, str):
            if name in seen:
                problems.append((("printers", index, "name"), f"duplicate printer name {name!r}"))
            seen.add(name)
        if not isinstance(backup, str) or not backup:
            continue
        if backup == name:
            problems.append((("printers", index, "backup"), "a printer cannot be its own backup"))
        elif backup not in names:
            known = ", ".join(repr(n) for n in dict.fromkeys(names)) or "none"
            problems.append(
                (("printers", index, "backup"), f"no printer named {backup!r} (printers: {known})")
            )
    return problems


class StoreConfig(_Section):
    """`[store]`: who this box is."""

    id: Identifier = Field(description="The store's identifier (required); `{s}` in MQTT topics.")
    name: str = Field(default="", description="Display name of the store.")
    timezone: str = Field(
        default="UTC", description="IANA time zone name (e.g. Europe/Paris) used on tickets."
    )
    locale: Locale = Field(default="en", description='Ticket language: "fr" or "en".')

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as err:
            raise ValueError(
                f"unknown time zone {value!r} (expected an IANA name such as Europe/Paris)"
            ) from err
        return value

    @property
    def tzinfo(self) -> ZoneInfo:
        """The store's time zone."""
        return ZoneInfo(self.timezone)


class CloudConfig(_Section):
    """`[cloud]`: the MQTT broker link; the whole table is optional (offline without it)."""

    url: str = Field(
        description="Broker: mqtt://host[:port] (1883), mqtts://host[:port] (8883) or unix:///path."
    )
    client_id: str = Field(
        default="", max_length=128, description='MQTT client id; "" means "edge-<store.id>".'
    )
    topic_prefix: str = Field(
        default="stores",
        description="`{p}` in topics: one or more levels, no wildcards, no leading/trailing '/'.",
    )
    username: str = Field(default="", description='MQTT user name; "" = none.')
    password_file: str = Field(
        default="",
        description='File holding the MQTT password; "" = the systemd credential '
        f'"{CREDENTIAL_MQTT_PASSWORD}" if there is one.',
    )
    ca_file: str = Field(
        default="", description='TLS trust anchor (mqtts); "" = the system trust store.'
    )
    cert_file: str = Field(default="", description="TLS client certificate (mutual TLS, mqtts).")
    key_file: str = Field(
        default="", description='Private key of cert_file; "" = the key is in cert_file.'
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive in seconds.")
    session_expiry_s: int = Field(
        default=604800,
        ge=60,
        le=0xFFFFFFFF,
        description="Persistent session expiry (s): the broker keeps orders for an offline edge.",
    )
    receive_maximum: int = Field(
        default=100,
        ge=1,
        le=65535,
        description="Extension. MQTT 5 flow control: how many unacknowledged orders the broker "
        "may send at once.",
    )
    backoff_initial_s: float = Field(
        default=0.5, gt=0, description="Extension. First reconnect delay (jittered, doubled)."
    )
    backoff_max_s: float = Field(
        default=30.0, gt=0, description="Extension. Cap of the reconnect delay."
    )
    event_retention_h: int = Field(
        default=168,
        ge=1,
        description="Extension. Events the cloud has not confirmed on in/events-ack are kept "
        "this long after being published.",
    )
    event_retention_max: int = Field(
        default=100000,
        ge=1,
        description="Extension. At most this many confirmed-or-published events are kept.",
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parse_broker_url(value)
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        if not _TOPIC_PREFIX.match(value):
            raise ValueError(
                "should be one or more topic levels separated by '/', "
                "without wildcards (+ #), spaces or a leading/trailing '/'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CloudConfig:
        problems: list[tuple[KeyPath, str]] = []
        if self.backoff_max_s < self.backoff_initial_s:
            problems.append((("backoff_max_s",), "should be at least backoff_initial_s"))
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(self, key) and not self.tls:
                problems.append(((key,), "TLS files need an mqtts:// url"))
        if self.key_file and not self.cert_file:
            problems.append((("key_file",), "key_file needs cert_file"))
        if problems:
            raise cross_field_error(problems)
        return self

    @property
    def broker(self) -> BrokerAddress:
        """The parsed broker address."""
        return parse_broker_url(self.url)

    @property
    def scheme(self) -> str:
        """The URL scheme: mqtt, mqtts or unix."""
        return self.broker.scheme

    @property
    def host(self) -> str | None:
        """Broker host name or address; None for a unix socket."""
        return self.broker.host

    @property
    def port(self) -> int | None:
        """Broker TCP port (1883 / 8883 by default); None for a unix socket."""
        return self.broker.port

    @property
    def socket_path(self) -> Path | None:
        """Path of the broker's unix socket; None for mqtt(s)."""
        return self.broker.socket_path

    @property
    def tls(self) -> bool:
        """Whether the link uses TLS (mqtts)."""
        return self.broker.tls


class DatabaseConfig(_Section):
    """`[database]`: the local SQLite store."""

    path: Annotated[Path, Field(strict=False)] = Field(
        default=Path("/var/lib/store-edge/edge.db"),
        description="SQLite file; created with its parents if missing.",
    )
    reserve_mb: float = Field(
        default=8.0,
        ge=0,
        le=4096,
        description="Extension. Disk space set aside (a file beside the database) and given back "
        "when the disk fills, so tickets already held can still be recorded as printed.",
    )
    check_interval_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Extension. How often free space is checked, and a failed disk retried.",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("should not be empty")
        return value


class OrdersConfig(_Section):
    """`[orders]`: order handling."""

    release_lead_min: int = Field(
        default=30,
        ge=0,
        le=1440,
        description="Scheduled orders are released this many minutes before scheduled_for.",
    )


# A BLE printer is scanned for, connected and its services discovered before the first byte.
BLE_CONNECT_TIMEOUT_S = 15.0


class PrinterConfig(_Section):
    """One `[[printers]]` entry."""

    name: Identifier = Field(description="Unique name of the printer (required).")
    uri: str = Field(
        description="tcp://HOST[:PORT] (9100), usb://VID:PID[?serial=S], "
        "serial:///dev/X[?baudrate=N&flow=none|rtscts|xonxoff], ble://MAC, "
        "rfcomm://MAC[:CHANNEL] or file:///path."
    )
    width: int = Field(default=48, ge=24, le=64, description="Characters per line in font A.")
    encoding: PrinterEncoding = Field(
        default="cp1252", description="Code page announced with ESC t before any non-ASCII byte."
    )
    roles: list[PrinterRole] = Field(
        default=["kitchen"],
        min_length=1,
        description='Tickets it prints: "kitchen"; "receipt" = a receipt for every accepted order.',
    )
    brands: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default=[], description="Only orders of these brands; empty = all."
    )
    copies: int = Field(default=1, ge=1, le=5, description="Copies of each ticket.")
    backup: str = Field(
        default="", description='Printer that takes over while this one is down; "" = none.'
    )
    failover_after_s: float = Field(
        default=60.0,
        ge=0,
        description="How long this printer may be down before jobs go to backup.",
    )
    cash_drawer: bool = Field(default=False, description="A drawer is wired to the kick port.")
    drawer_open_high: bool = Field(
        default=True,
        description="Extension. The drawer sensor (DLE EOT 1 bit 2, kick connector pin 3) is "
        "high when the drawer is open; false for drawers wired the other way.",
    )
    drawer_pin: Literal[2, 5] = Field(
        default=2, description="Extension. The kick connector pin the drawer is on (2 or 5)."
    )
    drawer_left_open_min: float = Field(
        default=5.0,
        gt=0,
        le=1440.0,
        description="Extension. A drawer open this long is reported once (drawer.left_open).",
    )
    connect_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Extension. Deadline to open the transport (15 s by default for ble://: "
        "a scan, a connection and the discovery of the printer's services).",
    )
    write_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Extension. A write fails when the printer takes no byte for this long.",
    )
    status_interval_s: float = Field(
        default=30.0, gt=0, description="Extension. Status poll interval while the printer is idle."
    )
    status_timeout_s: float = Field(
        default=1.5, gt=0, description="Extension. How long to wait for a status answer."
    )
    retry_initial_s: float = Field(
        default=1.0, gt=0, description="Extension. First retry delay after a failed print."
    )
    retry_max_s: float = Field(
        default=60.0, gt=0, description="Extension. Longest delay between print retries."
    )
    fault_poll_s: float = Field(
        default=2.0, gt=0, description="Extension. How often held jobs re-check a faulty printer."
    )
    batch_max_jobs: int = Field(
        default=50,
        ge=1,
        le=200,
        description="Extension. In a rush, up to this many queued tickets go out in one write "
        "between one durable 'running' and one 'done' commit; a fault right after them marks "
        "them all REPRINT. 1 = strictly one ticket per write.",
    )
    silent_after_s: float = Field(
        default=120.0,
        gt=0,
        description="Extension. A printer that stopped answering status for this long is "
        "printed to blind (some models never answer).",
    )

    @field_validator("uri")
    @classmethod
    def _valid_uri(cls, value: str) -> str:
        return check_printer_uri(value)

    @model_validator(mode="before")
    @classmethod
    def _ble_connects_slowly(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and "connect_timeout_s" not in data
            and str(data.get("uri", "")).lower().startswith("ble://")
        ):
            return {**data, "connect_timeout_s": BLE_CONNECT_TIMEOUT_S}
        return data

    @field_validator("roles")
    @classmethod
    def _distinct_roles(cls, value: list[PrinterRole]) -> list[PrinterRole]:
        if len(set(value)) != len(value):
            raise ValueError("roles should not repeat")
        return value

    @property
    def scheme(self) -> str:
        """The transport, from the URI scheme: tcp, usb, serial, ble, rfcomm or file."""
        return self.uri.partition("://")[0].lower()


class ControlConfig(_Section):
    """`[control]` (extension): the local control socket the CLI talks to."""

    socket: str = Field(
        default="",
        description='Extension. Unix socket path; "" = control.sock next to database.path.',
    )

    @field_validator("socket")
    @classmethod
    def _valid_socket(cls, value: str) -> str:
        if value and len(value.encode()) > _MAX_SOCKET_PATH:
            raise ValueError(f"unix socket paths are limited to {_MAX_SOCKET_PATH} bytes")
        return value


class LogConfig(_Section):
    """`[log]` (extension): logging."""

    level: LogLevel = Field(default="info", description="Extension. Minimum level logged.")


class Config(_Section):
    """The whole configuration file."""

    store: StoreConfig = Field(description="Who this box is (required).")
    cloud: CloudConfig | None = Field(default=None, description="Broker link; None = offline.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Local store.")
    orders: OrdersConfig = Field(default_factory=OrdersConfig, description="Order handling.")
    printers: list[PrinterConfig] = Field(default=[], description="Zero or more printers.")
    pos: PosConfig = Field(default_factory=PosConfig, description="POS injection.")
    menu: MenuConfig = Field(default_factory=MenuConfig, description="POS menu sync.")
    cloudprnt: CloudPrntConfig | None = Field(
        default=None, description="The LAN CloudPRNT server; None = no cloudprnt:// printers."
    )
    mdns: MdnsConfig = Field(default_factory=MdnsConfig, description="Extension. mDNS.")
    card_reader: CardReaderConfig | None = Field(default=None, description="Payment terminal.")
    staff: StaffConfig = Field(default_factory=StaffConfig, description="Extension. PIN lockouts.")
    control: ControlConfig = Field(default_factory=ControlConfig, description="Extension.")
    log: LogConfig = Field(default_factory=LogConfig, description="Extension.")

    @model_validator(mode="after")
    def _printers_link_up(self) -> Config:
        problems = printer_link_problems((p.name, p.backup) for p in self.printers)
        problems += cloudprnt_printer_problems(
            [(p.name, p.uri) for p in self.printers], self.cloudprnt is not None
        )
        if problems:
            raise cross_field_error(problems)
        return self

    @property
    def cloud_client_id(self) -> str:
        """The MQTT client id: cloud.client_id, else "edge-<store.id>"."""
        if self.cloud is not None and self.cloud.client_id:
            return self.cloud.client_id
        return f"edge-{self.store.id}"

    @property
    def control_socket_path(self) -> Path:
        """The control socket: control.socket, else control.sock beside the database."""
        if self.control.socket:
            return Path(self.control.socket)
        return self.database.path.parent / "control.sock"
