"""Reference policies replayed on synthetic IRM Zipf traces agree with the analytic models.

Every policy run measures 10**6 requests after a warm-up of 2*10**5 (the TTL
store runs measure 5*10**5), with fixed seeds.
The tolerance 0.005 is ~5x the standard error of a hit ratio measured over
10**6 correlated requests plus the approximation error of Che/FIFO at these
sizes (both < 0.001 in the runs that calibrated them).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from simcache import Cache, make_policy
from simcache.theory import che_hit_ratio, fifo_hit_ratio, lfu_hit_ratio, random_hit_ratio, ttl_hit_ratio
from simcache.workloads import zipf_pmf, zipf_trace

N = 10_000
WARM = 200_000
MEASURE = 1_000_000
TOL = 0.005
slow = pytest.mark.slow


@functools.lru_cache(maxsize=2)
def trace(alpha: float) -> tuple[list[int], list[int]]:
    ids = zipf_trace(alpha, N, WARM + MEASURE, seed=11).tolist()
    return ids[:WARM], ids[WARM:]


def measured_hit_ratio(policy_name: str, alpha: float, capacity: int, **params: object) -> float:
    warm, measure = trace(alpha)
    policy = make_policy(policy_name, capacity, rng=np.random.default_rng(5), **params)
    access = policy.access
    for key in warm:
        access(key)
    hits = 0
    for key in measure:
        hits += access(key)
    return hits / len(measure)


CASES = [
    # (policy, theory, alpha, C); the first case of each policy runs in the quick suite
    ("lru", che_hit_ratio, 0.8, 100),
    ("fifo", fifo_hit_ratio, 1.0, 100),
    ("random", random_hit_ratio, 1.0, 1000),
    pytest.param("random", random_hit_ratio, 0.8, 1000, marks=slow),
    pytest.param("lru", che_hit_ratio, 0.8, 1000, marks=slow),
    pytest.param("lru", che_hit_ratio, 1.0, 100, marks=slow),
    pytest.param("lru", che_hit_ratio, 1.0, 1000, marks=slow),
    pytest.param("fifo", fifo_hit_ratio, 0.8, 100, marks=slow),
    pytest.param("fifo", fifo_hit_ratio, 0.8, 1000, marks=slow),
    pytest.param("fifo", fifo_hit_ratio, 1.0, 1000, marks=slow),
    pytest.param("random", random_hit_ratio, 0.8, 100, marks=slow),
    pytest.param("random", random_hit_ratio, 1.0, 100, marks=slow),
]


@pytest.mark.parametrize(("policy", "theory", "alpha", "capacity"), CASES)
def test_policy_matches_theory(policy: str, theory: object, alpha: float, capacity: int) -> None:
    got = measured_hit_ratio(policy, alpha, capacity)
    p = zipf_pmf(alpha, N)
    want = theory(p, capacity)  # type: ignore[operator]
    # no demand-fetch policy beats keeping the C most popular objects under IRM
    assert got < lfu_hit_ratio(p, capacity)
    assert abs(got - want) < TOL, f"{policy} alpha={alpha} C={capacity}: simulated {got:.4f}, theory {want:.4f}"


@pytest.mark.parametrize(("alpha", "capacity"), [(1.0, 1000), pytest.param(0.8, 100, marks=slow)])
def test_static_lfu_bounds_and_perfect_lfu_reaches_it(alpha: float, capacity: int) -> None:
    p = zipf_pmf(alpha, N)
    bound = lfu_hit_ratio(p, capacity)
    # perfect LFU (counts survive eviction) converges to the C most popular objects
    lfu = measured_hit_ratio("lfu", alpha, capacity, keep_history=True)
    assert bound - TOL < lfu <= bound + TOL
    # the requests to ranks < C in the trace carry the same mass
    _, measure = trace(alpha)
    assert np.mean(np.asarray(measure) < capacity) == pytest.approx(bound, abs=TOL)
    # theory's ordering for these parameters: LFU > LRU > FIFO
    assert bound > che_hit_ratio(p, capacity) > fifo_hit_ratio(p, capacity)


class FakeClock:
    """A settable clock for the store."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("reset_on_hit", [False, pytest.param(True, marks=slow)])
def test_ttl_cache_matches_theory(reset_on_hit: bool) -> None:
    # Poisson arrivals at rate 1000/s split by Zipf popularity: object i sees a Poisson stream of rate 1000 p_i
    rate, ttl, alpha = 1000.0, 2.0, 0.8
    warm, measure = trace(alpha)
    # the store's Python path is ~3x slower than a bare policy; 20 s of warm-up is 10 TTLs
    warm, measure = warm[:20_000], measure[: MEASURE // 2]
    keys = warm + measure
    times = np.cumsum(np.random.default_rng(7).exponential(1.0 / rate, len(keys))).tolist()
    clock = FakeClock()
    cache = Cache("lru", N, clock=clock, default_ttl=ttl)  # room for every object: only expiry removes
    hits = 0
    for i, (key, t) in enumerate(zip(keys, times, strict=True)):
        clock.now = t
        if reset_on_hit:
            hit = cache.get_entry(key) is not None
            cache.set(key, None)  # a hit rewrites the value, restarting its TTL
        else:
            hit = cache.access(key)  # expiry fixed when the miss inserts the object
        if i >= len(warm):
            hits += hit
    got = hits / len(measure)
    want = ttl_hit_ratio(rate * zipf_pmf(alpha, N), ttl, reset_on_hit)
    assert cache.stats.evictions == 0 and cache.stats.expired > 0
    assert abs(got - want) < TOL, f"TTL reset_on_hit={reset_on_hit}: simulated {got:.4f}, theory {want:.4f}"
