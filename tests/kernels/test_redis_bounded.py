"""The redis-* kernels' bounded layout: slots for resident keys only, the same hits as the dense layout and RedisPolicy."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simcache.kernels as kernels
from simcache.kernels import KERNELS, ArraySource, hit_sequence, replay_fast
from simcache.kernels.hashed import SLOTTED, SlotState, hashed_policies, home_slot, make_hashed_state, new_hashed_state
from simcache.policies.redis import EVPOOL_SIZE
from simcache.replay import policy_seed
from simcache.traces.base import Chunk
from tests.kernels._reference import traces
from tests.kernels.test_redis_kernel import REDIS, first_difference, knobs, reference_run, request_times

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NO_RAW = np.zeros(0, dtype=np.int64)


def run_chunks(state: Any, ids: np.ndarray, sizes: np.ndarray, times: np.ndarray, chunk: int) -> np.ndarray:
    """Replay raw ids through a bounded-layout state chunk by chunk; per-request hits."""
    out = np.zeros(len(ids), dtype=np.int8)
    for lo in range(0, len(ids), chunk):
        sl = slice(lo, lo + chunk)
        state.run(ids[sl], sizes[sl], sizes[sl], ids[sl], lo, 0, out[sl], times[sl])
    return out.astype(bool)


def chains_by_raw(state: SlotState) -> list[list[int]]:
    """The dict's chains, bucket by bucket, as raw ids."""
    rec, bhead, _ = state.obj
    heads = bhead.reshape(-1)
    chains = []
    for b in range(int(state.sc[2])):
        chain, x = [], int(heads[b])
        while x >= 0:
            chain.append(int(state.keys[x, 0]))
            x = int(rec[x, 1])
        chains.append(chain)
    return chains


def check_slots(state: SlotState) -> None:
    """The slot table holds exactly the resident keys (the dict's keys), each reachable from its home position."""
    tab, keys, rec = state.tab, state.keys, state.obj[0]
    size = tab.shape[0]
    assert size >= 4 * state.rows and size & (size - 1) == 0
    live = sorted(int(v) for v in tab[tab >= 0])
    assert len(live) == len(set(live)) == state.resident == int(state.sc[1])
    free, x = set(), int(state.hs[0])
    while x >= 0:
        free.add(x)
        x = int(keys[x, 1])
    assert set(live) == set(range(int(state.hs[1]))) - free
    assert set(live) == set(np.flatnonzero(rec[:, 0] >= 0).tolist())  # a freed slot's size is -1
    assert int(state.sc[0]) == int(rec[live, 0].sum())
    # every live slot is on exactly one chain, and the buckets fit in the slots' heads
    assert int(state.sc[2]) <= state.obj[1].size
    on_chains = [k for c in chains_by_raw(state) for k in c]
    assert sorted(on_chains) == sorted(int(keys[x, 0]) for x in live)
    for j in np.flatnonzero(tab >= 0):
        assert int(keys[tab[j], 1]) & 0xFFFFFFFF == j
        i = home_slot(int(keys[tab[j], 0]), size)
        while i != j:
            assert tab[i] >= 0
            i = (i + 1) % size


def pool_by_raw(state: SlotState) -> tuple[list[int], list[int]]:
    pl = int(state.sc[6])
    return state.fixed[3][:pl].tolist(), state.fixed[2][:pl].tolist()


def test_every_redis_policy_has_a_bounded_layout() -> None:
    assert set(REDIS) <= set(hashed_policies())
    for policy in REDIS:
        st_ = new_hashed_state(KERNELS[policy], 10, {}, False, policy_seed(1, policy, 10))
        assert isinstance(st_, SlotState) and st_.layout == "hashed" and policy in SLOTTED
        # the generator's first batch and the salts are drawn at construction, as the dense state draws them
        dense = KERNELS[policy].new_state(10, {}, False, rng=policy_seed(1, policy, 10))
        assert st_.sc.tolist() == dense.sc.tolist()
        assert st_.fixed[0].tolist() == dense.fixed[0].tolist()


