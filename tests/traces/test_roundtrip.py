"""Writer/reader round trips, next-access against brute force, and chunking invariance."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcache.traces import (
    ORACLE_DTYPE,
    compute_next_access,
    hash_id,
    open_trace,
    read_all,
    write_oracle_general,
)
from simcache.workloads import SyntheticTrace, WorkloadSpec

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def brute_next_access(ids: list[int]) -> list[int]:
    out = []
    for i, x in enumerate(ids):
        nxt = -1
        for j in range(i + 1, len(ids)):
            if ids[j] == x:
                nxt = j
                break
        out.append(nxt)
    return out


small_traces = st.lists(st.integers(0, 12), min_size=1, max_size=60)


@given(small_traces)
@settings(max_examples=200, deadline=None)
def test_next_access_matches_brute_force(ids: list[int]) -> None:
    assert compute_next_access(np.array(ids, dtype=np.int64)).tolist() == brute_next_access(ids)


@given(
    ids=small_traces,
    big=st.booleans(),
    data=st.data(),
)
@SETTINGS
def test_oracle_general_round_trip(tmp_path: Path, ids: list[int], big: bool, data: st.DataObject) -> None:
    n = len(ids)
    arr = np.array(ids, dtype=np.int64)
    if big:  # ids near 2**64 on disk keep their identity
        arr = arr + np.int64(-(2**62)) * 2
    sizes = np.array(data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n)), dtype=np.int64)
    times = np.sort(np.array(data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n)), dtype=np.int64))
    path = write_oracle_general(tmp_path / "t.oracleGeneral", arr, sizes=sizes, times=times)
    assert path.stat().st_size == 24 * n
    back = read_all(open_trace(path, chunk_size=data.draw(st.integers(1, 9))))
    assert back.ids.tolist() == arr.tolist()
    assert back.sizes is not None and back.sizes.tolist() == sizes.tolist()
    assert back.times is not None and back.times.tolist() == times.astype(float).tolist()
    assert back.next_access is not None and back.next_access.tolist() == brute_next_access(arr.tolist())
    # on disk the field is libCacheSim's 1-based virtual time, -1 for none
    raw = np.fromfile(path, dtype=ORACLE_DTYPE)["next"]
    expect = [(j + 1 if j >= 0 else -1) for j in brute_next_access(arr.tolist())]
    assert raw.tolist() == expect


def test_huge_next_access_reads_as_none(tmp_path: Path) -> None:
    recs = np.zeros(3, dtype=ORACLE_DTYPE)
    recs["id"] = [5, 5, 6]
    recs["next"] = [2, 2**63 - 1, 0]  # 1-based 2 -> index 1; INT64_MAX and 0 mean "none"
    path = tmp_path / "x.bin"
    recs.tofile(path)
    assert read_all(open_trace(path)).next_access.tolist() == [1, -1, -1]


def test_writer_keeps_given_next_access(tmp_path: Path) -> None:
    path = write_oracle_general(tmp_path / "a.bin", np.array([1, 2, 1]), next_access=np.array([2, -1, -1]))
    assert read_all(open_trace(path)).next_access.tolist() == [2, -1, -1]


def _write_all_formats(tmp: Path, ids: np.ndarray) -> dict[str, Path]:
    lines = "\n".join(str(int(i)) for i in ids) + "\n"
    paths = {
        "oracle": write_oracle_general(tmp / "t.oracleGeneral.bin", ids),
        "lirs": tmp / "t.lirs",
        "txt_gz": tmp / "t.txt.gz",
        "txt_xz": tmp / "t.txt.xz",
        "csv": tmp / "t.csv",
        "cache2k": tmp / "cache2k_t.trace.xz",
    }
    # a '*' breakpoint between every few requests must not change the LIRS trace
    starred = "".join(f"{int(i)}\n" + ("*\n" if k % 3 == 0 else "") for k, i in enumerate(ids))
    paths["lirs"].write_text(starred)
    with gzip.open(paths["txt_gz"], "wt") as f:
        f.write(lines)
    with lzma.open(paths["txt_xz"], "wt") as f:
        f.write(lines)
    paths["csv"].write_text("ts,key,size\n" + "".join(f"{k},{int(i)},{abs(int(i)) + 1}\n" for k, i in enumerate(ids)))
    with lzma.open(paths["cache2k"], "wb") as f:
        f.write(ids.astype(">i4").tobytes())
    return paths


@given(ids=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=300))
@SETTINGS
def test_chunked_reading_equals_whole(tmp_path: Path, ids: list[int]) -> None:
    arr = np.array(ids, dtype=np.int64)
    paths = _write_all_formats(tmp_path, arr)
    for kind, path in paths.items():
        opts = {"id": "key", "size": "size", "time": "ts"} if kind == "csv" else {}
        whole = read_all(open_trace(path, chunk_size=1 << 20, **opts))
        assert whole.ids.tolist() == ids, kind
        for cs in (1, 7, 1000):
            chunks = list(open_trace(path, chunk_size=cs, **opts).iter_chunks())
            assert all(len(c) == cs for c in chunks[:-1]) and 1 <= len(chunks[-1]) <= cs
            for field in ("ids", "sizes", "times", "next_access", "ops"):
                a = getattr(whole, field)
                parts = [getattr(c, field) for c in chunks]
                if a is None:
                    assert all(p is None for p in parts), (kind, field)
                else:
                    assert np.array_equal(np.concatenate(parts), a), (kind, field, cs)


def test_csv_columns_by_index_and_ops(tmp_path: Path) -> None:
    p = tmp_path / "ops.csv"
    p.write_text("7;get;100;1.5\n8;SET;200;2.5\n\n7;delete;100;3\n")
    c = read_all(open_trace(p, id=0, op=1, size=2, time=3, delimiter=";"))
    assert c.ids.tolist() == [7, 8, 7]
    assert c.ops.tolist() == [0, 1, 1]
    assert c.sizes.tolist() == [100, 200, 100]
    assert c.times.tolist() == [1.5, 2.5, 3.0]


def test_csv_header_autodetected_and_string_ids_hashed(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("key\nuser:1\nuser:2\nuser:1\n42\n")
    c = read_all(open_trace(p))
    assert c.ids.tolist() == [hash_id(b"user:1"), hash_id(b"user:2"), hash_id(b"user:1"), 42]


def test_txt_hashes_strings_deterministically(tmp_path: Path) -> None:
    p = tmp_path / "k.txt"
    p.write_text("alpha\r\nbeta\r\nalpha\r\n12\r\n")
    a = read_all(open_trace(p)).ids.tolist()
    assert a[0] == a[2] != a[1] and a[3] == 12
    assert a == read_all(open_trace(p)).ids.tolist()


def test_synthetic_trace_written_and_read_back(tmp_path: Path) -> None:
    spec = WorkloadSpec(kind="zipf", n_objects=500, alpha=0.9, size_dist="uniform", size_params={"low": 1, "high": 9})
    src = read_all(SyntheticTrace(spec, 5000, seed=4))
    path = write_oracle_general(tmp_path / "syn.oracleGeneral", src.ids, sizes=src.sizes)
    back = read_all(open_trace(path, chunk_size=333))
    assert np.array_equal(back.ids, src.ids) and np.array_equal(back.sizes, src.sizes)
    assert np.array_equal(back.next_access, compute_next_access(src.ids))


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("x.oracleGeneral", "oracleGeneral"),
        ("cloudPhysicsIO.oracleGeneral.bin", "oracleGeneral"),
        ("w.bin", "oracleGeneral"),
        ("a.lirs", "lirs"),
        ("lirs_loop.trace.gz", "lirs"),
        ("lirs_ps.trace", "lirs"),
        ("cache2k_web07.trace.xz", "cache2k"),
        ("other.trace.xz", "cache2k"),
        ("t.csv", "csv"),
        ("t.CSV.gz", "csv"),
        ("t.txt", "txt"),
        ("t.txt.xz", "txt"),
        ("t.dat", None),
        ("lirs_x.dat", None),
    ],
)
def test_detect_format(name: str, fmt: str | None) -> None:
    from simcache.traces import detect_format

    assert detect_format(name) == fmt


@pytest.mark.parametrize("name", ["t.txt", "t.lirs", "t.csv", "t.txt.gz", "t.txt.xz"])
@pytest.mark.parametrize("chunk_size", [1, 2, 1000])
def test_last_line_without_a_newline_is_a_request(tmp_path: Path, name: str, chunk_size: int) -> None:
    # a file whose last line has no terminating newline still ends with that request
    text = ("key\n" if name == "t.csv" else "") + "5\n7\n" + ("*\n" if name == "t.lirs" else "") + "9"
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    elif name.endswith(".xz"):
        with lzma.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    opts = {"id": "key"} if name == "t.csv" else {}
    assert read_all(open_trace(path, chunk_size=chunk_size, **opts)).ids.tolist() == [5, 7, 9]
