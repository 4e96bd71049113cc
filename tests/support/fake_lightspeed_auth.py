"""OAuth2 for the fake Lightspeed K-Series: refresh tokens that rotate, bearer tokens that expire.

The box only ever refreshes, with ``grant_type=refresh_token``. Each refresh returns a new refresh
token and invalidates the one it used, so a reused refresh token gives 400 ``invalid_grant``.
An access token works for ``token_lifetime_s`` seconds, or until ``expire_token()``.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.fake_lightspeed_errors import invalid_token, oauth_error, simple_error

TOKEN_PATH = "/oauth/token"


class TokenIssuer:
    """The token endpoint and the bearer check of every other endpoint."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_lifetime_s: float,
        scope: str,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token  # the one valid refresh token (it rotates)
        self.token_lifetime_s = token_lifetime_s
        self.scope = scope  # space-separated, as granted to every token
        self.access_token: str | None = None  # the latest one issued
        self.refreshes = 0  # successful refreshes
        self._access: dict[str, float] = {}  # access token -> monotonic deadline

    def expire_token(self) -> None:
        """Every access token issued so far stops working (401): the client must refresh."""
        self._access.clear()

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode()))
        if (form["client_id"], form["client_secret"]) != (self.client_id, self.client_secret):
            return oauth_error(401, "invalid_client", "Bad client credentials")
        if form["refresh_token"] != self.refresh_token:
            return oauth_error(400, "invalid_grant", "Invalid refresh token")
        self.refresh_token = f"lsk-refresh-{secrets.token_hex(12)}"
        self.access_token = f"lsk-access-{secrets.token_hex(16)}"
        self._access[self.access_token] = time.monotonic() + self.token_lifetime_s
        self.refreshes += 1
        return web.json_response(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": max(1, int(self.token_lifetime_s)),
                "token_type": "bearer",
                "scope": self.scope,
            }
        )

    def _check_bearer(self, request: web.Request) -> web.Response | None:
        """None when the request carries a live access token with the scope it needs."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return invalid_token("Full authentication is required to access this resource")
        deadline = self._access.get(auth.removeprefix("Bearer "))
        if deadline is None:
            return invalid_token("Invalid access token")
        if time.monotonic() > deadline:
            return invalid_token("Access token expired")
        needed = "financial-api" if request.path.startswith("/f/") else "orders-api"
        if needed not in self.scope.split():
            # our judgment: no 403 is declared; Spring Security answers this way
            return simple_error(403, f"insufficient scope: {needed} is required", request.path)
        return None
