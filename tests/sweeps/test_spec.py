"""Sweep definitions: axes, ranges, zipped groups, point order, round trips and one-line validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcache.cli import main
from simcache.errors import UsageError
from simcache.sweeps.spec import SweepSpec, expand_axis, load_sweep, sweep

from .conftest import TOY_SWEEP, write_sweep


def test_step_range_includes_stop_and_reads_cleanly() -> None:
    assert expand_axis("f", "grid.x", {"start": 0.1, "stop": 0.5, "step": 0.1}) == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert expand_axis("f", "grid.x", {"start": 1, "stop": 10, "step": 3}) == (1, 4, 7, 10)
    assert expand_axis("f", "grid.x", {"start": 1, "stop": 9, "step": 3}) == (1, 4, 7)
    assert expand_axis("f", "grid.x", {"start": 5, "stop": 1, "step": -2}) == (5, 3, 1)


def test_num_ranges_linear_and_log() -> None:
    assert expand_axis("f", "grid.x", {"start": 0.0, "stop": 1.0, "num": 5}) == (0.0, 0.25, 0.5, 0.75, 1.0)
    # integer log range: 10, 100, 1000, 10000 exactly
    assert expand_axis("f", "grid.size", {"start": 10, "stop": 10000, "num": 4, "log": True}) == (10, 100, 1000, 10000)
    vals = expand_axis("f", "grid.x", {"start": 1.0, "stop": 100.0, "num": 3, "log": True})
    assert vals == pytest.approx((1.0, 10.0, 100.0))


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"start": 0, "stop": 1, "num": 5}, "repeat after rounding"),
        ({"start": 0, "stop": 1}, "exactly one of step or num"),
        ({"start": 0, "stop": 1, "step": -1}, "grid.x.step"),
        ({"start": 0, "stop": 1, "step": 1, "stride": 2}, "unknown range key 'stride'"),
        ({"start": 0, "stop": 10, "num": 3, "log": True}, "log range needs start > 0"),
        ([], "at least one value"),
        ([{"a": 1}], "grid.x[0]"),
        ("oops", "expected a list of values or a range"),
    ],
)
def test_bad_axes_name_file_and_key(value: object, needle: str) -> None:
    with pytest.raises(UsageError) as err:
        expand_axis("exp.toml", "grid.x", value)
    assert str(err.value).startswith("exp.toml: grid.x")
    assert needle in str(err.value)


def test_points_cross_grid_last_fastest_and_zip_moves_together() -> None:
    spec = sweep("m", base={"b": 1}, grid={"x": [1, 2], "y": ["p", "q"]}, zip=[{"n": [10, 20], "s": [1, 2]}])
    pts = spec.points()
    assert len(pts) == 2 * 2 * 2
    assert [(p["x"], p["y"], p["n"], p["s"]) for p in pts[:4]] == [
        (1, "p", 10, 1), (1, "p", 20, 2), (1, "q", 10, 1), (1, "q", 20, 2)]
    assert all(p["b"] == 1 for p in pts)
    assert all((p["n"], p["s"]) in {(10, 1), (20, 2)} for p in pts)  # zipped, never crossed
    assert spec.axes == ["x", "y", "n", "s"]
    assert spec.n_runs == 8


def test_toml_and_python_build_the_same_sweep(tmp_path: Path) -> None:
    from_file = load_sweep(write_sweep(tmp_path, TOY_SWEEP))
    in_python = sweep("sweep-toy", base={"sigma": 2.0, "n": 50}, grid={"mu": [0.0, 1.0, 5.0], "variant": ["a", "b"]},
                      replications=3, seed=11, name="toy")
    assert from_file.points() == in_python.points()
    assert from_file.fingerprint() == in_python.fingerprint()
    again = SweepSpec.from_dict(from_file.to_dict(), source="x")
    assert again.points() == from_file.points() and again.figures == from_file.figures
    # anything that decides the runs changes the fingerprint
    assert sweep("sweep-toy", grid={"mu": [0.0]}, seed=1).fingerprint() != sweep("sweep-toy", grid={"mu": [0.0]},
                                                                               seed=2).fingerprint()


def test_an_axis_cannot_be_set_twice() -> None:
    with pytest.raises(UsageError, match=r"grid.mu: parameter already set in base"):
        sweep("m", base={"mu": 1}, grid={"mu": [1, 2]})
    with pytest.raises(UsageError, match=r"zip\[0\]: zipped axes need equal lengths"):
        sweep("m", zip=[{"a": [1, 2], "b": [1]}])


BAD_FILES = [
    ('target = "nope"', "target: unknown model 'nope'; valid models:", "sweep-toy"),
    ('target = "sweep-toy"\n[grid]\nmux = [1, 2]', "grid.mux: unknown parameter 'mux'", "valid parameters: fail_when_mu"),
    ('target = "sweep-toy"\n[grid]\nmu = [1, "x"]', "grid.mu[1]:", "mu expects float"),
    ('target = "sweep-toy"\n[base]\nvariant = "z"', "base.variant:", "one of 'a', 'b', 'c'"),
    ('target = "sweep-toy"\n[grid]\nsigma = [1.0, -1.0]', "point 1 (sigma=-1.0)", "sigma must be >= 0"),
    ('target = "sweep-toy"\nreplications = 0', "replications:", "integer >= 1"),
    ('target = "sweep-toy"\nseed = -3', "seed:", "integer >= 0"),
    ('target = "sweep-toy"\ngrdi = 1', "unknown key 'grdi'", "allowed keys: name"),
    ('[grid]\nmu = [1.0]', "target: missing", "'replay'"),
    ('target = "sweep-toy"\n[grid]\nmu = [1.0]\n[[figures]]\nx = "sigma"\ny = "mean"', "figures[0].x", "axes: mu"),
    ('target = "sweep-toy"\n[[figures]]\nkind = "pie"\nx = "a"\ny = "b"', "figures[0].kind", "line, bars, mrc"),
    ('target = "replay"\n[grid]\npolicy = ["lru", "nope"]', "grid.policy[1]:", "lru"),
    ('target = "replay"\n[base]\nwarmup = 1.5', "base.warmup:", "[0, 1)"),
    ('target = "replay"\n[base]\nsynthetic = "pareto"', "base.synthetic:", "zipf"),
    ('target = "replay"\n[base]\ntrace = "missing.trace"', "base.trace:", "no such trace file"),
    ('target = "replay"\n[base]\npolicyy = "lru"', "unknown replay parameter 'policyy'", "valid parameters: alpha"),
    ('target = "sweep-toy\n', "not valid TOML", ""),
]


@pytest.mark.parametrize(("text", "where", "allowed"), BAD_FILES)
def test_bad_sweep_file_is_one_line_and_exit_2(tmp_path: Path, toy_models: Path, capsys: pytest.CaptureFixture[str],
                                               text: str, where: str, allowed: str) -> None:
    path = write_sweep(tmp_path, text, "bad.toml")
    status = main(["sweep", str(path), "--executor", "serial", "--quiet", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"simcache sweep: error: {path}: ")
    assert where in err and allowed in err
    assert not (tmp_path / "out" / "runs").exists()  # nothing ran


def test_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert "nope.toml: cannot read sweep file" in err and len(err.strip().splitlines()) == 1


def test_dry_run_counts_runs(tmp_path: Path, toy_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, TOY_SWEEP)
    assert main(["sweep", str(path), "--dry-run"]) == 0
    assert "6 points × 3 replications = 18 runs over mu, variant" in capsys.readouterr().out


def test_quick_variant_applies_overrides() -> None:
    spec = SweepSpec.from_dict({
        "target": "m", "name": "big", "replications": 5, "base": {"requests": 10**6, "alpha": 0.8},
        "grid": {"size": [1, 10, 100, 1000], "policy": ["lru", "fifo"]}, "zip": [{"a": [1, 2], "b": [3, 4]}],
        "quick": {"replications": 2, "requests": 1000, "size": [1, 10]},
    })
    q = spec.quick_variant()
    assert (q.name, q.replications, q.base["requests"], q.base["alpha"]) == ("big-quick", 2, 1000, 0.8)
    assert dict(q.grid)["size"] == (1, 10) and dict(q.grid)["policy"] == ("lru", "fifo")
    assert len(q.points()) == 2 * 2 * 2 and q.fingerprint() != spec.fingerprint()
    assert q.quick_variant() is q  # applied once
    bad = SweepSpec.from_dict({"target": "m", "zip": [{"a": [1], "b": [2]}], "quick": {"a": [5]}}, source="f.toml")
    with pytest.raises(UsageError, match=r"f.toml: quick.a: a zipped axis cannot be overridden"):
        bad.quick_variant()


def test_unknown_experiment_lists_the_known_ones() -> None:
    from simcache.sweeps import experiment_path

    assert experiment_path("smoke").name == "smoke.toml"
    with pytest.raises(UsageError, match=r"no experiment 'nope' .*experiments: .*smoke.*tour"):
        experiment_path("nope")
