"""Queueing validation: M/M/1, M/M/c (Erlang C), M/D/1 (Pollaczek-Khinchine), and Lindley vs event-by-event."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simcache.sim.queueing import QueueSystem
from simcache.sim.world import World


def erlang_c_response(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    rho = a / c
    s = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (s + top) / (c * mu - lam) + 1 / mu


def replicate(rate: float, service: str, workers: int, duration: float, warmup: float, reps: int) -> np.ndarray:
    means = []
    for seed in range(reps):
        w = World(seed, window=duration / 10, warmup=warmup)
        QueueSystem(w, rate, service, workers)
        w.run(duration)
        h = w.recorder.hist("all")
        assert h is not None
        means.append(h.mean())
    return np.array(means)


def ci95(x: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def test_mm1_mean_response_is_five() -> None:
    lo, hi = ci95(replicate(0.8, "exp:1", 1, 40_000, 2_000, 12))
    assert lo <= 5.0 <= hi, (lo, hi)
    assert hi - lo < 0.8  # the interval is tight enough to mean something


def test_mmc_matches_erlang_c() -> None:
    theory = erlang_c_response(3.0, 1.0, 4)
    lo, hi = ci95(replicate(3.0, "exp:1", 4, 20_000, 500, 10))
    assert lo <= theory <= hi, (lo, hi, theory)
    assert hi - lo < 0.1


def test_md1_matches_pollaczek_khinchine() -> None:
    lam, mu = 0.8, 1.0
    rho = lam / mu
    theory = 1 / mu + rho / (2 * mu * (1 - rho))  # 3.0
    lo, hi = ci95(replicate(lam, "const:1", 1, 40_000, 2_000, 12))
    assert lo <= theory <= hi, (lo, hi, theory)
    assert hi - lo < 0.5


def test_wrong_theory_would_be_rejected() -> None:
    # the M/M/1 interval excludes the M/D/1 answer: the check has power
    lo, hi = ci95(replicate(0.8, "exp:1", 1, 40_000, 2_000, 12))
    assert not lo <= 3.0 <= hi


@pytest.mark.parametrize(("rate", "service", "workers"), [(0.9, "exp:1", 1), (2.5, "exp:1", 3),
                                                          (0.7, "lognormal:1,0.8", 1), (5.0, "uniform:0.5,1.5", 6)])
def test_fast_equals_event_by_event(rate: float, service: str, workers: int) -> None:
    times = {}
    for mode in ("fast", "events"):
        w = World(7, window=100.0)
        q = QueueSystem(w, rate, service, workers, mode, keep=True)  # type: ignore[arg-type]
        w.run(3000)
        times[mode] = np.array(q.times)
        assert q.server.commands_done > 1000
    assert len(times["fast"]) == len(times["events"])
    np.testing.assert_allclose(times["fast"], times["events"], rtol=1e-9, atol=1e-9)
