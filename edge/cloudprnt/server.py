"""The CloudPRNT HTTP server the Star printers poll: one route for poll, fetch and confirm.

Handlers never block: they read and move in-memory state, and rendering runs in a thread.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from collections.abc import Mapping

from aiohttp import web

from edge.cloudprnt.mailbox import Fetch, Mailbox, SlotState
from edge.cloudprnt.protocol import (
    BadRequest,
    StatusClass,
    StatusCode,
    action_requests,
    header_width,
    normalise_mac,
    parse_poll,
    parse_status_code,
    served_media,
)
from edge.cloudprnt.registry import DEFAULT_WIDTH_DOTS, Registry
from edge.cloudprnt.render import Renderer, RenderError, rendered

log = logging.getLogger(__name__)

PATHS = ("/cloudprnt", "/cloudprnt/")
#: what an MQTT-capable printer asks first (the last path segment replaced); 404 = HTTP only
SETTING_PATHS = ("/cloudprnt-setting.json", "/cloudprnt/cloudprnt-setting.json")
MAX_POLL_BYTES = 64 * 1024  # a poll is a few hundred bytes; barcode/keyboard data stays small
REALM = "store-edge CloudPRNT"
COMPLAIN_EVERY_S = 60.0  # a misconfigured printer polls every few seconds: say it once a minute


class CloudPrntServer:
    """The request handlers, over the registry (who polls) and the mailboxes (jobs by MAC)."""

    def __init__(
        self,
        registry: Registry,
        mailboxes: Mapping[str, Mailbox],
        renderer: Renderer,
        *,
        username: str = "",
        password: str | None = None,
    ) -> None:
        self.registry = registry
        self.mailboxes = mailboxes
        self.renderer = renderer
        self._credentials = (username, password or "") if username else None
        self._complained: dict[tuple[str, str], float] = {}

    def app(self) -> web.Application:
        """The aiohttp application: /cloudprnt for POST, GET and DELETE."""
        app = web.Application(client_max_size=MAX_POLL_BYTES)
        for path in PATHS:
            app.router.add_post(path, self.poll)
            app.router.add_get(path, self.job, allow_head=False)
            app.router.add_delete(path, self.confirm)
        for path in SETTING_PATHS:
            app.router.add_get(path, self.setting, allow_head=False)
        return app

    # ---- handlers ---------------------------------------------------------------------------

    async def poll(self, request: web.Request) -> web.StreamResponse:
        """POST: the printer's status; answered with a job offer or clientAction requests."""
        if not self._authorised(request):
            return self._challenge(request)
        try:
            poll = parse_poll(await request.read(), request.headers.get("X-Star-Mac"))
        except BadRequest as err:
            self._complain(
                request, "bad poll", f"CloudPRNT poll from {request.remote} refused (400): {err}"
            )
            return web.Response(status=400, text=f"{err}\n")
        known = self.registry.get(poll.mac)
        was_online = known is not None and self.registry.online(poll.mac)
        record = self.registry.polled(
            poll,
            remote=request.remote,
            user_agent=request.headers.get("User-Agent"),
            header_width=_header_width(request),
        )
        if not record.allowed:
            self._complain(
                request,
                "not allowed",
                f"CloudPRNT printer {poll.mac} polls from {request.remote} but is neither "
                "configured nor in allowed_macs: refused (403)",
            )
            return web.Response(status=403, text="printer not allowed\n")
        if not was_online:
            log.info(
                "CloudPRNT printer %s polls from %s (%s, %s)",
                poll.mac,
                request.remote,
                record.user_agent or "no user agent",
                poll.status,
            )
        mailbox = self.mailboxes.get(poll.mac) if record.configured else None
        slot = mailbox.polled(record) if mailbox is not None else None
        answer: dict[str, object] = {"jobReady": False}
        if self.registry.actions_due(record):
            # Answered at once in an extra poll; the offer waits for it.
            answer["clientAction"] = action_requests()
        elif slot is not None and slot.state is SlotState.OFFERED:
            answer.update(
                jobReady=True,
                mediaTypes=[media.value for media in slot.offered],
                jobToken=slot.token,
                deleteMethod="DELETE",
            )
        return web.json_response(answer)

    async def job(self, request: web.Request) -> web.StreamResponse:
        """GET: the job in the media type asked for (or a confirmation, with `delete`)."""
        if "delete" in request.query:
            return await self.confirm(request)
        mac, refusal = self._printer(request)
        if refusal is not None:
            return refusal
        mailbox = self.mailboxes.get(mac)
        asked = request.query.get("type")
        media = served_media(asked)
        if mailbox is None:
            return web.Response(status=404, text="no job\n")
        if asked and media is None:
            return web.Response(status=415, text=f"we do not serve {asked[:60]}\n")
        outcome, slot = mailbox.fetch(request.query.get("token"), media)
        if outcome is Fetch.NO_JOB or slot is None:
            return web.Response(status=404, text="no job\n")
        if outcome is Fetch.UNSUPPORTED or slot.fetched_media is None:
            return web.Response(status=415, text="media type not offered for this job\n")
        chosen = slot.fetched_media
        record = self.registry.get(mac)
        width = record.print_width if record is not None else _header_width(request)
        try:
            body = await rendered(self.renderer, slot, chosen, width or DEFAULT_WIDTH_DOTS)
        except RenderError as err:
            log.error("CloudPRNT printer %s: %s", mac, err)
            mailbox.settle(slot, SlotState.FAILED, error=err)
            return web.Response(status=500, text="the ticket could not be rendered\n")
        log.info("CloudPRNT printer %s fetched a job as %s (%d bytes)", mac, chosen, len(body))
        return web.Response(body=body, headers={"Content-Type": chosen.content_type})

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        """DELETE (or GET&delete): the printer's word on the job; always 200 (idempotent)."""
        mac, refusal = self._printer(request)
        if refusal is not None:
            return refusal
        code = _code(request)
        record = self.registry.get(mac)
        if record is not None and code is not None and code.kind in _PRINTER_CLASSES:
            self.registry.reported(record, code)  # the latest word on the printer's state
        mailbox = self.mailboxes.get(mac)
        meaning = mailbox.confirm(request.query.get("token"), code) if mailbox else None
        log.info(
            "CloudPRNT printer %s confirms %s: %s%s",
            mac,
            request.query.get("token", "its job"),
            code,
            f" ({meaning})" if meaning is not None else " (no live job: nothing to do)",
        )
        return web.Response(status=200)

    async def setting(self, request: web.Request) -> web.StreamResponse:
        """The MQTT settings document: none, so the printer stays with HTTP polling."""
        log.debug("CloudPRNT settings asked by %s: 404, HTTP only", request.remote)
        return web.Response(status=404)

    # ---- checks -----------------------------------------------------------------------------

    def _printer(self, request: web.Request) -> tuple[str, web.Response | None]:
        """The MAC a GET or DELETE is for, or the refusal to answer it with."""
        if not self._authorised(request):
            return "", self._challenge(request)
        raw = request.query.get("mac") or request.headers.get("X-Star-Mac")
        mac = normalise_mac(raw)
        if mac is None:
            self._complain(
                request, "no mac", f"CloudPRNT request from {request.remote} names no printer"
            )
            return "", web.Response(status=400, text="mac is missing or not a MAC address\n")
        if not self.registry.allows(mac):
            return mac, web.Response(status=403, text="printer not allowed\n")
        return mac, None

    def _authorised(self, request: web.Request) -> bool:
        if self._credentials is None:
            return True
        given = _basic_credentials(request.headers.get("Authorization", ""))
        if given is None:
            return False
        user, password = self._credentials
        return hmac.compare_digest(given[0].encode(), user.encode()) & hmac.compare_digest(
            given[1].encode(), password.encode()
        )

    def _challenge(self, request: web.Request) -> web.Response:
        self._complain(
            request,
            "auth",
            f"CloudPRNT request from {request.remote} without the right user name and "
            "password (401)",
        )
        return web.Response(
            status=401,
            headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
            text="authentication required\n",
        )

    def _complain(self, request: web.Request, kind: str, message: str) -> None:
        """Log a refusal, at most once a minute per client and kind."""
        key = (request.remote or "?", kind)
        now = time.monotonic()
        if now - self._complained.get(key, -COMPLAIN_EVERY_S) < COMPLAIN_EVERY_S:
            return
        if len(self._complained) > 1024:
            self._complained.clear()
        self._complained[key] = now
        log.warning("%s", message)


_PRINTER_CLASSES = (StatusClass.ONLINE, StatusClass.PRINTER_ERROR)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of a `Basic` Authorization header; None for anything else."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (ValueError, binascii.Error):
        return None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    user, colon, password = text.partition(":")
    return (user, password) if colon else None


def _header_width(request: web.Request) -> int | None:
    return header_width(
        request.headers.get("X-Star-Print-Width"),
        request.headers.get("X-Star-Horizontal-Resolution"),
    )


def _code(request: web.Request) -> StatusCode | None:
    """The confirmation's `code`; None when it is missing or unreadable (it tells nothing)."""
    raw = request.query.get("code")
    if raw is None:
        return None
    try:
        return parse_status_code(raw)
    except BadRequest:
        log.warning("CloudPRNT confirmation with an unreadable code %r", raw[:40])
        return None
