"""LIRS: Low Inter-reference Recency Set (Jiang & Zhang, SIGMETRICS 2002)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, register


@register
class LIRS(Policy):
    """LIRS with stack S, queue Q and bounded non-resident HIR entries.

    Resident keys are LIR or HIR. Stack S (recency order, bottom = oldest)
    holds every LIR key plus HIR keys (resident or not) more recent than the
    bottom LIR key; "pruning" pops HIR entries off the bottom of S until a LIR
    key is there (non-resident ones are then forgotten). Queue Q holds every
    resident HIR key; its front is the eviction end.

    Limits: ``hir = max(1, int(hir_ratio * capacity))`` units are reserved for
    resident HIR keys and LIR keys may hold ``capacity - hir`` units.

    * Hit on a LIR key: move it to the top of S; prune if it was the bottom.
    * Hit on a resident HIR key in S: it becomes LIR (top of S, out of Q); while
      the LIR keys hold more than their limit the bottom LIR key of S is demoted
      to HIR, leaves S and goes to the end of Q, and S is pruned.
    * Hit on a resident HIR key not in S: it stays HIR; it goes to the top of S
      and to the end of Q.
    * Miss: first evict until the key fits (victim below). Then, if the LIR
      keys have room for it (warm-up, or after deletions), the key becomes LIR
      at the top of S. Else, if it is a non-resident HIR entry still in S, it
      becomes LIR at the top of S with the same demotion as above. Else it
      becomes a resident HIR key at the top of S and the end of Q.
    * Victim: the key at the front of Q; if it is in S it stays there as a
      non-resident HIR entry. When Q is empty (only possible with byte sizes
      or ``capacity == 1``) the bottom LIR key of S is evicted and S pruned.
    * Non-resident HIR entries in S describe at most
      ``int(nonresident_factor * capacity)`` units; beyond that the entry that
      became non-resident longest ago is removed from S (as the Caffeine
      simulator does; the paper leaves S unbounded).

    While there is no LIR key at all (``capacity == 1``, or after deletions)
    S is kept empty, since pruning would remove any HIR entry from its bottom.

    With unit sizes these are the paper's rules. With byte sizes the LIR limit,
    the HIR reserve and the non-resident bound are all in bytes.

    Args:
        capacity: entries or bytes.
        hir_ratio: share of the capacity reserved for resident HIR keys (at
            least one unit); default 0.01, the paper's recommendation.
        nonresident_factor: bound on the non-resident HIR entries kept in S, as
            a multiple of the capacity (in capacity units); default 2.0.
        rng: unused.
    """

    name = "lirs"

    def __init__(
        self,
        capacity: int,
        *,
        hir_ratio: float = 0.01,
        nonresident_factor: float = 2.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(capacity, rng=rng)
        if not 0.0 <= hir_ratio <= 1.0:
            raise PolicyError(f"lirs: hir_ratio must be in [0, 1], got {hir_ratio!r}")
        if nonresident_factor < 0.0:
            raise PolicyError(f"lirs: nonresident_factor must be >= 0, got {nonresident_factor!r}")
        self.hir_ratio: float = float(hir_ratio)
        self.nonresident_factor: float = float(nonresident_factor)
        self.hir_limit: int = max(1, int(self.hir_ratio * self.capacity))
        self.lir_limit: int = max(0, self.capacity - self.hir_limit)
        self.nonresident_limit: int = int(self.nonresident_factor * self.capacity)
        #: recency stack, bottom (oldest) first; values unused
        self.stack: OrderedDict[Key, None] = OrderedDict()
        #: resident HIR keys -> size, front (next victim) first
        self.queue: OrderedDict[Key, int] = OrderedDict()
        #: LIR keys -> size
        self.lir: dict[Key, int] = {}
        self.lir_used: int = 0
        #: non-resident HIR entries in S -> size, oldest first
        self.nonresident: OrderedDict[Key, int] = OrderedDict()
        self.nonresident_used: int = 0

    # ------------------------------------------------------------ helpers
    def _prune(self) -> None:
        stack = self.stack
        while stack:
            bottom = next(iter(stack))
            if bottom in self.lir:
                return
            del stack[bottom]
            size = self.nonresident.pop(bottom, None)
            if size is not None:
                self.nonresident_used -= size

    def _demote_overflow(self) -> None:
        # the bottom of a pruned S is always a LIR key while any LIR key exists
        while self.lir_used > self.lir_limit:
            bottom = next(iter(self.stack))
            del self.stack[bottom]
            size = self.lir.pop(bottom)
            self.lir_used -= size
            self.queue[bottom] = size
            self._prune()

    def _make_lir(self, key: Key, size: int) -> None:
        self.lir[key] = size
        self.lir_used += size

    # -------------------------------------------------------------- hooks
    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        stack = self.stack
        if key in self.lir:
            was_bottom = next(iter(stack)) == key
            stack.move_to_end(key)
            if was_bottom:
                self._prune()
        elif key in stack:
            stack.move_to_end(key)
            self._make_lir(key, self.queue.pop(key))
            self._demote_overflow()
        else:
            stack[key] = None
            self.queue.move_to_end(key)
            if not self.lir:
                # no LIR key to sit at the bottom: S holds nothing (capacity 1, deletions)
                self._prune()

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        # out of the non-resident bound's reach: this entry is being reused now
        ghost = self.nonresident.pop(key, None)
        if ghost is not None:
            self.nonresident_used -= ghost
        while self.used + size > self.capacity:
            self._drop(self._victim())
        self._store(key, size)
        stack = self.stack
        if self.lir_used + size <= self.lir_limit:
            stack[key] = None
            stack.move_to_end(key)
            self._make_lir(key, size)
        elif key in stack:
            stack.move_to_end(key)
            self._make_lir(key, size)
            self._demote_overflow()
        else:
            stack[key] = None
            self.queue[key] = size
            if not self.lir:
                self._prune()

    def _victim(self) -> Key:
        if self.queue:
            key, size = self.queue.popitem(last=False)
            if key in self.stack:
                self.nonresident[key] = size
                self.nonresident_used += size
                while self.nonresident_used > self.nonresident_limit:
                    old, old_size = self.nonresident.popitem(last=False)
                    self.nonresident_used -= old_size
                    del self.stack[old]
            return key
        key = next(iter(self.stack))
        del self.stack[key]
        self.lir_used -= self.lir.pop(key)
        self._prune()
        return key

    def _remove(self, key: Key) -> None:
        if key in self.lir:
            was_bottom = next(iter(self.stack)) == key
            del self.stack[key]
            self.lir_used -= self.lir.pop(key)
            if was_bottom:
                self._prune()
        else:
            del self.queue[key]
            self.stack.pop(key, None)

    def _resize(self, key: Key, old: int, new: int) -> None:
        if key in self.lir:
            self.lir[key] = new
            self.lir_used += new - old
        else:
            self.queue[key] = new
        super()._resize(key, old, new)
