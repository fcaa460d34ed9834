"""Output a person can read, results that say how they were made: mrc summaries, byte sizes, detail pages,
provenance in --json, the sweep's results table, the tour's ties."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from simcache.cli import main

SYN = ["--synthetic", "zipf", "--alpha", "0.8", "--objects", "2000", "--requests", "20000", "--seed", "3"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_mrc_prints_a_summary_unless_all_or_json(capsys: pytest.CaptureFixture[str]) -> None:
    from simcache.cli.mrc import summary_rows

    rows = [{"size": s, "miss_ratio": 1 - s / 2000} for s in range(1, 2001)]
    assert [r["size"] for r in summary_rows(rows)] == [1, 2, 6, 20, 60, 200, 600, 2000]
    out = _run(capsys, "mrc", *SYN)
    body = out.splitlines()[3:]
    assert "of 1,9" in out.splitlines()[0] and "--all" in out.splitlines()[0] and len(body) <= 8
    assert body[-1].split()[0].count(",") == 1  # the largest size with its thousands separator
    assert len(_run(capsys, "mrc", *SYN, "--all").splitlines()) > 1000
    assert len(json.loads(_run(capsys, "mrc", *SYN, "--json"))) > 1000


def test_replay_json_says_what_it_replayed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = json.loads(_run(capsys, "replay", *SYN, "--policy", "lru", "--size", "1%", "--json"))
    src = rows[0]["source"]
    assert src["synthetic"] == "zipf" and src["seed"] == 3 and src["spec"]["alpha"] == 0.8
    trace = tmp_path / "t.txt"
    trace.write_text("\n".join(str(i % 7) for i in range(50)) + "\n")
    rows = json.loads(_run(capsys, "replay", "--trace", str(trace), "--policy", "lru", "--size", "3", "--json"))
    assert rows[0]["source"]["trace"] == str(trace.resolve()) and rows[0]["source"]["bytes"] == trace.stat().st_size


def test_replay_table_has_units_and_separators(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "replay", *SYN, "--policy", "lru", "--size", "1000")
    assert "requests counted: 20,000" in out and " 20,000 " in out and "1,000" in out
    from simcache.cli.replay import readable

    row = {"size": 64 * 2**20, "requests": 1234567, "hits": 1, "misses": 1234566}
    assert readable([row], True)[0]["size"] == "64 MiB" and readable([row], True)[0]["requests"] == "1,234,567"


def test_run_json_holds_every_parameter_and_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    from simcache.catalog import get_model

    d = json.loads(_run(capsys, "run", "mm1", "--set", "arrival_rate=0.5", "--set", "warmup=10", "--duration", "200", "--seed", "4",
                        "--json"))
    fields = {f.name for f in dataclasses.fields(get_model("mm1").params)}
    assert set(d["params"]) == fields and d["params"]["arrival_rate"] == 0.5 and d["params"]["duration"] == 200
    assert d["seed"] == 4


def test_detail_pages(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "models", "three-tier")
    for text in ("cache_policy", "Eviction policy of the cache server", "req/s", "Time to live"):
        assert text in out
    assert "cdn_ttl" not in out  # three-tier's own parameters only
    out = _run(capsys, "policies", "s3fifo")
    assert "small_ratio" in out and "fraction of capacity for S" in out
    assert "engines: fast kernel" in out and "bounded by the cached objects" in out
    # what each kernel reads per request, and a policy with no bounded layout
    assert "reads request times, raw ids" in _run(capsys, "policies", "redis-allkeys-lfu")
    belady = _run(capsys, "policies", "belady")
    assert "reads next-access indexes" in belady and "state per distinct object of the trace" in belady
    assert json.loads(_run(capsys, "policies", "belady", "--json"))["engines"]["layouts"] == ["dense"]
    assert main(["models", "nope"]) == 2


def test_sweep_results_table_and_tour_ties() -> None:
    from simcache.cli.sweep import results_table
    from simcache.cli.tour import _tie_label

    summary = pd.DataFrame([
        {"point": 0, "policy": "lru", "size": 10, "metric": "miss_ratio", "n": 3, "mean": 0.5, "std": 0.1,
         "ci_low": 0.4, "ci_high": 0.6, "ci_half": 0.1},
        {"point": 1, "policy": "fifo", "size": 10, "metric": "miss_ratio", "n": 3, "mean": 0.6, "std": 0.0,
         "ci_low": 0.6, "ci_high": 0.6, "ci_half": 0.0}])
    lines = results_table(summary).splitlines()
    assert lines[0].split() == ["policy", "size", "miss_ratio"]
    assert lines[2].split() == ["lru", "10", "0.5", "±", "0.1"] and lines[3].split() == ["fifo", "10", "0.6"]
    assert _tie_label(["lru", "clock"]) == "2-way tie (lru, clock)"
    assert _tie_label(list("abcdef")) == "6-way tie (a, b, c, d, +2 more)"


def test_progress_bars_go_to_stderr_only_when_wanted(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from simcache.progress import progress_wanted
    from simcache.replay import replay, source_from_args

    monkeypatch.setenv("SIMCACHE_PROGRESS", "0")
    assert progress_wanted(None) is False and progress_wanted(True) is True
    monkeypatch.setenv("SIMCACHE_PROGRESS", "1")
    assert progress_wanted(None) is True
    monkeypatch.delenv("SIMCACHE_PROGRESS")
    src = source_from_args(synthetic="zipf", alpha=0.8, objects=500, requests=5000, seed=1)
    quiet = replay(src, ["lru", "fifo", "lfu"], [50])
    assert capsys.readouterr().err == ""  # not a terminal: silent
    loud = replay(src, ["lru", "fifo", "lfu"], [50], progress=True)  # one pass per compiled policy
    assert "replay" in capsys.readouterr().err
    assert [r.hits for r in quiet] == [r.hits for r in loud]


def test_a_progress_bar_does_not_change_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from simcache.sim import runner
    from simcache.sim.report import run_model_full

    def summary(progress: bool) -> dict[str, object]:
        monkeypatch.setattr(runner, "PROGRESS", progress)
        s = run_model_full("three-tier", {"duration": 2.0, "rate": 500.0}, seed=5,
                           faults=["crash:redis@0.5+0.5"]).summary
        s.pop("wall_seconds")
        return s

    assert summary(True) == summary(False)
