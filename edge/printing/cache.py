"""Tickets rendered ahead, while their printer is away, so they go out at once when it is back.

Memory only: after a restart tickets are rendered again. An entry is used only for the same
job printing the same ticket of the same order revision (a revision's text never changes);
anything else renders afresh.
"""

from __future__ import annotations

from collections import OrderedDict

from edge.jobs import Job

#: Bytes of rendered tickets kept per printer (a 48-column kitchen ticket is 0.5–2 KB).
CACHE_MAX_BYTES = 1024 * 1024

Key = tuple[str | None, int, bool, str | None, str | None, int]


def cache_key(job: Job, revision: int | None) -> Key | None:
    """What a rendering depends on, besides the printer's settings; None: not kept."""
    if job.ticket == "test" or revision is None:
        return None  # a test page prints the time it is printed
    return (job.ticket, job.copies, job.reprint, job.meant_for, job.order_id, revision)


class TicketCache:
    """Rendered bytes by job id, least recently used out first, bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[int, tuple[Key, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._entries

    def keys(self) -> dict[int, Key]:
        """A snapshot: which job's rendering is kept, for which key."""
        return {job_id: key for job_id, (key, _) in self._entries.items()}

    def get(self, job: Job, revision: int | None) -> bytes | None:
        entry = self._entries.get(job.id)
        if entry is None:
            return None
        key, data = entry
        if key != cache_key(job, revision):
            self.discard([job.id])  # reprint mark, backup or revision changed since
            return None
        self._entries.move_to_end(job.id)
        return data

    def put(self, job: Job, revision: int | None, data: bytes) -> None:
        key = cache_key(job, revision)
        if key is None or len(data) > self.max_bytes:
            return
        self.discard([job.id])
        self._entries[job.id] = (key, data)
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
