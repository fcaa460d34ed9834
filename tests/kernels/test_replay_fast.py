"""replay_fast: counts, warm-up, many capacities on threads, chunking, remapping, supports()."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.errors import UsageError
from simcache.kernels import ArraySource, hit_sequence, replay_fast, supports
from simcache.kernels.remap import Remapper
from tests.kernels._reference import reference_hits


def _zipf(n: int, universe: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.zipf(1.2, n) % universe


def test_counts_equal_the_per_request_hits_after_warmup() -> None:
    ids = _zipf(5000, 300, 1)
    sizes = (ids % 7 + 1) * 10
    hits = hit_sequence("arc", ids, sizes, 400, bytes_mode=True)
    (res,) = replay_fast(ArraySource(ids, sizes, chunk=777), "arc", [400], bytes_mode=True, warmup=1000)
    assert res["requests"] == 4000
    assert res["hits"] == int(hits[1000:].sum())
    assert res["byte_hits"] == int(sizes[1000:][hits[1000:]].sum())
    assert res["byte_misses"] == int(sizes[1000:][~hits[1000:]].sum())


def test_entry_mode_counts_byte_sizes_but_caches_entries() -> None:
    ids = _zipf(3000, 200, 2)
    sizes = ids + 1
    (a,) = replay_fast(ArraySource(ids, sizes), "lru", [50], bytes_mode=False)
    (b,) = replay_fast(ArraySource(ids), "lru", [50], bytes_mode=False)
    assert a["hits"] == b["hits"]  # sizes do not change what an entry-counted cache holds
    hits = hit_sequence("lru", ids, None, 50, bytes_mode=False)
    assert a["byte_hits"] == int(sizes[hits].sum())


@pytest.mark.parametrize("policy", ["lru", "s3fifo", "belady", "lirs"])
def test_many_capacities_on_threads_equal_separate_runs(policy: str) -> None:
    ids = _zipf(20000, 2000, 3)
    caps = [1, 7, 50, 300, 1999, 5000]
    together = replay_fast(ArraySource(ids, chunk=4096), policy, caps, bytes_mode=False, workers=2)
    for cap, res in zip(caps, together, strict=True):
        (alone,) = replay_fast(ArraySource(ids), policy, [cap], bytes_mode=False, workers=1)
        assert (res["hits"], res["misses"]) == (alone["hits"], alone["misses"])
    # a cache larger than the catalogue only misses the first request to each object
    assert together[-1]["misses"] == len(np.unique(ids))


def test_chunking_does_not_change_the_result() -> None:
    ids = _zipf(4000, 500, 4)
    a = hit_sequence("2q", ids, None, 40, bytes_mode=False, chunk=1)
    b = hit_sequence("2q", ids, None, 40, bytes_mode=False, chunk=1 << 20)
    assert (a == b).all()
    assert (a == reference_hits("2q", ids, None, 40)).all()


def test_dense_catalogue_ids_skip_the_remap_and_match() -> None:
    ids = _zipf(3000, 400, 5)

    class Catalogue(ArraySource):
        n_objects = 400

    a = replay_fast(Catalogue(ids), "sieve", [30], bytes_mode=False)
    b = replay_fast(ArraySource(ids * 1_000_003 + 17), "sieve", [30], bytes_mode=False)
    assert a[0]["hits"] == b[0]["hits"]


def test_ids_outside_a_declared_catalogue_are_a_usage_error() -> None:
    class Catalogue(ArraySource):
        n_objects = 10

    with pytest.raises(UsageError, match="outside the declared catalogue"):
        replay_fast(Catalogue(np.array([1, 2, 10])), "lru", [2], bytes_mode=False)


def test_remapper_gives_first_appearance_order_across_chunks_and_growth() -> None:
    rm = Remapper()
    rng = np.random.default_rng(6)
    raw = rng.integers(-(2**62), 2**62, size=200_000)
    raw = np.concatenate([raw, raw[::-1]])
    out = np.concatenate([rm.map(raw[i : i + 30_000]) for i in range(0, raw.shape[0], 30_000)])
    _, first, inv = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # rank of each distinct id by first appearance
    assert (out == order[inv]).all()
    assert rm.n == len(first)
    assert (rm.map(np.array([2**64 - 1], dtype=np.uint64)) == rm.n - 1).all()  # uint64 ids map too


def test_supports_follows_parameters() -> None:
    assert supports("lru", {}, False) and supports("lru", {}, True)
    assert supports("clock", {"bits": 3}, True)
    assert not supports("clock", {"bits": 0}, False)
    assert not supports("lfu", {"keep_history": True}, False)
    assert not supports("lru", {"nonsense": 1}, False)
    assert not supports("no-such-policy", {}, False)
    with pytest.raises(UsageError, match="no fast kernel"):
        replay_fast(ArraySource(np.arange(3)), "lfu", [2], bytes_mode=False, params={"keep_history": True})


def test_bad_capacity_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="capacity"):
        replay_fast(ArraySource(np.arange(3)), "lru", [0], bytes_mode=False)


@pytest.mark.parametrize("bytes_mode", [False, True])
def test_every_kernel_counts_from_the_warmup_on_like_the_reference(bytes_mode: bool) -> None:
    # each kernel carries its own "count from request `warmup` on" test; the warm-up (600 requests) ends
    # inside a chunk (450 requests), and the reference engine's warm-up is checked against brute force
    from simcache.kernels import kernel_names
    from simcache.replay import chunks_of, replay

    rng = np.random.default_rng(12)
    ids = rng.zipf(1.2, 2000) % 300
    sizes = rng.integers(1, 30, 300)[ids]
    names = [p for p in kernel_names() if supports(p, {}, bytes_mode)]
    assert len(names) >= 10
    src = chunks_of(ids, sizes, chunk_size=450)
    caps = [150, 900] if bytes_mode else [7, 40]
    key = ("policy", "size", "requests", "hits", "misses", "byte_hits", "byte_misses", "warmup_requests")
    fast = replay(src, names, caps, bytes_mode=bytes_mode, warmup=0.3, engine="fast", seed=5)
    ref = replay(src, names, caps, bytes_mode=bytes_mode, warmup=0.3, engine="reference", seed=5)
    assert {r.engine for r in fast} == {"fast"} and all(r.requests == 1400 for r in fast)
    assert [tuple(r.as_dict()[k] for k in key) for r in fast] == [tuple(r.as_dict()[k] for k in key) for r in ref]


def test_belady_state_follows_the_requested_objects_not_the_declared_catalogue() -> None:
    # Belady holds the whole trace for its future anyway, so ids of a declared catalogue are remapped:
    # 10^7 declared objects, 3,000 requested, and the state is sized by the 3,000
    rng = np.random.default_rng(29)
    ids = rng.integers(0, 10**7, 3000)[rng.zipf(1.2, 20_000) % 3000]
    declared = ArraySource(ids, chunk=4096)
    declared.n_objects = 10**7  # type: ignore[attr-defined]
    (big,) = replay_fast(declared, "belady", [100], bytes_mode=False)
    (plain,) = replay_fast(ArraySource(ids, chunk=4096), "belady", [100], bytes_mode=False)
    assert big["hits"] == plain["hits"] and big["state_bytes"] == plain["state_bytes"]
    assert big["state_bytes"] < 100 * 3000  # 37 B per requested object; the catalogue would be 370 MB
