"""Synthetic workloads: sampler distributions, flat memory, permutations, specs and SyntheticTrace."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simcache.errors import UsageError
from simcache.traces import TraceSource, read_all
from simcache.workloads import (
    FeistelPermutation,
    HotspotSampler,
    KeySampler,
    SyntheticTrace,
    UniformSampler,
    WorkloadSpec,
    ZipfSampler,
    make_sampler,
    object_sizes,
    zipf_pmf,
    zipf_trace,
)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.8, 1.0, 1.5, 3.0])
def test_zipf_frequencies_match_pmf(alpha: float) -> None:
    n, draws = 1000, 1_000_000
    f = np.bincount(ZipfSampler(alpha, n, np.random.default_rng(2024)).sample(draws), minlength=n)
    assert f.size == n  # no id outside [0, n)
    e = zipf_pmf(alpha, n) * draws
    keep = e >= 5  # chi-square needs expected counts >= 5; pool the rest
    obs = np.append(f[keep], f[~keep].sum())
    exp = np.append(e[keep], e[~keep].sum())
    if exp[-1] < 5:
        obs, exp = obs[:-1], exp[:-1]
    chi2 = ((obs - exp) ** 2 / exp).sum()
    # fixed seed; a 0.1% level test, so a correct sampler passes and a biased one (e.g. off-by-one ranks) fails
    assert stats.chi2.sf(chi2, obs.size - 1) > 1e-3


def test_zipf_off_by_one_would_be_caught() -> None:
    # the chi-square above distinguishes Zipf(1.0) from Zipf(1.05)
    n, draws = 1000, 1_000_000
    f = np.bincount(ZipfSampler(1.05, n, np.random.default_rng(2024)).sample(draws), minlength=n)
    e = zipf_pmf(1.0, n) * draws
    keep = e >= 5
    chi2 = ((f[keep] - e[keep]) ** 2 / e[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) < 1e-6


def test_zipf_huge_catalogue_top_ranks_and_flat_memory() -> None:
    n, draws = 10**8, 100_000
    tracemalloc.start()
    try:
        s = ZipfSampler(1.0, n, np.random.default_rng(3), scramble=True)
        ids = s.sample(draws)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"peak {peak / 1e6:.1f} MB"
    assert ids.min() >= 0 and ids.max() < n
    # rank r has probability 1/((r+1) H_n), H_n = ln n + gamma + 1/(2n)
    h_n = math.log(n) + 0.5772156649015329 + 1 / (2 * n)
    ranks = s.permutation.inverse(ids)
    for r in range(3):
        p = 1 / ((r + 1) * h_n)
        got = np.mean(ranks == r)
        assert abs(got - p) < 5 * math.sqrt(p * (1 - p) / draws)


def test_zipf_validation() -> None:
    with pytest.raises(UsageError, match="alpha"):
        ZipfSampler(-0.1, 10, np.random.default_rng(0))
    with pytest.raises(UsageError, match="n_objects"):
        ZipfSampler(1.0, 0, np.random.default_rng(0))
    # one object: always id 0
    assert ZipfSampler(0.9, 1, np.random.default_rng(0)).sample(100).tolist() == [0] * 100


@given(n=st.integers(1, 3000), seed=st.integers(0, 2**32))
@settings(max_examples=80, deadline=None)
def test_feistel_is_a_bijection(n: int, seed: int) -> None:
    perm = FeistelPermutation(n, seed)
    image = perm(np.arange(n))
    assert np.array_equal(np.sort(image), np.arange(n))
    assert np.array_equal(perm.inverse(image), np.arange(n))


def test_scramble_moves_popular_ids_but_keeps_distribution() -> None:
    n = 10_000
    a = ZipfSampler(0.9, n, np.random.default_rng(9), scramble=True)
    assert FeistelPermutation(n, 1)(np.arange(20)).tolist() != FeistelPermutation(n, 2)(np.arange(20)).tolist()
    ids = a.sample(200_000)
    top = np.bincount(ids, minlength=n).argsort()[::-1][:3]
    assert top.tolist() == a.permutation(np.arange(3)).tolist()  # the three most popular ranks
    assert top.max() > 100  # and they are no longer the small ids


def test_hotspot_fractions() -> None:
    n, draws = 10_000, 400_000
    s = HotspotSampler(n, 0.9, 0.1, np.random.default_rng(1))
    ids = s.sample(draws)
    assert s.hot == 1000
    hot_share = np.mean(ids < 1000)
    assert abs(hot_share - 0.9) < 5 * math.sqrt(0.09 / draws)
    # uniform inside each set: the hottest and coldest hot objects differ only by noise
    counts = np.bincount(ids, minlength=n)
    assert counts[:1000].mean() == pytest.approx(0.9 * draws / 1000, rel=0.01)
    assert counts[1000:].mean() == pytest.approx(0.1 * draws / 9000, rel=0.01)
    trace = read_all(SyntheticTrace(WorkloadSpec(kind="hotspot", n_objects=n), draws, seed=5)).ids
    assert abs(np.mean(trace < 1000) - 0.9) < 5 * math.sqrt(0.09 / draws)


def test_uniform_sampler() -> None:
    ids = UniformSampler(50, np.random.default_rng(0)).sample(100_000)
    counts = np.bincount(ids, minlength=50)
    assert counts.size == 50
    assert stats.chisquare(counts).pvalue > 1e-3


def test_key_sampler_serves_the_same_draws_one_at_a_time() -> None:
    ks = KeySampler(ZipfSampler(0.8, 100, np.random.default_rng(4)), batch=16)
    got = [ks.next() for _ in range(40)]
    ref = ZipfSampler(0.8, 100, np.random.default_rng(4))
    want = np.concatenate([ref.sample(16) for _ in range(3)])[:40].tolist()
    assert got == want and all(isinstance(k, int) for k in got)


def test_make_sampler() -> None:
    rng = np.random.default_rng(0)
    assert isinstance(make_sampler(WorkloadSpec(kind="zipf"), rng), ZipfSampler)
    assert isinstance(make_sampler(WorkloadSpec(kind="uniform"), rng), UniformSampler)
    with pytest.raises(UsageError, match="SyntheticTrace"):
        make_sampler(WorkloadSpec(kind="shifting"), rng)


FULL = WorkloadSpec(
    kind="zipf",
    n_objects=5000,
    alpha=0.9,
    scramble=True,
    scan_fraction=0.2,
    scan_length=300,
    size_dist="pareto",
    size_params={"alpha": 1.2, "xm": 64},
    write_ratio=0.25,
    rate=500.0,
)


def _equal(a: object, b: object) -> bool:
    for f in ("ids", "sizes", "times", "next_access", "ops"):
        x, y = getattr(a, f), getattr(b, f)
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    return True


def test_synthetic_trace_is_a_trace_source_and_deterministic() -> None:
    t = SyntheticTrace(FULL, 70_000, seed=8, chunk_size=4096)
    assert isinstance(t, TraceSource) and len(t) == t.count() == 70_000
    a, b = read_all(t), read_all(t)  # re-iteration regenerates the same requests
    assert len(a) == 70_000 and _equal(a, b)
    assert _equal(a, read_all(SyntheticTrace(FULL, 70_000, seed=8)))
    assert not np.array_equal(a.ids, read_all(SyntheticTrace(FULL, 70_000, seed=9)).ids)


@given(chunk=st.sampled_from([1, 7, 1000, 65_536, 1 << 20]) | st.integers(2, 20_000))
@settings(max_examples=12, deadline=None)
def test_synthetic_trace_chunk_size_independent(chunk: int) -> None:
    whole = read_all(SyntheticTrace(FULL, 70_000, seed=8, chunk_size=1 << 20))
    chunks = list(SyntheticTrace(FULL, 70_000, seed=8, chunk_size=chunk).iter_chunks())
    assert all(len(c) == chunk for c in chunks[:-1])
    assert _equal(read_all(_Listed(chunks)), whole)


class _Listed:
    name = "listed"

    def __init__(self, chunks: list) -> None:
        self.chunks = chunks

    def iter_chunks(self):  # noqa: ANN201
        return iter(self.chunks)


def test_shorter_trace_is_a_prefix_and_extras_do_not_move_ids() -> None:
    long = read_all(SyntheticTrace(FULL, 100_000, seed=1))
    short = read_all(SyntheticTrace(FULL, 12_345, seed=1))
    assert np.array_equal(long.ids[:12_345], short.ids) and np.array_equal(long.times[:12_345], short.times)
    plain = WorkloadSpec(kind="zipf", n_objects=5000, alpha=0.9, scramble=True, scan_fraction=0.2, scan_length=300)
    assert np.array_equal(read_all(SyntheticTrace(plain, 100_000, seed=1)).ids, long.ids)


def test_sizes_are_a_function_of_the_id() -> None:
    c = read_all(SyntheticTrace(FULL, 50_000, seed=2))
    order = np.argsort(c.ids, kind="stable")
    ids, sizes = c.ids[order], c.sizes[order]
    same = ids[1:] == ids[:-1]
    assert same.any() and np.array_equal(sizes[1:][same], sizes[:-1][same])
    assert sizes.min() >= 64


def test_size_distributions() -> None:
    ids = np.arange(200_000)
    s = object_sizes(ids, "lognormal", {"mu": 7.0, "sigma": 1.5}, seed=1)
    assert np.median(s) == pytest.approx(math.exp(7.0), rel=0.02)
    assert np.std(np.log(s)) == pytest.approx(1.5, rel=0.02)
    u = object_sizes(ids, "uniform", {"low": 3, "high": 6}, seed=1)
    assert set(np.unique(u).tolist()) == {3, 4, 5, 6}
    assert np.bincount(u)[3:].min() > 0.24 * ids.size
    p = object_sizes(ids, "pareto", {"alpha": 2.0, "xm": 100}, seed=1)
    # P(X > x) = (xm / x)^alpha: a quarter of objects exceed 200
    assert p.min() >= 100 and np.mean(p > 200) == pytest.approx(0.25, abs=0.005)
    e = object_sizes(ids, "empirical", {"values": [10, 20, 30], "weights": [1, 2, 1]}, seed=1)
    assert np.mean(e == 20) == pytest.approx(0.5, abs=0.005) and set(np.unique(e).tolist()) == {10, 20, 30}
    assert np.array_equal(object_sizes(ids[::-1], "lognormal", {"mu": 7.0, "sigma": 1.5}, seed=1), s[::-1])
    assert not np.array_equal(object_sizes(ids, "lognormal", {"mu": 7.0, "sigma": 1.5}, seed=2), s)
    assert object_sizes(ids[:5], "constant", {"size": 4096}).tolist() == [4096] * 5


def test_scans_fresh_sequential_and_at_the_requested_share() -> None:
    n, length, reqs = 1000, 100, 1_000_000
    spec = WorkloadSpec(kind="uniform", n_objects=n, scan_fraction=0.1, scan_length=length)
    ids = read_all(SyntheticTrace(spec, reqs, seed=3)).ids
    scan = ids >= n
    # slots of 100 requests are scans with probability 0.1: 10**4 slots, sd of the share 0.003
    assert abs(scan.mean() - 0.1) < 0.015
    assert np.unique(ids[scan]).size == scan.sum()  # every scanned id is fresh
    slots = scan.reshape(-1, length)
    assert (slots.all(axis=1) | ~slots.any(axis=1)).all()  # whole aligned slots are scans
    runs = ids.reshape(-1, length)[slots.all(axis=1)]
    assert (np.diff(runs, axis=1) == 1).all()  # sequential


def test_shifting_popularity_rotates() -> None:
    n, period = 1000, 20_000
    spec = WorkloadSpec(kind="shifting", n_objects=n, alpha=1.2, shift_period=period, shift_step=100)
    ids = read_all(SyntheticTrace(spec, 5 * period, seed=4)).ids.reshape(5, period)
    for e in range(5):
        assert np.bincount(ids[e], minlength=n).argmax() == (100 * e) % n
    fresh = WorkloadSpec(kind="shifting", n_objects=n, alpha=1.2, shift_period=period)
    ids = read_all(SyntheticTrace(fresh, 3 * period, seed=4)).ids.reshape(3, period)
    tops = [set(np.bincount(ids[e], minlength=n).argsort()[-10:].tolist()) for e in range(3)]
    assert len(tops[0] & tops[1]) < 5 and len(tops[1] & tops[2]) < 5


def test_write_ratio_and_poisson_arrivals() -> None:
    spec = WorkloadSpec(kind="uniform", n_objects=100, write_ratio=0.3, rate=250.0)
    c = read_all(SyntheticTrace(spec, 200_000, seed=6))
    assert c.ops.dtype == np.int8 and set(np.unique(c.ops).tolist()) == {0, 1}
    assert c.ops.mean() == pytest.approx(0.3, abs=0.005)
    gaps = np.diff(c.times)
    assert (gaps > 0).all() and gaps.mean() == pytest.approx(1 / 250, rel=0.01)
    # exponential gaps: coefficient of variation 1
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.02)
    plain = read_all(SyntheticTrace(WorkloadSpec(kind="uniform", n_objects=100), 10, seed=6))
    assert plain.ops is None and plain.times is None and plain.sizes is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "pareto"}, "WorkloadSpec.kind must be one of zipf, uniform, hotspot, shifting"),
        ({"n_objects": 0}, "WorkloadSpec.n_objects must be an integer in \\[1, 2\\*\\*62\\]"),
        ({"alpha": -1}, "WorkloadSpec.alpha"),
        ({"write_ratio": 1.5}, "WorkloadSpec.write_ratio must be a number in \\[0, 1\\]"),
        ({"hot_object_fraction": 1.0}, "WorkloadSpec.hot_object_fraction"),
        ({"scan_length": 0}, "WorkloadSpec.scan_length"),
        ({"rate": 0}, "WorkloadSpec.rate"),
        (
            {"size_dist": "normal"},
            "WorkloadSpec.size_dist must be one of constant, uniform, lognormal, pareto, empirical",
        ),
        ({"size_dist": "pareto", "size_params": {"shape": 1}}, "pareto sizes take alpha, xm, max"),
        ({"size_dist": "uniform", "size_params": {"low": 5, "high": 2}}, "'high'.*integer >= low"),
    ],
)
def test_spec_validation_names_field(kwargs: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        WorkloadSpec(**kwargs)


def test_spec_from_params_and_frozen() -> None:
    spec = WorkloadSpec.from_params(
        {
            "kind": "zipf",
            "alpha": "1.1",
            "n_objects": "1e6",
            "scramble": "yes",
            "size_dist": "uniform",
            "size.high": "9",
        }
    )
    assert spec.alpha == 1.1 and spec.n_objects == 1_000_000 and spec.scramble is True
    assert dict(spec.size_params) == {"high": 9.0}
    with pytest.raises(UsageError, match="no parameter 'alpah'"):
        WorkloadSpec.from_params({"alpah": "1"})
    with pytest.raises(UsageError, match="n_objects expects an integer"):
        WorkloadSpec.from_params({"n_objects": "2.5"})
    with pytest.raises(AttributeError):
        spec.alpha = 2.0  # type: ignore[misc]


def test_synthetic_trace_validation() -> None:
    with pytest.raises(UsageError, match="n_requests"):
        SyntheticTrace(WorkloadSpec(), -1, seed=0)
    with pytest.raises(UsageError, match="chunk_size"):
        SyntheticTrace(WorkloadSpec(), 10, seed=0, chunk_size=0)
    assert read_all(SyntheticTrace(WorkloadSpec(), 0, seed=0)).ids.size == 0


def test_zipf_trace_is_seeded() -> None:
    a = zipf_trace(0.8, 1000, 5000, seed=1)
    assert np.array_equal(a, zipf_trace(0.8, 1000, 5000, seed=1))
    assert not np.array_equal(a, zipf_trace(0.8, 1000, 5000, seed=2))
    assert a.dtype == np.int64 and a.min() >= 0 and a.max() < 1000
