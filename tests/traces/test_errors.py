"""Bad trace files give one-line TraceErrors naming the file and the record, line or offset."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import numpy as np
import pytest

from simcache.errors import SimcacheError, TraceError, UsageError
from simcache.traces import open_trace, read_all, write_oracle_general


def _fails(path: Path, match: str, **opts: object) -> str:
    with pytest.raises(TraceError) as info:
        read_all(open_trace(path, **opts))
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg
    assert match in msg, msg
    return msg


def test_truncated_oracle_general_names_partial_record_offset(tmp_path: Path) -> None:
    path = write_oracle_general(tmp_path / "t.oracleGeneral", np.arange(5))
    with open(path, "ab") as f:
        f.write(b"\x01" * 10)
    # 5 whole records: the partial one is record 5 at byte 120
    with pytest.raises(TraceError, match=r"record 5 at byte offset 120") as info:
        open_trace(path)
    assert str(path) in str(info.value) and "10 trailing bytes" in str(info.value)


def test_empty_files(tmp_path: Path) -> None:
    for name in ("e.oracleGeneral", "e.lirs", "e.csv", "e.txt", "cache2k_e.trace.xz"):
        p = tmp_path / name
        p.write_bytes(b"")
        with pytest.raises(TraceError, match="empty file") as info:
            open_trace(p)
        assert str(p) in str(info.value)


def test_file_with_no_requests(tmp_path: Path) -> None:
    p = tmp_path / "stars.lirs"
    p.write_text("*\n*\n\n")
    _fails(p, "no requests")
    q = tmp_path / "hdr.csv"
    q.write_text("key,size\n")
    _fails(q, "no requests", id="key")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such trace file"):
        open_trace(tmp_path / "nope.csv")


def test_lirs_non_numeric_id_names_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.lirs"
    p.write_text("1\n2\n*\nxyz\n4\n")
    _fails(p, "line 4: expected an integer object id (or '*'), got 'xyz'")


def test_lirs_error_line_numbers_across_blocks(tmp_path: Path) -> None:
    # the reader parses 1 MiB blocks; the line number must survive the block boundary
    p = tmp_path / "big.lirs.gz"
    n = 400_000
    with gzip.open(p, "wt") as f:
        f.write("".join(f"{i}\n" for i in range(n)))
        f.write("oops\n")
    _fails(p, f"line {n + 1}:")


def test_txt_numeric_rejects_strings(tmp_path: Path) -> None:
    p = tmp_path / "k.txt"
    p.write_text("1\n2\nthree\n")
    _fails(p, "line 3: expected an integer object id, got 'three'", numeric=True)
    assert len(read_all(open_trace(p))) == 3  # hashed when not numeric


def test_id_out_of_int64_range(tmp_path: Path) -> None:
    p = tmp_path / "k.lirs"
    p.write_text("1\n99999999999999999999999\n")
    _fails(p, "line 2: object id 99999999999999999999999 does not fit")


def test_csv_missing_column(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("time,key\n1,2\n")
    msg = _fails(p, "no column 'size' (for size) in the header", id="key", size="size")
    assert "columns: time, key" in msg


def test_csv_short_row_and_bad_values(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("1,10\n2,20\n3\n")
    _fails(p, "line 3: expected at least 2 fields, got 1", id=0, size=1)
    q = tmp_path / "u.csv"
    q.write_text("1,10\n2,big\n")
    _fails(q, "line 2: expected an integer size, got 'big'", id=0, size=1)
    r = tmp_path / "v.csv"
    r.write_text("k,op\n1,get\n2,frobnicate\n")
    _fails(r, "line 3: unknown operation 'frobnicate'", id="k", op="op")
    s = tmp_path / "w.csv"
    s.write_text("1\nx\n")
    _fails(s, "line 2: expected an integer object id, got 'x'", numeric=True, header=False)


def test_corrupt_gzip(tmp_path: Path) -> None:
    good = gzip.compress(b"".join(b"%d\n" % i for i in range(5000)))
    p = tmp_path / "c.lirs"
    bad = bytearray(good)
    bad[len(bad) // 2 : len(bad) // 2 + 8] = b"\xff" * 8
    p.write_bytes(bytes(bad))
    _fails(p, "corrupt gzip stream near compressed offset")


def test_truncated_gzip_and_xz(tmp_path: Path) -> None:
    body = b"".join(b"%d\n" % i for i in range(5000))
    p = tmp_path / "t.txt.gz"
    p.write_bytes(gzip.compress(body)[:-12])
    _fails(p, "truncated gzip stream")
    q = tmp_path / "cache2k_t.trace.xz"
    q.write_bytes(lzma.compress(np.arange(5000, dtype=">i4").tobytes())[:-30])
    _fails(q, "xz stream")


def test_corrupt_xz(tmp_path: Path) -> None:
    data = bytearray(lzma.compress(np.arange(5000, dtype=">i4").tobytes()))
    data[40:60] = b"\x00" * 20
    q = tmp_path / "cache2k_c.trace.xz"
    q.write_bytes(bytes(data))
    _fails(q, "corrupt xz stream")


def test_cache2k_partial_record(tmp_path: Path) -> None:
    q = tmp_path / "cache2k_p.trace.xz"
    q.write_bytes(lzma.compress(np.arange(3, dtype=">i4").tobytes() + b"\x00\x01"))
    _fails(q, "truncated cache2k record 3 at decompressed byte offset 12: 2 trailing bytes")


def test_compressed_oracle_general_reads(tmp_path: Path) -> None:
    plain = write_oracle_general(tmp_path / "p.bin", np.array([4, 5, 4]))
    p = tmp_path / "t.oracleGeneral.bin"
    p.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_all(open_trace(p)).next_access.tolist() == [2, -1, -1]


def test_corrupt_zstd_names_the_offset(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    _fails(p, "zstd stream")


def test_usage_errors(tmp_path: Path) -> None:
    p = tmp_path / "t.weird"
    p.write_text("1\n")
    binary = tmp_path / "b.weird"
    binary.write_bytes(b"\x00\xff" * 5)  # not text, and no whole oracleGeneral record
    with pytest.raises(UsageError, match="oracleGeneral, lirs, cache2k, csv, txt"):
        open_trace(binary)
    with pytest.raises(UsageError, match="unknown trace format 'parquet'"):
        open_trace(p, format="parquet")
    with pytest.raises(UsageError, match="has no option 'colum'; valid options: chunk_size="):
        open_trace(p, format="csv", colum="x")
    with pytest.raises(UsageError, match="chunk_size must be an integer >= 1"):
        open_trace(p, format="TXT", chunk_size=0)
    assert len(read_all(open_trace(p, format="LIRS"))) == 1
    assert issubclass(TraceError, SimcacheError)
