"""Redis maxmemory policies: LFU counter maths, volatile/noeviction refusals, sampled LRU quality."""

from __future__ import annotations

import numpy as np
import pytest

from simcache import Cache
from simcache.policies import make_policy
from simcache.policies.redis import LFU_INIT_VAL, _Dict

VOLATILE = ["redis-volatile-lru", "redis-volatile-lfu", "redis-volatile-random", "redis-volatile-ttl"]


def test_lfu_counter_grows_logarithmically():
    # from LFU_INIT_VAL = 5, step c -> c+1 takes a geometric number of accesses with mean
    # (c - 5) * factor + 1, so reaching 10 takes 1 + 11 + 21 + 31 + 41 = 105 on average
    # (Redis's table: factor 10, 100 hits -> counter 10), variance sum (1-p)/p^2 = 3100.
    p = make_policy("redis-allkeys-lfu", 10**6, rng=np.random.default_rng(2024), lfu_decay_time=0)
    needed = []
    for key in range(400):
        p.access(key, now=0.0)
        n = 0
        while p.lfu[key][0] < 10:
            p.access(key, now=0.0)
            n += 1
        needed.append(n)
    mean, se = np.mean(needed), np.sqrt(3100 / len(needed))
    assert abs(mean - 105) < 4 * se  # 4 standard errors: ~11 accesses


def test_lfu_new_key_and_factor_zero():
    p = make_policy("redis-allkeys-lfu", 100, lfu_log_factor=0, lfu_decay_time=0)
    p.access("k", now=0.0)
    assert p.lfu["k"][0] == LFU_INIT_VAL
    for _ in range(7):
        p.access("k", now=0.0)
    assert p.lfu["k"][0] == LFU_INIT_VAL + 7  # factor 0: every access increments


def test_lfu_decays_by_elapsed_minutes():
    p = make_policy("redis-allkeys-lfu", 100, rng=np.random.default_rng(0), lfu_log_factor=10**6)
    p.access("k", now=0.0)
    p.lfu["k"] = [20, 0]
    assert p.lfu_decr_and_return("k", 179.0) == 18  # 2 whole minutes
    assert p.lfu_decr_and_return("k", 180.0) == 17
    assert p.lfu["k"] == [20, 0]  # reading does not change the key
    p.access("k", now=180.0)  # decays to 17, then (almost surely, factor 1e6) no increment
    assert p.lfu["k"] == [17, 3]
    assert p.lfu_decr_and_return("k", 3600.0) == 0  # floors at zero
    slow = make_policy("redis-allkeys-lfu", 100, lfu_decay_time=2)
    slow.access("k", now=0.0)
    slow.lfu["k"] = [20, 0]
    assert slow.lfu_decr_and_return("k", 180.0) == 19  # 3 minutes = one 2-minute period


@pytest.mark.parametrize("name", VOLATILE)
def test_volatile_never_evicts_keys_without_ttl_and_refuses_without_candidates(name):
    p = make_policy(name, 3, rng=np.random.default_rng(1))
    evicted: list = []
    p.on_evict = lambda k, s: evicted.append(k)
    p.access("a", now=0.0)
    p.access("b", now=1.0)
    p.access("c", now=2.0, expire_at=100.0)
    assert not p.access("d", now=3.0)  # the only volatile key, c, makes room
    assert evicted == ["c"] and "d" in p
    # a write is stored before the evictions it causes (Redis evicts before the next command): the new
    # key with a TTL is the only candidate, so it goes at once
    assert not p.access("e", now=4.0, expire_at=50.0)
    assert evicted == ["c", "e"] and p.refused == 0 and set(p) == {"a", "b", "d"}
    assert not p.access("f", now=5.0)  # no key with an expiry is left: the write is refused
    assert p.refused == 1 and "f" not in p and set(p) == {"a", "b", "d"} and evicted == ["c", "e"]


