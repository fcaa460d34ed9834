"""replay(): hand-worked hit counts, sizes, warm-up, bytes, engines, params and seeds."""

from __future__ import annotations

import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simcache
from simcache.errors import UsageError
from simcache.replay import (
    ReplayResult,
    chunks_of,
    parse_size,
    replay,
    resolve_params,
    resolve_sizes,
    trace_stats,
)
from simcache.traces.base import Chunk

TRACE = [1, 2, 3, 1, 2, 4, 1, 2, 3, 4]


def lru_hits(ids: list[int], capacity: int, sizes: list[int] | None = None, skip: int = 0) -> tuple[int, int, int]:
    """Brute-force LRU over an OrderedDict: (hits, hit bytes, miss bytes) after the first ``skip`` requests."""
    cache: OrderedDict[int, int] = OrderedDict()
    used = hits = hit_bytes = miss_bytes = 0
    for i, key in enumerate(ids):
        size = 1 if sizes is None else sizes[i]
        counted = i >= skip
        if key in cache:
            cache.move_to_end(key)
            used += size - cache[key]
            cache[key] = size
            while used > capacity:
                _, s = cache.popitem(last=False)
                used -= s
            if counted:
                hits += 1
                hit_bytes += size
            continue
        if counted:
            miss_bytes += size
        if size > capacity:
            continue
        while used + size > capacity:
            _, s = cache.popitem(last=False)
            used -= s
        cache[key] = size
        used += size
    return hits, hit_bytes, miss_bytes


@pytest.mark.parametrize("chunk_size", [1, 3, 100])
def test_lru_and_fifo_hand_worked(chunk_size: int) -> None:
    # LRU, 3 slots: 1m 2m 3m 1h 2h 4m(-3) 1h 2h 3m(-4) 4m(-1) -> 4 hits
    # FIFO, 3 slots: 1m 2m 3m 1h 2h 4m(-1) 1m(-2) 2m(-3) 3m(-4) 4m(-1) -> 2 hits
    # 2 slots: both miss every request (each reuse distance is 3 distinct keys)
    res = replay(chunks_of(TRACE, chunk_size=chunk_size), ["lru", "fifo"], [3, 2], engine="reference")
    got = {(r.policy, r.size): (r.hits, r.misses) for r in res}
    assert got == {("lru", 3): (4, 6), ("fifo", 3): (2, 8), ("lru", 2): (0, 10), ("fifo", 2): (0, 10)}
    assert [(r.policy, r.size) for r in res] == [("lru", 3), ("lru", 2), ("fifo", 3), ("fifo", 2)]
    lru3 = res[0]
    assert lru3.requests == 10 and lru3.miss_ratio == pytest.approx(0.6)
    assert lru3.byte_hits == 4 and lru3.byte_miss_ratio == pytest.approx(0.6)  # unit sizes: bytes == requests


def test_belady_hand_worked_with_and_without_trace_next_access() -> None:
    # 3 slots: 1m 2m 3m 1h 2h 4m evicts 3 (next uses 1@6, 2@7, 3@8); 1h 2h; 3m evicts 1 (never again,
    # touched before 2); 4h -> 5 hits
    [r] = replay(chunks_of(TRACE, chunk_size=4), "belady", 3, engine="reference")
    assert (r.hits, r.misses) == (5, 5)

    nxt = np.array([3, 4, 8, 6, 7, 9, -1, -1, -1, -1])

    class WithNext:
        name = "with-next"

        def iter_chunks(self):  # type: ignore[no-untyped-def]
            ids = np.array(TRACE)
            for lo in range(0, 10, 4):
                yield Chunk(ids[lo:lo + 4], next_access=nxt[lo:lo + 4])

    [r2] = replay(WithNext(), "belady", 3, engine="reference")
    assert (r2.hits, r2.misses) == (5, 5)


def test_belady_uses_the_trace_next_access_when_present() -> None:
    # a deliberately wrong next-access column changes Belady's choices: proof it is the one read
    lie = np.array([-1, -1, -1, -1, -1, -1, -1, -1, -1, -1])

    class Lying:
        name = "lying"

        def iter_chunks(self):  # type: ignore[no-untyped-def]
            yield Chunk(np.array(TRACE), next_access=lie)

    [r] = replay(Lying(), "belady", 3, engine="reference")
    # with every key "never again" the victim is the least recently touched: Belady degenerates to LRU
    assert r.hits == 4


