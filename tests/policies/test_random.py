"""RANDOM: uniform victims drawn from the injected generator, reproducible by seed."""

from __future__ import annotations

from collections import Counter

import numpy as np

from simcache.policies import make_policy
from tests.policies import replay


def _evictions(seed: int, trace: list[int], cap: int = 5) -> list[object]:
    return replay(make_policy("random", cap, rng=np.random.default_rng(seed)), trace)[1]


def test_victims_follow_the_documented_draw() -> None:
    # victim = keys[rng.integers(n)] over the array of resident keys kept by swap-remove
    seed, cap = 2024, 3
    p = make_policy("random", cap, rng=np.random.default_rng(seed))
    hits, evicted = replay(p, ["A", "B", "C", "A", "D", "E", "F"])
    mirror = np.random.default_rng(seed)
    keys, expected = ["A", "B", "C"], []
    for new in "DEF":
        i = int(mirror.integers(len(keys)))
        expected.append(keys[i])
        keys[i] = keys[-1]
        keys.pop()
        keys.append(new)
    assert hits == [False, False, False, True, False, False, False]
    assert evicted == expected
    assert sorted(p.sizes) == sorted(keys)


def test_reproducible_for_a_seed_and_different_across_seeds() -> None:
    trace = [int(k) for k in np.random.default_rng(0).integers(0, 30, 400)]
    assert _evictions(7, trace) == _evictions(7, trace)
    assert _evictions(7, trace) != _evictions(8, trace)


def test_victim_is_uniform_among_residents() -> None:
    counts: Counter[str] = Counter()
    rng = np.random.default_rng(99)
    trials = 4000
    for _ in range(trials):
        _, evicted = replay(make_policy("random", 4, rng=rng), ["A", "B", "C", "D", "A", "E"])
        counts[evicted[0]] += 1
    # each of the 4 residents (the hit on A changes nothing) has p=1/4: allow 5 standard deviations
    sd = (trials * 0.25 * 0.75) ** 0.5
    assert set(counts) == set("ABCD")
    assert all(abs(c - trials / 4) < 5 * sd for c in counts.values())


def test_random_and_fifo_have_the_same_hit_ratio_under_irm() -> None:
    # Gelenbe (1973): under independent references RANDOM and FIFO have equal hit ratios
    n_keys, cap, n = 100, 10, 60_000
    pdf = 1.0 / np.arange(1, n_keys + 1) ** 0.8
    pdf /= pdf.sum()
    keys = np.random.default_rng(5).choice(n_keys, size=n, p=pdf)
    rnd = make_policy("random", cap, rng=np.random.default_rng(6))
    fifo = make_policy("fifo", cap)
    h_rnd = sum(rnd.access(int(k)) for k in keys) / n
    h_fifo = sum(fifo.access(int(k)) for k in keys) / n
    assert abs(h_rnd - h_fifo) < 0.01


def test_remove_and_bytes() -> None:
    p = make_policy("random", 10, rng=np.random.default_rng(1))
    replay(p, [("a", 5), ("b", 5)])
    assert p.remove("a")
    hits, evicted = replay(p, [("c", 5), ("d", 10)])
    assert hits == [False, False]
    assert sorted(evicted) == ["b", "c"] and list(p.sizes) == ["d"]