def test_volatile_refusal_is_counted_by_the_store():
    clock = [0.0]
    cache = Cache("redis-volatile-lru", 2, clock=lambda: clock[0])
    assert cache.set("a", 1) and cache.set("b", 2, ttl=30)
    assert cache.set("c", 3)  # evicts b, the only key with a TTL
    assert "b" not in cache
    assert not cache.set("d", 4)
    assert cache.stats.refused == 1 and cache.stats.evictions == 1


def test_set_expire_makes_a_key_volatile():
    p = make_policy("redis-volatile-lru", 2)
    p.access("a", now=0.0)
    p.access("b", now=0.0)
    p.set_expire("a", 10.0)
    p.access("c", now=1.0)
    assert set(p) == {"b", "c"}
    p.set_expire("c", None)
    p.access("d", now=2.0)
    assert p.refused == 1


def test_volatile_ttl_evicts_the_soonest_expiring():
    p = make_policy("redis-volatile-ttl", 5, rng=np.random.default_rng(3), maxmemory_samples=10)
    evicted: list = []
    p.on_evict = lambda k, s: evicted.append(k)
    expiries = {"a": 40.0, "b": 10.0, "c": 30.0, "d": 50.0, "e": 20.0}
    for k, t in expiries.items():
        p.access(k, now=0.0, expire_at=t)
    for k in ("f", "g", "h"):
        p.access(k, now=1.0, expire_at=1000.0)
    assert evicted == ["b", "e", "c"]


def test_noeviction_refuses_writes_when_full_and_counts_them():
    clock = [0.0]
    cache = Cache("redis-noeviction", 3, clock=lambda: clock[0])
    for k in "abc":
        assert cache.set(k, k)
    assert not cache.set("d", "d") and not cache.set("e", "e")
    assert cache.stats.refused == 2 and cache.stats.evictions == 0
    assert all(cache.get_entry(k) is not None for k in "abc")
    cache.delete("a")
    assert cache.set("d", "d")


def test_lru_clock_has_one_second_resolution():
    # keys touched within the same second tie; with every key sampled, the pool keeps the first
    # sampled of equal scores on the right, so only whole seconds decide
    p = make_policy("redis-allkeys-lru", 3, maxmemory_samples=16)
    p.access("old", now=0.2)
    p.access("x", now=1.1)
    p.access("y", now=1.9)
    assert p.lru_clock == {"old": 0, "x": 1, "y": 1}
    evicted: list = []
    p.on_evict = lambda k, s: evicted.append(k)
    p.access("z", now=5.0)
    assert evicted == ["old"]


