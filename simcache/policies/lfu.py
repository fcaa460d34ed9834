"""Least Frequently Used with O(1) frequency buckets."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, register


@register
class LFU(Policy):
    """LFU over a linked list of frequency buckets (Shah, Mitra & Matani 2010).

    Every resident key has a count. New key: count 1 (or, with
    ``keep_history``, one more than the count it had when it last left the
    cache). Hit: count + 1. Victim: the least recently used key (by its last
    request, hit or admission) among the keys with the smallest count -- ties
    are broken by recency, LRU first.

    Each bucket holds the keys of one count in order of their last request, and
    the buckets form a list sorted by count, so a hit, an admission with count
    1 and an eviction are O(1).  Admitting a key with a remembered count
    (``keep_history``) walks the bucket list to find its place.

    Args:
        capacity: entries or bytes.
        keep_history: False (default): in-cache LFU, a key's count is
            forgotten when it leaves the cache. True: perfect LFU, counts of
            evicted or removed keys are kept (memory grows with the number of
            distinct keys) and resume on the next admission.
        rng: unused.
    """

    name = "lfu"

    def __init__(self, capacity: int, *, keep_history: bool = False, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        self.keep_history: bool = bool(keep_history)
        self._count: dict[Key, int] = {}
        self._history: dict[Key, int] = {}
        # count -> keys with that count, least recently requested first
        self._buckets: dict[int, OrderedDict[Key, None]] = {}
        # circular doubly linked list of bucket counts, 0 is the sentinel
        self._next: dict[int, int] = {0: 0}
        self._prev: dict[int, int] = {0: 0}

    # ------------------------------------------------------------ buckets
    def _link_after(self, before: int, count: int) -> None:
        after = self._next[before]
        self._next[before] = count
        self._prev[count] = before
        self._next[count] = after
        self._prev[after] = count
        self._buckets[count] = OrderedDict()

    def _unlink(self, count: int) -> None:
        before, after = self._prev.pop(count), self._next.pop(count)
        self._next[before] = after
        self._prev[after] = before
        del self._buckets[count]

    def _take(self, key: Key) -> int:
        """Remove a resident key from its bucket and return its count."""
        count = self._count.pop(key)
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            self._unlink(count)
        return count

    # -------------------------------------------------------------- hooks
    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        count = self._count[key]
        bucket = self._buckets[count]
        if count + 1 not in self._buckets:
            # buckets are sorted, so count + 1 can only go right after count
            self._link_after(count, count + 1)
        del bucket[key]
        self._buckets[count + 1][key] = None
        self._count[key] = count + 1
        if not bucket:
            self._unlink(count)

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        count = self._history.pop(key, 0) + 1 if self.keep_history else 1
        if count not in self._buckets:
            before = 0
            while self._next[before] != 0 and self._next[before] < count:
                before = self._next[before]
            self._link_after(before, count)
        self._buckets[count][key] = None
        self._count[key] = count

    def _victim(self) -> Key:
        count = self._next[0]
        bucket = self._buckets[count]
        key = next(iter(bucket))
        self._take(key)
        if self.keep_history:
            self._history[key] = count
        return key

    def _remove(self, key: Key) -> None:
        count = self._take(key)
        if self.keep_history:
            self._history[key] = count
