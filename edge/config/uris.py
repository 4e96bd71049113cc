"""Shape checks for the broker URL and device URIs of the configuration file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, urlsplit

from drivers.bluetooth.uris import parse_ble_uri, parse_rfcomm_uri
from drivers.errors import UnsupportedTransportError
from drivers.transports.serial import parse_serial_uri

BROKER_SCHEMES = ("mqtt", "mqtts", "unix")
PRINTER_SCHEMES = ("tcp", "usb", "serial", "ble", "rfcomm", "file", "cloudprnt")

_MAC = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"
_MAC_RE = re.compile(rf"^{_MAC}$")
_USB_RE = re.compile(r"^(?P<vid>[0-9A-Fa-f]{1,4}):(?P<pid>[0-9A-Fa-f]{1,4})$")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the MQTT broker is: host and port (mqtt, mqtts) or a unix socket path."""

    scheme: str
    host: str | None
    port: int | None
    socket_path: Path | None

    @property
    def tls(self) -> bool:
        """Whether the connection is wrapped in TLS (mqtts)."""
        return self.scheme == "mqtts"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse `mqtt://host[:port]`, `mqtts://host[:port]` or `unix:///path`; ValueError otherwise."""
    parts = _split(url, BROKER_SCHEMES)
    if parts.scheme == "unix":
        _no_query(parts)
        return BrokerAddress("unix", None, None, Path(_local_path(parts)))
    default_port = 8883 if parts.scheme == "mqtts" else 1883
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "credentials do not belong in the URL: use cloud.username and cloud.password_file"
        )
    host, port = _host_port(parts, default_port)
    if parts.path not in ("", "/"):
        raise ValueError(f"unexpected path {parts.path!r} in {url!r}")
    _no_query(parts)
    return BrokerAddress(parts.scheme, host, port, None)


def check_printer_uri(uri: str) -> str:
    """Check a printer URI's shape (CONTRACT §1 table); return it unchanged, else ValueError."""
    return _check_device_uri(uri, PRINTER_SCHEMES, default_tcp_port=9100)


def _check_device_uri(uri: str, schemes: tuple[str, ...], default_tcp_port: int | None) -> str:
    parts = _split(uri, schemes)
    scheme = parts.scheme
    if scheme == "tcp":
        if default_tcp_port is None and _port_text(parts) is None:
            raise ValueError(f"{uri!r} needs a port: tcp://HOST:PORT")
        _host_port(parts, default_tcp_port or 0)
        _no_path(parts)
        _no_query(parts)
    elif scheme == "usb":
        if not _USB_RE.match(parts.netloc):
            raise ValueError(
                f"{uri!r} should be usb://VID:PID with hexadecimal ids, e.g. usb://04b8:0202"
            )
        _no_path(parts)
        _query(parts, {"serial": None})
    elif scheme == "serial":
        path = _local_path(parts)
        if not path.startswith("/dev/"):
            raise ValueError(f"{uri!r} should name a device under /dev, e.g. serial:///dev/ttyUSB0")
        try:  # the transport's own parser: one definition of what a serial URI may say
            parse_serial_uri(uri)
        except UnsupportedTransportError as err:
            raise ValueError(str(err)) from err
    elif scheme in ("ble", "rfcomm"):
        parse = parse_ble_uri if scheme == "ble" else parse_rfcomm_uri
        try:  # the transport's own parser, as for serial
            parse(uri)
        except UnsupportedTransportError as err:
            raise ValueError(str(err)) from err
    elif scheme == "cloudprnt":
        if not _MAC_RE.match(parts.netloc):
            raise ValueError(
                f"{uri!r} should be cloudprnt:// and the printer's Ethernet MAC, "
                "e.g. cloudprnt://00:11:62:AA:BB:CC"
            )
        _no_path(parts)
        _no_query(parts)
    else:  # file
        _local_path(parts)
        _no_query(parts)
    return uri


def _split(uri: str, schemes: tuple[str, ...]) -> SplitResult:
    expected = ", ".join(f"{s}://" for s in schemes)
    if "://" not in uri:
        raise ValueError(f"{uri!r} is not a URI; expected one of {expected}")
    parts = urlsplit(uri)
    if parts.scheme not in schemes:
        raise ValueError(f"unsupported scheme {parts.scheme + '://'!r}; expected one of {expected}")
    if parts.fragment:
        raise ValueError(f"unexpected fragment '#{parts.fragment}' in {uri!r}")
    return parts


def _port_text(parts: SplitResult) -> str | None:
    # urlsplit's .port raises on garbage; read the text after the host ourselves.
    netloc = parts.netloc.rpartition("@")[2]
    host_end = netloc.rfind("]") if netloc.startswith("[") else -1
    tail = netloc[host_end + 1 :]
    return tail.partition(":")[2] if ":" in tail else None


def _host_port(parts: SplitResult, default_port: int) -> tuple[str, int]:
    host = parts.hostname
    if not host:
        raise ValueError(f"missing host in {parts.geturl()!r}")
    text = _port_text(parts)
    if text is None:
        return host, default_port
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"port should be 1..65535, got {text!r}")
    return host, int(text)


def _local_path(parts: SplitResult) -> str:
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ValueError(
            f"{parts.geturl()!r} should hold an absolute path after three slashes, "
            f"e.g. {parts.scheme}:///path"
        )
    if parts.path == "/":
        raise ValueError(f"missing path in {parts.geturl()!r}")
    return parts.path


def _no_path(parts: SplitResult) -> None:
    if parts.path not in ("", "/"):
        raise ValueError(f"unexpected path {parts.path!r} in {parts.geturl()!r}")


def _no_query(parts: SplitResult) -> None:
    if parts.query:
        raise ValueError(f"unexpected query '?{parts.query}' in {parts.geturl()!r}")


def _query(parts: SplitResult, allowed: dict[str, tuple[str, ...] | None]) -> dict[str, str]:
    """Parse the query: each key at most once, known keys only, values from `allowed` if given."""
    values: dict[str, str] = {}
    for key, found in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items():
        if key not in allowed:
            raise ValueError(f"unknown parameter {key!r}; expected {', '.join(allowed)}")
        if len(found) != 1 or not found[0]:
            raise ValueError(f"parameter {key!r} should be given once, with a value")
        choices = allowed[key]
        if choices is not None and found[0] not in choices:
            raise ValueError(f"{key} should be one of {', '.join(choices)}, got {found[0]!r}")
        values[key] = found[0]
    return values
