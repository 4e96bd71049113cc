"""Blocking device calls in threads of their own, and a device's non-blocking descriptor.

`call_in_thread` runs one pyserial/pyusb call under a deadline; `DeviceFile` writes and reads a
device node (a serial port, the kernel's usblp) with deadlines, waited on by the event loop.
Used by the serial:// and usb:// transports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from drivers.errors import ConnectionLostError, WriteTimeoutError

log = logging.getLogger(__name__)

_CHUNK = 4096

T = TypeVar("T")

# Device calls still running in their threads, by device: one hung in the kernel (an
# adapter pulled mid-open) keeps its device busy until it returns, if ever.
_busy: Counter[str] = Counter()


async def call_in_thread(
    fn: Callable[[], T],
    timeout: float,
    *,
    on_late: Callable[[T], None] | None = None,
    device: str | None = None,
) -> T:
    """Run a blocking device call in a thread of its own under a deadline (TimeoutError).

    A thread cannot be stopped: when the deadline passes (or the caller is cancelled) the
    call carries on, and what it returns late is handed to `on_late` (to close it). Its
    own daemon thread, not the loop's executor: a call hung in the kernel must neither
    take a worker that DNS lookups need nor hold up the daemon's exit. `device` counts as
    busy (device_busy) until the call has really ended.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    if device is not None:
        _busy[device] += 1
        # Added first, so the device is free again before the caller resumes.
        future.add_done_callback(partial(_release, device))
    thread = threading.Thread(
        target=_run_call,
        args=(loop, future, fn, on_late),
        name=f"device call {device or ''}".rstrip(),
        daemon=True,
    )
    try:
        thread.start()
    except RuntimeError:  # no thread to be had: the call never runs
        future.cancel()
        raise
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)
    except (TimeoutError, asyncio.CancelledError):
        future.add_done_callback(partial(_finish_late, on_late))
        raise


def device_busy(device: str) -> bool:
    """Whether a call on `device` (an open, a close) is still running in its thread."""
    return _busy[device] > 0


def _release(device: str, _: asyncio.Future[Any]) -> None:
    _busy[device] -= 1
    if _busy[device] <= 0:
        del _busy[device]


def _run_call(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[T],
    fn: Callable[[], T],
    on_late: Callable[[T], None] | None,
) -> None:
    """The thread's body: run `fn`, hand its outcome to the loop."""
    try:
        result = fn()
    except BaseException as err:  # noqa: BLE001 - handed over to the task awaiting it
        _hand_over(loop, partial(_settle_error, future, err))
        return
    if not _hand_over(loop, partial(_settle, future, result)) and on_late is not None:
        on_late(result)  # the loop is gone: nobody will take the result


def _hand_over(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> bool:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop is closed
        return False
    return True


def _settle(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _settle_error(future: asyncio.Future[Any], err: BaseException) -> None:
    if not future.done():
        future.set_exception(err)


def _finish_late(on_late: Callable[[T], None] | None, future: asyncio.Future[T]) -> None:
    if future.cancelled():
        return
    err = future.exception()  # retrieved: no "exception never retrieved" warning
    if err is not None:
        log.debug("a device call ended late with an error: %s", err)
        return
    if on_late is None:
        return
    try:
        on_late(future.result())
    except Exception:
        log.exception("cleaning up after a late device call failed")


class DeviceFile:
    """A device node opened non-blocking, read and written through the event loop.

    `empty_read_is_eof`: a read returning nothing after the device reported data means it
    is gone (a hung-up tty). `no_input_errnos`: read errors meaning "this device never
    answers" (a unidirectional usblp printer), read as silence.
    """

    def __init__(
        self,
        fd: int,
        name: str,
        *,
        empty_read_is_eof: bool,
        no_input_errnos: frozenset[int] = frozenset(),
    ) -> None:
        self.fd = fd
        self.name = name
        self._empty_read_is_eof = empty_read_is_eof
        self._no_input_errnos = no_input_errnos

    async def write(self, data: bytes, timeout: float) -> None:
        """Hand `data` to the kernel; WriteTimeoutError once it took nothing for `timeout` s."""
        view = memoryview(data)
        sent = 0
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout) as deadline:
                while sent < len(data):
                    try:
                        taken = os.write(self.fd, view[sent : sent + _CHUNK])
                    except BlockingIOError:
                        # The device's buffer is full: a busy printer, or flow control holding.
                        await self._ready(write=True)
                        continue
                    sent += taken
                    if taken:
                        deadline.reschedule(loop.time() + timeout)
        except TimeoutError as err:
            raise WriteTimeoutError(
                f"{self.name} took no data for {timeout:g} s, after {sent} of {len(data)} bytes",
                sent,
            ) from err
        except OSError as err:
            raise ConnectionLostError(f"{self.name}: {err.strerror or err}", sent) from err

    async def read(self, n: int, timeout: float) -> bytes:
        """Up to n bytes; b"" when nothing came before `timeout`."""
        data = self._read_now(n, after_ready=False)
        if data or timeout <= 0:
            return data or b""
        try:
            async with asyncio.timeout(timeout):
                await self._ready(write=False)
        except TimeoutError:
            return b""
        except OSError as err:
            raise ConnectionLostError(f"{self.name}: {err.strerror or err}") from err
        return self._read_now(n, after_ready=True) or b""

    async def wait_writable(self, timeout: float) -> bool:
        """Wait until the device takes data again (its last transfer is done); False on timeout."""
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await self._ready(write=True)
        except (TimeoutError, OSError):
            return False
        return True

    def _read_now(self, n: int, *, after_ready: bool) -> bytes | None:
        try:
            data = os.read(self.fd, n)
        except BlockingIOError:
            return None
        except OSError as err:
            if err.errno in self._no_input_errnos:
                return None
            raise ConnectionLostError(f"{self.name}: {err.strerror or err}") from err
        if not data and after_ready and self._empty_read_is_eof:
            raise ConnectionLostError(f"{self.name} hung up (unplugged?)")
        return data

    async def _ready(self, *, write: bool) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if write:
            loop.add_writer(self.fd, wake)
        else:
            loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            if write:
                loop.remove_writer(self.fd)
            else:
                loop.remove_reader(self.fd)
