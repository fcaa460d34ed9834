"""Results of a simulation run: the summary dict, the tidy time series, JSON and DataFrames (figures: simcache.plots)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simcache.sim.metrics import to_json
from simcache.sim.world import World

__all__ = ["SimResult", "run_model_full", "summarize", "three_tier_figures", "tier_summary"]


@dataclass
class SimResult:
    """What a model run produced."""

    summary: dict[str, Any]
    timeseries: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["time", "component", "metric",
                                                                                  "value"]))
    world: World | None = None

    def summary_frame(self) -> pd.DataFrame:
        """The summary as a one-row DataFrame, nested sections flattened (``latency_ms.p99``,
        ``hit_ratio.redis``, ``tiers.app.evictions``); lists (faults, markers) as their length."""
        flat: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, Mapping):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            elif isinstance(value, list | tuple):
                flat[prefix] = len(value)
            else:
                flat[prefix] = value

        walk("", self.summary)
        return pd.DataFrame([flat])

    def timeseries_frame(self) -> pd.DataFrame:
        """The time series wide, one row per window (``time``: the window's start, s) and one column per
        ``component.metric``; latency quantiles in milliseconds as in the summary (``latency:all.p99_ms``)."""
        ts = self.timeseries
        if ts.empty:
            return pd.DataFrame(columns=["time"])
        wide = ts.pivot_table(index="time", columns=["component", "metric"], values="value", aggfunc="last")
        wide.columns = [f"{c}.{m}" for c, m in wide.columns]
        return wide.reset_index()

    def to_json(self) -> str:
        """The summary and the time series as one JSON object."""
        return to_json({"summary": self.summary, "timeseries": self.timeseries.to_dict(orient="list")})


def tier_summary(world: World, name: str) -> dict[str, Any]:
    """What one tier did over the measured span (after the warmup): hit ratio, lookups, reads it served."""
    rec = world.recorder
    c = rec.delta(name)
    hits = c.get("hits", 0.0)
    misses = c.get("misses", 0.0)
    out: dict[str, Any] = {}
    if hits + misses:
        out["hit_ratio"] = hits / (hits + misses)
        out["lookups"] = int(hits + misses)
    for k in ("commands", "evictions", "expired", "keys", "used_memory", "requests", "refused", "resets"):
        if k in c:
            out[k] = c[k] if k in ("used_memory",) else int(c[k])
    served = rec.total(name, "reads_served")
    if served:
        out["reads_served"] = int(served)
        for kind in ("stale", "concurrent", "dirty"):
            out[f"{kind}_reads"] = int(rec.total(name, f"{kind}_reads"))
    lost = rec.total(name, "writes_lost")
    if lost:
        out["writes_lost"] = int(lost)
    return out


def summarize(world: World, duration: float, clients: Sequence[Any], tiers: Sequence[str],
              db: Any | None = None) -> dict[str, Any]:
    """The standard summary of a system run (latency in milliseconds; every count after the warmup)."""
    rec = world.recorder
    ok = rec.total("client", "ok")
    span = max(duration - rec.warmup, 1e-12)
    summary: dict[str, Any] = {
        "sim_requests": int(sum(c.issued for c in clients)),
        "completed": int(sum(c.finished for c in clients)),
        "duration": duration,
        "throughput": ok / span,
        "outcomes": {k: int(rec.total("client", k)) for k in ("ok", "timeout", "error")},
        "latency_ms": rec.latency_summary("all"),
        "read_latency_ms": rec.latency_summary("read"),
        "write_latency_ms": rec.latency_summary("write"),
    }
    summary["tiers"] = {t: tier_summary(world, t) for t in tiers}
    summary["hit_ratio"] = {t: v["hit_ratio"] for t, v in summary["tiers"].items() if "hit_ratio" in v}
    if db is not None:
        c = rec.delta(db.name)
        summary["db"] = {
            "reads": int(c.get("reads", 0)), "writes": int(c.get("writes", 0)),
            "ops_per_s": c.get("commands", 0) / span,
            "utilization": c.get("busy", 0.0) / (db.workers * span),
            "mean_wait_ms": c.get("wait", 0.0) / max(c.get("commands", 0), 1) * 1000,
            "write_errors": int(c.get("write_errors", 0)),
        }
        if "qc_hits" in c:
            summary["db"]["query_cache_hit_ratio"] = c["qc_hits"] / max(c["qc_hits"] + c["qc_misses"], 1)
    summary["errors"] = {k[1]: int(v) for k, v in rec.totals.items() if k[0] == "errors"}
    for kind in ("stale", "concurrent", "dirty", "empty"):
        summary[f"{kind}_reads"] = int(rec.total("client", f"{kind}_reads"))
    summary["stale_age_ms"] = {"p50": rec.stale_age.quantile(0.5) * 1000,
                               "p99": rec.stale_age.quantile(0.99) * 1000} if rec.stale_age.total else {}
    summary["writes_lost"] = int(sum(v for k, v in rec.totals.items() if k[1] == "writes_lost"))
    summary["late_commits"] = int(world.oracle.late_commits)
    summary["late_replies"] = int(sum(getattr(c, "late", 0) for c in clients))
    summary["faults"] = list(world.faults_applied)
    summary["markers"] = rec.markers()
    return summary


def run_model_full(name: str, params: Mapping[str, Any] | None = None, seed: int = 0,
                   faults: Any = ()) -> SimResult:
    """Run a model by name and return its full result (summary with ``wall_seconds``, time series).

    Models that define ``simulate(params, seed, options=None, faults=None) -> SimResult`` next to
    their ``run`` give a time series; the others give the summary only.
    """
    from simcache.catalog import call_model, get_model

    spec = get_model(name)
    t0 = time.perf_counter()
    module = sys.modules.get(spec.source)
    simulate = getattr(module, "simulate", None)
    if simulate is None:
        result = SimResult(dict(call_model(spec, params, seed, faults)))
    else:
        plain, opts = spec.split(params)
        p = spec.make_params(plain)
        kw: dict[str, Any] = {}
        if spec.options:
            kw["options"] = opts
        if spec.faults:
            kw["faults"] = list(faults or ())
        elif faults:
            from simcache.errors import UsageError

            raise UsageError(f"model {name!r} takes no fault schedule")
        result = simulate(p, int(seed), **kw)
    result.summary.setdefault("model", name)
    result.summary.setdefault("seed", int(seed))
    result.summary["wall_seconds"] = time.perf_counter() - t0
    return result


def three_tier_figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """Latency and per-tier hit-ratio figures (PNG) of a system run; drawn by
    :func:`simcache.plots.three_tier_figures`."""
    from simcache.plots import three_tier_figures as draw

    return draw(result, out_dir)
