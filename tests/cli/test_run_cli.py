"""`simcache run MODEL --fault ... --set group.option=...`: fault schedules and strategy options from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simcache.cli import main
from simcache.sim.report import run_model_full

BASE = ["--duration", "5", "--set", "rate=500", "--seed", "2"]


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["run", "three-tier", *BASE, *argv, "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_a_redis_crash_gives_errors_only_while_redis_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    clean = _run_json(capsys)
    s = _run_json(capsys, "--fault", "crash:redis@2+1")
    assert s["faults"] == [{"kind": "crash", "target": "redis", "at": 2.0, "duration": 1.0}] and clean["faults"] == []
    assert clean["outcomes"]["error"] == 0 and s["outcomes"]["error"] > 0 and s["outcomes"] != clean["outcomes"]
    assert set(s["errors"]) == {"ConnectionError"}  # refused by the dead Redis, its host up
    assert s["sim_requests"] == clean["sim_requests"]  # a fault does not change what the clients ask
    # the same seed: every window before the crash is identical, and errors fall inside the crash only
    params = {"duration": 5, "rate": 500, "window": 0.1}
    a = run_model_full("three-tier", params, 2).timeseries
    b = run_model_full("three-tier", params, 2, faults=["crash:redis@2+1"]).timeseries
    client = [(ts[ts.component == "client"]) for ts in (a, b)]
    before = [c[(c.time < 2.0 - 1e-9) & (c.metric.isin(["ok", "error", "timeout"]))].reset_index(drop=True)
              for c in client]
    assert before[0].equals(before[1])
    errors = client[1][client[1].metric == "error"]
    assert len(errors) and errors.time.min() >= 2.0 - 1e-9 and errors.time.max() <= 3.0 + 1e-9


def test_a_partition_between_app_and_redis_gives_timeouts(capsys: pytest.CaptureFixture[str]) -> None:
    s = _run_json(capsys, "--fault", "partition:app|redis@1+1")
    # no route, no reset: the cache calls hang (no socket timeout by default) until the client gives up
    assert s["outcomes"]["timeout"] > 0 and s["outcomes"]["error"] == 0
    assert s["faults"] == [{"kind": "partition", "target": "app|redis", "at": 1.0, "duration": 1.0}]
    r = run_model_full("three-tier", {"duration": 5, "rate": 500, "window": 0.1}, 2,
                       faults=["partition:app|redis@1+1"]).timeseries
    t = r[(r.component == "client") & (r.metric == "timeout")]
    # a timeout is recorded one client timeout (1 s) after its request was sent, inside the cut
    # (a request sent just before the cut reaches the app inside it: its timeout falls in the window at 1.9 s)
    assert t.time.min() >= 1.9 - 1e-9 and t.time.max() <= 3.0 + 1e-9


def test_several_faults_and_the_printed_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "three-tier", *BASE, "--fault", "pause:redis@1+0.2", "--fault",
                 "latency:app-db=0.05@2+1"]) == 0
    out = capsys.readouterr().out
    assert "concurrent_reads" in out and "stale_reads" in out
    assert "faults                 pause:redis@1+0.2, latency:app-db=0.05@2+1" in out
    assert main(["run", "three-tier", *BASE]) == 0
    assert "faults                 none" in capsys.readouterr().out


def test_faults_apply_to_the_hierarchy_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "hierarchy", "--duration", "2", "--set", "rate=400", "--fault", "crash:lb@0.5+0.5",
                 "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["outcomes"]["error"] > 0 and s["faults"][0]["target"] == "lb"
    assert "concurrent_reads" in s and "concurrent_reads" in s["tiers"]["cdn"]


def test_strategy_options_from_set(capsys: pytest.CaptureFixture[str]) -> None:
    default = _run_json(capsys)
    short = _run_json(capsys, "--set", "strategy.ttl=1", "--set", "app_cache=0")
    long = _run_json(capsys, "--set", "strategy.ttl=60", "--set", "app_cache=0")
    assert short["outcomes"]["error"] == long["outcomes"]["error"] == 0
    # with no near cache every read looks in Redis: a 1 s TTL keeps fewer keys there than 60 s
    assert short["hit_ratio"]["redis"] < long["hit_ratio"]["redis"]
    assert default["hit_ratio"] != short["hit_ratio"]
    fractional = _run_json(capsys, "--set", "strategy=refresh-ahead", "--set", "strategy.refresh_fraction=0.5")
    assert fractional["outcomes"]["ok"] > 0


@pytest.mark.parametrize(("argv", "needle"), [
    (["--fault", "crash:redis@x"], "the @AT time must be a number, got 'x'"),
    (["--fault", "crash:redis"], "missing @AT"),
    (["--fault", "crush:redis@1"], "kind must be one of crash, crash-warm"),
    (["--fault", "latency:app-redis@1+2"], "needs =VALUE"),
    (["--fault", "loss:app-redis=2@1"], "probability in [0, 1]"),
    (["--fault", "pause:redis@1"], "needs a duration"),
    (["--fault", "crash:redis@1+0"], "duration must be > 0"),
    (["--fault", "crash:redis@1+abc"], "the +DURATION must be a number"),
    (["--fault", "partition:app@1"], "two or more groups"),
    (["--fault", "crash:nosuch@1"], "no component 'nosuch'"),
    (["--fault", "partition:app|nosuch@1"], "no node 'nosuch'"),
    (["--fault", "latency:app-nosuch=0.1@1"], "not a link"),
    (["--set", "strategy.nope=1"], "has no option 'nope'"),
    (["--set", "strategy.ttl=abc"], "option 'ttl'"),
    (["--set", "cache.ttl=1"], "no option group 'cache'"),
])
def test_bad_fault_lines_and_options_are_one_line_exit_2(argv: list[str], needle: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "three-tier", "--duration", "1", *argv]) == 2
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert err.startswith("simcache run: error: ") and cap.out == ""


def test_a_model_without_faults_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "mm1", "--fault", "crash:queue@1"]) == 2
    assert "takes no fault schedule" in capsys.readouterr().err


def test_figures_are_written_for_models_that_draw_them(tmp_path: Path) -> None:
    out = tmp_path / "figs"
    r = subprocess.run([sys.executable, "-m", "simcache", "run", "three-tier", "--duration", "2", "--figures", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["hit_ratio.png", "latency.png", "latency_cdf.png", "timeline.png"]
    assert all(p.stat().st_size > 5000 for p in out.iterdir())
    bad = subprocess.run([sys.executable, "-m", "simcache", "run", "mm1", "--figures", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "draws no figures" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("model", "argv", "needle"), [
    ("three-tier", ["--set", "window=1e-9"], "at most 1,000,000"),
    ("three-tier", ["--set", "rate=inf"], "rate expects a finite number"),
    ("three-tier", ["--set", "rate=nan"], "rate expects a finite number"),
    ("three-tier", ["--set", "duration=inf"], "duration expects a finite number"),
    ("three-tier", ["--seed", "-1"], "seed must be an integer >= 0"),
    ("hierarchy", ["--set", "duration=inf"], "duration expects a finite number"),
    ("stampede", ["--set", "window=1e-9", "--set", "duration=1"], "at most 1,000,000"),
    ("lock", ["--set", "duration=nan"], "duration expects a finite number"),
])
def test_values_that_would_hang_or_exhaust_memory_are_refused(model: str, argv: list[str], needle: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", model, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
