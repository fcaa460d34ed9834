"""From run records to tables: the tidy per-run table and the per-point mean with a 95% CI.

The per-run table has one row per point × replication: ``point``,
``replication``, ``seed``, the point's parameters, ``status``, ``error`` and
one column per metric (nested summary keys flattened with dots).  Timing
numbers are left out of it -- they live in each run's file -- so the same root
seed gives the same table whatever the executor and however often the sweep
was interrupted.

The summary has one row per point × metric: ``n``, ``mean``, ``std``,
``ci_low``/``ci_high`` (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n, Student t from scipy) and
``ci_half``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: columns every per-run table starts with
ID_COLUMNS = ("point", "replication", "seed")
STATUS_COLUMNS = ("status", "error")
#: summary keys that measure the machine, not the model: kept in run files, never in the table
TIMING_KEYS = frozenset({"seconds", "wall_seconds", "wall_time", "elapsed", "elapsed_seconds", "requests_per_second"})


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> tuple[int, float, float, float]:
    """``(n, mean, std, half_width)`` of a Student-t confidence interval; NaNs are ignored.

    Args:
        values: the replications' values of one metric at one point.
        confidence: the two-sided level (0.95: a 95% interval).
    """
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n == 1:
        return 1, mean, math.nan, math.nan
    from scipy import stats  # imported here: scipy.stats costs most of a second at start-up

    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return n, mean, std, half


def runs_table(records: Iterable[Mapping[str, Any]], param_names: Sequence[str]) -> pd.DataFrame:
    """The tidy per-run table, sorted by (point, replication).

    Args:
        records: run records (as stored in the run files).
        param_names: the sweep's parameters, in column order.
    """
    rows = []
    reserved = set(ID_COLUMNS) | set(STATUS_COLUMNS) | set(param_names) | {"model"}
    for rec in records:
        row: dict[str, Any] = {k: rec[k] for k in ID_COLUMNS}
        params = rec.get("params", {})
        for k in param_names:
            v = params.get(k)
            row[k] = tuple(v) if isinstance(v, list) else v
        row["status"] = rec.get("status", "error")
        row["error"] = rec.get("error") or ""
        for k, v in (rec.get("metrics") or {}).items():
            if k in TIMING_KEYS or k.endswith(".wall_seconds"):
                continue
            if k in reserved:
                # a summary echoing its inputs (policy, size, seed) adds nothing; a differing value is kept apart
                if k in row and _same(row[k], v):
                    continue
                if k == "model":
                    continue
                k = f"result.{k}"
            row[k] = tuple(v) if isinstance(v, list) else v
        rows.append(row)
    columns = list(ID_COLUMNS) + list(param_names) + list(STATUS_COLUMNS)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=columns)
    metric_cols = sorted(c for c in df.columns if c not in columns)
    df = df.reindex(columns=columns + metric_cols)
    return df.sort_values(["point", "replication"], kind="stable").reset_index(drop=True)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) or (isinstance(a, tuple) and list(a) == b)
    except (TypeError, ValueError):
        return False


def metric_columns(runs: pd.DataFrame, param_names: Sequence[str]) -> list[str]:
    """The numeric metric columns of a per-run table (booleans count as 0/1)."""
    fixed = set(ID_COLUMNS) | set(STATUS_COLUMNS) | set(param_names)
    out = []
    for c in runs.columns:
        if c in fixed:
            continue
        col = runs[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            out.append(c)
    return out


def summarize(runs: pd.DataFrame, axes: Sequence[str], param_names: Sequence[str] | None = None,
              metrics: Sequence[str] = (), confidence: float = 0.95) -> pd.DataFrame:
    """Mean and Student-t confidence interval per point and metric (failed runs excluded).

    Args:
        runs: the per-run table.
        axes: the parameters that vary (kept as columns of the summary).
        param_names: every parameter column of ``runs`` (default: ``axes``).
        metrics: the metrics to summarise (default: every numeric one).
        confidence: the two-sided level of the interval.
    """
    params = list(param_names or axes)
    cols = list(metrics) or metric_columns(runs, params)
    out_cols = ["point", *axes, "metric", "n", "mean", "std", "ci_low", "ci_high", "ci_half"]
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    rows = []
    for point, group in ok.groupby("point", sort=True):
        first = group.iloc[0]
        for m in cols:
            if m not in group:
                continue
            n, mean, std, half = mean_ci(pd.to_numeric(group[m], errors="coerce").astype(float))
            rows.append({"point": int(point), **{a: first[a] for a in axes}, "metric": m, "n": n, "mean": mean,
                         "std": std, "ci_low": mean - half, "ci_high": mean + half, "ci_half": half})
    return pd.DataFrame(rows, columns=out_cols)
