"""Network discovery on loopback only: mDNS on 127.0.0.1, sweeps of 127.0.0.0/8 against
printer emulators listening on one port at several loopback addresses."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from drivers.emulator import PrinterEmulator
from edge.config import PrinterConfig
from edge.discover import Found, Source
from edge.discover.mdns import find_mdns
from edge.discover.sweep import MAX_ADDRESSES, SweepError, SweepSettings, sweep, sweep_hosts

FAST = SweepSettings(connect_timeout_s=1.0, status_timeout_s=0.3)

# ---- what may be swept ----------------------------------------------------------------------


def test_a_sweep_is_bounded_to_a_slash_22() -> None:
    assert len(sweep_hosts("10.1.0.0/22")) == MAX_ADDRESSES - 2 == 1022
    assert len(sweep_hosts("192.168.1.77/24")) == 254  # the technician's own address is fine
    assert sweep_hosts("192.168.1.50") == ["192.168.1.50"]
    assert sweep_hosts("10.0.0.0/31") == ["10.0.0.0", "10.0.0.1"]
    with pytest.raises(SweepError, match=r"10\.1\.0\.0/21 holds 2048 addresses; .* at most 1024"):
        sweep_hosts("10.1.0.0/21")
    with pytest.raises(SweepError, match="not a network"):
        sweep_hosts("kitchen")


# ---- the sweep ------------------------------------------------------------------------------


@pytest.fixture
async def printers() -> AsyncIterator[tuple[PrinterEmulator, PrinterEmulator]]:
    """A printer on 127.0.0.2 and one that never answers status on 127.0.0.3, same port."""
    async with PrinterEmulator(name="kitchen", host="127.0.0.2") as answering:
        silent = PrinterEmulator(name="bar", host="127.0.0.3", port=answering.port)
        silent.status_mode = "silent"
        async with silent:
            yield answering, silent


async def test_the_sweep_confirms_printers_by_their_status_answer(
    printers: tuple[PrinterEmulator, PrinterEmulator],
) -> None:
    answering, silent = printers
    port = answering.port
    ticks: list[tuple[int, int | None]] = []
    found = await sweep(
        sweep_hosts("127.0.0.0/29"),  # .1 to .6: four of them closed
        SweepSettings(port=port, connect_timeout_s=1.0, status_timeout_s=0.3),
        tick=lambda done, total: ticks.append((done, total)),
    )
    assert found == [
        Found(
            Source.SWEEP,
            f"tcp://127.0.0.2:{port}",
            "printer-127.0.0.2",
            "answered an ESC/POS status request: ready, paper ok",
        ),
        Found(
            Source.SWEEP,
            f"tcp://127.0.0.3:{port}",
            "printer-127.0.0.3",
            f"port {port} open, no status answer",
        ),
    ]
    assert answering.status_requests >= 1
    assert silent.status_requests >= 1
    assert answering.jobs == silent.jobs == []  # a status request prints nothing
    assert ticks == [(0, 6), *((n, 6) for n in range(1, 7))]
    for f in found:
        assert PrinterConfig(name="p", uri=f.uri).uri == f.uri


async def test_a_paper_out_printer_still_counts_as_found(
    printers: tuple[PrinterEmulator, PrinterEmulator],
) -> None:
    answering, _ = printers
    answering.set_fault(paper_out=True)
    found = await sweep(["127.0.0.2"], SweepSettings(port=answering.port, status_timeout_s=0.5))
    assert [f.detail for f in found] == ["answered an ESC/POS status request: paper out"]


async def test_a_closed_port_finds_nothing() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert await sweep(["127.0.0.1"], SweepSettings(port=port)) == []


async def test_the_sweep_keeps_to_its_connections_in_flight_and_its_rate() -> None:
    """Every address takes the connection and never answers, so each holds its slot for the
    whole status timeout: at most `in_flight` connections are open at any accept."""
    hosts = [f"127.0.1.{n}" for n in range(1, 13)]
    loop = asyncio.get_running_loop()
    done = 0
    over: list[int] = []
    accepted: list[float] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(loop.time())
        over.append(len(accepted) - done)
        await reader.read()  # until the sweep hangs up
        writer.close()

    first = await asyncio.start_server(hold, hosts[0], 0)
    port = first.sockets[0].getsockname()[1]
    servers = [first, *[await asyncio.start_server(hold, h, port) for h in hosts[1:]]]

    def tick(count: int, total: int | None) -> None:
        nonlocal done
        done = count

    settings = SweepSettings(port=port, rate=40.0, in_flight=3, status_timeout_s=0.2)
    started = loop.time()
    try:
        found = await sweep(hosts, settings, tick)
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
    assert len(found) == 12
    assert max(over) == 3  # the bound was reached and never passed
    # Pacing: the k-th connection cannot start before k/rate (a lower bound: never flaky).
    for k, at in enumerate(sorted(accepted)):
        assert at - started >= k / settings.rate - 1e-3


# ---- mDNS -----------------------------------------------------------------------------------


def service(kind: str, name: str, address: str, port: int, **txt: str) -> ServiceInfo:
    return ServiceInfo(
        f"{kind}.local.",
        f"{name}.{kind}.local.",
        addresses=[socket.inet_aton(address)],
        port=port,
        properties=txt,
        server=f"{name.lower().replace(' ', '-')}.local.",
    )


async def test_mdns_finds_raw_printers_and_guesses_the_raw_port_of_ipp_only_ones() -> None:
    services = [
        service("_pdl-datastream._tcp", "Kitchen TM-T20", "127.0.0.1", 9101, ty="EPSON TM-T20III"),
        service("_ipp._tcp", "Kitchen TM-T20 IPP", "127.0.0.1", 631),
        service("_ipp._tcp", "Office", "127.0.0.9", 631, product="(HP LaserJet)"),
    ]
    azc = AsyncZeroconf(interfaces=["127.0.0.1"])  # announced and browsed on loopback only
    try:
        # Probed and announced before the browsing starts.
        await asyncio.gather(*[await azc.async_register_service(info) for info in services])
        ticks: list[int] = []
        found = await find_mdns(1.5, ["127.0.0.1"], tick=lambda done, _: ticks.append(done))
    finally:
        await azc.async_unregister_all_services()
        await azc.async_close()
    assert [(f.uri, f.label) for f in found] == [
        ("tcp://127.0.0.1:9101", "EPSON TM-T20III"),
        ("tcp://127.0.0.9:9100", "HP LaserJet"),
    ]
    assert found[0].detail == (
        "mDNS _pdl-datastream._tcp 'Kitchen TM-T20' (EPSON TM-T20III), also _ipp._tcp"
    )
    assert found[1].detail == (
        "mDNS _ipp._tcp on port 631 'Office' (HP LaserJet); it announces no raw port: "
        "9100 is a guess, confirm it with --sweep 127.0.0.9"
    )
    assert ticks == [1, 2, 3]
