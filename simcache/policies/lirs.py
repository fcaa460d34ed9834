"""LIRS: Low Inter-reference Recency Set (Jiang & Zhang, SIGMETRICS 2002)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, check_variant, register


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
    the HIR reserve and the non-resident bound are all in bytes, and a hit
    that grows a LIR key demotes the LIR overflow at once (as a promotion
    does), before evicting from Q until the cache fits.

    Args:
        capacity: entries or bytes.
        hir_ratio: share of the capacity reserved for resident HIR keys (at
            least one unit); default 0.01, the paper's recommendation.
        nonresident_factor: bound on the non-resident HIR entries kept in S, as
            a multiple of the capacity (in capacity units); default 2.0.
        variant: ``paper``, or ``libcachesim`` for libCacheSim 0.3.5's ``LIRS.c``
            (see :class:`LibCacheSimLIRS`; ``nonresident_factor`` is then unused).
        rng: unused.
    """

    name = "lirs"
    libcachesim_differs = ("the whole stack S is capped at twice the cache; a hit on a resident HIR key "
                           "not in S demotes LIR keys; objects larger than the HIR share are not admitted")

    def __init__(
        self,
        capacity: int,
        *,
        hir_ratio: float = 0.01,
        nonresident_factor: float = 2.0,
        variant: str = "paper",
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
        self.variant = check_variant("lirs", variant)
        self._lcs: LibCacheSimLIRS | None = LibCacheSimLIRS(self) if self.variant == "libcachesim" else None

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
        if self._lcs is not None:
            self._lcs.hit(key)
            return
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
        if self._lcs is not None:
            self._lcs.miss(key, size)
            return
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
        if self._lcs is not None:
            raise NotImplementedError("libCacheSim's LIRS evicts inside its own request steps")
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
        if self._lcs is not None:
            self._lcs.remove(key)
            return
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
        if self._lcs is not None:
            return  # libCacheSim keeps the size an object had when it was admitted
        if key in self.lir:
            self.lir[key] = new
            self.lir_used += new - old
            if new <= self.capacity:
                # a LIR key that grew takes the HIR share's room: demote the overflow now, as a
                # promotion would (a scan never promotes, so waiting would leave the split wrong)
                self._demote_overflow()
        else:
            self.queue[key] = new
        super()._resize(key, old, new)


class LibCacheSimLIRS:
    """libCacheSim 0.3.5's ``LIRS.c``, step for step, as the state behind ``LIRS(variant="libcachesim")``.

    S, Q and NH are LRU lists (``LRU_s``, ``LRU_q``, ``LRU_nh``; here ordered dicts, oldest first).
    S holds LIR, resident HIR and non-resident HIR entries, each with the size it had when it entered S;
    Q the resident HIR keys; NH the non-resident HIR entries of S in the order they left the cache.
    Where it differs from the paper version:

    * ``limitStack`` (after every request): while all of S weighs more than twice the cache, the oldest
      NH entry leaves S and NH (the paper version bounds the non-resident entries alone);
    * a hit on a resident HIR key that is not in S (``hit_RD_HIRinQ``) demotes LIR keys while the LIR
      total plus its size exceeds the LIR limit, then enters S as resident HIR;
    * a new object larger than the HIR limit (or the LIR limit) is not admitted (``LIRS_can_insert``);
    * demoting (``evictLIR``) an object larger than the HIR limit evicts it; pruning never removes
      the top of S; a hit never changes an object's size (libCacheSim ignores size changes).

    Residency is libCacheSim's: a key is resident when ``LIRS_find`` would call it a hit (a LIR or
    resident-HIR entry of S, or an entry of Q), and the occupancy is its ``occupied_byte`` counter,
    kept by the same additions and subtractions.  When ``hit_RD_HIRinQ`` demotes a LIR key whose
    room in Q costs the hit key its own entry of Q, the key re-enters S flagged resident without
    being counted, as libCacheSim does (its next hit counts it again); and libCacheSim's demotion
    loop then goes on reading the size through its pointer to the freed entry.  glibc hands freed
    blocks of one size back last-in first-out and leaves that field alone, so the loop reads the size
    of whichever entry was allocated into the block since; :meth:`_freed` and :meth:`_allocated`
    follow that block through the loop's frees and allocations (all entries are one ``cache_obj_t``).

    Args:
        policy: the :class:`LIRS` whose ``sizes``/``used`` and eviction reporting this state drives.
    """

    def __init__(self, policy: LIRS) -> None:
        self.p = policy
        self.hirs_limit = max(1, int(policy.hir_ratio * policy.capacity))
        self.lirs_limit = policy.capacity - self.hirs_limit
        self.s: OrderedDict[Key, int] = OrderedDict()  # key -> size when it entered S
        self.s_used = 0
        self.lir: set[Key] = set()
        self.nonres: set[Key] = set()  # HIR entries of S that are not in the cache (in_cache false)
        self.q: OrderedDict[Key, int] = OrderedDict()
        self.nh: OrderedDict[Key, int] = OrderedDict()
        self.lirs_count = 0
        self.hirs_count = 0
        self.nonresident = 0
        # hit_RD_HIRinQ's dangling pointer: the hit key's Q entry, its block's depth in the free list
        # (None while allocated), and the entry now in the block
        self._watch: tuple[str, Key] | None = None
        self._depth: int | None = None
        self._block_size = 0

    # ------------------------------------------------- the freed Q entry
    def _freed(self, where: str, key: Key) -> None:
        if self._watch is None:
            return
        if self._depth is not None:
            self._depth += 1
        elif (where, key) == self._watch:
            self._depth = 0

    def _allocated(self, where: str, key: Key, size: int) -> None:
        if self._watch is None or self._depth is None:
            return
        if self._depth == 0:
            self._watch = (where, key)
            self._depth = None
            self._block_size = size
        else:
            self._depth -= 1

    # -------------------------------------------------------------- state
    def resident(self, key: Key) -> bool:
        """What ``LIRS_find`` answers: a LIR or in-cache HIR entry of S, or an entry of Q."""
        if key in self.s:
            return key not in self.nonres
        return key in self.q

    def _size_of(self, key: Key) -> int:
        size = self.s.get(key)
        return self.q[key] if size is None else size

    def _sync(self, key: Key, size: int) -> None:
        # the policy's resident set follows libCacheSim's; a key that stops being resident was evicted
        p = self.p
        if self.resident(key):
            p.sizes[key] = size
        elif key in p.sizes:
            del p.sizes[key]
            if p.on_evict is not None:
                p.on_evict(key, size)

    def _s_add(self, key: Key, size: int) -> None:
        self.s[key] = size
        self.s_used += size
        self._allocated("s", key, size)

    def _s_del(self, key: Key) -> int:
        size = self.s.pop(key)
        self.s_used -= size
        self.lir.discard(key)
        self.nonres.discard(key)
        self._freed("s", key)
        return size

    def _nh_del(self, key: Key) -> int:
        size = self.nh.pop(key)
        self._freed("nh", key)
        return size

    def _prune(self) -> None:
        # LIRS_prune: pop non-LIR entries off S's tail, never its head
        while len(self.s) > 1:
            key = next(iter(self.s))
            if key in self.lir:
                break
            if key in self.nonres and key in self.nh:
                self.nonresident -= self._nh_del(key)
            size = self._s_del(key)
            self._sync(key, size)

    def _evict_hir(self) -> None:
        key, size = self.q.popitem(last=False)
        self._freed("q", key)
        self.hirs_count -= size
        if key in self.s:
            self.nonres.add(key)
            self.nh[key] = size
            self._allocated("nh", key, size)
            self.nonresident += self.s[key]
        self.p.used -= size
        self._sync(key, size)

    def _evict_lir(self) -> None:
        # evictLIR: S's tail is demoted into Q (evicting HIR keys for room), or evicted if larger than Q
        if not self.s:
            return
        key = next(iter(self.s))
        size = self.s[key]
        self.lirs_count -= size
        self._s_del(key)
        self.p.used -= size
        if size <= self.hirs_limit:
            while self.hirs_count + size > self.hirs_limit and self.q:
                self._evict_hir()
            self.q[key] = size
            self._allocated("q", key, size)
            self.hirs_count += size
            self.p.used += size
        self._sync(key, size)
        self._prune()

    def _limit_stack(self) -> None:
        while self.s_used > 2 * self.p.capacity and self.nh:
            key = next(iter(self.nh))
            size = self._nh_del(key)
            self.nonresident -= size
            if key in self.s:
                self._sync(key, self._s_del(key))

    # ------------------------------------------------------------ requests
    def hit(self, key: Key) -> None:
        in_s = key in self.s
        if in_s:
            self.s.move_to_end(key)
        if key in self.q:
            self.q.move_to_end(key)
        if in_s and key in self.lir:
            self._prune()
        elif in_s:  # hit_RD_HIRinS
            size = self.s[key]
            if key in self.q:
                qsize = self.q.pop(key)
                self.hirs_count -= qsize
                self.p.used -= qsize
            while self.lirs_count + size > self.lirs_limit and self.s:
                self._evict_lir()
            if key in self.s:
                self.lir.add(key)
                self.lirs_count += size
                self.p.used += size
            self._sync(key, size)
        else:  # hit_RD_HIRinQ
            size = self.q[key]
            self._watch, self._depth, self._block_size = ("q", key), None, size
            while self.lirs_count + self._block_size > self.lirs_limit and self.s:
                self._evict_lir()
            self._watch = None
            self._s_add(key, size)  # resident HIR in S, even if the demotions just pushed it out of Q
            self._sync(key, size)
        self._limit_stack()

    def miss(self, key: Key, size: int) -> None:
        p = self.p
        if key in self.s:
            self.s.move_to_end(key)
            old = self.s[key]
            while self.lirs_count + old > self.lirs_limit and self.s:
                self._evict_lir()
            if key in self.nh:
                self.nonresident -= self._nh_del(key)
        else:
            if size > self.lirs_limit or size > self.hirs_limit:
                self._limit_stack()
                return
            if self.lirs_count + size > self.lirs_limit and self.hirs_count + size > self.hirs_limit:
                while self.hirs_count + size > self.hirs_limit and self.q:
                    self._evict_hir()
        while p.used + size > p.capacity:  # cache_get_base's loop over LIRS_evict
            if key in self.s:
                while self.hirs_count >= self.hirs_limit and self.q:
                    self._evict_hir()
                self._evict_lir()
            elif (self.lirs_count + size > self.lirs_limit and self.hirs_count + size > self.hirs_limit
                  and self.q):
                self._evict_hir()
            else:
                break  # libCacheSim would loop here forever; unreachable with its own accounting
        if key in self.s:
            old = self.s[key]
            self.nonres.discard(key)
            self.lir.add(key)
            self.lirs_count += old
            p.used += old
            self._sync(key, old)
        else:
            self._s_add(key, size)
            if self.lirs_count + size <= self.lirs_limit:
                self.lir.add(key)
                self.lirs_count += size
            else:
                self.q[key] = size
                self.hirs_count += size
            p.used += size
            self._sync(key, size)
        self._limit_stack()

    def remove(self, key: Key) -> None:
        """LIRS_remove of a resident key (the policy already dropped it from ``sizes`` and ``used``)."""
        if key in self.lir:
            self.lirs_count -= self._s_del(key)
            self._prune()
            return
        if key in self.s:
            self._s_del(key)
        if key in self.q:
            self.hirs_count -= self.q.pop(key)
