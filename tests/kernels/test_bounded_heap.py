"""Bounded (slot) layouts of the heap and array kernels: LFU, GDSF, LFU-DA and random eviction.

The slot layout runs each kernel's own loop over one row per *resident* object, found from the raw id
through the slot table; these tests hold it to the reference classes and to the dense layout request for
request, and check that its state follows the cache, not the catalogue.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simcache.kernels as kernels
from simcache.errors import KernelLimit
from simcache.kernels import KERNELS, ArraySource, hit_sequence, replay_fast
from simcache.kernels.gdsf import STRANDED
from simcache.kernels.hashed import SLOTTED, SlotState, dense_bytes_per_object, hashed_policies, new_hashed_state
from simcache.policies import make_policy
from simcache.replay import policy_seed
from simcache.traces.base import Chunk
from tests.kernels._reference import traces
from tests.kernels.test_hashed import _check_slots, _colliding

CASES = [
    ("lfu", {}),
    ("gdsf", {}),
    ("gdsf", {"cost": 2.5}),
    ("gdsf", {"variant": "libcachesim"}),
    ("gdsf", {"variant": "libcachesim", "cost": 0.01}),
    ("lfuda", {}),
    ("lfuda", {"cost": 0.3}),
    ("lfuda", {"variant": "libcachesim"}),
    ("random", {}),
]
POLICIES = sorted({p for p, _ in CASES})
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NO_NXT = np.zeros(0, dtype=np.int64)


def _rng(policy: str, seed: int) -> np.random.Generator | None:
    return np.random.default_rng(seed) if policy == "random" else None


def _reference(policy: str, ids: Any, sizes: np.ndarray | None, capacity: int, params: dict[str, Any],
               seed: int = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Per-request hits of the reference class (random: victims drawn from ``rng``, else ``default_rng(seed)``)."""
    extra = {"rng": rng if rng is not None else np.random.default_rng(seed)} if policy == "random" else {}
    p = make_policy(policy, capacity, **params, **extra)
    return np.array([p.access(int(k), 1 if sizes is None else int(sizes[i])) for i, k in enumerate(ids)], dtype=bool)


def _overflows(policy: str, ids: Any, sizes: np.ndarray | None, capacity: int, params: dict[str, Any]) -> bool:
    """Whether libCacheSim's LFU-DA frequencies (the reference's Python integers) pass int64 on this trace."""
    if policy != "lfuda" or params.get("variant") != "libcachesim":
        return False
    p = make_policy(policy, capacity, **params)
    for i, k in enumerate(ids):
        p.access(int(k), 1 if sizes is None else int(sizes[i]))
        if p.max_freq > 2**63 - 1:
            return True
    return False


def _first_difference(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.argmax(a != b)) if (a != b).any() else -1


def _run(state: Any, ids: np.ndarray, sizes: np.ndarray, base: int) -> np.ndarray:
    hit = np.zeros(ids.shape[0], dtype=np.int8)
    state.run(ids, sizes, sizes, NO_NXT, base, 0, hit)
    return hit.astype(bool)


def _check_positions(state: SlotState, policy: str) -> None:
    """The heap (or the random kernel's key array) holds exactly the live slots, each where its row says."""
    obj = dict(zip((a[0] for a in state.spec.obj_arrays), state.obj, strict=True))
    live = {int(v) for v in state.tab[state.tab >= 0]}
    n = int(state.sc[0])
    if policy == "random":
        order = obj["order"]
        assert n == len(live) == len({int(x) for x in order[:n]})
        assert {int(x) for x in order[:n]} == live
        assert all(int(obj["rec"][int(order[j]), 1]) == j for j in range(n))
        return
    hp, pos = obj["hp"], obj["pos"]
    in_heap = [int(hp[j, 2]) for j in range(n)]
    assert len(set(in_heap)) == n and set(in_heap) <= live
    assert all(int(pos[x]) == j for j, x in enumerate(in_heap))
    for j in range(1, n):  # min-heap order on (key1, key2)
        parent = (j - 1) // 2
        assert (int(hp[parent, 0]), int(hp[parent, 1])) <= (int(hp[j, 0]), int(hp[j, 1]))
    # every resident is in the heap, except LFU-DA's (libCacheSim) stranded keys below min_freq
    assert all(int(pos[x]) == STRANDED for x in live - set(in_heap))


def test_bounded_layouts_are_registered() -> None:
    assert set(POLICIES) <= set(hashed_policies()) and set(POLICIES) <= set(SLOTTED)
    for policy in POLICIES:
        assert isinstance(new_hashed_state(KERNELS[policy], 10, {}, False), SlotState)