def test_percent_sizes_resolve_against_distinct_objects_and_bytes() -> None:
    assert parse_size("1%") == pytest.approx(0.01)
    assert parse_size("64KiB") == 65536 and parse_size("2M") == 2_000_000 and parse_size("1000") == 1000
    assert resolve_sizes(["50%", "25%", "100%", "10%", 7], 4) == [2, 1, 4, 1, 7]
    # a percentage goes to the nearest whole size (70% of 4 is 2.8 -> 3, 35% of 20 is 7), never below 1
    assert resolve_sizes(["70%", "35%", "0.1%"], 4) == [3, 1, 1]
    assert resolve_sizes(["35%", "1%", "99%"], 20) == [7, 1, 20]
    res = replay(chunks_of(TRACE), "lru", ["75%", "50%"], engine="reference")
    assert [r.size for r in res] == [3, 2]
    assert res[0].hits == 4
    # distinct bytes use each object's last size: 1 -> 30, 2 -> 20, 3 -> 5
    src = chunks_of([1, 2, 1, 3], [10, 20, 30, 5], chunk_size=3)
    stats = trace_stats(src)
    assert (stats.requests, stats.distinct, stats.distinct_bytes, stats.has_sizes) == (4, 3, 55, True)
    [r] = replay(src, "lru", "20%", bytes_mode=True, engine="reference")
    assert r.size == 11


@pytest.mark.parametrize("chunk_size", [2, 5, 64])
@pytest.mark.parametrize("warmup", [0.0, 0.3, 0.5, 0.95])
def test_warmup_excludes_the_first_requests(warmup: float, chunk_size: int) -> None:
    n_warm = int(warmup * len(TRACE))
    [r] = replay(chunks_of(TRACE, chunk_size=chunk_size), "lru", 3, warmup=warmup, engine="reference")
    assert r.hits + r.misses == r.requests == len(TRACE) - n_warm
    assert r.warmup_requests == n_warm
    assert r.hits == lru_hits(TRACE, 3, skip=n_warm)[0]


def test_byte_mode_hand_worked() -> None:
    # 30 bytes: 1(10)m 2(20)m 1h 3(30)m evicts 2 then 1; 1m -> 1 hit of 10 bytes, 70 bytes missed
    src = chunks_of([1, 2, 1, 3, 1], [10, 20, 10, 30, 10], chunk_size=2)
    [r] = replay(src, "lru", 30, bytes_mode=True, engine="reference")
    assert (r.hits, r.misses, r.byte_hits, r.byte_misses) == (1, 4, 10, 70)
    assert r.byte_miss_ratio == pytest.approx(70 / 80)
    # entry mode on the same trace: the capacity counts objects, bytes are still weighed by size
    # (2 entries: 1m 2m 1h 3m evicts 2, 1h -> hits of 10 + 10 bytes, misses of 10 + 20 + 30)
    [e] = replay(src, "lru", 2, engine="reference")
    assert (e.hits, e.byte_hits, e.byte_misses) == (2, 20, 60)


def test_bytes_mode_needs_sizes() -> None:
    for engine in ("auto", "reference"):
        with pytest.raises(UsageError, match="needs object sizes"):
            replay(chunks_of(TRACE), "lru", 3, bytes_mode=True, engine=engine)


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(st.integers(0, 12), min_size=1, max_size=120),
    capacity=st.integers(1, 40),
    warmup=st.sampled_from([0.0, 0.25, 0.5]),
    chunk_size=st.integers(1, 50),
    sized=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_reference_lru_matches_brute_force(ids: list[int], capacity: int, warmup: float, chunk_size: int,
                                           sized: bool, seed: int) -> None:
    sizes = np.random.default_rng(seed).integers(1, 8, len(ids)).tolist() if sized else None
    [r] = replay(chunks_of(ids, sizes, chunk_size=chunk_size), "lru", capacity, bytes_mode=sized, warmup=warmup,
                 engine="reference")
    skip = int(warmup * len(ids))
    hits, hit_bytes, miss_bytes = lru_hits(ids, capacity, sizes, skip)
    assert (r.hits, r.requests) == (hits, len(ids) - skip)
    if sized:
        assert (r.byte_hits, r.byte_misses) == (hit_bytes, miss_bytes)


