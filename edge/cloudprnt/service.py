"""The CloudPRNT service: the HTTP server the printers poll, who polls, and their mailboxes.

The daemon runs `CloudPrnt.run` as a task and gives each `cloudprnt://` printer's worker
`transport_factory`; tests use it as `async with CloudPrnt(settings) as service:`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from edge.backoff import Backoff
from edge.cloudprnt.mailbox import Mailbox, Tokens
from edge.cloudprnt.protocol import normalise_mac
from edge.cloudprnt.registry import ACTIONS_EVERY_S, Registry
from edge.cloudprnt.render import EmulatorRenderer, Renderer
from edge.cloudprnt.server import CloudPrntServer
from edge.cloudprnt.transport import CloudPrntTransport, mac_of
from edge.config import Config, read_secret
from edge.config.cloudprnt import CREDENTIAL_CLOUDPRNT_PASSWORD
from edge.errors import EdgeError
from edge.printing.render import PrinterSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSettings:
    """The `[cloudprnt]` table as the service uses it (tests shrink the timings)."""

    host: str = "0.0.0.0"  # noqa: S104 (the printers are on the LAN)
    port: int = 8085
    poll_interval_s: float = 5.0
    job_timeout_s: float = 60.0
    username: str = ""
    password: str | None = None
    allowed_macs: tuple[str, ...] = ()
    offline_grace_s: float = 5.0  # Star's "2 × poll + 5 s"
    actions_every_s: float = ACTIONS_EVERY_S
    bind_retry_initial_s: float = 1.0
    bind_retry_max_s: float = 60.0

    @property
    def listen(self) -> str:
        """HOST:PORT as configured ([HOST]:PORT for an IPv6 address)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class CloudPrnt:
    """The CloudPRNT service: the HTTP server, the registry of printers that poll, and a
    mailbox per configured printer; `transport_factory` gives each printer its transport."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        printers: Iterable[str] = (),
        renderer: Renderer | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._sleep = sleep
        self.registry = Registry(
            configured=(),
            allowed=settings.allowed_macs,
            poll_interval_s=settings.poll_interval_s,
            offline_grace_s=settings.offline_grace_s,
            actions_every_s=settings.actions_every_s,
            clock=clock,
            wall=wall,
        )
        self._tokens = Tokens()
        self.mailboxes: dict[str, Mailbox] = {}
        for mac in printers:
            self.mailbox(mac)
        self.server = CloudPrntServer(
            self.registry,
            self.mailboxes,
            renderer or EmulatorRenderer(),
            username=settings.username,
            password=settings.password,
        )
        self.port: int | None = None  # bound, once serving
        self.ready = asyncio.Event()  # set while serving
        self._runner: web.AppRunner | None = None

    def mailbox(self, mac: str) -> Mailbox:
        """The mailbox of a configured printer (made, and the MAC allowed, on first use)."""
        mac = normalise_mac(mac) or mac
        box = self.mailboxes.get(mac)
        if box is None:
            box = self.mailboxes[mac] = Mailbox(mac, self._tokens, self.clock)
            self.registry.configure(mac)
        return box

    def transport_factory(self, printer: PrinterSettings) -> CloudPrntTransport:
        """The transport of a `cloudprnt://` printer (a `TransportFactory`)."""
        return CloudPrntTransport(
            printer,
            registry=self.registry,
            mailbox=self.mailbox(mac_of(printer.uri)),
            job_timeout_s=self.settings.job_timeout_s,
            server_port=self.settings.port,
            clock=self.clock,
        )

    @property
    def url(self) -> str:
        """The Server URL a printer is given (the bound port; loopback for a wildcard host)."""
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port or self.settings.port}/cloudprnt"

    def snapshot(self) -> dict[str, Any]:
        """What `status` reports: where the server listens and the printers that polled."""
        return {
            "listen": self.settings.listen,
            "serving": self.ready.is_set(),
            "printers": self.registry.snapshot(),
        }

    # ---- serving --------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the configured address; OSError when it cannot."""
        if self._runner is None:
            runner = web.AppRunner(self.server.app(), access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            self._runner = runner
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = self._runner.addresses[-1][1]
        self.ready.set()

    async def stop(self) -> None:
        """Stop serving (the printers' next polls are refused)."""
        self.ready.clear()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def run(self) -> None:
        """Serve until cancelled; an address that cannot be bound is retried with backoff
        (the other printers keep printing meanwhile)."""
        backoff = Backoff(self.settings.bind_retry_initial_s, self.settings.bind_retry_max_s)
        try:
            while True:
                try:
                    await self.start()
                    break
                except OSError as err:
                    delay = backoff.next()
                    log.error(
                        "CloudPRNT server cannot listen on %s: %s; retrying in %.0f s "
                        "(CloudPRNT printers cannot print until it does)",
                        self.settings.listen,
                        err,
                        delay,
                    )
                    await self._sleep(delay)
            log.info(
                "CloudPRNT server listening on %s: the printers' Server URL is "
                "http://<this box>:%d/cloudprnt",
                self.settings.listen,
                self.port,
            )
            await asyncio.Event().wait()  # until cancelled
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def service_for(config: Config) -> CloudPrnt | None:
    """The CloudPRNT service `[cloudprnt]` describes, for the configured cloudprnt:// printers;
    None without the table. Reads the Basic password (EdgeError when it is set up but absent)."""
    section = config.cloudprnt
    if section is None:
        return None
    password = None
    if section.username:
        password = read_secret(section.password_file, CREDENTIAL_CLOUDPRNT_PASSWORD)
        if password is None:
            raise EdgeError(
                "cloudprnt.username is set but there is no password: set cloudprnt.password_file "
                f'or the systemd credential "{CREDENTIAL_CLOUDPRNT_PASSWORD}"'
            )
    settings = ServerSettings(
        host=section.host,
        port=section.port,
        poll_interval_s=float(section.poll_interval_s),
        job_timeout_s=section.job_timeout_s,
        username=section.username,
        password=password,
        allowed_macs=tuple(section.allowed_macs),
    )
    printers = [mac_of(p.uri) for p in config.printers if p.scheme == "cloudprnt"]
    return CloudPrnt(settings, printers=printers)
