"""`serial:///dev/ttyUSB0?baudrate=19200&flow=rtscts`: serial printers through pyserial.

pyserial only opens and configures the port; bytes then go through the port's
non-blocking file descriptor, waited on by the event loop, so every read and write has a
deadline and flow control (RTS/CTS in the kernel, or XON/XOFF) makes our writes wait.
`DeviceFile` is that descriptor plumbing; the usblp path of usb:// uses it too.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.transports.base import PrinterTransport

log = logging.getLogger(__name__)

Flow = Literal["none", "rtscts", "xonxoff"]

DEFAULT_BAUDRATE = 9600
_CHUNK = 4096
_FLOWS: tuple[Flow, ...] = ("none", "rtscts", "xonxoff")
_PARITIES = {"n": "N", "none": "N", "e": "E", "even": "E", "o": "O", "odd": "O"}
_PARITIES |= {"m": "M", "mark": "M", "s": "S", "space": "S"}
_STOPBITS = {"1": 1.0, "1.5": 1.5, "2": 2.0}
_QUERY_KEYS = ("baudrate", "flow", "bytesize", "parity", "stopbits")
_DRAIN_POLL_S = 0.02
_CLOSE_TIMEOUT_S = 2.0

T = TypeVar("T")

# Threads that outlived their deadline, kept until they finish so their result is cleaned up.
_late_calls: set[asyncio.Future[Any]] = set()


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """What a serial:// URI asks for; pyserial's names and values."""

    path: str
    baudrate: int = DEFAULT_BAUDRATE
    flow: Flow = "none"
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1.0


def parse_serial_uri(uri: str) -> SerialSettings:
    """Read a serial:// URI; UnsupportedTransportError when it is malformed."""
    parts = urlsplit(uri)
    if parts.scheme != "serial":
        raise UnsupportedTransportError(f"not a serial:// URI: {uri}")
    path = unquote(parts.path)
    if parts.netloc or not path.startswith("/"):
        raise UnsupportedTransportError(
            f"{uri}: give an absolute device path after three slashes, e.g. serial:///dev/ttyUSB0"
        )
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as err:
        raise UnsupportedTransportError(f"{uri}: malformed query: {err}") from err
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    if unknown:
        raise UnsupportedTransportError(
            f"{uri}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(_QUERY_KEYS)}"
        )
    values: dict[str, str] = {}
    for key, given in query.items():
        if len(given) > 1:
            raise UnsupportedTransportError(f"{uri}: {key} is given {len(given)} times")
        values[key] = given[0]
    try:
        return SerialSettings(
            path,
            baudrate=_baudrate(values.get("baudrate", str(DEFAULT_BAUDRATE))),
            flow=_flow(values.get("flow", "none")),
            bytesize=_bytesize(values.get("bytesize", "8")),
            parity=_parity(values.get("parity", "N")),
            stopbits=_stopbits(values.get("stopbits", "1")),
        )
    except ValueError as err:
        raise UnsupportedTransportError(f"{uri}: {err}") from err


def _baudrate(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 4_000_000:
        raise ValueError(f"baudrate must be a positive integer, not {text!r}")
    return int(text)


def _flow(text: str) -> Flow:
    for flow in _FLOWS:
        if text.lower() == flow:
            return flow
    raise ValueError(f"flow must be one of {', '.join(_FLOWS)}, not {text!r}")


def _bytesize(text: str) -> int:
    if text not in ("5", "6", "7", "8"):
        raise ValueError(f"bytesize must be 5, 6, 7 or 8, not {text!r}")
    return int(text)


def _parity(text: str) -> str:
    parity = _PARITIES.get(text.lower())
    if parity is None:
        raise ValueError(f"parity must be none, even, odd, mark or space (N/E/O/M/S), not {text!r}")
    return parity


def _stopbits(text: str) -> float:
    stopbits = _STOPBITS.get(text)
    if stopbits is None:
        raise ValueError(f"stopbits must be 1, 1.5 or 2, not {text!r}")
    return stopbits


async def call_in_thread(
    fn: Callable[[], T], timeout: float, *, on_late: Callable[[T], None] | None = None
) -> T:
    """Run a blocking call in a thread under a deadline (TimeoutError).

    A thread cannot be stopped: when the deadline passes (or the caller is cancelled) the
    call carries on, and what it returns late is handed to `on_late` (to close it).
    """
    future = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)
    except (TimeoutError, asyncio.CancelledError):
        if on_late is not None:
            _late_calls.add(future)
            future.add_done_callback(partial(_finish_late, on_late))
        raise


