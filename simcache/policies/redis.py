"""Redis 7 ``maxmemory-policy`` eviction, modelled on ``evict.c`` (sampled, not exact, LRU/LFU)."""

from __future__ import annotations

import bisect
import math
from typing import ClassVar

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, register
from simcache.policies.wtinylfu import key_hash64, mix64

EVPOOL_SIZE = 16  # candidates kept across evictions (evict.c)
LFU_INIT_VAL = 5  # counter of a new key (server.h)
LRU_CLOCK_RESOLUTION = 1.0  # seconds per LRU clock tick (1000 ms)


_M64 = (1 << 64) - 1
DICT_HT_INITIAL_SIZE = 4  # dict.h
HASHTABLE_MIN_FILL = 10  # percent below which serverCron shrinks a table (server.h)
_RAND_BATCH = 1024  # 64-bit random words drawn from the Generator at a time


def _next_power(n: int) -> int:
    """``_dictNextExp``: the table size for ``n`` entries (a power of two >= n, at least 4)."""
    return max(DICT_HT_INITIAL_SIZE, 1 << (n - 1).bit_length())


class _Random:
    """Uniform 64-bit words (Redis's ``randomULong``) from a numpy Generator, drawn in batches."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.words: list[int] = []

    def __call__(self) -> int:
        if not self.words:
            self.words = self.rng.integers(0, _M64, size=_RAND_BATCH, dtype=np.uint64, endpoint=True).tolist()
        return self.words.pop()


class _Dict:
    """The key placement of a Redis ``dict`` (``dict.c``), as far as eviction sampling sees it.

    A power-of-two array of buckets, each a chain of keys with the newest at the
    head (``dictAddRaw``).  The table is ``DICT_HT_INITIAL_SIZE`` (4) when the
    first key arrives and doubles to the next power of two above the count when
    an add finds ``keys >= buckets`` (``_dictExpandIfNeeded``); it shrinks to
    the next power of two >= the count when a delete leaves it under 10 % full
    (``htNeedsResize``/``dictResize``, which Redis runs from ``serverCron``).
    A key's bucket is the low bits of a 64-bit hash of the key salted per dict
    (Redis uses siphash with a random seed; only the statistics matter).

    Left out: incremental rehashing.  A resize moves every chain at once, in
    ``_dictRehash`` order (old buckets in index order, each chain from its
    head, every key pushed onto the head of its new chain); Redis spreads that
    over the following operations and ``serverCron``, and samples both tables
    meanwhile.  With eviction holding the key count steady, the table only
    resizes while the keyspace fills, when nothing is sampled yet.
    """

    def __init__(self, salt: int) -> None:
        self.salt = salt
        self.table: list[list[Key]] = []
        self.hashes: dict[Key, int] = {}

    def __len__(self) -> int:
        return len(self.hashes)

    def __contains__(self, key: object) -> bool:
        return key in self.hashes

    def _hash(self, key: Key) -> int:
        return mix64(key_hash64(key) ^ self.salt)

    def _resize(self, size: int) -> None:
        new: list[list[Key]] = [[] for _ in range(size)]
        mask = size - 1
        hashes = self.hashes
        for chain in self.table:
            for key in chain:
                new[hashes[key] & mask].insert(0, key)
        self.table = new

    def add(self, key: Key) -> None:
        if key in self.hashes:
            return
        n = len(self.hashes)
        if n >= len(self.table):
            self._resize(_next_power(n + 1))
        h = self.hashes[key] = self._hash(key)
        self.table[h & (len(self.table) - 1)].insert(0, key)

    def discard(self, key: Key) -> None:
        h = self.hashes.pop(key, None)
        if h is None:
            return
        self.table[h & (len(self.table) - 1)].remove(key)
        size = len(self.table)
        if size > DICT_HT_INITIAL_SIZE and len(self.hashes) * 100 // size < HASHTABLE_MIN_FILL:
            self._resize(_next_power(len(self.hashes)))

    def some_keys(self, count: int, rand: _Random) -> list[Key]:
        """``dictGetSomeKeys``: up to ``count`` distinct keys from contiguous buckets after a random one.

        At most ``count * 10`` buckets are visited; a run of more than
        ``max(4, count)`` empty buckets jumps to a new random bucket; the chain
        that completes the sample is reservoir-sampled into it.
        """
        count = min(count, len(self.hashes))
        table = self.table
        mask = len(table) - 1
        out: list[Key] = []
        stored = 0
        emptylen = 0
        i = rand() & mask
        for _ in range(count * 10):
            chain = table[i]
            if not chain:
                emptylen += 1
                if emptylen >= 5 and emptylen > count:
                    i = rand() & mask
                    emptylen = 0
            else:
                emptylen = 0
                for key in chain:
                    if stored < count:
                        out.append(key)
                    else:
                        r = rand() % (stored + 1)
                        if r < count:
                            out[r] = key
                    stored += 1
                if stored >= count:
                    break
            i = (i + 1) & mask
        return out

    def random_key(self, rand: _Random) -> Key:
        """``dictGetRandomKey``: a random non-empty bucket, then a uniformly random key of its chain."""
        table = self.table
        mask = len(table) - 1
        while True:
            chain = table[rand() & mask]
            if chain:
                return chain[rand() % len(chain)]


class RedisPolicy(Policy):
    """One Redis ``maxmemory-policy``; subclasses fix which keys and which score.

    Semantics (Redis 7 ``evict.c``/``object.c``, with time from each request's ``now``):

    * LRU clock: ``floor(now / 1 s)``; a new or touched key records it, so keys
      touched within the same second tie.  Idle score = clock now - key clock.
    * LFU: a new key has counter ``LFU_INIT_VAL = 5`` and its decrement time
      ``floor(now / 60)``.  On access the counter first decays by the number of
      elapsed ``lfu_decay_time``-minute periods (floored at 0), then grows by
      one with probability ``1 / ((counter - 5) * lfu_log_factor + 1)`` (one
      ``rng.random()`` draw per access unless the counter is 255; counters
      below 5 count as 5 there), and the decrement time is reset to now.
      Score = ``255 - decayed counter``.
    * volatile-ttl score: ``-expire_at`` (the soonest expiry is the best victim).
    * Keys live in a model of Redis's hash table (:class:`_Dict`: power-of-two
      buckets of chains), the keyspace in one and, for volatile-*, the keys
      with an expiry in another (``db->dict`` and ``db->expires``).
    * Eviction (lru/lfu/ttl), ``evictionPoolPopulate``/``performEvictions``
      (``evict.c``): ``dictGetSomeKeys`` (``dict.c``) takes up to
      ``maxmemory_samples`` keys from contiguous buckets after a random one
      (all keys, or keys with an expiry for volatile-*) into a pool of 16
      entries sorted by the score computed when each entered.  A sample
      enters the pool at the first position whose score is >= its own; when
      the pool is full it drops the lowest entry, or the sample if it is not
      better than the lowest.  The pool persists between evictions and may
      hold stale or duplicate entries, as in Redis.  The best (last) entry is
      popped; if its key is no longer resident (or, for volatile-*, no longer
      has an expiry) it is discarded and the next one is tried; an exhausted
      pool is refilled by a new sample.
    * Random policies evict ``dictGetRandomKey``'s key: a random non-empty
      bucket, then a random key of its chain (keys in long chains are picked
      less often).
    * A write is stored first, then victims are evicted one at a time until
      ``used <= capacity`` (:meth:`evict_to`), as Redis evicts before the next
      command: the new key is itself a candidate.  When no eligible key is
      left (volatile-* with no key carrying an expiry, or
      ``redis-noeviction``), the write is refused: the key is removed again
      and ``refused`` grows by one.  Keys already evicted for that write stay
      evicted, as in Redis.
    * When a hit grows a key past the capacity and the policy has no eligible
      victim, a random resident key is evicted: Redis would let memory
      overshoot and refuse later writes, but a simulated cache never holds
      more than its capacity.

    Simplifications: a key's bucket comes from a salted 64-bit hash, not
    siphash; tables resize at once instead of rehashing incrementally (see
    :class:`_Dict`); random words come from ``rng``, not Redis's
    ``genrand64``/``random()``.  The 24-bit LRU clock and 16-bit LFU minute
    clock never wrap.  Measured against a real redis-server 7.0 by
    ``benchmarks/redis_eviction_vs_real.py`` (``docs/replay.md``).

    Args:
        capacity: entries or bytes (Redis's ``maxmemory``).
        maxmemory_samples: keys sampled per eviction round (lru/lfu/ttl).
        lfu_log_factor: LFU counter growth factor (``lfu-log-factor``).
        lfu_decay_time: minutes per LFU counter decrement (``lfu-decay-time``; 0: never).
        rng: the hash salts, sampling and the LFU coin flips.
    """

    uses_time = True
    #: "lru", "lfu", "ttl", "random" or "none"
    kind: ClassVar[str] = ""
    #: True: every key is eligible; False: only keys with an expiry (volatile-*)
    allkeys: ClassVar[bool] = True

    def __init__(
        self,
        capacity: int,
        *,
        maxmemory_samples: int = 5,
        lfu_log_factor: int = 10,
        lfu_decay_time: int = 1,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(capacity, rng=rng)
        if int(maxmemory_samples) != maxmemory_samples or maxmemory_samples < 1:
            raise PolicyError(f"{self.name}: maxmemory_samples must be an integer >= 1, got {maxmemory_samples!r}")
        if int(lfu_log_factor) != lfu_log_factor or lfu_log_factor < 0:
            raise PolicyError(f"{self.name}: lfu_log_factor must be an integer >= 0, got {lfu_log_factor!r}")
        if int(lfu_decay_time) != lfu_decay_time or lfu_decay_time < 0:
            raise PolicyError(f"{self.name}: lfu_decay_time must be an integer >= 0 minutes, got {lfu_decay_time!r}")
        self.maxmemory_samples = int(maxmemory_samples)
        self.lfu_log_factor = int(lfu_log_factor)
        self.lfu_decay_time = int(lfu_decay_time)
        self._rand = _Random(self.rng)
        #: the keyspace (``db->dict``) and the keys with an expiry (``db->expires``)
        self._all = _Dict(self._rand())
        self._volatile = _Dict(self._rand())
        self.expire_at: dict[Key, float] = {}
        self.lru_clock: dict[Key, int] = {}
        #: key -> [counter, last decrement time in minutes]
        self.lfu: dict[Key, list[int]] = {}
        self._pool_scores: list[float] = []
        self._pool_keys: list[Key] = []
        self._now = 0.0  # time of the latest request, for evictions a resize triggers

    # ------------------------------------------------------------ LFU maths
    def lfu_decr_and_return(self, key: Key, now: float) -> int:
        """The key's counter after decay by the elapsed decay periods (state unchanged)."""
        counter, ldt = self.lfu[key]
        if self.lfu_decay_time:
            periods = (int(now // 60) - ldt) // self.lfu_decay_time
            if periods > 0:
                counter = max(0, counter - periods)
        return counter

    def lfu_log_incr(self, counter: int) -> int:
        """Redis's ``LFULogIncr``: grow by one with probability 1/((counter-5)*factor+1)."""
        if counter == 255:
            return 255
        r = self.rng.random()
        base = max(0, counter - LFU_INIT_VAL)
        if r < 1.0 / (base * self.lfu_log_factor + 1):
            counter += 1
        return counter

    # ----------------------------------------------------------------- hooks
    def _touch(self, key: Key, now: float) -> None:
        if self.kind == "lfu":
            counter = self.lfu_log_incr(self.lfu_decr_and_return(key, now))
            self.lfu[key] = [counter, int(now // 60)]
        else:
            self.lru_clock[key] = int(math.floor(now / LRU_CLOCK_RESOLUTION))

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        self._now = now
        self._touch(key, now)

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        self._now = now
        self._store(key, size)
        self._all.add(key)
        if self.kind == "lfu":
            self.lfu[key] = [LFU_INIT_VAL, int(now // 60)]
        else:
            self.lru_clock[key] = int(math.floor(now / LRU_CLOCK_RESOLUTION))
        self.set_expire(key, expire_at)
        if not self.evict_to(self.capacity):
            # nothing eligible is left: the write is refused (victims already evicted stay evicted)
            self.remove(key)
            self.refused += 1

    def evict_to(self, limit: int, now: float | None = None) -> bool:
        """``performEvictions``: evict until ``used <= limit``; False when no eligible key is left.

        ``redis-noeviction`` evicts nothing and answers False whenever ``used > limit``.
        ``now`` (default: the latest request's time) is the time the victims are scored at.
        """
        if now is not None:
            self._now = now
        while self.used > limit:
            victim = self._select(self._now)
            if victim is None:
                return False
            self._forget(victim)
            self._drop(victim)
        return True

    def set_expire(self, key: Key, expire_at: float | None) -> None:
        """Record a resident key's expiry (None: no TTL, not eligible for volatile-*)."""
        if key not in self.sizes:
            return
        if expire_at is None:
            self.expire_at.pop(key, None)
            self._volatile.discard(key)
        else:
            self.expire_at[key] = float(expire_at)
            self._volatile.add(key)

    def _victim(self) -> Key:
        victim = self._select(self._now)
        if victim is None:
            victim = self._all.random_key(self._rand)
        self._forget(victim)
        return victim

    def _remove(self, key: Key) -> None:
        self._forget(key)

    def _forget(self, key: Key) -> None:
        self._all.discard(key)
        self._volatile.discard(key)
        self.expire_at.pop(key, None)
        self.lru_clock.pop(key, None)
        self.lfu.pop(key, None)

    # ------------------------------------------------------------- eviction
    def _eligible(self) -> _Dict:
        return self._all if self.allkeys else self._volatile

    def _select(self, now: float) -> Key | None:
        """The next key to evict, or None when no key is eligible."""
        keys = self._eligible()
        if self.kind == "none" or not keys:
            return None
        if self.kind == "random":
            return keys.random_key(self._rand)
        while True:
            if not keys:
                return None
            self._populate(keys, now)
            while self._pool_keys:
                self._pool_scores.pop()
                key = self._pool_keys.pop()
                if key in keys:
                    return key

    def _score(self, key: Key, now: float) -> float:
        if self.kind == "lru":
            return int(math.floor(now / LRU_CLOCK_RESOLUTION)) - self.lru_clock[key]
        if self.kind == "lfu":
            return 255 - self.lfu_decr_and_return(key, now)
        return -self.expire_at[key]

    def _populate(self, keys: _Dict, now: float) -> None:
        """``evictionPoolPopulate``: score a ``dictGetSomeKeys`` sample into the pool."""
        scores, pool = self._pool_scores, self._pool_keys
        for key in keys.some_keys(self.maxmemory_samples, self._rand):
            s = self._score(key, now)
            k = bisect.bisect_left(scores, s)
            if len(pool) < EVPOOL_SIZE:
                scores.insert(k, s)
                pool.insert(k, key)
            elif k > 0:
                # full: drop the lowest entry and slot the sample just below the first >= it
                del scores[0], pool[0]
                scores.insert(k - 1, s)
                pool.insert(k - 1, key)


@register
class RedisAllkeysLRU(RedisPolicy):
    """Redis ``allkeys-lru``: sampled LRU over every key."""

    name = "redis-allkeys-lru"
    kind = "lru"


@register
class RedisAllkeysLFU(RedisPolicy):
    """Redis ``allkeys-lfu``: sampled LFU (logarithmic counter) over every key."""

    name = "redis-allkeys-lfu"
    kind = "lfu"


@register
class RedisAllkeysRandom(RedisPolicy):
    """Redis ``allkeys-random``: one uniformly random key."""

    name = "redis-allkeys-random"
    kind = "random"


@register
class RedisVolatileLRU(RedisPolicy):
    """Redis ``volatile-lru``: sampled LRU over keys with an expiry; refuses when there is none."""

    name = "redis-volatile-lru"
    kind = "lru"
    allkeys = False


@register
class RedisVolatileLFU(RedisPolicy):
    """Redis ``volatile-lfu``: sampled LFU over keys with an expiry; refuses when there is none."""

    name = "redis-volatile-lfu"
    kind = "lfu"
    allkeys = False


@register
class RedisVolatileRandom(RedisPolicy):
    """Redis ``volatile-random``: one random key with an expiry; refuses when there is none."""

    name = "redis-volatile-random"
    kind = "random"
    allkeys = False


@register
class RedisVolatileTTL(RedisPolicy):
    """Redis ``volatile-ttl``: the sampled key with the soonest expiry; refuses when there is none."""

    name = "redis-volatile-ttl"
    kind = "ttl"
    allkeys = False


@register
class RedisNoEviction(RedisPolicy):
    """Redis ``noeviction``: a write that does not fit is refused."""

    name = "redis-noeviction"
    kind = "none"
