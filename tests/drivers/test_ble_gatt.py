"""Choosing a BLE printer's characteristics, and telling BlueZ's failures apart by their texts."""

from __future__ import annotations

import pytest

from drivers.bluetooth.failures import Backoff, BleFailure, BleLinkError, classify
from drivers.bluetooth.gatt import choose
from drivers.bluetooth.link import INDICATE, NOTIFY, READ, WRITE, WRITE_WITHOUT_RESPONSE
from drivers.bluetooth.uris import full_uuid, parse_ble_uri
from tests.support.fake_ble import BLIND, CLONE_FF00, GENERIC_18F0, ISSC, NOT_A_PRINTER, service

URI = "ble://AA:BB:CC:DD:EE:01"
PT210 = "e7810a71-73ae-499d-8c15-faa9aef0c3f2"
PT210_CHAR = "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f"


def test_the_known_write_and_notify_characteristics_come_first() -> None:
    choice = choose(ISSC, parse_ble_uri(URI))
    assert choice.service == "49535343-fe7d-4ae5-8fa9-9fafd205e455"
    assert choice.write.uuid == "49535343-8841-43f4-a8d4-ecbe34729bb3"
    assert choice.notify is not None
    assert choice.notify.uuid == "49535343-1e4d-4bd9-ba61-23c647249616"
    assert choice.layout == "ISSC transparent UART"


def test_one_characteristic_for_both_write_and_notify() -> None:
    both = service(PT210, (PT210_CHAR, {WRITE, WRITE_WITHOUT_RESPONSE, NOTIFY}, 20))
    choice = choose((both,), parse_ble_uri(URI))
    assert choice.write.uuid == choice.notify.uuid == PT210_CHAR  # type: ignore[union-attr]


def test_a_clone_is_found_by_property_in_a_known_service() -> None:
    choice = choose(CLONE_FF00, parse_ble_uri(URI))
    assert choice.write.uuid == full_uuid("ff09")
    assert choice.notify is not None
    assert choice.notify.uuid == full_uuid("ff08")  # indicate counts


def test_a_known_service_without_a_writable_characteristic_is_skipped() -> None:
    read_only = service("18f0", ("2af0", {NOTIFY, READ}, 20))
    choice = choose((read_only, *GENERIC_18F0[1:], *CLONE_FF00), parse_ble_uri(URI))
    assert choice.service == full_uuid("ff00")


def test_no_notify_characteristic_means_blind() -> None:
    assert choose(BLIND, parse_ble_uri(URI)).notify is None


def test_the_uri_can_name_only_the_service() -> None:
    choice = choose(NOT_A_PRINTER, parse_ble_uri(f"{URI}?service=180d"))
    assert choice.write.uuid == full_uuid("2a39")
    assert choice.notify is not None
    assert choice.notify.uuid == full_uuid("2a37")


def test_the_uri_char_wins_over_the_known_layout() -> None:
    extra = service("18f0", ("2af1", {WRITE_WITHOUT_RESPONSE}, 20), ("2af3", {WRITE}, 20))
    choice = choose((extra,), parse_ble_uri(f"{URI}?char=2af3"))
    assert choice.write.uuid == full_uuid("2af3")
    assert choice.layout == "named in the URI"


def test_a_named_service_without_a_writable_characteristic_is_refused() -> None:
    with pytest.raises(BleLinkError, match="no writable characteristic") as caught:
        choose(NOT_A_PRINTER, parse_ble_uri(f"{URI}?service=180a"))
    assert caught.value.kind is BleFailure.BAD_CHARACTERISTIC
    assert caught.value.kind.permanent


def test_a_device_with_no_printer_service_lists_what_it_has() -> None:
    with pytest.raises(BleLinkError) as caught:
        choose(NOT_A_PRINTER, parse_ble_uri(URI))
    assert caught.value.kind is BleFailure.NOT_A_PRINTER
    text = str(caught.value)
    assert f"{full_uuid('2a37')} (notify)" in text
    assert "?service=" in text


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[org.bluez.Error.InProgress] Operation already in progress", BleFailure.BUSY),
        ("Device with address AA:BB:CC:DD:EE:01 was not found.", BleFailure.NOT_FOUND),
        ("[org.freedesktop.DBus.Error.UnknownObject] Method … doesn't exist", BleFailure.NOT_FOUND),
        ("[org.bluez.Error.Failed] le-connection-abort-by-local", BleFailure.ABORTED),
        ("Service Discovery has not been performed yet", BleFailure.STALE_CACHE),
        ("failed to discover services, device disconnected", BleFailure.STALE_CACHE),
        ("Not connected", BleFailure.DISCONNECTED),
        ("[org.bluez.Error.NotPermitted] Notify acquired", BleFailure.REFUSED),
        ("GATT Protocol Error: Attribute Not Long", BleFailure.REFUSED),
        ("GATT Protocol Error: Invalid Attribute Value Length", BleFailure.REFUSED),
        ("[org.freedesktop.DBus.Error.NoReply] Did not receive a reply", BleFailure.TIMEOUT),
        ("No Bluetooth adapters found.", BleFailure.NO_ADAPTER),
        ("adapter 'hci1' not found", BleFailure.NO_ADAPTER),
        ("No powered Bluetooth adapters found.", BleFailure.ADAPTER_OFF),
        (
            "[org.freedesktop.DBus.Error.ServiceUnknown] org.bluez was not provided",
            BleFailure.NO_BLUEZ,
        ),
        ("[org.freedesktop.DBus.Error.AccessDenied] Rejected send message", BleFailure.DENIED),
        ("something else entirely", BleFailure.OTHER),
    ],
)
def test_bluez_texts_are_classified(text: str, kind: BleFailure) -> None:
    assert classify(text) is kind


def test_permanent_kinds_are_the_ones_a_human_must_fix() -> None:
    permanent = {k for k in BleFailure if k.permanent}
    assert permanent == {
        BleFailure.NO_BLUEZ,
        BleFailure.NO_ADAPTER,
        BleFailure.DENIED,
        BleFailure.PAIRING_REQUIRED,
        BleFailure.NOT_A_PRINTER,
        BleFailure.BAD_CHARACTERISTIC,
    }


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(0.1, 0.5)
    for attempt, ceiling in enumerate([0.1, 0.2, 0.4, 0.5, 0.5]):
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert backoff.delay(10_000) <= 0.5


def test_indicate_and_notify_both_count_for_answers() -> None:
    chars = service("ffe0", ("ffe1", {WRITE_WITHOUT_RESPONSE, INDICATE}, 20))
    choice = choose((chars,), parse_ble_uri(URI))
    assert choice.notify is not None