def test_engine_reference_rows_say_so_and_auto_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    res = replay(chunks_of(TRACE), ["lru", "fifo"], [2, 3], engine="reference")
    assert {r.engine for r in res} == {"reference"}
    calls = []

    def replay_fast(source, policy, capacities, *, bytes_mode, warmup, params, seed=None):  # type: ignore[no-untyped-def]
        calls.append((policy, list(capacities), bytes_mode, warmup, dict(params)))
        return [{"requests": 10 - warmup, "hits": 4, "misses": 6 - warmup, "byte_hits": 4,
                 "byte_misses": 6 - warmup, "seconds": 0.0} for _ in capacities]

    fake = types.ModuleType("simcache.kernels")
    fake.supports = lambda policy, params, bytes_mode: policy == "lru"  # type: ignore[attr-defined]
    fake.replay_fast = replay_fast  # type: ignore[attr-defined]
    fake.COMPILED = True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "simcache.kernels", fake)
    monkeypatch.setattr(simcache, "kernels", fake, raising=False)
    res = replay(chunks_of(TRACE), ["lru", "fifo"], [3], engine="auto", warmup=0.2)
    assert [(r.policy, r.engine) for r in res] == [("lru", "fast"), ("fifo", "reference")]
    assert calls == [("lru", [3], False, 2, {})]
    assert res[1].hits == 2 - 0  # FIFO's two hits (requests 4 and 5) are after the warm-up
    with pytest.raises(UsageError, match="no kernel for policy 'fifo'"):
        replay(chunks_of(TRACE), ["lru", "fifo"], [3], engine="fast")


def test_engine_fast_without_kernels_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "simcache.kernels", None)  # makes the import fail
    monkeypatch.delattr(simcache, "kernels", raising=False)
    with pytest.raises(UsageError, match="engine 'fast' needs simcache.kernels"):
        replay(chunks_of(TRACE), "lru", 3, engine="fast")
    [r] = replay(chunks_of(TRACE), "lru", 3, engine="auto")
    assert r.engine == "reference" and r.hits == 4


