"""The streaming latency histogram and the recorder's windows."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.sim.metrics import LogHistogram, Recorder


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantiles_within_relative_error_of_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.lognormal(-6, 1.2, 50_000), rng.exponential(0.05, 5_000)])
    h = LogHistogram(rel_err=0.01)
    for chunk in np.array_split(x, 7):
        h.add(chunk)
    assert h.total == x.size
    for q in (0.01, 0.5, 0.9, 0.95, 0.99, 0.999):
        exact = np.quantile(x, q, method="lower")
        est = h.quantile(q)
        assert abs(est - exact) <= 0.01 * exact + 1e-15, (q, est, exact)


def test_memory_is_flat() -> None:
    h = LogHistogram(rel_err=0.01)
    n0 = h.counts.nbytes
    h.add(np.random.default_rng(0).exponential(1.0, 200_000))
    assert h.counts.nbytes == n0


def test_recorder_windows_add_up_to_totals() -> None:
    rec = Recorder(window=1.0)
    rng = np.random.default_rng(3)
    ts = np.sort(rng.uniform(0, 10, 5000))
    for t in ts:
        rec.request(float(t), 0.01, "ok", "read")
    for t in ts[:100]:
        rec.request(float(t), 0.5, "timeout", "read", "timeout")
    df = rec.timeseries()
    ok = df[(df.component == "client") & (df.metric == "ok")]
    assert ok.value.sum() == 5000
    assert len(ok) == 10
    assert ok.set_index("time").value.to_dict()[3.0] == int(((ts >= 3) & (ts < 4)).sum())
    assert rec.total("client", "timeout") == 100
    assert rec.latency_summary("all")["count"] == 5000
    p50 = df[(df.component == "latency:all") & (df.metric == "p50_ms")].value
    assert np.allclose(p50, 10.0, rtol=0.01)  # milliseconds, as the summary


def test_cache_server_keys_and_memory_are_levels_not_rates() -> None:
    from simcache.sim.report import run_model_full

    r = run_model_full("three-tier", {"duration": 3.0}, 0)
    ts = r.timeseries
    redis = ts[ts.component == "redis"]
    keys = redis[redis.metric == "keys"].value.tolist()
    mem = redis[redis.metric == "used_memory"].value.tolist()
    assert "keys_rate" not in set(redis.metric) and "used_memory_rate" not in set(redis.metric)
    assert "commands_rate" in set(redis.metric)  # a cumulative counter is reported as a rate
    # the last scrape is the server's size at the end of the run, and it only grows (no evictions here)
    assert keys[-1] == r.summary["tiers"]["redis"]["keys"]
    assert keys == sorted(keys) and mem == sorted(mem) and mem[-1] == r.summary["tiers"]["redis"]["used_memory"]
