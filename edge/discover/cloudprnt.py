"""CloudPRNT printers that have polled this box's CloudPRNT server, from the running daemon's
`status` (its `cloudprnt.printers`): a Star printer that polls is one ready to configure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.control import ControlAccessError, call
from edge.discover.found import Found, Source, SourceSkipped, Tick, no_tick
from edge.discover.uris import is_mac
from edge.errors import DaemonNotRunningError

STATUS_TIMEOUT_S = 5.0


def _found(printer: dict[str, Any]) -> Found | None:
    mac = printer.get("mac")
    if not isinstance(mac, str) or not is_mac(mac):
        return None
    client = str(printer.get("client_type") or "")
    polled = printer.get("last_poll_at") or "unknown"
    code = printer.get("status_code")
    said = f", status {code}" if code else ""
    detail = f"polled this box's CloudPRNT server, last at {polled}{said}"
    if client:
        detail += f" ({client})"
    if printer.get("allowed") is False:
        detail += "; refused (403) until configured or listed in [cloudprnt] allowed_macs"
    label = client or "cloudprnt-" + mac[-5:].replace(":", "")
    return Found(Source.CLOUDPRNT, f"cloudprnt://{mac.upper()}", label, detail)


def polled_printers(status: dict[str, Any]) -> list[Found]:
    """The CloudPRNT printers in a daemon `status` result; none when it carries no such key."""
    cloudprnt = status.get("cloudprnt")
    printers = cloudprnt.get("printers") if isinstance(cloudprnt, dict) else None
    if not isinstance(printers, list):
        return []
    found = [_found(p) for p in printers if isinstance(p, dict)]
    return sorted((f for f in found if f is not None), key=lambda f: f.uri)


async def find_cloudprnt(control_socket: Path, tick: Tick = no_tick) -> list[Found]:
    """The printers that polled the running daemon; none when it is not running."""
    try:
        reply = await call(control_socket, "status", timeout=STATUS_TIMEOUT_S)
    except DaemonNotRunningError:
        return []
    except ControlAccessError as err:
        raise SourceSkipped(str(err)) from err
    result = reply.get("result") if reply.get("ok") else None
    found = polled_printers(result) if isinstance(result, dict) else []
    tick(len(found), len(found))
    return found
