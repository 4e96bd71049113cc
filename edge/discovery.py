"""mDNS discovery of network printers (`_pdl-datastream._tcp`, `_printer._tcp`, `_ipp._tcp`)."""

from __future__ import annotations

import asyncio
from typing import Any

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICES = ("_pdl-datastream._tcp.local.", "_printer._tcp.local.", "_ipp._tcp.local.")


async def discover_printers(
    seconds: float, interfaces: list[str] | None = None
) -> list[dict[str, Any]]:
    """Listen for `seconds` and return every printer service seen, raw-socket ones first."""
    azc = AsyncZeroconf(interfaces=interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)
    seen: set[tuple[str, str]] = set()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed:
            seen.add((service_type, name))

    browser = AsyncServiceBrowser(azc.zeroconf, list(SERVICES), handlers=[on_change])
    try:
        await asyncio.sleep(seconds)  # listening window chosen by the technician
        found = []
        for service_type, name in sorted(seen):
            info = AsyncServiceInfo(service_type, name)
            if not await info.async_request(azc.zeroconf, 2000):
                continue
            addresses = info.parsed_addresses()
            if not addresses or info.port is None:
                continue
            props = {
                k.decode(errors="replace"): (v or b"").decode(errors="replace")
                for k, v in (info.properties or {}).items()
            }
            scheme = (
                "tcp"
                if service_type.startswith("_pdl-datastream")
                else service_type.split(".")[0][1:]
            )
            found.append(
                {
                    "name": name.removesuffix("." + service_type),
                    "service": service_type.removesuffix(".local."),
                    "uri": f"{scheme}://{addresses[0]}:{info.port}",
                    "model": props.get("ty") or props.get("product"),
                }
            )
    finally:
        await browser.async_cancel()
        await azc.async_close()
    found.sort(key=lambda f: (not str(f["uri"]).startswith("tcp://"), str(f["name"])))
    return found
