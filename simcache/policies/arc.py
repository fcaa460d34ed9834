"""ARC: Adaptive Replacement Cache (Megiddo & Modha, FAST 2003)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, check_variant, register


@register
class ARC(Policy):
    """ARC exactly as in Fig. 4 of the paper, with list sizes in capacity units.

    Lists (each LRU first): T1 (resident, seen once recently), T2 (resident,
    seen at least twice), B1/B2 (ghost ids evicted from T1/T2). ``p`` is the
    adaptive target size of T1, in [0, capacity]; it starts at 0.

    * Hit in T1 or T2: the key moves to the MRU end of T2.
    * Miss, key in B1: ``p = min(p + d, c)`` with ``d = s`` if ``|B1| >= |B2|``
      else ``s * |B2| / |B1|``; REPLACE until the key fits; key to T2 MRU.
    * Miss, key in B2: ``p = max(p - d, 0)`` with ``d = s`` if ``|B2| >= |B1|``
      else ``s * |B1| / |B2|``; REPLACE (with the "x in B2" tie rule) until the
      key fits; key to T2 MRU.
    * Miss, key in no list: if ``|T1| + |B1| + s > c`` (case A) drop B1's LRU
      ids until ``|T1| + |B1| + s <= c``, then, while ``|T1| + s > c``, evict
      T1's LRU key without a ghost; otherwise (case B) drop B2's LRU ids while
      ``|T1| + |T2| + |B1| + |B2| + s > 2c``. Then REPLACE until the key fits;
      key to T1 MRU.
    * REPLACE: if T1 is non-empty and (``|T1| > p``, or the request is in B2
      and ``|T1| == p``, or T2 is empty), T1's LRU key is evicted and its id goes
      to B1's MRU end; otherwise T2's LRU key is evicted to B2.

    Here ``c`` is the capacity, ``s`` the request's size and ``|X|`` the sum of
    the sizes in list X (a ghost keeps the size its key had when evicted).
    With unit sizes this is literally the paper's algorithm (its single
    REPLACE happens exactly when the cache is full; ``d`` is 1 or the list
    ratio). With byte sizes p, the lists and the deltas are all measured in
    bytes, REPLACE repeats until the object fits, and the ghosts never
    describe more than ``2c`` units in total (B2, then B1, is trimmed after a
    request if needed; with unit sizes that never triggers).

    ``variant="libcachesim"`` is libCacheSim's ``ARC.c``, the same with unit
    sizes; with byte sizes: a ghost hit moves ``p`` by ``max(|B2| / |B1|, 1)``
    (``max(|B1| / |B2|, 1)``), not scaled by the size; a miss in no list does
    its case A/B only while the cache must evict, once per eviction (case A:
    drop one B1 id and REPLACE if B1 is not empty, else evict T1's LRU key
    without a ghost; case B: drop one B2 id when the directory holds at least
    2c, then REPLACE); the ghosts are not trimmed otherwise, and a hit never
    changes an object's size.

    Args:
        capacity: entries or bytes.
        variant: ``paper`` or ``libcachesim`` (above).
        rng: unused.
    """

    name = "arc"
    libcachesim_differs = ("bytes only: ghost hits move p by the list ratio (not times the size); "
                           "case A/B run once per eviction; no ghost trimming")

    def __init__(self, capacity: int, *, variant: str = "paper", rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        self.variant = check_variant("arc", variant)
        self._lcs = self.variant == "libcachesim"
        self.p: float = 0.0
        self.t1: OrderedDict[Key, int] = OrderedDict()
        self.t2: OrderedDict[Key, int] = OrderedDict()
        self.b1: OrderedDict[Key, int] = OrderedDict()
        self.b2: OrderedDict[Key, int] = OrderedDict()
        self.t1_used = self.t2_used = self.b1_used = self.b2_used = 0

    # ------------------------------------------------------------ helpers
    def _replace(self, in_b2: bool) -> Key:
        """Evict one resident key to its ghost list (the paper's REPLACE) and return it."""
        if self.t1 and (self.t1_used > self.p or (in_b2 and self.t1_used == self.p) or not self.t2):
            key, size = self.t1.popitem(last=False)
            self.t1_used -= size
            self.b1[key] = size
            self.b1_used += size
        else:
            key, size = self.t2.popitem(last=False)
            self.t2_used -= size
            self.b2[key] = size
            self.b2_used += size
        return key

    def _trim_ghosts(self) -> None:
        limit = 2 * self.capacity
        while self.t1_used + self.t2_used + self.b1_used + self.b2_used > limit and (self.b1 or self.b2):
            if self.b2:
                self.b2_used -= self.b2.popitem(last=False)[1]
            else:
                self.b1_used -= self.b1.popitem(last=False)[1]

    # -------------------------------------------------------------- hooks
    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        if key in self.t2:
            self.t2.move_to_end(key)
            return
        size = self.t1.pop(key)
        self.t1_used -= size
        self.t2[key] = size
        self.t2_used += size

    def _insert_libcachesim(self, key: Key, size: int) -> None:
        c = self.capacity
        if key in self.b1:
            self.p = min(self.p + max(self.b2_used / self.b1_used, 1.0), c)
            self.b1_used -= self.b1.pop(key)
            while self.used + size > c:
                self._drop(self._replace(False))
            target = self.t2
        elif key in self.b2:
            self.p = max(self.p - max(self.b1_used / self.b2_used, 1.0), 0.0)
            self.b2_used -= self.b2.pop(key)
            while self.used + size > c:
                self._drop(self._replace(True))
            target = self.t2
        else:
            while self.used + size > c:  # _ARC_evict_miss_on_all_queues, once per eviction
                if self.t1_used + self.b1_used + size > c:
                    if self.b1_used > 0:
                        self.b1_used -= self.b1.popitem(last=False)[1]
                        self._drop(self._replace(False))
                    else:
                        victim, vsize = self.t1.popitem(last=False)
                        self.t1_used -= vsize
                        self._drop(victim)
                else:
                    if self.t1_used + self.b1_used + self.t2_used + self.b2_used >= 2 * c and self.b2_used > 0:
                        self.b2_used -= self.b2.popitem(last=False)[1]
                    self._drop(self._replace(False))
            target = self.t1
        self._store(key, size)
        target[key] = size
        if target is self.t1:
            self.t1_used += size
        else:
            self.t2_used += size

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        if self._lcs:
            self._insert_libcachesim(key, size)
            return
        c = self.capacity
        if key in self.b1:
            # B1 ghost hit: recency is paying off, grow T1's target
            if self.b1_used >= self.b2_used:
                self.p = min(self.p + size, c)
            else:
                self.p = c if self.b1_used == 0 else min(self.p + size * self.b2_used / self.b1_used, c)
            self.b1_used -= self.b1.pop(key)
            while self.used + size > c:
                self._drop(self._replace(False))
            target = self.t2
        elif key in self.b2:
            # B2 ghost hit: frequency is paying off, shrink T1's target
            if self.b2_used >= self.b1_used:
                self.p = max(self.p - size, 0.0)
            else:
                self.p = 0.0 if self.b2_used == 0 else max(self.p - size * self.b1_used / self.b2_used, 0.0)
            self.b2_used -= self.b2.pop(key)
            while self.used + size > c:
                self._drop(self._replace(True))
            target = self.t2
        else:
            if self.t1_used + self.b1_used + size > c:
                # case A: L1 = T1 + B1 would exceed c
                while self.b1 and self.t1_used + self.b1_used + size > c:
                    self.b1_used -= self.b1.popitem(last=False)[1]
                while self.t1_used + size > c:
                    victim, vsize = self.t1.popitem(last=False)
                    self.t1_used -= vsize
                    self._drop(victim)
            else:
                # case B: keep the whole directory within 2c
                while self.b2 and self.t1_used + self.t2_used + self.b1_used + self.b2_used + size > 2 * c:
                    self.b2_used -= self.b2.popitem(last=False)[1]
            while self.used + size > c:
                self._drop(self._replace(False))
            target = self.t1
        self._store(key, size)
        target[key] = size
        if target is self.t1:
            self.t1_used += size
        else:
            self.t2_used += size
        self._trim_ghosts()

    def _victim(self) -> Key:
        key = self._replace(False)
        self._trim_ghosts()
        return key

    def _remove(self, key: Key) -> None:
        if key in self.t1:
            self.t1_used -= self.t1.pop(key)
        else:
            self.t2_used -= self.t2.pop(key)

    def _resize(self, key: Key, old: int, new: int) -> None:
        if self._lcs:
            return  # libCacheSim keeps the size an object had when it was admitted
        if key in self.t1:
            self.t1[key] = new
            self.t1_used += new - old
        else:
            self.t2[key] = new
            self.t2_used += new - old
        super()._resize(key, old, new)
        self._trim_ghosts()
