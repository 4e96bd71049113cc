"""A printer's cash drawer, as its worker serves it: kicks asked by the till, and the sensor.

The worker owns the printer's connection, so a kick is handed to it (`DrawerKicks.kick`) and
sent between two batches of tickets, never in the middle of one. A kick the worker has not
started by the caller's deadline is withdrawn: a drawer must never spring open minutes after
the cashier gave up on it. The sensor is read with every status check; a drawer open longer
than its limit is reported once (`DrawerWatch`).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.errors import DriverError, TransientDriverError
from drivers.escpos.drawer import kick_command, realtime_kick_command
from edge.printing.render import DrawerSettings
from edge.wakeup import Wakeup

log = logging.getLogger(__name__)


class KickState(enum.Enum):
    """Where a kick is."""

    WAITING = "waiting"  # queued for the worker
    SENDING = "sending"  # the worker is writing it: it may open the drawer
    WITHDRAWN = "withdrawn"  # the caller gave up before the worker took it: never sent


class DrawerUnavailableError(TransientDriverError):
    """The kick was not sent: the printer is unreachable, busy past the deadline, or stopped."""


@dataclass
class _Kick:
    done: asyncio.Future[bool]  # True: sent as a real-time pulse (the printer was offline)
    state: KickState = KickState.WAITING


@dataclass
class DrawerKicks:
    """Kicks waiting for a printer's worker, oldest first."""

    settings: DrawerSettings
    _waiting: collections.deque[_Kick] = field(default_factory=collections.deque)
    closed: bool = False

    def pending(self) -> bool:
        """A kick waits for the worker."""
        return bool(self._waiting)

    async def kick(self, wake: Wakeup, deadline_s: float) -> bool:
        """Have the worker pulse the drawer; True if sent as a real-time pulse (printer offline).

        Raises DrawerUnavailableError when it was not sent (and never will be) or failed.
        """
        if self.closed:
            raise DrawerUnavailableError("the printer's worker has stopped")
        kick = _Kick(asyncio.get_running_loop().create_future())
        self._waiting.append(kick)
        wake.set()
        try:
            async with asyncio.timeout(deadline_s):
                return await asyncio.shield(kick.done)
        except asyncio.CancelledError:
            # The caller is gone (shut-down, a client that hung up): a kick not yet taken
            # must never be sent later, with nobody told the drawer opened.
            if kick.state is KickState.WAITING:
                kick.state = KickState.WITHDRAWN
            raise
        except TimeoutError:
            if kick.state is KickState.WAITING:
                kick.state = KickState.WITHDRAWN
                raise DrawerUnavailableError(
                    f"the printer did not take the kick within {deadline_s:g} s"
                ) from None
            return await kick.done  # being written: its own write deadline bounds it

    def fail_all(self, reason: str) -> None:
        """The worker stops: every waiting kick fails (none will be sent)."""
        self.closed = True
        while self._waiting:
            kick = self._waiting.popleft()
            if not kick.done.done():
                kick.done.set_exception(DrawerUnavailableError(reason))

    def take(self) -> _Kick | None:
        """The next kick still wanted, marked SENDING; None when there is none."""
        while self._waiting:
            kick = self._waiting.popleft()
            if kick.state is KickState.WAITING and not kick.done.done():
                kick.state = KickState.SENDING
                return kick
        return None

    def command(self, printer_offline: bool) -> bytes:
        """ESC p normally; DLE DC4 (real time) while the printer is offline, which would hold
        ESC p until it is back and open the drawer later, unasked."""
        if printer_offline:
            return realtime_kick_command(self.settings.pin)
        return kick_command(self.settings.pin)

    @staticmethod
    def settle(kick: _Kick, realtime: bool | None, error: DriverError | None = None) -> None:
        """Tell the caller how the kick went."""
        if kick.done.done():
            return
        if error is not None:
            kick.done.set_exception(DrawerUnavailableError(str(error)))
        else:
            kick.done.set_result(bool(realtime))


@dataclass
class DrawerWatch:
    """Follows the sensor: says when an open drawer passes its limit (once per opening)."""

    settings: DrawerSettings
    clock: Callable[[], float] = time.monotonic
    open_since: float | None = None
    reported: bool = False

    def observe(self, drawer_open: bool | None) -> float | None:
        """Feed one sensor reading; the seconds it has been open when that is news to report."""
        if drawer_open is None:
            return None
        now = self.clock()
        if not drawer_open:
            self.open_since, self.reported = None, False
            return None
        if self.open_since is None:
            self.open_since = now
        open_for = now - self.open_since
        if not self.reported and open_for >= self.settings.left_open_after_s:
            self.reported = True
            return open_for
        return None
