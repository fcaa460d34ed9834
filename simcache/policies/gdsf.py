"""GreedyDual-Size with Frequency (Cherkasova 1998): evict the lowest L + F*C/S."""

from __future__ import annotations

import heapq

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, check_variant, register


class GreedyDualBase(Policy):
    """Shared machinery of GDSF and LFU-DA: priority H, inflation L, a lazily invalidated heap.

    * L (the inflation value) starts at 0 and becomes the H of each evicted key.
    * New key: ``F = 1``, ``H = L + F * C / S`` (GDSF) or ``L + F * C`` (LFU-DA).
    * Hit: ``F += 1``, H recomputed with the current L (and current size).
    * Victim: the lowest H; ties go to the key inserted earliest (its
      insertion sequence number, which a hit does not change).
    * H is computed in float64 as ``L + (F * C) / S`` (GDSF) or ``L + F * C``.
    * Variable sizes: victims are evicted one at a time until the object fits.

    Args:
        capacity: entries or bytes.
        cost: the retrieval cost C of every object (> 0).
        rng: unused.
    """

    def __init__(self, capacity: int, *, cost: float = 1.0, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        if not cost > 0:
            raise PolicyError(f"{self.name}: cost must be > 0, got {cost!r}")
        self.cost = float(cost)
        self.inflation = 0.0
        self._freq: dict[Key, int] = {}
        self._prio: dict[Key, float] = {}
        self._seq_of: dict[Key, int] = {}
        self._seq = 0
        self._pushes = 0  # a unique third field, so heap entries never compare keys
        self._heap: list[tuple[float, int, int, Key]] = []

    #: True when the priority depends on the object size (GDSF), so a resize re-prioritises
    size_aware: bool = False

    def _priority(self, freq: int, size: int) -> float:
        raise NotImplementedError

    def _push(self, key: Key, size: int) -> None:
        h = self.inflation + self._priority(self._freq[key], size)
        self._prio[key] = h
        self._pushes += 1
        heapq.heappush(self._heap, (h, self._seq_of[key], self._pushes, key))
        if len(self._heap) > 4 * len(self._prio) + 64:
            # stale entries pile up on hit-heavy traces; rebuild from the live ones
            self._heap = [e for e in self._heap if self._live(e)]
            heapq.heapify(self._heap)

    def _live(self, entry: tuple[float, int, int, Key]) -> bool:
        h, seq, _, key = entry
        return self._seq_of.get(key) == seq and self._prio[key] == h

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        self._freq[key] += 1
        self._push(key, self.sizes[key])

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self._seq += 1
        self._seq_of[key] = self._seq
        self._freq[key] = 1
        self._push(key, self.sizes[key])

    def _victim(self) -> Key:
        while True:
            entry = heapq.heappop(self._heap)
            if self._live(entry):
                key = entry[3]
                self.inflation = entry[0]
                self._forget(key)
                return key

    def _remove(self, key: Key) -> None:
        self._forget(key)

    def _forget(self, key: Key) -> None:
        del self._freq[key], self._prio[key], self._seq_of[key]

    #: libCacheSim's variants keep the size an object had when it was admitted
    keeps_admitted_size: bool = False

    def _resize(self, key: Key, old: int, new: int) -> None:
        if self.keeps_admitted_size:
            return
        if self.size_aware:
            # recompute the priority for the new size before the base class evicts
            self._push(key, new)
        super()._resize(key, old, new)


@register
class GDSF(GreedyDualBase):
    """GDSF: ``H = L + F * C / S``, so large, rarely hit objects go first.

    See :class:`GreedyDualBase` for the exact rules.

    ``variant="libcachesim"`` follows libCacheSim 0.3.5's ``GDSF.cpp``: ``H = L + F * (1e6 * C) / S``
    (its constant 1e6 times ``cost``); the new object is inserted before evicting, so it may be
    the victim itself; ties go to the key requested least recently (not the earliest inserted).

    Args:
        capacity: entries or bytes.
        cost: the retrieval cost C of every object (> 0).
        variant: ``paper`` or ``libcachesim`` (above).
        rng: unused.
    """

    name = "gdsf"
    size_aware = True
    libcachesim_differs = ("the new object is inserted before evicting (it may be the victim); "
                           "ties go to the least recently requested key")

    def __init__(self, capacity: int, *, cost: float = 1.0, variant: str = "paper",
                 rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, cost=cost, rng=rng)
        self.variant = check_variant("gdsf", variant)
        self.keeps_admitted_size = self.variant == "libcachesim"
        if self.variant == "libcachesim":
            # GDSF.cpp: H = L + F * 1.0e6 / S, ordered by (H, request number of the last access)
            self.cost = self.cost * 1.0e6
            self._requests = 0

    def _priority(self, freq: int, size: int) -> float:
        return freq * self.cost / max(size, 1)

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        if self.variant == "libcachesim":
            self._requests += 1
            self._seq_of[key] = self._requests
        super()._on_hit(key, now, next_access)

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        if self.variant != "libcachesim":
            super()._on_insert(key, size, now, next_access, expire_at)
            return
        # libCacheSim 0.3.5 inserts first, then evicts the lowest until the cache fits: the newcomer
        # can be its own victim (raising L to its priority)
        self._requests += 1
        self._store(key, size)
        self._seq_of[key] = self._requests
        self._freq[key] = 1
        self._push(key, size)
        while self.used > self.capacity:
            self._drop(self._victim())