@pytest.mark.parametrize("policy", REDIS)
@pytest.mark.parametrize("bytes_mode", [False, True])
@SETTINGS
@given(case=traces(), params=knobs, tseed=st.integers(0, 2**31), mean_gap=st.sampled_from([0.2, 2.0, 30.0]),
       per_request_sizes=st.booleans(), wide=st.booleans())
def test_bounded_and_dense_match_reference_on_timed_seeded_traces(policy: str, bytes_mode: bool, case: tuple,
                                                                   params: dict, tseed: int, mean_gap: float,
                                                                   per_request_sizes: bool, wide: bool) -> None:
    raw, sizes, capacity, chunk = case
    if wide:  # 64-bit ids, negative and huge: the slot table and the dict both hash the 64-bit patterns
        raw = np.where(raw % 3 == 0, raw * -0x5DEECE66D - 2**62, raw * 0x2545F4914F6CDD1D)
    if bytes_mode and per_request_sizes:
        sizes = np.random.default_rng(tseed).integers(1, capacity + 2, len(raw))
    sz = sizes if bytes_mode else None
    times = request_times(tseed, len(raw), mean_gap)
    ref, _ = reference_run(policy, raw, sz, capacity, times, params, policy_seed(7, policy, capacity))
    for layout in ("hashed", "dense", "auto"):
        got = hit_sequence(policy, raw, sz, capacity, bytes_mode=bytes_mode, params=params, chunk=chunk,
                           rng=policy_seed(7, policy, capacity), times=times, state=layout)
        first = first_difference(got, ref)
        assert first == -1, f"{policy} {params} {layout}: first differing request {first}"


def colliding(table_size: int, homes: tuple[int, ...], count: int) -> np.ndarray:
    """``count`` int64 ids (half of them negative) whose slot-table probe starts at one of ``homes``."""
    out: list[int] = []
    k = 0
    while len(out) < count:
        key = (k * 0x9E3779B97F4A7C15 + 0x77) & ((1 << 64) - 1)
        if home_slot(key, table_size) in homes:
            out.append(key - (1 << 64) if key >= 1 << 63 else key)
        k += 1
    return np.asarray(out, dtype=np.int64)


@pytest.mark.parametrize("policy", ["redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random",
                                    "redis-volatile-lru", "redis-noeviction"])
@pytest.mark.parametrize("bytes_mode", [False, True])
def test_slot_table_follows_the_reference_keyspace_pool_and_batch(policy: str, bytes_mode: bool) -> None:
    # 300 ids whose probes start in 4 positions of a 256-position table (a 40-key cache): long clusters
    # wrapping the end; after every chunk the slots are the reference's keys, chains, pool and random words
    ids_all = colliding(256, (255, 0, 1, 2), 300)
    rng = np.random.default_rng(41)
    cap = 40 if not bytes_mode else 120
    params = {"maxmemory_samples": 3, "lfu_log_factor": 1}
    st_ = new_hashed_state(KERNELS[policy], cap, params, bytes_mode, policy_seed(3, policy, cap))
    assert isinstance(st_, SlotState)
    all_ids, all_sizes, all_times, out = [], [], [], []
    t0 = 0.0
    for c in range(20):
        ids = ids_all[rng.zipf(1.1, 97) % 300]
        sizes = (np.abs(ids) % 7 + 1) if bytes_mode else np.ones(97, dtype=np.int64)
        times = t0 + request_times(c, 97, 3.0)
        t0 = float(times[-1])
        out.append(run_chunks(st_, ids, sizes, times, 97))
        all_ids.append(ids)
        all_sizes.append(sizes)
        all_times.append(times)
        check_slots(st_)
        assert st_.resident <= st_.rows <= st_.max_live()
    ids, sizes, times = np.concatenate(all_ids), np.concatenate(all_sizes), np.concatenate(all_times)
    hits, ref = reference_run(policy, ids, sizes if bytes_mode else None, cap, times, params,
                              policy_seed(3, policy, cap))
    assert (np.concatenate(out) == hits).all()
    assert 0 < hits.sum() < hits.shape[0]
    keys = st_.keys
    live = np.flatnonzero(st_.obj[0][:, 0] >= 0)
    assert {int(keys[x, 0]): int(st_.obj[0][x, 0]) for x in live} == ref.sizes
    assert chains_by_raw(st_) == [list(c) for c in ref._all.table]  # noqa: SLF001 - the model's layout
    pool_keys, pool_scores = pool_by_raw(st_)
    if ref.kind in ("lru", "lfu") and ref.allkeys:
        assert pool_keys == ref._pool_keys and pool_scores == ref._pool_scores  # noqa: SLF001
    assert st_.fixed[0][: int(st_.sc[5])].tolist() == ref._rand.words  # noqa: SLF001
    assert int(st_.sc[12]) == ref.refused


