"""Segmented LRU (Karedla, Love & Wherry 1994): a probationary and a protected LRU segment."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, check_variant, register

#: segments of libCacheSim's SLRU (``SLRU.c``: ``n_seg = 4``)
LIBCACHESIM_SEGMENTS = 4


class SegmentedLRU:
    """libCacheSim's ``SLRU.c`` over segments of given shares, as a component (S4LRU, W-TinyLFU's main area).

    Segments are LRU lists, lowest first (key -> size, tail first).  ``insert`` is ``SLRU_insert``: the
    head of the lowest segment the object fits in without exceeding its share; when none, evictions
    until the whole area (``capacity``) fits it, then segment 0.  ``hit`` is ``SLRU_find``: the top
    segment's key moves to its head, any other moves to the head of the next segment, then while the
    key's segment is over its share that segment is cooled (``SLRU_cool``: its tail moves to the head of
    the segment below, which is cooled in turn; cooling segment 0 evicts).  The victim (``SLRU_to_evict``)
    is the tail of the lowest non-empty segment.

    Args:
        caps: each segment's share, lowest first.
        capacity: the whole area's size (``SLRU_insert``'s eviction bound).
        evicted: called with each key an eviction removes (already out of the segments).
    """

    def __init__(self, caps: list[int], capacity: int, evicted: Callable[[Key], None]) -> None:
        self.caps = caps
        self.capacity = capacity
        self.evicted = evicted
        self.segments: list[OrderedDict[Key, int]] = [OrderedDict() for _ in caps]
        self.seg_used: list[int] = [0] * len(caps)
        self.used = 0
        self.seg_of: dict[Key, int] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.seg_of

    def _put(self, key: Key, size: int, i: int) -> None:
        self.segments[i][key] = size
        self.seg_used[i] += size
        self.used += size
        self.seg_of[key] = i

    def take(self, key: Key) -> int:
        """Remove a key (no eviction reported); returns its size."""
        i = self.seg_of.pop(key)
        size = self.segments[i].pop(key)
        self.seg_used[i] -= size
        self.used -= size
        return size

    def victim(self) -> Key:
        """The tail of the lowest non-empty segment (not removed)."""
        for seg in self.segments:
            if seg:
                return next(iter(seg))
        raise KeyError("empty")

    def evict(self) -> None:
        """Evict the victim and report it."""
        key = self.victim()
        self.take(key)
        self.evicted(key)

    def _cool(self, i: int) -> None:
        if i == 0:
            self.evict()
            return
        key = next(iter(self.segments[i]))
        self._put(key, self.take(key), i - 1)
        while self.seg_used[i - 1] > self.caps[i - 1]:
            self._cool(i - 1)

    def insert(self, key: Key, size: int) -> None:
        """``SLRU_insert``."""
        for i, cap in enumerate(self.caps):
            if self.seg_used[i] + size <= cap:
                break
        else:
            while self.used + size > self.capacity and self.used > 0:
                self.evict()
            i = 0
        self._put(key, size, i)

    def hit(self, key: Key) -> None:
        """``SLRU_find`` of a resident key."""
        i = self.seg_of[key]
        if i == len(self.caps) - 1:
            self.segments[i].move_to_end(key)
            return
        self._put(key, self.take(key), i + 1)
        while key in self.seg_of and self.seg_used[self.seg_of[key]] > self.caps[self.seg_of[key]]:
            self._cool(self.seg_of[key])



@register
class SLRU(Policy):
    """Segmented LRU with two segments, sized in capacity units (entries or bytes).

    New key: enters the MRU end of the probationary segment. Hit in
    probationary: the key moves to the MRU end of the protected segment; while
    the protected segment holds more than ``int(protected_ratio * capacity)``
    units, its LRU key is demoted to the MRU end of probationary (a key larger
    than the protected segment is thus demoted straight back). Hit in
    protected: the key moves to the protected MRU end. Victim: the LRU key of
    probationary, or of protected when probationary is empty.  The
    probationary segment has no size of its own: it is whatever protected
    leaves.  A size change on a hit in protected re-applies the protected
    limit before any eviction.

    ``variant="libcachesim"`` is libCacheSim's ``SLRU.c`` (S4LRU):
    four LRU segments of ``capacity // 4`` units each (``protected_ratio`` is
    not used); an object larger than one segment is not admitted.  A new
    object is admitted once eviction has made room in the whole cache, at the
    head of the lowest segment it fits in without exceeding it, else of
    segment 0 (which may then exceed its share).  A hit in the
    top segment moves the key to its head; elsewhere the key moves to the
    head of the next segment, and while the key's segment is over its share
    that segment's tail is cooled to the head of the segment below (cascading
    down), from segment 0 by eviction.  The victim is the tail of the lowest
    non-empty segment.

    Args:
        capacity: entries or bytes.
        protected_ratio: share of the capacity the protected segment may hold,
            in [0, 1]; default 0.8.
        variant: ``paper`` or ``libcachesim`` (above).
        rng: unused.
    """

    name = "slru"
    libcachesim_differs = "four equal segments (S4LRU); new objects go to the lowest segment with room"

    def __init__(self, capacity: int, *, protected_ratio: float = 0.8, variant: str = "paper",
                 rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        if not 0.0 <= protected_ratio <= 1.0:
            raise PolicyError(f"slru: protected_ratio must be in [0, 1], got {protected_ratio!r}")
        self.protected_ratio: float = float(protected_ratio)
        self.protected_capacity: int = int(self.protected_ratio * self.capacity)
        self.variant = check_variant("slru", variant)
        self._lcs = self.variant == "libcachesim"
        #: libCacheSim's four segments (variant libcachesim only)
        self.s4lru = SegmentedLRU([self.capacity // LIBCACHESIM_SEGMENTS] * LIBCACHESIM_SEGMENTS,
                                  self.capacity, self._drop)
        # key -> size, LRU first
        self.probationary: OrderedDict[Key, int] = OrderedDict()
        self.protected: OrderedDict[Key, int] = OrderedDict()
        self.protected_used: int = 0

    def _rebalance(self) -> None:
        while self.protected_used > self.protected_capacity:
            key, size = self.protected.popitem(last=False)
            self.protected_used -= size
            self.probationary[key] = size

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        if not self._lcs:
            super()._on_insert(key, size, now, next_access, expire_at)
            return
        if size > self.s4lru.caps[0]:
            return  # SLRU_can_insert
        self._evict_until_fits(size)  # cache_get_base, before SLRU_insert picks a segment
        self._store(key, size)
        self.s4lru.insert(key, size)

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        if self._lcs:
            self.s4lru.hit(key)
            return
        if key in self.protected:
            self.protected.move_to_end(key)
            return
        size = self.probationary.pop(key)
        self.protected[key] = size
        self.protected_used += size
        self._rebalance()

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self.probationary[key] = self.sizes[key]

    def _victim(self) -> Key:
        if self._lcs:
            key = self.s4lru.victim()
            self.s4lru.take(key)
            return key
        if self.probationary:
            return self.probationary.popitem(last=False)[0]
        key, size = self.protected.popitem(last=False)
        self.protected_used -= size
        return key

    def _remove(self, key: Key) -> None:
        if self._lcs:
            self.s4lru.take(key)
            return
        if key in self.protected:
            self.protected_used -= self.protected.pop(key)
        else:
            del self.probationary[key]

    def _resize(self, key: Key, old: int, new: int) -> None:
        # keep the segment's own size record in step before the base evicts
        if self._lcs:
            return  # libCacheSim keeps the size an object had when it was admitted
        if key in self.protected:
            self.protected[key] = new
            self.protected_used += new - old
            self._rebalance()
        else:
            self.probationary[key] = new
        super()._resize(key, old, new)
