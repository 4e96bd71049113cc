"""ble:// through the fake BLE printer at the link seam, which forwards to a real printer
emulator over loopback TCP (or is a sink): chunks, pacing, status by notification, BlueZ's
failures, kept and per-batch connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from drivers.bluetooth.bleak_link import BleakLinks
from drivers.bluetooth.failures import Backoff, BleFailure
from drivers.bluetooth.uris import full_uuid
from drivers.emulator import PrinterEmulator
from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from drivers.realtime import PrinterStatus, query_status
from drivers.transports import transport_for
from drivers.transports.ble import BleTransport
from tests.support.fake_ble import (
    ADDRESS,
    BLIND,
    CLONE_FF00,
    GENERIC_18F0,
    ISSC,
    NOT_A_PRINTER,
    FakeBlePrinter,
)
from tests.support.sleeps import Sleeps

ISSC_WRITE = "49535343-8841-43f4-a8d4-ecbe34729bb3"
HEALTHY = PrinterStatus(online=True, paper="ok", cover_open=False, error=False)
TICKET = (
    b"\x1b@\x1bt\x10" + b"".join(b"Line %04d of the ticket\n" % n for n in range(60)) + b"\x1dV\x00"
)
DEADLINE = 10.0


@pytest.fixture
async def emu() -> AsyncIterator[PrinterEmulator]:
    async with PrinterEmulator(name="ble") as printer:
        yield printer


@pytest.fixture
def fakes() -> Iterator[Callable[..., FakeBlePrinter]]:
    """Makes fake printers; each must end the test without a GATT violation."""
    made: list[FakeBlePrinter] = []

    def make(*args: Any, **kw: Any) -> FakeBlePrinter:
        made.append(fake := FakeBlePrinter(*args, **kw))
        return fake

    yield make
    for fake in made:
        assert fake.violations == [], "the transport broke a GATT rule"


def ble(fake: FakeBlePrinter, query: str = "", **kw: Any) -> BleTransport:
    kw.setdefault("connect_timeout", 2.0)
    kw.setdefault("write_timeout", 2.0)
    kw.setdefault("backoff", Backoff(0.01, 0.05))
    return BleTransport(f"ble://{ADDRESS}{query}", links=fake, **kw)


# ---- characteristics, chunks and pacing ---------------------------------------------------------


async def test_writes_with_response_in_512_byte_chunks_to_the_known_characteristic(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)
    sleeps = Sleeps()
    t = ble(fake, sleep=sleeps)
    async with asyncio.timeout(DEADLINE):
        await t.open()
        assert t.bidirectional
        await t.write(TICKET)
        [job] = await emu.wait_for_jobs(1)
        await t.close()
    assert {(w.char, w.response) for w in fake.writes} == {(ISSC_WRITE, True)}
    assert [len(w.data) for w in fake.writes] == [512, 512, len(TICKET) - 1024]
    assert fake.sent == TICKET
    assert job.raw == TICKET
    assert sleeps.delays == [], "writes with response are acknowledged: no pause between them"
    assert t.bytes_per_second is None


async def test_writes_without_response_in_chunks_of_the_characteristic_limit_paced(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=GENERIC_18F0)  # a sink
    sleeps = Sleeps()
    t = ble(fake, sleep=sleeps)
    await t.open()
    assert t.bytes_per_second == pytest.approx(1000.0), "20 bytes every 20 ms"
    await t.write(bytes(range(100)))
    assert len(sleeps.delays) == 4, "a pause before each write but the first"
    await t.write(b"\x10\x04\x01")  # right behind: the pacing spans writes
    await t.close()
    assert [(len(w.data), w.response) for w in fake.writes] == [(20, False)] * 5 + [(3, False)]
    assert fake.sent == bytes(range(100)) + b"\x10\x04\x01"
    assert len(sleeps.delays) == 5
    assert all(0 < d <= 0.020 for d in sleeps.delays)


async def test_a_printer_that_refuses_long_writes_gets_one_packet_at_a_time(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)  # 182 bytes fit in one packet
    fake.faults.no_long_writes = True
    async with asyncio.timeout(DEADLINE):
        for n in (1, 2):
            t = ble(fake, "?connect=per_batch")
            await t.open()
            await t.write(TICKET)
            [*_, job] = await emu.wait_for_jobs(n)
            await t.close()
            assert job.raw == TICKET, "the refused write left nothing behind"
    assert fake.long_writes_refused == 1, "learnt once for the printer"
    assert {len(w.data) for w in fake.writes} <= {182, len(TICKET) % 182}
    assert all(w.response for w in fake.writes)


async def test_chunk_and_gap_from_the_uri_override_the_defaults(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=ISSC)
    sleeps = Sleeps()
    t = ble(fake, "?chunk=100&gap_ms=5", sleep=sleeps)
    await t.open()
    await t.write(bytes(250))
    await t.close()
    assert [len(w.data) for w in fake.writes] == [100, 100, 50]
    assert all(w.response for w in fake.writes)
    assert len(sleeps.delays) == 2
    assert all(0 < d <= 0.005 for d in sleeps.delays)
    assert t.bytes_per_second is None  # closed


async def test_a_clone_is_driven_through_any_characteristic_with_the_properties(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=CLONE_FF00)
    t = ble(fake, "?gap_ms=0")
    async with asyncio.timeout(DEADLINE):
        await t.open()
        assert t.bidirectional, "its indicate characteristic carries the answers"
        assert await query_status(t) == HEALTHY
        await t.write(TICKET)
        await emu.wait_for_jobs(1)
        await t.close()
    assert {w.char for w in fake.writes} == {full_uuid("ff09")}
    assert max(len(w.data) for w in fake.writes) == 100


async def test_the_uri_names_the_service_and_characteristic(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=NOT_A_PRINTER)
    t = ble(fake, "?service=180d&char=2a39")
    await t.open()
    await t.write(b"\x1b@hello")
    await t.close()
    assert [(w.char, w.response) for w in fake.writes] == [(full_uuid("2a39"), True)]
    assert t.bidirectional is True, "the service's notify characteristic is subscribed"


async def test_a_device_that_is_no_known_printer_is_refused_with_what_it_offers(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=NOT_A_PRINTER)
    t = ble(fake)
    with pytest.raises(UnsupportedTransportError) as caught:
        await t.open()
    message = str(caught.value)
    assert ADDRESS in message
    assert "not an ESC/POS printer we know" in message
    assert full_uuid("180d") in message, "the services it has are named"
    assert "?service=" in message
    assert "char=" in message
    assert fake.connect_attempts == 1, "a permanent failure is not retried"
    assert not fake.link.is_connected


async def test_a_named_characteristic_that_cannot_be_written_is_refused(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=NOT_A_PRINTER)
    with pytest.raises(UnsupportedTransportError, match="cannot be written"):
        await ble(fake, "?char=2a37").open()
    with pytest.raises(UnsupportedTransportError, match="no service"):
        await ble(fake, "?service=ffe0").open()
    assert not fake.link.is_connected


# ---- BlueZ's usual failures ---------------------------------------------------------------------


async def test_busy_and_aborted_connects_are_retried_with_backoff(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=ISSC)
    fake.fail_connects(
        BleFailure.BUSY, "[org.bluez.Error.InProgress] Operation already in progress"
    )
    fake.fail_connects(BleFailure.ABORTED, "[org.bluez.Error.Failed] le-connection-abort-by-local")
    sleeps = Sleeps()
    t = ble(fake, sleep=sleeps, backoff=Backoff(0.1, 1.0))
    await t.open()
    assert t.is_open
    assert (fake.connect_attempts, fake.connects) == (3, 1)
    first, second = sleeps.delays
    assert 0.05 <= first <= 0.1, "jittered"
    assert 0.1 <= second <= 0.2, "doubling"
    await t.close()


async def test_a_stale_service_cache_is_dropped_and_the_device_connected_again(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=ISSC)
    fake.stale_cache()
    t = ble(fake)
    await t.open()
    assert (fake.connects, fake.disconnects) == (2, 1)
    await t.write(b"\x1b@")
    await t.close()


async def test_a_vanished_printer_is_rescanned_until_the_connect_timeout(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=ISSC)
    fake.vanish()
    t = ble(fake, connect_timeout=0.3)
    with pytest.raises(DeviceUnavailableError, match="was not found") as caught:
        await t.open()
    assert "0.3 s" in str(caught.value)
    assert fake.connect_attempts >= 2, "scanned again after the first miss"
    fake.reappear()
    await t.open()
    assert t.is_open
    await t.close()


@pytest.mark.parametrize(
    ("kind", "text", "hint"),
    [
        (BleFailure.NO_ADAPTER, "No Bluetooth adapters found.", "no Bluetooth LE adapter"),
        (BleFailure.NO_BLUEZ, "the system D-Bus is not running", "BlueZ"),
        (BleFailure.PAIRING_REQUIRED, "Insufficient Authentication", "paired"),
    ],
)
async def test_a_machine_without_bluetooth_is_a_permanent_error_with_the_fix(
    fakes: Callable[..., FakeBlePrinter], kind: BleFailure, text: str, hint: str
) -> None:
    fake = fakes(services=ISSC)
    fake.fail_connects(kind, text)
    with pytest.raises(UnsupportedTransportError, match=hint):
        await ble(fake).open()
    assert fake.connect_attempts == 1


# ---- status -------------------------------------------------------------------------------------


async def test_status_answers_come_back_as_notifications(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=GENERIC_18F0)
    t = ble(fake, "?gap_ms=0")
    async with asyncio.timeout(DEADLINE):
        await t.open()
        assert await query_status(t) == HEALTHY
        emu.set_fault(paper_out=True)
        stopped = await query_status(t)
        await t.close()
    assert stopped.paper == "out"
    assert stopped.fault == "paper_out"


async def test_a_printer_without_a_notify_characteristic_is_blind(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=BLIND)
    t = ble(fake, "?gap_ms=0")
    async with asyncio.timeout(DEADLINE):
        await t.open()
        assert t.bidirectional is False
        await t.write(TICKET)
        await t.wait_taken()
        await emu.wait_for_jobs(1)
        assert await t.read(1, 0.05) == b""
        await t.close()


async def test_refused_notifications_leave_the_printer_blind_not_unusable(
    fakes: Callable[..., FakeBlePrinter],
) -> None:
    fake = fakes(services=ISSC)
    fake.faults.refuse_notify = True
    for _ in range(2):
        t = ble(fake)
        await t.open()
        assert t.bidirectional is False
        await t.write(b"\x1b@")
        await t.close()
    assert fake.connects == 1, "kept: the refusal is no reason to connect again"


# ---- losing the printer mid-write ---------------------------------------------------------------


async def test_a_disconnect_mid_write_counts_at_least_what_reached_the_printer(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=GENERIC_18F0)
    t = ble(fake, "?gap_ms=0")
    async with asyncio.timeout(DEADLINE):
        await t.open()
        fake.drop_after(95)
        with pytest.raises(ConnectionLostError) as caught:
            await t.write(TICKET)
        [partial] = await emu.wait_for_jobs(1, include_incomplete=True)
    assert fake.delivered == 95
    assert len(partial.raw) == 95
    assert not partial.complete
    assert 95 <= caught.value.sent <= 100, "the write in flight counts: never fewer"
    assert not t.is_open
    with pytest.raises(ConnectionLostError):
        await t.write(b"more")


async def test_a_stalled_printer_times_out_on_progress(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)
    t = ble(fake, write_timeout=0.3)
    async with asyncio.timeout(DEADLINE):
        await t.open()
        emu.stall()
        with pytest.raises(WriteTimeoutError) as caught:
            await t.write(TICKET * 100)
    assert caught.value.sent == len(fake.sent), "every write handed over counts as sent"
    assert caught.value.sent >= fake.delivered
    assert caught.value.sent < len(TICKET) * 100
    assert not t.is_open
    assert not fake.link.is_connected, "a write that hung gives the connection up"


async def test_read_fails_once_the_printer_disconnects(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)
    t = ble(fake)
    async with asyncio.timeout(DEADLINE):
        await t.open()
        fake.disconnect_now()
        with pytest.raises(ConnectionLostError):
            await t.read(1, 5.0)
    assert not t.is_open


# ---- keep or per batch --------------------------------------------------------------------------


async def test_keep_holds_the_connection_between_batches_after_a_health_check(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)
    async with asyncio.timeout(DEADLINE):
        for n in (1, 2):
            t = ble(fake, "?connect=keep")  # the worker makes a transport per connection
            await t.open()
            await t.write(TICKET)
            await emu.wait_for_jobs(n)
            await t.close()
            assert fake.link.is_connected, "kept after close"
    assert (fake.connects, fake.disconnects, fake.pings) == (1, 0, 1)
    assert emu.connections == 1


async def test_per_batch_connects_for_each_batch(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)
    async with asyncio.timeout(DEADLINE):
        for n in (1, 2):
            t = ble(fake, "?connect=per_batch")
            await t.open()
            await t.write(TICKET)
            await emu.wait_for_jobs(n)
            await t.close()
            assert not fake.link.is_connected, "free for a phone between batches"
    assert (fake.connects, fake.disconnects, fake.pings) == (2, 2, 0)


async def test_a_kept_connection_that_stopped_answering_is_replaced(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)
    async with asyncio.timeout(DEADLINE):
        first = ble(fake)
        await first.open()
        await first.close()
        fake.zombie()  # still "connected", answers nothing
        second = ble(fake, connect_timeout=0.3)
        await second.open()
        assert await query_status(second) == HEALTHY
        await second.close()
    assert (fake.connects, fake.disconnects) == (2, 1)


async def test_a_kept_connection_dropped_while_idle_is_made_again(
    emu: PrinterEmulator, fakes: Callable[..., FakeBlePrinter]
) -> None:
    fake = fakes(emu, services=ISSC)
    async with asyncio.timeout(DEADLINE):
        first = ble(fake)
        await first.open()
        await first.close()
        fake.disconnect_now()
        second = ble(fake)
        await second.open()
        assert await query_status(second) == HEALTHY
        await second.close()
    assert (fake.connects, fake.pings) == (2, 0)


# ---- the registry -------------------------------------------------------------------------------


def test_the_registry_builds_a_ble_transport_over_bleak() -> None:
    t = transport_for(f"ble://{ADDRESS.lower()}?connect=per_batch", connect_timeout=15)
    assert isinstance(t, BleTransport)
    assert isinstance(t.links, BleakLinks)
    assert (t.mac, t.connect_timeout) == (ADDRESS, 15)
    with pytest.raises(UnsupportedTransportError, match="chunk"):
        transport_for(f"ble://{ADDRESS}?chunk=0")
