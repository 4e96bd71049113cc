"""HTTP to a vendor API: one deadline per exchange, failures typed transient or permanent."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx

from .base import PosPermanentError, PosTransientError
from .tokens import TokenKeeper

USER_AGENT = "store-edge/0.1 (+restaurant edge box)"


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class VendorRejectedError(PosPermanentError):
    """The vendor answered 4xx (not 408/429): `status` and its decoded body, if any."""

    def __init__(self, reason: str, status: int, doc: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.doc = doc


class VendorHttp:
    """An httpx client for one vendor, with a deadline on every exchange."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        error_keys: tuple[str, ...] = ("message",),
    ) -> None:
        self.vendor = vendor
        self._error_keys = error_keys
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        """Create the client."""
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self._headers,
            timeout=httpx.Timeout(self.timeout),
            transport=self._transport,
        )

    async def close(self) -> None:
        """Close the client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One exchange; a timeout or a broken connection is transient (and may have landed)."""
        if self._client is None:
            raise RuntimeError(f"{self.vendor} connector used outside `async with`")
        what = f"{method} {path}"
        try:
            async with asyncio.timeout(self.timeout):  # httpx times each phase; this, the whole
                return await self._client.request(
                    method, path, json=json, params=params, data=data, headers=headers
                )
        except (TimeoutError, httpx.TimeoutException) as err:
            raise PosTransientError(
                f"{self.vendor} timed out on {what} after {self.timeout:g}s"
            ) from err
        except httpx.TransportError as err:
            raise PosTransientError(f"cannot reach {self.vendor} for {what}: {err!r}") from err

    async def call(
        self,
        method: str,
        path: str,
        *,
        tokens: TokenKeeper | None = None,
        json: Any = None,
        params: Any = None,
    ) -> tuple[Any, httpx.Headers]:
        """One exchange read as `read` does; with `tokens`, a bearer token refused once
        (401) is renewed once."""
        what = f"{method} {path}"
        for _ in range(2 if tokens is not None else 1):
            headers = None
            if tokens is not None:
                token = await tokens.token()
                headers = {"Authorization": f"Bearer {token}"}
            response = await self.send(method, path, json=json, params=params, headers=headers)
            if response.status_code == 401 and tokens is not None:
                tokens.reject(token)
                continue
            return self.read(what, response), response.headers
        raise PosPermanentError(f"{self.vendor} refused our token twice on {what}")

    def describe(self, response: httpx.Response) -> str:
        """What an error answer says, from the vendor's error fields."""
        try:
            doc = response.json()
        except ValueError:
            return response.text[:200]
        if not isinstance(doc, dict):
            return str(doc)[:300]
        said = [str(doc[k]) for k in self._error_keys if doc.get(k)]
        return " ".join(dict.fromkeys(said))[:300] or str(doc)[:300]

    def read(self, what: str, response: httpx.Response) -> Any:
        """The JSON body of a 2xx answer; an error answer raised as its kind."""
        status = response.status_code
        try:
            doc = response.json() if response.content else None
        except ValueError:
            doc = None
        wait = retry_after(response.headers.get("Retry-After"))
        describe = self.describe(response) if status >= 400 else ""
        detail = f": {describe}" if describe else ""
        if status == 429:
            raise PosTransientError(f"{self.vendor} rate-limited {what}", retry_after=wait)
        if status >= 500 or status == 408:
            raise PosTransientError(
                f"{self.vendor} failed {what} with HTTP {status}{detail}", retry_after=wait
            )
        if status >= 400:
            raise VendorRejectedError(
                f"{self.vendor} refused {what} with HTTP {status}{detail}", status, doc
            )
        return doc