@pytest.mark.parametrize("policy", REDIS)
def test_stale_pool_entries_are_told_apart_from_reused_slots(policy: str) -> None:
    # a small cache over many keys: slots are freed and retaken all the time while pool entries go stale;
    # an entry must stand for its key (evicted, or back in another slot), never for its slot's new key
    rng = np.random.default_rng(43)
    ids = (rng.zipf(1.05, 20_000) % 5000).astype(np.int64) * 0x5DEECE66D + 11
    times = request_times(6, len(ids), 1.5)
    params = {"maxmemory_samples": 10, "lfu_log_factor": 0}
    ref, p = reference_run(policy, ids, None, 25, times, params, policy_seed(5, policy, 25))
    st_ = new_hashed_state(KERNELS[policy], 25, params, False, policy_seed(5, policy, 25))
    got = run_chunks(st_, ids, np.ones(len(ids), dtype=np.int64), times, 4096)
    assert first_difference(got, ref) == -1
    if p.kind in ("lru", "lfu") and p.allkeys:
        stale = [k for k in p._pool_keys if k not in p.sizes]  # noqa: SLF001
        assert pool_by_raw(st_)[0] == p._pool_keys  # noqa: SLF001
        assert stale  # the case this test is about
    check_slots(st_)
    assert st_.rows <= 26


@pytest.mark.parametrize("policy", REDIS)
def test_out_of_slots_stops_and_resumes(policy: str) -> None:
    # a bound far too small: the loop stops before the request that needs a slot, the state grows and the
    # replay resumes there, request for request as the reference (bytes mode, sizes changing on hits)
    rng = np.random.default_rng(47)
    ids = rng.integers(0, 300, 4000).astype(np.int64) * 104_729 - 2**50
    sizes = rng.integers(1, 9, 4000)
    times = request_times(8, 4000, 4.0)
    st_ = new_hashed_state(KERNELS[policy], 150, {}, True, policy_seed(9, policy, 150))
    assert isinstance(st_, SlotState)
    st_.sspec = dataclasses.replace(st_.sspec, bound=lambda sc, cap: 0)
    got = run_chunks(st_, ids, sizes, times, 4000)
    ref, _ = reference_run(policy, ids, sizes, 150, times, {}, policy_seed(9, policy, 150))
    assert st_.grown >= 5
    assert first_difference(got, ref) == -1
    assert int(st_.cnt[0]) == int(got.sum())
    check_slots(st_)


