"""Write notebooks/getting-started.ipynb from the cells below and execute it, so that it is stored with its
outputs (it reads on a static renderer): python notebooks/make_getting_started.py [--no-execute]"""

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
table = results.to_frame()  # one row per (policy, size)
table.pivot(index="policy", columns="size", values="miss_ratio").round(4)"""),
    ("md", """Each row is a policy and each column a cache size (in entries). Lower is better: a scan-resistant
policy such as S3-FIFO or SIEVE usually beats LRU on a skewed workload, and FIFO trails."""),
    ("md", """A trace file replays the same way. The tests and the tour read the real traces in `../shared/traces/`
(a folder beside the repository; more in libCacheSim's public trace collections); without them this cell
says so and goes on."""),
    ("code", """from pathlib import Path

candidates = [Path(base) / "shared" / "traces" / "lirs_loop.trace.gz" for base in ("..", "../..", "../../..")]
path = next((p for p in candidates if p.is_file()), None)
if path is None:
    print("no real traces here (looked for ../shared/traces/lirs_loop.trace.gz): skipped")
else:
    loop = replay(str(path), ["lru", "lirs", "arc"], ["10%"], seed=1).to_frame()
    print(loop[["policy", "size", "requests", "miss_ratio"]].round(4).to_string(index=False))"""),
    ("md", """## 2. A three-tier system

Models live in `models/` and are run by name with a dict of parameters and a seed.
`run_model_full` returns the summary and the windowed time series; both come as DataFrames
(`simcache.model_names()` lists the models, `simcache models three-tier` the parameters with their units)."""),
    ("code", """from simcache import run_model, run_model_full

result = run_model_full("three-tier", {"duration": 20.0 * SCALE, "rate": 1000.0, "ttl": 30.0}, seed=7)
cols = ["sim_requests", "throughput", "latency_ms.p50", "latency_ms.p99", "hit_ratio.app", "hit_ratio.redis"]
result.summary_frame()[cols].round(3)"""),
    ("code", """from simcache import plots

series = result.timeseries_frame()  # one row per 1 s window, latency in ms as in the summary
fig = plots.latency_over_time(result)
plots.save_figure(fig, "results/three-tier-latency")  # PNG and SVG
fig"""),
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

grid = {"policy": ["lru", "fifo", "s3fifo", "sieve"], "size": {"start": 10, "stop": 3000, "num": 4, "log": True}}
spec = sweep(
    "replay",
    base={"alpha": 0.8, "objects": 10_000, "requests": int(100_000 * SCALE)},
    grid=grid,
    replications=3,
    seed=2024,
    common_random_numbers=True,
    metrics=["miss_ratio"],
    name="getting-started",
)
# one folder per grid: edit the grid and the runs go to a new folder instead of clashing with the old ones
result = run_sweep(spec, executor="local", workers=2, out=f"results/getting-started-{spec.fingerprint()[:8]}",
                   progress=False)
print(f"{len(result.runs)} runs, {len(result.failures)} failed")
result.summary.head()"""),
    ("md", """`result.runs` has one row per run (the tidy table, also in `runs.csv`); `result.summary` has the mean
and the 95% confidence interval (Student t) of each metric at each point. Run the cell again: nothing is
recomputed, the finished runs are read back from the sweep's folder. Change the grid and it goes to a
fresh folder (named after the grid), so an edited sweep never meets the runs of the old one."""),
    ("code", """from simcache import plots

fig = plots.metric_vs_param(result.summary, "size", "miss_ratio", hue="policy", logx=True,
                            title="Miss ratio vs cache size (95% CI)")
plots.save_figure(fig, result.out / "mrc")  # PNG and SVG
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


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in ``cwd`` (full size) and keep the outputs; progress bars and timings are left out."""
    import nbclient

    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                            ).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            cell.metadata.pop("execution", None)
    return nb


if __name__ == "__main__":
    import os
    import sys
    import tempfile

    path = Path(__file__).resolve().parent / "getting-started.ipynb"
    nb = build()
    if "--no-execute" not in sys.argv:
        os.environ.setdefault("SIMCACHE_PROGRESS", "0")
        # a scratch folder two levels below the repository's parent, as notebooks/ is: the trace cell finds
        # ../../shared/traces from there as from notebooks/
        scratch = path.parent.parent / "build"
        scratch.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            nb = execute(nb, Path(tmp))
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"wrote {path}")
