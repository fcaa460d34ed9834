"""S3-FIFO (Yang et al., SOSP 2023): small, main and ghost FIFO queues."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, check_variant, register


@register
class S3FIFO(Policy):
    """S3-FIFO: quick demotion of one-hit wonders through a small FIFO.

    Queues: S (small FIFO, ``small_ratio`` of capacity), M (main FIFO, the
    rest), G (ghost FIFO of evicted ids, ``ghost_ratio`` of capacity, sized
    in the same unit as the cache, each id weighing its object's size, as in
    libCacheSim where G is a FIFO cache of that many bytes).  Each resident
    key has a frequency 0..3.

    * Miss: if the key is in G it leaves G and enters the head of M,
      otherwise the head of S; in both cases with ``freq = 0``.  Eviction
      (below) runs first, until the object fits.
    * Hit: ``freq = min(freq + 1, 3)``; nothing moves.
    * Eviction: from M when M holds more than its share
      (``capacity - int(capacity * small_ratio)``) or S is empty, else from
      S (libCacheSim's rule; when the cache is exactly full it equals the
      paper's "evict from S when S holds at least 10%", and it also covers an
      empty S).
    * Evicting from S: take S's tail; if ``freq >= move_to_main_threshold``
      it moves to the head of M with ``freq = 0`` and the scan goes on with
      the next tail of S; otherwise it is evicted and its id enters G.  If S
      runs empty without an eviction, eviction falls to M.  The default
      threshold 2 is the paper's Algorithm 1 rule ``freq > 1`` (also
      libCacheSim's default ``move-to-main-threshold=2``).
    * Evicting from M: take M's tail; if ``freq > 0`` it is reinserted at
      the head with ``freq - 1``, else it is evicted (a 2-bit CLOCK).
    * G is trimmed from its tail whenever it exceeds its size; an id larger
      than G is not remembered.
    * Admission (``refuse_large``, default True, as the paper's code, the
      ``S3FIFO.c`` of libCacheSim that its artifact runs): an object larger
      than S is not admitted (``S3FIFO_can_insert``; a ghost entry it had is
      consumed all the same); a miss not found in G whose size equals S's is
      refused after eviction has made room for it (``S3FIFO_insert``).  With
      unit sizes this means a cache below ``1 / small_ratio`` entries
      admits nothing.  ``refuse_large=False`` admits every object that fits.

    ``variant="libcachesim"`` adds what libCacheSim 0.3.5's ``S3FIFO.c``
    does beyond that: until the first eviction, a new key that is not a ghost
    hit goes to M once S is full (its ``S3FIFOv0`` is the version above).

    Args:
        capacity: entries or bytes.
        small_ratio: fraction of capacity for S, in [0, 1).
        ghost_ratio: ghost size as a fraction of capacity (0.9: as much as M holds).
        move_to_main_threshold: minimum hits while in S for promotion to M (>= 1).
        refuse_large: refuse objects as large as S (the paper's code); False admits them.
        variant: ``paper`` or ``libcachesim`` (see above).
        rng: unused.
    """

    name = "s3fifo"
    libcachesim_differs = "until the first eviction, new keys go to the main queue once the small queue is full"

    def __init__(
        self,
        capacity: int,
        *,
        small_ratio: float = 0.1,
        ghost_ratio: float = 0.9,
        move_to_main_threshold: int = 2,
        refuse_large: bool = True,
        variant: str = "paper",
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(capacity, rng=rng)
        if not 0.0 <= small_ratio < 1.0:
            raise PolicyError(f"s3fifo: small_ratio must be in [0, 1), got {small_ratio!r}")
        if ghost_ratio < 0.0:
            raise PolicyError(f"s3fifo: ghost_ratio must be >= 0, got {ghost_ratio!r}")
        if int(move_to_main_threshold) != move_to_main_threshold or move_to_main_threshold < 1:
            raise PolicyError(f"s3fifo: move_to_main_threshold must be an integer >= 1, got {move_to_main_threshold!r}")
        self.small_capacity = int(self.capacity * small_ratio)
        self.main_capacity = self.capacity - self.small_capacity
        self.ghost_capacity = int(self.capacity * ghost_ratio)
        self.move_to_main_threshold = int(move_to_main_threshold)
        self.refuse_large = bool(refuse_large)
        self.variant = check_variant("s3fifo", variant)
        #: libCacheSim's variant sends new keys to M while nothing was ever evicted and S is full
        self._before_first_eviction = self.variant == "libcachesim"
        # each queue maps key -> size, oldest (tail) first
        self._small: OrderedDict[Key, int] = OrderedDict()
        self._main: OrderedDict[Key, int] = OrderedDict()
        self._ghost: OrderedDict[Key, int] = OrderedDict()
        self._small_used = 0
        self._main_used = 0
        self._ghost_used = 0
        self._freq: dict[Key, int] = {}

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        f = self._freq[key]
        if f < 3:
            self._freq[key] = f + 1

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        ghost_size = self._ghost.pop(key, None)
        if ghost_size is not None:
            self._ghost_used -= ghost_size
        if self.refuse_large and size > self.small_capacity:
            return  # S3FIFO_can_insert: no eviction, the ghost entry is gone all the same
        self._evict_until_fits(size)
        if ghost_size is not None:
            self._store(key, size)
            self._freq[key] = 0
            self._main[key] = size
            self._main_used += size
            return
        if self.refuse_large and size >= self.small_capacity:
            return  # S3FIFO_insert refuses it after the evictions
        self._store(key, size)
        self._freq[key] = 0
        if self._before_first_eviction and self._small_used >= self.small_capacity:
            self._main[key] = size
            self._main_used += size
        else:
            self._small[key] = size
            self._small_used += size

    def _victim(self) -> Key:
        self._before_first_eviction = False
        if self._main_used <= self.main_capacity and self._small:
            key = self._evict_small()
            if key is not None:
                return key
        return self._evict_main()

    def _evict_small(self) -> Key | None:
        while self._small:
            key, size = self._small.popitem(last=False)
            self._small_used -= size
            if self._freq[key] >= self.move_to_main_threshold:
                self._freq[key] = 0
                self._main[key] = size
                self._main_used += size
                continue
            del self._freq[key]
            if size <= self.ghost_capacity:
                self._ghost[key] = size
                self._ghost_used += size
                while self._ghost_used > self.ghost_capacity:
                    self._ghost_used -= self._ghost.popitem(last=False)[1]
            return key
        return None

    def _evict_main(self) -> Key:
        while True:
            key, size = self._main.popitem(last=False)
            f = self._freq[key]
            if f > 0:
                self._freq[key] = f - 1
                self._main[key] = size
                continue
            self._main_used -= size
            del self._freq[key]
            return key

    def _remove(self, key: Key) -> None:
        del self._freq[key]
        size = self._small.pop(key, None)
        if size is not None:
            self._small_used -= size
        else:
            self._main_used -= self._main.pop(key)

    def _resize(self, key: Key, old: int, new: int) -> None:
        if self.variant == "libcachesim":
            return  # libCacheSim keeps the size an object had when it was admitted
        # keep the per-queue occupancy in step before the base class evicts
        if key in self._small:
            self._small[key] = new
            self._small_used += new - old
        else:
            self._main[key] = new
            self._main_used += new - old
        super()._resize(key, old, new)
