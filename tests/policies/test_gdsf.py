"""GDSF: size-aware priorities, inflation, tie order."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import PolicyError, make_policy


def run(policy, requests):
    evicted: list = []
    policy.on_evict = lambda k, s: evicted.append(k)
    hits = [policy.access(k, s) for k, s in requests]
    return hits, evicted


def test_prefers_evicting_large_objects_and_inflates():
    p = make_policy("gdsf", 10)
    # A (5 bytes) has H = 1/5, B and C (1 byte) H = 1: D (4) needs room and A goes, L = 0.2
    hits, ev = run(p, [("A", 5), ("B", 1), ("C", 1), ("D", 4)])
    assert ev == ["A"] and p.inflation == pytest.approx(0.2)
    # D has H = 0.2 + 1/4 = 0.45 < C's 1.0 < B's 0.2 + 2 (after a hit): E (5) evicts D, L = 0.45
    hits, ev = run(p, [("B", 1), ("E", 5)])
    assert hits == [True, False] and ev == ["D"]
    assert p.inflation == pytest.approx(0.45)
    assert p._prio["E"] == pytest.approx(0.45 + 1 / 5)


def test_lru_like_would_keep_the_large_object():
    # the same trace under LRU evicts the small, older B instead: the difference is size awareness
    lru = make_policy("lru", 10)
    _, ev = run(lru, [("B", 1), ("A", 5), ("C", 1), ("D", 4)])
    gdsf = make_policy("gdsf", 10)
    _, ev2 = run(gdsf, [("B", 1), ("A", 5), ("C", 1), ("D", 4)])
    assert ev == ["B"] and ev2 == ["A"]


def test_ties_go_to_the_earliest_inserted():
    p = make_policy("gdsf", 3)
    _, ev = run(p, [(k, 1) for k in "abcde"])
    # d evicts a (all H = 1, a oldest); L = 1 so d has H = 2; e then evicts b (H 1, older than c)
    assert ev == ["a", "b"]


def test_frequency_counts_hits():
    p = make_policy("gdsf", 2)
    _, ev = run(p, [("a", 1), ("a", 1), ("a", 1), ("b", 1), ("c", 1), ("d", 1)])
    # a: F = 3 (H = 3); b (H 1) goes at c (L = 1), c (H 2) goes at d (L = 2); a survives
    assert ev == ["b", "c"] and "a" in p


def test_a_common_cost_scales_priorities_only():
    rng = np.random.default_rng(0)
    reqs = [(int(k), int(k) % 7 + 1) for k in rng.zipf(1.3, 2000) % 80]
    _, ev1 = run(make_policy("gdsf", 60), reqs)
    _, ev2 = run(make_policy("gdsf", 60, cost=8.0), reqs)
    assert ev1 == ev2 and len(ev1) > 100


def test_cost_must_be_positive():
    with pytest.raises(PolicyError, match="cost"):
        make_policy("gdsf", 10, cost=0.0)
