"""The box announces itself by mDNS (`_store-edge._tcp`): on loopback only, browsed for real."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from edge import __version__
from edge.advertise import (
    NO_SERVICE_PORT,
    SERVICE_TYPE,
    Advertiser,
    AdvertiseState,
    announcement,
    ipv4_addresses,
)
from edge.config import Config, ConfigError, load_config
from tests.support.edge_process import EdgeProcess, write_config

LOOPBACK = ["127.0.0.1"]


def make_config(
    tmp_path: Path, mdns: str = 'interfaces = ["127.0.0.1"]', store: str = "st_adv"
) -> Config:
    path = write_config(
        tmp_path / "edge.toml", broker_url=None, printers=[], store=store, mdns=mdns
    )
    return load_config(path)


class Browser:
    """A technician's tool: browses `_store-edge._tcp` on loopback and resolves what it sees."""

    def __init__(self) -> None:
        self.azc = AsyncZeroconf(interfaces=LOOPBACK)
        self.changes: list[tuple[str, ServiceStateChange]] = []
        self.changed = asyncio.Event()

        def on_change(
            zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
        ) -> None:
            self.changes.append((name, state_change))
            self.changed.set()

        self.browser = AsyncServiceBrowser(self.azc.zeroconf, [SERVICE_TYPE], handlers=[on_change])

    async def wait_for(self, name: str, change: ServiceStateChange, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while (name, change) not in self.changes:
                self.changed.clear()
                await self.changed.wait()

    async def resolve(self, name: str) -> AsyncServiceInfo:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        assert await info.async_request(self.azc.zeroconf, 3000), f"{name} did not resolve"
        return info

    async def close(self) -> None:
        await self.browser.async_cancel()
        await self.azc.async_close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        await b.close()


@contextlib.asynccontextmanager
async def running(advertiser: Advertiser) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(advertiser.run(), name="mdns")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def props(info: AsyncServiceInfo) -> dict[str, str]:
    return {k.decode(): (v or b"").decode() for k, v in (info.properties or {}).items()}


# ---- the announcement -----------------------------------------------------------------------


async def test_the_box_is_found_with_its_store_id_and_version_then_says_goodbye(
    tmp_path: Path, browser: Browser
) -> None:
    advertiser = Advertiser(make_config(tmp_path))
    name = f"st_adv.{SERVICE_TYPE}"
    async with running(advertiser) as task:
        async with asyncio.timeout(15):
            await advertiser.advertised.wait()
        await browser.wait_for(name, ServiceStateChange.Added)
        info = await browser.resolve(name)
        assert props(info) == {"store_id": "st_adv", "version": __version__}
        assert info.port == NO_SERVICE_PORT
        assert info.parsed_addresses() == ["127.0.0.1"]
        assert advertiser.snapshot() == {
            "state": "advertising",
            "name": "st_adv",
            "addresses": ["127.0.0.1"],
            "last_error": None,
        }
        task.cancel()
    # Stopping withdraws the announcement (goodbye packets), not only stops answering.
    await browser.wait_for(name, ServiceStateChange.Removed)


async def test_with_cloudprnt_it_announces_the_server_path_and_port(
    tmp_path: Path, browser: Browser
) -> None:
    config = make_config(
        tmp_path, 'interfaces = ["127.0.0.1"]\n\n[cloudprnt]\nlisten = "0.0.0.0:8085"', "st_cp"
    )
    advertiser = Advertiser(config)
    name = f"st_cp.{SERVICE_TYPE}"
    async with running(advertiser):
        await browser.wait_for(name, ServiceStateChange.Added)
        info = await browser.resolve(name)
    assert info.port == 8085
    assert props(info) == {
        "store_id": "st_cp",
        "version": __version__,
        "cloudprnt": "/cloudprnt",
        "cloudprnt_port": "8085",
    }


def test_announcement_without_cloudprnt_uses_the_discard_port(tmp_path: Path) -> None:
    a = announcement(make_config(tmp_path, store="Store.One_2"))
    assert a.port == NO_SERVICE_PORT == 9
    assert a.instance == "Store.One_2"
    assert a.server == "store-edge-store-one-2.local."  # a valid DNS label


# ---- never fatal ----------------------------------------------------------------------------


async def test_a_zeroconf_failure_is_logged_and_retried(
    tmp_path: Path, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[list[str]] = []

    def flaky(addresses: list[str]) -> AsyncZeroconf:
        attempts.append(addresses)
        if len(attempts) < 3:
            raise OSError(19, "No such device")
        return AsyncZeroconf(interfaces=addresses)

    advertiser = Advertiser(
        make_config(tmp_path, store="st_retry"), retry_initial_s=0.01, zeroconf=flaky
    )
    with caplog.at_level(logging.WARNING, logger="edge.advertise"):
        async with running(advertiser):
            await browser.wait_for(f"st_retry.{SERVICE_TYPE}", ServiceStateChange.Added)
            async with asyncio.timeout(10):
                await advertiser.advertised.wait()
            assert advertiser.state is AdvertiseState.ADVERTISING
            assert advertiser.last_error is None
    assert len(attempts) == 3
    failures = [r for r in caplog.records if "mDNS announcement failed" in r.getMessage()]
    assert len(failures) == 2
    assert "No such device" in failures[0].getMessage()


async def test_it_waits_for_an_address_then_announces(tmp_path: Path, browser: Browser) -> None:
    second_look = asyncio.Event()
    looks = 0

    def addresses(interfaces: list[str]) -> list[str]:
        nonlocal looks
        assert interfaces == LOOPBACK
        looks += 1
        if looks == 1:
            return []  # no DHCP lease yet
        second_look.set()
        return LOOPBACK

    advertiser = Advertiser(
        make_config(tmp_path, store="st_dhcp"), recheck_s=0.05, addresses=addresses
    )
    states: list[AdvertiseState] = []
    async with running(advertiser):
        async with asyncio.timeout(5):
            await second_look.wait()
        states.append(advertiser.state)  # what the first look left
        async with asyncio.timeout(10):
            await advertiser.advertised.wait()
        states.append(advertiser.state)
        await browser.wait_for(f"st_dhcp.{SERVICE_TYPE}", ServiceStateChange.Added)
    assert states == [AdvertiseState.NO_ADDRESS, AdvertiseState.ADVERTISING]


async def test_a_bug_in_the_advertiser_never_reaches_the_daemon(tmp_path: Path) -> None:
    tries = asyncio.Event()
    count = 0

    def broken(interfaces: list[str]) -> list[str]:
        nonlocal count
        count += 1
        if count >= 3:
            tries.set()
        raise RuntimeError("unexpected")

    advertiser = Advertiser(
        make_config(tmp_path), retry_initial_s=0.001, retry_max_s=0.01, addresses=broken
    )
    async with running(advertiser) as task:
        async with asyncio.timeout(5):
            await tries.wait()
        assert not task.done()
        assert advertiser.state is AdvertiseState.RETRYING
        assert advertiser.last_error == "RuntimeError: unexpected"


# ---- addresses and config -------------------------------------------------------------------


async def test_addresses_of_named_interfaces_or_every_non_loopback_one() -> None:
    assert await asyncio.to_thread(ipv4_addresses, ["lo"]) == ["127.0.0.1"]
    assert await asyncio.to_thread(ipv4_addresses, ["127.0.0.1"]) == ["127.0.0.1"]
    assert await asyncio.to_thread(ipv4_addresses, ["no-such-if0"]) == []
    every = await asyncio.to_thread(ipv4_addresses, [])
    assert all(not a.startswith("127.") for a in every)


def _config_error(tmp_path: Path, mdns: str) -> str:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, mdns)
    return "\n".join(str(i) for i in caught.value.issues)


def test_mdns_config_defaults_and_checks(tmp_path: Path) -> None:
    default = load_config(write_config(tmp_path / "d.toml", broker_url=None, printers=[], mdns={}))
    assert default.mdns.advertise is True
    assert default.mdns.interfaces == []
    ok = make_config(tmp_path, 'advertise = false\ninterfaces = ["eth0", "192.168.1.10"]')
    assert ok.mdns.interfaces == ["eth0", "192.168.1.10"]
    assert "IPv4 only" in _config_error(tmp_path, 'interfaces = ["fe80::1"]')
    assert "neither an interface name" in _config_error(tmp_path, 'interfaces = ["eth 0"]')
    assert "should not repeat" in _config_error(tmp_path, 'interfaces = ["lo", "lo"]')
    message = _config_error(tmp_path, "announce = true")
    assert "mdns.announce" in message, message


# ---- in the daemon --------------------------------------------------------------------------


async def test_the_running_daemon_announces_itself_and_withdraws_on_stop(
    tmp_path: Path, browser: Browser
) -> None:
    config = make_config(tmp_path, store="st_daemon")
    path = tmp_path / "edge.toml"
    assert tomllib.loads(path.read_text())["mdns"] == {"interfaces": ["127.0.0.1"]}
    assert config.mdns.advertise
    edge = EdgeProcess(path).start()
    name = f"st_daemon.{SERVICE_TYPE}"
    try:
        await browser.wait_for(name, ServiceStateChange.Added, timeout=30)
        info = await browser.resolve(name)
        assert props(info)["store_id"] == "st_daemon"
        assert await asyncio.to_thread(edge.terminate) == 0
        await browser.wait_for(name, ServiceStateChange.Removed)
    finally:
        await asyncio.to_thread(edge.stop_quietly)
