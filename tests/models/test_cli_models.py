"""`simcache run` / `simcache models` and the model catalogue."""

from __future__ import annotations

import json

import pytest

from simcache.catalog import model_names, run_model
from simcache.cli import main
from simcache.sim.report import run_model_full, three_tier_figures


def test_models_lists_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("three-tier", "hierarchy", "mm1", "mmc", "md1"):
        assert name in out
    assert "duration=" in out


def test_run_json_has_requests_and_wall_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "three-tier", "--duration", "1", "--set", "rate=500", "--seed", "3", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert 400 < s["sim_requests"] < 600  # Poisson(500)
    assert s["wall_seconds"] > 0 and s["seed"] == 3 and s["duration"] == 1.0
    assert set(s["hit_ratio"]) == {"app", "redis"}


@pytest.mark.parametrize(("argv", "needle"), [
    (["run", "nope"], "valid models: "),
    (["run", "mm1", "--set", "bogus=1"], "valid parameters: "),
    (["run", "three-tier", "--set", "strategy=zzz"], "cache-aside"),
    (["run", "three-tier", "--set", "db_read=foo:1"], "db_read"),
    (["run", "mm1", "--set", "arrival_rate"], "KEY=VALUE"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_every_model_has_a_duration_and_runs_small() -> None:
    import sys
    from pathlib import Path

    from simcache.catalog import get_model

    shipped = Path(__file__).resolve().parents[2] / "models"
    # the shipped models only: other test folders register toy models of their own in the same catalogue
    names = [n for n in model_names() if Path(sys.modules[get_model(n).source].__file__ or "").parent == shipped]
    assert {"three-tier", "hierarchy", "mm1"} <= set(names)
    for name in names:
        spec = get_model(name)
        assert "duration" in spec.param_types(), name
        # queueing models count time in service times; the system models in seconds
        queue = "arrival_rate" in spec.param_types()
        params: dict[str, float] = {"duration": 2000.0, "warmup": 100.0} if queue else {"duration": 2.0}
        if not queue and "warmup" in spec.param_types():
            params["warmup"] = 0.0
        s = run_model(name, params, 1)
        assert s["sim_requests"] > 0, name


def test_three_tier_default_simulates_at_least_1e5_requests() -> None:
    from simcache.catalog import get_model

    p = get_model("three-tier").make_params({})
    assert p.rate * p.duration >= 1e5


def test_full_result_timeseries_and_figures(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run_model_full("three-tier", {"duration": 3, "rate": 500}, 0)
    ts = r.timeseries
    assert list(ts.columns) == ["time", "component", "metric", "value"]
    ok = ts[(ts.component == "client") & (ts.metric == "ok")].value.sum()
    assert ok == r.summary["outcomes"]["ok"]
    assert "hit_ratio" in set(ts.metric) and "p99_ms" in set(ts.metric)  # milliseconds, as latency_ms
    assert json.loads(r.to_json())["summary"]["sim_requests"] == r.summary["sim_requests"]
    paths = three_tier_figures(r, tmp_path)
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
