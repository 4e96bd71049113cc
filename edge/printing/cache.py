"""Tickets rendered ahead, while their printer is away, so they go out at once when it is back.

Memory only: after a restart tickets are rendered again. An entry is used only for the same
job printing the same ticket of the same order text; anything else renders afresh.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from edge.jobs import Job

#: Bytes of rendered tickets kept per printer (a 48-column kitchen ticket is 0.5–2 KB).
CACHE_MAX_BYTES = 1024 * 1024

_Key = tuple[str | None, int, bool, str | None, bytes]


def _key(job: Job, order_json: str) -> _Key:
    digest = hashlib.blake2b(order_json.encode(), digest_size=16).digest()
    return (job.ticket, job.copies, job.reprint, job.meant_for, digest)


def cacheable(job: Job) -> bool:
    """Order tickets only: a test page prints the time it is printed."""
    return job.ticket != "test"


class TicketCache:
    """Rendered bytes by job id, least recently used out first, bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[int, tuple[_Key, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._entries

    def get(self, job: Job, order_json: str | None) -> bytes | None:
        entry = self._entries.get(job.id)
        if entry is None or order_json is None:
            return None
        key, data = entry
        if key != _key(job, order_json):
            self.discard([job.id])  # reprint mark, backup or order text changed since
            return None
        self._entries.move_to_end(job.id)
        return data

    def put(self, job: Job, order_json: str | None, data: bytes) -> None:
        if order_json is None or not cacheable(job) or len(data) > self.max_bytes:
            return
        self.discard([job.id])
        self._entries[job.id] = (_key(job, order_json), data)
        self.size += len(data)
        while self.size > self.max_bytes:
            _, (_, old) = self._entries.popitem(last=False)
            self.size -= len(old)

    def full(self) -> bool:
        return self.size >= self.max_bytes

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def keep_only(self, job_ids: set[int]) -> None:
        """Drop the entries of other jobs (printed, cancelled or moved since)."""
        self.discard([job_id for job_id in self._entries if job_id not in job_ids])

    def discard(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            entry = self._entries.pop(job_id, None)
            if entry is not None:
                self.size -= len(entry[1])
