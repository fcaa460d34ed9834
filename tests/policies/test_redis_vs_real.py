"""simcache's ``redis-allkeys-*`` against a real ``redis-server``: hit ratios within 0.003 at every sample size.

The workload and the measurement are ``benchmarks/redis_eviction_vs_real.py``'s: Zipf(1.0) GETs with
cache-aside SETs (one Lua script per request, pipelined), simcache replaying the same requests at the
server's times with the number of keys the real server held.  The key placement of a real server follows
its random siphash seed, and simcache's its salt, so each side's hit ratio moves by about 0.0007 from
one hash seed to the next; the slow cases average two real servers (two hash seeds) and ``SIM_SEEDS``
simcache seeds.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

TOLERANCE = 0.003
SIM_SEEDS = 4
OBJECTS, KEYS = 50_000, 5_000


def _harness() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "redis_eviction_vs_real.py"
    spec = importlib.util.spec_from_file_location("redis_eviction_vs_real", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


harness = _harness()


@pytest.fixture(scope="module")
def redis_available() -> None:
    """Skips when a real redis-server cannot be run."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server), so simcache's Redis "
                    "eviction cannot be compared with a real one")
    pytest.importorskip("redis", reason="the redis Python package is needed to talk to a real redis-server")
    try:
        with harness.redis_server() as r:
            r.ping()
    except RuntimeError as exc:  # the server did not start
        pytest.skip(str(exc))


def compare(policy: str, samples: int, requests: int, seed: int, real_runs: int = 1) -> tuple[float, float]:
    """Mean hit ratio of ``real_runs`` real servers, and of ``SIM_SEEDS`` simcache runs spread over them."""
    wl = harness.zipf_workload(requests, OBJECTS, seed)
    real_hits, sim_hits = [], []
    for run in range(real_runs):
        with harness.redis_server() as r:  # a server of its own: a hash seed of its own
            real = harness.run_real(r, wl, policy, samples, harness.calibrate(r, wl, KEYS))
        assert real.evicted > requests // 10  # the cache was full most of the run
        real_hits.append(real.hits.mean())
        sim_hits += [harness.run_sim(wl, real, policy, samples, s).mean()
                     for s in range(run, SIM_SEEDS, real_runs)]
    return float(np.mean(real_hits)), float(np.mean(sim_hits))


def test_lfu_five_samples_matches_a_real_redis(redis_available):
    real, sim = compare("lfu", 5, 100_000, seed=3)
    assert abs(sim - real) <= TOLERANCE, (real, sim)


@pytest.mark.slow
@pytest.mark.parametrize("samples", [1, 3, 5, 10])
@pytest.mark.parametrize("policy", ["lru", "lfu", "random"])
def test_allkeys_policies_match_a_real_redis(redis_available, policy, samples):
    real, sim = compare(policy, samples, 300_000, seed=1, real_runs=2)
    assert abs(sim - real) <= TOLERANCE, (real, sim)
