"""Menu sync: read the whole menu from the POS, apply the store's rules, store, publish.

Runs every `[menu] sync_interval_h`, on the cloud's `menu_sync` command and on
`edge menu sync`; one sync at a time. A sync that fails keeps the previous menu (injection
goes on checking against it), says why in `menu.sync_failed` and is tried again after a
growing wait. The HTTP reads are asynchronous and the heavy steps (the store's rules, JSON,
hashes, compression) run in a worker thread, so intake and printing never wait for a sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from edge.backoff import Backoff
from edge.cloud.topics import Topics
from edge.commands import deferred_waiting
from edge.config import Config, MenuConfig
from edge.db import Database, Durability
from edge.errors import StorageError
from edge.pos import PosConnector, PosError
from edge.pos.menu import CurrentMenu, Menu
from edge.pos.paging import PageReader
from edge.wakeup import Wakeup

from . import store
from .links import LinksSummary, summarize
from .pricing import PricingError, pricing_for
from .rules import Published, Rules, brand_names

log = logging.getLogger(__name__)

EVENT_UNLINKED_MAX = 100  # the event names the worst ones; `edge pos links` shows them all
EVENT_UNCATEGORIZED_MAX = 50
RETRY_MAX_S = 3600.0


class SyncFailure(StrEnum):
    """Why a sync failed: the error code of the `menu_sync` reply."""

    POS_UNAVAILABLE = "pos_unavailable"
    INVALID_SETTINGS = "invalid_settings"
    INTERNAL = "internal_error"


class MenuSyncError(Exception):
    """A sync that failed; the previous menu stays."""

    def __init__(self, reason: str, code: SyncFailure) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Trigger(StrEnum):
    """What started a sync (in `menu.synced`)."""

    SCHEDULE = "schedule"
    COMMAND = "command"
    CLI = "cli"
    SETTINGS = "settings"


@dataclass(frozen=True)
class MenuSettings:
    """What a sync needs of the configuration."""

    pos: str
    store_id: str
    brands: list[str]
    menu: MenuConfig

    @staticmethod
    def of(config: Config) -> MenuSettings:
        """From the whole configuration."""
        printers_brands = (b for p in config.printers for b in p.brands)
        return MenuSettings(
            pos=config.pos.kind,
            store_id=config.store.id,
            brands=brand_names(printers_brands, config.menu),
            menu=config.menu,
        )


def menu_topics(config: Config) -> Topics | None:
    """Where menus are published; None for a box with no `[cloud]` (nothing is published)."""
    return Topics(config.cloud.topic_prefix, config.store.id) if config.cloud else None


@dataclass(frozen=True)
class _Built:
    encoded: store.EncodedMenu
    published: Published
    payloads: dict[str, tuple[bytes, tuple[tuple[str, str], ...]]]


class MenuSync:
    """The menu of one POS, synced; the daemon runs `run`, the CLI calls `sync` once."""

    def __init__(
        self,
        db: Database,
        connector: PosConnector,
        settings: MenuSettings,
        topics: Topics | None,
        *,
        on_queued: Callable[[], None] = lambda: None,
        current: CurrentMenu | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.connector = connector
        self.settings = settings
        self.topics = topics
        self.on_queued = on_queued
        self.current = current or CurrentMenu()
        self.clock = clock
        self.wake = Wakeup()
        self.last_error: str | None = None
        self.syncing = False
        self._lock = asyncio.Lock()
        self._settings_changed = False
        self._prices: Any = None  # the `menu` part of in/settings the last build used

    # ---- one sync ---------------------------------------------------------------------------

    async def sync(
        self, trigger: Trigger, on_page: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Read, normalize, store, queue for publishing; the `menu_sync` reply's result."""
        async with self._lock:
            self.syncing = True
            try:
                with _cyclic_gc_paused():
                    return await self._sync(trigger, on_page)
            finally:
                self.syncing = False

    async def _sync(
        self, trigger: Trigger, on_page: Callable[[int], None] | None
    ) -> dict[str, Any]:
        started = self.clock()
        pages = PageReader(on_page)
        deadline = self.settings.menu.sync_timeout_s
        try:
            async with asyncio.timeout(deadline):
                menu = await self.connector.read_menu(pages)
        except TimeoutError:
            await self._fail(
                f"the POS menu was not read within {deadline:g} s ({pages.pages} pages read)",
                SyncFailure.POS_UNAVAILABLE,
            )
        except PosError as err:
            await self._fail(f"cannot read the menu: {err.reason}", SyncFailure.POS_UNAVAILABLE)
        except Exception as err:  # a POS answer our parser chokes on: said, not a silent loop
            log.exception("menu: reading the menu failed unexpectedly")
            await self._fail(f"cannot read the menu: {err!r}"[:300], SyncFailure.INTERNAL)
        read_at = self.clock()
        log.info("menu: read %d items in %d pages", len(menu.items), pages.pages)
        rules = await self._rules()
        try:
            built = await asyncio.to_thread(_build, menu, rules)
        except Exception as err:
            log.exception("menu: applying the rules failed unexpectedly")
            await self._fail(f"cannot apply the menu rules: {err!r}"[:300], SyncFailure.INTERNAL)
        links = await self.db.read(
            lambda c: summarize(c, menu, self.settings.menu.links_days, self.clock())
        )
        built_at = self.clock()
        extra = _event_extra(built.published, links, trigger, pages, built_at - started)
        extra["timings_s"] = {
            "read": round(read_at - started, 3),
            "build": round(built_at - read_at, 3),
        }
        result = await self._store(built, extra)
        log.info(
            "menu: synced (%s): %s",
            "published" if result["changed"] else "unchanged",
            ", ".join(f"{b} {c['items']} items" for b, c in result["brands"].items()),
        )
        return result

    async def _rules(self, cloud: Mapping[str, Any] | None = None) -> Rules:
        if cloud is None:
            cloud = await self.db.read(_cloud_settings)
        try:
            pricing = pricing_for(cloud, self.settings.brands)
        except PricingError as err:
            await self._fail(str(err), SyncFailure.INVALID_SETTINGS)
        self._prices = cloud.get("menu")
        s = self.settings
        return Rules(s.menu, s.brands, store_id=s.store_id, pos=s.pos, pricing=pricing)

    async def _store(self, built: _Built, extra: Mapping[str, Any]) -> dict[str, Any]:
        record = store.SyncRecord(
            pos=self.settings.pos,
            encoded=built.encoded,
            brands=built.published.brands,
            payloads=built.payloads,
            overall_hash=built.published.hash,
            event=extra,
            prices=self._prices,
        )
        result = await self.db.write(
            lambda c: store.record_success(c, record, self.topics), Durability.FULL
        )
        self.current.set(built.encoded.menu, built.encoded.hash, self.clock())
        self.last_error = None
        self.on_queued()
        return result

    async def _fail(self, reason: str, code: SyncFailure) -> NoReturn:
        self.last_error = reason
        log.warning("menu: sync failed, the previous menu stays: %s", reason)
        await self.db.write(lambda c: store.record_failure(c, reason, code.value))
        self.on_queued()
        raise MenuSyncError(reason, code)

    async def republish(self) -> None:
        """The cloud's settings changed: the current menu again under their prices.

        Every reconnection brings the retained `in/settings` again: nothing is built unless
        its `menu` part differs from the one the last stored menus were priced with.
        """
        async with self._lock:
            menu = self.current.menu
            cloud, state = await self.db.read(lambda c: (_cloud_settings(c), store.sync_state(c)))
            if menu is None or cloud.get("menu") == state.get("prices"):
                return
            rules = await self._rules(cloud)
            built = await asyncio.to_thread(_build, menu, rules)
            if state.get("hash") == built.published.hash:
                return
            links = await self.db.read(
                lambda c: summarize(c, menu, self.settings.menu.links_days, self.clock())
            )
            extra = _event_extra(built.published, links, Trigger.SETTINGS, PageReader(), 0.0)
            await self._store(built, extra)

    def settings_changed(self) -> None:
        """`in/settings` arrived: prices may have changed."""
        self._settings_changed = True
        self.wake.set()

    # ---- the cadence --------------------------------------------------------------------------

    async def run(self) -> None:
        """Sync on the cadence and on request until cancelled."""
        stored = await self.db.read(lambda c: store.load(c, self.settings.pos))
        if stored is not None:
            self.current.set(stored.menu, stored.hash, stored.read_at)
        interval = self.settings.menu.sync_interval_h * 3600.0
        backoff = Backoff(self.settings.menu.retry_initial_s, min(interval, RETRY_MAX_S))
        next_at = stored.read_at + interval if stored is not None else self.clock()
        while True:
            mark = self.wake.mark()
            try:
                if self._settings_changed:
                    self._settings_changed = False
                    await self.republish()
                asked = await self.db.read(lambda c: deferred_waiting(c, "menu_sync"))
                if asked or self.clock() >= next_at:
                    await self.sync(Trigger.COMMAND if asked else Trigger.SCHEDULE)
                    next_at = self.clock() + interval
                    backoff.reset()
                    continue
            except MenuSyncError:
                next_at = self.clock() + backoff.next()
                continue
            except StorageError:  # reported once by the storage health; tried again
                await self.db.health.wait_change(RETRY_MAX_S)
                continue
            except Exception:  # a bug must not stop the daemon; tried again later
                log.exception("menu: sync failed unexpectedly")
                # not at once, even for a command still waiting: no tight loop of failures
                await asyncio.sleep(backoff.next())
                next_at = self.clock()
                continue
            await self.wake.wait(mark, max(next_at - self.clock(), 0.0))

    def snapshot(self) -> dict[str, Any]:
        """What `status` says of the menu."""
        menu = self.current.menu
        return {
            "items": len(menu.items) if menu else None,
            "hash": self.current.hash,
            "read_at": self.current.read_at,
            "syncing": self.syncing,
            "last_error": self.last_error,
        }


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during a sync (reference counting still frees memory).

    A large menu is hundreds of thousands of short-lived objects: each allocation burst sets
    off collections that walk every live object, half of a 5,000-item sync's CPU time
    (scripts/bench_menu.py). A sync holds few cycles; the collector runs again after it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        _give_back_memory()