@pytest.mark.parametrize(("policy", "params"), CASES)
@pytest.mark.parametrize("bytes_mode", [False, True])
@SETTINGS
@given(case=traces(), wide=st.booleans(), resize=st.booleans(), seed=st.integers(0, 2**31))
def test_bounded_layout_matches_reference_and_dense(policy: str, params: dict, bytes_mode: bool, case: tuple,
                                                    wide: bool, resize: bool, seed: int) -> None:
    raw, sizes, capacity, chunk = case
    if wide:  # the same trace over 64-bit ids (negative, huge) mixed with the remap-friendly ones
        raw = np.where(raw % 3 == 0, raw * -0x5DEECE66D - 2**62, raw * 0x2545F4914F6CDD1D)
    if resize:  # each request its own size: hits grow and shrink objects, some beyond the cache
        sizes = np.random.default_rng(seed).integers(1, int(1.5 * capacity) + 2, size=raw.shape[0])
    sz = sizes if bytes_mode else None
    ref = _reference(policy, raw, sz, capacity, params, seed)
    for layout in ("hashed", "dense", "auto"):
        got = hit_sequence(policy, raw, sz, capacity, bytes_mode=bytes_mode, chunk=chunk, params=params,
                           state=layout, rng=_rng(policy, seed))
        first = _first_difference(got, ref)
        assert first == -1, f"{policy} {params} {layout}: first differing request {first}"


@pytest.mark.parametrize(("policy", "params"), CASES)
@pytest.mark.parametrize("bytes_mode", [False, True])
def test_slot_table_and_heap_consistent_and_bounded_by_residents(policy: str, params: dict,
                                                                 bytes_mode: bool) -> None:
    keys = _colliding(64, (63, 0, 1, 2), 200)  # long probe clusters wrapping the end of a 64-position table
    rng = np.random.default_rng(41)
    cap = 40 if not bytes_mode else 120
    st_ = new_hashed_state(KERNELS[policy], cap, params, bytes_mode, _rng(policy, 3))
    assert isinstance(st_, SlotState)
    all_ids, all_sizes, out = [], [], []
    base = 0
    for _ in range(30):
        ids = keys[rng.zipf(1.1, 97) % 200]
        sizes = (np.abs(ids) % 7 + 1) if bytes_mode else np.ones(97, dtype=np.int64)
        out.append(_run(st_, ids, sizes, base))
        base += 97
        _check_slots(st_)
        _check_positions(st_, policy)
        # live slots: the residents only, never more than the cache can hold (+1 for the object entering)
        assert st_.resident <= st_.rows <= st_.max_live() <= cap // int(st_.smin or 1) + 1
        all_ids.append(ids)
        all_sizes.append(sizes)
    ids, sizes = np.concatenate(all_ids), np.concatenate(all_sizes)
    ref = _reference(policy, ids, sizes if bytes_mode else None, cap, params, 3)
    assert (np.concatenate(out) == ref).all()
    assert 0 < ref.sum() < ref.shape[0]


@pytest.mark.parametrize(("policy", "params"), CASES)
def test_uint64_ids_above_2_63_equal_their_int64_views(policy: str, params: dict) -> None:
    rng = np.random.default_rng(9)
    u = rng.integers(0, 2**63, 400, dtype=np.uint64) | np.uint64(1 << 63)  # every id >= 2**63
    uids = u[rng.zipf(1.3, 5000) % 400]
    sizes = rng.integers(1, 9, 400)[rng.zipf(1.3, 5000) % 400]

    class U64:
        name = "u64"

        def iter_chunks(self) -> Iterator[Chunk]:
            for lo in range(0, uids.shape[0], 700):
                yield Chunk(uids[lo : lo + 700], sizes[lo : lo + 700])

    views = uids.view(np.int64)
    assert (views < 0).all()
    for bytes_mode, cap in ((False, 50), (True, 200)):
        sz = sizes if bytes_mode else None
        ref = _reference(policy, [int(x) for x in uids], sz, cap, params, rng=policy_seed(7, policy, cap))
        (a,) = replay_fast(U64(), policy, [cap], bytes_mode=bytes_mode, params=params, seed=7, state="hashed")
        assert a["state"] == "hashed" and a["hits"] == int(ref.sum())
        assert a["byte_hits"] == int(np.asarray(sizes)[ref].sum())
        got = hit_sequence(policy, views, sz, cap, bytes_mode=bytes_mode, params=params, state="hashed", chunk=333,
                           rng=policy_seed(7, policy, cap))
        assert (got == ref).all()