def test_params_go_to_the_policies_that_have_them(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {"a": {"x": 1, "y": 2.0}, "b": {"x": 3}, "c": {}}
    monkeypatch.setattr("simcache.replay.policy_params", lambda name: fake[name])
    assert resolve_params(["a", "b", "c"], {"x": 5}) == {"a": {"x": 5}, "b": {"x": 5}, "c": {}}
    assert resolve_params(["a", "b"], {"b.x": 7, "y": 1.5}) == {"a": {"y": 1.5}, "b": {"x": 7}}
    assert resolve_params(["a", "b"], {"a": {"x": 9}}) == {"a": {"x": 9}, "b": {}}
    with pytest.raises(UsageError, match="no selected policy has a parameter 'z'"):
        resolve_params(["a", "b"], {"z": 1})
    with pytest.raises(UsageError, match="no selected policy has a parameter 'y'"):
        resolve_params(["b", "c"], {"y": 1})
    with pytest.raises(UsageError, match="policy 'c' has no parameter 'x'"):
        resolve_params(["a", "c"], {"c.x": 1})


def test_params_reach_the_policy() -> None:
    # SLRU with a protected segment of 0 behaves differently from the default: the parameter arrived
    trace = [1, 2, 1, 3, 4, 1, 5, 1, 2, 6, 1, 3] * 20
    [a] = replay(chunks_of(trace), "slru", 4, engine="reference")
    [b] = replay(chunks_of(trace), "slru", 4, params={"protected_ratio": 0.25}, engine="reference")
    assert b.params == {"protected_ratio": 0.25} and a.params == {}
    with pytest.raises(UsageError, match="no selected policy has a parameter 'nope'"):
        replay(chunks_of(trace), ["lru", "slru"], 4, params={"nope": 1})


def test_random_policy_is_reproducible_and_independent_of_its_neighbours() -> None:
    rng = np.random.default_rng(7)
    ids = rng.zipf(1.3, 3000) % 200
    alone = replay(chunks_of(ids), "random", [20], seed=5, engine="reference")[0]
    again = replay(chunks_of(ids), ["lru", "random"], [10, 20], seed=5, engine="reference")[3]
    other = replay(chunks_of(ids), "random", [20], seed=6, engine="reference")[0]
    assert (again.policy, again.size) == ("random", 20)
    assert alone.hits == again.hits
    assert alone.hits != other.hits  # a different seed draws different victims on 3000 requests


@pytest.mark.parametrize("bad, match", [
    ("12x", "bad cache size '12x'"), (0, "must be >= 1"), ("0%", "percentage must be in"),
    ("150%", "percentage must be in"), ("1.5", "whole number"),
])
def test_bad_sizes(bad: object, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        replay(chunks_of(TRACE), "lru", [bad])  # type: ignore[list-item]


def test_bad_warmup_engine_policy() -> None:
    for w in (-0.1, 1.0, 1.5):
        with pytest.raises(UsageError, match=r"warm-up must be a fraction in \[0, 1\)"):
            replay(chunks_of(TRACE), "lru", 3, warmup=w)
    with pytest.raises(UsageError, match="unknown engine 'turbo'"):
        replay(chunks_of(TRACE), "lru", 3, engine="turbo")
    with pytest.raises(UsageError, match="unknown policy 'lruu'"):
        replay(chunks_of(TRACE), ["lru", "lruu"], 3)


def test_result_as_dict_and_validation() -> None:
    [r] = replay(chunks_of(TRACE), "lru", 3, engine="reference")
    d = r.as_dict()
    assert d["policy"] == "lru" and d["size"] == 3 and d["hits"] == 4 and d["engine"] == "reference"
    assert set(d) >= {"requests", "misses", "miss_ratio", "byte_miss_ratio", "seconds", "params"}
    with pytest.raises(ValueError, match="hits \\+ misses"):
        ReplayResult("lru", 3, 10, 4, 5, 0.5, 0, 0, 0.0, 0.0, "reference")


@pytest.mark.parametrize("bytes_mode", [False, True])
def test_fast_and_reference_engines_agree(bytes_mode: bool) -> None:
    kernels = pytest.importorskip("simcache.kernels")
    from simcache.policies import policy_names

    # the kernels' own differential tests cover every policy; here the replay() wrapper (warm-up, bytes) is checked
    names = [p for p in ("lru", "belady", "slru") if p in policy_names() and kernels.supports(p, {}, bytes_mode)]
    if not names:
        pytest.skip("no kernel supports this mode yet")
    rng = np.random.default_rng(3)
    ids = rng.zipf(1.2, 4000) % 300
    sizes = rng.integers(1, 50, len(ids))
    src = chunks_of(ids, sizes, chunk_size=700)
    caps = [400, 2000] if bytes_mode else [10, 60]
    fast = replay(src, names, caps, bytes_mode=bytes_mode, warmup=0.3, engine="fast")
    ref = replay(src, names, caps, bytes_mode=bytes_mode, warmup=0.3, engine="reference")
    assert {r.engine for r in fast} == {"fast"}
    key = ("policy", "size", "requests", "hits", "misses", "byte_hits", "byte_misses", "warmup_requests")
    assert [tuple(r.as_dict()[k] for k in key) for r in fast] == [tuple(r.as_dict()[k] for k in key) for r in ref]


def test_source_from_args() -> None:
    from simcache.replay import source_from_args
    from simcache.traces import read_all

    z = read_all(source_from_args(synthetic="zipf", alpha=1.2, objects=50, requests=2000, seed=3)).ids
    u = read_all(source_from_args(synthetic="uniform", objects=50, requests=2000, seed=3)).ids
    h = read_all(source_from_args(synthetic="hotspot", objects=50, requests=2000, seed=3)).ids
    assert len(z) == len(u) == len(h) == 2000
    assert z.min() >= 0 and z.max() < 50 and u.max() < 50
    # Zipf(1.2) concentrates on few objects; uniform spreads: the most popular object's share tells them apart
    assert np.bincount(z).max() > 3 * np.bincount(u).max()
    same = read_all(source_from_args(synthetic="zipf", alpha=1.2, objects=50, requests=2000, seed=3)).ids
    assert np.array_equal(z, same)
    for kwargs, match in [
        ({"synthetic": "uniform", "alpha": 1.0, "objects": 5, "requests": 5}, "--alpha applies to --synthetic zipf"),
        ({"synthetic": "zipf", "objects": 5, "requests": 5}, "needs --alpha"),
        ({"synthetic": "zipf", "alpha": 1.0, "requests": 5}, "needs --objects"),
        ({"synthetic": "zipf", "alpha": 1.0, "objects": 5, "requests": 0}, "--requests must be >= 1"),
        ({"trace": "x.bin", "synthetic": "zipf"}, "exactly one of"),
        ({}, "exactly one of"),
    ]:
        with pytest.raises(UsageError, match=match):
            source_from_args(**kwargs)  # type: ignore[arg-type]


def test_replay_accepts_a_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "hand.txt"
    path.write_text("\n".join(map(str, TRACE)) + "\n")
    [r] = replay(str(path), "lru", 3, engine="reference")
    assert (r.hits, r.misses) == (4, 6)
