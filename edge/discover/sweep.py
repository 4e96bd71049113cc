"""A port-9100 sweep of a subnet the technician names: bounded, paced, every connect with a
deadline, and a printer confirmed by its answer to an ESC/POS status request (DLE EOT)."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from drivers.errors import DeviceUnavailableError, DriverError
from drivers.realtime import NoStatusAnswer, StatusByteError, query_status
from drivers.transports.tcp import TcpTransport
from edge.discover.found import Found, Source, Tick, no_tick

#: The largest sweep: a /22 of IPv4 (1024 addresses).
MAX_ADDRESSES = 1024
DEFAULT_PORT = 9100


class SweepError(ValueError):
    """The network given cannot be swept (not a network, too large)."""


class Answer(StrEnum):
    """What one address did on the port."""

    PRINTER = "printer"  # answered the status request
    SILENT = "silent"  # took the connection, never answered
    GARBLED = "garbled"  # answered something that is not an ESC/POS status byte
    CLOSED = "closed"  # refused, unreachable, or no answer to the connect in time


@dataclass(frozen=True, slots=True)
class SweepSettings:
    """How hard the sweep knocks."""

    port: int = DEFAULT_PORT
    rate: float = 50.0  # connection attempts started per second, at most
    in_flight: int = 32  # connections open at once, at most
    connect_timeout_s: float = 1.0
    status_timeout_s: float = 1.5

    @property
    def per_host_s(self) -> float:
        """Longest one address may take: a connect, three status answers, a close."""
        return self.connect_timeout_s + 3 * self.status_timeout_s + 2.0

    def deadline_s(self, hosts: int) -> float:
        """Longest the whole sweep of `hosts` addresses may take: paced by the rate, or by
        the connections in flight when every address holds its slot as long as it may."""
        rounds = -(-hosts // self.in_flight)
        return max(hosts / self.rate, rounds * self.per_host_s) + self.per_host_s + 5.0


def sweep_hosts(network: str) -> list[str]:
    """The addresses to knock on in `network` (CIDR or one address); SweepError if too large."""
    try:
        net = ipaddress.ip_network(network.strip(), strict=False)
    except ValueError as err:
        raise SweepError(
            f"{network!r} is not a network: give one like 192.168.1.0/24 or an address"
        ) from err
    if net.num_addresses > MAX_ADDRESSES:
        raise SweepError(
            f"{net} holds {net.num_addresses} addresses; a sweep covers at most "
            f"{MAX_ADDRESSES} (an IPv4 /22): name a smaller subnet, e.g. the printers' /24"
        )
    hosts = list(net.hosts()) or [net.network_address]
    return [str(h) for h in hosts]


def _uri(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


async def knock(host: str, settings: SweepSettings) -> tuple[Answer, str]:
    """Connect to `host` and ask its status; what it did, in words."""
    transport = TcpTransport(
        _uri(host, settings.port),
        connect_timeout=settings.connect_timeout_s,
        write_timeout=settings.status_timeout_s,
    )
    try:
        await transport.open()
    except DeviceUnavailableError as err:
        return Answer.CLOSED, str(err)
    try:
        status = await query_status(transport, settings.status_timeout_s)
    except NoStatusAnswer:
        return Answer.SILENT, f"port {settings.port} open, no status answer"
    except StatusByteError as err:
        return Answer.GARBLED, f"port {settings.port} open, answered no ESC/POS status ({err})"
    except DriverError as err:  # the connection dropped or the request could not go out
        return Answer.SILENT, f"port {settings.port} open, no status answer ({err})"
    finally:
        await transport.close()
    said = [status.fault.replace("_", " ") if status.fault else "ready"]
    if status.paper != "out":
        said.append(f"paper {status.paper.replace('_', ' ')}")
    return Answer.PRINTER, f"answered an ESC/POS status request: {', '.join(said)}"


async def sweep(
    hosts: list[str], settings: SweepSettings | None = None, tick: Tick = no_tick
) -> list[Found]:
    """Knock on every host, at most `rate` new connections a second, `in_flight` at once."""
    settings = settings or SweepSettings()
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(settings.in_flight)
    found: dict[str, Found] = {}
    done = 0
    tick(0, len(hosts))

    async def one(host: str) -> None:
        nonlocal done
        try:
            async with asyncio.timeout(settings.per_host_s):
                answer, detail = await knock(host, settings)
        except TimeoutError:
            answer, detail = Answer.SILENT, f"port {settings.port} open, no status answer"
        finally:
            slots.release()
            done += 1
            tick(done, len(hosts))
        if answer is not Answer.CLOSED:
            found[host] = Found(Source.SWEEP, _uri(host, settings.port), f"printer-{host}", detail)

    next_start = loop.time()
    async with asyncio.TaskGroup() as tg:
        for host in hosts:
            wait = next_start - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing: the rate the technician allowed
            next_start = max(next_start, loop.time()) + 1.0 / settings.rate
            await slots.acquire()
            tg.create_task(one(host), name=f"sweep-{host}")
    return [found[h] for h in hosts if h in found]
