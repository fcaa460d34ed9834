"""Tables: the tidy per-run table, and mean with a Student-t 95% CI per point."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simcache.sweeps.aggregate import mean_ci, metric_columns, runs_table, summarize


def test_mean_ci_hand_worked() -> None:
    # values 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.3027 (tables), half-width 4.3027 / sqrt(3) = 2.4841
    n, mean, std, half = mean_ci([1.0, 2.0, 3.0])
    assert (n, mean, std) == (3, 2.0, 1.0)
    assert half == pytest.approx(2.4841, abs=1e-4)
    # 10 values 0..9: s = 3.02765, t(0.975, 9) = 2.2622, half = 2.2622 * 3.02765 / sqrt(10) = 2.1659
    assert mean_ci(range(10))[3] == pytest.approx(2.1659, abs=1e-4)


def test_mean_ci_edge_cases() -> None:
    assert mean_ci([])[0] == 0 and math.isnan(mean_ci([])[1])
    n, mean, std, half = mean_ci([4.0])
    assert (n, mean) == (1, 4.0) and math.isnan(std) and math.isnan(half)
    assert mean_ci([1.0, float("nan"), 3.0])[:2] == (2, 2.0)  # NaNs are skipped, not counted
    assert mean_ci([5.0, 5.0, 5.0])[3] == 0.0


def test_ci_covers_the_true_mean_95_percent_of_the_time() -> None:
    # 4000 samples of n = 5 normal draws: a z interval (1.96) would cover only ~88%, the t interval 95%
    rng = np.random.default_rng(2024)
    samples = rng.normal(3.0, 2.0, size=(4000, 5))
    covered = 0
    for row in samples:
        _, mean, _, half = mean_ci(row)
        covered += abs(mean - 3.0) <= half
    rate = covered / len(samples)
    assert 0.935 <= rate <= 0.965, rate  # +-4.4 binomial standard deviations


def _rec(point: int, rep: int, status: str = "ok", **metrics: object) -> dict:
    return {"point": point, "replication": rep, "seed": 100 + rep, "params": {"policy": "lru", "size": [1, 2][point]},
            "status": status, "error": None if status == "ok" else "boom", "metrics": metrics}


def test_runs_table_is_tidy_sorted_and_drops_timings_and_echoes() -> None:
    recs = [
        _rec(1, 0, miss=0.5, seconds=9.9, wall_seconds=1.0, policy="lru", size=2),
        _rec(0, 1, "ok", miss=0.7, **{"tier.l1": 3}),
        _rec(0, 0, miss=0.8, size=7),  # a summary disagreeing with its input is kept apart, not dropped
    ]
    df = runs_table(recs, ["policy", "size"])
    assert list(df[["point", "replication"]].itertuples(index=False, name=None)) == [(0, 0), (0, 1), (1, 0)]
    assert list(df.columns[:7]) == ["point", "replication", "seed", "policy", "size", "status", "error"]
    assert "seconds" not in df and "wall_seconds" not in df
    assert df.loc[0, "result.size"] == 7 and math.isnan(df.loc[2, "result.size"])
    assert df.loc[1, "tier.l1"] == 3
    assert metric_columns(df, ["policy", "size"]) == ["miss", "result.size", "tier.l1"]


def test_summary_excludes_failed_runs() -> None:
    recs = [_rec(0, r, miss=v) for r, v in enumerate([0.1, 0.2, 0.3])] + [_rec(0, 3, status="error")]
    recs += [_rec(1, 0, miss=0.4)]
    df = runs_table(recs, ["policy", "size"])
    s = summarize(df, ["size"], ["policy", "size"])
    row0 = s[(s.point == 0) & (s.metric == "miss")].iloc[0]
    assert row0["n"] == 3 and row0["mean"] == pytest.approx(0.2)
    assert row0["ci_high"] - row0["ci_low"] == pytest.approx(2 * mean_ci([0.1, 0.2, 0.3])[3])
    row1 = s[(s.point == 1) & (s.metric == "miss")].iloc[0]
    assert row1["n"] == 1 and math.isnan(row1["ci_half"]) and row1["size"] == 2
    assert isinstance(s, pd.DataFrame) and set(s.metric) == {"miss"}