def test_zero_size_keys_outgrow_any_bound() -> None:
    # zero-byte keys: capacity / smallest size bounds nothing, the kernel runs out of slots and grows
    rng = np.random.default_rng(53)
    ids = rng.integers(0, 500, 3000).astype(np.int64) * 7 + 1
    sizes = np.where(ids % 3 == 0, 0, 5)
    times = request_times(9, 3000, 1.0)
    for policy in ("redis-allkeys-lru", "redis-noeviction"):
        ref, p = reference_run(policy, ids, sizes, 50, times, {}, policy_seed(2, policy, 50))
        st_ = new_hashed_state(KERNELS[policy], 50, {}, True, policy_seed(2, policy, 50))
        assert isinstance(st_, SlotState)
        got = run_chunks(st_, ids, sizes, times, 600)
        assert first_difference(got, ref) == -1
        check_slots(st_)
        assert st_.resident == len(p.sizes)
    assert st_.resident > 51  # noeviction keeps every zero-byte key: more than 50 bytes / 1 byte + 1


class _Uint64Trace:
    """Raw 64-bit ids at and above 2**63, timed, in chunks of 300."""

    name = "uint64-ids"

    def __init__(self) -> None:
        rng = np.random.default_rng(8)
        self.ids = (rng.zipf(1.2, 3000) % 600).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) | np.uint64(1 << 63)
        self.times = request_times(3, 3000, 5.0)

    def iter_chunks(self) -> Iterator[Chunk]:
        for lo in range(0, len(self.ids), 300):
            yield Chunk(self.ids[lo:lo + 300], None, self.times[lo:lo + 300])


def test_uint64_ids_above_2_63_in_both_layouts() -> None:
    src = _Uint64Trace()
    assert int(src.ids.min()) >= 2**63
    ref = replay_fast_reference(src)
    for layout in ("dense", "hashed"):
        rows = {p: replay_fast(src, p, [30, 200], bytes_mode=False, seed=4, state=layout) for p in REDIS}
        got = {(p, r["capacity"]): r["hits"] for p, rs in rows.items() for r in rs}
        assert got == ref, layout
        assert {r["state"] for rs in rows.values() for r in rs} == {layout}


def replay_fast_reference(src: _Uint64Trace) -> dict[tuple[str, int], int]:
    from simcache.replay import replay

    return {(r.policy, r.size): r.hits for r in replay(src, REDIS, [30, 200], engine="reference", seed=4)}


@pytest.mark.parametrize("policy", REDIS)
def test_dense_state_moves_to_slots_mid_trace(policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "DENSE_FLOOR", 0)  # judge by the per-object budget alone
    # the first chunk (25 distinct ids) stays dense, fills the pool, draws from the batch; the second brings
    # 600 distinct ids: 600 x 52 B > 80 B x 20 entries, so the state moves to slots before it
    rng = np.random.default_rng(59)
    ids = np.concatenate([rng.integers(0, 25, 3000), rng.integers(0, 600, 3000)]) * -977 + 5
    sizes = np.abs(ids) % 5 + 1
    times = request_times(10, len(ids), 2.0)
    params = {"lfu_log_factor": 1}
    for bytes_mode in (False, True):
        sz = sizes if bytes_mode else None
        cap = 20 if not bytes_mode else 40
        ref, _ = reference_run(policy, ids, sz, cap, times, params, policy_seed(11, policy, cap))
        got = hit_sequence(policy, ids, sz, cap, bytes_mode=bytes_mode, chunk=3000, params=params,
                           rng=policy_seed(11, policy, cap), times=times, state="auto")
        assert first_difference(got, ref) == -1
        src = ArraySource(ids, sz, chunk=3000, times=times)
        (res,) = replay_fast(src, policy, [cap], bytes_mode=bytes_mode, params=params, seed=11)
        assert res["state"] == "hashed" and res["hits"] == int(ref.sum())


