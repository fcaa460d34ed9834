"""W-TinyLFU, GDSF and LFU-DA kernels: seeds, resizes on hits, raw-id hashing, hand-worked sequences."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcache.kernels import KERNELS, ArraySource, hit_sequence, replay_fast, supports
from simcache.policies import make_policy
from simcache.traces.base import Chunk
from tests.kernels._reference import reference_hits, traces

NEW = ("wtinylfu", "gdsf", "lfuda")


def _seeded_reference(policy: str, ids: np.ndarray, sizes: np.ndarray | None, capacity: int, seed: int,
                      params: dict | None = None) -> np.ndarray:
    p = make_policy(policy, capacity, rng=np.random.default_rng(seed), **(params or {}))
    return np.array([p.access(int(k), 1 if sizes is None else int(s))
                     for k, s in zip(ids, sizes if sizes is not None else ids, strict=True)], dtype=bool)


@st.composite
def resizing_traces(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The shared traces, but each request draws its own size, so hits grow and shrink objects."""
    raw, _, capacity, chunk = draw(traces())
    seed = draw(st.integers(0, 2**31))
    sizes = np.random.default_rng(seed).integers(1, int(1.5 * capacity) + 2, size=raw.shape[0])
    return raw, sizes, capacity, chunk


PARAMS = [
    ("wtinylfu", {}),
    ("wtinylfu", {"doorkeeper": True, "sample_factor": 1, "window_ratio": 0.25}),
    ("wtinylfu", {"protected_ratio": 0.3, "sketch_width_factor": 0.2, "sample_factor": 2}),
    ("gdsf", {}),
    ("gdsf", {"cost": 2.5}),
    ("lfuda", {}),
]


@pytest.mark.parametrize(("policy", "params"), PARAMS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=resizing_traces())
def test_size_changes_on_hits_match_reference(policy: str, params: dict, case: tuple) -> None:
    raw, sizes, capacity, chunk = case
    fast = hit_sequence(policy, raw, sizes, capacity, bytes_mode=True, params=params, chunk=chunk)
    ref = reference_hits(policy, raw, sizes, capacity, params)
    first = int(np.argmax(fast != ref)) if (fast != ref).any() else -1
    assert first == -1, f"first differing request {first}"


def test_wtinylfu_follows_the_generator_it_is_given() -> None:
    # a 16-counter sketch over 200 keys: collisions decide admissions, so the seeds change the outcome
    rng = np.random.default_rng(11)
    ids = (rng.zipf(1.1, 3000) % 200) * 104729 + 5
    params = {"sketch_width_factor": 0.1, "sample_factor": 3}
    seen = set()
    for seed in range(8):
        fast = hit_sequence("wtinylfu", ids, None, 30, bytes_mode=False, params=params,
                            rng=np.random.default_rng(seed))
        assert (fast == _seeded_reference("wtinylfu", ids, None, 30, seed, params)).all(), seed
        seen.add(fast.tobytes())
    assert len(seen) > 1  # a kernel that ignored the generator could not pass the loop above
    # no generator: the reference class's own default, default_rng(0)
    assert (hit_sequence("wtinylfu", ids, None, 30, bytes_mode=False, params=params)
            == _seeded_reference("wtinylfu", ids, None, 30, 0, params)).all()


@pytest.mark.parametrize("bytes_mode", [False, True])
def test_replay_engines_agree_for_wtinylfu_with_a_seed(bytes_mode: bool) -> None:
    from simcache.replay import chunks_of, replay

    rng = np.random.default_rng(4)
    ids = rng.zipf(1.2, 3000) % 400
    sizes = rng.integers(1, 30, 400)[ids]
    src = chunks_of(ids, sizes, chunk_size=500)
    caps = [300, 1500] if bytes_mode else [8, 40]
    params = {"wtinylfu": {"sketch_width_factor": 0.1}}
    key = ("policy", "size", "requests", "hits", "misses", "byte_hits", "byte_misses")
    for seed in (5, 6):
        fast = replay(src, "wtinylfu", caps, bytes_mode=bytes_mode, warmup=0.2, engine="fast", seed=seed,
                      params=params)
        ref = replay(src, "wtinylfu", caps, bytes_mode=bytes_mode, warmup=0.2, engine="reference", seed=seed,
                     params=params)
        assert {r.engine for r in fast} == {"fast"}
        assert [tuple(r.as_dict()[k] for k in key) for r in fast] == [tuple(r.as_dict()[k] for k in key) for r in ref]


class _U64Source:
    """Raw uint64 ids (some above 2**63), the way 64-bit trace readers deliver them."""

    name = "u64"

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids

    def iter_chunks(self) -> Iterator[Chunk]:
        for lo in range(0, self.ids.shape[0], 97):
            yield Chunk(self.ids[lo:lo + 97])


