"""A CloudPRNT printer's jobs through the server: fetched, confirmed, refused, lost, and what
the transport's write makes of each outcome."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest

from drivers.errors import (
    ConnectionLostError,
    DeviceUnavailableError,
    UnsupportedTransportError,
    WriteTimeoutError,
)
from edge.cloudprnt import CloudPrnt, CloudPrntTransport, ServerSettings
from edge.printing.render import PrinterSettings
from tests.support.cloudprnt_printer import SimulatedPrinter

MAC = "00:11:62:00:00:01"
POLL = 0.05
SETTINGS = ServerSettings(
    host="127.0.0.1", port=0, poll_interval_s=POLL, job_timeout_s=1.0, offline_grace_s=0.3
)
TICKET = b"\x1b@\x1bt\x10Table 4\n2x Burger\n\x1dV\x41\x03"


class CountingRenderer:
    """Draws a different body every call: a GET served twice must not call it twice."""

    def __init__(self) -> None:
        self.calls = itertools.count(1)

    def png(self, raw: bytes, *, width_chars: int, width_dots: int) -> bytes:
        return f"png {next(self.calls)} at {width_dots}".encode()

    def text(self, raw: bytes) -> str:
        return f"text {next(self.calls)}"


@pytest.fixture
async def service() -> AsyncIterator[CloudPrnt]:
    async with CloudPrnt(SETTINGS, printers=[MAC]) as cloudprnt:
        yield cloudprnt


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def transport(service: CloudPrnt) -> CloudPrntTransport:
    return service.transport_factory(PrinterSettings(name="kitchen", uri=f"cloudprnt://{MAC}"))


async def poll(
    http: aiohttp.ClientSession, service: CloudPrnt, body: dict[str, object]
) -> aiohttp.ClientResponse:
    async with http.post(service.url, data=json.dumps(body).encode()) as resp:
        await resp.read()
        return resp


async def online(service: CloudPrnt, http: aiohttp.ClientSession) -> None:
    """A first poll (answered with clientAction), so the next poll may carry an offer."""
    resp = await poll(http, service, {"statusCode": "200%20OK", "printerMAC": MAC})
    assert resp.status == 200


# ---- fetch and confirm ------------------------------------------------------------------------


async def test_a_repeated_get_returns_the_same_content_and_confirmations_are_idempotent(
    http: aiohttp.ClientSession,
) -> None:
    renderer = CountingRenderer()
    async with CloudPrnt(SETTINGS, printers=[MAC], renderer=renderer) as service:
        await online(service, http)  # answered with clientAction: the offer waits
        writer = transport(service)
        await writer.open()
        write = asyncio.create_task(writer.write(TICKET))
        async with http.post(service.url, json={"statusCode": "200 OK", "printerMAC": MAC}) as r:
            offer = await r.json()
        assert offer["jobReady"] is True
        assert offer["mediaTypes"] == ["image/png", "text/plain"]
        assert offer["deleteMethod"] == "DELETE"
        token = offer["jobToken"]
        params = {"mac": MAC, "type": "image/png", "token": token}
        bodies = []
        for _ in range(2):
            async with http.get(service.url, params=params) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "image/png"
                bodies.append(await resp.read())
        async with http.get(service.url, params={**params, "type": "text/plain"}) as resp:
            assert resp.status == 415, "fetched as a PNG: it is not also a text"
        assert bodies[0] == bodies[1] == b"png 1 at 576"
        assert not write.done(), "fetched is not printed"
        confirm = {"mac": MAC, "token": token, "code": "200 OK"}
        for _ in range(2):
            async with http.delete(service.url, params=confirm) as resp:
                assert resp.status == 200
        await asyncio.wait_for(write, 5)
        async with http.delete(service.url, params={**confirm, "token": "nope-1"}) as resp:
            assert resp.status == 200, "an unknown token is confirmed all the same"
        async with http.get(service.url, params=params) as resp:
            assert resp.status == 404, "confirmed: no job any more"


async def test_a_confirmation_for_a_job_never_fetched_is_not_believed(
    service: CloudPrnt, http: aiohttp.ClientSession
) -> None:
    await online(service, http)
    writer = transport(service)
    await writer.open()
    write = asyncio.create_task(writer.write(TICKET))
    async with http.post(service.url, json={"statusCode": "200 OK", "printerMAC": MAC}) as r:
        token = (await r.json())["jobToken"]
    async with http.delete(service.url, params={"mac": MAC, "token": token, "code": "200"}):
        pass
    async with http.get(service.url, params={"mac": MAC, "token": token}) as resp:
        assert resp.status == 200, "still there, and served in the first type offered"
        assert resp.content_type == "image/png"
    assert not write.done()
    await writer.close()
    with pytest.raises(ConnectionLostError) as lost:
        await asyncio.wait_for(write, 5)
    assert lost.value.sent == len(TICKET), "fetched before the close: it may have printed"


async def test_when_no_media_type_works_the_job_fails_for_good(service: CloudPrnt) -> None:
    async with SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer:
        printer.faults.refuse_media = {"image/png"}
        printer.faults.decode_errors = 1  # the text then fails to decode: 511
        await printer.wait_polls(2)
        writer = transport(service)
        await writer.open()
        with pytest.raises(UnsupportedTransportError, match=r"510.*511"):
            await writer.write(TICKET)
    assert printer.printed == []


async def test_a_printer_that_reports_no_media_we_serve_fails_the_job(service: CloudPrnt) -> None:
    async with SimulatedPrinter(
        service.url,
        mac=MAC,
        poll_interval=POLL,
        accepts=["application/vnd.star.starprnt"],
    ) as printer:
        await printer.wait_polls(3)
        writer = transport(service)
        await writer.open()
        with pytest.raises(UnsupportedTransportError, match="takes only"):
            await writer.write(TICKET)


async def test_a_printer_in_error_is_not_offered_the_job(service: CloudPrnt) -> None:
    async with SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer:
        await printer.wait_polls(2)
        writer = transport(service)
        await writer.open()
        printer.cover_open()
        await printer.wait_polls(1)
        assert (await writer.reported_status()).cover_open
        with pytest.raises(WriteTimeoutError) as refused:
            await writer.write(TICKET)
    assert refused.value.sent == 0, "never fetched: never printed"
    assert "420 Cover Open" in str(refused.value)
    assert printer.offers == []
    assert printer.gets == []


async def test_a_printing_printer_is_offered_the_job_once_it_is_done(service: CloudPrnt) -> None:
    async with SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer:
        await printer.wait_polls(2)
        printer.printing = True  # still printing something
        writer = transport(service)
        await writer.open()
        write = asyncio.create_task(writer.write(TICKET))
        await printer.wait_polls(3)
        assert printer.offers == [], "no offer while printingInProgress"
        printer.printing = False
        await asyncio.wait_for(write, 5)
    assert len(printer.printed) == 1


async def test_a_slow_print_is_confirmed_when_it_is_done() -> None:
    settings = replace(SETTINGS, job_timeout_s=30.0)  # within it, however slow
    async with (
        CloudPrnt(settings, printers=[MAC]) as service,
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer,
    ):
        printer.slow_print()
        await printer.wait_polls(2)
        writer = transport(service)
        await writer.open()
        write = asyncio.create_task(writer.write(TICKET))
        await printer.wait_until(lambda: printer.printing)
        await printer.wait_polls(2)
        assert service.snapshot()["printers"][0]["printing"] is True
        assert not write.done(), "printing is not printed"
        printer.finish_print()
        await asyncio.wait_for(write, 5)
    assert len(printer.printed) == 1


async def test_the_url_with_a_trailing_slash_and_the_get_confirmation(
    service: CloudPrnt, http: aiohttp.ClientSession
) -> None:
    slash = service.url + "/"
    resp = await poll(http, service, {"statusCode": "200 OK", "printerMAC": MAC})
    assert resp.status == 200
    writer = transport(service)
    await writer.open()
    write = asyncio.create_task(writer.write(TICKET))
    async with http.post(slash, json={"statusCode": "200 OK", "printerMAC": MAC}) as r:
        token = (await r.json())["jobToken"]
    async with http.get(slash, params={"mac": MAC, "token": token, "type": "text/plain"}) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    # deleteMethod "GET": the confirmation as a GET with `delete`
    async with http.get(f"{slash}?mac={MAC}&token={token}&code=200%20OK&delete") as r:
        assert r.status == 200
    await asyncio.wait_for(write, 5)


async def test_a_printer_that_stops_polling_before_fetching_loses_nothing(
    service: CloudPrnt,
) -> None:
    async with SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer:
        await printer.wait_polls(2)
        writer = transport(service)
        await writer.open()
        printer.power_off()
        with pytest.raises(ConnectionLostError) as lost:
            await writer.write(TICKET)
        assert lost.value.sent == 0
        assert not writer.is_open
        with pytest.raises(DeviceUnavailableError, match="has not polled"):
            await transport(service).open()
        assert not (await writer.reported_status()).online


async def test_a_fetched_job_never_confirmed_is_unknown(service: CloudPrnt) -> None:
    async with SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer:
        printer.faults.lost_deletes = 3
        await printer.wait_polls(2)
        writer = transport(service)
        await writer.open()
        with pytest.raises(ConnectionLostError, match="may have printed") as lost:
            await writer.write(TICKET)
    assert lost.value.sent == len(TICKET)
    assert len(printer.printed) == 1


async def test_a_printer_error_mid_job_is_what_the_status_check_after_it_reads(
    service: CloudPrnt,
) -> None:
    async with SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as printer:
        printer.faults.stop_mid_job = "411 Paper Jam"
        await printer.wait_polls(2)
        writer = transport(service)
        await writer.open()
        await writer.write(TICKET)  # returns: the worker's check after the job decides
        printer.clear_faults()
        await printer.wait_polls(2)  # the printer says 200 already: the job's word still counts
        after = await writer.reported_status()
        assert after.error
        assert not after.online
        assert (await writer.reported_status()).online, "then the printer's latest word"
