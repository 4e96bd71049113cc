"""Network printers that announce themselves by mDNS (`_pdl-datastream._tcp`, `_printer._tcp`,
`_ipp._tcp`): each one resolved as soon as it is seen, while the listening window runs."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from zeroconf import DNSQuestionType, InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from edge.discover.found import Found, Source, SourceFailed, Tick, no_tick

RAW = "_pdl-datastream._tcp.local."
SERVICES = (RAW, "_printer._tcp.local.", "_ipp._tcp.local.")
RESOLVE_TIMEOUT_MS = 2000
RAW_PORT = 9100


@dataclass(frozen=True, slots=True)
class Announced:
    """One resolved service announcement."""

    service: str  # _pdl-datastream._tcp
    name: str  # the instance name: "Kitchen TM-T20"
    address: str
    port: int
    model: str

    @property
    def raw(self) -> bool:
        """A raw-socket (port 9100 style) service: what tcp:// printers speak."""
        return self.service == RAW.removesuffix(".local.")


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _found(announced: Announced, others: list[Announced]) -> Found:
    said = f"'{announced.name}'" + (f" ({announced.model})" if announced.model else "")
    if announced.raw:
        also = sorted({a.service for a in others if a is not announced})
        return Found(
            Source.MDNS,
            f"tcp://{_host(announced.address)}:{announced.port}",
            announced.model or announced.name,
            f"mDNS {announced.service} {said}" + (f", also {', '.join(also)}" if also else ""),
        )
    # IPP or LPD only: no raw port is announced; most receipt printers still take 9100.
    return Found(
        Source.MDNS,
        f"tcp://{_host(announced.address)}:{RAW_PORT}",
        announced.model or announced.name,
        f"mDNS {announced.service} on port {announced.port} {said}; it announces no raw "
        f"port: {RAW_PORT} is a guess, confirm it with --sweep {announced.address}",
    )


async def _resolve(zc: Zeroconf, service_type: str, name: str) -> Announced | None:
    info = AsyncServiceInfo(service_type, name)
    if not await info.async_request(zc, RESOLVE_TIMEOUT_MS):
        return None
    addresses = info.parsed_addresses()
    if not addresses or info.port is None:
        return None
    props = {
        k.decode(errors="replace"): (v or b"").decode(errors="replace")
        for k, v in (info.properties or {}).items()
    }
    model = props.get("ty") or props.get("product", "").strip("()")
    return Announced(
        service=service_type.removesuffix(".local."),
        name=name.removesuffix("." + service_type),
        address=addresses[0],
        port=info.port,
        model=model,
    )


async def find_mdns(
    seconds: float, interfaces: list[str] | None = None, tick: Tick = no_tick
) -> list[Found]:
    """Listen for `seconds`; every printer seen, once per address (its raw service first)."""
    try:
        azc = AsyncZeroconf(
            interfaces=interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only
        )
    except (OSError, ValueError) as err:  # no interface to listen on, an address not ours
        raise SourceFailed(f"cannot listen for mDNS announcements: {err}") from err
    announced: list[Announced] = []
    seen: set[tuple[str, str]] = set()
    listening = True
    try:
        async with asyncio.TaskGroup() as tg:

            async def resolve(service_type: str, name: str) -> None:
                result = await _resolve(azc.zeroconf, service_type, name)
                if result is not None:
                    announced.append(result)
                    tick(len(announced), None)

            def on_change(
                zeroconf: Zeroconf,
                service_type: str,
                name: str,
                state_change: ServiceStateChange,
            ) -> None:
                key = (service_type, name)
                if not listening:
                    return  # the window closed: the TaskGroup takes no new task
                if state_change is not ServiceStateChange.Removed and key not in seen:
                    seen.add(key)
                    tg.create_task(resolve(service_type, name), name=f"mdns-resolve-{name}")

            # Multicast questions only: a unicast answer (QU) to port 5353 reaches one of the
            # sockets bound there, often avahi-daemon's rather than ours; the multicast one
            # reaches every listener on the box.
            browser = AsyncServiceBrowser(
                azc.zeroconf,
                list(SERVICES),
                handlers=[on_change],
                question_type=DNSQuestionType.QM,
            )
            try:
                await asyncio.sleep(seconds)  # the listening window the technician chose
            finally:
                listening = False
                await browser.async_cancel()
    finally:
        await azc.async_close()
    by_address: dict[str, list[Announced]] = {}
    for a in announced:
        by_address.setdefault(a.address, []).append(a)
    found = []
    for address in sorted(by_address, key=ipaddress.ip_address):
        services = sorted(by_address[address], key=lambda a: (a.service, a.name, a.port))
        raw = [a for a in services if a.raw]
        for a in raw or services[:1]:  # IPP and LPD are only a hint when no raw port is there
            found.append(_found(a, services))
    return found
