"""Belady's MIN: the textbook example, brute-force optimality, and libCacheSim agreement."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from simcache.policies import make_policy


def next_access_of(keys) -> list[int]:
    nxt = [-1] * len(keys)
    last: dict = {}
    for i in range(len(keys) - 1, -1, -1):
        nxt[i] = last.get(keys[i], -1)
        last[keys[i]] = i
    return nxt


def run(policy, keys, sizes=None):
    sizes = sizes if sizes is not None else [1] * len(keys)
    evicted: list = []
    policy.on_evict = lambda k, s: evicted.append(k)
    nxt = next_access_of(list(keys))
    hits = [policy.access(k, s, next_access=n) for k, s, n in zip(keys, sizes, nxt, strict=True)]
    return hits, evicted


def test_textbook_reference_string_has_nine_faults():
    # Silberschatz et al.'s OPT example: 3 frames, 9 page faults
    keys = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    hits, ev = run(make_policy("belady", 3), keys)
    assert hits.count(False) == 9
    assert ev == [7, 1, 0, 4, 3, 2]


def optimal_misses(keys: tuple[int, ...], capacity: int, bypass: bool = False) -> int:
    """Fewest misses over every eviction choice (each miss admitted, or also skipped when ``bypass``)."""

    @cache
    def best(i: int, held: frozenset) -> int:
        if i == len(keys):
            return 0
        k = keys[i]
        if k in held:
            return best(i + 1, held)
        if len(held) < capacity:
            return 1 + best(i + 1, held | {k})
        options = [best(i + 1, (held - {v}) | {k}) for v in held]
        if bypass:
            options.append(best(i + 1, held))
        return 1 + min(options)

    return best(0, frozenset())


@pytest.mark.parametrize("seed", range(40))
def test_miss_count_equals_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    n_keys = int(rng.integers(3, 7))
    capacity = int(rng.integers(1, n_keys))
    keys = tuple(int(k) for k in rng.integers(0, n_keys, size=int(rng.integers(5, 15))))
    hits, _ = run(make_policy("belady", capacity), keys)
    assert hits.count(False) == optimal_misses(keys, capacity)


@pytest.mark.parametrize("seed", range(40))
def test_bypass_variant_equals_the_optimum_when_admission_may_be_skipped(seed):
    rng = np.random.default_rng(100 + seed)
    n_keys = int(rng.integers(3, 7))
    capacity = int(rng.integers(1, n_keys))
    keys = tuple(int(k) for k in rng.integers(0, n_keys, size=int(rng.integers(5, 16))))
    hits, _ = run(make_policy("belady", capacity, bypass=True), keys)
    assert hits.count(False) == optimal_misses(keys, capacity, bypass=True)
    assert optimal_misses(keys, capacity, bypass=True) <= optimal_misses(keys, capacity)


def test_bypass_keeps_part_of_a_loop_that_demand_paging_min_cannot():
    # a loop of 3 keys through a 1-entry cache: demand paging replaces the entry on every miss and
    # never hits; skipping admission keeps key 0 and hits it once per turn after the first
    keys = (0, 1, 2) * 5
    plain, _ = run(make_policy("belady", 1), keys)
    skip, _ = run(make_policy("belady", 1, bypass=True), keys)
    assert sum(plain) == 0
    assert sum(skip) == 4


def test_hits_refresh_the_next_access():
    # without refreshing a's next use on its hit (index 3 -> never), b would be evicted at c
    keys = ["a", "b", "a", "a", "c", "b"]
    p = make_policy("belady", 2)
    hits, ev = run(p, keys)
    assert ev == ["a"]
    assert hits == [False, False, True, True, False, True]


def test_never_again_keys_go_first_least_recently_touched_first():
    p = make_policy("belady", 3)
    for k in ("x", "y", "z"):
        p.access(k, next_access=-1)
    ev: list = []
    p.on_evict = lambda k, s: ev.append(k)
    p.access("y", next_access=-1)  # touch y: it becomes the most recently touched never-again key
    p.access("w", next_access=50)
    p.access("v", next_access=60)
    assert ev == ["x", "z"]


@pytest.mark.parametrize("seed", range(10))
def test_matches_libcachesim_belady(seed):
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(seed)
    n, nkeys = 1500, int(rng.integers(10, 150))
    ids = [int(x) for x in (rng.zipf(1.2, n) % nkeys + 1 if seed % 2 else rng.integers(1, nkeys + 1, n))]
    var = seed % 3 == 0
    sizes = [int(x) for x in (rng.integers(1, 20, nkeys + 2)[ids] if var else np.ones(n, dtype=int))]
    cap = int(rng.integers(2, 60)) * (10 if var else 1)
    nxt = next_access_of(ids)
    ref = lcs.Belady(cap)
    theirs = []
    for k, s, nx in zip(ids, sizes, nxt, strict=True):
        req = lcs.Request(obj_size=s, obj_id=k)
        req.next_access_vtime = nx if nx >= 0 else 2**63 - 1  # libCacheSim's "never"
        theirs.append(bool(ref.get(req)))
    hits, _ = run(make_policy("belady", cap), ids, sizes)
    assert hits == theirs
