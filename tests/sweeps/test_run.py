"""Running sweeps: same tables from every executor, resume keeps finished runs, failures are recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simcache.cli import main
from simcache.sweeps.run import load_results, run_sweep
from simcache.sweeps.seeds import run_seed
from simcache.sweeps.spec import load_sweep, sweep

from .conftest import TOY_SWEEP, cli, write_sweep


def test_serial_sweep_computes_what_the_model_says(tmp_path: Path, toy_models: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, TOY_SWEEP))
    res = run_sweep(spec, "serial", out=tmp_path / "out", progress=False)
    assert res.ok and res.computed == 18 and res.reused == 0
    runs = res.runs
    assert len(runs) == 18 and list(runs["status"].unique()) == ["ok"]
    # each run's seed is the SeedSequence child of (point, replication), and the value is the model's own draw
    for row in runs.to_dict("records"):
        seed = run_seed(11, row["point"], row["replication"])
        assert row["seed"] == seed
        x = np.random.default_rng(seed).normal(row["mu"], 2.0, size=50)
        assert row["mean"] == x.mean() and row["first"] == x[0]
        assert row["detail.max"] == x.max()  # nested keys flattened with a dot
    s = res.summary
    means = s[s.metric == "offset"].set_index(["mu", "variant"])["mean"]
    assert means.loc[(5.0, "b")] == 6.0 and means.loc[(1.0, "a")] == 1.0
    for name in ("runs.csv", "summary.csv", "metadata.json", "runs.parquet", "figures/line-mean-vs-mu.png",
                 "figures/line-mean-vs-mu.svg"):
        assert (tmp_path / "out" / name).is_file(), name
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["root_seed"] == 11 and len(meta["seeds"]) == 18 and meta["versions"]["numpy"]
    assert "[grid]" in meta["sweep_text"] and meta["failed"] == 0
    spec2, runs_csv, summary_csv = load_results(tmp_path / "out")
    assert spec2.points() == spec.points() and len(runs_csv) == 18 and len(summary_csv) == len(s)
    assert pd.read_parquet(tmp_path / "out" / "runs.parquet")["mean"].tolist() == runs["mean"].tolist()


def test_serial_local_and_dask_give_identical_tables(tmp_path: Path, toy_models: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = load_sweep(write_sweep(tmp_path, TOY_SWEEP))
    serial = run_sweep(spec, "serial", out=tmp_path / "serial", progress=False, figures=False)
    local = run_sweep(spec, "local", workers=2, out=tmp_path / "local", progress=False, figures=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        dask = run_sweep(spec, "dask", scheduler=lc.scheduler_address, out=tmp_path / "dask", progress=False,
                         figures=False)
    pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "dask" / "runs").glob("*.json")}
    assert len(pids) >= 1 and all(pid is not None for pid in pids)
    for other in (local, dask):
        pd.testing.assert_frame_equal(serial.runs, other.runs)
        pd.testing.assert_frame_equal(serial.summary, other.summary)
    for name in ("runs.csv", "summary.csv"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()


def test_resume_computes_only_missing_runs(tmp_path: Path, toy_models: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, TOY_SWEEP))
    out = tmp_path / "out"
    first = run_sweep(spec, "serial", out=out, progress=False, figures=False)
    files = sorted((out / "runs").glob("*.json"))
    removed = files[::4]
    for f in removed:
        f.unlink()
    kept = {f.name: f.read_bytes() for f in files if f not in removed}
    second = run_sweep(spec, "serial", out=out, progress=False, figures=False)
    assert second.computed == len(removed) and second.reused == 18 - len(removed)
    assert {f.name: f.read_bytes() for f in (out / "runs").glob("*.json") if f.name in kept} == kept
    pd.testing.assert_frame_equal(first.runs, second.runs)


def test_changed_sweep_refuses_the_old_folder(tmp_path: Path, toy_models: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_sweep(tmp_path, TOY_SWEEP)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--executor", "serial", "--quiet", "--out", str(out)]) == 0
    write_sweep(tmp_path, TOY_SWEEP.replace("seed = 11", "seed = 12"))
    assert main(["sweep", str(path), "--executor", "serial", "--quiet", "--out", str(out)]) == 2
    assert "holds results of a different sweep" in capsys.readouterr().err


FAILING = """
target = "sweep-toy"
replications = 2
seed = 3
[base]
fail_when_mu = 1.0
[grid]
mu = [0.0, 1.0, 2.0]
"""


def test_failing_runs_are_recorded_and_the_sweep_goes_on(tmp_path: Path, toy_models: Path) -> None:
    spec = load_sweep(write_sweep(tmp_path, FAILING))
    res = run_sweep(spec, "local", workers=2, out=tmp_path / "out", progress=False)
    assert res.computed == 6 and len(res.failures) == 2 and not res.ok
    assert {(f["point"], f["replication"]) for f in res.failures} == {(1, 0), (1, 1)}
    assert all("RuntimeError: toy failure at mu=1.0" in f["error"] for f in res.failures)
    assert res.runs.set_index("point").loc[1, "status"].tolist() == ["error", "error"]
    s = res.summary[res.summary.metric == "mean"]
    assert s.point.tolist() == [0, 2] and s.n.tolist() == [2, 2]
    # stored failures are finished runs: a rerun keeps them unless asked to retry
    assert run_sweep(spec, "serial", out=tmp_path / "out", progress=False).computed == 0
    assert run_sweep(spec, "serial", out=tmp_path / "out", progress=False, retry_failed=True).computed == 2


def test_cli_summarises_failures_and_exits_nonzero(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, FAILING)
    proc = cli("sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "o"), "--json", cwd=tmp_path)
    assert proc.returncode == 1
    info = json.loads(proc.stdout)
    assert info["failed"] == 2 and info["computed"] == 6
    assert "2 of 6 runs failed" in proc.stderr and "point 1 replication 0 (mu=1.0)" in proc.stderr


def test_python_built_sweep_defaults_to_results_folder(tmp_path: Path, toy_models: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = sweep("sweep-toy", grid={"mu": [0.0, 1.0]}, replications=2, seed=4, name="nb")
    res = run_sweep(spec, "serial", progress=False)
    assert res.out == Path("results/nb") and (tmp_path / "results/nb/runs.csv").is_file()
    assert isinstance(res.runs, pd.DataFrame) and len(res.runs) == 4


@pytest.mark.slow  # starts its own cluster through the CLI; the in-process cluster test covers the executor
def test_cli_dask_starts_a_local_cluster_and_matches_serial(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    path = write_sweep(tmp_path, TOY_SWEEP)
    dask = cli("sweep", str(path), "--executor", "dask", "--workers", "2", "--out", str(tmp_path / "d"), "--quiet",
               "--no-figures", cwd=tmp_path)
    assert dask.returncode == 0, dask.stderr
    serial = cli("sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "s"), "--quiet", "--no-figures",
                 cwd=tmp_path)
    assert serial.returncode == 0, serial.stderr
    assert (tmp_path / "d" / "runs.csv").read_bytes() == (tmp_path / "s" / "runs.csv").read_bytes()
    meta = json.loads((tmp_path / "d" / "metadata.json").read_text())
    assert meta["executor"] == "dask" and meta["workers"] == 2


def test_scheduler_with_a_non_dask_executor_is_a_usage_error(tmp_path: Path, toy_models: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    path = write_sweep(tmp_path, TOY_SWEEP)
    assert main(["sweep", str(path), "--executor", "local", "--scheduler", "tcp://127.0.0.1:1", "--quiet",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--scheduler only applies to --executor dask" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything was created


def test_replay_target_matches_a_direct_replay(tmp_path: Path) -> None:
    from simcache.replay import replay
    from simcache.workloads import SyntheticTrace, WorkloadSpec

    spec = sweep("replay", base={"alpha": 0.9, "objects": 500, "requests": 5000, "warmup": 0.2},
                 grid={"policy": ["lru", "sieve"], "size": [20, 100]}, replications=2, seed=8)
    res = run_sweep(spec, "serial", out=tmp_path / "o", progress=False)
    assert res.ok, res.failure_lines()
    for row in res.runs.to_dict("records"):
        trace = SyntheticTrace(WorkloadSpec(kind="zipf", alpha=0.9, n_objects=500), 5000, row["seed"])
        direct = replay(trace, [row["policy"]], [row["size"]], warmup=0.2, seed=row["seed"])[0]
        assert (row["hits"], row["misses"], row["miss_ratio"]) == (direct.hits, direct.misses, direct.miss_ratio)
        assert row["result.requests"] == 4000  # counted after the warm-up, kept apart from the 'requests' input
