"""SIEVE: hand-worked eviction orders and bit-exact agreement with libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import make_policy


def run(policy, requests):
    """Replay (key, size) requests; return (hits, evicted keys)."""
    evicted: list = []
    policy.on_evict = lambda k, s: evicted.append(k)
    hits = [policy.access(k, s) for k, s in requests]
    return hits, evicted


def unit(keys: str):
    return [(k, 1) for k in keys]


def test_hand_moves_toward_head_and_keeps_position():
    # A B C D fill; A and B are visited; E clears A and B and evicts C (the
    # first unvisited from the tail); the hand rests on D, so F evicts D even
    # though A (cleared, older) sits behind the hand.
    p = make_policy("sieve", 4)
    hits, ev = run(p, unit("ABCDABEAFG"))
    assert hits == [False] * 4 + [True, True, False, True, False, False]
    assert ev == ["C", "D", "E"]
    assert set(p) == {"A", "B", "F", "G"}


def test_hand_wraps_from_head_to_tail():
    # all three visited: the hand clears A, B, C, wraps to the tail and evicts A
    p = make_policy("sieve", 3)
    hits, ev = run(p, unit("ABCABCDECF"))
    assert hits == [False, False, False, True, True, True, False, False, True, False]
    # D evicts A (after wrap), E evicts B (hand on B), F clears C and evicts D
    assert ev == ["A", "B", "D"]
    assert set(p) == {"C", "E", "F"}


def test_remove_under_hand_moves_hand_to_newer_neighbour():
    p = make_policy("sieve", 3)
    run(p, unit("ABCAD"))  # A cleared, B evicted, hand on C
    p.remove("C")  # the hand must move to D, not restart at the tail (A)
    _, ev = run(p, unit("EF"))  # E fills the free slot; F evicts under the hand
    assert ev == ["D"]
    assert set(p) == {"A", "E", "F"}


def test_variable_sizes_evict_until_fit():
    p = make_policy("sieve", 10)
    hits, ev = run(p, [("A", 4), ("B", 4), ("C", 2), ("A", 4), ("D", 5)])
    assert hits == [False, False, False, True, False]
    assert ev == ["B", "C"]
    assert p.used == 9


def _lcs_hits(lcs, cap, ids, sizes):
    c = lcs.Sieve(cap)
    return [bool(c.get(lcs.Request(obj_size=int(s), obj_id=int(k)))) for k, s in zip(ids, sizes, strict=True)]


@pytest.mark.parametrize("seed", range(12))
def test_matches_libcachesim_sieve(seed):
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(seed)
    n, nkeys = 1500, int(rng.integers(10, 150))
    ids = rng.zipf(1.2, n) % nkeys + 1 if seed % 2 else rng.integers(1, nkeys + 1, n)
    var = seed % 3 == 0
    sizes = rng.integers(1, 20, nkeys + 2)[ids] if var else np.ones(n, dtype=int)
    cap = int(rng.integers(2, 60)) * (10 if var else 1)
    p = make_policy("sieve", cap)
    ours = [p.access(int(k), int(s)) for k, s in zip(ids, sizes, strict=True)]
    assert ours == _lcs_hits(lcs, cap, ids, sizes)
