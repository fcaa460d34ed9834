"""``simcache mrc --shards-*``: sampled curves beside the exact one, and their error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simcache.cli import main
from simcache.mrc import exact_lru_mrc, mrc_value
from simcache.workloads import SyntheticTrace, WorkloadSpec

SRC = ["--synthetic", "zipf", "--alpha", "0.8", "--objects", "5000", "--requests", "200000", "--seed", "4"]


def test_shards_rate_one_is_the_exact_curve(capsys: pytest.CaptureFixture[str]) -> None:
    # sampling every object must reproduce the exact curve at every asked size
    assert main(["mrc", *SRC, "--shards-rate", "1", "--compare-exact", "--size", "10,100,1000", "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["size"] for r in rows] == [10, 100, 1000]
    for r in rows:
        assert r["miss_ratio"] == pytest.approx(r["exact_miss_ratio"], abs=1e-12)
    assert "mean absolute error" in captured.err


def test_shards_sampled_curve_is_close_and_reports_its_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mrc", *SRC, "--shards-size", "1024", "--compare-exact", "--size", "100,500,2000"]) == 0
    out = capsys.readouterr().out
    mae = float(out.strip().splitlines()[-1].split(":")[-1])
    # the exact curve recomputed here: the reported columns are the exact values at those sizes
    src = SyntheticTrace(WorkloadSpec(kind="zipf", alpha=0.8, n_objects=5000), 200_000, seed=4)
    exact = mrc_value(exact_lru_mrc(src), np.array([100, 500, 2000]))
    for line, value in zip(out.splitlines()[3:6], exact, strict=True):
        assert float(line.split()[2]) == pytest.approx(value, abs=5e-5)
    assert 0 < mae < 0.03


@pytest.mark.parametrize("args, needle", [
    (["--compare-exact"], "--compare-exact compares a SHARDS curve"),
    (["--shards-rate", "0"], "--shards-rate must be in (0, 1]"),
    (["--shards-size", "0"], "--shards-size must be in [1, 10,000,000]"),
    (["--shards-rate", "0.1", "--bytes"], "SHARDS sampling works in entries"),
])
def test_bad_shards_options_are_one_line(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mrc", *SRC, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
