"""`serial:///dev/ttyUSB0?baudrate=19200&flow=rtscts`: serial printers through pyserial.

pyserial only opens and configures the port; bytes then go through the port's
non-blocking file descriptor, waited on by the event loop, so every read and write has a
deadline and flow control (RTS/CTS in the kernel, or XON/XOFF) makes our writes wait.
That descriptor plumbing (`DeviceFile`) is in `device.py`; the usblp path of usb:// uses it too.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import termios
import time
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
from drivers.transports.device import DeviceFile, call_in_thread, device_busy

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
_SENT_POLL_MAX_S = 0.05
_CLOSE_TIMEOUT_S = 2.0

T = TypeVar("T")


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
    if "\x00" in path:
        raise UnsupportedTransportError(f"{uri}: a device path cannot hold a NUL (%00)")
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
    except ValueError as err:  # a NUL in the path (parse_serial_uri refuses it already)
        raise UnsupportedTransportError(f"{path!r}: {err}") from err
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
    except termios.error as err:  # not wrapped by pyserial: tcsetattr, tcflush
        raise _termios_error(path, err) from err
    try:
        _set_flow(pyserial, port, settings)
    except BaseException:
        port.close()
        raise
    return port


def open_serial_port(settings: SerialSettings) -> Any:
    """Open and configure a port for non-blocking I/O, locked (blocking: run it in a thread).

    Shared with the card terminal driver; DeviceUnavailableError or UnsupportedTransportError.
    """
    return _open_port(_import_pyserial(), settings)


def close_serial_port(port: Any) -> None:
    """Close at once, dropping unsent output (blocking: run it in a thread)."""
    _close_port(port)


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


def _termios_error(path: str, err: termios.error) -> Exception:
    code = err.args[0] if err.args else None
    if code == errno.ENOTTY:
        return UnsupportedTransportError(f"{path} is not a serial port")
    # EIO, ENODEV…: the device went away while it was being opened (an adapter pulled).
    reason = err.args[1] if len(err.args) > 1 else err
    return DeviceUnavailableError(f"{path} went away while opening (unplugged?): {reason}")


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

    @property
    def bytes_per_second(self) -> float:
        """The baud rate over the bits a byte takes on the line: start, data, parity, stop."""
        s = self.settings
        bits = 1 + s.bytesize + (0 if s.parity == "N" else 1) + s.stopbits
        return s.baudrate / bits

    @property
    def stream_key(self) -> str:
        # The line keeps its byte stream across a close and reopen, whatever the URI's options.
        return self.settings.path

    async def open(self) -> None:
        if self._file is not None:
            return
        path = self.settings.path
        pyserial = _import_pyserial()
        if device_busy(path):
            # Another open would hang a thread of its own beside the first.
            raise DeviceUnavailableError(
                f"{path} is still opening or closing from an earlier attempt (the device hangs)"
            )
        try:
            port = await call_in_thread(
                partial(_open_port, pyserial, self.settings),
                self.connect_timeout,
                on_late=_close_port,
                device=path,
            )
        except TimeoutError as err:
            raise DeviceUnavailableError(
                f"{path} did not open within {self.connect_timeout:g} s"
            ) from err
        self._port = port
        self._file = DeviceFile(port.fileno(), path, empty_read_is_eof=True)

    async def write(self, data: bytes) -> None:
        file = self._file
        if file is None:
            raise ConnectionLostError("not connected")
        try:
            await file.write(data, self.write_timeout)
            await self._wait_sent(len(data))
        except (WriteTimeoutError, ConnectionLostError):
            # Like a TCP abort: what the printer has not taken is dropped, not printed later.
            await self._drop()
            raise

    async def _wait_sent(self, size: int) -> None:
        """Wait until the kernel sent its output queue; WriteTimeoutError if it stops shrinking.

        A write only fills that queue: while CTS or XOFF holds the line, a short ticket
        "written" has not left, and a close or abort would throw it away. `size` bytes were
        handed over: `sent` on failure, as any of them may have gone out.
        """
        loop = asyncio.get_running_loop()
        least: int | None = None
        progress_at = loop.time()
        while True:
            try:
                pending = self._output_pending()
            except OSError as err:
                raise ConnectionLostError(f"{self.settings.path}: {err}", size) from err
            if pending <= 0:
                return
            now = loop.time()
            if least is None or pending < least:
                least, progress_at = pending, now
            elif now - progress_at >= self.write_timeout:
                raise WriteTimeoutError(
                    f"{self.settings.path} sent nothing for {self.write_timeout:g} s, "
                    f"{pending} bytes still queued (flow control holding?)",
                    size,
                )
            # About the time the line needs for what is queued: short for a status request.
            await asyncio.sleep(min(max(pending / self.bytes_per_second, 0.001), _SENT_POLL_MAX_S))

    def _output_pending(self) -> int:
        """Bytes the kernel holds for the line (TIOCOUTQ; a pty has no queue: always 0)."""
        return int(self._port.out_waiting)

    async def read(self, n: int, timeout: float) -> bytes:
        file = self._file
        if file is None:
            raise ConnectionLostError("not connected")
        try:
            return await file.read(n, timeout)
        except ConnectionLostError:
            await self._drop()
            raise

    async def close(self) -> None:
        port = self._port
        if port is None:
            return
        try:
            await self._drain(port)
        finally:
            # The drain deadline ran out or was cancelled: drop what is left and close.
            await self._drop()

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

    async def _drop(self) -> None:
        """Close at once, dropping unsent output; in a thread, as a tty's close can block."""
        port, self._port, self._file = self._port, None, None
        if port is None:
            return
        try:
            await call_in_thread(
                partial(_close_port, port), _CLOSE_TIMEOUT_S, device=self.settings.path
            )
        except TimeoutError:
            log.warning("%s: close is taking long; left to finish in the background", port.port)
