"""A job's ESC/POS bytes as the printer asked for them: a PNG at its width, or plain text."""

from __future__ import annotations

import asyncio
from typing import Protocol

from drivers.errors import PermanentDriverError
from edge.cloudprnt.mailbox import Slot
from edge.cloudprnt.protocol import MediaType


class RenderError(PermanentDriverError):
    """The ticket could not be drawn in the media type asked for (a bug, or a broken job)."""


class Renderer(Protocol):
    """Turns a job's ESC/POS bytes into what a Star printer prints (pure CPU work)."""

    def png(self, raw: bytes, *, width_chars: int, width_dots: int) -> bytes:
        """The ticket as a PNG exactly `width_dots` wide."""
        ...

    def text(self, raw: bytes) -> str:
        """The ticket's plain text."""
        ...


class EmulatorRenderer:
    """The emulator's in-memory renderer: the same drawing as its PNG previews."""

    def png(self, raw: bytes, *, width_chars: int, width_dots: int) -> bytes:
        from drivers.emulator import ticket_png

        return ticket_png(raw, width_chars=width_chars, width_dots=width_dots)

    def text(self, raw: bytes) -> str:
        from drivers.emulator import ticket_text

        return ticket_text(raw)


def _draw(renderer: Renderer, media: MediaType, slot: Slot, width_dots: int) -> bytes:
    try:
        if media is MediaType.PNG:
            return renderer.png(slot.data, width_chars=slot.width_chars, width_dots=width_dots)
        text = renderer.text(slot.data)
        return (text if text.endswith("\n") else text + "\n").encode("utf-8")
    except Exception as err:  # the renderer's own failure, whatever it is, fails this job
        raise RenderError(f"cannot render the ticket as {media.value}: {err!r}") from err


async def rendered(renderer: Renderer, slot: Slot, media: MediaType, width_dots: int) -> bytes:
    """The job in `media`, drawn once (in a thread) and kept: a GET repeated returns the very
    same bytes."""
    async with slot.render_lock:
        body = slot.renders.get(media)
        if body is None:
            body = await asyncio.to_thread(_draw, renderer, media, slot, width_dots)
            slot.renders[media] = body
        return body