@pytest.mark.parametrize("policy", ["redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random"])
def test_adopting_a_table_with_more_buckets_than_four_per_key(policy: str) -> None:
    # 300 one-byte keys grow the dict to 512 buckets; 30-byte keys then evict most of them, leaving 60-odd keys
    # in 512 buckets (over 10 % full, so no shrink): the slots must cover 512 / 4 heads, not 4 per key
    ids = np.concatenate([np.arange(300), np.arange(1000, 1008), np.arange(300)]).astype(np.int64) * 31 + 7
    sizes = np.where(ids >= 1000 * 31, 30, 1)
    times = np.arange(len(ids), dtype=np.float64) * 0.3
    cap = 300
    ref, _ = reference_run(policy, ids, sizes, cap, times, {}, policy_seed(13, policy, cap))
    spec = KERNELS[policy]
    dense = spec.new_state(cap, {}, True, rng=policy_seed(13, policy, cap))
    dense.ensure(308)
    dense_ids = np.unique(ids, return_inverse=True)[1].astype(np.int32)
    raw_of = np.unique(ids)
    out = np.zeros(len(ids), dtype=np.int8)
    m = 308  # the move comes after the large keys
    dense.run(dense_ids[:m], sizes[:m], sizes[:m], ids[:m], 0, 0, out[:m], times[:m])
    assert int(dense.sc[2]) == 512 and 4 * int(dense.sc[1]) < 512
    st_ = make_hashed_state(spec, cap, dense.sc, dense.fp)
    st_.adopt(dense, raw_of)
    assert isinstance(st_, SlotState)
    assert st_.rows == 128 > st_.resident
    check_slots(st_)
    st_.run(ids[m:], sizes[m:], sizes[m:], ids[m:], m, 0, out[m:], times[m:])
    assert (out.astype(bool) == ref).all()
    check_slots(st_)


@pytest.mark.parametrize("policy", ["redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random",
                                    "redis-noeviction"])
@pytest.mark.parametrize("bytes_mode", [False, True])
def test_state_bytes_per_cached_key_bounded_on_a_large_catalogue(policy: str, bytes_mode: bool) -> None:
    rng = np.random.default_rng(61)
    ids = rng.integers(-(2**63), 2**63 - 1, 200_000, dtype=np.int64)[rng.zipf(1.1, 60_000) % 200_000]
    sizes = (np.abs(ids) % 5 + 1) if bytes_mode else None
    times = request_times(12, len(ids), 0.5)
    cap = 1000
    (res,) = replay_fast(ArraySource(ids, sizes, chunk=8192, times=times), policy, [cap], bytes_mode=bytes_mode,
                         state="hashed", seed=1)
    (dense,) = replay_fast(ArraySource(ids, sizes, chunk=8192, times=times), policy, [cap], bytes_mode=bytes_mode,
                           state="dense", seed=1)
    assert res["hits"] == dense["hits"] and res["byte_hits"] == dense["byte_hits"] and res["state"] == "hashed"
    # at most cap + 1 slots (smallest size 1): 68 B each (rec 32, four bucket heads 16, sample 4, raw id and
    # hash/position 16) and a table of 4-8 int32; plus the 8 KiB random batch and the pool
    assert res["state_bytes"] <= (68 + 32) * (cap + 1) + 8192 + 3 * 8 * EVPOOL_SIZE + 1024
    assert dense["state_bytes"] >= len(np.unique(ids)) * 52


def test_auto_picks_slots_for_a_declared_huge_catalogue() -> None:
    class Catalogue(ArraySource):
        n_objects = 100_000_000  # 5.2 GB dense: over the budget and the floor

    rng = np.random.default_rng(67)
    ids = rng.integers(0, 100_000_000, 20_000)[rng.zipf(1.2, 20_000) % 20_000]
    times = request_times(13, len(ids), 0.1)
    rows = replay_fast(Catalogue(ids, times=times), "redis-allkeys-lru", [100, 1000], bytes_mode=False, seed=2)
    assert [r["state"] for r in rows] == ["hashed", "hashed"]
    assert all(r["state_bytes"] < 200 * r["capacity"] + 16384 for r in rows)
    ref = [reference_run("redis-allkeys-lru", ids, None, c, times, {}, policy_seed(2, "redis-allkeys-lru", c))[0]
           for c in (100, 1000)]
    assert [r["hits"] for r in rows] == [int(h.sum()) for h in ref]
