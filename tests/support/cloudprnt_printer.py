"""A simulated Star CloudPRNT printer (facts §1.5): it polls a server, fetches its jobs,
"prints" them (PNG decoded with Pillow, text kept) and confirms them, with faults on demand.

It is strict about the server's answers: every departure from the protocol (a poll answer of
the wrong shape, a Content-Type that is not the type asked for, a confirmation not answered
200, a repeated GET with other content) is appended to `violations`.

    async with SimulatedPrinter(service.url, poll_interval=0.05) as printer:
        await printer.wait_until(lambda: len(printer.printed) == 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
from PIL import Image

ANSWER_KEYS = {
    "jobReady",
    "mediaTypes",
    "jobToken",
    "deleteMethod",
    "clientAction",
    "claimBarcodeReader",
    "claimKeyboard",
    "display",
    "jobGetUrl",
    "jobConfirmationUrl",
}
ASB_OK = "23 86 00 00 00 00 00 00 00 00 00"
PAGE_INFO = {
    "paperWidth": "80",
    "printWidth": "72",
    "horizontalResolution": "8",
    "verticalResolution": "8",
}


@dataclass(frozen=True)
class Printed:
    """One job that came out of the printer."""

    token: str | None
    media: str
    body: bytes
    text: str | None = None  # text/plain content
    size: tuple[int, int] | None = None  # PNG width and height in dots


@dataclass
class Faults:
    """Faults the next jobs meet (each counter is used up one job at a time)."""

    lost_deletes: int = 0  # confirmations that never reach the server (retries included)
    lost_delete_answers: int = 0  # confirmations the server gets, whose answer is lost
    duplicate_gets: int = 0  # jobs fetched twice (a retried GET)
    decode_errors: int = 0  # jobs answered 511 after the fetch
    stop_mid_job: str | None = None  # a 4xx code confirmed instead of printing (paper ran out)
    power_off_after_get: bool = False  # prints, then dies before confirming
    refuse_media: set[str] = field(default_factory=set)  # fetched, then 510


class SimulatedPrinter:
    """A CloudPRNT client with a MAC, a status and a paper roll; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        mac: str = "00:11:62:00:00:01",
        poll_interval: float = 0.1,
        accepts: Sequence[str] = ("image/png", "text/plain"),
        encodings: Sequence[str] | None = None,
        auth: tuple[str, str] | None = None,
        page_info: dict[str, Any] | None = None,
        client_type: str = "Star mC-Print3",
        client_version: str = "3.6",
        answers_actions: bool = True,
        ask_settings: bool = True,
        delete_retries: int = 2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.mac = mac
        self.poll_interval = poll_interval
        self.accepts = list(accepts)
        self.encodings = list(encodings or [*accepts, "application/vnd.star.starprnt"])
        self.authorization = {"Authorization": aiohttp.encode_basic_auth(*auth)} if auth else {}
        self.page_info = page_info if page_info is not None else dict(PAGE_INFO)
        self.client_type = client_type
        self.client_version = client_version
        self.answers_actions = answers_actions
        self.ask_settings = ask_settings
        self.delete_retries = delete_retries
        self.clock = clock
        self.sleep = sleep
        self.status = "200 OK"
        self.printing = False
        self.faults = Faults()
        self.uid: str | None = None
        # what happened, for the test
        self.printed: list[Printed] = []
        self.violations: list[str] = []
        self.poll_statuses: list[int] = []  # HTTP status of every poll answer
        self.offers: list[dict[str, Any]] = []  # poll answers with jobReady true
        self.confirmations: list[dict[str, str]] = []  # query of each confirmation sent
        self.gets: list[tuple[str, int]] = []  # (media type asked, HTTP status)
        self.settings_status: int | None = None
        self.polled_at: list[float] = []
        self.offered_at: list[float] = []
        self._powered = asyncio.Event()
        self._powered.set()
        self._release: asyncio.Event | None = None  # slow print: the next job held until set
        self._releasing: asyncio.Event | None = None  # the job held now
        self._version = 0
        self._changed = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._job: asyncio.Task[None] | None = None
        self._results: list[dict[str, Any]] | None = None

    # ---- life ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._task = asyncio.create_task(self._run(), name=f"cloudprnt printer {self.mac}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in (self._job, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._session is not None:
            await self._session.close()

    # ---- faults -------------------------------------------------------------------------------

    def paper_out(self) -> None:
        self._set_status("410 Paper Empty")

    def cover_open(self) -> None:
        self._set_status("420 Cover Open")

    def clear_faults(self) -> None:
        self._set_status("200 OK")

    def power_off(self) -> None:
        """Stops polling (and drops the job in hand) until `power_on`."""
        self._powered.clear()
        if self._job is not None and self._job is not asyncio.current_task():
            self._job.cancel()
        self._job = None
        self.printing = False
        self._notify()

    def power_on(self) -> None:
        self.printing = False
        self._powered.set()

    def slow_print(self) -> None:
        """The next job prints (printingInProgress) until `finish_print`."""
        self._release = asyncio.Event()

    def finish_print(self) -> None:
        for release in (self._release, self._releasing):
            if release is not None:
                release.set()

    @property
    def powered(self) -> bool:
        return self._powered.is_set()

    # ---- waiting ------------------------------------------------------------------------------

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until `condition()` holds, looked at after everything the printer does."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"printer {self.mac}: condition never met; printed {len(self.printed)}, "
                f"polls {self.poll_statuses[-5:]}, violations {self.violations}"
            ) from None

    async def wait_printed(self, count: int, timeout: float = 10.0) -> list[Printed]:
        await self.wait_until(lambda: len(self.printed) >= count, timeout)
        return self.printed

    async def wait_polls(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` more polls were answered."""
        target = len(self.poll_statuses) + count
        await self.wait_until(lambda: len(self.poll_statuses) >= target, timeout)

    def _notify(self) -> None:
        self._version += 1
        self._changed.set()

    def _set_status(self, status: str) -> None:
        self.status = status
        self._notify()

    # ---- the protocol -------------------------------------------------------------------------

    async def _run(self) -> None:
        if self.ask_settings:
            await self._get_settings()
        while True:
            await self._powered.wait()
            try:
                await self._poll()
            except (aiohttp.ClientError, TimeoutError) as err:
                self.poll_statuses.append(0)
                self._notify()
                del err
            await self.sleep(self.poll_interval)

    async def _get_settings(self) -> None:
        parts = urlsplit(self.url)
        head, _, last = parts.path.rpartition("/")
        url = urlunsplit(parts._replace(path=f"{head}/cloudprnt-setting.json"))
        params = {"mac": self.mac, "replaced_path": last}
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._http.get(url, params=params, headers=self.authorization) as resp:
                self.settings_status = resp.status

    @property
    def _http(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    def _headers(self) -> dict[str, str]:
        return {
            **self.authorization,
            "User-Agent": f"CloudPRNT/3.0 {self.client_type.removeprefix('Star ')}/3.6",
            "X-Star-Mac": self.mac.lower(),
            "X-Star-Serial-Number": "2580018031500034",
        }

    async def _poll(self) -> None:
        body: dict[str, Any] = {
            "status": ASB_OK,
            "printerMAC": self.mac.lower(),
            "statusCode": quote(self.status),
            "printingInProgress": self.printing,
        }
        if self.uid is not None:
            body["uniqueID"] = self.uid
        if self._results is not None:
            body["clientAction"], self._results = self._results, None
        headers = {**self._headers(), "Content-Type": "application/json"}
        self.polled_at.append(self.clock())
        async with self._http.post(self.url, data=json.dumps(body), headers=headers) as resp:
            self.poll_statuses.append(resp.status)
            if resp.status != 200:
                self._notify()
                if resp.status == 429:
                    await self.sleep(self.poll_interval)  # polling too fast: slow down
                return
            answer = await self._answer(resp)
        self._notify()
        if answer is None:
            return
        if answer.get("clientAction") and self.answers_actions:
            self._results = self._act(answer["clientAction"])
            await self._poll()  # clientAction results go at once, not at the next interval
            return
        if answer.get("jobReady") is True:
            self.offers.append(answer)
            self.offered_at.append(self.clock())
            # No GET while the printer is in error, or busy with a job.
            if self.status.startswith("2") and self._job is None and not self.printing:
                self._job = asyncio.create_task(self._take(answer), name=f"job {self.mac}")

    async def _answer(self, resp: aiohttp.ClientResponse) -> dict[str, Any] | None:
        """The poll answer, checked against the protocol."""
        if resp.content_type != "application/json":
            self.violations.append(f"poll answer Content-Type {resp.content_type}")
        try:
            doc = json.loads(await resp.read())
        except ValueError:
            self.violations.append("poll answer is not JSON")
            return None
        if not isinstance(doc, dict):
            self.violations.append(f"poll answer is not an object: {doc!r}")
            return None
        problems = [f"unknown key {key!r}" for key in doc if key not in ANSWER_KEYS]
        if not isinstance(doc.get("jobReady"), bool):
            problems.append(f"jobReady is {doc.get('jobReady')!r}")
        if doc.get("jobReady") is True:
            media = doc.get("mediaTypes")
            if not (isinstance(media, list) and media and all(isinstance(m, str) for m in media)):
                problems.append(f"mediaTypes is {media!r}")
            if not isinstance(doc.get("jobToken", ""), str):
                problems.append(f"jobToken is {doc.get('jobToken')!r}")
            if doc.get("deleteMethod", "DELETE") not in ("DELETE", "GET"):
                problems.append(f"deleteMethod is {doc.get('deleteMethod')!r}")
        actions = doc.get("clientAction")
        if actions is not None and not (
            isinstance(actions, list)
            and all(isinstance(a, dict) and isinstance(a.get("request"), str) for a in actions)
        ):
            problems.append(f"clientAction is {actions!r}")
        self.violations += [f"poll answer: {p}" for p in problems]
        return None if problems else doc

    def _act(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results = []
        for request in requests:
            name = request["request"]
            result: Any = {
                "PageInfo": self.page_info,
                "Encodings": "; ".join(self.encodings),
                "ClientType": self.client_type,
                "ClientVersion": self.client_version,
                "GetPollInterval": str(self.poll_interval),
            }.get(name)
            if name == "SetID":
                self.uid = str(request.get("options") or "")
                result = ""
            results.append({"request": name, "result": result})
        return results

    async def _take(self, offer: dict[str, Any]) -> None:
        """Fetch, print and confirm one offered job."""
        try:
            await self._job_steps(offer)
        finally:
            if self._job is asyncio.current_task():
                self._job = None
            self.printing = False
            self._notify()

    async def _job_steps(self, offer: dict[str, Any]) -> None:
        token = offer.get("jobToken")
        confirm = self._confirmer(offer, token)
        chosen = next((m for m in self.accepts if m in offer["mediaTypes"]), None)
        if chosen is None:
            await confirm("510 Incompatible Media Type")
            return
        fetched = await self._fetch(offer, chosen, token)
        if fetched is None:
            await confirm("520 Download Timeout")
            return
        faults = self.faults
        if faults.duplicate_gets > 0:
            faults.duplicate_gets -= 1
            again = await self._fetch(offer, chosen, token)
            if again != fetched:
                self.violations.append(f"a repeated GET of job {token} gave other content")
        if chosen in faults.refuse_media:
            await confirm("510 Incompatible Media Type")
            return
        if faults.decode_errors > 0:
            faults.decode_errors -= 1
            await confirm("511 Media Decode Error")
            return
        if faults.stop_mid_job is not None:
            code, faults.stop_mid_job = faults.stop_mid_job, None
            self.status = code
            await confirm(code)
            return
        printed = self._decode(chosen, fetched, token)
        if printed is None:
            await confirm("511 Media Decode Error")
            return
        self.printing = True
        self._notify()
        if self._release is not None:
            self._releasing, self._release = self._release, None
            await self._releasing.wait()
            self._releasing = None
        self.printed.append(printed)
        self.printing = False
        self._notify()
        if faults.power_off_after_get:
            faults.power_off_after_get = False
            self.power_off()
            return
        await confirm("200 OK")

    async def _fetch(self, offer: dict[str, Any], media: str, token: str | None) -> bytes | None:
        params = {"type": media, "mac": self.mac.lower()}
        if token is not None:
            params["token"] = token
        if self.uid:
            params["uid"] = self.uid
        url = offer.get("jobGetUrl") or self.url
        try:
            async with self._http.get(
                url, params=params, headers={**self._headers(), "Accept": media}
            ) as resp:
                self.gets.append((media, resp.status))
                if resp.status != 200:
                    return None
                if resp.content_type != media:
                    self.violations.append(f"GET {media} answered as {resp.content_type}")
                return await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            self.gets.append((media, 0))
            return None

    def _decode(self, media: str, body: bytes, token: str | None) -> Printed | None:
        try:
            if media == "image/png":
                with Image.open(io.BytesIO(body)) as image:
                    image.load()
                    return Printed(token, media, body, size=image.size)
            return Printed(token, media, body, text=body.decode("utf-8"))
        except (OSError, ValueError) as err:
            self.violations.append(f"job {token} as {media} cannot be decoded: {err}")
            return None

    def _confirmer(
        self, offer: dict[str, Any], token: str | None
    ) -> Callable[[str], Awaitable[None]]:
        async def confirm(code: str) -> None:
            await self._confirm(offer, token, code)

        return confirm

    async def _confirm(self, offer: dict[str, Any], token: str | None, code: str) -> None:
        """DELETE (or GET&delete) with the code; retried with retry=n when it is lost."""
        use_get = offer.get("deleteMethod") == "GET"
        url = offer.get("jobConfirmationUrl") or self.url
        for attempt in range(self.delete_retries + 1):
            params = {"mac": self.mac.lower(), "code": code}
            if token is not None:
                params["token"] = token
            if attempt:
                params["retry"] = str(attempt)
            self.confirmations.append(params)
            self._notify()
            if self.faults.lost_deletes > 0:
                self.faults.lost_deletes -= 1
                continue  # the request never reached the server
            query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
            full = f"{url}?{query}&delete" if use_get else f"{url}?{query}"
            try:
                request = self._http.get if use_get else self._http.delete
                async with request(full, headers=self._headers()) as resp:
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                continue
            if self.faults.lost_delete_answers > 0:
                self.faults.lost_delete_answers -= 1
                continue  # the server had it; the printer never heard back
            if status != 200:
                self.violations.append(f"confirmation {code} of {token} answered {status}")
            return
