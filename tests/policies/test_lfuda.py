"""LFU-DA: frequency with dynamic aging."""

from __future__ import annotations

import pytest

from simcache.policies import make_policy


def run(policy, requests):
    evicted: list = []
    policy.on_evict = lambda k, s: evicted.append(k)
    hits = [policy.access(k, s) for k, s in requests]
    return hits, evicted


def test_aging_evicts_a_formerly_hot_key():
    p = make_policy("lfuda", 2)
    reqs = [("a", 1)] * 4 + [(f"x{i}", 1) for i in range(1, 6)]
    hits, ev = run(p, reqs)
    # a: F = 4, H = 4.  Each newcomer x_i evicts x_{i-1} and raises L by one: x5 arrives with L = 3,
    # a and x4 both have H = 4 and a, inserted first, goes.  Pure LFU would keep a forever.
    assert hits == [False, True, True, True] + [False] * 5
    assert ev == ["x1", "x2", "x3", "a"]
    assert p.inflation == pytest.approx(4.0)


def test_size_does_not_enter_the_priority():
    # GDSF would evict the big object; LFU-DA evicts by (H, insertion order) only
    p = make_policy("lfuda", 10)
    _, ev = run(p, [("small", 1), ("big", 8), ("new", 2)])
    assert ev == ["small"]
    g = make_policy("gdsf", 10)
    _, ev2 = run(g, [("small", 1), ("big", 8), ("new", 2)])
    assert ev2 == ["big"]


def test_hits_protect_keys():
    p = make_policy("lfuda", 3)
    _, ev = run(p, [("a", 1), ("b", 1), ("c", 1), ("a", 1), ("b", 1), ("d", 1), ("e", 1)])
    # c (H 1) goes at d (L = 1, d H = 2); a, b have H = 2 as well and are older: a goes at e
    assert ev == ["c", "a"]
