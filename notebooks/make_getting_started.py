"""Write notebooks/getting-started.ipynb (outputs empty) from the cells below: python notebooks/make_getting_started.py"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("md", """# Getting started with simcache

This notebook walks through the three things simcache is for:

1. **Replay** a trace through several eviction policies and compare their miss ratios.
2. **Simulate a system**: the three-tier reference model (application cache → Redis-like cache → database).
3. **Sweep** a grid of parameters with replications, in parallel, and draw the result with 95% confidence bands.

Every number comes from a seed, so running it again gives the same output.
Set the environment variable `SIMCACHE_QUICK=1` to shrink every step (the test suite does this)."""),
    ("code", """import os

import pandas as pd

QUICK = os.environ.get("SIMCACHE_QUICK") == "1"
SCALE = 0.05 if QUICK else 1.0  # fraction of the full-size workloads used below
print("quick mode" if QUICK else "full size")"""),
    ("md", """## 1. Replay: which policy misses least?

`SyntheticTrace` generates a Zipf workload (popular objects requested far more often than the rest);
`replay` runs it through each policy at each cache size and returns one result per (policy, size).
The same seed gives the same trace, so the policies are compared on exactly the same requests."""),
    ("code", """from simcache.replay import replay
from simcache.workloads import SyntheticTrace, WorkloadSpec

trace = SyntheticTrace(WorkloadSpec(kind="zipf", alpha=0.8, n_objects=10_000), n_requests=int(200_000 * SCALE), seed=1)
results = replay(trace, ["lru", "fifo", "s3fifo", "sieve"], [100, 1000], seed=1)
table = pd.DataFrame([r.as_dict() for r in results])[["policy", "size", "requests", "miss_ratio"]]
table.pivot(index="policy", columns="size", values="miss_ratio").round(4)"""),
    ("md", """Each row is a policy and each column a cache size (in entries). Lower is better: a scan-resistant
policy such as S3-FIFO or SIEVE usually beats LRU on a skewed workload, and FIFO trails."""),
    ("md", """## 2. A three-tier system

Models live in `models/` and are run by name with a dict of parameters and a seed. The summary is a
dict: latency percentiles, hit ratios per tier, database load, stale reads.
(`simcache models` lists them with their parameters.)"""),
    ("code", """from simcache.catalog import model_names, run_model

print("models:", ", ".join(model_names()))
summary = run_model("three-tier", {"duration": 20.0 * SCALE, "rate": 1000.0, "ttl": 30.0}, seed=7)
{k: summary[k] for k in ("sim_requests", "throughput", "latency_ms", "hit_ratio")}"""),
    ("md", """`latency_ms` holds the client-observed latency (mean and percentiles), `hit_ratio` the share of lookups
each cache tier answered. Change `ttl` or `rate` above and run the cell again to see them move.

Two more knobs: a dotted parameter sets an option of the caching strategy the app runs (`strategy.ttl`, the
TTL the seed's cache-aside gives Redis), and `faults` schedules failures, written as on the command line
(`simcache run three-tier --fault crash:redis@10+2`): here Redis crashes, loses its data and comes back 2 s
later (scaled down with the run in quick mode)."""),
    ("code", """crash = f"crash:redis@{10 * SCALE:g}+{2 * SCALE:g}"
faulty = run_model("three-tier", {"duration": 20.0 * SCALE, "rate": 1000.0, "strategy.ttl": 30}, seed=7,
                   faults=[crash])
{k: faulty[k] for k in ("outcomes", "errors", "faults", "stale_reads", "concurrent_reads")}"""),
    ("md", """The requests that needed Redis while it was down failed (`errors` says how), the others went on; the same
seed gives the same requests with and without the fault, so the difference is the fault's alone."""),
    ("md", """## 3. A small sweep with a figure

A sweep is data: a target, base parameters, a grid and replications, seeded from one root seed.
Here: four policies × four cache sizes × three replications. `common_random_numbers=True` replays the
same trace for every policy within a replication, so differences come from the policies, not from luck.
The same sweep could live in a TOML file under `experiments/` and run with `simcache sweep FILE`."""),
    ("code", """from simcache.sweeps import run_sweep, sweep

spec = sweep(
    "replay",
    base={"alpha": 0.8, "objects": 10_000, "requests": int(100_000 * SCALE)},
    grid={"policy": ["lru", "fifo", "s3fifo", "sieve"], "size": {"start": 10, "stop": 3000, "num": 4, "log": True}},
    replications=3,
    seed=2024,
    common_random_numbers=True,
    metrics=["miss_ratio"],
    name="getting-started",
)
result = run_sweep(spec, executor="local", workers=2, out="results/getting-started")
print(f"{len(result.runs)} runs, {len(result.failures)} failed, results in {result.out}")
result.summary.head()"""),
    ("md", """`result.runs` has one row per run (the tidy table, also in `runs.csv`); `result.summary` has the mean
and the 95% confidence interval (Student t) of each metric at each point. Run the cell again: nothing is
recomputed, the finished runs are read back from `results/getting-started/runs/`."""),
    ("code", """from simcache import plots

fig = plots.metric_vs_param(result.summary, "size", "miss_ratio", hue="policy", logx=True,
                            title="Miss ratio vs cache size (95% CI)")
plots.save_figure(fig, "results/getting-started/mrc")  # PNG and SVG
fig"""),
    ("md", """The bands are the 95% confidence intervals over the replications. Next steps: the sweeps in
`experiments/`, `simcache sweep --executor dask` to spread a big sweep over a cluster, and
`docs/experiments.md` for the sweep file format."""),
]


def build() -> nbformat.NotebookNode:
    """The notebook, cells in order, no outputs."""
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


if __name__ == "__main__":
    path = Path(__file__).resolve().parent / "getting-started.ipynb"
    nb = build()
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"wrote {path}")
