"""S3-FIFO: quick demotion, ghost re-admission, and agreement with libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import PolicyError, make_policy
from simcache.policies.s3fifo import S3FIFO


def run(policy, keys):
    evicted: list = []
    policy.on_evict = lambda k, s: evicted.append(k)
    hits = [policy.access(k) for k in keys]
    return hits, evicted


WARM = ["a", "a", "a", "b", "b"] + [f"c{i}" for i in range(1, 9)]  # fills S: a (2 hits), b (1 hit), 8 one-hit wonders


def test_one_hit_wonders_are_demoted_quickly_and_ghost_readmits_to_main():
    p = make_policy("s3fifo", 10)
    assert (p.small_capacity, p.main_capacity, p.ghost_capacity) == (1, 9, 9)
    hits, ev = run(p, WARM + ["x1", "x2", "b", "a", "b", "x3"])
    assert hits == [False, True, True, False, True] + [False] * 8 + [False, False, False, True, True, False]
    # x1: a (2 hits) moves to M, b (1 hit < threshold 2) is evicted to the ghost;
    # x2 and the ghost hit on b each evict the next one-hit wonder from S; x3 the next
    assert ev == ["b", "c1", "c2", "c3"]
    assert list(p._main) == ["a", "b"]  # b re-entered through the ghost, straight into M
    assert "b" not in p._ghost


def test_threshold_one_promotes_after_a_single_hit():
    p = make_policy("s3fifo", 10, move_to_main_threshold=1)
    _, ev = run(p, WARM + ["x1"])
    assert ev == ["c1"]
    assert list(p._main) == ["a", "b"]


def test_ghost_is_a_bounded_fifo():
    p = make_policy("s3fifo", 10)
    run(p, [f"k{i}" for i in range(21)])  # k0..k10 evicted in order; ghost keeps the last 9 ids
    assert list(p._ghost) == [f"k{i}" for i in range(2, 11)]
    run(p, ["k1", "k3"])  # k1 was forgotten: it enters S (evicting k11 to the ghost, which drops k2)
    assert "k1" in p._small and "k3" in p._main


def test_main_is_a_two_bit_clock():
    # capacity 4 split 2/2, ghost 3: a, b, c return through the ghost into M, which then overflows
    p = make_policy("s3fifo", 4, small_ratio=0.5)
    hits, ev = run(p, list("abcde" "abc" "aab" "fg" "d" "h"))
    assert hits == [False] * 8 + [True, True, True] + [False] * 4
    # f: M over its share; a (2 hits) and b (1 hit) are reinserted with freq - 1, c (0) goes;
    # h: a (now 1) is reinserted again while b (now 0) goes
    assert ev == ["a", "b", "c", "d", "c", "e", "f", "b"]
    assert list(p._main) == ["d", "a"] and p._freq["a"] == 0


def test_frequency_is_capped_at_three():
    p = make_policy("s3fifo", 10)
    run(p, ["m"] * 6)
    assert p._freq["m"] == 3


def test_bad_parameters_raise():
    with pytest.raises(PolicyError, match="small_ratio"):
        make_policy("s3fifo", 10, small_ratio=1.0)
    with pytest.raises(PolicyError, match="move_to_main_threshold"):
        make_policy("s3fifo", 10, move_to_main_threshold=0)


class LibCacheSimS3FIFO(S3FIFO):
    """S3FIFO plus the three libCacheSim quirks, to show everything else agrees bit for bit.

    libCacheSim's ``S3FIFO.c``: (1) until the first eviction, a new key goes to
    M once S is full; (2) a non-ghost object at least as large as S is not
    stored (after eviction has run for it); (3) an object larger than S is not
    admitted at all, even on a ghost hit (its ghost entry is still consumed).
    """

    name = ""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.has_evicted = False

    def _victim(self):
        self.has_evicted = True
        return super()._victim()

    def _on_insert(self, key, size, now, next_access, expire_at):
        in_ghost = key in self._ghost
        if size > self.small_capacity:
            if in_ghost:
                self._ghost_used -= self._ghost.pop(key)
            return
        if in_ghost:
            return super()._on_insert(key, size, now, next_access, expire_at)
        self._evict_until_fits(size)
        if size >= self.small_capacity:
            return
        self._store(key, size)
        self._freq[key] = 0
        if self.has_evicted or self._small_used < self.small_capacity:
            self._small[key] = size
            self._small_used += size
        else:
            self._main[key] = size
            self._main_used += size


@pytest.mark.parametrize("seed", range(12))
def test_matches_libcachesim_apart_from_its_documented_quirks(seed):
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(seed)
    n, nkeys = 2000, int(rng.integers(20, 400))
    ids = rng.zipf(1.2, n) % nkeys + 1 if seed % 2 else rng.integers(1, nkeys + 1, n)
    var = seed % 3 == 0
    sizes = rng.integers(1, 20, nkeys + 2)[ids] if var else np.ones(n, dtype=int)
    cap = int(rng.integers(10, 200)) * (10 if var else 1)
    ref = lcs.S3FIFO(cap)
    theirs = [bool(ref.get(lcs.Request(obj_size=int(s), obj_id=int(k)))) for k, s in zip(ids, sizes, strict=True)]
    p = LibCacheSimS3FIFO(cap)
    ours = [p.access(int(k), int(s)) for k, s in zip(ids, sizes, strict=True)]
    assert ours == theirs
