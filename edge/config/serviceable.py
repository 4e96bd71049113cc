"""What this box cannot serve of its configuration: Bluetooth printers without BlueZ or an
adapter, CloudPRNT printers without the `[cloudprnt]` server, scripts without a font.

`edge check-config` prints these as warnings and `edge doctor` as failed checks; the daemon
never refuses to start over them (CONTRACT §1: reported, never fatal). The facts come from a
`Machine`: `Machine.probe()` reads this one; tests pass their own.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drivers.escpos.fonts import FontChoice
    from edge.config.model import Config

SYSTEM_BUS = Path("/run/dbus/system_bus_socket")
ADAPTERS = Path("/sys/class/bluetooth")
# BlueZ counts as installed when its daemon or its command line tool is: a cheap look at the
# disk, not a D-Bus call asking whether org.bluez runs (doctor's printer line shows that).
BLUETOOTHD = (
    Path("/usr/lib/bluetooth/bluetoothd"),  # Debian, Ubuntu
    Path("/usr/libexec/bluetooth/bluetoothd"),  # Fedora, Arch
    Path("/usr/sbin/bluetoothd"),
)
_ADAPTER_NAME = re.compile(r"^hci[0-9]+$")  # not hci0:11, a connection to a device
_SCRIPT_NAMES = {
    "cjk": "Chinese, Japanese and Korean",
    "arabic": "Arabic",
    "hebrew": "Hebrew",
    "thai": "Thai",
    "fallback": "other non-Latin",
}


class Lack(StrEnum):
    """What this box lacks to serve a printer, or to print a script."""

    NO_BLEAK = "no_bleak"
    NO_SYSTEM_BUS = "no_system_bus"
    NO_BLUEZ = "no_bluez"
    NO_ADAPTER = "no_adapter"
    NO_PYTHON_BLUETOOTH = "no_python_bluetooth"
    NO_KERNEL_BLUETOOTH = "no_kernel_bluetooth"
    NO_CLOUDPRNT_SERVER = "no_cloudprnt_server"
    NO_FONT = "no_font"


# Why it matters, and what a technician does about it.
_LACKS: dict[Lack, tuple[str, str]] = {
    Lack.NO_BLEAK: (
        "the bleak Bluetooth LE library is not importable",
        "reinstall store-edge (its virtualenv needs bleak)",
    ),
    Lack.NO_SYSTEM_BUS: (
        f"no system D-Bus ({SYSTEM_BUS}), which BlueZ answers on",
        "apt-get install dbus",
    ),
    Lack.NO_BLUEZ: ("BlueZ is not installed (no bluetoothd)", "apt-get install bluez"),
    Lack.NO_ADAPTER: (
        f"no Bluetooth adapter found ({ADAPTERS} lists none)",
        "plug in a Bluetooth adapter, or unblock it: rfkill unblock bluetooth",
    ),
    Lack.NO_PYTHON_BLUETOOTH: (
        "this Python was built without Bluetooth sockets (socket.AF_BLUETOOTH)",
        "run store-edge on the distribution's python3, built with them",
    ),
    Lack.NO_KERNEL_BLUETOOTH: (
        "the kernel offers no Bluetooth sockets",
        "modprobe bluetooth rfcomm (in a container: pass the host's Bluetooth in)",
    ),
    Lack.NO_CLOUDPRNT_SERVER: (
        "no [cloudprnt] table: nothing on this box answers the printer's polls",
        'add a [cloudprnt] table, e.g. listen = "0.0.0.0:8085"',
    ),
}


@dataclass(frozen=True)
class Machine:
    """The facts of this box the checks need; `probe()` reads them."""

    has_bleak: bool
    has_system_bus: bool
    has_bluez: bool
    adapters: tuple[str, ...]
    has_af_bluetooth: bool  # this Python has Bluetooth sockets
    kernel_bluetooth: bool  # and the kernel makes an RFCOMM one
    fonts: tuple[FontChoice, ...] | None  # None: the fonts could not be looked at

    @classmethod
    def probe(cls) -> Machine:
        """This machine (blocks: a font directory walk, an import; run it in a thread)."""
        has_af = hasattr(socket, "AF_BLUETOOTH") and hasattr(socket, "BTPROTO_RFCOMM")
        return cls(
            has_bleak=_importable("bleak"),
            has_system_bus=SYSTEM_BUS.exists(),
            has_bluez=any(p.exists() for p in BLUETOOTHD) or bool(shutil.which("bluetoothctl")),
            adapters=_adapters(ADAPTERS),
            has_af_bluetooth=has_af,
            kernel_bluetooth=has_af and _rfcomm_socket(),
            fonts=_fonts(),
        )


@dataclass(frozen=True)
class Issue:
    """Something this box cannot serve: a printer (by name and URI), or None for the box."""

    printer: str | None
    uri: str | None
    lacks: tuple[Lack, ...]
    reason: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        """For `--json` output."""
        return {
            "printer": self.printer,
            "uri": self.uri,
            "lacks": [str(lack) for lack in self.lacks],
            "reason": self.reason,
            "fix": self.fix,
        }

    def __str__(self) -> str:
        where = f"printer {self.printer} ({self.uri}): this box cannot serve it: "
        return f"{where if self.printer else ''}{self.reason}; fix: {self.fix}"


@dataclass(frozen=True)
class FontSummary:
    """`edge doctor`'s fonts line: ok (True) or missing some (None), what, and the fix."""

    ok: bool | None
    detail: str
    fix: str


