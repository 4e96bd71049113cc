"""The bleak adapter through bleak's own facades (pinned 3.1) with fake backends passed by
`backend=`: scans, connects, GATT operations, and BlueZ's errors translated by kind."""

from __future__ import annotations

import asyncio

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakDeviceNotFoundError,
)

from drivers.bluetooth.bleak_link import BleakLinks, translate
from drivers.bluetooth.failures import BleFailure, BleLinkError
from drivers.bluetooth.link import NOTIFY, READ, WRITE, WRITE_WITHOUT_RESPONSE
from drivers.bluetooth.uris import full_uuid
from drivers.realtime import PrinterStatus, query_status
from drivers.transports.ble import BleTransport
from tests.support.fake_bleak_backend import FakeAir, FakeDevice

MAC = "AA:BB:CC:DD:EE:02"
ISSC = "49535343-fe7d-4ae5-8fa9-9fafd205e455"
ISSC_WRITE = "49535343-8841-43f4-a8d4-ecbe34729bb3"
ISSC_NOTIFY = "49535343-1e4d-4bd9-ba61-23c647249616"
HEALTHY = PrinterStatus(online=True, paper="ok", cover_open=False, error=False)
DEADLINE = 10.0


def answers_status(data: bytes) -> bytes:
    """A healthy printer's answer to DLE EOT 1..4 (fixed bits only), nothing to other bytes."""
    return b"\x12" if data[:2] == b"\x10\x04" else b""


def printer(**kw: object) -> FakeDevice:
    defaults: dict[str, object] = {
        "services": {
            "180a": {"2a29": [READ]},
            ISSC: {ISSC_WRITE: [WRITE, WRITE_WITHOUT_RESPONSE], ISSC_NOTIFY: [NOTIFY]},
        },
        "max_write_without_response": 182,
        "answer": answers_status,
    }
    return FakeDevice(MAC, **{**defaults, **kw})  # type: ignore[arg-type]


@pytest.fixture
def air() -> FakeAir:
    return FakeAir()


async def test_connects_after_a_scan_and_reports_the_services(air: FakeAir) -> None:
    air.add(printer())
    link = BleakLinks(air.backends())(MAC.lower())
    async with asyncio.timeout(DEADLINE):
        await link.connect(2.0, lambda: None)
    assert link.is_connected
    assert link.address == MAC
    assert air.scans == 1
    info, uart = link.services()
    assert info.uuid == full_uuid("180a")
    assert uart.uuid == ISSC
    write = uart.characteristic(ISSC_WRITE)
    assert write is not None
    assert write.properties == {WRITE, WRITE_WITHOUT_RESPONSE}
    assert write.max_write_without_response_size == 182
    await link.disconnect()
    assert not link.is_connected


async def test_writes_and_notifications_go_through_bleak(air: FakeAir) -> None:
    air.add(printer())
    link = BleakLinks(air.backends())(MAC)
    notified: list[bytes] = []
    async with asyncio.timeout(DEADLINE):
        await link.connect(2.0, lambda: None)
        await link.start_notify(ISSC_NOTIFY, notified.append)
        await link.write(ISSC_WRITE, b"\x10\x04\x01", response=True)
        await link.write(ISSC_WRITE, b"x" * 182, response=False)
    assert notified == [b"\x12"]
    assert [(w.char, w.response, len(w.data)) for w in air.writes] == [
        (ISSC_WRITE, True, 3),
        (ISSC_WRITE, False, 182),
    ]
    with pytest.raises(BleLinkError) as refused:
        await link.write(ISSC_NOTIFY, b"x", response=True)
    assert refused.value.kind is BleFailure.REFUSED, "GATT Protocol Error: Write Not Permitted"


async def test_a_device_already_connected_to_the_machine_is_found_without_a_scan(
    air: FakeAir,
) -> None:
    # A printer kept connected by an earlier run does not advertise.
    air.add(printer(advertising=False, connected_to_system=True))
    link = BleakLinks(air.backends())(MAC)
    async with asyncio.timeout(DEADLINE):
        await link.connect(2.0, lambda: None)
    assert link.is_connected
    assert air.scans == 0


