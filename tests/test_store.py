"""The cache store: TTL (lazy and active expiry), counters, refused writes, versions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simcache import Cache, make_policy


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lazy_expiry_is_a_miss_counted_as_expired_not_evicted() -> None:
    clock = FakeClock()
    cache = Cache("lru", 10, clock=clock)
    cache.set("k", "v", ttl=10)
    clock.now = 9.999
    assert cache.get("k") == "v"  # the value; get_entry gives the Entry
    clock.now = 10.0  # expire_at <= now: gone, for membership and peek as for get
    assert "k" not in cache and cache.peek("k") is None
    assert cache.get("k") is None
    assert (cache.stats.hits, cache.stats.misses, cache.stats.expired, cache.stats.evictions) == (1, 1, 1, 0)
    assert "k" not in cache.policy and len(cache) == 0 and cache.used == 0


def test_default_ttl_applies_when_set_gives_none() -> None:
    clock = FakeClock()
    cache = Cache("fifo", 10, clock=clock, default_ttl=5)
    cache.set("a", 1)
    cache.set("b", 2, ttl=50)
    assert cache.expire_time("a") == 5 and cache.expire_time("b") == 50
    clock.now = 6
    assert "a" not in cache and "b" in cache


def test_active_expiry_removes_expired_keys_and_leaves_live_ones() -> None:
    clock = FakeClock()
    cache = Cache("lru", 1000, clock=clock, rng=np.random.default_rng(3), active_expiry=True)
    for i in range(200):
        cache.set(i, i, ttl=1.0 if i % 2 else 100.0)
    for i in range(200, 300):
        cache.set(i, i)  # no TTL: never sampled by active expiry
    clock.now = 2.0
    removed = 0
    for _ in range(50):
        removed += cache.active_expire_cycle()
    # every cycle samples only keys with a TTL; the loop stops once <= 25% of a sample had expired,
    # so over many cycles all 100 short-lived keys go and no live key does
    assert removed == cache.stats.expired == 100
    assert len(cache) == 200
    assert all(i in cache for i in range(0, 200, 2)) and all(i in cache for i in range(200, 300))
    assert cache.stats.evictions == 0


def test_one_active_cycle_repeats_while_most_sampled_keys_are_expired() -> None:
    clock = FakeClock()
    cache = Cache("lru", 1000, clock=clock, rng=np.random.default_rng(0))
    for i in range(400):
        cache.set(i, i, ttl=1.0)
    clock.now = 5.0
    # every sampled key is expired, so the cycle keeps going: 16 rounds x 20 keys
    assert cache.active_expire_cycle(samples=20, max_rounds=16) == 320


class RoundSpy:
    """A generator stand-in that notes the expired count at the start of each active-expiry round."""

    def __init__(self, seed: int) -> None:
        self.gen = np.random.default_rng(seed)
        self.cache: Cache | None = None
        self.marks: list[int] = []

    def choice(self, n: int, size: int, replace: bool) -> np.ndarray:
        assert self.cache is not None
        self.marks.append(self.cache.stats.expired)
        return self.gen.choice(n, size=size, replace=replace)


def test_active_cycle_repeats_only_while_more_than_a_quarter_of_a_sample_expired() -> None:
    # 8 keys with a TTL, 2 of them expired, samples of 4: a round that finds exactly 1 (= 25%) must end
    # the cycle, one that finds 2 (50%) must start another
    boundary = 0
    for seed in range(40):
        clock = FakeClock()
        spy = RoundSpy(seed)
        cache = Cache("lru", 100, clock=clock, rng=spy)  # type: ignore[arg-type]
        spy.cache = cache
        for i in range(8):
            cache.set(i, i, ttl=1.0 if i < 2 else 100.0)
        clock.now = 5.0
        total = cache.active_expire_cycle(samples=4)
        per_round = np.diff(spy.marks + [cache.stats.expired]).tolist()
        assert total == sum(per_round) == cache.stats.expired
        assert all(e > 1 for e in per_round[:-1]) and per_round[-1] <= 1, per_round
        boundary += per_round[0] == 1
    assert boundary >= 10  # the 25% boundary was hit often (probability 4/7 per seed)


def test_noeviction_refuses_writes_when_full_and_keeps_everything() -> None:
    cache = Cache("redis-noeviction", 3)
    assert all(cache.set(k, k) for k in "abc")
    assert cache.set("d", "d") is False
    assert cache.stats.refused == 1 and cache.stats.evictions == 0
    assert all(k in cache for k in "abc") and "d" not in cache


def test_evictions_drop_values_and_are_counted_with_bytes() -> None:
    cache = Cache("lru", 10)
    for k in range(5):
        cache.set(k, k, size=3)
    # 3 objects of 3 bytes fit in 10; the fourth evicts 0, the fifth evicts 1
    assert cache.stats.evictions == 2 and cache.stats.evicted_bytes == 6
    assert [k for k in range(5) if k in cache] == [2, 3, 4]
    assert set(cache._entries) == set(cache.policy.sizes)


def test_set_on_existing_key_updates_value_size_version_and_occupancy() -> None:
    cache = Cache("lru", 10)
    cache.set("k", "v1", size=2, version=1)
    cache.set("k", "v2", size=5, version=2)
    e = cache.peek("k")
    assert (e.value, e.size, e.version) == ("v2", 5, 2)
    assert cache.used == 5 and cache.stats.sets == 2


def test_set_nx_only_when_absent_or_expired() -> None:
    clock = FakeClock()
    cache = Cache("lru", 10, clock=clock)
    assert cache.set("lock", "a", ttl=30, nx=True)
    assert not cache.set("lock", "b", ttl=30, nx=True)
    assert cache.peek("lock").value == "a"
    clock.now = 30.0
    assert cache.set("lock", "b", ttl=30, nx=True)
    assert cache.peek("lock").value == "b" and cache.stats.expired == 1


def test_delete_and_clear() -> None:
    cache = Cache("arc", 10)
    for k in range(6):
        cache.set(k, k)
    assert cache.delete(2) and not cache.delete(2)
    assert 2 not in cache and cache.used == 5 and cache.stats.deletes == 1
    cache.clear()
    assert len(cache) == 0 and cache.used == 0


def test_volatile_policy_never_evicts_keys_without_ttl_through_the_store() -> None:
    clock = FakeClock()
    cache = Cache("redis-volatile-lru", 4, clock=clock, rng=np.random.default_rng(1))
    cache.set("persistent", 1)
    for i in range(20):
        clock.now = float(i)
        cache.set(f"session:{i}", i, ttl=3600)
    assert "persistent" in cache
    assert cache.stats.evictions == 17


def test_built_policy_and_params_conflict_is_an_error() -> None:
    with pytest.raises(ValueError, match="make_policy"):
        Cache(make_policy("lru", 5), bits=2)
    with pytest.raises(ValueError, match="default_ttl"):
        Cache("lru", 5, default_ttl=0)


def test_events_are_observed_not_counted_by_listeners() -> None:
    clock = FakeClock()
    cache = Cache("lru", 2, clock=clock)
    seen: list[tuple[str, object]] = []
    cache.on_event = lambda kind, key, size: seen.append((kind, key))
    cache.set("a", 1, ttl=1)
    cache.get("a")
    cache.set("b", 2)
    cache.set("c", 3)  # evicts a
    cache.get("zz")
    cache.set("d", 4, ttl=1)  # evicts b
    clock.now = 5
    cache.get("d")  # expired
    assert seen == [("hit", "a"), ("evict", "a"), ("miss", "zz"), ("evict", "b"), ("expire", "d"), ("miss", "d")]


ops = st.lists(
    st.tuples(st.sampled_from(["get", "set", "delete", "tick"]), st.integers(0, 15), st.integers(1, 4),
              st.one_of(st.none(), st.floats(0.5, 5.0))),
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(ops=ops, policy=st.sampled_from(["lru", "s3fifo", "arc", "redis-allkeys-lru", "wtinylfu", "lfu"]))
def test_store_invariants(ops: list[tuple[str, int, int, float | None]], policy: str) -> None:
    clock = FakeClock()
    cache = Cache(policy, 12, clock=clock, rng=np.random.default_rng(0))
    gets = 0
    for op, key, size, ttl in ops:
        if op == "get":
            gets += 1
            e = cache.get_entry(key)
            if e is not None:
                assert e.expire_at is None or e.expire_at > clock.now, "served an expired entry"
        elif op == "set":
            cache.set(key, key, size, ttl=ttl)
        elif op == "delete":
            cache.delete(key)
        else:
            clock.now += 1.0
        assert set(cache._entries) == set(cache.policy.sizes), "values and residency diverged"
        assert cache.used <= cache.capacity
        assert all(cache._entries[k].size == s for k, s in cache.policy.sizes.items())
    assert cache.stats.hits + cache.stats.misses == gets
