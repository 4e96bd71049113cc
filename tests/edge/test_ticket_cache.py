"""Tickets rendered ahead: used only for the same job, ticket and order text; bounded."""

from __future__ import annotations

import dataclasses

from edge.jobs import Job
from edge.printing.cache import TicketCache

ORDER = '{"id": "ord_1", "revision": 1}'


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


def test_a_ticket_rendered_ahead_is_used_for_the_same_job_and_order() -> None:
    cache = TicketCache()
    cache.put(job(), ORDER, b"ticket")
    assert cache.get(job(), ORDER) == b"ticket"
    assert cache.get(job(2), ORDER) is None, "another job"


def test_a_changed_job_or_order_renders_afresh() -> None:
    for changed in (
        {"reprint": True},
        {"meant_for": "bar"},
        {"copies": 2},
        {"ticket": "updated"},
    ):
        cache = TicketCache()
        cache.put(job(), ORDER, b"ticket")
        assert cache.get(dataclasses.replace(job(), **changed), ORDER) is None, changed
        assert len(cache) == 0, "a stale entry is dropped"
    cache = TicketCache()
    cache.put(job(), ORDER, b"ticket")
    assert cache.get(job(), ORDER.replace("1}", "2}")) is None, "the order text changed"
    assert cache.get(job(), None) is None, "the order is gone"


def test_test_pages_are_never_kept_they_print_the_time() -> None:
    cache = TicketCache()
    cache.put(job(ticket="test", order_id=None), ORDER, b"page")
    assert len(cache) == 0


def test_the_cache_keeps_within_its_bytes_oldest_out_first() -> None:
    cache = TicketCache(max_bytes=10)
    for n in range(1, 5):
        cache.put(job(n), ORDER, b"abcd")
    assert cache.size <= 10
    assert 1 not in cache
    assert 2 not in cache
    assert 4 in cache
    cache.discard([4, 99])
    assert 4 not in cache
    assert cache.size == 4
    cache.put(job(5), ORDER, b"x" * 11)
    assert 5 not in cache, "larger than the whole cache: not kept"
