"""The CloudPRNT server on loopback: what it answers the simulated printer and raw requests
(polls, clientAction, refusals, authentication, the MAC allow-list), and its serving."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web

from edge.cloudprnt import CloudPrnt, CloudPrntTransport, ServerSettings
from edge.printing.render import PrinterSettings
from tests.support.cloudprnt_printer import SimulatedPrinter

MAC = "00:11:62:00:00:01"
STRANGER = "00:11:62:99:99:99"
POLL = 0.05
SETTINGS = ServerSettings(
    host="127.0.0.1", port=0, poll_interval_s=POLL, job_timeout_s=1.0, offline_grace_s=0.3
)
TICKET = b"\x1b@\x1bt\x10Table 4\n2x Burger\n\x1dV\x41\x03"


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
    http: aiohttp.ClientSession, service: CloudPrnt, body: object, **headers: str
) -> aiohttp.ClientResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(service.url, data=data, headers=headers) as resp:
        await resp.read()
        return resp


async def online(service: CloudPrnt, http: aiohttp.ClientSession, mac: str = MAC) -> None:
    """A poll with the clientAction results, so the next poll may carry an offer."""
    resp = await poll(http, service, {"statusCode": "200%20OK", "printerMAC": mac})
    assert resp.status == 200


# ---- polls ------------------------------------------------------------------------------------


async def test_first_poll_asks_what_the_printer_is_then_remembers_it(
    service: CloudPrnt, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        service.url, json={"statusCode": "200%20OK", "printerMAC": MAC.lower()}
    ) as resp:
        first = await resp.json()
    assert first["jobReady"] is False
    assert [a["request"] for a in first["clientAction"]] == [
        "PageInfo",
        "Encodings",
        "ClientType",
        "ClientVersion",
        "GetPollInterval",
    ]
    results = [
        {"request": "PageInfo", "result": {"printWidth": "48", "horizontalResolution": "8"}},
        {"request": "Encodings", "result": "image/png; text/plain;application/vnd.star.line"},
        {"request": "ClientType", "result": "Star mC-Print2"},
        {"request": "ClientVersion", "result": "3.6"},
        {"request": "GetPollInterval", "result": "20"},
    ]
    async with http.post(
        service.url,
        json={"statusCode": "211 Paper Low", "clientAction": results},
        headers={"X-Star-Mac": MAC.lower()},
    ) as resp:
        assert await resp.json() == {"jobReady": False}, "asked once, not at every poll"
    [printer] = service.snapshot()["printers"]
    assert printer["print_width"] == 384, "PageInfo: 48 mm x 8 dots"
    assert printer["encodings"] == ["image/png", "text/plain", "application/vnd.star.line"]
    assert printer["client_type"] == "Star mC-Print2"
    assert printer["status_code"] == "211 Paper Low"
    assert printer["poll_interval_s"] == 20.0
    assert (await transport(service).reported_status()).paper == "near_end"


async def test_the_printers_are_asked_again_after_a_while(http: aiohttp.ClientSession) -> None:
    now = [100.0]
    settings = replace(SETTINGS, actions_every_s=90.0)
    async with CloudPrnt(settings, printers=[MAC], clock=lambda: now[0]) as service:
        body = {"statusCode": "200 OK", "printerMAC": MAC}
        answers = []
        for at in (100.0, 101.0, 189.0, 190.0, 191.0):
            now[0] = at
            async with http.post(service.url, json=body) as resp:
                answers.append("clientAction" in await resp.json())
    assert answers == [True, False, False, True, False]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"printerMAC": MAC}).encode(), "no statusCode"),
        (json.dumps({"statusCode": "OK", "printerMAC": MAC}).encode(), "not a Star status"),
        (json.dumps({"statusCode": "200 OK"}).encode(), "names no printer"),
        (json.dumps({"statusCode": "200 OK", "printerMAC": "printer"}).encode(), "not a MAC"),
    ],
)
async def test_a_poll_that_cannot_be_read_is_refused_with_its_reason(
    service: CloudPrnt,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    reason: str,
) -> None:
    caplog.set_level(logging.WARNING, "edge.cloudprnt")
    async with http.post(service.url, data=body) as resp:
        assert resp.status == 400
        assert reason in await resp.text()
    assert reason in caplog.text, "and a log line says why"
    # The server is unharmed.
    await online(service, http)


async def test_a_huge_poll_is_refused(service: CloudPrnt, http: aiohttp.ClientSession) -> None:
    body = {"statusCode": "200 OK", "printerMAC": MAC, "display": ["x" * 100_000]}
    resp = await poll(http, service, body)
    assert resp.status == 413


async def test_the_mqtt_settings_document_is_not_served(
    service: CloudPrnt, http: aiohttp.ClientSession
) -> None:
    for path in ("/cloudprnt-setting.json", "/cloudprnt/cloudprnt-setting.json"):
        url = service.url.replace("/cloudprnt", path)
        async with http.get(url, params={"mac": MAC, "replaced_path": "cloudprnt"}) as resp:
            assert resp.status == 404, "404 keeps the printer polling over HTTP"


async def test_basic_auth_refuses_a_printer_without_the_password() -> None:
    settings = replace(SETTINGS, username="star", password="s3cret")
    async with CloudPrnt(settings, printers=[MAC]) as service:
        async with SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as anonymous:
            await anonymous.wait_polls(2)
        async with SimulatedPrinter(
            service.url, mac=MAC, poll_interval=POLL, auth=("star", "wrong")
        ) as wrong:
            await wrong.wait_polls(2)
        async with aiohttp.ClientSession() as http:
            async with http.post(service.url, json={"statusCode": "200 OK"}) as resp:
                challenge = resp.headers.get("WWW-Authenticate", "")
            async with http.delete(service.url, params={"mac": MAC, "code": "200 OK"}) as resp:
                assert resp.status == 401
        async with SimulatedPrinter(
            service.url, mac=MAC, poll_interval=POLL, auth=("star", "s3cret")
        ) as right:
            await right.wait_polls(2)
            writer = transport(service)
            await writer.open()
            await writer.write(TICKET)
    assert set(anonymous.poll_statuses) == {401}
    assert set(wrong.poll_statuses) == {401}
    assert challenge.startswith("Basic realm=")
    assert set(right.poll_statuses) == {200}
    assert len(right.printed) == 1
    assert service.snapshot()["printers"][0]["mac"] == MAC, "refused polls are not remembered"


async def test_a_mac_not_allowed_gets_403_and_is_listed_as_refused(
    service: CloudPrnt, http: aiohttp.ClientSession
) -> None:
    async with SimulatedPrinter(service.url, mac=STRANGER, poll_interval=POLL) as stranger:
        await stranger.wait_polls(2)
    async with http.get(service.url, params={"mac": STRANGER, "type": "image/png"}) as resp:
        assert resp.status == 403
    assert set(stranger.poll_statuses) == {403}
    [listed] = service.snapshot()["printers"]
    assert listed["mac"] == STRANGER
    assert listed["configured"] is False
    assert listed["allowed"] is False
    assert listed["online"] is True


async def test_an_allowed_printer_that_is_not_configured_is_listed_and_never_sent_a_job() -> None:
    settings = replace(SETTINGS, allowed_macs=(STRANGER,))
    async with (
        CloudPrnt(settings, printers=[MAC]) as service,
        SimulatedPrinter(service.url, mac=STRANGER, poll_interval=POLL) as stranger,
        SimulatedPrinter(service.url, mac=MAC, poll_interval=POLL) as kitchen,
    ):
        await kitchen.wait_polls(2)
        writer = transport(service)
        await writer.open()
        await writer.write(TICKET)
        await stranger.wait_polls(2)
    assert set(stranger.poll_statuses) == {200}
    assert stranger.offers == []
    assert stranger.printed == []
    assert len(kitchen.printed) == 1
    by_mac = {p["mac"]: p for p in service.snapshot()["printers"]}
    assert by_mac[STRANGER]["configured"] is False
    assert by_mac[STRANGER]["client_type"] == "Star mC-Print3"
    assert by_mac[MAC]["configured"] is True


# ---- serving ----------------------------------------------------------------------------------


async def test_an_address_in_use_is_retried_until_it_is_free(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "edge.cloudprnt")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 2:
            taken.close()  # the other program goes away
        await asyncio.sleep(0)

    service = CloudPrnt(replace(SETTINGS, port=port), sleep=sleep)
    task = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.ready.wait(), 5)
        async with aiohttp.ClientSession() as http:
            resp = await poll(http, service, {"statusCode": "200 OK", "printerMAC": STRANGER})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        taken.close()
    assert resp.status == 403, "serving (and refusing a printer it does not know)"
    assert service.port == port
    assert len(delays) == 2
    assert "cannot listen on 127.0.0.1:" in caplog.text
    assert not service.ready.is_set(), "cancelled: stopped serving"


async def test_the_simulated_printer_rides_out_refusals_and_server_errors() -> None:
    """The test double itself: a printer keeps polling through 429 and 5xx answers."""
    statuses = iter([429, 503, 500])

    async def answer(request: web.Request) -> web.Response:
        status = next(statuses, 200)
        if status != 200:
            return web.Response(status=status)
        return web.json_response({"jobReady": False})

    app = web.Application()
    app.router.add_post("/cloudprnt", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with SimulatedPrinter(
            f"http://127.0.0.1:{port}/cloudprnt", poll_interval=0.01, ask_settings=False
        ) as printer:
            await printer.wait_until(lambda: 200 in printer.poll_statuses)
    finally:
        await runner.cleanup()
    assert printer.poll_statuses[:4] == [429, 503, 500, 200]
    assert printer.violations == []
