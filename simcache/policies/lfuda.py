"""LFU with Dynamic Aging (Arlitt et al. 2000): evict the lowest L + F*C."""

from __future__ import annotations

import heapq
from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, check_variant, register
from simcache.policies.gdsf import GreedyDualBase


@register
class LFUDA(GreedyDualBase):
    """LFU-DA: ``H = L + F * C``; L (the H of the last victim) ages out formerly hot keys.

    See :class:`simcache.policies.gdsf.GreedyDualBase` for the exact rules
    (F starts at 1 and counts hits while resident; ties go to the earliest
    inserted key).  Sizes only matter for how many keys are evicted.

    ``variant="libcachesim"`` follows libCacheSim's ``LFUDA.c`` instead, whose
    integer priority ``f`` lives in buckets (one FIFO list per value):

    * L is ``min_freq``, 0 until the first eviction; a new key gets ``f = L + 1``
      at the tail of its bucket; a hit *adds L* (``f += L``, not ``L + F``: before
      the first eviction a hit changes nothing but the key's place in its bucket)
      and moves the key to the tail of bucket ``f``.
    * The victim is the head of bucket ``min_freq`` (bucket 1 while it is 0 or 1),
      and ``min_freq`` becomes its ``f``.
    * When bucket ``min_freq`` empties (an eviction, or a hit that moved its last
      key), ``min_freq`` becomes the smallest non-empty bucket above it
      (``update_min_freq``), the moving key not counted; so a hit key can land
      below ``min_freq`` and is then never evicted until hit again.  Should every
      resident be below ``min_freq`` (libCacheSim would read an empty list), the
      lowest bucket's head goes and ``min_freq`` stays.  ``cost`` is not used.

    Args:
        capacity: entries or bytes.
        cost: the retrieval cost C of every object (> 0).
        variant: ``paper`` or ``libcachesim`` (above).
        rng: unused.
    """

    name = "lfuda"
    libcachesim_differs = "a hit adds the inflation L to the priority instead of recomputing L + frequency"

    def __init__(self, capacity: int, *, cost: float = 1.0, variant: str = "paper",
                 rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, cost=cost, rng=rng)
        self.variant = check_variant("lfuda", variant)
        self._lcs = self.variant == "libcachesim"
        self.keeps_admitted_size = self._lcs
        # libCacheSim's state: key -> f, f -> keys in append order, min_freq, max_freq
        self.min_freq = 0
        self.max_freq = 0
        self._f: dict[Key, int] = {}
        self._buckets: dict[int, OrderedDict[Key, None]] = {}
        self._candidates: list[int] = []  # bucket values that may be non-empty (lazy min-heap)

    def _priority(self, freq: int, size: int) -> float:
        return freq * self.cost

    # ---------------------------------------------------------- libCacheSim
    def _append(self, key: Key, f: int) -> None:
        self._f[key] = f
        bucket = self._buckets.get(f)
        if bucket is None:
            bucket = self._buckets[f] = OrderedDict()
        if not bucket:
            heapq.heappush(self._candidates, f)
        bucket[key] = None

    def _unlink(self, key: Key) -> int:
        f = self._f.pop(key)
        del self._buckets[f][key]
        return f

    def _update_min_freq(self) -> None:
        # the smallest non-empty bucket above min_freq; buckets at or below it never fill again
        cand = self._candidates
        while cand and (cand[0] <= self.min_freq or not self._buckets[cand[0]]):
            heapq.heappop(cand)
        if cand:
            self.min_freq = cand[0]

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        if not self._lcs:
            super()._on_hit(key, now, next_access)
            return
        old = self._unlink(key)
        f = old + self.min_freq
        self.max_freq = max(self.max_freq, f)
        if old == self.min_freq and not self._buckets[old]:
            self._update_min_freq()
        self._append(key, f)

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        if not self._lcs:
            super()._admit(key, now, next_access, expire_at)
            return
        self._append(key, self.min_freq + 1)
        self.max_freq = max(self.max_freq, self.min_freq + 1)

    def _victim(self) -> Key:
        if not self._lcs:
            return super()._victim()
        f = max(self.min_freq, 1)
        bucket = self._buckets.get(f)
        if bucket:
            key = next(iter(bucket))
            self.min_freq = f
            self._unlink(key)
            if not bucket:
                self._update_min_freq()
        else:  # every resident sits below min_freq: the lowest bucket's head
            f = min(self._f[k] for k in self._f)
            key = next(iter(self._buckets[f]))
            self._unlink(key)
        self.inflation = float(self.min_freq)
        return key

    def _remove(self, key: Key) -> None:
        if not self._lcs:
            super()._remove(key)
            return
        f = self._unlink(key)
        if f == self.min_freq and not self._buckets[f]:
            self._update_min_freq()
