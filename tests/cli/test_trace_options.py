"""``--trace-option``: reader options (csv column mapping) from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simcache.cli import main


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    # requests a, b, a, c, a with sizes 10, 20, 10, 40, 10
    path.write_text("ts;obj;bytes\n1;a;10\n2;b;20\n3;a;10\n4;c;40\n5;a;10\n")
    return path


def test_csv_columns_mapped_by_name_replay_in_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replay", "--trace", str(_csv(tmp_path)), "--trace-option", "id=obj", "--trace-option", "size=bytes",
            "--trace-option", "delimiter=;", "--policy", "lru", "--size", "30", "--bytes", "--json"]
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    # a miss, b miss (30 used), a hit, c (40 B) larger than the cache: miss, not admitted, a hit
    assert (row["requests"], row["hits"]) == (5, 2)
    assert row["byte_hits"] == 20 and row["byte_misses"] == 70


def test_columns_by_index_and_header_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replay", "--trace", str(_csv(tmp_path)), "--trace-option", "id=1", "--trace-option", "header=true",
            "--trace-option", "delimiter=;", "--policy", "fifo", "--size", "2", "--json"]
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    # FIFO of 2 entries: a, b miss; a hits; c evicts a (first in); a misses again
    assert (row["requests"], row["hits"], row["misses"]) == (5, 1, 4)


@pytest.mark.parametrize("opt, needle", [
    ("bogus=1", "has no option 'bogus'"),
    ("header=maybe", "header expects true or false"),
    ("noequals", "expects KEY=VALUE"),
    ("chunk_size=big", "chunk_size expects an integer"),
])
def test_bad_trace_options_are_one_line(tmp_path: Path, opt: str, needle: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replay", "--trace", str(_csv(tmp_path)), "--trace-option", opt, "--policy", "lru", "--size", "2"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
