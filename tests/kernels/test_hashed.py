"""Slot-hashed kernels: same hits as the reference and the dense kernels, state bounded by the resident objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simcache.kernels as kernels
from simcache.errors import UsageError
from simcache.kernels import KERNELS, ArraySource, hit_sequence, replay_fast
from simcache.kernels.hashed import (
    BUDGET,
    HASHED,
    SLOTTED,
    HashedState,
    SlotState,
    dense_bytes_per_object,
    hashed_policies,
    home_slot,
    new_hashed_state,
)
from simcache.traces.base import Chunk
from tests.kernels._reference import reference_hits, traces

POLICIES = hashed_policies()
QUEUES = sorted(HASHED)  # one list, int64 slot rows (HashedState)
SLOT_POLICIES = [p for p in POLICIES if p in SLOTTED]  # the dense kernel's rows by slot, ghosts included
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARAMS = {"clock": {"bits": 2}}

def _colliding(table_size: int, homes: tuple[int, ...], count: int) -> np.ndarray:
    """``count`` raw ids (spread over the int64 range) whose probe starts at one of ``homes`` in a table of this size."""
    out: list[int] = []
    k = 0
    while len(out) < count:
        key = (k * 0x9E3779B97F4A7C15 + 0x1234) & ((1 << 64) - 1)  # full 64-bit ids, half of them >= 2**63
        if home_slot(key, table_size) in homes:
            out.append(key - (1 << 64) if key >= 1 << 63 else key)  # the int64 view of the same 64 bits
        k += 1
    return np.asarray(out, dtype=np.int64)


def _check_table(state: HashedState) -> None:
    """The linear-probing invariant: the table holds exactly the residents, each reachable from its home slot."""
    tab, rec = state.tab, state.rec
    size = tab.shape[0]
    occupied = np.flatnonzero(tab >= 0)
    assert occupied.shape[0] == state.resident
    assert size >= 4 * state.rec.shape[0] and size & (size - 1) == 0
    # the residents are the slots on the list
    on_list = []
    x = int(state.sc[0])
    while x >= 0:
        on_list.append(x)
        x = int(rec[x, 3])
    assert sorted(on_list) == sorted(int(v) for v in tab[occupied])
    for j in occupied:
        # the row's last column: the id's 31-bit hash (high half) and where the slot sits (low half)
        assert int(rec[tab[j], -1]) & 0xFFFFFFFF == j
        assert int(rec[tab[j], -1]) >> 32 == home_slot(int(rec[tab[j], 0]), 2**31)
        h = home_slot(int(rec[tab[j], 0]), size)
        i = h
        while i != j:  # no hole between the home slot and the entry
            assert tab[i] >= 0
            i = (i + 1) % size


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("bytes_mode", [False, True])
@SETTINGS
@given(case=traces(), wide=st.booleans())
def test_hashed_matches_reference_and_dense(policy: str, bytes_mode: bool, case: tuple, wide: bool) -> None:
    raw, sizes, capacity, chunk = case
    if wide:  # the same trace over 64-bit ids (negative, huge) mixed with the remap-friendly ones
        raw = np.where(raw % 3 == 0, raw * -0x5DEECE66D - 2**62, raw * 0x2545F4914F6CDD1D)
    sz = sizes if bytes_mode else None
    params = PARAMS.get(policy, {})
    ref = reference_hits(policy, raw, sz, capacity, params)
    for layout in ("hashed", "dense", "auto"):
        got = hit_sequence(policy, raw, sz, capacity, bytes_mode=bytes_mode, chunk=chunk, params=params, state=layout)
        first = int(np.argmax(got != ref)) if (got != ref).any() else -1
        assert first == -1, f"{policy} {layout}: first differing request {first}"


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(picks=st.lists(st.integers(0, 23), min_size=1, max_size=300), sizes_seed=st.integers(0, 2**31),
       bytes_mode=st.booleans(), chunk=st.integers(1, 64))
def test_colliding_ids_match_reference(policy: str, picks: list[int], sizes_seed: int, bytes_mode: bool,
                                       chunk: int) -> None:
    # 24 ids whose probes start at slots 15, 0 or 1 of the 16-slot table of an 8-entry cache: one long
    # cluster wrapping round the end, so lookups, backward-shift deletions and reinsertions all cross it
    keys = _colliding(16, (15, 0, 1), 24)
    raw = keys[np.asarray(picks)]
    sizes = np.random.default_rng(sizes_seed).integers(1, 7, 24)[np.asarray(picks)] if bytes_mode else None
    cap = 8
    ref = reference_hits(policy, raw, sizes, cap)
    got = hit_sequence(policy, raw, sizes, cap, bytes_mode=bytes_mode, chunk=chunk, state="hashed")
    assert (got == ref).all()
    assert (hit_sequence(policy, raw, sizes, cap, bytes_mode=bytes_mode, chunk=chunk) == ref).all()


@pytest.mark.parametrize("policy", QUEUES)
def test_table_stays_consistent_under_collisions(policy: str) -> None:
    keys = _colliding(32, (31, 0, 1), 24)
    rng = np.random.default_rng(5)
    st_ = new_hashed_state(KERNELS[policy], 8, {}, False)
    hits = 0
    for _ in range(40):
        ids = keys[rng.integers(0, 24, 25)]
        one = np.ones(25, dtype=np.int64)
        before = int(st_.cnt[0])
        st_.run(ids, one, one, np.zeros(0, dtype=np.int64), 0, 0, np.zeros(0, dtype=np.int8))
        hits += int(st_.cnt[0]) - before
        assert st_.tab.shape[0] == 32  # 8 slots, a table four times as large: every key's home is 31, 0 or 1
        assert st_.resident == 8
        _check_table(st_)
    assert 0 < hits < 1000  # both hits and evictions happened


def test_uint64_ids_above_2_63_equal_their_int64_views() -> None:
    rng = np.random.default_rng(9)
    u = rng.integers(0, 2**63, 400, dtype=np.uint64) | np.uint64(1 << 63)  # every id >= 2**63
    picks = rng.zipf(1.3, 5000) % 400
    uids = u[picks]

    class U64:
        name = "u64"

        def iter_chunks(self) -> Iterator[Chunk]:
            for lo in range(0, uids.shape[0], 700):
                yield Chunk(uids[lo : lo + 700])

    views = uids.view(np.int64)
    assert (views < 0).all()
    for policy in POLICIES:
        (a,) = replay_fast(U64(), policy, [50], bytes_mode=False, state="hashed")
        hits = hit_sequence(policy, views, None, 50, bytes_mode=False, state="hashed", chunk=333)
        ref = reference_hits(policy, [int(x) for x in uids], None, 50)  # Python ints >= 2**63 as keys
        assert (hits == ref).all()
        assert a["hits"] == int(ref.sum()) and a["state"] == "hashed"


@pytest.mark.parametrize("policy", QUEUES)
def test_bytes_mode_grows_the_table_between_chunks(policy: str) -> None:
    rng = np.random.default_rng(11)
    cap = 2000
    # sizes shrink chunk by chunk: at most 20, then 200, then 2000 objects fit
    phases = [(100, 20), (10, 200), (1, 2000)]
    st_ = new_hashed_state(KERNELS[policy], cap, {}, True)
    all_ids, all_sizes, out = [], [], []
    for size, _ in phases:
        for _ in range(3):
            ids = rng.integers(0, 3000, 1500).astype(np.int64) * 1_000_003 - 2**60
            sizes = np.full(1500, size, dtype=np.int64)
            hit = np.zeros(1500, dtype=np.int8)
            st_.run(ids, sizes, sizes, np.zeros(0, dtype=np.int64), 0, 0, hit)
            all_ids.append(ids)
            all_sizes.append(sizes)
            out.append(hit)
            # slots never fewer than the residents could be, never more than capacity / smallest size
            assert st_.resident <= st_.rec.shape[0] <= cap // size
            assert st_.tab.shape[0] >= 2 * st_.rec.shape[0]
            assert st_.nbytes() <= BUDGET * (cap // size)
            _check_table(st_)
    assert st_.grown >= 2
    assert st_.rec.shape[0] == 2000
    ids, sizes = np.concatenate(all_ids), np.concatenate(all_sizes)
    # a size change on a hit (same id, smaller size in a later phase) refits, as the reference does
    assert (np.concatenate(out).astype(bool) == reference_hits(policy, ids, sizes, cap)).all()


@pytest.mark.parametrize("policy", QUEUES)
@pytest.mark.parametrize("bytes_mode", [False, True])
def test_state_bytes_per_cached_object_within_budget(policy: str, bytes_mode: bool) -> None:
    rng = np.random.default_rng(13)
    ids = rng.integers(-(2**63), 2**63 - 1, 100_000, dtype=np.int64)[rng.zipf(1.1, 60_000) % 100_000]
    sizes = (np.abs(ids) % 5 + 1) if bytes_mode else None
    for cap in (1000, 5000):
        (res,) = replay_fast(ArraySource(ids, sizes, chunk=8192), policy, [cap], bytes_mode=bytes_mode,
                             state="hashed")
        st_ = new_hashed_state(KERNELS[policy], cap, {}, bytes_mode)
        for lo in range(0, ids.shape[0], 8192):
            s = np.ones(min(8192, ids.shape[0] - lo), dtype=np.int64) if sizes is None else sizes[lo : lo + 8192]
            st_.run(ids[lo : lo + 8192], s, s, np.zeros(0, dtype=np.int64), 0, 0, np.zeros(0, dtype=np.int8))
        arrays = st_.rec.nbytes + st_.tab.nbytes + st_.sc.nbytes + st_.fp.nbytes
        most = cap  # smallest size 1: at most `cap` objects fit, entries or bytes
        assert st_.resident > 0.5 * most if not bytes_mode else st_.resident > cap // 5
        assert arrays == res["state_bytes"]
        assert arrays / most <= BUDGET
        # the dense layout over the same trace pays for every distinct object
        (dense,) = replay_fast(ArraySource(ids, sizes, chunk=8192), policy, [cap], bytes_mode=bytes_mode,
                               state="dense")
        assert dense["hits"] == res["hits"] and dense["state"] == "dense"
        assert dense["state_bytes"] > len(np.unique(ids)) * 17


def test_auto_keeps_small_dense_states_dense() -> None:
    # 20,000 objects x 17 B is over 80 B x 1000 entries, but 340 KB in all is under the floor:
    # the faster dense layout stays
    class Catalogue(ArraySource):
        n_objects = 20_000

    ids = np.random.default_rng(3).integers(0, 20_000, 5000)
    assert replay_fast(Catalogue(ids), "lru", [1000], bytes_mode=False)[0]["state"] == "dense"
    big = Catalogue(ids)
    big.n_objects = 100_000_000  # 1.7 GB dense: over both the per-object budget and the floor
    assert replay_fast(big, "lru", [1000], bytes_mode=False)[0]["state"] == "hashed"


def test_auto_layout_follows_the_catalogue_and_the_distinct_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "DENSE_FLOOR", 0)  # judge by the per-object budget alone
    rng = np.random.default_rng(17)
    ids = rng.zipf(1.2, 30_000) % 20_000

    class Catalogue(ArraySource):
        n_objects = 20_000

    # 20,000 objects x 17 B is over 80 B x 1000 entries but not over 80 B x 10,000 entries
    rows = replay_fast(Catalogue(ids, chunk=4096), "lru", [1000, 10_000], bytes_mode=False)
    assert [r["state"] for r in rows] == ["hashed", "dense"]
    # without a declared catalogue the dense state moves over once the distinct count passes the budget
    moved = replay_fast(ArraySource(ids * 7 + 3, chunk=4096), "lru", [1000, 10_000], bytes_mode=False)
    assert [r["state"] for r in moved] == ["hashed", "dense"]
    dense = replay_fast(ArraySource(ids, chunk=4096), "lru", [1000, 10_000], bytes_mode=False, state="dense")
    for a, b, c in zip(rows, moved, dense, strict=True):
        assert (a["hits"], a["byte_hits"]) == (b["hits"], b["byte_hits"]) == (c["hits"], c["byte_hits"])
    # a policy without a bounded layout keeps the dense one
    assert replay_fast(ArraySource(ids), "belady", [10], bytes_mode=False)[0]["state"] == "dense"
    assert replay_fast(ArraySource(ids), "arc", [10], bytes_mode=False)[0]["state"] == "hashed"


@pytest.mark.parametrize("policy", ["sieve", "clock"])
def test_moving_mid_trace_keeps_order_flags_and_hand(policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "DENSE_FLOOR", 0)
    # a first chunk of few distinct ids stays dense; the second brings the distinct count over the budget
    rng = np.random.default_rng(19)
    first = rng.integers(0, 40, 3000)
    second = rng.integers(0, 400, 3000)
    ids = np.concatenate([first, second]) * -977 + 5
    params = PARAMS.get(policy, {})
    got = hit_sequence(policy, ids, None, 20, bytes_mode=False, chunk=3000, params=params, state="auto")
    assert (got == reference_hits(policy, ids, None, 20, params)).all()
    (res,) = replay_fast(ArraySource(ids, chunk=3000), policy, [20], bytes_mode=False, params=params)
    assert res["state"] == "hashed" and res["hits"] == int(got.sum())


def test_bad_layout_requests_are_usage_errors() -> None:
    ids = np.arange(10)
    with pytest.raises(UsageError, match="no hashed kernel for policy 'belady'"):
        replay_fast(ArraySource(ids), "belady", [2], bytes_mode=False, state="hashed")
    with pytest.raises(UsageError, match="state must be one of"):
        replay_fast(ArraySource(ids), "lru", [2], bytes_mode=False, state="sparse")


# --- slot-mapped layouts (ARC, S3-FIFO): residents and ghosts in slots --------------------------------------

VARIANT_PARAMS = {
    "arc": [{}, {"variant": "libcachesim"}],
    "2q": [{}, {"variant": "libcachesim"}, {"kin": 0.5, "kout": 1.0}, {"variant": "libcachesim", "kin": 0.6, "kout": 0.1}],
    "s3fifo": [{}, {"variant": "libcachesim"}, {"refuse_large": False},
               {"small_ratio": 0.25, "ghost_ratio": 0.5, "move_to_main_threshold": 1},
               {"variant": "libcachesim", "small_ratio": 0.3, "refuse_large": False}],
}
VARIANT_CASES = [(p, prm) for p in SLOT_POLICIES for prm in VARIANT_PARAMS.get(p, [{}])]


def _check_slots(state: SlotState) -> None:
    """The table holds exactly the live slots (objects in some list), each reachable from its home position."""
    tab, keys, rec = state.tab, state.keys, state.obj[0]
    size = tab.shape[0]
    assert size >= 4 * state.rows and size & (size - 1) == 0
    occupied = np.flatnonzero(tab >= 0)
    live = sorted(int(v) for v in tab[occupied])
    assert len(live) == state.resident == len(set(live))
    free, x = set(), int(state.hs[0])
    while x >= 0:  # the free list runs through a free slot's keys[x, 1]
        free.add(x)
        x = int(keys[x, 1])
    handed = set(range(int(state.hs[1])))
    assert set(live) == handed - free
    assert all(rec[x, state.sspec.where] != 0 for x in live)
    for j in occupied:
        # keys[x]: the raw id, and its 31-bit hash (high half) with x's table position (low half)
        assert int(keys[tab[j], 1]) & 0xFFFFFFFF == j
        assert int(keys[tab[j], 1]) >> 32 == home_slot(int(keys[tab[j], 0]), 2**31)
        i = home_slot(int(keys[tab[j], 0]), size)
        while i != j:
            assert tab[i] >= 0
            i = (i + 1) % size


@pytest.mark.parametrize(("policy", "params"), VARIANT_CASES)
@pytest.mark.parametrize("bytes_mode", [False, True])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=traces(), wide=st.booleans())
def test_slot_layout_matches_reference_and_dense_in_every_variant(policy: str, params: dict, bytes_mode: bool,
                                                                  case: tuple, wide: bool) -> None:
    raw, sizes, capacity, chunk = case
    if wide:
        raw = np.where(raw % 3 == 0, raw * -0x5DEECE66D - 2**62, raw * 0x2545F4914F6CDD1D)
    sz = sizes if bytes_mode else None
    ref = reference_hits(policy, raw, sz, capacity, params)
    for layout in ("hashed", "dense"):
        got = hit_sequence(policy, raw, sz, capacity, bytes_mode=bytes_mode, chunk=chunk, params=params,
                           state=layout)
        first = int(np.argmax(got != ref)) if (got != ref).any() else -1
        assert first == -1, f"{policy} {params} {layout}: first differing request {first}"


@pytest.mark.parametrize(("policy", "params"), VARIANT_CASES)
@pytest.mark.parametrize("bytes_mode", [False, True])
def test_slot_table_consistent_and_bounded_by_residents_and_ghosts(policy: str, params: dict,
                                                                   bytes_mode: bool) -> None:
    keys = _colliding(64, (63, 0, 1, 2), 200)  # long clusters wrapping the end of a 64-position table
    rng = np.random.default_rng(23)
    cap = 40 if not bytes_mode else 120  # S3-FIFO's small queue (10%) must hold more than one object
    spec = KERNELS[policy]
    st_ = new_hashed_state(spec, cap, params, bytes_mode)
    assert isinstance(st_, SlotState)
    all_ids, all_sizes, out = [], [], []
    for chunk in range(30):
        ids = keys[rng.zipf(1.1, 97) % 200]
        sizes = (np.abs(ids) % 7 + 1) if bytes_mode else np.ones(97, dtype=np.int64)
        hit = np.zeros(97, dtype=np.int8)
        # each chunk's global start: LFU breaks ties by the global request index
        st_.run(ids, sizes, sizes, np.zeros(0, dtype=np.int64), 97 * chunk, 0, hit)
        _check_slots(st_)
        # live slots never exceed what the directory can hold (residents + ghosts), however many ids pass
        assert st_.resident <= st_.rows <= st_.max_live()
        all_ids.append(ids)
        all_sizes.append(sizes)
        out.append(hit)
    ids, sizes = np.concatenate(all_ids), np.concatenate(all_sizes)
    ref = reference_hits(policy, ids, sizes if bytes_mode else None, cap, params)
    assert (np.concatenate(out).astype(bool) == ref).all()
    assert 0 < ref.sum() < ref.shape[0]


@pytest.mark.parametrize("policy", SLOT_POLICIES)
def test_slot_kernel_out_of_slots_stops_and_resumes(policy: str) -> None:
    # a bound that is far too small: the kernel stops at the request that needs a slot, the state grows and
    # the replay resumes there, request for request as the reference
    rng = np.random.default_rng(29)
    ids = rng.integers(0, 300, 4000).astype(np.int64) * 104_729 - 2**50
    st_ = new_hashed_state(KERNELS[policy], 40, {}, False)
    st_.sspec = dataclasses.replace(st_.sspec, bound=lambda sc, cap: 0)
    hit = np.zeros(4000, dtype=np.int8)
    one = np.ones(4000, dtype=np.int64)
    st_.run(ids, one, one, np.zeros(0, dtype=np.int64), 0, 0, hit)
    assert st_.grown >= 5
    assert (hit.astype(bool) == reference_hits(policy, ids, None, 40)).all()
    assert int(st_.cnt[0]) == int(hit.sum())
    _check_slots(st_)


@pytest.mark.parametrize(("policy", "params"), VARIANT_CASES)
def test_slot_layout_moves_mid_trace_with_ghosts(policy: str, params: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "DENSE_FLOOR", 0)
    # the first chunk (few distinct ids) stays dense and fills the ghost lists; the second passes the budget
    rng = np.random.default_rng(31)
    ids = np.concatenate([rng.integers(0, 60, 3000), rng.integers(0, 600, 3000)]) * -977 + 5
    sizes = np.abs(ids) % 5 + 1
    for bytes_mode in (False, True):
        sz = sizes if bytes_mode else None
        ref = reference_hits(policy, ids, sz, 20, params)
        got = hit_sequence(policy, ids, sz, 20, bytes_mode=bytes_mode, chunk=3000, params=params, state="auto")
        assert (got == ref).all()
        (res,) = replay_fast(ArraySource(ids, sz, chunk=3000), policy, [20], bytes_mode=bytes_mode, params=params)
        assert res["state"] == "hashed" and res["hits"] == int(ref.sum())


@pytest.mark.parametrize("policy", SLOT_POLICIES)
def test_slot_state_bounded_by_cache_and_ghosts_not_catalogue(policy: str) -> None:
    rng = np.random.default_rng(37)
    ids = rng.integers(-(2**63), 2**63 - 1, 200_000, dtype=np.int64)[rng.zipf(1.1, 80_000) % 200_000]
    cap = 1000
    (res,) = replay_fast(ArraySource(ids, chunk=8192), policy, [cap], bytes_mode=False, state="hashed")
    (dense,) = replay_fast(ArraySource(ids, chunk=8192), policy, [cap], bytes_mode=False, state="dense")
    assert res["hits"] == dense["hits"] and res["state"] == "hashed"
    # at most the policy's bound of live slots (residents and ghosts: ARC 2c, S3-FIFO c + 0.9c, 2Q c + 0.5c,
    # LIRS c + 2c non-resident, ...), each the dense kernel's per-object bytes, 16 B of keys and 4-8 int32
    # of table, plus the fixed arrays (W-TinyLFU's sketch, Redis's pool and random words)
    spec = KERNELS[policy]
    empty = new_hashed_state(spec, cap, {}, False)
    per_slot = dense_bytes_per_object(spec) + 16 + 8 * 4
    fixed = sum(getattr(a, "nbytes", 0) for a in getattr(empty, "fixed", []))
    assert res["state_bytes"] <= empty.max_live() * per_slot + fixed + 4096
    assert dense["state_bytes"] >= len(np.unique(ids)) * dense_bytes_per_object(spec)
