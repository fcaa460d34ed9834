"""The compiled three-tier engine gives the SimPy engine's summary (and time series) on the same parameters and seed."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcache.catalog import get_model
from simcache.cli import main
from simcache.errors import UsageError
from simcache.sim.compiled import COMPILED, simulate_compiled, unsupported
from simcache.sim.compiled import three_tier as compiled_three_tier
from simcache.sim.report import run_model_full

ROOT = Path(__file__).resolve().parents[2]
SPEC = get_model("three-tier")
SMALL = {"duration": 2.0, "rate": 1000.0, "n_objects": 2000, "app_cache": 100, "cache_capacity": 500}


def both(params: dict[str, Any], seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SimPy summary, compiled summary) of the same run."""
    a = SPEC.run(SPEC.make_params({**params, "engine": "simpy"}), seed)
    b = SPEC.run(SPEC.make_params({**params, "engine": "compiled"}), seed)
    assert a.pop("engine") == "simpy" and b.pop("engine") == "compiled"
    return a, b


def assert_same(a: Any, b: Any, path: str = "summary") -> None:
    """Same structure; equal ints and strings; floats equal to 1e-9 relative (NaN equals NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(set(a) ^ set(b)))
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), (path, a, b)
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=0.0), (path, a, b)
    else:
        assert type(a) is type(b) and a == b, (path, a, b)


CASES = {
    "defaults, short": ({"duration": 2.0}, (0, 1)),
    "high write fraction": ({**SMALL, "n_objects": 200, "write_fraction": 0.5, "app_cpu": "exp:0.0002"}, (3, 4)),
    "tiny caches, short ttl": ({**SMALL, "n_objects": 40, "app_cache": 3, "cache_capacity": 7, "ttl": 0.02,
                                "write_fraction": 0.2}, (5,)),
    "near db saturation, timeouts": ({**SMALL, "rate": 4000.0, "app_cache": 0, "cache_capacity": 50,
                                      "db_connections": 2, "db_read": "exp:0.0006", "timeout": 0.05}, (6,)),
    "memcached workers, timeouts": ({**SMALL, "cache_profile": "memcached", "cache_workers": 3,
                                     "cache_service": "exp:0.0012", "timeout": 0.01}, (7,)),
    "other distributions, windows, warmup": ({**SMALL, "window": 0.07, "warmup": 0.6, "db_read": "uniform:0.001,0.003",
                                              "db_write": "const:0.002", "client_latency": "const:0.001",
                                              "cache_latency": "exp:0.0003", "app_cpu": "uniform:0.0001,0.0001",
                                              "db_latency": "empirical:0.0001,0.0009,0.002"}, (8,)),
    # one key, writes that time out in the database (committed, never invalidated): the cached copy falls
    # thousands of versions behind, past the database's kept history (1024), so the truncated-read path runs
    "one hot key, history truncated": ({"duration": 4.0, "rate": 1000.0, "n_objects": 1, "write_fraction": 0.9,
                                        "db_write": "const:0.06", "db_connections": 200, "timeout": 0.05}, (9,)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_equals_simpy(name: str) -> None:
    params, seeds = CASES[name]
    for seed in seeds:
        a, b = both(params, seed)
        assert_same(a, b)
        # each case exercises what it is named after (so a feature both engines skip cannot pass unnoticed)
        assert a["sim_requests"] > 900
        if "write" in name:
            assert a["stale_reads"] > 0 and a["db"]["writes"] > 0
        if "tiny" in name:
            t = a["tiers"]
            assert t["redis"]["evictions"] > 0 and t["redis"]["expired"] > 0 and t["app_cache"]["expired"] > 0
        if "timeouts" in name:
            assert a["outcomes"]["timeout"] > 0 and a["outcomes"]["ok"] > 0
        if "truncated" in name:
            assert a["db"]["writes"] > 3 * 1024 and a["stale_age_ms"]["p50"] > 1000


def test_streams_that_run_dry_are_extended_and_the_run_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    # first guesses of 2% of what each stream needs: every stream (and the scrape buffer) runs dry at least once
    monkeypatch.setattr(compiled_three_tier, "_FIRST_GUESS", 0.02)
    params = {**SMALL, "duration": 3.0, "rate": 2000.0, "write_fraction": 0.3, "window": 0.1, "timeout": 0.05}
    a, _ = both(params, 4)
    stats: dict[str, float] = {}
    p = SPEC.make_params(params)
    b = simulate_compiled(p, 4, sys.modules[SPEC.source].APP_CACHE_SERVICE, timeseries=False, stats=stats).summary
    assert a["sim_requests"] > 4096 + 1000  # more than one batch of keys
    assert stats["runs"] >= 10
    assert_same(a, b)


def test_time_series_are_the_same() -> None:
    params = {**SMALL, "duration": 3.0, "window": 0.5, "write_fraction": 0.3, "timeout": 0.02, "rate": 2000.0,
              "db_connections": 2}
    a = run_model_full("three-tier", {**params, "engine": "simpy"}, 2)
    b = run_model_full("three-tier", {**params, "engine": "compiled"}, 2)
    assert b.summary["engine"] == "compiled"
    ta, tb = a.timeseries, b.timeseries
    assert len(ta) > 100
    pd.testing.assert_frame_equal(ta[["time", "component", "metric"]], tb[["time", "component", "metric"]])
    assert tb.value.to_numpy() == pytest.approx(ta.value.to_numpy(), rel=1e-9, nan_ok=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    duration=st.floats(0.2, 0.8),
    rate=st.floats(100.0, 3000.0),
    n_objects=st.integers(1, 300),
    alpha=st.floats(0.0, 1.5),
    write_fraction=st.floats(0.0, 1.0),
    app_cache=st.integers(0, 20),
    cache_capacity=st.integers(1, 40),
    ttl=st.floats(0.005, 2.0),
    timeout=st.floats(0.002, 0.1),
    db_connections=st.integers(1, 4),
    memcached=st.booleans(),
    workers=st.integers(1, 4),
    window=st.floats(0.05, 1.0),
)
def test_compiled_equals_simpy_on_drawn_configurations(seed: int, duration: float, rate: float, n_objects: int,
                                                      alpha: float, write_fraction: float, app_cache: int,
                                                      cache_capacity: int, ttl: float, timeout: float,
                                                      db_connections: int, memcached: bool, workers: int,
                                                      window: float) -> None:
    params = {"duration": duration, "rate": rate, "n_objects": n_objects, "alpha": alpha,
              "write_fraction": write_fraction, "app_cache": app_cache, "cache_capacity": cache_capacity, "ttl": ttl,
              "timeout": timeout, "db_connections": db_connections, "window": window,
              "cache_profile": "memcached" if memcached else "redis", "cache_workers": workers,
              "db_read": "exp:0.001", "cache_service": "exp:0.0002", "app_cpu": "exp:0.0002"}
    a, b = both(params, seed)
    assert_same(a, b)


@pytest.mark.parametrize(("override", "field"), [
    ({"strategy": "write-through"}, "strategy"), ({"loss": 0.01}, "loss"), ({"retries": 1}, "retries"),
    ({"queueing": "events"}, "queueing"), ({"cache_policy": "fifo"}, "cache_policy"), ({"users": 5}, "users"),
    ({"arrivals": "mmpp"}, "arrivals"), ({"db_pool": 4}, "db_pool"), ({"query_cache": 10}, "query_cache"),
])
def test_unsupported_configurations_fall_back_or_refuse(override: dict[str, Any], field: str) -> None:
    params = {**SMALL, "duration": 0.3, **override}
    p = SPEC.make_params(params)
    assert field in (unsupported(p) or "")
    assert SPEC.run(p, 0)["engine"] == "simpy"  # engine="auto"
    with pytest.raises(UsageError, match=f"engine=compiled does not support {field}") as err:
        SPEC.run(SPEC.make_params({**params, "engine": "compiled"}), 0)
    assert "\n" not in str(err.value)


def test_auto_picks_the_compiled_engine_when_supported() -> None:
    s = SPEC.run(SPEC.make_params({**SMALL, "duration": 0.3}), 0)
    assert s["engine"] == ("compiled" if COMPILED else "simpy")


def test_cli_engine_compiled_runs_and_refuses_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "three-tier", "--duration", "0.5", "--set", "engine=compiled", "--json"]) == 0
    assert '"engine": "compiled"' in capsys.readouterr().out
    assert main(["run", "three-tier", "--duration", "0.5", "--set", "engine=compiled", "--set", "retries=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "retries" in err
    assert main(["run", "three-tier", "--set", "engine=fast"]) == 2
    assert "engine" in capsys.readouterr().err


SCRIPT = r"""
import math
from simcache.catalog import get_model
from simcache.sim.compiled import COMPILED
assert not COMPILED, "numba was not disabled"
spec = get_model("three-tier")
base = {"duration": 0.4, "rate": 1500.0, "n_objects": 60, "app_cache": 4, "cache_capacity": 10, "ttl": 0.05,
        "write_fraction": 0.4, "timeout": 0.006, "db_connections": 2, "window": 0.1}
for profile in ("redis", "memcached"):
    a = spec.run(spec.make_params({**base, "cache_profile": profile, "engine": "simpy"}), 5)
    b = spec.run(spec.make_params({**base, "cache_profile": profile, "engine": "compiled"}), 5)
    assert b.pop("engine") == "compiled" and a.pop("engine") == "simpy"
    assert a["outcomes"]["timeout"] > 0 and a["stale_reads"] > 0, a
    def same(x, y):
        if isinstance(x, dict):
            return set(x) == set(y) and all(same(x[k], y[k]) for k in x)
        if isinstance(x, float):
            return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9 * max(abs(x), abs(y))
        return x == y
    assert same(a, b), (a, b)
print("plain-python engine ok")
"""


def test_plain_python_engine_matches_simpy() -> None:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
