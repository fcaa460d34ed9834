"""``simcache sweep``: run a sweep file (grid × replications) serially, on all cores, or on Dask."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simcache.sweeps.executors import EXECUTORS
from simcache.sweeps.spec import MAX_RUNS


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sweep", help="run a parameter sweep (grid × replications) and tabulate it",
        description="Run every point × replication of a sweep file, in parallel, storing each finished run at "
        "once: a sweep stopped at any moment and started again computes only the missing runs. Writes runs.csv, "
        "summary.csv (mean and 95% CI per point), metadata.json and the sweep's figures. Exit status 1 when "
        "some runs failed, 2 for a bad sweep file or argument.")
    p.add_argument("file", metavar="FILE", help="sweep file (TOML), e.g. my_sweep.toml, or the name of a shipped "
                   "one (smoke, tour, three_tier_crash, stampede_protections, ...: the files in experiments/)")
    p.add_argument("--executor", choices=EXECUTORS, default=None,
                   help="serial: this process; local: a process pool on all cores (default); dask: a Dask cluster "
                   "(the default when --scheduler is given)")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="processes (local) or local Dask workers (default: all cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: start a local cluster)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: results/NAME)")
    p.add_argument("--quick", action="store_true",
                   help="apply the file's [quick] overrides (fewer replications, shorter runs) into NAME-quick")
    p.add_argument("--retry-failed", action="store_true", help="run again the runs stored as failed")
    p.add_argument("--no-figures", action="store_true", help="skip the figures the sweep names")
    p.add_argument("--dry-run", action="store_true", help="validate the sweep and print its size, run nothing")
    p.add_argument("--max-runs", type=_positive_int, default=None, metavar="N",
                   help=f"refuse a sweep of more than N runs (default {MAX_RUNS:,}), checked before anything runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object describing the outcome")
    p.set_defaults(func=run)


def sweep_file(arg: str) -> str | Path:
    """A sweep file's path: ``arg`` itself when it is a file or looks like a path, else the shipped sweep named so."""
    from simcache.sweeps.run import experiment_path

    p = Path(arg)
    try:
        is_file = p.is_file()
    except (OSError, ValueError):  # a name too long for the OS, a NUL byte: load_sweep says so in one line
        return arg
    if is_file or p.suffix == ".toml" or len(p.parts) > 1 or len(arg) > 200 or "\0" in arg:
        return arg
    return experiment_path(arg)


def run(args: argparse.Namespace) -> int:
    from simcache.sweeps.run import run_sweep
    from simcache.sweeps.spec import load_sweep

    spec = load_sweep(sweep_file(args.file))
    max_runs = args.max_runs or MAX_RUNS
    spec.validate(max_runs)  # the whole file, its [quick] variant included, whichever of the two runs
    if args.quick:
        spec = spec.quick_variant()
    if args.dry_run:
        n_points = spec.n_points
        info = {"name": spec.name, "target": spec.target, "points": n_points, "replications": spec.replications,
                "runs": n_points * spec.replications, "axes": spec.axes}
        print(json.dumps(info) if args.json else
              f"sweep {spec.name}: target {spec.target}, {n_points} points × {spec.replications} replications "
              f"= {n_points * spec.replications} runs over {', '.join(spec.axes) or 'no axes'}")
        return 0
    if args.executor is None:
        args.executor = "dask" if args.scheduler else "local"
    result = run_sweep(spec, args.executor, out=args.out, workers=args.workers, scheduler=args.scheduler,
                       progress=not (args.quiet or args.json), retry_failed=args.retry_failed,
                       figures=not args.no_figures, max_runs=max_runs)
    out = result.out
    files = [out / "runs.csv", out / "summary.csv", out / "metadata.json", *result.figures]
    if args.json:
        print(json.dumps({
            "name": spec.name, "out": str(out), "runs": len(result.runs), "computed": result.computed,
            "reused": result.reused, "failed": len(result.failures), "wall_seconds": result.wall_seconds,
            "failures": result.failure_lines(limit=len(result.failures)), "files": [str(f) for f in files],
        }))
    else:
        print(f"sweep {spec.name}: {len(result.runs)} runs ({result.computed} computed, {result.reused} kept from "
              f"before) in {result.wall_seconds:.1f} s, {len(result.failures)} failed")
        table = results_table(result.summary)
        if table:
            print(table)
        print(f"results in {out}/: runs.csv, summary.csv, metadata.json"
              + (f", {len(result.figures)} figure files" if result.figures else ""))
    for line in result.metadata.get("figures_skipped", []):
        print(f"simcache sweep: figure not drawn: {line}", file=sys.stderr)
    if result.failures:
        print(f"simcache sweep: {len(result.failures)} of {len(result.runs)} runs failed:", file=sys.stderr)
        for line in result.failure_lines():
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def results_table(summary, limit: int = 12) -> str:  # type: ignore[no-untyped-def]
    """The first ``limit`` points: each axis value and each metric's mean ± 95 % CI half-width."""
    from simcache.cli._common import format_table
    from simcache.plots import summary_axes

    if summary is None or summary.empty or "metric" not in summary:
        return ""
    axes = summary_axes(summary)
    metrics = list(dict.fromkeys(summary["metric"]))[:4]
    rows = []
    for _point, g in summary.groupby("point", sort=True):
        first = g.iloc[0]
        row = {a: first[a] for a in axes}
        for m in metrics:
            got = g[g["metric"] == m]
            if not got.empty:
                mean, half = float(got["mean"].iloc[0]), float(got["ci_half"].iloc[0])
                fmt = ",.0f" if abs(mean) >= 1000 else ".4g"
                row[m] = f"{mean:{fmt}}" + (f" ± {half:{fmt if abs(half) >= 1000 else '.2g'}}"
                                            if half == half and half > 0 else "")
        rows.append(row)
    text = format_table(rows[:limit], axes + metrics)
    more = len(rows) - limit
    return text + (f"\n... {more} more points in summary.csv" if more > 0 else "")
