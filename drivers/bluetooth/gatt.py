"""Which characteristic of a BLE printer takes the ticket bytes, and which one answers.

The URI's `?service=` and `?char=` when given; else the first known printer service
(drivers.bluetooth.services) the device offers, its usual write characteristic first, else any
characteristic of it with a write property (clones vary). Notifications likewise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.bluetooth.failures import BleFailure, BleLinkError
from drivers.bluetooth.link import GattCharacteristic, GattService
from drivers.bluetooth.services import KNOWN_SERVICES, known_service
from drivers.bluetooth.uris import BleAddress


@dataclass(frozen=True, slots=True)
class GattChoice:
    """The characteristics a printer is driven through."""

    service: str
    write: GattCharacteristic
    #: where status answers come from; None: the printer cannot answer (printed blind)
    notify: GattCharacteristic | None
    #: the known layout this is, or "named in the URI" / "found by property"
    layout: str

    def describe(self) -> str:
        notify = self.notify.uuid if self.notify else "none (blind)"
        return f"{self.layout}: service {self.service}, write {self.write.uuid}, notify {notify}"


def choose(services: Sequence[GattService], address: BleAddress) -> GattChoice:
    """The write and notify characteristics to use; BleLinkError (NOT_A_PRINTER or
    BAD_CHARACTERISTIC, both permanent) when the device has none that fits."""
    if address.service is not None or address.char is not None:
        return _named(services, address)
    for known in KNOWN_SERVICES:
        service = next((s for s in services if s.uuid == known.service), None)
        if service is None:
            continue
        write = _usual_or_any(service, known.write, lambda c: c.writable)
        if write is None:
            continue
        notify = _usual_or_any(service, known.notify, lambda c: c.notifies)
        return GattChoice(service.uuid, write, notify, known.name)
    raise BleLinkError(
        BleFailure.NOT_A_PRINTER,
        f"no known printer service with a writable characteristic; the device offers "
        f"{describe(services)}; if it is a printer, name its service and characteristic "
        "with ?service=…&char=…",
    )


def describe(services: Sequence[GattService]) -> str:
    """The services and characteristics of a device, for an error message."""
    if not services:
        return "no services"
    parts = []
    for service in services:
        chars = ", ".join(
            f"{c.uuid} ({'/'.join(sorted(c.properties)) or 'no properties'})"
            for c in service.characteristics
        )
        parts.append(f"{service.uuid} [{chars}]")
    return "; ".join(parts)


def _usual_or_any(
    service: GattService, usual: str | None, fits: Callable[[GattCharacteristic], bool]
) -> GattCharacteristic | None:
    """The usual characteristic when it is there and fits, else the first that fits."""
    found = service.characteristic(usual) if usual is not None else None
    if found is not None and fits(found):
        return found
    return next((c for c in service.characteristics if fits(c)), None)


def _named(services: Sequence[GattService], address: BleAddress) -> GattChoice:
    scope = list(services)
    if address.service is not None:
        scope = [s for s in services if s.uuid == address.service]
        if not scope:
            raise BleLinkError(
                BleFailure.BAD_CHARACTERISTIC,
                f"no service {address.service}; the device offers {describe(services)}",
            )
    known = None
    if address.char is not None:
        found = [(s, c) for s in scope for c in s.characteristics if c.uuid == address.char]
        if not found:
            raise BleLinkError(
                BleFailure.BAD_CHARACTERISTIC,
                f"no characteristic {address.char}; the device offers {describe(scope)}",
            )
        service, write = found[0]
        if not write.writable:
            raise BleLinkError(
                BleFailure.BAD_CHARACTERISTIC,
                f"characteristic {write.uuid} cannot be written "
                f"(properties: {', '.join(sorted(write.properties)) or 'none'})",
            )
        known = known_service(service.uuid)
    else:
        service = scope[0]
        known = known_service(service.uuid)
        chosen = _usual_or_any(service, known.write if known else None, lambda c: c.writable)
        if chosen is None:
            raise BleLinkError(
                BleFailure.BAD_CHARACTERISTIC,
                f"service {service.uuid} has no writable characteristic: {describe([service])}",
            )
        write = chosen
    notify = (
        write
        if write.notifies
        else _usual_or_any(service, known.notify if known else None, lambda c: c.notifies)
    )
    return GattChoice(service.uuid, write, notify, "named in the URI")
