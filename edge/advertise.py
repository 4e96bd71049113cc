"""The box announces itself by mDNS (`_store-edge._tcp`) so technicians' tools find it.

Never fatal: a zeroconf failure is a log line and is retried with backoff; printing goes
on regardless. The announcement follows the box's IPv4 addresses (DHCP at boot, a cable
moved) and says goodbye when the daemon stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from edge import __version__
from edge.backoff import Backoff
from edge.config.cloudprnt import parse_listen

if TYPE_CHECKING:
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    from edge.config import Config

log = logging.getLogger(__name__)

SERVICE_TYPE = "_store-edge._tcp.local."
CLOUDPRNT_PATH = "/cloudprnt"
#: SRV port when the box serves nothing on TCP for these tools: the discard port, as Avahi's
#: `_workstation._tcp` does; 0 is refused by some browsers.
NO_SERVICE_PORT = 9
_REGISTER_TIMEOUT_S = 10.0  # probing and announcing take about 2 s
_GOODBYE_TIMEOUT_S = 2.0


class AdvertiseState(StrEnum):
    """Where the announcement stands."""

    STARTING = "starting"
    ADVERTISING = "advertising"
    NO_ADDRESS = "no_address"  # no IPv4 address on the chosen interfaces yet
    RETRYING = "retrying"  # zeroconf failed; trying again after a backoff


@dataclass(frozen=True, slots=True)
class Announcement:
    """What the box says about itself."""

    instance: str
    port: int
    properties: dict[str, str]
    server: str


def _cloudprnt_port(config: Config) -> int | None:
    if config.cloudprnt is None:
        return None
    return parse_listen(config.cloudprnt.listen)[1]


def announcement(config: Config) -> Announcement:
    """The store's announcement: its id as instance name, version, the CloudPRNT server."""
    store_id = config.store.id
    properties = {"store_id": store_id, "version": __version__}
    port = _cloudprnt_port(config)
    if port is not None:
        properties |= {"cloudprnt": CLOUDPRNT_PATH, "cloudprnt_port": str(port)}
    label = re.sub(r"[^a-z0-9-]+", "-", store_id.lower()).strip("-")[:52] or "box"
    return Announcement(
        instance=store_id,
        port=port if port is not None else NO_SERVICE_PORT,
        properties=properties,
        server=f"store-edge-{label}.local.",
    )


def ipv4_addresses(interfaces: list[str]) -> list[str]:
    """The IPv4 addresses to announce on: of the named interfaces (names or addresses), or
    of every interface but loopback when none is named (blocking: it asks the kernel)."""
    import ifaddr

    wanted = set(interfaces)
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: (address, flowinfo, scope)
            address = ipaddress.IPv4Address(ip.ip)
            if wanted:
                if adapter.name in wanted or adapter.nice_name in wanted or ip.ip in wanted:
                    found.append(ip.ip)
            elif not address.is_loopback:
                found.append(ip.ip)
    return sorted(set(found), key=ipaddress.IPv4Address)


def _zeroconf(addresses: list[str]) -> AsyncZeroconf:
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncZeroconf

    return AsyncZeroconf(interfaces=list(addresses), ip_version=IPVersion.V4Only)


class Advertiser:
    """Announces `_store-edge._tcp` while `run()` runs; cancel it to say goodbye."""

    def __init__(
        self,
        config: Config,
        *,
        recheck_s: float = 30.0,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 300.0,
        addresses: Callable[[list[str]], list[str]] = ipv4_addresses,
        zeroconf: Callable[[list[str]], AsyncZeroconf] = _zeroconf,
    ) -> None:
        self.announcement = announcement(config)
        self.interfaces = list(config.mdns.interfaces)
        self.recheck_s = recheck_s
        self.state = AdvertiseState.STARTING
        self.name: str | None = None  # the instance name in use (renamed on a clash)
        self.addresses: list[str] = []
        self.last_error: str | None = None
        self.advertised = asyncio.Event()
        self._backoff = Backoff(retry_initial_s, retry_max_s)
        self._find_addresses = addresses
        self._new_zeroconf = zeroconf

    def snapshot(self) -> dict[str, Any]:
        """For `status`: what is announced, and where."""
        return {
            "state": self.state.value,
            "name": self.name,
            "addresses": self.addresses,
            "last_error": self.last_error,
        }

    async def run(self) -> None:
        """Announce until cancelled; every failure is logged and retried with backoff."""
        while True:
            try:
                await self._advertise_while_unchanged()
            except Exception as err:  # an announcement must never stop the daemon
                self.state = AdvertiseState.RETRYING
                self.last_error = f"{type(err).__name__}: {err}"
                self.advertised.clear()
                delay = self._backoff.next()
                log.warning(
                    "mDNS announcement failed (%s); retrying in %.1f s", self.last_error, delay
                )
                log.debug("mDNS announcement failure", exc_info=True)
                await asyncio.sleep(delay)

    async def _advertise_while_unchanged(self) -> None:
        """Announce on the current addresses; return when they change."""
        addresses = await asyncio.to_thread(self._find_addresses, self.interfaces)
        if not addresses:
            if self.state is not AdvertiseState.NO_ADDRESS:
                where = ", ".join(self.interfaces) or "any interface"
                log.info(
                    "mDNS: no IPv4 address on %s yet; looking again every %g s",
                    where,
                    self.recheck_s,
                )
            self.state = AdvertiseState.NO_ADDRESS
            await asyncio.sleep(self.recheck_s)  # interval: addresses come from DHCP
            return
        azc = self._new_zeroconf(addresses)
        try:
            info = self._service_info(addresses)
            async with asyncio.timeout(_REGISTER_TIMEOUT_S):
                await (await azc.async_register_service(info, allow_name_change=True))
            self._announced(info, addresses)
            try:
                while addresses == await self._next_addresses():
                    pass
                log.info("mDNS: addresses changed; announcing again")
            finally:
                self.advertised.clear()
                await self._goodbye(azc, info)
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_GOODBYE_TIMEOUT_S):
                    await azc.async_close()

    async def _next_addresses(self) -> list[str]:
        await asyncio.sleep(self.recheck_s)  # interval between two looks at the interfaces
        return await asyncio.to_thread(self._find_addresses, self.interfaces)

    def _service_info(self, addresses: list[str]) -> ServiceInfo:
        from zeroconf import ServiceInfo

        a = self.announcement
        return ServiceInfo(
            SERVICE_TYPE,
            f"{a.instance}.{SERVICE_TYPE}",
            port=a.port,
            properties=a.properties,
            server=a.server,
            parsed_addresses=addresses,
        )

    def _announced(self, info: ServiceInfo, addresses: list[str]) -> None:
        self.name = info.name.removesuffix("." + SERVICE_TYPE)
        self.addresses = addresses
        self.state = AdvertiseState.ADVERTISING
        self.last_error = None
        self._backoff.reset()
        self.advertised.set()
        log.info(
            "mDNS: announcing %r as %s on %s port %d",
            self.name,
            SERVICE_TYPE.removesuffix(".local."),
            ", ".join(addresses),
            info.port,
        )

    async def _goodbye(self, azc: AsyncZeroconf, info: ServiceInfo) -> None:
        """Withdraw the announcement; bounded, and quiet when the network is gone."""
        try:
            async with asyncio.timeout(_GOODBYE_TIMEOUT_S):
                await (await azc.async_unregister_service(info))
        except (TimeoutError, OSError) as err:
            log.debug("mDNS goodbye not sent: %s", err)
