"""``variant="libcachesim"`` on every registered policy reproduces libCacheSim 0.3.5's miss ratios exactly.

libCacheSim reads the same requests from an oracleGeneral file written here (its next-access field
holds the 1-based request number of the next access, as libCacheSim's own traces do, for Belady);
simcache replays the same arrays with both engines.  Skipped where the ``libcachesim`` package is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simcache.kernels import ArraySource
from simcache.policies import make_policy, policy_class, policy_names, policy_params
from simcache.replay import replay
from simcache.traces import open_trace
from tests.conftest import shared_trace

#: simcache policy -> libCacheSim class (the Python package's names)
COUNTERPART = {
    "lru": "LRU", "fifo": "FIFO", "clock": "Clock", "sieve": "Sieve", "arc": "ARC", "lfu": "LFU", "2q": "TwoQ",
    "s3fifo": "S3FIFO", "lirs": "LIRS", "slru": "SLRU", "wtinylfu": "WTinyLFU", "lfuda": "LFUDA", "gdsf": "GDSF",
    "belady": "Belady",
}
LCS_PARAMS = {"variant": "libcachesim"}


def _lcs() -> Any:
    return pytest.importorskip("libcachesim", reason="the libcachesim package is not installed")


def write_oracle(path: Path, ids: np.ndarray, sizes: np.ndarray | None) -> Path:
    """An oracleGeneral file of these requests (next access as libCacheSim numbers requests: from 1)."""
    n = len(ids)
    rec = np.zeros(n, dtype=[("t", "<u4"), ("id", "<u8"), ("sz", "<u4"), ("nx", "<i8")])
    rec["id"] = ids.astype(np.uint64)
    rec["sz"] = 1 if sizes is None else sizes
    nxt = np.full(n, -1, dtype=np.int64)
    last: dict[int, int] = {}
    for i in range(n - 1, -1, -1):
        k = int(ids[i])
        nxt[i] = last.get(k, -1)
        last[k] = i + 1
    rec["nx"] = nxt
    rec.tofile(path)
    return path


def lcs_misses(policy: str, capacity: int, path: Path, n: int) -> tuple[int, float]:
    """(misses, byte miss ratio) of libCacheSim's counterpart over an oracleGeneral file of ``n`` requests."""
    lcs = _lcs()
    cache = getattr(lcs, COUNTERPART[policy])(capacity)
    mr, bmr = cache.process_trace(lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE))
    return round(mr * n), bmr


def check(policy: str, ids: np.ndarray, sizes: np.ndarray | None, caps: list[int], tmp_path: Path,
          engines: tuple[str, ...] = ("fast",)) -> None:
    bytes_mode = sizes is not None
    path = write_oracle(tmp_path / f"t{len(ids)}.oracleGeneral.bin", ids, sizes)
    theirs = {c: lcs_misses(policy, c, path, len(ids)) for c in caps}
    for engine in engines:
        rows = replay(ArraySource(ids, sizes), [policy], caps, bytes_mode=bytes_mode, params=LCS_PARAMS,
                      engine=engine)
        for r in rows:
            misses, bmr = theirs[r.size]
            assert r.misses == misses, f"{policy} {engine} size {r.size}: {r.misses} misses, libCacheSim {misses}"
            if bytes_mode:
                assert r.byte_miss_ratio == pytest.approx(bmr, rel=1e-9, abs=1e-12)


def zipf_trace(seed: int, n: int, objects: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.05, n) % objects + 1).astype(np.int64)
    size_of = rng.integers(1, 200, objects + 2)
    return ids, size_of[ids]


@pytest.mark.parametrize("policy", sorted(COUNTERPART))
def test_synthetic_entries(policy: str, tmp_path: Path) -> None:
    _lcs()
    ids, _ = zipf_trace(1, 30_000, 3000)
    check(policy, ids, None, [30, 300, 1500], tmp_path)
    check(policy, ids[:3000], None, [30, 300], tmp_path, engines=("reference",))


