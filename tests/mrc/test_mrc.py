"""MRCs: exact LRU in one pass against replay, SHARDS against exact, reuse distances, mean absolute error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simcache.errors import UsageError
from simcache.kernels import ArraySource, hit_sequence, replay_fast
from simcache.mrc import exact_lru_mrc, mrc_mae, mrc_value, policy_mrc, reuse_distance_histogram, shards_mrc
from tests.conftest import shared_trace
from tests.kernels._reference import reference_hits


def test_hand_worked_loop() -> None:
    # a b c a b c: the second round has stack distance 3 everywhere
    sizes, mr = exact_lru_mrc(ArraySource(np.array([1, 2, 3, 1, 2, 3])))
    assert list(sizes) == [1, 2, 3]
    assert list(mr) == [1.0, 1.0, 0.5]


def test_hand_worked_reuse_distances() -> None:
    # a a b a c b: reuse distances 0 (a), 1 (a, after b), 2 (b, after a and c)
    counts, first = reuse_distance_histogram(ArraySource(np.array([5, 5, 6, 5, 7, 6])))
    assert list(counts) == [1, 1, 1]
    assert first == 3


@settings(max_examples=30, deadline=None)
@given(ids=st.lists(st.integers(0, 40), min_size=1, max_size=400), chunk=st.integers(1, 64))
def test_exact_mrc_equals_lru_replay_at_every_size(ids: list[int], chunk: int) -> None:
    arr = np.asarray(ids)
    sizes, mr = exact_lru_mrc(ArraySource(arr, chunk=chunk))
    assert list(sizes) == list(range(1, len(set(ids)) + 1))
    for c in sizes:
        hits = hit_sequence("lru", arr, None, int(c), bytes_mode=False)
        assert mr[c - 1] == pytest.approx(1.0 - hits.mean(), abs=1e-12)


def test_exact_mrc_against_reference_class_and_tree_compaction() -> None:
    # more requests than the first tree holds (2**16 slots), so the slots get compacted and regrown
    rng = np.random.default_rng(3)
    ids = rng.zipf(1.1, 150_000) % 40_000
    sizes, mr = exact_lru_mrc(ArraySource(ids, chunk=10_000))
    assert sizes[-1] == len(np.unique(ids))
    caps = [1, 10, 100, 1000, 10_000, int(sizes[-1]) - 1]
    res = replay_fast(ArraySource(ids), "lru", caps, bytes_mode=False)
    for c, r in zip(caps, res, strict=True):
        assert mr[c - 1] == pytest.approx(r["misses"] / r["requests"], abs=1e-12)
    short = ids[:3000]
    _, mr_short = exact_lru_mrc(ArraySource(short))
    assert mr_short[49] == pytest.approx(1.0 - reference_hits("lru", short, None, 50).mean(), abs=1e-12)


def test_exact_byte_mrc_equals_byte_lru_replay() -> None:
    rng = np.random.default_rng(4)
    ids = rng.zipf(1.2, 20_000) % 3000
    sizes = (ids * 2654435761 % 97 + 1).astype(np.int64)
    curve = exact_lru_mrc(ArraySource(ids, sizes), bytes_mode=True)
    caps = [97, 500, 5000, 50_000, 200_000]  # at least the largest object, so every object fits
    for r in replay_fast(ArraySource(ids, sizes), "lru", caps, bytes_mode=True):
        assert mrc_value(curve, np.array([r["capacity"]]))[0] == pytest.approx(r["misses"] / r["requests"], abs=1e-12)


def test_mrc_mae_hand_worked() -> None:
    a = (np.array([1, 2, 3]), np.array([1.0, 0.5, 0.2]))
    b = (np.array([2]), np.array([0.5]))  # read as a step: 1 below size 2, then 0.5
    assert mrc_mae(a, b) == pytest.approx(0.1)
    assert mrc_mae(a, a) == 0.0


def _zipf_source(n: int = 200_000, universe: int = 20_000, seed: int = 5) -> ArraySource:
    rng = np.random.default_rng(seed)
    return ArraySource(rng.zipf(1.1, n) % universe * 7 + 1, chunk=50_000)


def test_shards_at_rate_one_is_exact() -> None:
    src = _zipf_source(50_000, 5000)
    assert mrc_mae(exact_lru_mrc(src), shards_mrc(src, rate=1.0)) < 1e-12
    # fixed size larger than the number of objects never lowers the rate: exact again
    assert mrc_mae(exact_lru_mrc(src), shards_mrc(src, sample_size=10_000)) < 1e-12


def test_shards_sampling_error_is_small() -> None:
    src = _zipf_source()
    exact = exact_lru_mrc(src)
    # SHARDS reports MAE around 0.01 for R = 0.01 on traces of 10^7+ objects; with 2*10^4
    # objects R = 0.1 samples ~2000 of them, enough for a few hundredths (fixed seeds)
    assert mrc_mae(exact, shards_mrc(src, rate=0.1, seed=1)) < 0.02
    assert mrc_mae(exact, shards_mrc(src, sample_size=2000, seed=1)) < 0.02
    # and a much smaller sample is visibly worse than a larger one
    assert mrc_mae(exact, shards_mrc(src, rate=0.002, seed=1)) > mrc_mae(exact, shards_mrc(src, rate=0.1, seed=1))


def test_shards_on_cloudphysics() -> None:
    from simcache.traces import open_trace

    src = open_trace(shared_trace("cloudphysics_io.oracleGeneral.bin"))
    exact = exact_lru_mrc(src)
    assert mrc_mae(exact, shards_mrc(src, rate=0.1)) < 0.03


def test_shards_arguments_are_checked() -> None:
    src = ArraySource(np.arange(10))
    with pytest.raises(UsageError):
        shards_mrc(src)
    with pytest.raises(UsageError, match="rate"):
        shards_mrc(src, rate=0.0)
    with pytest.raises(UsageError, match="sample_size"):
        shards_mrc(src, sample_size=0)


def test_policy_mrc_matches_exact_for_lru_and_is_monotone_for_belady() -> None:
    src = _zipf_source(30_000, 3000)
    caps = [5, 50, 500, 2000]
    c, mr = policy_mrc(src, "lru", caps)
    assert list(c) == caps
    exact = exact_lru_mrc(src)
    assert np.allclose(mr, mrc_value(exact, np.array(caps)), atol=1e-12)
    _, opt = policy_mrc(src, "belady", caps)
    assert (np.diff(opt) <= 0).all() and (opt <= mr + 1e-12).all()  # MIN never loses to LRU
