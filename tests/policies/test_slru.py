"""SLRU: probationary and protected LRU segments (Karedla, Love & Wherry 1994)."""

from __future__ import annotations

import pytest

from simcache.policies import PolicyError, make_policy
from tests.policies import hits_of, replay


def test_promotion_demotion_and_eviction_by_hand() -> None:
    p = make_policy("slru", 4, protected_ratio=0.5)  # protected holds 2
    hits, evicted = replay(p, "ABAB" + "CC" + "DEA")
    # C's second hit promotes it and pushes A (protected LRU) back to probationary MRU;
    # E then evicts A (probationary LRU), and A's return evicts D
    assert hits == hits_of("mmHH mH mmm")
    assert evicted == ["A", "D"]
    assert list(p.protected) == ["B", "C"]
    assert list(p.probationary) == ["E", "A"]


def test_protected_is_used_when_probationary_is_empty() -> None:
    hits, evicted = replay(make_policy("slru", 2, protected_ratio=1.0), "AABB" + "C")
    assert hits == hits_of("mHmH m")
    assert evicted == ["A"]


def test_hit_in_protected_refreshes_recency() -> None:
    p = make_policy("slru", 4, protected_ratio=0.5)
    replay(p, "ABAB" + "A" + "CC")  # A refreshed, so B is the protected LRU when C is promoted
    assert list(p.protected) == ["A", "C"]
    assert list(p.probationary) == ["B"]


def test_hot_set_survives_a_scan_that_flushes_lru() -> None:
    hot = [f"h{i}" for i in range(5)]
    trace = hot + hot + [f"s{i}" for i in range(50)] + hot
    slru_hits, _ = replay(make_policy("slru", 10), trace)
    lru_hits, _ = replay(make_policy("lru", 10), trace)
    assert all(slru_hits[-5:])
    assert not any(lru_hits[-5:])


def test_byte_capacity_and_resize_in_protected() -> None:
    p = make_policy("slru", 10, protected_ratio=0.5)  # protected holds 5 bytes
    hits, evicted = replay(p, [("a", 3), ("b", 3), ("a", 3), ("b", 3), ("c", 4), ("d", 2)])
    # b's promotion overflows protected (6 > 5): a is demoted; d then evicts a
    assert hits == [False, False, True, True, False, False]
    assert evicted == ["a"]
    assert (list(p.protected), list(p.probationary)) == (["b"], ["c", "d"])
    # b grows to 6 on a hit: protected overflows, b is demoted, and c makes room for it
    hits, evicted = replay(p, [("b", 6)])
    assert hits == [True] and evicted == ["c"]
    assert (list(p.protected), list(p.probationary)) == ([], ["d", "b"])
    assert p.used == 8 and p.protected_used == 0


def test_protected_ratio_validated() -> None:
    with pytest.raises(PolicyError, match="protected_ratio"):
        make_policy("slru", 4, protected_ratio=1.5)
