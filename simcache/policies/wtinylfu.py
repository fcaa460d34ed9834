"""W-TinyLFU (Einziger, Friedman & Manes, TOS 2017; Caffeine): window LRU + TinyLFU-admitted SLRU."""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, check_variant, register
from simcache.policies.slru import SegmentedLRU

_M64 = (1 << 64) - 1
_MAX_WIDTH = 1 << 22  # 4 rows x 4M one-byte counters: 16 MiB at most


def mix64(x: int) -> int:
    """SplitMix64's finaliser: a bijective 64-bit integer mix."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def key_hash64(key: Key) -> int:
    """A process-independent 64-bit hash: integers as themselves, other keys by the blake2b of their repr."""
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        return int(key) & _M64
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "little")


_P1, _P2, _P3, _P4, _P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                           0x27D4EB2F165667C5)
#: libCacheSim's HASH_SEED0 and HASH_SEED1 (``dataStructure/hash/hash.h``)
CBF_SEEDS = (0x12345678, 0x12344321)


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def xxh64_u64(value: int, seed: int) -> int:
    """XXH64 of the 8 little-endian bytes of ``value`` (an object id), as libCacheSim hashes ids."""
    h = (seed + _P5 + 8) & _M64
    k = (_rotl64((value & _M64) * _P2 & _M64, 31) * _P1) & _M64
    h ^= k
    h = (_rotl64(h, 27) * _P1 + _P4) & _M64
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    return h ^ (h >> 32)


def cbf_shape(entries: int, error: float = 0.001) -> tuple[int, int]:
    """``minimalIncrementCBF_init``: (hash functions, counters) for ``entries`` at false-positive ``error``."""
    bpe = -math.log(error) / 0.480453013918201
    hashes = int(math.ceil(0.693147180559945 * bpe))
    counters = int(min(math.ceil(bpe * entries), 2**31 - 1))
    return hashes, max(counters, 2 * hashes) if counters < hashes else counters


class MinimalIncrementCBF:
    """libCacheSim's ``minimalIncrementCBF`` as W-TinyLFU uses it: unbounded counters, every counter incremented.

    A key's counters are ``(a + i * b) mod counters`` for ``i < hashes`` in 32-bit unsigned arithmetic,
    ``a`` and ``b`` the low 32 bits of XXH64 of its id under the two seeds; the estimate is their minimum;
    ``add`` increments all of them; ``decay`` halves every counter.
    """

    def __init__(self, entries: int) -> None:
        self.hashes, self.n = cbf_shape(entries)
        self.counters = np.zeros(self.n, dtype=np.uint32)

    def _slots(self, key_id: int) -> list[int]:
        a = xxh64_u64(key_id, CBF_SEEDS[0]) & 0xFFFFFFFF
        b = xxh64_u64(key_id, CBF_SEEDS[1]) & 0xFFFFFFFF
        return [((a + i * b) & 0xFFFFFFFF) % self.n for i in range(self.hashes)]

    def estimate(self, key_id: int) -> int:
        c = self.counters
        return int(min(c[j] for j in self._slots(key_id)))

    def add(self, key_id: int) -> None:
        c = self.counters
        for j in self._slots(key_id):
            c[j] += 1

    def decay(self) -> None:
        self.counters >>= 1


class LibCacheSimWTinyLFU:
    """libCacheSim 0.3.5's ``WTinyLFU.c`` (with its default SLRU main area), as the state behind the variant.

    * Window: an LRU of ``int(capacity * window_ratio)`` units; main: :class:`SegmentedLRU` of the rest,
      segments ``int(0.2 * main)`` and ``int(0.8 * main)`` (``seg-size=1:4``).
    * Admission (``WTinyLFU_can_insert``): an object larger than the window or than main's lowest
      segment is not admitted (so a window of 0 admits nothing).
    * Frequencies: a :class:`MinimalIncrementCBF` for ``main`` entries, fed by every miss, every main
      hit and every key leaving the window; halved after each ``32 * main`` main hits.
    * A miss evicts (``WTinyLFU_evict``) until the cache fits the object, then enters the window's head.
      One eviction step takes the window's tail: it moves to main if main has room (and the step goes on
      with the next window tail); else it is compared with main's victim (one comparison per step): if
      strictly more frequent, main's victim is evicted and the candidate moves to main, else the
      candidate is evicted.  With an empty window, main's victim goes.
    * A hit in the window moves the key to its head; in main it is ``SegmentedLRU.hit`` (whose cooling
      may evict).  Sizes never change on a hit (libCacheSim ignores it).

    Args:
        policy: the :class:`WTinyLFU` whose ``sizes``/``used`` and eviction reporting this state drives.
        window_ratio: the window's share.
    """

    def __init__(self, policy: WTinyLFU, window_ratio: float) -> None:
        self.p = policy
        self.window_capacity = int(policy.capacity * window_ratio)
        main = policy.capacity - self.window_capacity
        self.main = SegmentedLRU([int(1.0 / 5.0 * main), int(4.0 / 5.0 * main)], main, policy._drop)  # noqa: SLF001
        self.window: OrderedDict[Key, int] = OrderedDict()
        self.window_used = 0
        self.cbf = MinimalIncrementCBF(main)
        self.max_request_num = 32 * main
        self.request_counter = 0

    def can_insert(self, size: int) -> bool:
        return size <= self.window_capacity and size <= self.main.capacity and size <= self.main.caps[0]

    def hit(self, key: Key) -> None:
        if key in self.window:
            self.window.move_to_end(key)
            return
        self.main.hit(key)
        self.cbf.add(key_hash64(key))
        self.request_counter += 1
        if self.request_counter >= self.max_request_num:
            self.request_counter = 0
            self.cbf.decay()

    def _evict(self) -> None:
        main = self.main
        while True:
            if not self.window:
                main.evict()
                return
            cand, csize = next(iter(self.window.items()))
            cid = key_hash64(cand)
            done = False
            if main.used + csize <= main.capacity:
                main.insert(cand, csize)
                self._window_take(cand)
            elif self.cbf.estimate(cid) > self.cbf.estimate(key_hash64(main.victim())):
                main.evict()
                self._window_take(cand)
                main.insert(cand, csize)
                done = True
            else:
                self._window_take(cand)
                self.p._drop(cand)  # noqa: SLF001
                done = True
            self.cbf.add(cid)
            if done:
                return

    def _window_take(self, key: Key) -> None:
        self.window_used -= self.window.pop(key)

    def miss(self, key: Key, size: int) -> None:
        p = self.p
        if not self.can_insert(size):
            return
        while p.used + size > p.capacity:
            self._evict()
        self.window[key] = size
        self.window_used += size
        p._store(key, size)  # noqa: SLF001
        self.cbf.add(key_hash64(key))

    def remove(self, key: Key) -> None:
        if key in self.window:
            self._window_take(key)
        else:
            self.main.take(key)


def sketch_width(entries: int, factor: float) -> int:
    """Sketch row width for ``entries``: next power of two >= ceil(entries * factor), clamped to [16, 2**22]."""
    want = max(16, int(np.ceil(entries * factor)))
    return min(_MAX_WIDTH, 1 << (want - 1).bit_length())


class FrequencySketch:
    """A count-min sketch of 4-bit counters with periodic halving and an optional doorkeeper.

    Row ``i`` indexes counter ``mix64(h ^ seed[i]) & (width - 1)`` for the
    key hash ``h``.  ``increment`` adds one to every row's counter below 15;
    ``estimate`` is the minimum over rows (plus one when the doorkeeper holds
    the key).  After ``sample_size`` increments every counter is halved
    (floor), the doorkeeper is cleared, and the increment count halves too.
    With the doorkeeper, a key's first sighting since the last reset only
    sets its doorkeeper bits (two bits from the hash of seed 4); later ones
    reach the counters.

    Args:
        width: counters per row (a power of two).
        sample_size: increments between two halvings.
        seeds: five 64-bit seeds (four rows and the doorkeeper).
        doorkeeper: use the doorkeeper.
    """

    def __init__(self, width: int, sample_size: int, seeds: list[int], doorkeeper: bool) -> None:
        self.width = width
        self.mask = width - 1
        self.sample_size = max(1, sample_size)
        self.seeds = seeds
        # bytearrays index fast from Python; the numpy view halves them in one call
        self.rows = [bytearray(width) for _ in range(4)]
        self._views = [np.frombuffer(r, dtype=np.uint8) for r in self.rows]
        self.doorkeeper = doorkeeper
        self.dk_bits = 8 * width
        self.dk = bytearray(self.dk_bits if doorkeeper else 0)
        self.additions = 0

    def _indexes(self, h: int) -> list[int]:
        return [mix64(h ^ s) & self.mask for s in self.seeds[:4]]

    def _dk_indexes(self, h: int) -> tuple[int, int]:
        d = mix64(h ^ self.seeds[4])
        return (d & (self.dk_bits - 1), (d >> 32) & (self.dk_bits - 1))

    def estimate(self, h: int) -> int:
        """Estimated frequency of the key with hash ``h``."""
        rows = self.rows
        est = min(rows[i][j] for i, j in enumerate(self._indexes(h)))
        if self.doorkeeper:
            a, b = self._dk_indexes(h)
            if self.dk[a] and self.dk[b]:
                est += 1
        return est

    def increment(self, h: int) -> None:
        """Record one access of the key with hash ``h``."""
        if self.doorkeeper:
            a, b = self._dk_indexes(h)
            if not (self.dk[a] and self.dk[b]):
                self.dk[a] = 1
                self.dk[b] = 1
                self._count()
                return
        rows = self.rows
        for i, j in enumerate(self._indexes(h)):
            if rows[i][j] < 15:
                rows[i][j] += 1
        self._count()

    def _count(self) -> None:
        self.additions += 1
        if self.additions >= self.sample_size:
            for v in self._views:
                v >>= 1
            if self.doorkeeper:
                self.dk[:] = bytes(self.dk_bits)
            self.additions //= 2


@register
class WTinyLFU(Policy):
    """W-TinyLFU: a small LRU window in front of an SLRU main area guarded by TinyLFU.

    Sizes (in capacity units): window ``max(1, int(capacity * window_ratio))``;
    main = the rest, of which protected ``int(main * protected_ratio)``;
    probation is whatever main holds outside protected.

    * Every access (hit or miss) first records the key in the sketch.
    * Miss: the key enters the window's MRU end.  Then, while the window holds
      more than its size, its LRU key is the *candidate*: if main has room
      for it, it enters probation's MRU end; otherwise it is compared with
      main's *victim* (probation's LRU key, or protected's LRU key when
      probation is empty).  The candidate enters probation only if its
      estimated frequency is strictly greater than the victim's; then main's
      victims (probation LRU first, then protected LRU) are evicted until it
      fits.  Otherwise the candidate is evicted (it may be the new key itself).
      A candidate larger than main is always evicted.
    * Hit in the window: move to the window's MRU end.  Hit in probation:
      move to protected's MRU end, then demote protected's LRU keys to
      probation's MRU end while protected exceeds its size.  Hit in
      protected: move to its MRU end.
    * ``_victim`` (used when a hit grows an object): probation LRU, else
      protected LRU, else window LRU.

    * An object larger than the whole cache never reaches the policy (the
      base class refuses it), so it is not recorded in the sketch.

    Hashing (reproducible by seed, independent of ``PYTHONHASHSEED``): five
    seeds ``rng.integers(0, 2**63, size=5, dtype=np.int64)`` are drawn once at
    construction; a key's 64-bit hash is the integer itself (mod 2**64) for
    ints, else the little-endian blake2b-64 of ``repr(key)``; row ``i`` uses
    ``mix64(h ^ seed[i]) & (width - 1)`` (see :class:`FrequencySketch`).
    The sketch is sized and aged by entries in both capacity units: for
    ``E`` entries its rows are ``sketch_width(E)`` wide and it halves every
    ``sample_factor * E`` increments.  While every object seen has size 1,
    ``E`` is the capacity.  A byte-weighted cache (from the first object of
    another size on) follows the number of entries it holds, as Caffeine
    does for weighted caches (``BoundedLocalCache``'s ``AddTask`` calls
    ``FrequencySketch.ensureCapacity(data.mappingCount())``): the sketch is
    rebuilt empty for the entries held (the new key included, at most the
    capacity) at that first object, and again whenever those entries need
    a wider row (``ensureCapacity`` reallocates and resets only then).

    Caffeine's hill-climbing window size and its random admission of warm
    candidates (hash-flooding defence) are not modelled.

    Args:
        capacity: entries or bytes.
        window_ratio: window share of capacity, in [0, 1).
        protected_ratio: protected share of the main area, in [0, 1].
        sketch_width_factor: sketch row width = next power of two >= entries * factor
            (clamped to [16, 2**22]); the default 4 gives Caffeine's counter density
            (a sparser sketch lets scan keys collide into hot keys' counters).
        sample_factor: the sketch halves after ``sample_factor * entries`` increments.
        doorkeeper: filter first sightings through a doorkeeper bit set.
        variant: ``paper``, or ``libcachesim`` for libCacheSim 0.3.5's ``WTinyLFU.c``
            (:class:`LibCacheSimWTinyLFU`: only ``window_ratio`` is used).
        rng: draws the five hash seeds at construction.
    """

    name = "wtinylfu"
    libcachesim_differs = ("a counting Bloom filter of unbounded counters fed by misses, main hits and "
                           "window exits, halved every 32 x main-area main hits; main is an SLRU split 1:4; "
                           "one window candidate against main's victim per step")

    def __init__(
        self,
        capacity: int,
        *,
        window_ratio: float = 0.01,
        protected_ratio: float = 0.8,
        sketch_width_factor: float = 4.0,
        sample_factor: int = 10,
        doorkeeper: bool = False,
        variant: str = "paper",
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(capacity, rng=rng)
        if not 0.0 <= window_ratio < 1.0:
            raise PolicyError(f"wtinylfu: window_ratio must be in [0, 1), got {window_ratio!r}")
        if not 0.0 <= protected_ratio <= 1.0:
            raise PolicyError(f"wtinylfu: protected_ratio must be in [0, 1], got {protected_ratio!r}")
        if not sketch_width_factor > 0:
            raise PolicyError(f"wtinylfu: sketch_width_factor must be > 0, got {sketch_width_factor!r}")
        if int(sample_factor) != sample_factor or sample_factor < 1:
            raise PolicyError(f"wtinylfu: sample_factor must be an integer >= 1, got {sample_factor!r}")
        self.window_capacity = max(1, int(self.capacity * window_ratio))
        self.main_capacity = self.capacity - self.window_capacity
        self.protected_capacity = int(self.main_capacity * protected_ratio)
        self.sketch_width_factor = float(sketch_width_factor)
        self.sample_factor = int(sample_factor)
        self._seeds = [int(s) for s in self.rng.integers(0, 2**63, size=5, dtype=np.int64)]
        self._doorkeeper = bool(doorkeeper)
        #: True from the first object whose size is not 1: the sketch then follows the entries held
        self.weighted = False
        self.variant = check_variant("wtinylfu", variant)
        self._lcs = LibCacheSimWTinyLFU(self, window_ratio) if self.variant == "libcachesim" else None
        self.sketch = self._new_sketch(self.capacity)
        # key -> size, LRU first
        self._window: OrderedDict[Key, int] = OrderedDict()
        self._probation: OrderedDict[Key, int] = OrderedDict()
        self._protected: OrderedDict[Key, int] = OrderedDict()
        self._window_used = 0
        self._probation_used = 0
        self._protected_used = 0
        self._hash: dict[Key, int] = {}

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        if self._lcs is not None:
            self._lcs.hit(key)
            return
        self.sketch.increment(self._hash[key])
        if key in self._window:
            self._window.move_to_end(key)
        elif key in self._protected:
            self._protected.move_to_end(key)
        else:
            size = self._probation.pop(key)
            self._probation_used -= size
            self._protected[key] = size
            self._protected_used += size
            while self._protected_used > self.protected_capacity:
                k, s = self._protected.popitem(last=False)
                self._protected_used -= s
                self._probation[k] = s
                self._probation_used += s

    def _new_sketch(self, entries: int) -> FrequencySketch:
        width = sketch_width(entries, self.sketch_width_factor)
        return FrequencySketch(width, self.sample_factor * entries, self._seeds, self._doorkeeper)

    def _follow_entries(self, size: int) -> None:
        # Caffeine's ensureCapacity for weighted caches, on each insertion (the new key counted)
        entries = min(len(self.sizes) + 1, self.capacity)
        if not self.weighted:
            if size == 1:
                return
            self.weighted = True
            self.sketch = self._new_sketch(entries)
        elif sketch_width(entries, self.sketch_width_factor) > self.sketch.width:
            self.sketch = self._new_sketch(entries)

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        if self._lcs is not None:
            self._lcs.miss(key, size)
            return
        self._follow_entries(size)
        h = key_hash64(key)
        self.sketch.increment(h)
        self._hash[key] = h
        self._store(key, size)
        self._window[key] = size
        self._window_used += size
        while self._window_used > self.window_capacity:
            cand, csize = self._window.popitem(last=False)
            self._window_used -= csize
            main_used = self._probation_used + self._protected_used
            if main_used + csize <= self.main_capacity:
                self._to_probation(cand, csize)
                continue
            if csize <= self.main_capacity:
                victim = next(iter(self._probation or self._protected))
                if self.sketch.estimate(self._hash[cand]) > self.sketch.estimate(self._hash[victim]):
                    while self._probation_used + self._protected_used + csize > self.main_capacity:
                        self._drop(self._main_victim())
                    self._to_probation(cand, csize)
                    continue
            del self._hash[cand]
            self._drop(cand)
        # a hit that grew a key can leave main above its share; never exceed the whole cache
        while self.used > self.capacity:
            self._drop(self._victim())

    def _to_probation(self, key: Key, size: int) -> None:
        self._probation[key] = size
        self._probation_used += size

    def _main_victim(self) -> Key:
        if self._probation:
            key, size = self._probation.popitem(last=False)
            self._probation_used -= size
        else:
            key, size = self._protected.popitem(last=False)
            self._protected_used -= size
        del self._hash[key]
        return key

    def _victim(self) -> Key:
        if self._probation or self._protected:
            return self._main_victim()
        key, size = self._window.popitem(last=False)
        self._window_used -= size
        del self._hash[key]
        return key

    def _remove(self, key: Key) -> None:
        if self._lcs is not None:
            self._lcs.remove(key)
            return
        del self._hash[key]
        for seg, attr in ((self._window, "_window_used"), (self._probation, "_probation_used"),
                          (self._protected, "_protected_used")):
            size = seg.pop(key, None)
            if size is not None:
                setattr(self, attr, getattr(self, attr) - size)
                return

    def _resize(self, key: Key, old: int, new: int) -> None:
        if self._lcs is not None:
            return  # libCacheSim keeps the size an object had when it was admitted
        # keep the per-segment occupancy in step before the base class evicts
        for seg, attr in ((self._window, "_window_used"), (self._probation, "_probation_used"),
                          (self._protected, "_protected_used")):
            if key in seg:
                seg[key] = new
                setattr(self, attr, getattr(self, attr) + new - old)
                break
        super()._resize(key, old, new)
