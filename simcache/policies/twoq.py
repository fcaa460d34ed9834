"""2Q (Johnson & Shasha, VLDB 1994), the full version with A1in, A1out and Am."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, check_variant, register


@register
class TwoQ(Policy):
    """Full 2Q: a FIFO A1in for first references, a ghost FIFO A1out, an LRU Am.

    Miss on a key not in A1out: the key enters the tail of A1in. Miss on a key
    in A1out (it was referenced before, in A1in, and is not resident): its id
    leaves A1out and the key enters the MRU end of Am. Hit in Am: move to the
    MRU end. Hit in A1in: nothing changes (a correlated re-reference does not
    make a key hot). Making room ("reclaimfor") evicts, until the new key
    fits: if A1in holds more than ``Kin`` units (or Am is empty), the head of
    A1in, whose id is appended to A1out (A1out then drops its oldest ids while
    it records more than ``Kout`` units); otherwise the LRU key of Am, which
    leaves no ghost.

    ``Kin = int(kin * capacity)`` and ``Kout = int(kout * capacity)``. A1out
    holds only identifiers; each counts with the size the key had when it
    left A1in, so with unit sizes Kout is a number of entries (as in the
    paper) and with byte sizes it bounds the bytes the remembered ids stand
    for (as libCacheSim's TwoQ does).

    Args:
        capacity: entries or bytes.
        kin: A1in target as a share of capacity; default 0.25.
        kout: A1out bound as a share of capacity; default 0.5.
        variant: ``paper``, or ``libcachesim`` for libCacheSim's ``TwoQ.c``, the same with unit sizes;
            with byte sizes an object larger than Kin is not admitted (its A1out id is consumed), an
            id larger than Kout is not remembered, Am is an LRU of its own of ``capacity - Kin`` units
            (a key entering it evicts Am's LRU keys until it fits there), and a hit never changes an
            object's size.
        rng: unused.
    """

    name = "2q"
    libcachesim_differs = ("bytes only: objects larger than Kin refused, ids larger than Kout not remembered, "
                           "Am bounded by capacity - Kin")

    def __init__(
        self, capacity: int, *, kin: float = 0.25, kout: float = 0.5, variant: str = "paper",
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(capacity, rng=rng)
        self.variant = check_variant("2q", variant)
        self._lcs = self.variant == "libcachesim"
        if not 0.0 <= kin <= 1.0:
            raise PolicyError(f"2q: kin must be in [0, 1], got {kin!r}")
        if kout < 0.0:
            raise PolicyError(f"2q: kout must be >= 0, got {kout!r}")
        self.kin: float = float(kin)
        self.kout: float = float(kout)
        self.kin_units: int = int(self.kin * self.capacity)
        self.kout_units: int = int(self.kout * self.capacity)
        # key -> size; A1in and A1out oldest first, Am LRU first
        self.a1in: OrderedDict[Key, int] = OrderedDict()
        self.a1out: OrderedDict[Key, int] = OrderedDict()
        self.am: OrderedDict[Key, int] = OrderedDict()
        self.a1in_used: int = 0
        self.a1out_used: int = 0

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        if key in self.am:
            self.am.move_to_end(key)

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        ghost = self.a1out.pop(key, None)
        if ghost is not None:
            self.a1out_used -= ghost
        if self._lcs and size > self.kin_units:
            return  # TwoQ_can_insert, after TwoQ_find consumed the ghost
        while self.used + size > self.capacity:
            self._drop(self._victim())
        if ghost is not None and self._lcs:
            # Am->get: Am is an LRU cache of capacity - Kin units
            am_cap = self.capacity - self.kin_units
            if size > am_cap:
                return
            while self.am and self.used - self.a1in_used + size > am_cap:
                self._drop(self.am.popitem(last=False)[0])
        self._store(key, size)
        if ghost is not None:
            self.am[key] = size
        else:
            self.a1in[key] = size
            self.a1in_used += size

    def _victim(self) -> Key:
        if self.a1in and (self.a1in_used > self.kin_units or not self.am):
            key, size = self.a1in.popitem(last=False)
            self.a1in_used -= size
            if self._lcs and size > self.kout_units:
                return key  # Aout's FIFO cannot hold it
            self.a1out[key] = size
            self.a1out_used += size
            while self.a1out_used > self.kout_units:
                self.a1out_used -= self.a1out.popitem(last=False)[1]
            return key
        return self.am.popitem(last=False)[0]

    def _remove(self, key: Key) -> None:
        if key in self.am:
            del self.am[key]
        else:
            self.a1in_used -= self.a1in.pop(key)

    def _resize(self, key: Key, old: int, new: int) -> None:
        if self._lcs:
            return  # libCacheSim keeps the size an object had when it was admitted
        if key in self.am:
            self.am[key] = new
        else:
            self.a1in[key] = new
            self.a1in_used += new - old
        super()._resize(key, old, new)
