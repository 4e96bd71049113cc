"""The local control socket: one JSON request per line from the `edge` CLI, one JSON reply."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edge.errors import DaemonNotRunningError, EdgeError

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
_MAX_REQUEST = 64 * 1024


class ControlAccessError(EdgeError):
    """The control socket exists but this user may not use it (not in the daemon's group)."""


class DaemonAlreadyRunningError(EdgeError):
    """Another daemon answers on the control socket: two daemons must not share one store."""


class ControlServer:
    """Serves `{"command": NAME, "args": {...}}` lines on a Unix socket (mode 0660)."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self.ready = asyncio.Event()  # set once the socket accepts requests

    async def run(self) -> None:
        """Serve until cancelled, then remove the socket file."""
        await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        if await _answers(self.path):
            raise DaemonAlreadyRunningError(
                f"another edge daemon already serves {self.path}: stop it first "
                "(systemctl stop store-edge)"
            )
        # left behind by a daemon that was killed
        await asyncio.to_thread(self.path.unlink, missing_ok=True)
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=_MAX_REQUEST
        )
        await asyncio.to_thread(os.chmod, self.path, 0o660)
        self.ready.set()
        try:
            async with self._server:
                await self._server.serve_forever()
        finally:
            # A stale file left by a second cancel is removed by the next start.
            await asyncio.to_thread(self.path.unlink, missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(30):
                line = await reader.readline()
                try:
                    request = json.loads(line)
                    command = request["command"]
                    args = request.get("args") or {}
                    if not isinstance(command, str) or not isinstance(args, dict):
                        raise TypeError("command must be a string and args an object")
                except (ValueError, KeyError, TypeError) as err:
                    reply = {"ok": False, "error": {"code": "bad_request", "message": str(err)}}
                else:
                    try:
                        reply = await self.handler(command, args)
                    except Exception as err:
                        # Answer rather than hang up: a silent close reads as "daemon stopped",
                        # and `printers test` would then print behind the daemon's back.
                        log.exception("control: %s failed", command)
                        reply = {"ok": False, "error": {"code": "internal", "message": str(err)}}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (TimeoutError, ConnectionError) as err:
            log.debug("control: client went away: %s", err)
        finally:
            writer.close()


async def listening(path: Path) -> bool:
    """Whether a daemon listens on its control socket (it may be too busy to answer)."""
    return await _answers(path)


async def _answers(path: Path) -> bool:
    """Whether something listens on the socket at `path` (a stale file refuses connections)."""
    try:
        async with asyncio.timeout(2.0):
            _, writer = await asyncio.open_unix_connection(str(path))
    except TimeoutError:
        return True  # a full backlog: alive, but too busy to take us
    except OSError:
        return False
    writer.close()
    return True


async def call(
    path: Path, command: str, args: dict[str, Any] | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    """Send one request to the running daemon.

    Raises DaemonNotRunningError if nobody answers, ControlAccessError if this user may not
    use the socket.
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024)
            try:
                writer.write(json.dumps({"command": command, "args": args or {}}).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except (FileNotFoundError, ConnectionRefusedError) as err:
        raise DaemonNotRunningError(f"the daemon is not running (no answer on {path})") from err
    except PermissionError as err:
        raise ControlAccessError(
            f"no permission to use {path}: run edge with sudo, or join the store-edge group"
        ) from err
    except TimeoutError as err:
        raise DaemonNotRunningError(
            f"the daemon did not answer on {path} within {timeout:g} s"
        ) from err
    except (OSError, ValueError) as err:
        # A reset (the daemon died mid-request), a path the kernel refuses, a reply cut short.
        raise DaemonNotRunningError(f"no answer from the daemon on {path}: {err}") from err
    if not line:
        raise DaemonNotRunningError(f"the daemon closed {path} without answering")
    try:
        reply = json.loads(line)
    except ValueError as err:
        raise DaemonNotRunningError(f"unreadable answer on {path}: {err}") from err
    if not isinstance(reply, dict):
        raise DaemonNotRunningError(f"unreadable answer on {path}: {line[:80]!r}")
    return reply
