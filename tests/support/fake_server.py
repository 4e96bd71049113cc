"""What every fake vendor server shares: a loopback aiohttp site that can refuse connections
and listen again, and a queue of injected faults (a status, or a hang, before or after the
work)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web


@dataclass
class Fault:
    """An injected fault: an HTTP status, or a hang (status None)."""

    status: int | None
    retry_after: str | None = None
    after_processing: bool = False
    path: str | None = None  # only requests whose path starts with this take it


class LoopbackServer:
    """One app on 127.0.0.1 (an ephemeral port kept across refuse/listen) and its faults.

    A fault aimed at no path is taken by the next request that is not an authentication
    request (`auth_paths`): "hang the next request" means the vendor call, not the login.
    """

    def __init__(self, auth_paths: tuple[str, ...] = ()) -> None:
        self.port = 0
        self.faults: list[Fault] = []
        self.hung = asyncio.Event()
        self._auth_paths = auth_paths
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        """Base URL for a client."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, app: web.Application) -> None:
        """Serve `app` on loopback."""
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await self.listen()

    async def stop(self) -> None:
        """Release hung requests and stop serving."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def listen(self) -> None:
        """Listen (again, on the same port once it has one)."""
        if self._site is not None:
            return
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self.port = self._runner.addresses[0][1]

    async def refuse(self) -> None:
        """Stop listening and drop open keep-alive connections: the next request is refused."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        server = self._runner.server if self._runner is not None else None
        for connection in server.connections if server is not None else []:
            connection.force_close()
        await asyncio.sleep(0.01)  # let the clients' sockets see the close

    def fail_next(
        self,
        status: int,
        retry_after: float | str | None = None,
        *,
        after_processing: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next request (on `path`, a prefix) with this status, after the work if
        asked."""
        ra = None if retry_after is None else str(retry_after)
        self.faults.append(Fault(status, ra, after_processing, path))

    def hang_next(self, *, after_processing: bool = False, path: str | None = None) -> None:
        """Accept the next request (on `path`) and never answer it; `hung` is set then."""
        self.faults.append(Fault(None, None, after_processing, path))

    def take_fault(self, path: str) -> Fault | None:
        """The first queued fault this request takes, if any."""
        for n, fault in enumerate(self.faults):
            aimed = fault.path is not None and path.startswith(fault.path)
            if aimed or (fault.path is None and path not in self._auth_paths):
                return self.faults.pop(n)
        return None

    async def hang(self) -> None:
        """Hold a request until the fake exits."""
        self.hung.set()
        await self._release.wait()
