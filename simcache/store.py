"""A cache store: a policy plus capacity, values, per-key TTL and counters.

The store is what the SimPy world and the trace replay talk to.  The policy
decides residency; the store keeps values and expiry times, applies lazy
expiry on access (and optionally Redis-like active expiry), and counts hits,
misses, evictions, expirations and refused writes.  Time is injected as a
``clock`` callable; nothing here reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simcache.policies.base import Policy, make_policy

__all__ = ["Cache", "CacheStats", "Entry", "Key"]

Key = Hashable


@dataclass(slots=True)
class CacheStats:
    """Counters kept by a :class:`Cache` (the policy counts nothing)."""

    hits: int = 0
    misses: int = 0
    byte_hits: int = 0
    byte_misses: int = 0
    evictions: int = 0
    evicted_bytes: int = 0
    expired: int = 0
    refused: int = 0
    sets: int = 0
    deletes: int = 0

    @property
    def requests(self) -> int:
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def miss_ratio(self) -> float:
        return self.misses / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["requests"] = self.requests
        d["hit_ratio"] = self.hit_ratio
        return d


@dataclass(slots=True)
class Entry:
    """What a cache holds for one key."""

    value: Any
    size: int
    expire_at: float | None = None
    version: int = 0


class Cache:
    """A cache: eviction policy + capacity + TTL + counters.

    Args:
        policy: a registry name or an already built :class:`Policy`.
        capacity: entries, or bytes when sizes are bytes (ignored when
            ``policy`` is an instance).
        clock: returns the current time in seconds (``lambda: env.now`` in a
            simulation); defaults to a clock stuck at 0.
        default_ttl: TTL in seconds applied by ``set`` when none is given
            (None: keys never expire).
        rng: random stream for randomised policies and active expiry.
        active_expiry: when True, :meth:`active_expire_cycle` samples keys
            with a TTL and removes expired ones, as Redis does 10 times a
            second; call it from a simulation process.
        **params: the policy's own parameters (validated by the registry).
    """

    def __init__(
        self,
        policy: str | Policy,
        capacity: int = 0,
        *,
        clock: Callable[[], float] | None = None,
        default_ttl: float | None = None,
        rng: np.random.Generator | None = None,
        active_expiry: bool = False,
        **params: Any,
    ) -> None:
        if isinstance(policy, Policy):
            if params:
                raise ValueError("policy parameters are given to make_policy, not to Cache, when the policy is built")
            self.policy = policy
        else:
            self.policy = make_policy(policy, capacity, rng=rng, **params)
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError(f"default_ttl must be > 0 seconds or None, got {default_ttl!r}")
        self.clock: Callable[[], float] = clock if clock is not None else (lambda: 0.0)
        self.default_ttl = default_ttl
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.active_expiry = active_expiry
        self.stats = CacheStats()
        self._entries: dict[Key, Entry] = {}
        self._volatile: dict[Key, None] = {}  # keys with a TTL, insertion ordered
        self.on_event: Callable[[str, Key, int], None] | None = None
        self.policy.on_evict = self._evicted

    # ----------------------------------------------------------- properties
    @property
    def capacity(self) -> int:
        return self.policy.capacity

    @property
    def used(self) -> int:
        return self.policy.used

    def __len__(self) -> int:
        return len(self.policy)

    def __contains__(self, key: object) -> bool:
        e = self._entries.get(key)  # type: ignore[arg-type]
        return e is not None and not self._is_expired(e)

    # ----------------------------------------------------------- operations
    def get(self, key: Key, default: Any = None) -> Any:
        """Read a key: its value on a hit, ``default`` on a miss (expired counts as a miss), as ``dict.get`` and
        cachetools do; a hit and a miss are counted and shown to the policy exactly as :meth:`get_entry` does."""
        e = self.get_entry(key)
        return default if e is None else e.value

    def get_entry(self, key: Key) -> Entry | None:
        """Read a key: the :class:`Entry` (value, size, expiry, version) on a hit, None on a miss (expired counts
        as a miss). Use it to tell a hit on a stored None from a miss."""
        now = self.clock()
        e = self._entries.get(key)
        if e is not None and e.expire_at is not None and e.expire_at <= now:
            self._expire(key)
            e = None
        if e is None:
            self.stats.misses += 1
            self._emit("miss", key, 0)
            return None
        self.policy.lookup(key, now=now)
        self.stats.hits += 1
        self.stats.byte_hits += e.size
        self._emit("hit", key, e.size)
        return e

    def peek(self, key: Key) -> Entry | None:
        """The entry without touching policy state or counters (None if absent or expired)."""
        e = self._entries.get(key)
        if e is None or self._is_expired(e):
            return None
        return e

    def set(
        self,
        key: Key,
        value: Any = None,
        size: int = 1,
        *,
        ttl: float | None = None,
        version: int = 0,
        nx: bool = False,
    ) -> bool:
        """Write a key; return whether it is now stored.

        Args:
            ttl: seconds to live (None: the store's default TTL).
            version: the version of the value (from the database).
            nx: only set if the key is absent (Redis ``SET NX``).
        """
        now = self.clock()
        ttl = self.default_ttl if ttl is None else ttl
        expire_at = now + ttl if ttl is not None else None
        e = self._entries.get(key)
        if e is not None and e.expire_at is not None and e.expire_at <= now:
            self._expire(key)
            e = None
        if nx and e is not None:
            return False
        self.stats.sets += 1
        if e is not None:
            self.policy.lookup(key, size, now=now)
            if key not in self.policy:  # grew beyond the whole cache
                return False
            e.value, e.size, e.expire_at, e.version = value, size, expire_at, version
            self._track_ttl(key, expire_at)
            self.policy.set_expire(key, expire_at)
            return True
        refused_before = self.policy.refused
        if not self.policy.insert(key, size, now=now, expire_at=expire_at):
            if self.policy.refused > refused_before:
                self.stats.refused += 1
                self._emit("refused", key, size)
            return False
        self._entries[key] = Entry(value, size, expire_at, version)
        self._track_ttl(key, expire_at)
        return True

    def delete(self, key: Key) -> bool:
        """Remove a key; return whether it was present."""
        e = self._entries.pop(key, None)
        if e is None:
            return False
        self._volatile.pop(key, None)
        self.policy.remove(key)
        self.stats.deletes += 1
        self._emit("delete", key, e.size)
        return True

    def access(self, key: Key, size: int = 1, *, ttl: float | None = None) -> bool:
        """Replay-style request: read, and on a miss insert (a demand fill)."""
        if self.get_entry(key) is not None:
            return True
        self.stats.byte_misses += size
        self.set(key, None, size, ttl=ttl)
        return False

    def expire_time(self, key: Key) -> float | None:
        e = self._entries.get(key)
        return None if e is None else e.expire_at

    def active_expire_cycle(self, samples: int = 20, repeat_threshold: float = 0.25, max_rounds: int = 16) -> int:
        """One Redis-like active-expiry cycle; return how many keys expired.

        Samples ``samples`` keys with a TTL, deletes the expired ones, and
        repeats while more than ``repeat_threshold`` of a sample had expired
        (Redis ``activeExpireCycle``, ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP = 20).
        """
        now = self.clock()
        total = 0
        for _ in range(max_rounds):
            if not self._volatile:
                break
            keys = list(self._volatile)
            n = min(samples, len(keys))
            picks = self.rng.choice(len(keys), size=n, replace=False)
            expired = 0
            for i in picks:
                k = keys[int(i)]
                e = self._entries.get(k)
                if e is not None and e.expire_at is not None and e.expire_at <= now:
                    self._expire(k)
                    expired += 1
            total += expired
            if expired <= repeat_threshold * n:
                break
        return total

    def clear(self) -> None:
        """Drop every key (a cold restart); counters are kept."""
        for key in list(self._entries):
            self.policy.remove(key)
        self._entries.clear()
        self._volatile.clear()

    # ------------------------------------------------------------ internals
    def _is_expired(self, e: Entry) -> bool:
        return e.expire_at is not None and e.expire_at <= self.clock()

    def _track_ttl(self, key: Key, expire_at: float | None) -> None:
        if expire_at is None:
            self._volatile.pop(key, None)
        else:
            self._volatile[key] = None

    def _expire(self, key: Key) -> None:
        e = self._entries.pop(key)
        self._volatile.pop(key, None)
        self.policy.remove(key)
        self.stats.expired += 1
        self._emit("expire", key, e.size)

    def _evicted(self, key: Key, size: int) -> None:
        self._entries.pop(key, None)
        self._volatile.pop(key, None)
        self.stats.evictions += 1
        self.stats.evicted_bytes += size
        self._emit("evict", key, size)

    def _emit(self, kind: str, key: Key, size: int) -> None:
        if self.on_event is not None:
            self.on_event(kind, key, size)
