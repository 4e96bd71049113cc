"""What goes wrong between us and a BLE printer, by kind: BlueZ's usual failures, told apart
by their texts (bleak passes BlueZ's D-Bus errors through), and how a connect retries them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from drivers.errors import DeviceUnavailableError, DriverError, UnsupportedTransportError


class BleFailure(StrEnum):
    """Why a BLE operation failed; permanent kinds need a human, the others are retried."""

    #: BlueZ is busy with another operation on the device or adapter (a scan, a connect)
    BUSY = "busy"
    #: no advertisement from the address (off, out of range, or connected to a phone)
    NOT_FOUND = "not_found"
    #: the connection failed to be established (le-connection-abort-by-local and kin)
    ABORTED = "connection_aborted"
    #: BlueZ holds no (or an outdated) service table for the device
    STALE_CACHE = "stale_cache"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"
    #: the device refused an operation (a write or a notification subscription)
    REFUSED = "refused"
    #: the adapter exists but is powered off or not ready
    ADAPTER_OFF = "adapter_off"
    OTHER = "other"
    # permanent: the configuration or the machine must change
    NO_BLUEZ = "no_bluez"
    NO_ADAPTER = "no_adapter"
    #: the daemon's user may not use Bluetooth (D-Bus policy)
    DENIED = "denied"
    PAIRING_REQUIRED = "pairing_required"
    NOT_A_PRINTER = "not_a_printer"
    BAD_CHARACTERISTIC = "bad_characteristic"

    @property
    def permanent(self) -> bool:
        """Whether retrying cannot help until a human acts."""
        return self in _PERMANENT


_PERMANENT = frozenset(
    {
        BleFailure.NO_BLUEZ,
        BleFailure.NO_ADAPTER,
        BleFailure.DENIED,
        BleFailure.PAIRING_REQUIRED,
        BleFailure.NOT_A_PRINTER,
        BleFailure.BAD_CHARACTERISTIC,
    }
)

# Texts of bleak's and BlueZ's errors, by kind; the first kind with a matching text wins.
_TEXTS: tuple[tuple[BleFailure, tuple[str, ...]], ...] = (
    (
        BleFailure.NO_BLUEZ,
        (
            "org.freedesktop.dbus.error.serviceunknown",
            "org.bluez was not provided",
            "system_bus_socket",
            "bleak requires bluez",
        ),
    ),
    (BleFailure.DENIED, ("org.freedesktop.dbus.error.accessdenied", "permission denied")),
    (
        BleFailure.NO_ADAPTER,
        ("no bluetooth adapters found", "no bluetooth adapters with ble", "adapter '"),
    ),
    (BleFailure.ADAPTER_OFF, ("no powered bluetooth adapters", "org.bluez.error.notready")),
    (BleFailure.BUSY, ("org.bluez.error.inprogress", "operation already in progress")),
    (
        BleFailure.STALE_CACHE,
        (
            "service discovery has not been performed",
            "failed to discover services",
            "database out of sync",
        ),
    ),
    (
        BleFailure.NOT_FOUND,
        ("was not found", "org.freedesktop.dbus.error.unknownobject", "device not found"),
    ),
    (
        BleFailure.ABORTED,
        (
            "le-connection-abort-by-local",
            "connection failed to be established",
            "br-connection-",
            "software caused connection abort",
        ),
    ),
    (
        BleFailure.DISCONNECTED,
        ("not connected", "org.bluez.error.notconnected", "disconnected"),
    ),
    (
        BleFailure.PAIRING_REQUIRED,
        (
            "org.bluez.error.authenticationfailed",
            "insufficient authentication",
            "insufficient encryption",
        ),
    ),
    (
        BleFailure.REFUSED,
        (
            "org.bluez.error.notpermitted",
            "org.bluez.error.notsupported",
            "write not permitted",
            "request not supported",
            # a long write (prepare/execute) the device cannot take
            "attribute not long",
            "invalid offset",
            "value length",
            "prepare queue full",
        ),
    ),
    (BleFailure.TIMEOUT, ("org.freedesktop.dbus.error.noreply", "timed out", "timeout")),
)

#: What to do about a permanent failure, said to the technician with the error.
HINTS: dict[BleFailure, str] = {
    BleFailure.NO_BLUEZ: (
        "Bluetooth is not available on this machine: BlueZ and the system D-Bus must run "
        "(apt install bluez; systemctl enable --now bluetooth)"
    ),
    BleFailure.NO_ADAPTER: (
        "no Bluetooth LE adapter on this machine: plug in a Bluetooth dongle, or print over "
        "tcp:// or usb://"
    ),
    BleFailure.DENIED: (
        "the daemon's user may not use Bluetooth: add it to the `bluetooth` group (D-Bus policy)"
    ),
    BleFailure.PAIRING_REQUIRED: (
        "the printer asks to be paired: pair and trust it once with bluetoothctl"
    ),
    BleFailure.NOT_A_PRINTER: "not an ESC/POS printer we know",
    BleFailure.BAD_CHARACTERISTIC: "the ?service= / ?char= of the URI do not fit the device",
    BleFailure.ADAPTER_OFF: "the Bluetooth adapter is off: bluetoothctl power on (and rfkill)",
}


class BleLinkError(DriverError):
    """A BLE operation failed; `kind` says why. The transport turns it into a transport error."""

    def __init__(self, kind: BleFailure, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify(text: str) -> BleFailure:
    """The kind of a bleak/BlueZ error, from its text (D-Bus error name and details)."""
    lowered = text.lower()
    for kind, needles in _TEXTS:
        if any(needle in lowered for needle in needles):
            return kind
    return BleFailure.OTHER


def transport_error(err: BleLinkError, mac: str) -> DriverError:
    """The transport's error for a failed connect: permanent kinds need a human."""
    hint = HINTS.get(err.kind)
    message = f"{mac}: {hint}: {err}" if hint else f"{mac}: {err}"
    if err.kind.permanent:
        return UnsupportedTransportError(message)
    return DeviceUnavailableError(message)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered, capped exponential delays between connect attempts."""

    initial_s: float = 0.25
    max_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (0 for the first)."""
        ceiling = min(self.max_s, self.initial_s * 2.0 ** min(attempt, 30))
        return random.uniform(ceiling / 2, ceiling)
