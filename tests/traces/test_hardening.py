"""Trace files that are not what they claim fail in one line naming the file and the record, line or offset;
zstd files read streaming; formats are told from contents when the name says nothing."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import numpy as np
import pytest
import zstandard

from simcache.errors import TraceError
from simcache.traces import ORACLE_DTYPE, detect_content, open_trace, read_all, write_oracle_general
from simcache.traces.oracle import compute_next_access


def _fails(path: Path | str, match: str, **opts: object) -> str:
    with pytest.raises(TraceError) as info:
        read_all(open_trace(path, **opts))
    msg = str(info.value)
    assert "\n" not in msg and match in msg, msg
    return msg


# ------------------------------------------------------------------ csv numbers
@pytest.mark.parametrize("size", ["1e30", "9223372036854775808", "-5", "1.5", "1e-5", "1_0", "nan", "inf", "0x10"])
def test_csv_sizes_must_be_whole_byte_counts_in_int64(tmp_path: Path, size: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"id,size\n1,5\n2,{size}\n")
    msg = _fails(p, "line 3", size="size")
    assert repr(size) in msg


def test_csv_sizes_written_as_whole_floats_read(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("id,size\n1,1e3\n2,2.0\n3,+7\n")
    assert read_all(open_trace(p, size="size")).sizes.tolist() == [1000, 2, 7]


@pytest.mark.parametrize("time", ["nan", "inf", "-inf", "1_0"])
def test_csv_times_must_be_finite(tmp_path: Path, time: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"id,time\n1,0.5\n2,{time}\n")
    _fails(p, "line 3", time="time")


# ------------------------------------------------------------------ the file itself
def test_trailing_slash_is_not_the_file(tmp_path: Path) -> None:
    p = write_oracle_general(tmp_path / "file.bin", np.arange(3))
    with pytest.raises(TraceError, match="a part of the path"):
        open_trace(str(p) + "/")


def test_name_too_long_fifo_and_folder(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="File name too long|cannot open"):
        open_trace(tmp_path / ("x" * 300 + ".bin"))
    os.mkfifo(tmp_path / "f.bin")
    with pytest.raises(TraceError, match="FIFO"):
        open_trace(tmp_path / "f.bin")
    with pytest.raises(TraceError, match="folder"):
        open_trace(tmp_path, format="txt")


def test_unreadable_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root reads any mode bits, so the refusal is simulated at the call that opens the file
    p = write_oracle_general(tmp_path / "t.bin", np.arange(3))
    import simcache.traces._io as io_mod

    def refuse(path: str, flags: int, *a: object) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(io_mod.os, "open", refuse)
    with pytest.raises(TraceError, match="cannot read the trace file: Permission denied") as info:
        open_trace(p)
    assert str(p) in str(info.value)


# ------------------------------------------------------------------ zstd
def test_zstd_oracle_general_reads_like_the_plain_file(tmp_path: Path) -> None:
    ids = np.random.default_rng(1).integers(0, 50, 5000)
    plain = write_oracle_general(tmp_path / "t.oracleGeneral.bin", ids, sizes=ids + 1)
    packed = tmp_path / "t.oracleGeneral.zst"
    # two frames, as concatenated .zst files are
    data = plain.read_bytes()
    c = zstandard.ZstdCompressor(write_checksum=True)
    packed.write_bytes(c.compress(data[:24 * 1000]) + c.compress(data[24 * 1000:]))
    a, b = read_all(open_trace(plain)), read_all(open_trace(packed, chunk_size=333))
    assert a.ids.tolist() == b.ids.tolist() and a.next_access.tolist() == b.next_access.tolist()
    assert open_trace(packed).count() == 5000


def test_truncated_and_corrupt_zstd(tmp_path: Path) -> None:
    plain = write_oracle_general(tmp_path / "t.bin", np.arange(20000) % 77)
    z = zstandard.ZstdCompressor(write_checksum=True).compress(plain.read_bytes())
    cut = tmp_path / "cut.oracleGeneral.zst"
    cut.write_bytes(z[: len(z) // 2])
    _fails(cut, "truncated zstd stream")
    bad = tmp_path / "bad.oracleGeneral.zst"
    bad.write_bytes(z[:30] + bytes(b ^ 0xFF for b in z[30:60]) + z[60:])
    _fails(bad, "zstd stream")


def test_zstd_text_trace(tmp_path: Path) -> None:
    p = tmp_path / "t.lirs.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(b"1\n2\n*\n1\n"))
    assert read_all(open_trace(p)).ids.tolist() == [1, 2, 1]


# ------------------------------------------------------------------ detection from contents
def test_format_from_contents(tmp_path: Path) -> None:
    lirs = tmp_path / "multi2.trace.gz"
    lirs.write_bytes(gzip.compress(b"5\n6\n*\n5\n"))
    csv = tmp_path / "requests.log"
    csv.write_text("key,size\na,3\nb,4\n")
    txt = tmp_path / "keys.log"
    txt.write_text("user:1\nuser:2\n")
    oracle = tmp_path / "trace.data"
    oracle.write_bytes(write_oracle_general(tmp_path / "x.bin", np.array([1, 2, 1])).read_bytes())
    assert [detect_content(p) for p in (lirs, csv, txt, oracle)] == ["lirs", "csv", "txt", "oracleGeneral"]
    assert read_all(open_trace(lirs)).ids.tolist() == [5, 6, 5]
    assert read_all(open_trace(oracle)).ids.tolist() == [1, 2, 1]


# ------------------------------------------------------------------ oracleGeneral plausibility
def _records(ids: list[int], nxt: list[int]) -> bytes:
    recs = np.zeros(len(ids), dtype=ORACLE_DTYPE)
    recs["id"] = ids
    recs["size"] = 1
    recs["next"] = nxt  # on disk: 1-based, -1 for never
    return recs.tobytes()


@pytest.mark.parametrize("ids, nxt, match", [
    ([1, 2, 1], [1, -1, -1], "itself"),                     # record 0 points at record 0 (1-based 1)
    ([1, 2, 1], [3, 1, -1], "backwards"),                   # record 1 points at record 0
    ([1, 2, 1], [2, -1, -1], "next request to object 1 is record 2"),  # points at another object
    ([1, 2, 1], [-1, -1, -1], "says never"),                # a later request exists in the chunk
    ([1, 2, 1], [3, 9, -1], "past the last record"),        # points past the end
    ([1, 1, 1], [3, 3, -1], "two records point at it"),     # record 0 skips record 1
])
def test_inconsistent_next_access_fields_are_refused(tmp_path: Path, ids: list[int], nxt: list[int],
                                                     match: str) -> None:
    p = tmp_path / "t.oracleGeneral"
    p.write_bytes(_records(ids, nxt))
    _fails(p, match)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 1000])
def test_pointers_across_chunks_are_checked_where_they_land(tmp_path: Path, chunk_size: int) -> None:
    ids = [7, 8, 9, 7, 8, 7]
    good = compute_next_access(np.array(ids))
    p = tmp_path / "ok.oracleGeneral"
    p.write_bytes(_records(ids, [v + 1 if v >= 0 else -1 for v in good]))
    assert read_all(open_trace(p, chunk_size=chunk_size)).next_access.tolist() == good.tolist()
    # record 0 (object 7) claims its next request is record 5, skipping record 3
    bad = [v + 1 if v >= 0 else -1 for v in good]
    bad[0] = 6
    q = tmp_path / "skip.oracleGeneral"
    q.write_bytes(_records(ids, bad))
    _fails(q, "inconsistent next-access field", chunk_size=chunk_size)


def test_random_bytes_are_not_an_oracle_general_trace(tmp_path: Path) -> None:
    rng = random.Random(7)
    accepted = 0
    for i in range(100):
        p = tmp_path / f"r{i}.oracleGeneral"
        p.write_bytes(rng.randbytes(24 * rng.randint(2, 200)))
        try:
            read_all(open_trace(p))
            accepted += 1
        except TraceError as err:
            assert "\n" not in str(err)
    assert accepted == 0


def test_the_shared_libcachesim_trace_is_consistent() -> None:
    path = Path("/work/shared/traces/cloudphysics_io.oracleGeneral.bin")
    if not path.is_file():
        pytest.skip("shared traces not present")
    for cs in (1 << 20, 4096):
        c = read_all(open_trace(path, chunk_size=cs))
        assert c.next_access.tolist() == compute_next_access(c.ids).tolist()
