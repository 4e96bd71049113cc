"""The terminal's serial port: the `[card_reader] uri`, finding the device again, opening it.

`serial:///dev/ttyACM0?baudrate=9600&usb-id=079B:0028`: the serial:// options of the printers
(9600 8N1 by default), plus `usb-id`. A USB terminal that re-enumerates (ttyACM0 -> ttyACM1)
is found again by its USB vendor and product ids.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from drivers.errors import DeviceUnavailableError, UnsupportedTransportError
from drivers.transports.device import DeviceFile, call_in_thread, device_busy
from drivers.transports.serial import (
    SerialSettings,
    close_serial_port,
    open_serial_port,
    parse_serial_uri,
)

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 2.0
_DRAIN_POLL_S = 0.01


@dataclass(frozen=True, slots=True)
class UsbId:
    """A USB vendor:product pair, e.g. 079B:0028 (Move/5000)."""

    vid: int
    pid: int

    def __str__(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}"


@dataclass(frozen=True, slots=True)
class CardReaderPort:
    """What the `[card_reader] uri` asks for."""

    serial: SerialSettings
    usb_id: UsbId | None = None


class PortInfo(Protocol):
    """One serial port as pyserial's list_ports describes it."""

    @property
    def device(self) -> str: ...
    @property
    def vid(self) -> int | None: ...
    @property
    def pid(self) -> int | None: ...


PortLister = Callable[[], Iterable[PortInfo]]


def parse_card_reader_uri(uri: str) -> CardReaderPort:
    """Read the `[card_reader] uri`; UnsupportedTransportError when it is malformed."""
    parts = urlsplit(uri)
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as err:
        raise UnsupportedTransportError(f"{uri}: malformed query: {err}") from err
    ids = [value for key, value in pairs if key == "usb-id"]
    if len(ids) > 1:
        raise UnsupportedTransportError(f"{uri}: usb-id is given {len(ids)} times")
    rest = urlencode([(key, value) for key, value in pairs if key != "usb-id"])
    serial = parse_serial_uri(urlunsplit(parts._replace(query=rest)))
    return CardReaderPort(serial, _usb_id(uri, ids[0]) if ids else None)


def _usb_id(uri: str, text: str) -> UsbId:
    vid, sep, pid = text.partition(":")
    try:
        if sep and len(vid) == len(pid) == 4:
            return UsbId(int(vid, 16), int(pid, 16))
    except ValueError:
        pass
    raise UnsupportedTransportError(f"{uri}: usb-id must be VID:PID in hex, e.g. 079B:0028")


def system_ports() -> list[PortInfo]:
    """The serial ports pyserial sees (blocking: reads sysfs)."""
    from serial.tools import list_ports

    return list(list_ports.comports())


def find_port(path: str, usb_id: UsbId | None, lister: PortLister) -> str:
    """The device path to open (blocking: run it in a thread).

    Without usb-id: `path`. With it: `path` while it is the device with those ids (or while no
    port has them and `path` exists), else the port that has them now.
    """
    if usb_id is None:
        return path
    matching = sorted(
        port.device for port in lister() if (port.vid, port.pid) == (usb_id.vid, usb_id.pid)
    )
    real = os.path.realpath(path)
    if any(os.path.realpath(device) == real for device in matching):
        return path
    if matching:
        log.info("%s: USB %s is now %s", path, usb_id, matching[0])
        return matching[0]
    if os.path.exists(path):
        return path
    raise DeviceUnavailableError(f"{path} is not there and no serial port has USB id {usb_id}")


class TerminalPort:
    """The open serial port, read and written with deadlines (a ByteLink)."""

    def __init__(self, port: Any, path: str) -> None:
        self._port = port
        self.path = path
        self._file = DeviceFile(port.fileno(), path, empty_read_is_eof=True)

    @classmethod
    async def open(cls, where: CardReaderPort, lister: PortLister, timeout: float) -> TerminalPort:
        """Find and open the port; DeviceUnavailableError or UnsupportedTransportError."""
        configured = where.serial.path
        try:
            path = await call_in_thread(
                partial(find_port, configured, where.usb_id, lister), timeout
            )
        except TimeoutError as err:
            raise DeviceUnavailableError(f"listing serial ports took over {timeout:g} s") from err
        if device_busy(path):
            raise DeviceUnavailableError(f"{path} is still opening or closing (the device hangs)")
        settings = SerialSettings(
            path,
            baudrate=where.serial.baudrate,
            flow=where.serial.flow,
            bytesize=where.serial.bytesize,
            parity=where.serial.parity,
            stopbits=where.serial.stopbits,
        )
        try:
            port = await call_in_thread(
                partial(open_serial_port, settings),
                timeout,
                on_late=close_serial_port,
                device=path,
            )
        except TimeoutError as err:
            raise DeviceUnavailableError(f"{path} did not open within {timeout:g} s") from err
        return cls(port, path)

    async def read(self, n: int, timeout: float) -> bytes:
        return await self._file.read(n, timeout)

    async def write(self, data: bytes, timeout: float) -> None:
        await self._file.write(data, timeout)

    async def close(self, drain_timeout: float) -> None:
        """Let the last ACK or EOT leave (closing drops unsent output), then close in a thread
        (a tty's close can block)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        while loop.time() < deadline:
            try:
                if not int(self._port.out_waiting):
                    break
            except OSError:  # the device is gone: nothing will leave
                break
            await asyncio.sleep(_DRAIN_POLL_S)
        try:
            await call_in_thread(
                partial(close_serial_port, self._port), _CLOSE_TIMEOUT_S, device=self.path
            )
        except TimeoutError:
            log.warning("%s: close is taking long; left to finish in the background", self.path)