@pytest.mark.parametrize("policy", sorted(COUNTERPART))
def test_synthetic_bytes(policy: str, tmp_path: Path) -> None:
    _lcs()
    ids, sizes = zipf_trace(2, 30_000, 3000)
    total = int(sizes[np.unique(ids, return_index=True)[1]].sum())
    check(policy, ids, sizes, [total // 100, total // 10, total // 3], tmp_path)
    check(policy, ids[:3000], sizes[:3000], [total // 100, total // 10], tmp_path, engines=("reference",))


def _shared(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    ids, sizes = [], []
    for chunk in open_trace(shared_trace(name)).iter_chunks():
        ids.append(np.asarray(chunk.ids, dtype=np.int64))
        sizes.append(None if chunk.sizes is None else np.asarray(chunk.sizes, dtype=np.int64))
    return np.concatenate(ids), None if sizes[0] is None else np.concatenate(sizes)


@pytest.mark.parametrize("policy", sorted(COUNTERPART))
def test_shared_trace_multi2(policy: str, tmp_path: Path) -> None:
    _lcs()
    ids, _ = _shared("lirs_multi2.trace.gz")
    check(policy, ids, None, [57, 568, 2842], tmp_path)  # 1%, 10%, 50% of the 5,684 objects


SHARED = ["lirs_sprite.trace.gz", "lirs_loop.trace.gz", "lirs_2_pools.trace.gz", "lirs_ps.trace.gz",
          "lirs_zigzag.trace.gz", "cache2k_web07.trace.xz", "cloudphysics_io.oracleGeneral.bin"]


@pytest.mark.slow
@pytest.mark.parametrize("trace", SHARED)
@pytest.mark.parametrize("policy", sorted(COUNTERPART))
def test_shared_traces(policy: str, trace: str, tmp_path: Path) -> None:
    _lcs()
    if policy == "lfuda":
        # libCacheSim's update_min_freq walks every integer from min_freq up to max_freq, which grows with
        # every hit (f += L): on loops and long traces its own run does not finish in hours
        pytest.skip("libCacheSim's LFUDA is too slow on these traces (compared on lirs_multi2 and synthetic ones)")
    ids, sizes = _shared(trace)
    distinct = len(np.unique(ids))
    check(policy, ids, None, [max(10, distinct // 1000), distinct // 100, distinct // 10], tmp_path)
    if sizes is not None:
        first = np.unique(ids, return_index=True)[1]
        total = int(sizes[first].sum())
        check(policy, ids, sizes, [total // 1000, total // 100, total // 10], tmp_path)


def test_every_policy_accepts_both_variants() -> None:
    for name in policy_names():
        assert policy_params(name)["variant"] == "paper"
        for variant in ("paper", "libcachesim"):
            make_policy(name, 100, variant=variant)


@pytest.mark.parametrize("name", [n for n in policy_names() if n not in COUNTERPART])
def test_variant_is_a_no_op_where_libcachesim_agrees_or_has_no_counterpart(name: str) -> None:
    cls = policy_class(name)
    assert not cls.libcachesim_differs
    rng = np.random.default_rng(4)
    keys = [int(k) for k in rng.zipf(1.2, 2000) % 300]
    hits = []
    for variant in ("paper", "libcachesim"):
        p = make_policy(name, 50, rng=np.random.default_rng(9), variant=variant)
        hits.append([p.access(k, 1, now=i / 100.0, expire_at=1e9) for i, k in enumerate(keys)])
    assert hits[0] == hits[1]


def test_differing_policies_document_their_variant() -> None:
    for name in ("s3fifo", "lirs", "slru", "wtinylfu", "lfuda", "gdsf", "arc", "2q"):
        cls = policy_class(name)
        assert cls.libcachesim_differs, name
        assert "libcachesim" in (cls.__doc__ or ""), name


VARIANT_POLICIES = ("s3fifo", "lirs", "slru", "wtinylfu", "lfuda", "gdsf", "arc", "2q")


@pytest.mark.parametrize("policy", VARIANT_POLICIES)
def test_libcachesim_variants_keep_the_admitted_size_on_a_hit(policy: str) -> None:
    from simcache.kernels import hit_sequence
    from tests.kernels._reference import reference_hits

    params = {"variant": "libcachesim", **({"window_ratio": 0.2} if policy == "wtinylfu" else {})}
    p = make_policy(policy, 1000, **params)
    for k in range(5):
        p.access(k, 10)
    resident = [k for k in range(5) if k in p]
    assert resident
    assert p.lookup(resident[0], 400) and p.sizes[resident[0]] == 10
    # and both engines agree on a trace whose sizes change on every request
    rng = np.random.default_rng(3)
    ids = rng.zipf(1.2, 3000) % 200
    sizes = rng.integers(1, 30, 3000)
    fast = hit_sequence(policy, ids, sizes, 600, bytes_mode=True, params=params, chunk=500)
    assert fast.tolist() == reference_hits(policy, ids, sizes, 600, params).tolist()