def test_wtinylfu_hashes_the_raw_64_bit_ids() -> None:
    rng = np.random.default_rng(5)
    keys = np.concatenate([rng.integers(0, 2**63, 60, dtype=np.uint64) + np.uint64(2**63),
                           rng.integers(0, 50, 60, dtype=np.uint64)])
    ids = keys[rng.zipf(1.2, 2000) % keys.shape[0]]
    params = {"sketch_width_factor": 0.2}
    p = make_policy("wtinylfu", 25, **params)
    ref = np.array([p.access(int(k)) for k in ids])  # the reference sees Python ints >= 2**63
    (res,) = replay_fast(_U64Source(ids), "wtinylfu", [25], bytes_mode=False, params=params)
    assert res["hits"] == int(ref.sum())
    # the same bits as signed int64 (negative ids) give the same sequence
    signed = ids.view(np.int64)
    assert signed.min() < 0
    assert (hit_sequence("wtinylfu", signed, None, 25, bytes_mode=False, params=params) == ref).all()


def test_wtinylfu_keeps_a_hot_set_through_a_scan() -> None:
    # capacity 100 = window 1 + main 99 (protected 79).  Hot keys 0..48 are hit in probation and settle in
    # protected; key 49, always the newest, stays in the one-key window and leaves it with the scan.  The scan's
    # keys only ever compete with probation's victim (other scan keys), so protected survives it whole.
    hot = np.arange(50)
    ids = np.concatenate([np.tile(hot, 20), np.arange(1000, 3000), hot])
    fast = hit_sequence("wtinylfu", ids, None, 100, bytes_mode=False)
    assert (fast == reference_hits("wtinylfu", ids, None, 100)).all()
    assert fast[-50:-1].all()
    assert not hit_sequence("lru", ids, None, 100, bytes_mode=False)[-50:].any()


def test_gdsf_hand_worked() -> None:
    # bytes, capacity 10, C = 1: A(1) H=1; B(5) H=0.2; C(5) evicts B (L=0.2), H=0.4; B evicts C (L=0.4), H=0.6;
    # A hits, H=0.4+2=2.4; C evicts B (0.6 < 2.4)
    ids = np.array([1, 2, 3, 2, 1, 3])
    sizes = np.array([1, 5, 5, 5, 1, 5])
    want = [False, False, False, False, True, False]
    assert hit_sequence("gdsf", ids, sizes, 10, bytes_mode=True).tolist() == want
    assert reference_hits("gdsf", ids, sizes, 10).tolist() == want
    # A (H=2.4) and C (H=0.6+0.2=0.8) are the residents now
    ids2 = np.append(ids, [1, 3])
    sizes2 = np.append(sizes, [1, 5])
    assert hit_sequence("gdsf", ids2, sizes2, 10, bytes_mode=True)[-2:].tolist() == [True, True]


def test_lfuda_ties_go_to_the_earliest_inserted() -> None:
    # capacity 2: A twice (H=2), B (H=1); C evicts B (L=1, H_C=2); B: A and C tie at 2, A was inserted first
    # and goes (L=2, H_B=3); A evicts C (H=2 < 3)
    ids = np.array([1, 1, 2, 3, 2, 1, 2])
    want = [False, True, False, False, False, False, True]
    assert hit_sequence("lfuda", ids, None, 2, bytes_mode=False).tolist() == want
    assert reference_hits("lfuda", ids, None, 2).tolist() == want


@pytest.mark.parametrize("policy", NEW)
def test_state_is_at_most_64_bytes_per_object(policy: str) -> None:
    spec = KERNELS[policy]
    per_obj = sum(np.dtype(a[1]).itemsize * (int(a[3]) if len(a) > 3 else 1) for a in spec.obj_arrays)
    st_ = spec.new_state(1000, {}, False)
    st_.ensure(10)
    per_obj += sum(st_.fixed[j][0].nbytes for j, _ in spec.grow_fixed)
    assert per_obj <= 64


def test_supports_rejects_what_the_reference_rejects() -> None:
    assert supports("wtinylfu", {}, True) and supports("wtinylfu", {"doorkeeper": True}, False)
    for bad in ({"window_ratio": 1.0}, {"protected_ratio": 1.5}, {"sample_factor": 0}, {"sample_factor": 1.5},
                {"sketch_width_factor": 0.0}, {"nope": 1}):
        assert not supports("wtinylfu", bad, False), bad
    for policy in ("gdsf", "lfuda"):
        assert supports(policy, {"cost": 2.0}, True)
        for bad in ({"cost": 0.0}, {"cost": -1.0}, {"cost": float("nan")}, {"cost": float("inf")}):
            assert not supports(policy, bad, True), bad


def test_array_source_chunks_do_not_change_wtinylfu() -> None:
    rng = np.random.default_rng(9)
    ids = rng.zipf(1.1, 5000) % 700
    params = {"sample_factor": 1, "doorkeeper": True}
    a = replay_fast(ArraySource(ids, chunk=1), "wtinylfu", [50, 300], bytes_mode=False, params=params, workers=1)
    b = replay_fast(ArraySource(ids), "wtinylfu", [50, 300], bytes_mode=False, params=params, workers=2)
    assert [r["hits"] for r in a] == [r["hits"] for r in b]
    assert a[0]["hits"] == int(reference_hits("wtinylfu", ids, None, 50, params).sum())
