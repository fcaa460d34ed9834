"""The real traces in ../shared/traces read with the request and distinct-object counts of their README."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.traces import compute_next_access, detect_format, open_trace, read_all
from tests.conftest import shared_trace

# (file, requests, distinct objects, format) from shared/traces/README.md
TABLE = [
    ("cloudphysics_io.oracleGeneral.bin", 113_872, 48_974, "oracleGeneral"),
    ("lirs_multi2.trace.gz", 26_311, 5_684, "lirs"),
    ("lirs_sprite.trace.gz", 133_996, 7_075, "lirs"),
    ("lirs_loop.trace.gz", 505_500, 1_011, "lirs"),
    ("lirs_2_pools.trace.gz", 100_000, 9_939, "lirs"),
    ("lirs_ps.trace.gz", 10_448, 3_083, "lirs"),
    ("lirs_zigzag.trace.gz", 52_001, 2_001, "lirs"),
    ("cache2k_web07.trace.xz", 76_118, 20_484, "cache2k"),
]


@pytest.mark.parametrize(("name", "requests", "distinct", "fmt"), TABLE)
def test_counts_match_readme(name: str, requests: int, distinct: int, fmt: str) -> None:
    path = shared_trace(name)
    assert detect_format(path) == fmt
    reader = open_trace(path, chunk_size=10_000)
    assert reader.format == fmt
    chunks = list(reader.iter_chunks())
    assert all(len(c) == 10_000 for c in chunks[:-1])
    whole = read_all(reader)
    assert len(whole) == requests
    assert reader.count() == requests
    assert np.unique(whole.ids).size == distinct


def test_lirs_star_lines_are_skipped() -> None:
    import gzip

    path = shared_trace("lirs_2_pools.trace.gz")
    with gzip.open(path, "rt") as f:
        lines = [line.strip() for line in f]
    stars = sum(1 for line in lines if line == "*")
    assert stars > 0  # the file really has breakpoint markers
    ids = read_all(open_trace(path)).ids
    assert len(ids) == len([line for line in lines if line and line != "*"]) == 100_000
    assert ids.tolist() == [int(line) for line in lines if line and line != "*"]


def test_cloudphysics_next_access_matches_recomputation() -> None:
    # libCacheSim's own file: its stored (1-based) next-access field, converted, equals ours
    whole = read_all(open_trace(shared_trace("cloudphysics_io.oracleGeneral.bin")))
    assert whole.next_access is not None and whole.sizes is not None and whole.times is not None
    assert np.array_equal(whole.next_access, compute_next_access(whole.ids))
    assert (whole.sizes % 512 == 0).all() and whole.sizes.min() > 0
    assert (np.diff(whole.times) >= 0).all()


def test_cache2k_ids_are_big_endian() -> None:
    # the file starts 00 00 00 00 | 00 00 00 01 | 00 00 00 02: big-endian 0, 1, 2
    ids = read_all(open_trace(shared_trace("cache2k_web07.trace.xz"), chunk_size=3)).ids
    assert ids[:3].tolist() == [0, 1, 2]
