"""Analytic formulas on cases worked by hand, plus invariants they must satisfy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from simcache.theory import (
    che_characteristic_time,
    che_hit_ratio,
    che_object_hit_ratios,
    fifo_characteristic_time,
    fifo_hit_ratio,
    lfu_hit_ratio,
    md1_response_time,
    mg1_response_time,
    mm1_response_time,
    mmc_erlang_c,
    mmc_response_time,
    random_hit_ratio,
    ttl_hit_ratio,
    ttl_object_hit_ratios,
    ttl_occupancy,
)
from simcache.workloads import zipf_pmf


@pytest.mark.parametrize(("n", "c"), [(10, 1), (10, 5), (1000, 250), (7, 6)])
def test_uniform_popularity_gives_c_over_n(n: int, c: int) -> None:
    # N (1 - exp(-T/N)) = C  =>  every object hits with 1 - exp(-T/N) = C/N, so the hit ratio is C/N
    p = np.full(n, 1.0 / n)
    assert che_hit_ratio(p, c) == pytest.approx(c / n, rel=1e-9)
    assert che_characteristic_time(p, c) == pytest.approx(-n * math.log(1 - c / n), rel=1e-9)
    # N x/(1+x) = C with x = T/N  =>  T = N C / (N - C), hit ratio C/N again
    assert fifo_hit_ratio(p, c) == pytest.approx(c / n, rel=1e-9)
    assert fifo_characteristic_time(p, c) == pytest.approx(n * c / (n - c), rel=1e-9)
    assert lfu_hit_ratio(p, c) == pytest.approx(c / n)


def test_two_objects_lru() -> None:
    # p = (3/4, 1/4), C = 1: with y = exp(-T/4), (1 - y^3) + (1 - y) = 1, i.e. y^3 + y = 1,
    # and the hit ratio 3/4 (1 - y^3) + 1/4 (1 - y) = 3/4 y + 1/4 (1 - y) = 1/4 + y/2
    y = brentq(lambda v: v**3 + v - 1, 0, 1)
    p = np.array([0.75, 0.25])
    assert che_characteristic_time(p, 1) == pytest.approx(-4 * math.log(y), rel=1e-9)
    assert che_hit_ratio(p, 1) == pytest.approx(0.25 + y / 2, rel=1e-9)
    assert che_object_hit_ratios(p, 1) == pytest.approx([1 - y**3, 1 - y], rel=1e-9)


def test_two_objects_fifo() -> None:
    # p = (3/4, 1/4), C = 1, x = T/4: 3x/(1+3x) + x/(1+x) = 1  =>  3x^2 = 1, x = 1/sqrt(3)
    s3 = math.sqrt(3)
    p = np.array([0.75, 0.25])
    assert fifo_characteristic_time(p, 1) == pytest.approx(4 / s3, rel=1e-9)
    assert fifo_hit_ratio(p, 1) == pytest.approx((0.75 * s3 + 0.25) / (1 + s3), rel=1e-9)
    assert random_hit_ratio(p, 1) == fifo_hit_ratio(p, 1)


def test_edges() -> None:
    p = zipf_pmf(0.8, 50)
    assert che_hit_ratio(p, 0) == 0.0 and fifo_hit_ratio(p, 0) == 0.0
    assert che_hit_ratio(p, 50) == 1.0 and fifo_hit_ratio(p, 60) == 1.0
    assert math.isinf(che_characteristic_time(p, 50))
    assert lfu_hit_ratio(p, 3) == pytest.approx(p[:3].sum())
    assert lfu_hit_ratio(p, 2.5) == pytest.approx(p[:2].sum() + 0.5 * p[2])
    # an object that is never requested does not take room
    q = np.array([0.5, 0.5, 0.0])
    assert che_hit_ratio(q, 2) == 1.0
    with pytest.raises(ValueError, match="sum to 1"):
        che_hit_ratio(np.array([0.5, 0.4]), 1)
    with pytest.raises(ValueError, match="size"):
        fifo_hit_ratio(p, -1)


@given(
    alpha=st.floats(0.0, 1.6),
    n=st.integers(2, 400),
    frac=st.floats(0.01, 0.95),
)
@settings(max_examples=60, deadline=None)
def test_ordering_and_fixed_point(alpha: float, n: int, frac: float) -> None:
    p = zipf_pmf(alpha, n)
    c = max(1.0, math.floor(frac * n))
    if c >= n:
        return
    lru, fifo, lfu = che_hit_ratio(p, c), fifo_hit_ratio(p, c), lfu_hit_ratio(p, c)
    # known ordering under IRM: static LFU >= LRU >= FIFO (= RANDOM); all >= C/N (uniform is the worst case)
    assert lfu + 1e-12 >= lru >= fifo - 1e-12
    assert fifo >= c / n - 1e-9
    # the characteristic time fills the cache exactly
    t = che_characteristic_time(p, c)
    assert (-np.expm1(-p * t)).sum() == pytest.approx(c, rel=1e-9)
    # hit ratio grows with the cache
    assert che_hit_ratio(p, c + 1) >= lru


def test_ttl_formulas() -> None:
    # lambda T = 1: reset-on-hit 1 - 1/e, no reset 1/2
    assert ttl_object_hit_ratios(np.array([2.0]), 0.5, True) == pytest.approx([1 - math.exp(-1)])
    assert ttl_object_hit_ratios(np.array([2.0]), 0.5, False) == pytest.approx([0.5])
    # averaged by rate: objects with rates 1 and 3, T = 1, no reset: (1 * 1/2 + 3 * 3/4) / 4
    assert ttl_hit_ratio(np.array([1.0, 3.0]), 1.0, False) == pytest.approx((0.5 + 2.25) / 4)
    # resetting on hits can only help
    rates = np.array([0.1, 1.0, 10.0])
    assert ttl_hit_ratio(rates, 0.7, True) > ttl_hit_ratio(rates, 0.7, False)
    assert ttl_hit_ratio(rates, 0.0, True) == 0.0
    with pytest.raises(ValueError, match="rates"):
        ttl_hit_ratio(np.array([-1.0]), 1.0, True)


def test_ttl_occupancy_hand_worked() -> None:
    # reset on hit: an object is resident iff it was requested in the last T, probability 1 - exp(-rate T);
    # no reset: a renewal cycle of T resident then an Exp(rate) wait, resident a fraction T / (T + 1/rate)
    rates = np.array([1.0, 3.0])
    assert ttl_occupancy(rates, 1.0, True) == pytest.approx((1 - math.exp(-1)) + (1 - math.exp(-3)), rel=1e-12)
    assert ttl_occupancy(rates, 1.0, False) == pytest.approx(1 / 2 + 3 / 4, rel=1e-12)
    assert ttl_occupancy(rates, 0.0, True) == 0.0 == ttl_occupancy(rates, 0.0, False)


def test_lfu_takes_the_most_popular_whatever_the_order() -> None:
    # the bound is the mass of the C largest probabilities, not of the first C entries
    p = np.array([0.1, 0.4, 0.05, 0.3, 0.15])
    assert lfu_hit_ratio(p, 2) == pytest.approx(0.7)
    assert lfu_hit_ratio(p, 2.5) == pytest.approx(0.7 + 0.5 * 0.15)
    assert lfu_hit_ratio(p, 5) == pytest.approx(1.0)


def test_mm1() -> None:
    assert mm1_response_time(0.8, 1.0) == pytest.approx(5.0)
    assert mm1_response_time(1.0, 3.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="lam must be < mu"):
        mm1_response_time(1.0, 1.0)
    with pytest.raises(ValueError, match="mu must be"):
        mm1_response_time(0.5, 0.0)


def test_erlang_c_table_values() -> None:
    # a = 2 Erlang on 3 servers: B = 4/19, C = B / (1 - rho (1 - B)) = 4/9
    assert mmc_erlang_c(2.0, 1.0, 3) == pytest.approx(4 / 9)
    # M/M/2 closed forms: P(wait) = 2 rho^2 / (1 + rho), T = 1 / (mu (1 - rho^2))
    for rho in (0.1, 0.5, 0.9):
        assert mmc_erlang_c(2 * rho, 1.0, 2) == pytest.approx(2 * rho**2 / (1 + rho))
        assert mmc_response_time(2 * rho, 1.0, 2) == pytest.approx(1 / (1 - rho**2))
    # one server: P(wait) = rho, and the response time is M/M/1's
    assert mmc_erlang_c(0.3, 1.0, 1) == pytest.approx(0.3)
    assert mmc_response_time(0.8, 1.0, 1) == pytest.approx(5.0)
    # a = 10 on 12 servers, textbook value 0.4494
    assert mmc_erlang_c(10.0, 1.0, 12) == pytest.approx(0.4494, abs=5e-5)
    with pytest.raises(ValueError, match="c must be an integer"):
        mmc_erlang_c(1.0, 1.0, 0)
    with pytest.raises(ValueError, match="lam must be < c\\*mu"):
        mmc_erlang_c(3.0, 1.0, 3)


def test_md1_and_mg1() -> None:
    # M/D/1, rho = 1/2: W = rho / (2 mu (1 - rho)) = 1/2, T = 3/2
    assert md1_response_time(0.5, 1.0) == pytest.approx(1.5)
    # Pollaczek-Khinchine with exponential service is M/M/1
    assert mg1_response_time(0.8, 1.0, 1.0) == pytest.approx(mm1_response_time(0.8, 1.0))
    assert mg1_response_time(0.6, 1.0, 0.0) == pytest.approx(md1_response_time(0.6, 1.0))
    # the waiting time grows linearly with 1 + scv
    w0 = mg1_response_time(0.5, 1.0, 0.0) - 1.0
    w3 = mg1_response_time(0.5, 1.0, 3.0) - 1.0
    assert w3 == pytest.approx(4 * w0)
    with pytest.raises(ValueError, match="scv_s"):
        mg1_response_time(0.5, 1.0, -1.0)
    with pytest.raises(ValueError, match="lam must be < 1/mean_s"):
        mg1_response_time(2.0, 0.5, 1.0)