def unserviceable(config: Config, machine: Machine | None = None) -> list[Issue]:
    """Each printer this box cannot serve, then each missing font (when there are printers)."""
    machine = machine if machine is not None else Machine.probe()
    issues = []
    for printer in config.printers:
        lacks = _printer_lacks(printer.scheme, config, machine)
        if lacks:
            issues.append(
                Issue(
                    printer.name,
                    printer.uri,
                    lacks,
                    "; ".join(_LACKS[lack][0] for lack in lacks),
                    "; ".join(_LACKS[lack][1] for lack in lacks),
                )
            )
    if config.printers:
        issues += font_issues(machine.fonts or ())
    return issues


def font_issues(fonts: Sequence[FontChoice]) -> list[Issue]:
    """One issue per font package to install: the scripts it would print instead of "?"."""
    missing: dict[str, list[str]] = {}
    for choice in fonts:
        if choice.path is None:
            missing.setdefault(choice.package, []).append(_script_name(choice.script))
    return [
        Issue(
            None,
            None,
            (Lack.NO_FONT,),
            f'no font for {", ".join(scripts)} text: it prints as "?"',
            f"apt-get install {package}",
        )
        for package, scripts in missing.items()
    ]


def font_summary(machine: Machine) -> FontSummary:
    """The fonts found for each script we print as images, and those missing."""
    if machine.fonts is None:
        return FontSummary(None, "not checked: the font finder is not available", "")
    found = [f"{_script_name(c.script)}: {c.path.name}" for c in machine.fonts if c.path]
    issues = font_issues(machine.fonts)
    if not issues:
        return FontSummary(True, "; ".join(found) or "no script needs a font", "")
    detail = "; ".join(issue.reason for issue in issues)
    if found:
        detail += f" (found {'; '.join(found)})"
    return FontSummary(None, detail, "; ".join(issue.fix for issue in issues))


def _printer_lacks(scheme: str, config: Config, machine: Machine) -> tuple[Lack, ...]:
    lacks: list[Lack] = []
    if scheme == "ble":
        lacks += [Lack.NO_BLEAK] if not machine.has_bleak else []
        lacks += [Lack.NO_SYSTEM_BUS] if not machine.has_system_bus else []
        lacks += [Lack.NO_BLUEZ] if not machine.has_bluez else []
        lacks += [Lack.NO_ADAPTER] if not machine.adapters else []
    elif scheme == "rfcomm":
        if not machine.has_af_bluetooth:
            lacks.append(Lack.NO_PYTHON_BLUETOOTH)
        elif not machine.kernel_bluetooth:
            lacks.append(Lack.NO_KERNEL_BLUETOOTH)
        lacks += [Lack.NO_ADAPTER] if not machine.adapters else []
    elif scheme == "cloudprnt" and config.cloudprnt is None:
        lacks.append(Lack.NO_CLOUDPRNT_SERVER)
    # usb:// and serial:// devices may be unplugged right now: not this check's business.
    return tuple(lacks)


def _script_name(script: str) -> str:
    return _SCRIPT_NAMES.get(str(script), str(script))


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any failure to import means it cannot be used
        return False
    return True


def _adapters(folder: Path) -> tuple[str, ...]:
    try:
        names = os.listdir(folder)
    except OSError:  # no Bluetooth in the kernel: the class folder does not exist
        return ()
    return tuple(sorted(name for name in names if _ADAPTER_NAME.match(name)))


def _rfcomm_socket() -> bool:
    try:
        socket.socket(socket.AF_BLUETOOTH, socket.SOCK_STREAM, socket.BTPROTO_RFCOMM).close()
    except OSError:  # EAFNOSUPPORT, EPROTONOSUPPORT: no Bluetooth module; EPERM in a sandbox
        return False
    return True


def _fonts() -> tuple[FontChoice, ...] | None:
    try:
        from drivers.escpos.fonts import font_report

        return tuple(font_report())
    except (ImportError, OSError):
        return None