async def test_a_device_that_does_not_advertise_is_not_found(air: FakeAir) -> None:
    air.add(printer(advertising=False))
    link = BleakLinks(air.backends())(MAC)
    with pytest.raises(BleLinkError, match="was not found") as caught:
        await link.connect(0.2, lambda: None)
    assert caught.value.kind is BleFailure.NOT_FOUND
    assert air.scans == 1
    assert not link.is_connected


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"]),
            BleFailure.BUSY,
        ),
        (
            BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"]),
            BleFailure.ABORTED,
        ),
        (
            BleakDeviceNotFoundError(
                MAC,
                f"Device with address {MAC} was not found. It may have been removed from "
                "BlueZ when scanning stopped.",
            ),
            BleFailure.NOT_FOUND,
        ),
        (BleakDBusError("org.freedesktop.DBus.Error.NoReply", []), BleFailure.TIMEOUT),
        (TimeoutError(), BleFailure.TIMEOUT),
        (
            BleakDBusError("org.bluez.Error.AuthenticationFailed", ["Authentication Failed"]),
            BleFailure.PAIRING_REQUIRED,
        ),
    ],
    ids=["in-progress", "abort-by-local", "vanished", "no-reply", "timeout", "pairing"],
)
async def test_connect_errors_are_translated_by_kind(
    air: FakeAir, error: BaseException, kind: BleFailure
) -> None:
    air.add(printer())
    air.connect_errors.append(error)
    link = BleakLinks(air.backends())(MAC)
    with pytest.raises(BleLinkError) as caught:
        await link.connect(2.0, lambda: None)
    assert caught.value.kind is kind
    async with asyncio.timeout(DEADLINE):
        await link.connect(2.0, lambda: None)  # the next attempt goes through
    assert link.is_connected


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            ),
            BleFailure.NO_ADAPTER,
        ),
        (
            BleakBluetoothNotAvailableError(
                "No powered Bluetooth adapters found. Turn on Bluetooth and try again.",
                BleakBluetoothNotAvailableReason.POWERED_OFF,
            ),
            BleFailure.ADAPTER_OFF,
        ),
        (FileNotFoundError(2, "No such file or directory"), BleFailure.NO_BLUEZ),
        (
            BleakDBusError(
                "org.freedesktop.DBus.Error.ServiceUnknown",
                ["The name org.bluez was not provided by any .service files"],
            ),
            BleFailure.NO_BLUEZ,
        ),
    ],
    ids=["no-adapter", "powered-off", "no-dbus", "no-bluez"],
)
async def test_a_machine_without_usable_bluetooth_is_told_apart(
    air: FakeAir, error: BaseException, kind: BleFailure
) -> None:
    air.add(printer())
    air.radio_error = error
    with pytest.raises(BleLinkError) as caught:
        await BleakLinks(air.backends())(MAC).connect(2.0, lambda: None)
    assert caught.value.kind is kind
    assert kind.permanent is (kind is not BleFailure.ADAPTER_OFF)


async def test_a_connection_without_a_service_table_is_a_stale_cache(air: FakeAir) -> None:
    air.add(printer())
    air.no_services = True
    link = BleakLinks(air.backends())(MAC)
    async with asyncio.timeout(DEADLINE):
        await link.connect(2.0, lambda: None)
    with pytest.raises(BleLinkError, match="Service Discovery") as caught:
        link.services()
    assert caught.value.kind is BleFailure.STALE_CACHE


async def test_an_unsolicited_disconnect_is_reported(air: FakeAir) -> None:
    air.add(printer())
    link = BleakLinks(air.backends())(MAC)
    gone = asyncio.Event()
    async with asyncio.timeout(DEADLINE):
        await link.connect(2.0, gone.set)
        air.drop(MAC)
        await gone.wait()
    assert not link.is_connected
    with pytest.raises(BleLinkError) as caught:
        await link.write(ISSC_WRITE, b"x", response=True)
    assert caught.value.kind is BleFailure.DISCONNECTED


async def test_ping_reads_a_readable_characteristic_when_there_is_one(air: FakeAir) -> None:
    air.add(printer())
    air.add(FakeDevice("AA:BB:CC:DD:EE:03", {"18f0": {"2af1": [WRITE_WITHOUT_RESPONSE]}}))
    links = BleakLinks(air.backends())
    async with asyncio.timeout(DEADLINE):
        for mac in (MAC, "AA:BB:CC:DD:EE:03"):
            await links(mac).connect(2.0, lambda: None)
            await links(mac).ping()
    assert air.reads == 1, "only the device with a readable characteristic is read"
    await links.aclose()
    with pytest.raises(BleLinkError) as caught:
        await links(MAC).ping()
    assert caught.value.kind is BleFailure.DISCONNECTED


def test_links_are_one_per_address() -> None:
    links = BleakLinks()
    assert links(MAC.lower()) is links(MAC)
    assert links(MAC) is not links("AA:BB:CC:DD:EE:03")


def test_unknown_errors_keep_their_text() -> None:
    err = translate(RuntimeError("something odd"))
    assert (err.kind, str(err)) == (BleFailure.OTHER, "something odd")


async def test_the_transport_prints_and_reads_status_through_bleak(air: FakeAir) -> None:
    air.add(
        FakeDevice(
            MAC,
            {"18f0": {"2af1": [WRITE_WITHOUT_RESPONSE], "2af0": [NOTIFY]}},
            answer=answers_status,
        )
    )
    links = BleakLinks(air.backends())
    t = BleTransport(f"ble://{MAC}?gap_ms=1", links=links, connect_timeout=2.0)
    ticket = b"\x1b@" + b"Margherita x2\n" * 10 + b"\x1dV\x00"
    async with asyncio.timeout(DEADLINE):
        await t.open()
        assert t.bidirectional
        assert await query_status(t) == HEALTHY
        await t.write(ticket)
        await t.close()
    data = [w for w in air.writes if w.data[:2] != b"\x10\x04"]
    assert b"".join(w.data for w in data) == ticket
    assert {(w.char, w.response) for w in data} == {(full_uuid("2af1"), False)}
    assert max(len(w.data) for w in data) == 20
    assert links(MAC).is_connected, "connect=keep: still connected after close"
    await links.aclose()
    assert not links(MAC).is_connected