def _finish_late(on_late: Callable[[T], None], future: asyncio.Future[T]) -> None:
    _late_calls.discard(future)
    if future.cancelled() or future.exception() is not None:
        return
    try:
        on_late(future.result())
    except Exception:
        log.exception("cleaning up after a late device call failed")


class DeviceFile:
    """A device node opened non-blocking, read and written through the event loop.

    `empty_read_is_eof`: a read returning nothing after the device reported data means it
    is gone (a hung-up tty). `no_input_errnos`: read errors meaning "this device never
    answers" (a unidirectional usblp printer), read as silence.
    """

    def __init__(
        self,
        fd: int,
        name: str,
        *,
        empty_read_is_eof: bool,
        no_input_errnos: frozenset[int] = frozenset(),
    ) -> None:
        self.fd = fd
        self.name = name
        self._empty_read_is_eof = empty_read_is_eof
        self._no_input_errnos = no_input_errnos

    async def write(self, data: bytes, timeout: float) -> None:
        """Hand all of `data` to the kernel in chunks; WriteTimeoutError or ConnectionLostError."""
        view = memoryview(data)
        sent = 0
        try:
            async with asyncio.timeout(timeout):
                while sent < len(data):
                    try:
                        sent += os.write(self.fd, view[sent : sent + _CHUNK])
                    except BlockingIOError:
                        # The device's buffer is full: a busy printer, or flow control holding.
                        await self._ready(write=True)
        except TimeoutError as err:
            raise WriteTimeoutError(
                f"{self.name} stopped accepting data after {sent} of {len(data)} bytes", sent
            ) from err
        except OSError as err:
            raise ConnectionLostError(f"{self.name}: {err.strerror or err}", sent) from err

    async def read(self, n: int, timeout: float) -> bytes:
        """Up to n bytes; b"" when nothing came before `timeout`."""
        data = self._read_now(n, after_ready=False)
        if data or timeout <= 0:
            return data or b""
        try:
            async with asyncio.timeout(timeout):
                await self._ready(write=False)
        except TimeoutError:
            return b""
        except OSError as err:
            raise ConnectionLostError(f"{self.name}: {err.strerror or err}") from err
        return self._read_now(n, after_ready=True) or b""

    async def wait_writable(self, timeout: float) -> bool:
        """Wait until the device takes data again (its last transfer is done); False on timeout."""
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await self._ready(write=True)
        except (TimeoutError, OSError):
            return False
        return True

    def _read_now(self, n: int, *, after_ready: bool) -> bytes | None:
        try:
            data = os.read(self.fd, n)
        except BlockingIOError:
            return None
        except OSError as err:
            if err.errno in self._no_input_errnos:
                return None
            raise ConnectionLostError(f"{self.name}: {err.strerror or err}") from err
        if not data and after_ready and self._empty_read_is_eof:
            raise ConnectionLostError(f"{self.name} hung up (unplugged?)")
        return data

    async def _ready(self, *, write: bool) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if write:
            loop.add_writer(self.fd, wake)
        else:
            loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            if write:
                loop.remove_writer(self.fd)
            else:
                loop.remove_reader(self.fd)


def _import_pyserial() -> Any:
    try:
        import serial
    except ImportError as err:
        raise UnsupportedTransportError(
            f"serial:// needs pyserial, which is not installed here: {err}"
        ) from err
    return serial


def _open_port(pyserial: Any, settings: SerialSettings) -> Any:
    """Open and configure the port (blocking: runs in a thread)."""
    path = settings.path
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as err:
        raise DeviceUnavailableError(f"{path} does not exist (unplugged?)") from err
    except OSError as err:
        raise DeviceUnavailableError(f"{path}: {err.strerror or err}") from err
    if not stat.S_ISCHR(mode):
        raise UnsupportedTransportError(f"{path} is not a serial device")
    port = pyserial.Serial()
    port.port = path
    try:
        port.baudrate = settings.baudrate
        port.bytesize = settings.bytesize
        port.parity = settings.parity
        port.stopbits = settings.stopbits
    except ValueError as err:
        raise UnsupportedTransportError(f"{path}: {err}") from err
    port.timeout = 0
    port.write_timeout = 0
    # Two programs writing to one printer interleave tickets: lock the port (flock).
    port.exclusive = True
    try:
        port.open()
    except ValueError as err:  # a baud rate the driver rejects
        raise UnsupportedTransportError(f"{path}: {err}") from err
    except OSError as err:  # pyserial's SerialException is an OSError
        raise _open_error(path, err) from err
    try:
        _set_flow(pyserial, port, settings)
    except BaseException:
        port.close()
        raise
    return port


