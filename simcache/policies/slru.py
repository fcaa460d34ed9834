"""Segmented LRU (Karedla, Love & Wherry 1994): a probationary and a protected LRU segment."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, register


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

    Args:
        capacity: entries or bytes.
        protected_ratio: share of the capacity the protected segment may hold,
            in [0, 1]; default 0.8.
        rng: unused.
    """

    name = "slru"

    def __init__(self, capacity: int, *, protected_ratio: float = 0.8, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        if not 0.0 <= protected_ratio <= 1.0:
            raise PolicyError(f"slru: protected_ratio must be in [0, 1], got {protected_ratio!r}")
        self.protected_ratio: float = float(protected_ratio)
        self.protected_capacity: int = int(self.protected_ratio * self.capacity)
        # key -> size, LRU first
        self.probationary: OrderedDict[Key, int] = OrderedDict()
        self.protected: OrderedDict[Key, int] = OrderedDict()
        self.protected_used: int = 0

    def _rebalance(self) -> None:
        while self.protected_used > self.protected_capacity:
            key, size = self.protected.popitem(last=False)
            self.protected_used -= size
            self.probationary[key] = size

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
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
        if self.probationary:
            return self.probationary.popitem(last=False)[0]
        key, size = self.protected.popitem(last=False)
        self.protected_used -= size
        return key

    def _remove(self, key: Key) -> None:
        if key in self.protected:
            self.protected_used -= self.protected.pop(key)
        else:
            del self.probationary[key]

    def _resize(self, key: Key, old: int, new: int) -> None:
        # keep the segment's own size record in step before the base evicts
        if key in self.protected:
            self.protected[key] = new
            self.protected_used += new - old
            self._rebalance()
        else:
            self.probationary[key] = new
        super()._resize(key, old, new)
