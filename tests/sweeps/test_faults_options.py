"""Sweep files with a ``[[faults]]`` schedule and dotted option parameters (``"strategy.ttl" = [60, 300]``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcache.cli import main
from simcache.errors import UsageError
from simcache.sim.faults import Fault
from simcache.sweeps.run import load_results, run_sweep, tasks_for
from simcache.sweeps.spec import SweepSpec, load_sweep, sweep

from .conftest import ROOT, write_sweep

TOY = """
name = "toy-faults"
target = "sweep-toy-faults"
replications = 2
seed = 5
[base]
duration = 10.0
[grid]
"strategy.ttl" = [60, 300]
scale = [1.0, 2.0]
[[faults]]
kind = "crash"
target = "redis"
at = 2.0
duration = 1.5
[[faults]]
kind = "latency"
target = "app-redis"
value = 0.05
at = 4.0
"""


def test_faults_tables_and_lines_build_the_same_schedule(tmp_path: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, TOY))
    assert spec.faults == (Fault("crash", "redis", 2.0, 1.5), Fault("latency", "app-redis", 4.0, None, 0.05))
    lines = sweep("sweep-toy-faults", base={"duration": 10.0}, grid={"strategy.ttl": [60, 300], "scale": [1.0, 2.0]},
                  replications=2, seed=5, name="toy-faults", faults=["crash:redis@2+1.5", "latency:app-redis=0.05@4"])
    assert lines.faults == spec.faults and lines.fingerprint() == spec.fingerprint()
    again = SweepSpec.from_dict(spec.to_dict(), source=spec.source)
    assert again.faults == spec.faults and again.fingerprint() == spec.fingerprint()


def test_faults_change_the_fingerprint_and_none_keep_the_old_one(tmp_path: Path) -> None:
    with_faults = load_sweep(write_sweep(tmp_path, TOY))
    without = load_sweep(write_sweep(tmp_path, TOY.split("[[faults]]")[0], "plain.toml"))
    assert with_faults.fingerprint() != without.fingerprint()
    # a sweep without faults fingerprints as before faults existed: its old results folders stay usable
    import hashlib
    import json

    body = {"target": without.target, "points": without.points(), "replications": without.replications,
            "seed": without.seed, "crn": without.common_random_numbers}
    assert without.fingerprint() == hashlib.sha256(json.dumps(body, sort_keys=True, default=list).encode()
                                                   ).hexdigest()[:16]


def test_dotted_options_quoted_or_as_toml_tables_are_the_same_axis(tmp_path: Path) -> None:
    quoted = load_sweep(write_sweep(tmp_path, TOY))
    nested = load_sweep(write_sweep(tmp_path, TOY.replace('"strategy.ttl" = [60, 300]', "strategy.ttl = [60, 300]"),
                                    "nested.toml"))
    assert quoted.axes == nested.axes == ["strategy.ttl", "scale"] and quoted.points() == nested.points()
    base = load_sweep(write_sweep(tmp_path, 'target = "sweep-toy-faults"\n[base.strategy]\nttl = 30\n', "b.toml"))
    assert dict(base.base) == {"strategy.ttl": 30}
    ranged = load_sweep(write_sweep(tmp_path, 'target = "sweep-toy-faults"\n[grid]\n"strategy.ttl" = '
                                              '{ start = 10, stop = 30, step = 10 }\n', "r.toml"))
    assert ranged.grid == (("strategy.ttl", (10, 20, 30)),)


def test_the_sweep_runs_every_point_with_its_options_and_the_faults(tmp_path: Path, toy_models: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, TOY))
    tasks = tasks_for(spec)
    assert all(t["faults"] == [f.as_dict() for f in spec.faults] for t in tasks)
    res = run_sweep(spec, "serial", out=tmp_path / "out", progress=False)
    assert res.ok, res.failure_lines()
    runs = res.runs
    # one column per swept option, named as in the file, beside the model's own parameters
    assert list(runs.columns[:7]) == ["point", "replication", "seed", "duration", "strategy.ttl", "scale", "status"]
    assert (runs["ttl_seen"] == runs["strategy.ttl"] * runs["scale"]).all()
    assert (runs["n_faults"] == 2).all() and (runs["first_at"] == 2.0).all()
    assert set(runs["faults"]) == {"crash:redis@2+1.5, latency:app-redis=0.05@4"}  # the --fault lines, as text
    assert set(res.summary.metric) >= {"ttl_seen", "n_faults"} and "faults" not in set(res.summary.metric)
    spec2, runs2, _ = load_results(tmp_path / "out")
    assert spec2.faults == spec.faults and len(runs2) == len(runs)
    assert res.metadata["sweep"]["faults"][0] == {"kind": "crash", "target": "redis", "at": 2.0, "duration": 1.5}


@pytest.mark.parametrize(("edit", "needle"), [
    (('"strategy.ttl" = [60, 300]', '"strategy.tll" = [60, 300]'), "point 0 (strategy.tll=60, scale=1.0): strategy "
                                                                   "'cache-aside' has no option 'tll'; options: ttl"),
    (('"strategy.ttl" = [60, 300]', '"strategy.ttl" = [60, "soon"]'), "option 'ttl': expected a number, got 'soon'"),
    (('"strategy.ttl" = [60, 300]', '"cache.ttl" = [60, 300]'), "grid.cache.ttl: model 'sweep-toy-faults' has no "
                                                             "option group 'cache'"),
    (('kind = "crash"', 'kind = "crush"'), "faults[0]: fault kind must be one of crash, crash-warm"),
    (('at = 2.0', 'at = "soon"'), "faults[0]: field 'at' must be a number, got 'soon'"),
    (('at = 2.0', 'when = 2.0'), "faults[0]: unknown field 'when'"),
    (('value = 0.05\n', ''), "faults[1]: fault latency:app-redis: needs =VALUE"),
    (('at = 4.0', 'at = 10.0'), "faults[1] (latency:app-redis=0.05@10): starts at 10 s, not before the end of the run "
                                "(duration 10 s)"),
    (('target = "sweep-toy-faults"', 'target = "sweep-toy"'), "faults: model 'sweep-toy' takes no fault schedule"),
])
def test_bad_entries_are_one_line_before_anything_runs(tmp_path: Path, toy_models: Path, edit: tuple[str, str],
                                                       needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = TOY.replace(*edit)
    if "sweep-toy\"" in edit[1]:
        text = text.replace('"strategy.ttl" = [60, 300]\nscale = [1.0, 2.0]', "mu = [0.0]").replace(
            "duration = 10.0", "n = 5")
    path = write_sweep(tmp_path, text)
    assert main(["sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and str(path) in err, err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_faults_on_a_replay_sweep_are_refused(tmp_path: Path) -> None:
    spec = sweep("replay", base={"requests": 100}, faults=["crash:redis@1"])
    with pytest.raises(UsageError, match="a trace replay takes no fault schedule"):
        spec.validate()


def test_fault_targets_are_checked_against_the_model_system() -> None:
    spec = sweep("hierarchy", base={"duration": 2.0}, grid={"strategy.ttl": [1, 60]}, faults=["crash:cdnn@1"])
    with pytest.raises(UsageError, match=r"faults\[0\]: fault crash:cdnn@1: no component 'cdnn'; components: "):
        spec.validate()
    ok = sweep("hierarchy", base={"duration": 2.0}, faults=["partition:cdn|lb@1+0.5", "latency:lb-app=0.01@0.5"])
    ok.validate()


def test_a_real_model_sweep_with_an_option_axis_and_a_fault(tmp_path: Path) -> None:
    spec = sweep("hierarchy", base={"duration": 1.5, "rate": 300.0}, grid={"strategy.ttl": [1, 60]},
                 faults=[{"kind": "crash", "target": "lb", "at": 0.5, "duration": 0.3}], name="hier")
    res = run_sweep(spec, "serial", out=tmp_path / "hier", progress=False)
    assert res.ok, res.failure_lines()
    assert list(res.runs["strategy.ttl"]) == [1, 60]
    assert (res.runs["outcomes.error"] > 0).all() and set(res.runs["faults"]) == {"crash:lb@0.5+0.3"}


def test_quick_variant_can_replace_the_fault_schedule() -> None:
    spec = load_sweep(ROOT / "experiments" / "three_tier_crash.toml")
    quick = spec.quick_variant()
    assert spec.faults == (Fault("crash", "redis", 8.0, 2.0),) and quick.faults == (Fault("crash", "redis", 1.5, 1.0),)
    assert dict(quick.grid)["strategy.ttl"] == (2, 60)
    quick.validate()