def zipf_keys(n: int, n_keys: int, alpha: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pdf = np.arange(1, n_keys + 1, dtype=float) ** -alpha
    return rng.choice(n_keys, size=n, p=pdf / pdf.sum())


def miss_ratio(name: str, keys: np.ndarray, cap: int, seed: int, **params) -> float:
    p = make_policy(name, cap, rng=np.random.default_rng(seed), **params)
    misses = sum(not p.access(int(k), now=float(i)) for i, k in enumerate(keys))  # one request per second
    return misses / len(keys)


def test_sampled_lru_sits_between_lru_and_random():
    keys = zipf_keys(20000, 500, 0.9, seed=7)
    lru = miss_ratio("lru", keys, 50, 0)
    many = miss_ratio("redis-allkeys-lru", keys, 50, 0, maxmemory_samples=64)
    five = miss_ratio("redis-allkeys-lru", keys, 50, 0, maxmemory_samples=5)
    one = miss_ratio("redis-allkeys-lru", keys, 50, 0, maxmemory_samples=1)
    rand = miss_ratio("redis-allkeys-random", keys, 50, 0)
    # 64 samples > 50 keys: every key is scored each time, only stale pool entries separate it from LRU
    assert abs(many - lru) < 0.01
    assert lru <= many + 0.002 < five + 0.002 < one
    # one sample leaves the pool empty after each eviction: the victim is the head (newest key) of the first
    # non-empty bucket after a random one, close to, but not the same as, dictGetRandomKey's pick
    assert abs(one - rand) < 0.03
    assert one - lru > 0.03


class Words:
    """Stands in for the random-word source: hands out the given words in order."""

    def __init__(self, *words: int) -> None:
        self.words = list(words)

    def __call__(self) -> int:
        return self.words.pop(0)


def identity_dict() -> _Dict:
    d = _Dict(0)
    d._hash = lambda key: key  # key k lives in bucket k & mask
    return d


def test_dict_table_is_a_power_of_two_that_grows_when_full_and_shrinks_under_a_tenth():
    d = identity_dict()
    sizes = []
    for k in range(9):
        d.add(k)
        sizes.append(len(d.table))
    # _dictExpandIfNeeded: 4 buckets for the first key, doubled when an add finds keys >= buckets
    assert sizes == [4, 4, 4, 4, 8, 8, 8, 8, 16]
    for k in range(100, 120):
        d.add(k)
    assert len(d) == 29 and len(d.table) == 32
    for k in range(100, 120):
        d.discard(k)
    assert len(d.table) == 32  # 9 of 32 is above 10 %
    for k in range(6):
        d.discard(k)
    # htNeedsResize: 3 keys in 32 buckets is under 10 %: dictResize to the next power of two >= 3 (at least 4)
    assert len(d) == 3 and len(d.table) == 4
    assert sorted(k for chain in d.table for k in chain) == [6, 7, 8]


def test_dict_chains_put_the_newest_key_first_and_a_resize_reverses_them():
    d = identity_dict()
    for k in (1, 5, 9):  # all in bucket 1 of 4
        d.add(k)
    assert d.table[1] == [9, 5, 1]
    d.add(2)
    d.add(3)  # 4 keys in 4 buckets: grow to 8; _dictRehash moves each chain from its head onto new heads
    assert len(d.table) == 8 and d.table[1] == [1, 9] and d.table[5] == [5] and d.table[3] == [3]


def test_some_keys_walks_contiguous_buckets_from_a_random_start():
    d = identity_dict()
    d._resize(16)
    for k in (3, 19, 4, 6, 7, 12):  # 16 buckets: 3 -> [19, 3], 4, 6, 7, 12
        d.add(k)
    assert len(d.table) == 16 and d.table[3] == [19, 3]
    # start at bucket 2 (empty), then 3 (two keys), 4: three keys, in walk order
    assert d.some_keys(3, Words(2)) == [19, 3, 4]
    # start at 13: 13, 14, 15, 0, 1 are empty; a run of 5 (>= 5 and > count 2) jumps to a random bucket (6),
    # and the walk goes on from the bucket after it, as dict.c does: 7, then 8..11 empty, then 12
    assert d.some_keys(2, Words(13, 6)) == [7, 12]
    # the chain that completes the sample is reservoir-sampled into it: key 3 replaces slot 0 when 0 % 2 < 1
    assert d.some_keys(1, Words(3, 0)) == [3]
    assert d.some_keys(1, Words(3, 1)) == [19]


def test_some_keys_stops_after_ten_steps_per_key():
    d = identity_dict()
    d._resize(64)
    d.add(40)
    # one key in 64 buckets: from 41, five empty buckets jump to 44, five more (45..49) use up the 10 steps
    assert d.some_keys(1, Words(41, 44, 20)) == []
    assert d.some_keys(1, Words(37)) == [40]


def test_random_key_picks_a_random_non_empty_bucket_then_a_key_of_its_chain():
    d = identity_dict()
    for k in (1, 5, 2):
        d.add(k)
    assert d.table[1] == [5, 1]
    assert d.random_key(Words(0, 3, 1, 1)) == 1  # buckets 0 and 3 are empty, bucket 1: second key
    assert d.random_key(Words(2, 7)) == 2