@pytest.mark.parametrize(("policy", "params"), CASES)
@pytest.mark.parametrize("bytes_mode", [False, True])
def test_out_of_slots_stops_and_resumes(policy: str, params: dict, bytes_mode: bool) -> None:
    # a bound far too small: the kernel stops at the request that needs a slot, the state grows and the
    # replay resumes there, request for request as the reference
    rng = np.random.default_rng(29)
    ids = rng.integers(0, 300, 4000).astype(np.int64) * 104_729 - 2**50
    sizes = (np.abs(ids) % 5 + 1) if bytes_mode else np.ones(4000, dtype=np.int64)
    cap = 40 if not bytes_mode else 120
    st_ = new_hashed_state(KERNELS[policy], cap, params, bytes_mode, _rng(policy, 5))
    st_.sspec = dataclasses.replace(st_.sspec, bound=lambda sc, cap: 0)
    hit = _run(st_, ids, sizes, 0)
    assert st_.grown >= 5
    assert (hit == _reference(policy, ids, sizes if bytes_mode else None, cap, params, 5)).all()
    assert int(st_.cnt[0]) == int(hit.sum())
    assert int(st_.cnt[2]) == int(sizes[hit].sum())
    _check_slots(st_)
    _check_positions(st_, policy)


def _two_phases(spec: Any, cap: int, seed: int) -> tuple[np.ndarray, int]:
    """Ids of a first chunk few enough to stay dense (under the budget) and a second that takes it over."""
    few = 64 * cap // dense_bytes_per_object(spec)
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, few, 3000), rng.integers(0, 10 * few, 3000)
    assert not kernels._over_budget(len(np.unique(first)), dense_bytes_per_object(spec), cap)
    assert kernels._over_budget(len(np.unique(np.concatenate([first, second]))), dense_bytes_per_object(spec), cap)
    return np.concatenate([first, second]) * -977 + 5, 3000


@pytest.mark.parametrize(("policy", "params"), CASES)
def test_moving_mid_trace_from_dense_to_slots(policy: str, params: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "DENSE_FLOOR", 0)  # judge by the per-object budget alone
    cap = 40
    ids, chunk = _two_phases(KERNELS[policy], cap, 31)
    sizes = np.abs(ids) % 5 + 1
    runs = set()
    for bytes_mode in (False, True):
        sz = sizes if bytes_mode else None
        for seed in range(3 if policy == "random" else 1):
            ref = _reference(policy, ids, sz, cap, params, seed)
            if _overflows(policy, ids, sz, cap, params):
                # libCacheSim's LFU-DA frequencies pass int64 on this trace: the kernel stops and says so
                with pytest.raises(KernelLimit):
                    hit_sequence(policy, ids, sz, cap, bytes_mode=bytes_mode, chunk=chunk, params=params,
                                 state="auto")
                return
            got = hit_sequence(policy, ids, sz, cap, bytes_mode=bytes_mode, chunk=chunk, params=params,
                               state="auto", rng=_rng(policy, seed))
            assert _first_difference(got, ref) == -1
            runs.add(got.tobytes())
        (res,) = replay_fast(ArraySource(ids, sz, chunk=chunk), policy, [cap], bytes_mode=bytes_mode, params=params,
                             seed=13)
        ref = _reference(policy, ids, sz, cap, params, rng=policy_seed(13, policy, cap))
        assert res["state"] == "hashed" and res["hits"] == int(ref.sum())
        assert res["byte_hits"] == int((sizes if bytes_mode else np.ones_like(sizes))[ref].sum())
    if policy == "random":  # the seeds changed the victims after the move: the generator went along
        assert len(runs) > 2


