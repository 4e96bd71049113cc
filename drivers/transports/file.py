"""`file:///path`: append raw ESC/POS bytes to a file (tests, demo, debugging)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote, urlsplit

from drivers.errors import DeviceUnavailableError, UnsupportedTransportError
from drivers.transports.base import PrinterTransport


class FileTransport(PrinterTransport):
    """Appends each write to a file; cannot answer status."""

    bidirectional = False

    def __init__(self, uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0):
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        path = unquote(urlsplit(uri).path)
        if not path:
            raise UnsupportedTransportError(f"no path in {uri}")
        if "\x00" in path:
            raise UnsupportedTransportError(f"{uri}: a file path cannot hold a NUL (%00)")
        self.path = Path(path)
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as err:
            raise DeviceUnavailableError(f"{self.path.parent}: {err.strerror or err}") from err
        except ValueError as err:  # a path the OS cannot take
            raise UnsupportedTransportError(f"{self.path.parent}: {err}") from err
        self._open = True

    async def write(self, data: bytes) -> None:
        def _append() -> None:
            with self.path.open("ab") as f:
                f.write(data)
                f.flush()

        try:
            async with asyncio.timeout(self.write_timeout):
                await asyncio.to_thread(_append)
        except (OSError, TimeoutError) as err:
            raise DeviceUnavailableError(f"{self.path}: {err}") from err
        except ValueError as err:  # a path the OS cannot take
            raise UnsupportedTransportError(f"{self.path}: {err}") from err

    async def read(self, n: int, timeout: float) -> bytes:
        return b""

    async def close(self) -> None:
        self._open = False
