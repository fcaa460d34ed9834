"""The redis-* kernels give RedisPolicy's hit/miss sequence for timed traces, seeded generators and every knob."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcache.kernels import KERNELS, hit_sequence, supports
from simcache.policies import make_policy, policy_params
from simcache.policies.redis import RedisPolicy
from simcache.replay import policy_seed, replay, source_from_args
from simcache.traces.base import Chunk
from tests.kernels._reference import traces

ROOT = Path(__file__).resolve().parents[2]
REDIS = ["redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random", "redis-volatile-lru", "redis-volatile-lfu",
         "redis-volatile-random", "redis-volatile-ttl", "redis-noeviction"]
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_run(policy: str, ids: np.ndarray, sizes: np.ndarray | None, capacity: int, times: np.ndarray,
                  params: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, RedisPolicy]:
    """Per-request hits of the reference class, each request at its time, and the policy after the trace."""
    p = make_policy(policy, capacity, rng=rng, **params)
    assert isinstance(p, RedisPolicy)
    out = np.zeros(len(ids), dtype=bool)
    for i in range(len(ids)):
        out[i] = p.access(int(ids[i]), 1 if sizes is None else int(sizes[i]), now=float(times[i]), next_access=-1)
    return out, p


def request_times(seed: int, n: int, mean_gap: float) -> np.ndarray:
    """Increasing, non-integer times: exponential gaps, and one request in 20 after a gap of 1 to 20 minutes."""
    rng = np.random.default_rng(seed)
    gaps = np.where(rng.random(n) < 0.05, rng.uniform(60.0, 1200.0, n), rng.exponential(mean_gap, n))
    return rng.uniform(0.0, 100.0) + np.cumsum(gaps)


def first_difference(fast: np.ndarray, ref: np.ndarray) -> int:
    return int(np.argmax(fast != ref)) if (fast != ref).any() else -1


knobs = st.fixed_dictionaries({
    "maxmemory_samples": st.sampled_from([1, 3, 5, 10]),
    "lfu_log_factor": st.sampled_from([0, 1, 10, 100]),
    "lfu_decay_time": st.sampled_from([0, 1, 3]),
})


@pytest.mark.parametrize("policy", REDIS)
@pytest.mark.parametrize("bytes_mode", [False, True])
@SETTINGS
@given(case=traces(), params=knobs, tseed=st.integers(0, 2**31), mean_gap=st.sampled_from([0.2, 2.0, 30.0]),
       per_request_sizes=st.booleans(), negative_ids=st.booleans())
def test_kernel_matches_reference_on_timed_traces(policy: str, bytes_mode: bool, case: tuple, params: dict,
                                                  tseed: int, mean_gap: float, per_request_sizes: bool,
                                                  negative_ids: bool) -> None:
    raw, sizes, capacity, chunk = case
    if negative_ids:
        raw = raw * -0x5DEECE66D - 2**62  # the bucket hash reads the ids' 64-bit patterns
    if bytes_mode and per_request_sizes:
        # sizes change on hits: a grown key evicts others, or (volatile-*, noeviction) a random key
        sizes = np.random.default_rng(tseed).integers(1, capacity + 2, len(raw))
    sz = sizes if bytes_mode else None
    times = request_times(tseed, len(raw), mean_gap)
    ref, _ = reference_run(policy, raw, sz, capacity, times, params, policy_seed(7, policy, capacity))
    fast = hit_sequence(policy, raw, sz, capacity, bytes_mode=bytes_mode, params=params, chunk=chunk,
                        rng=policy_seed(7, policy, capacity), times=times)
    first = first_difference(fast, ref)
    assert first == -1, f"{policy} {params}: first differing request {first} (kernel hit={fast[first]})"


def kernel_state_after(policy: str, ids: np.ndarray, sizes: np.ndarray, capacity: int, times: np.ndarray,
                       params: dict[str, Any], rng: np.random.Generator, chunk: int) -> Any:
    """Run the kernel on ids that are already dense (raw id = dense id) and return its state."""
    spec = KERNELS[policy]
    state = spec.new_state(capacity, params, True, rng=rng)
    state.ensure(int(ids.max()) + 1)
    for lo in range(0, len(ids), chunk):
        sl = slice(lo, lo + chunk)
        c_ids = ids[sl].astype(np.int32)
        state.run(c_ids, sizes[sl], sizes[sl], ids[sl].astype(np.int64), lo, 0, np.zeros(len(c_ids), dtype=np.int8),
                  times[sl])
    return state


def kernel_chains(state: Any) -> list[list[int]]:
    rec, bhead = state.obj[:2]
    heads = bhead.reshape(-1)
    chains = []
    for b in range(int(state.sc[2])):
        chain, x = [], int(heads[b])
        while x >= 0:
            chain.append(x)
            x = int(rec[x, 1])
        chains.append(chain)
    return chains


@pytest.mark.parametrize("policy", ["redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random",
                                    "redis-volatile-lfu", "redis-noeviction"])
def test_table_pool_and_random_batch_match_the_reference_state(policy: str) -> None:
    # a keyspace that fills (the table grows), then large writes that evict most keys (it shrinks again):
    # after it, every chain, the pool and the unused random words must be the reference's, in order
    rng = np.random.default_rng(4)
    ids = np.concatenate([np.arange(300), rng.zipf(1.3, 3000) % 400, np.arange(400, 420), rng.integers(0, 420, 2000)])
    sizes = np.where(np.isin(ids, np.arange(400, 420)), 150, 1 + ids % 3)
    times = request_times(5, len(ids), 3.0)
    params = {"maxmemory_samples": 3, "lfu_log_factor": 1}
    ref_hits, ref = reference_run(policy, ids, sizes, 200, times, params, policy_seed(7, policy, 200))
    state = kernel_state_after(policy, ids, sizes, 200, times, params, policy_seed(7, policy, 200), 333)
    rec = state.obj[0]
    assert {x: int(rec[x, 0]) for x in np.flatnonzero(rec[:, 0] >= 0).tolist()} == ref.sizes
    assert int(state.sc[0]) == ref.used
    assert kernel_chains(state) == [list(c) for c in ref._all.table]  # noqa: SLF001 - the model's layout
    pool_len = int(state.sc[6])
    assert state.fixed[1][:pool_len].tolist() == ref._pool_keys  # noqa: SLF001
    assert state.fixed[2][:pool_len].tolist() == ref._pool_scores  # noqa: SLF001
    assert state.fixed[0][: int(state.sc[5])].tolist() == ref._rand.words  # noqa: SLF001
    assert int(state.sc[12]) == ref.refused
    assert (ref.refused > 0) == (not ref.allkeys or ref.kind == "none")  # nothing eligible: writes refused
    assert ref_hits.any() and not ref_hits.all()


def test_large_writes_shrink_the_table_mid_eviction() -> None:
    # 64 one-byte keys, then one 100-byte key: evicting them all shrinks the table several times
    ids = np.concatenate([np.arange(64), [1000], np.arange(64), [1000, 5, 1000]])
    sizes = np.where(ids == 1000, 100, 1)
    times = np.arange(len(ids), dtype=np.float64) * 0.7
    for policy in REDIS:
        ref, _ = reference_run(policy, ids, sizes, 100, times, {}, policy_seed(7, policy, 100))
        fast = hit_sequence(policy, ids, sizes, 100, bytes_mode=True, chunk=50, rng=policy_seed(7, policy, 100),
                            times=times)
        assert fast.tolist() == ref.tolist(), policy


@pytest.mark.parametrize("rate", [0.5, 0.005])
def test_replay_fast_and_reference_agree_on_a_timed_synthetic_trace(rate: float) -> None:
    # rate 0.5/s: requests seconds apart (the LRU clock); 0.005/s: minutes apart (LFU decay)
    src = source_from_args(synthetic="zipf", alpha=0.9, objects=3000, requests=12_000, rate=rate, seed=3)
    assert next(iter(src.iter_chunks())).times is not None
    fast = replay(src, REDIS, [40, 500], engine="fast", seed=9)
    ref = replay(src, REDIS, [40, 500], engine="reference", seed=9)
    assert {r.engine for r in fast} == {"fast"} and {r.engine for r in ref} == {"reference"}
    assert [(r.policy, r.size, r.hits, r.byte_hits) for r in fast] == [(r.policy, r.size, r.hits, r.byte_hits)
                                                                       for r in ref]


class _Uint64Trace:
    """Raw 64-bit ids at and above 2**63 (as a trace reader gives them), timed, in chunks of 500."""

    name = "uint64-ids"

    def __init__(self) -> None:
        rng = np.random.default_rng(8)
        self.ids = (rng.zipf(1.2, 4000) % 600).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) | np.uint64(1 << 63)
        self.times = request_times(2, 4000, 5.0)

    def iter_chunks(self) -> Iterator[Chunk]:
        for lo in range(0, len(self.ids), 500):
            yield Chunk(self.ids[lo:lo + 500], None, self.times[lo:lo + 500])


def test_uint64_ids_hash_as_the_reference_hashes_them() -> None:
    src = _Uint64Trace()
    assert int(src.ids.min()) >= 2**63
    fast = replay(src, REDIS, [30, 200], engine="fast", seed=4)
    ref = replay(src, REDIS, [30, 200], engine="reference", seed=4)
    assert [(r.policy, r.size, r.hits) for r in fast] == [(r.policy, r.size, r.hits) for r in ref]


def test_params_defaults_and_rejected_values() -> None:
    for policy in REDIS:
        want = {k: v for k, v in policy_params(policy).items() if k != "variant"}
        assert dict(KERNELS[policy].params) == want
        assert KERNELS[policy].needs_time and KERNELS[policy].needs_raw and KERNELS[policy].seeded
        assert supports(policy, {}, False) and supports(policy, {"variant": "libcachesim"}, True)
    assert supports("redis-allkeys-lfu", {"maxmemory_samples": 10.0, "lfu_log_factor": 0, "lfu_decay_time": 0}, True)
    for bad in ({"maxmemory_samples": 0}, {"maxmemory_samples": 2.5}, {"maxmemory_samples": "5"},
                {"lfu_log_factor": -1}, {"lfu_decay_time": -1}, {"lfu_decay_time": float("inf")},
                {"lfu_log_factor": 2**60}, {"variant": "other"}, {"samples": 5}):
        assert not supports("redis-allkeys-lfu", bad, False), bad


SCRIPT = r"""
import numpy as np
from simcache.kernels import COMPILED, hit_sequence
from simcache.policies import make_policy
from simcache.replay import policy_seed
assert not COMPILED, "numba was not disabled"
rng = np.random.default_rng(11)
bad = []
for policy in ("redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random", "redis-volatile-lfu"):
    for trial in range(3):
        n, u = 400, int(rng.integers(10, 80))
        ids = (rng.zipf(1.3, n) % u) * -0x5DEECE66D - 2**62  # negative raw ids: the hash reads their 64-bit views
        sizes = rng.integers(1, 12, n)
        times = np.cumsum(rng.exponential(20.0, n))
        cap = int(rng.integers(10, 60))
        p = make_policy(policy, cap, rng=policy_seed(7, policy, cap), lfu_log_factor=1, maxmemory_samples=3)
        ref = [p.access(int(k), int(s), now=float(t)) for k, s, t in zip(ids, sizes, times)]
        for layout in ("dense", "hashed"):
            fast = hit_sequence(policy, ids, sizes, cap, bytes_mode=True, chunk=97, rng=policy_seed(7, policy, cap),
                                times=times, params={"lfu_log_factor": 1, "maxmemory_samples": 3}, state=layout)
            if fast.tolist() != ref:
                bad.append((policy, trial, layout))
print("mismatches:", bad)
"""


def test_plain_python_kernel_matches_reference() -> None:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-W", "error", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mismatches: []" in proc.stdout