def _give_back_memory() -> None:
    """Hand the pages a sync's garbage held back to the system (glibc keeps freed heap for
    reuse): without it the idle daemon stays at its peak size until the next sync."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _cloud_settings(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'cloud_settings'").fetchone()
    doc = json.loads(row[0]) if row else {}
    return doc if isinstance(doc, dict) else {}


def _build(menu: Menu, rules: Rules) -> _Built:
    """The CPU-heavy part of a sync (worker thread)."""
    published = rules.apply(menu)
    payloads = {b.brand: store.brand_payload(b) for b in published.brands}
    return _Built(store.encode_menu(menu), published, payloads)


def _event_extra(
    published: Published,
    links: LinksSummary,
    trigger: Trigger,
    pages: PageReader,
    duration_s: float,
) -> dict[str, Any]:
    doc = links.document(limit=EVENT_UNLINKED_MAX)
    return {
        "unlinked": doc["unlinked"],
        "unlinked_total": doc["unlinked_total"],
        "links": {
            "days": doc["days"],
            "orders": doc["orders"],
            "orders_without_pos_id": doc["orders_without_pos_id"],
        },
        "uncategorized": [
            {"pos_id": i, "name": n} for i, n in published.uncategorized[:EVENT_UNCATEGORIZED_MAX]
        ],
        "hidden": len(published.hidden),
        "trigger": trigger.value,
        "pages": pages.pages,
        "duration_s": round(duration_s, 3),
    }
