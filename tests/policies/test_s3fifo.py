"""S3-FIFO: quick demotion, ghost re-admission, and agreement with libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import PolicyError, make_policy


def run(policy, keys):
    evicted: list = []
    policy.on_evict = lambda k, s: evicted.append(k)
    hits = [policy.access(k) for k in keys]
    return hits, evicted


WARM = ["a", "a", "a", "b", "b"] + [f"c{i}" for i in range(1, 9)]  # fills S: a (2 hits), b (1 hit), 8 one-hit wonders


def test_one_hit_wonders_are_demoted_quickly_and_ghost_readmits_to_main():
    p = make_policy("s3fifo", 10, refuse_large=False)
    assert (p.small_capacity, p.main_capacity, p.ghost_capacity) == (1, 9, 9)
    hits, ev = run(p, WARM + ["x1", "x2", "b", "a", "b", "x3"])
    assert hits == [False, True, True, False, True] + [False] * 8 + [False, False, False, True, True, False]
    # x1: a (2 hits) moves to M, b (1 hit < threshold 2) is evicted to the ghost;
    # x2 and the ghost hit on b each evict the next one-hit wonder from S; x3 the next
    assert ev == ["b", "c1", "c2", "c3"]
    assert list(p._main) == ["a", "b"]  # b re-entered through the ghost, straight into M
    assert "b" not in p._ghost


def test_threshold_one_promotes_after_a_single_hit():
    p = make_policy("s3fifo", 10, move_to_main_threshold=1, refuse_large=False)
    _, ev = run(p, WARM + ["x1"])
    assert ev == ["c1"]
    assert list(p._main) == ["a", "b"]


def test_ghost_is_a_bounded_fifo():
    p = make_policy("s3fifo", 10, refuse_large=False)
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
    p = make_policy("s3fifo", 10, refuse_large=False)
    run(p, ["m"] * 6)
    assert p._freq["m"] == 3


def test_bad_parameters_raise():
    with pytest.raises(PolicyError, match="small_ratio"):
        make_policy("s3fifo", 10, small_ratio=1.0)
    with pytest.raises(PolicyError, match="move_to_main_threshold"):
        make_policy("s3fifo", 10, move_to_main_threshold=0)


def test_objects_as_large_as_the_small_queue_are_refused_as_in_the_papers_code():
    # capacity 100 bytes: S holds 10. The paper's code (S3FIFO_can_insert, S3FIFO_insert) refuses
    # an object larger than S outright, and one exactly as large after evicting for it.
    p = make_policy("s3fifo", 100)
    evicted: list = []
    p.on_evict = lambda k, s: evicted.append(k)
    for k in range(10):
        assert not p.access(k, 9)  # 90 bytes: S overflows into M only by eviction
    assert not p.access("big", 11) and "big" not in p and evicted == []
    assert not p.access("edge", 10)  # 90 + 10 fits: nothing evicted, and still not admitted
    assert "edge" not in p and evicted == []
    p2 = make_policy("s3fifo", 100)
    for k in range(11):
        p2.access(k, 9)  # 99 bytes: the next object needs room
    assert not p2.access("edge", 10)
    assert "edge" not in p2 and len(p2) == 10  # one eviction made room, then the object was refused
    # the switch admits both
    q = make_policy("s3fifo", 100, refuse_large=False)
    assert not q.access("big", 11) and "big" in q


def test_unit_sizes_below_ten_entries_admit_nothing_by_default():
    # S = int(9 * 0.1) = 0 entries: every new key is at least as large as S
    p = make_policy("s3fifo", 9)
    assert [p.access(k) for k in "aab"] == [False, False, False] and len(p) == 0


def test_libcachesim_variant_fills_main_before_the_first_eviction():
    # capacity 20 entries: S = 2. Keys 3..20 arrive while S is full and nothing was evicted: they go to M
    p = make_policy("s3fifo", 20, variant="libcachesim")
    for k in range(20):
        p.access(k)
    assert list(p._small) == [0, 1] and list(p._main) == list(range(2, 20))
    p.access(20)  # M is not over its share (18): S's tail 0 is evicted; from now on new keys enter S
    assert list(p._small) == [1, 20]
    paper = make_policy("s3fifo", 20)
    for k in range(20):
        paper.access(k)
    assert list(paper._small) == list(range(20)) and not paper._main


def test_bad_variant_raises():
    with pytest.raises(PolicyError, match="variant"):
        make_policy("s3fifo", 10, variant="cachelib")
    with pytest.raises(PolicyError, match="variant"):
        make_policy("lru", 10, variant="cachelib")


def _lcs_hits(lcs, cls, cap, ids, sizes):
    ref = cls(cap)
    return [bool(ref.get(lcs.Request(obj_size=int(s), obj_id=int(k)))) for k, s in zip(ids, sizes, strict=True)]


@pytest.mark.parametrize("seed", range(12))
def test_libcachesim_variant_matches_libcachesim_hit_for_hit(seed):
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(seed)
    n, nkeys = 2000, int(rng.integers(20, 400))
    ids = rng.zipf(1.2, n) % nkeys + 1 if seed % 2 else rng.integers(1, nkeys + 1, n)
    var = seed % 3 == 0
    sizes = rng.integers(1, 20, nkeys + 2)[ids] if var else np.ones(n, dtype=int)
    cap = int(rng.integers(10, 200)) * (10 if var else 1)
    theirs = _lcs_hits(lcs, lcs.S3FIFO, cap, ids, sizes)
    p = make_policy("s3fifo", cap, variant="libcachesim")
    ours = [p.access(int(k), int(s)) for k, s in zip(ids, sizes, strict=True)]
    assert ours == theirs
    from simcache.kernels import hit_sequence

    fast = hit_sequence("s3fifo", ids, sizes if var else None, cap, bytes_mode=var, params={"variant": "libcachesim"})
    assert fast.tolist() == theirs