@pytest.mark.parametrize(("policy", "params"), CASES)
def test_adopt_keeps_heap_order_positions_and_generator(policy: str, params: dict) -> None:
    rng = np.random.default_rng(43)
    raw_of = rng.integers(-(2**63), 2**63 - 1, 500, dtype=np.int64)
    ids = rng.zipf(1.2, 6000) % 500
    sizes = ids % 6 + 1
    spec = KERNELS[policy]
    dense = spec.new_state(60, params, True, rng=_rng(policy, 2))
    dense.ensure(500)
    out = [_run(dense, ids[:3000].astype(np.int32), sizes[:3000], 0)]
    moved = new_hashed_state(spec, 60, params, True)
    moved.adopt(dense, raw_of)
    _check_slots(moved)
    _check_positions(moved, policy)
    names = [a[0] for a in spec.obj_arrays]
    n = int(dense.sc[0])
    if policy == "random":  # the same keys in the same positions, and the same generator
        order = names.index("order")
        assert (moved.keys[moved.obj[order][:n], 0] == raw_of[dense.obj[order][:n]]).all()
        assert moved.fixed[0] is dense.fixed[0]
    else:  # the heap rows where they were, pointing at the same objects
        hp = names.index("hp")
        assert (moved.obj[hp][:n, :2] == dense.obj[hp][:n, :2]).all()
        assert (moved.keys[moved.obj[hp][:n, 2], 0] == raw_of[dense.obj[hp][:n, 2]]).all()
    assert (moved.sc == dense.sc).all() and (moved.fp == dense.fp).all()
    out.append(_run(moved, raw_of[ids[3000:]], sizes[3000:], 3000))
    ref = _reference(policy, raw_of[ids], sizes, 60, params, 2)
    assert (np.concatenate(out) == ref).all()
    assert int(moved.cnt[0]) == int(ref.sum())


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("bytes_mode", [False, True])
def test_state_bounded_by_the_cache_not_the_catalogue(policy: str, bytes_mode: bool) -> None:
    rng = np.random.default_rng(37)
    ids = rng.integers(-(2**63), 2**63 - 1, 200_000, dtype=np.int64)[rng.zipf(1.1, 80_000) % 200_000]
    sizes = (np.abs(ids) % 5 + 1) if bytes_mode else None
    spec = KERNELS[policy]
    per_slot = dense_bytes_per_object(spec) + 16  # the dense kernel's row and the slot's raw id, hash, position
    for cap in (1000, 5000):
        (res,) = replay_fast(ArraySource(ids, sizes, chunk=8192), policy, [cap], bytes_mode=bytes_mode, state="hashed")
        (dense,) = replay_fast(ArraySource(ids, sizes, chunk=8192), policy, [cap], bytes_mode=bytes_mode,
                               state="dense")
        assert (res["hits"], res["byte_hits"]) == (dense["hits"], dense["byte_hits"]) and res["state"] == "hashed"
        # at most cap + 1 slots (smallest size 1), a table of 4-8 int32 positions per slot, a few scalars
        assert res["state_bytes"] <= (cap + 1) * (per_slot + 32) + 512
        # dense pays for every distinct object: about 41,000 here, against at most 5,001 slots
        assert dense["state_bytes"] >= len(np.unique(ids)) * dense_bytes_per_object(spec)


@pytest.mark.parametrize("policy", POLICIES)
def test_auto_takes_the_bounded_layout_for_a_huge_catalogue(policy: str) -> None:
    # a declared 10**8-object catalogue: dense would hold 2-5.6 GB per cache; auto decides up front
    class Catalogue(ArraySource):
        n_objects = 100_000_000

    rng = np.random.default_rng(47)
    ids = rng.integers(0, 100_000_000, 20_000)[rng.zipf(1.1, 30_000) % 20_000]
    (res,) = replay_fast(Catalogue(ids, chunk=4096), policy, [1000], bytes_mode=False, seed=3)
    assert res["state"] == "hashed"
    ref = _reference(policy, ids, None, 1000, {}, rng=policy_seed(3, policy, 1000))
    assert res["hits"] == int(ref.sum())
    slot_bytes = dense_bytes_per_object(KERNELS[policy]) + 16 + 32  # row, raw id and hash, 4-8 table positions
    assert res["state_bytes"] <= 1001 * slot_bytes + 512  # about 50-120 bytes per cached object


def test_random_slots_follow_the_seeded_generator() -> None:
    # the bounded layout gets the generator replay_fast derives for each capacity (policy_seed), as dense does
    rng = np.random.default_rng(5)
    ids = rng.zipf(1.1, 20_000) % 2000 * 7 - 3
    seen = set()
    for seed in (11, 12):
        rows = replay_fast(ArraySource(ids, chunk=3000), "random", [50, 400], bytes_mode=False, seed=seed,
                           state="hashed")
        for r in rows:
            ref = _reference("random", ids, None, r["capacity"], {}, rng=policy_seed(seed, "random", r["capacity"]))
            assert r["hits"] == int(ref.sum())
            seen.add((r["capacity"], r["hits"]))
    assert len(seen) == 4  # each seed drew its own victims
