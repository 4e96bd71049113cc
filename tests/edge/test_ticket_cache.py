"""Tickets rendered ahead: used only for the same job, ticket and order revision; bounded."""

from __future__ import annotations

import dataclasses

from edge.jobs import Job
from edge.printing.cache import TicketCache

REVISION = 1


def job(job_id: int = 1, **kw: object) -> Job:
    fields: dict[str, object] = {
        "id": job_id,
        "kind": "print",
        "order_id": "ord_1",
        "revision": 1,
        "printer": "kitchen",
        "ticket": "kitchen",
        "copies": 1,
        "reprint": False,
        "state": "queued",
        "attempts": 0,
        "not_before": 0.0,
        "next_attempt_at": 0.0,
        "last_error": None,
    }
    return Job(**{**fields, **kw})  # type: ignore[arg-type]


def test_a_ticket_rendered_ahead_is_used_for_the_same_job_and_revision() -> None:
    cache = TicketCache()
    cache.put(job(), REVISION, b"ticket")
    assert cache.get(job(), REVISION) == b"ticket"
    assert cache.get(job(2), REVISION) is None, "another job"
    assert cache.keys() == {1: ("kitchen", 1, False, None, "ord_1", REVISION)}


def test_a_changed_job_or_order_renders_afresh() -> None:
    for changed in (
        {"reprint": True},
        {"meant_for": "bar"},
        {"copies": 2},
        {"ticket": "updated"},
    ):
        cache = TicketCache()
        cache.put(job(), REVISION, b"ticket")
        assert cache.get(dataclasses.replace(job(), **changed), REVISION) is None, changed
        assert len(cache) == 0, "a stale entry is dropped"
    cache = TicketCache()
    cache.put(job(), REVISION, b"ticket")
    assert cache.get(job(), REVISION + 1) is None, "a later revision of the order"
    cache.put(job(), REVISION, b"ticket")
    assert cache.get(job(), None) is None, "the order is gone"


def test_test_pages_and_orders_not_found_are_never_kept() -> None:
    cache = TicketCache()
    cache.put(job(ticket="test", order_id=None), REVISION, b"page")  # it prints the time
    cache.put(job(2), None, b"ticket")
    assert len(cache) == 0


def test_the_cache_keeps_within_its_bytes_oldest_out_first() -> None:
    cache = TicketCache(max_bytes=10)
    for n in range(1, 5):
        cache.put(job(n), REVISION, b"abcd")
    assert cache.size <= 10
    assert 1 not in cache
    assert 2 not in cache
    assert 4 in cache
    cache.discard([4, 99])
    assert 4 not in cache
    assert cache.size == 4
    cache.put(job(5), REVISION, b"x" * 11)
    assert 5 not in cache, "larger than the whole cache: not kept"
    cache.keep_only({3})
    assert len(cache) == 1
    assert 3 in cache