def _open_error(path: str, err: OSError) -> Exception:
    context = err.__context__
    if isinstance(context, termios.error) and context.args and context.args[0] == errno.ENOTTY:
        return UnsupportedTransportError(f"{path} is not a serial port")
    if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
        return DeviceUnavailableError(f"{path} is in use by another program")
    if err.errno == errno.EACCES:
        return DeviceUnavailableError(
            f"{path}: permission denied (the daemon's user needs the device's group, e.g. dialout)"
        )
    if err.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return DeviceUnavailableError(f"{path} is not there (unplugged?)")
    return DeviceUnavailableError(f"{path}: {err}")


def _set_flow(pyserial: Any, port: Any, settings: SerialSettings) -> None:
    """Turn on flow control; a port that refuses it still prints, with a warning."""
    if settings.flow == "none":
        return
    try:
        if settings.flow == "rtscts":
            port.rtscts = True
        else:
            port.xonxoff = True
        iflag, _, cflag = termios.tcgetattr(port.fileno())[:3]
    except (OSError, ValueError, termios.error, pyserial.SerialException) as err:
        log.warning(
            "%s: could not turn on %s flow control (%s); printing without it",
            settings.path,
            settings.flow,
            err,
        )
        return
    crtscts = getattr(termios, "CRTSCTS", 0)
    on = bool(cflag & crtscts) if settings.flow == "rtscts" else bool(iflag & termios.IXON)
    if not on:
        log.warning(
            "%s: the driver did not keep %s flow control on; printing without it",
            settings.path,
            settings.flow,
        )


def _close_port(port: Any) -> None:
    """Close without waiting for unsent output (a tty's close may wait up to 30 s for it)."""
    try:
        port.reset_output_buffer()
    except (OSError, termios.error) as err:
        log.debug("%s: flushing output on close: %s", port.port, err)
    try:
        port.close()
    except (OSError, termios.error) as err:
        log.warning("%s: close failed: %s", port.port, err)


class SerialTransport(PrinterTransport):
    """`serial:///dev/X?baudrate=N&flow=none|rtscts|xonxoff&bytesize=8&parity=N&stopbits=1`.

    Defaults: 9600 baud, 8N1, no flow control. The port is locked while open.
    """

    bidirectional = True

    def __init__(self, uri: str, *, connect_timeout: float = 5.0, write_timeout: float = 10.0):
        super().__init__(uri, connect_timeout=connect_timeout, write_timeout=write_timeout)
        self.settings = parse_serial_uri(uri)
        self._port: Any = None
        self._file: DeviceFile | None = None

    @property
    def is_open(self) -> bool:
        return self._file is not None

    async def open(self) -> None:
        if self._file is not None:
            return
        pyserial = _import_pyserial()
        try:
            port = await call_in_thread(
                partial(_open_port, pyserial, self.settings),
                self.connect_timeout,
                on_late=_close_port,
            )
        except TimeoutError as err:
            raise DeviceUnavailableError(
                f"{self.settings.path} did not open within {self.connect_timeout:g} s"
            ) from err
        self._port = port
        self._file = DeviceFile(port.fileno(), self.settings.path, empty_read_is_eof=True)

    async def write(self, data: bytes) -> None:
        file = self._file
        if file is None:
            raise ConnectionLostError("not connected")
        try:
            await file.write(data, self.write_timeout)
        except (WriteTimeoutError, ConnectionLostError):
            # Like a TCP abort: what the printer has not taken is dropped, not printed later.
            self._abort()
            raise

    async def read(self, n: int, timeout: float) -> bytes:
        file = self._file
        if file is None:
            raise ConnectionLostError("not connected")
        try:
            return await file.read(n, timeout)
        except ConnectionLostError:
            self._abort()
            raise

    async def close(self) -> None:
        port, self._port, self._file = self._port, None, None
        if port is None:
            return
        try:
            await self._drain(port)
        finally:
            # The drain deadline ran out or was cancelled: drop what is left and close.
            try:
                await call_in_thread(partial(_close_port, port), _CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("%s: close is taking long; left to finish in the background", port.port)

    async def _drain(self, port: Any) -> None:
        """Let the printer take what the kernel still holds for it, within `write_timeout`."""
        deadline = time.monotonic() + self.write_timeout
        while time.monotonic() < deadline:
            try:
                pending = int(port.out_waiting)
            except OSError:  # the device is gone: nothing to wait for
                return
            if not pending:
                return
            await asyncio.sleep(_DRAIN_POLL_S)
        log.warning("%s: unsent output dropped at close", port.port)

    def _abort(self) -> None:
        port, self._port, self._file = self._port, None, None
        if port is not None:
            _close_port(port)
