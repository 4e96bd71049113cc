"""Serial ports (pyserial's list): each one is a place where a printer may be, never a sure
printer, since a serial line cannot say what is behind it. Stable /dev/serial/by-id paths
are offered first: /dev/ttyUSB0 may be another adapter after the next reboot."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from edge.discover.found import Found, Source, Tick, no_tick

BY_ID = Path("/dev/serial/by-id")


@dataclass(frozen=True, slots=True)
class SerialPort:
    """One serial port, as the port lister reports it."""

    device: str
    description: str = ""
    manufacturer: str = ""
    product: str = ""
    vid: int | None = None
    pid: int | None = None


PortLister = Callable[[], list[SerialPort]]


def pyserial_ports() -> list[SerialPort]:
    """The serial ports pyserial sees (blocking: it reads sysfs)."""
    from serial.tools import list_ports

    return [
        SerialPort(
            device=p.device,
            description="" if p.description in ("n/a", p.name) else p.description,
            manufacturer=p.manufacturer or "",
            product=p.product or "",
            vid=p.vid,
            pid=p.pid,
        )
        for p in list_ports.comports()
    ]


def _by_id(by_id_dir: Path) -> dict[str, str]:
    """Real device path -> its stable /dev/serial/by-id link."""
    links: dict[str, str] = {}
    try:
        entries = sorted(by_id_dir.iterdir())
    except OSError:
        return links  # no USB serial adapter plugged in: udev made no by-id folder
    for link in entries:
        links.setdefault(os.path.realpath(link), str(link))
    return links


def _uri(path: str) -> str:
    return "serial://" + quote(path, safe="/-_.+:@")


def serial_ports(
    lister: PortLister, by_id_dir: Path, excluded: Collection[str]
) -> list[tuple[SerialPort, str]]:
    """Each port with the path to configure it by (blocking), leaving out `excluded` ones."""
    stable = _by_id(by_id_dir)
    skip = {os.path.realpath(p) for p in excluded}
    ports = []
    for port in sorted(lister(), key=lambda p: p.device):
        real = os.path.realpath(port.device)
        if real not in skip:
            ports.append((port, stable.get(real, port.device)))
    return ports


def _found(port: SerialPort, path: str) -> Found:
    what = port.description or " ".join(p for p in (port.manufacturer, port.product) if p)
    ids = (
        f" [{port.vid:04x}:{port.pid:04x}]" if port.vid is not None and port.pid is not None else ""
    )
    also = f" ({port.device})" if path != port.device else ""
    return Found(
        Source.SERIAL,
        _uri(path),
        port.product or Path(port.device).name,
        f"possible printer on serial port{also}: {what or 'no description'}{ids}; a serial "
        "port cannot say what is behind it: set ?baudrate= to the printer's (default 9600)",
        aliases=(_uri(port.device),) if path != port.device else (),
    )


async def find_serial(
    lister: PortLister = pyserial_ports,
    by_id_dir: Path = BY_ID,
    excluded: Collection[str] = (),
    tick: Tick = no_tick,
) -> list[Found]:
    """Every serial port but `excluded` (the card reader's), each a possible printer."""
    ports = await asyncio.to_thread(serial_ports, lister, by_id_dir, excluded)
    tick(len(ports), len(ports))
    return [_found(port, path) for port, path in ports]
