"""Belady's MIN (1966): evict the key whose next access is farthest in the future."""

from __future__ import annotations

import heapq

import numpy as np

from simcache.policies.base import Key, Policy, register

# sorts after every real request index
_NEVER = float("inf")


@register
class Belady(Policy):
    """Offline optimal replacement for unit sizes (needs each request's next-access index).

    Semantics (identical to libCacheSim's ``Belady.c``, so miss ratios match):

    * By default every miss is admitted: the victims are chosen among the
      keys already resident, before the new key is stored (demand paging, as
      libCacheSim does).  With ``bypass=True`` a miss that would need an
      eviction is not admitted when its own next use is at least as far as
      the farthest resident one ("never" included): that is MIN for caches
      allowed to skip admission, the bound for admission-filtering policies
      (W-TinyLFU, LIRS) which can beat demand-paging MIN on loops.
    * A new key and a hit both record the request's ``next_access``
      (``-1``: never requested again).
    * The victim is the resident key whose recorded next access is largest,
      "never" counting as infinitely far.  Next accesses of distinct keys are
      distinct request indices, so ties only happen between never-again keys;
      they are broken by the least recently touched first (the order in which
      their current next access was recorded).  Which of them goes does not
      change any later hit.
    * Variable sizes: victims are evicted one at a time until the object
      fits.  This farthest-next-use rule is then only a heuristic (optimal
      variable-size caching is NP-hard).

    A heap with lazy invalidation holds ``(-next, -seq, key)`` entries; an
    entry is stale when its ``seq`` is not the key's current one.

    Args:
        capacity: entries or bytes.
        bypass: do not admit a miss whose next use is no nearer than every resident's.
        rng: unused.
    """

    name = "belady"
    needs_future = True

    def __init__(self, capacity: int, *, bypass: bool = False, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        self.bypass = bool(bypass)
        self._heap: list[tuple[float, int, Key]] = []
        self._seq_of: dict[Key, int] = {}
        self._seq = 0

    def _record(self, key: Key, next_access: int) -> None:
        self._seq += 1
        self._seq_of[key] = self._seq
        nxt = _NEVER if next_access < 0 else next_access
        # max-heap on next use; among equal next uses the smallest seq (least recently touched) first
        heapq.heappush(self._heap, (-nxt, self._seq, key))
        if len(self._heap) > 4 * len(self._seq_of) + 64:
            self._compact()

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        self._record(key, next_access)

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        if self.bypass and self.used + size > self.capacity and self._seq_of:
            farthest = self._peek_farthest()
            if (_NEVER if next_access < 0 else next_access) >= farthest:
                return  # every resident is needed sooner: skip admission
        super()._on_insert(key, size, now, next_access, expire_at)

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self._record(key, next_access)

    def _peek_farthest(self) -> float:
        heap = self._heap
        while self._seq_of.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)  # drop stale entries on top
        return -heap[0][0]

    def _victim(self) -> Key:
        while True:
            _, seq, key = heapq.heappop(self._heap)
            if self._seq_of.get(key) == seq:
                del self._seq_of[key]
                return key

    def _remove(self, key: Key) -> None:
        del self._seq_of[key]

    def _compact(self) -> None:
        # stale entries pile up on hit-heavy traces; rebuild from the live ones
        self._heap = [e for e in self._heap if self._seq_of.get(e[2]) == e[1]]
        heapq.heapify(self._heap)
