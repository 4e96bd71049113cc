"""GATT layouts of ESC/POS printers seen in the field (DESIGN.md, bluetooth-facts.md).

A printer is found by one of these services; its write characteristic is any
characteristic of the service with a write property (clones vary), the known one first.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.bluetooth.uris import full_uuid


@dataclass(frozen=True, slots=True)
class KnownService:
    """A printer service, with the characteristics usually found in it."""

    name: str
    service: str
    write: str | None
    notify: str | None


KNOWN_SERVICES: tuple[KnownService, ...] = (
    KnownService("generic 18F0", full_uuid("18f0"), full_uuid("2af1"), full_uuid("2af0")),
    KnownService(
        "ISSC transparent UART",
        "49535343-fe7d-4ae5-8fa9-9fafd205e455",
        "49535343-8841-43f4-a8d4-ecbe34729bb3",
        "49535343-1e4d-4bd9-ba61-23c647249616",
    ),
    KnownService(
        "BLE-UART module (PT-210)",
        "e7810a71-73ae-499d-8c15-faa9aef0c3f2",
        "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
        "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
    ),
    KnownService("FF00", full_uuid("ff00"), full_uuid("ff02"), full_uuid("ff01")),
    KnownService("HM-10 bridge", full_uuid("ffe0"), full_uuid("ffe1"), full_uuid("ffe1")),
    KnownService("E0FF", full_uuid("e0ff"), None, None),
    KnownService("AE00", full_uuid("ae00"), None, None),
)

#: Every known printer service UUID (what a scan filters on).
PRINTER_SERVICES: tuple[str, ...] = tuple(s.service for s in KNOWN_SERVICES)


def known_service(uuid: str) -> KnownService | None:
    """The known layout of a service, by its UUID (any case or short form)."""
    full = full_uuid(uuid)
    return next((s for s in KNOWN_SERVICES if s.service == full), None)
