"""Redis 7 ``maxmemory-policy`` eviction, modelled on ``evict.c`` (sampled, not exact, LRU/LFU)."""

from __future__ import annotations

import bisect
import math
from typing import ClassVar

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, register

EVPOOL_SIZE = 16  # candidates kept across evictions (evict.c)
LFU_INIT_VAL = 5  # counter of a new key (server.h)
LRU_CLOCK_RESOLUTION = 1.0  # seconds per LRU clock tick (1000 ms)


class _KeyList:
    """A set with O(1) add, remove and uniform random pick (list + index dict)."""

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.pos: dict[Key, int] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self.pos

    def add(self, key: Key) -> None:
        if key not in self.pos:
            self.pos[key] = len(self.keys)
            self.keys.append(key)

    def discard(self, key: Key) -> None:
        i = self.pos.pop(key, None)
        if i is None:
            return
        last = self.keys.pop()
        if i < len(self.keys):
            self.keys[i] = last
            self.pos[last] = i

    def sample(self, rng: np.random.Generator, k: int) -> list[Key]:
        """``min(k, len)`` distinct keys, uniformly at random."""
        n = len(self.keys)
        if k >= n:
            return list(self.keys)
        if 2 * k > n:
            return [self.keys[int(i)] for i in rng.permutation(n)[:k]]
        seen: dict[int, None] = {}
        while len(seen) < k:
            seen[int(rng.integers(n))] = None
        return [self.keys[i] for i in seen]


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
    * Eviction (lru/lfu/ttl): sample ``maxmemory_samples`` distinct keys
      uniformly (from all keys, or from keys with an expiry for volatile-*)
      into a pool of 16 entries sorted by score computed at sampling time.
      A sample enters the pool at the first position whose score is >= its
      own; when the pool is full it drops the lowest entry, or the sample if
      it is not better than the lowest.  The pool persists between evictions
      and may hold stale or duplicate entries, as in Redis.  The best (last)
      entry is popped; if its key is no longer resident (or, for volatile-*,
      no longer has an expiry) it is discarded and the next one is tried;
      an exhausted pool is refilled by a new sample.
    * Random policies evict one uniformly random key (of the eligible set).
    * Victims are evicted one at a time until the new object fits.  When no
      eligible key exists (volatile-* with no key carrying an expiry, or
      ``redis-noeviction`` when the object does not fit), the write is
      refused: the key is not admitted and ``refused`` grows by one.  Keys
      already evicted for that write stay evicted, as in Redis.
    * When a hit grows a key past the capacity and the policy has no eligible
      victim, a uniformly random resident key is evicted: Redis would let
      memory overshoot and refuse later writes, but a simulated cache never
      holds more than its capacity.

    Simplifications: Redis's ``dictGetSomeKeys`` samples neighbouring hash
    buckets (approximately uniform); here the sample is exactly uniform.  The
    24-bit LRU clock and 16-bit LFU minute clock never wrap.

    Args:
        capacity: entries or bytes (Redis's ``maxmemory``).
        maxmemory_samples: keys sampled per eviction round (lru/lfu/ttl).
        lfu_log_factor: LFU counter growth factor (``lfu-log-factor``).
        lfu_decay_time: minutes per LFU counter decrement (``lfu-decay-time``; 0: never).
        rng: sampling and the LFU coin flips.
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
        self._all = _KeyList()
        self._volatile = _KeyList()
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
        while self.used + size > self.capacity:
            victim = self._select(now)
            if victim is None:
                self.refused += 1
                return
            self._forget(victim)
            self._drop(victim)
        self._store(key, size)
        self._all.add(key)
        if self.kind == "lfu":
            self.lfu[key] = [LFU_INIT_VAL, int(now // 60)]
        else:
            self.lru_clock[key] = int(math.floor(now / LRU_CLOCK_RESOLUTION))
        self.set_expire(key, expire_at)

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
            victim = self._all.keys[int(self.rng.integers(len(self._all)))]
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
    def _eligible(self) -> _KeyList:
        return self._all if self.allkeys else self._volatile

    def _select(self, now: float) -> Key | None:
        """The next key to evict, or None when no key is eligible."""
        keys = self._eligible()
        if self.kind == "none" or not keys:
            return None
        if self.kind == "random":
            return keys.keys[int(self.rng.integers(len(keys)))]
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

    def _populate(self, keys: _KeyList, now: float) -> None:
        scores, pool = self._pool_scores, self._pool_keys
        for key in keys.sample(self.rng, self.maxmemory_samples):
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
