"""Bad arguments and files end as one line on stderr and exit status 2, at the boundary that checks them."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcache.catalog import load_models

from .helpers import fails_in_one_line, run_cli

SYN = ["--synthetic", "uniform", "--objects", "10", "--requests", "100"]
REPLAY = ["replay", "--policy", "lru", "--size", "10"]


@pytest.fixture(autouse=True)
def _shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMCACHE_MODELS_PATH", raising=False)
    load_models(force=True)


@pytest.mark.parametrize("argv, needle", [
    (["run", "three-tier", "--duration", "abc"], "--duration"),
    (["run"], "name"),
    (["sweep", "--workers", "0", "smoke"], "--workers"),
    (["plot", "x", "--kind", "nosuch"], "--kind"),
    (["trace"], "ACTION"),
    (["a\nb"], "invalid choice"),
    (["trace", "stats"], "FILE"),
    (["replay", "--policy", "lru", "--size", "1", "--bogus"], "--bogus"),
])
def test_argparse_errors_of_every_subcommand_are_one_line(argv: list[str], needle: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fails_in_one_line(argv, capsys, needle, "simcache")


def test_path_with_a_newline_is_quoted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_in_one_line([*REPLAY, "--trace", str(tmp_path / "a\nb.bin")], capsys, "no such trace file")
    assert repr(str(tmp_path / "a\nb.bin")) in line


@pytest.mark.parametrize("argv, needle", [
    ([*REPLAY[:-1], "99999999999999999999", *SYN], "at most 2**50"),
    (["replay", "--policy", "redis-allkeys-lru", "--size", "5", *SYN, "--rate", "1e-308"], "timestamps cover"),
    (["replay", "--policy", "lru", "--size", "5", *SYN, "--rate", "nan"], "--rate"),
    (["replay", "--policy", "lru", "--size", "5", "--synthetic", "uniform", "--objects", "10000000000000000000",
      "--requests", "10"], "n_objects"),
    (["replay", "--policy", "lru", "--size", "5", "--synthetic", "uniform", "--objects", "10",
      "--requests", "100000000000000000000"], "n_requests"),
    (["theory", "--alpha", "0.8", "--objects", "100000000000", "--size", "10"], "--objects"),
    (["theory", "--alpha", "0.8", "--objects", "1000000000", "--size", "10"], "--objects"),
    (["theory", "--alpha", "inf", "--objects", "10", "--size", "1"], "--alpha"),
    (["mrc", *SYN, "--shards-rate", "1e-12"], "--shards-rate"),
    (["mrc", *SYN, "--shards-size", "1"], "--shards-size 1"),
    (["mrc", *SYN, "--shards-size", "99999999999999999999"], "--shards-size must be in"),
    (["mrc", *SYN, "--plot", "/proc/x.png"], "--plot"),
])
def test_bounds_of_arguments(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    fails_in_one_line(argv, capsys, needle)


def test_output_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    fails_in_one_line(["mrc", *SYN, "--plot", str(blocker / "x.png")], capsys, "--plot", "is a file")
    fails_in_one_line(["tour", "--quick", "--out", str(blocker / "x")], capsys, "--out", "is a file")
    fails_in_one_line(["plot", str(tmp_path), "--out", str(blocker / "x")], capsys)
    fails_in_one_line(["run", "three-tier", "--figures", str(blocker / "x")], capsys, "--figures", "is a file")


@pytest.mark.parametrize("setting, needle", [
    ("rate=nan", "finite"), ("rate=inf", "finite"), ("ttl=nan", "finite"), ("window=1e-9", "metric windows"),
    ("rate=1e12", "at most 100,000,000"), ("users=10000000", "at most 1,000,000"),
    ("cache_workers=0", "cache_workers"), ("cache_workers=-1", "cache_workers"), ("app_cache=-1", "app_cache"),
    ("pool_wait=-1", "pool_wait"), ("cache_policy=belady", "offline"), ("app_policy=belady", "offline"),
    ("db_connections=0", "db_connections"), ("loss=-1", "loss"), ("query_cache=-1", "query_cache"),
])
def test_model_parameters_are_checked_before_the_run(setting: str, needle: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    fails_in_one_line(["run", "three-tier", "--set", setting], capsys, needle)


def test_run_refuses_infinite_duration_and_negative_seed(capsys: pytest.CaptureFixture[str]) -> None:
    fails_in_one_line(["run", "three-tier", "--duration", "inf"], capsys, "duration")
    fails_in_one_line(["run", "three-tier", "--seed", "-1"], capsys, "seed")


def test_time_aware_policy_on_untimed_trace_warns(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(["replay", "--policy", "lru,redis-allkeys-lru", "--size", "5", *SYN], capsys)
    assert rc == 0 and "redis-allkeys-lru" in out
    assert len(err) == 1 and "warning" in err[0] and "--rate" in err[0]
    rc, _, err = run_cli(["replay", "--policy", "redis-allkeys-lru", "--size", "5", *SYN, "--rate", "100"], capsys)
    assert rc == 0 and err == []


def test_trace_stats_and_convert_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from simcache.traces import open_trace, read_all, write_oracle_general

    ids = np.array([1, 2, 1, 3, 1, 2, 4, 1])
    src = write_oracle_general(tmp_path / "t.oracleGeneral", ids, sizes=ids * 10, times=np.arange(8))
    rc, out, err = run_cli(["trace", "stats", str(src), "--json", "--figures", str(tmp_path / "figs")], capsys)
    assert rc == 0, err
    import json

    data = json.loads(out)
    assert (data["requests"], data["objects"], data["one_hit_objects"]) == (8, 4, 2)
    assert data["total_bytes"] == int((ids * 10).sum()) and data["distinct_bytes"] == 100
    # stack distances: 1 at 2 (dist 1), 1 at 4 (dist 1: {3}), 2 at 5 (dist 2: {1,3}), 1 at 7 (dist 2: {2,4})
    assert data["cold"] == 4 and sum(c for _, _, c in data["reuse_hist"]) == 4
    assert (tmp_path / "figs" / "popularity.png").is_file()
    for name in ("t.csv.gz", "t.txt"):
        rc, _, err = run_cli(["trace", "convert", str(src), str(tmp_path / name)], capsys)
        assert rc == 0, err
    rc, _, err = run_cli(["trace", "convert", str(tmp_path / "t.csv.gz"), str(tmp_path / "back.oracleGeneral.zst"),
                          "--trace-option", "size=size", "--trace-option", "time=time"], capsys)
    assert rc == 0, err
    back = read_all(open_trace(tmp_path / "back.oracleGeneral.zst"))
    assert back.ids.tolist() == ids.tolist() and back.sizes.tolist() == (ids * 10).tolist()
    assert read_all(open_trace(tmp_path / "t.txt")).ids.tolist() == ids.tolist()
    fails_in_one_line(["trace", "convert", str(src), str(src)], capsys, "the output is the input")
