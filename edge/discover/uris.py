"""When two printer URIs name the same device: MACs in any case, tcp's default port 9100,
settings in the query (baud rate, BLE pacing) left out."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")
_USB = re.compile(r"^(?P<vid>[0-9A-Fa-f]{1,4}):(?P<pid>[0-9A-Fa-f]{1,4})$")


def is_mac(text: str) -> bool:
    """Whether `text` is a colon-separated MAC address."""
    return bool(_MAC.match(text))


def identity(uri: str) -> tuple[str, ...]:
    """What names the device in `uri`, normalised; a URI it cannot read stands for itself."""
    try:
        parts = urlsplit(uri.strip())
        scheme = parts.scheme.lower()
        if scheme == "tcp" and parts.hostname:
            return ("tcp", parts.hostname.lower(), str(parts.port or 9100))
        if scheme == "usb" and (ids := _USB.match(parts.netloc)):
            serial = parse_qs(parts.query).get("serial", [""])[0]
            return ("usb", f"{int(ids['vid'], 16):04x}", f"{int(ids['pid'], 16):04x}", serial)
        if scheme in ("serial", "file") and parts.path:
            return (scheme, unquote(parts.path))
        if scheme in ("ble", "cloudprnt") and is_mac(parts.netloc):
            return (scheme, parts.netloc.upper())
        if scheme == "rfcomm":
            mac = parts.netloc[:17]
            if is_mac(mac):
                channel = parts.netloc[18:] or parse_qs(parts.query).get("channel", ["1"])[0]
                return ("rfcomm", mac.upper(), channel)
    except ValueError:  # a port that is not a number
        pass
    return ("uri", uri)


def same_device(configured: str, found: str) -> bool:
    """Whether a configured printer URI names the device found.

    A configured usb:// URI without a serial takes any printer with those ids: it is the
    printer the daemon would open.
    """
    a, b = identity(configured), identity(found)
    if a[0] == "usb" and b[0] == "usb" and not a[3]:
        return a[:3] == b[:3]
    return a == b
