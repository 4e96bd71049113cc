"""The menu in SQLite: the last good menu per POS, what was queued for each brand's topic.

A sync is stored in one transaction: the POS menu (what injection checks against), each
brand's hash, the retained messages of the brands that changed, the `menu.synced` event and
the replies of the `menu_sync` commands it answers. A sync that fails stores only its event.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core

from edge import outbox, outgoing
from edge.cloud.topics import Topics
from edge.commands import Reply, deferred_waiting, finish_deferred
from edge.pos.menu import Menu, canonical_json

from .rules import BrandMenu

COMPRESS_ABOVE = 64 * 1024  # CONTRACT §1: zlib-compressed JSON when larger
CONTENT_ENCODING = ("content-encoding", "zlib")
SYNC_STATE_KEY = "menu_sync"


@dataclass(frozen=True)
class StoredMenu:
    """The last good menu read from one POS."""

    pos: str
    menu: Menu
    hash: str
    items: int
    modifiers: int
    read_at: float


@dataclass(frozen=True)
class EncodedMenu:
    """A menu ready to store: built off the event loop (it can be megabytes)."""

    menu: Menu
    blob: bytes
    hash: str


def encode_menu(menu: Menu) -> EncodedMenu:
    """Canonical JSON, hashed, then compressed."""
    raw = canonical_json(menu)
    # level 1: kept here only, read back at start; a third of level 6's time for 20 % more
    return EncodedMenu(menu, zlib.compress(raw, 1), hashlib.sha256(raw).hexdigest())


def brand_payload(brand: BrandMenu) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """A brand's message: JSON, or zlib-compressed JSON with its user property when large."""
    raw = brand.payload_json()
    if len(raw) > COMPRESS_ABOVE:
        return zlib.compress(raw, 6), (CONTENT_ENCODING,)
    return raw, ()


def load(conn: sqlite3.Connection, pos: str) -> StoredMenu | None:
    """The last good menu of `pos`, or None before the first sync."""
    row = conn.execute(
        "SELECT doc, hash, items, modifiers, read_at FROM pos_menus WHERE pos = ?", (pos,)
    ).fetchone()
    if row is None:
        return None
    doc, digest, items, modifiers, read_at = row
    menu = Menu.from_doc(pydantic_core.from_json(zlib.decompress(doc)))
    return StoredMenu(pos, menu, digest, items, modifiers, read_at)


def brand_hashes(conn: sqlite3.Connection) -> dict[str, str]:
    """The hash of each brand's menu last queued for publishing."""
    return dict(conn.execute("SELECT brand, hash FROM menu_brands").fetchall())


def sync_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """When the last syncs ended and how (`edge pos status`, `doctor`, `status`)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (SYNC_STATE_KEY,)).fetchone()
    return json.loads(row[0]) if row else {}


def _set_state(conn: sqlite3.Connection, **changes: Any) -> None:
    state = {**sync_state(conn), **changes}
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (SYNC_STATE_KEY, json.dumps(state)),
    )


@dataclass(frozen=True)
class SyncRecord:
    """Everything one successful sync stores."""

    pos: str
    encoded: EncodedMenu
    brands: Sequence[BrandMenu]
    payloads: Mapping[str, tuple[bytes, tuple[tuple[str, str], ...]]]
    overall_hash: str
    event: Mapping[str, Any]  # the `menu.synced` data, without the change flags
    prices: Any = None  # the `menu` part of in/settings the menus were priced with


def record_success(
    conn: sqlite3.Connection, record: SyncRecord, topics: Topics | None
) -> dict[str, Any]:
    """Store a sync; returns the `menu_sync` reply result (`brands`, `hash`, `changed`)."""
    now = time.time()
    menu = record.encoded.menu
    conn.execute(
        "INSERT INTO pos_menus (pos, doc, hash, items, modifiers, read_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (pos) DO UPDATE SET doc = excluded.doc,"
        " hash = excluded.hash, items = excluded.items, modifiers = excluded.modifiers,"
        " read_at = excluded.read_at",
        (
            record.pos,
            record.encoded.blob,
            record.encoded.hash,
            len(menu.items),
            menu.modifier_count(),
            now,
        ),
    )
    changed = _queue_brands(conn, record, topics, now)
    brands = {
        b.brand: {
            "items": b.items,
            "modifiers": b.modifiers,
            "hash": b.hash,
            "changed": b.brand in changed,
        }
        for b in record.brands
    }
    result = {"brands": brands, "hash": record.overall_hash, "changed": bool(changed)}
    outbox.add_event(conn, "menu.synced", None, {**result, **record.event})
    _set_state(
        conn, last_ok_at=now, last_error=None, hash=record.overall_hash, prices=record.prices
    )
    for command_id in deferred_waiting(conn, "menu_sync"):
        finish_deferred(conn, command_id, Reply.success(command_id, result))
    return result


def _queue_brands(
    conn: sqlite3.Connection, record: SyncRecord, topics: Topics | None, now: float
) -> set[str]:
    """Queue the brands whose menu changed; clear the topics of brands the store dropped."""
    if topics is None:  # offline box: nothing is published, nothing marked as published
        return set()
    before = brand_hashes(conn)
    changed = set()
    for brand in record.brands:
        if before.get(brand.brand) == brand.hash:
            continue
        changed.add(brand.brand)
        payload, props = record.payloads[brand.brand]
        outgoing.queue(
            conn,
            f"menu/{brand.brand}",
            topics.menu(brand.brand),
            payload,
            retain=True,
            user_properties=props,
        )
        conn.execute(
            "INSERT INTO menu_brands (brand, hash, items, modifiers, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (brand) DO UPDATE SET hash = excluded.hash,"
            " items = excluded.items, modifiers = excluded.modifiers,"
            " updated_at = excluded.updated_at",
            (brand.brand, brand.hash, brand.items, brand.modifiers, now),
        )
    current = {b.brand for b in record.brands}
    for gone in sorted(set(before) - current):
        # An empty retained message removes the brand's menu from the broker.
        outgoing.queue(conn, f"menu/{gone}", topics.menu(gone), b"", retain=True)
        conn.execute("DELETE FROM menu_brands WHERE brand = ?", (gone,))
        changed.add(gone)
    return changed


def record_failure(conn: sqlite3.Connection, reason: str, code: str) -> None:
    """A sync that failed: the previous menu stays; said in `menu.sync_failed` and the replies."""
    outbox.add_event(conn, "menu.sync_failed", None, {"reason": reason})
    _set_state(conn, last_failed_at=time.time(), last_error=reason)
    for command_id in deferred_waiting(conn, "menu_sync"):
        finish_deferred(conn, command_id, Reply.failure(command_id, code, reason))
