"""The shipped sweep files: every one validates, and the smoke sweep runs end to end on 2 workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcache.catalog import load_models
from simcache.errors import UsageError
from simcache.sweeps.run import run_sweep
from simcache.sweeps.spec import load_sweep

from .conftest import ROOT

EXPERIMENTS = sorted((ROOT / "experiments").glob("*.toml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_experiment_file_validates(path: Path) -> None:
    spec = load_sweep(path)
    if spec.target != "replay" and spec.target not in load_models():
        pytest.skip(f"model {spec.target!r} is not registered in this build")
    try:
        spec.validate()
        spec.quick_variant().validate()
    except UsageError as err:
        pytest.fail(str(err))
    assert spec.figures, "every shipped sweep names its figures"


def test_smoke_sweep_runs_and_lru_obeys_inclusion(tmp_path: Path) -> None:
    spec = load_sweep(ROOT / "experiments" / "smoke.toml")
    assert len(spec.points()) >= 6 and spec.replications >= 2
    res = run_sweep(spec, "local", workers=2, out=tmp_path / "smoke", progress=False)
    assert res.ok, res.failure_lines()
    assert len(res.runs) == len(spec.points()) * spec.replications
    assert {p.suffix for p in res.figures} == {".png", ".svg"}
    # LRU is a stack algorithm: on the same trace (common random numbers) a bigger cache never misses more
    lru = res.runs[res.runs.policy == "lru"]
    for _, rep in lru.groupby("replication"):
        ratios = rep.sort_values("size")["miss_ratio"].tolist()
        assert ratios == sorted(ratios, reverse=True)
    s = res.summary[res.summary.metric == "miss_ratio"]
    assert (s.n == spec.replications).all() and (s.ci_low <= s["mean"]).all() and (s["mean"] <= s.ci_high).all()
