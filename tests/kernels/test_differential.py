"""Every kernel gives the reference class's hit/miss sequence, request by request."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from simcache.kernels import KERNELS, hit_sequence, kernel_names
from tests.kernels._reference import reference_hits, traces

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# non-default parameters: each kernel must follow the reference's knobs too
PARAMS = {
    "clock": [{"bits": 2}],
    "slru": [{"protected_ratio": 0.5}, {"variant": "libcachesim"}],
    "2q": [{"kin": 0.5, "kout": 1.0}, {"variant": "libcachesim"}, {"variant": "libcachesim", "kin": 0.6, "kout": 0.1}],
    "arc": [{"variant": "libcachesim"}],
    "s3fifo": [{"small_ratio": 0.25, "ghost_ratio": 0.5, "move_to_main_threshold": 1},
               {"refuse_large": False}, {"variant": "libcachesim"},
               {"variant": "libcachesim", "small_ratio": 0.3, "refuse_large": False}],
    "lirs": [{"hir_ratio": 0.2, "nonresident_factor": 0.5}, {"variant": "libcachesim"},
             {"variant": "libcachesim", "hir_ratio": 0.3}],
    # a small sample_factor makes the sketch halve within a trace; a narrow sketch makes keys collide
    "wtinylfu": [{"doorkeeper": True, "sample_factor": 1},
                 {"window_ratio": 0.3, "protected_ratio": 0.5, "sketch_width_factor": 0.5, "sample_factor": 2},
                 {"window_ratio": 0.0, "protected_ratio": 1.0, "doorkeeper": True, "sample_factor": 3},
                 {"variant": "libcachesim", "window_ratio": 0.3}, {"variant": "libcachesim", "window_ratio": 0.1}],
    "gdsf": [{"cost": 3.7}, {"variant": "libcachesim"}, {"variant": "libcachesim", "cost": 0.01}],
    "belady": [{"bypass": True}],
    "lfuda": [{"cost": 0.3}, {"variant": "libcachesim"}],
}


def test_every_required_policy_has_a_kernel() -> None:
    required = {"lru", "fifo", "clock", "sieve", "s3fifo", "arc", "lfu", "2q", "lirs", "slru", "belady", "wtinylfu", "gdsf",
                "lfuda"}
    assert required <= set(kernel_names())


@pytest.mark.parametrize("policy", kernel_names())
@pytest.mark.parametrize("bytes_mode", [False, True])
@SETTINGS
@given(case=traces())
def test_kernel_matches_reference(policy: str, bytes_mode: bool, case: tuple) -> None:
    raw, sizes, capacity, chunk = case
    sz = sizes if bytes_mode else None
    fast = hit_sequence(policy, raw, sz, capacity, bytes_mode=bytes_mode, chunk=chunk)
    ref = reference_hits(policy, raw, sz, capacity)
    first = int(np.argmax(fast != ref)) if (fast != ref).any() else -1
    assert first == -1, f"{policy}: first differing request {first} (kernel hit={fast[first]}, reference hit={ref[first]})"


@pytest.mark.parametrize(
    ("policy", "params"), [(p, prm) for p, lst in PARAMS.items() if p in KERNELS for prm in lst]
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=traces())
def test_kernel_matches_reference_with_params(policy: str, params: dict, case: tuple) -> None:
    raw, sizes, capacity, chunk = case
    fast = hit_sequence(policy, raw, sizes, capacity, bytes_mode=True, params=params, chunk=chunk)
    assert (fast == reference_hits(policy, raw, sizes, capacity, params)).all()


@pytest.mark.parametrize("policy", kernel_names())
def test_scan_then_loop_matches_reference(policy: str) -> None:
    # a loop one larger than the cache: LRU and FIFO miss every time, others keep part of it
    ids = np.tile(np.arange(11), 30)
    fast = hit_sequence(policy, ids, None, 10, bytes_mode=False)
    ref = reference_hits(policy, ids, None, 10)
    assert (fast == ref).all()
    if policy in ("lru", "fifo"):
        assert not fast.any()
    if policy == "belady":
        assert fast.sum() > 0.8 * (len(ids) - 11)
