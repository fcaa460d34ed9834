"""``simcache tour``: compare every eviction policy on synthetic and real traces, with theory and figures.

The tour is a list of small steps (:data:`STEPS`) sharing one :class:`Tour`
state: replay the synthetic Zipf workloads, replay each real trace found in
``../shared/traces``, compute the analytic Che/FIFO predictions, then write
the tidy tables and the figures and print a summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simcache.cli._common import one_line_errors
from simcache.errors import SimcacheError, UsageError
from simcache.replay import ENGINES, replay, resolve_sizes, trace_stats
from simcache.traces.base import Chunk, TraceSource

#: the real traces of ../shared/traces the tour replays when present
REAL_TRACES = (
    "lirs_multi2.trace.gz",
    "lirs_sprite.trace.gz",
    "lirs_loop.trace.gz",
    "lirs_2_pools.trace.gz",
    "lirs_ps.trace.gz",
    "lirs_zigzag.trace.gz",
    "cache2k_web07.trace.xz",
    "cloudphysics_io.oracleGeneral.bin",
)
#: the offline optimum: shown as the bound, never as a contender
BOUND = "belady"
CSV_COLUMNS = ["trace", "policy", "size", "size_fraction", "requests", "hits", "misses", "miss_ratio",
               "byte_miss_ratio", "seconds", "engine", "offline"]
THEORY_COLUMNS = ["trace", "policy", "model", "size", "size_fraction", "hit_ratio", "miss_ratio"]


@dataclass(frozen=True)
class TourConfig:
    """What the tour replays.

    Attributes:
        out: output folder.
        alphas: Zipf exponents of the synthetic workloads.
        objects: distinct objects of the synthetic workloads.
        requests: requests of each synthetic workload.
        fractions: cache sizes as fractions of the distinct objects.
        real_limit: replay at most this many requests of each real trace (None: all).
        real_traces: names of the real traces to look for.
        engine: replay engine (auto, fast, reference).
        seed: root seed.
        jobs: worker processes (1: replay in this process).
        small: run the sweeps and system models on their small variants (set by :meth:`quick`).
    """

    out: Path
    alphas: tuple[float, ...] = (0.8, 1.0)
    objects: int = 100_000
    requests: int = 1_000_000
    fractions: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)
    real_limit: int | None = None
    real_traces: tuple[str, ...] = REAL_TRACES
    engine: str = "auto"
    seed: int = 0
    jobs: int = 1
    small: bool = False

    def __post_init__(self) -> None:
        if not self.alphas or any(a < 0 for a in self.alphas):
            raise UsageError(f"alphas must be a non-empty list of exponents >= 0, got {self.alphas}")
        if self.objects < 1 or self.requests < 1:
            raise UsageError(f"objects and requests must be >= 1, got {self.objects} and {self.requests}")
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise UsageError(f"fractions must be in (0, 1], got {self.fractions}")
        if self.jobs < 1:
            raise UsageError(f"jobs must be >= 1, got {self.jobs}")
        if self.engine not in ENGINES:
            raise UsageError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")

    @classmethod
    def quick(cls, out: Path, engine: str = "auto", jobs: int = 1) -> TourConfig:
        """A small tour (seconds, not minutes): smaller workloads, two sizes, the first requests of two traces."""
        return cls(out=out, objects=2_000, requests=20_000, fractions=(0.01, 0.1), real_limit=10_000,
                   real_traces=("lirs_multi2.trace.gz", "cloudphysics_io.oracleGeneral.bin"), engine=engine,
                   jobs=jobs, small=True)


@dataclass(frozen=True)
class SourceRecipe:
    """How to open one tour trace (picklable, so worker processes can open it themselves).

    Attributes:
        alpha: Zipf exponent of a synthetic workload (None for a file).
        objects: synthetic catalogue size.
        requests: synthetic trace length.
        seed: synthetic seed.
        path: trace file (None for a synthetic workload).
        limit: replay only the first ``limit`` requests of the file.
    """

    alpha: float | None = None
    objects: int = 0
    requests: int = 0
    seed: int = 0
    path: str | None = None
    limit: int | None = None

    def open(self) -> TraceSource:
        """A fresh source over the trace."""
        if self.path is None:
            from simcache.replay import source_from_args

            return source_from_args(synthetic="zipf", alpha=self.alpha, objects=self.objects, requests=self.requests,
                                    seed=self.seed)
        from simcache.traces import open_trace

        src: TraceSource = open_trace(self.path)
        return _Head(src, self.limit) if self.limit is not None else src


@dataclass
class Workload:
    """One trace of the tour and what was learnt about it."""

    name: str
    recipe: SourceRecipe
    distinct: int
    sizes: list[int]
    alpha: float | None = None
    mrc: tuple[Any, Any] | None = None
    seconds: float = 0.0


@dataclass
class Tour:
    """State the steps share."""

    config: TourConfig
    policies: list[str]
    workloads: list[Workload] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    theory: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    log: Callable[[str], None] = print
    #: progress bars: None shows them in a terminal or a notebook (simcache.progress)
    progress: bool | None = None
    #: the command line, recorded in metadata.json
    argv: list[str] = field(default_factory=list)


class _Head:
    """The first ``limit`` requests of a source."""

    def __init__(self, source: TraceSource, limit: int) -> None:
        self.source, self.limit = source, limit
        self.name = source.name

    def iter_chunks(self) -> Iterator[Chunk]:
        left = self.limit
        for chunk in self.source.iter_chunks():
            if left <= 0:
                return
            if len(chunk) > left:
                cut = [None if a is None else a[:left] for a in (chunk.sizes, chunk.times, chunk.next_access, chunk.ops)]
                chunk = Chunk(chunk.ids[:left], *cut)
            left -= len(chunk)
            yield chunk


def find_traces_dir() -> Path | None:
    """``../shared/traces`` relative to the project root, else to the current folder."""
    import simcache

    root = Path(simcache.__file__).resolve().parent.parent
    for base in (root, Path.cwd()):
        candidate = (base / ".." / "shared" / "traces").resolve()
        if candidate.is_dir():
            return candidate
    return None


# ------------------------------------------------------------------ steps
def _add_workload(tour: Tour, name: str, recipe: SourceRecipe, alpha: float | None = None) -> Workload:
    stats = trace_stats(recipe.open())
    sizes = sorted(set(resolve_sizes([f"{100 * f:g}%" for f in tour.config.fractions], stats.distinct)))
    w = Workload(name, recipe, stats.distinct, sizes, alpha)
    tour.workloads.append(w)
    tour.log(f"  {name}: {stats.requests:,} requests over {stats.distinct:,} objects")
    return w


def step_synthetic(tour: Tour) -> None:
    """Add the synthetic Zipf workloads."""
    c = tour.config
    tour.log(f"synthetic Zipf workloads ({c.objects:,} objects, {c.requests:,} requests):")
    for alpha in c.alphas:
        _add_workload(tour, f"zipf{alpha:.1f}", SourceRecipe(alpha, c.objects, c.requests, c.seed), alpha)


def step_real_traces(tour: Tour) -> None:
    """Add each real trace found in ../shared/traces."""
    folder = find_traces_dir()
    tour.log("real traces" + (f" ({folder}):" if folder else ":"))
    for name in tour.config.real_traces:
        path = folder / name if folder else None
        if path is None or not path.is_file():
            tour.log(f"  skipped: {name} not found (looked for ../shared/traces from the project root and from here)")
            continue
        try:
            _add_workload(tour, name.split(".")[0], SourceRecipe(path=str(path), limit=tour.config.real_limit))
        except SimcacheError as err:
            tour.log(f"  skipped: {name}: {err}")


def _replay_task(recipe: SourceRecipe, policies: list[str], sizes: list[int], engine: str,
                 seed: int) -> list[dict[str, Any]]:
    # Belady with bypass: the bound for demand caches and admission-filtering ones (W-TinyLFU, LIRS) alike
    params = {BOUND: {"bypass": True}} if BOUND in policies else None
    return [r.as_dict() for r in replay(recipe.open(), policies, sizes, engine=engine, seed=seed, params=params)]


def _mrc_task(recipe: SourceRecipe) -> tuple[Any, Any] | None:
    try:
        from simcache.mrc import exact_lru_mrc
    except ImportError:
        return None
    return exact_lru_mrc(recipe.open(), bytes_mode=False)


def step_replay(tour: Tour) -> None:
    """Replay every policy at every size on every workload (one task per workload and policy), and each exact MRC."""
    c = tour.config
    t0 = time.perf_counter()
    tasks = [(w, [p]) for w in tour.workloads for p in tour.policies]
    pool = ProcessPoolExecutor(c.jobs, mp_context=multiprocessing.get_context("spawn")) if c.jobs > 1 else None
    from simcache.progress import progress_bar

    bar = progress_bar(len(tasks) + len(tour.workloads), "replay", unit="task", enabled=tour.progress)
    try:
        def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
            if pool is not None:
                return pool.submit(fn, *args)
            done: Future[Any] = Future()
            done.set_result(fn(*args))
            bar.update(1)  # in this process: the bar moves as each task runs
            return done

        # the longest tasks first keeps both cores busy to the end
        tasks.sort(key=lambda t: -t[0].recipe.requests)
        futures = [(w, submit(_replay_task, w.recipe, ps, w.sizes, c.engine, c.seed)) for w, ps in tasks]
        mrcs = [(w, submit(_mrc_task, w.recipe)) for w in tour.workloads]
        by_name: dict[str, list[dict[str, Any]]] = {w.name: [] for w in tour.workloads}
        for w, fut in futures:
            by_name[w.name].extend(fut.result())
            if pool is not None:
                bar.update(1)
        for w, fut in mrcs:
            w.mrc = fut.result()
            if pool is not None:
                bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    order = {p: i for i, p in enumerate(tour.policies)}
    for w in tour.workloads:
        for r in sorted(by_name[w.name], key=lambda r: (order[r["policy"]], r["size"])):
            tour.rows.append({
                "trace": w.name, "policy": r["policy"], "size": r["size"], "size_fraction": r["size"] / w.distinct,
                "requests": r["requests"], "hits": r["hits"], "misses": r["misses"], "miss_ratio": r["miss_ratio"],
                "byte_miss_ratio": r["byte_miss_ratio"], "seconds": r["seconds"], "engine": r["engine"],
                "offline": r["policy"] == BOUND,
            })
    engines = sorted({r["engine"] for r in tour.rows})
    tour.log(f"replayed {len(tour.rows)} (trace, policy, size) cells on {c.jobs} process(es) in "
             f"{time.perf_counter() - t0:.1f} s (engines: {', '.join(engines)})")


def step_theory(tour: Tour) -> None:
    """Che (LRU) and FIFO predictions for the synthetic workloads, at the replayed sizes."""
    try:
        from simcache.cli.theory import theory_rows
        rows_for = [(w, theory_rows(w.alpha, tour.config.objects, w.sizes, ["lru", "fifo"]))
                    for w in tour.workloads if w.alpha is not None]
    except ImportError as err:
        tour.log(f"theory: skipped ({err})")
        return
    for w, rows in rows_for:
        for row in rows:
            tour.theory.append({"trace": w.name, "size_fraction": row["size"] / tour.config.objects, **row})


def step_write_tables(tour: Tour) -> None:
    """Write replay.csv, replay.json and theory.csv."""
    out = tour.config.out
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "replay.csv", CSV_COLUMNS, tour.rows)
    (out / "replay.json").write_text(json.dumps(tour.rows, indent=1))
    tour.files += [out / "replay.csv", out / "replay.json"]
    if tour.theory:
        _write_csv(out / "theory.csv", THEORY_COLUMNS, tour.theory)
        tour.files.append(out / "theory.csv")


def step_figures(tour: Tour) -> None:
    """mrc_<trace>.png (exact LRU curve, LRU and FIFO theory as lines, LRU/FIFO/Belady replayed) and
    policies_<trace>.png (every policy, grouped into panels, Belady as the black dashed bound)."""
    from simcache.plots import mrc_figure, replay_figure, save_as

    out = tour.config.out
    for w in tour.workloads:
        points = {}
        for policy in tour.policies:
            rows = [r for r in tour.rows if r["trace"] == w.name and r["policy"] == policy]
            points[policy] = ([r["size"] for r in rows], [r["miss_ratio"] for r in rows])
        theory = _theory_lines(tour, w)
        curve = w.mrc if w.mrc is not None else (None, None)
        note = "" if w.mrc is not None else " (exact MRC unavailable)"
        what = (f"Zipf(α={w.alpha:g}), {tour.config.objects:,} objects, {tour.config.requests:,} requests"
                if w.alpha is not None else f"{w.name}, {w.distinct:,} objects")
        shown = {p: points[p] for p in ("lru", "fifo", BOUND) if p in points}
        tour.files.append(save_as(mrc_figure(*curve, points=shown, theory=theory,
                                             title=f"{what}: exact LRU MRC{note}"), out / f"mrc_{w.name}.png"))
        tour.files.append(save_as(replay_figure(points, theory=theory, mrc=w.mrc,
                                                title=f"{what}: miss ratio by policy"),
                                  out / f"policies_{w.name}.png"))


def _theory_lines(tour: Tour, w: Workload) -> dict[str, tuple[list[int], list[float]]]:
    """Che (LRU) and the FIFO approximation on 48 log-spaced sizes from 1 to the catalogue: a line."""
    if w.alpha is None or not w.sizes:
        return {}
    import numpy as np

    from simcache.cli.theory import theory_rows

    grid = sorted({int(round(v)) for v in np.geomspace(1, tour.config.objects, 48)})
    rows = theory_rows(w.alpha, tour.config.objects, grid, ["lru", "fifo"])
    out: dict[str, tuple[list[int], list[float]]] = {}
    for policy, label in (("lru", "Che (LRU theory)"), ("fifo", "FIFO theory")):
        got = [r for r in rows if r["policy"] == policy]
        out[label] = ([r["size"] for r in got], [r["miss_ratio"] for r in got])
    return out


def _tie_label(tied: list[str]) -> str:
    """``3-way tie (lru, clock, sieve)``; long lists name the first four."""
    names = ", ".join(tied[:4]) + (f", +{len(tied) - 4} more" if len(tied) > 4 else "")
    return f"{len(tied)}-way tie ({names})"


def step_summary(tour: Tour) -> None:
    """Print the best online policy per size, beside LRU, the offline bound and theory."""
    theory = {(t["trace"], t["policy"], t["size"]): t["miss_ratio"] for t in tour.theory}
    tour.log("")
    tour.log("best online policy per cache size (miss ratio; lower is better):")
    for w in tour.workloads:
        tour.log(f"  {w.name}")
        for size in w.sizes:
            rows = {r["policy"]: r for r in tour.rows if r["trace"] == w.name and r["size"] == size}
            online = [r for p, r in rows.items() if p != BOUND]
            best = min(online, key=lambda r: r["miss_ratio"])
            tied = [r["policy"] for r in online if r["miss_ratio"] == best["miss_ratio"]]
            label = best["policy"] if len(tied) == 1 else _tie_label(tied)
            line = f"    size {size:>7,} ({size / w.distinct:6.2%}): best {label:<10} {best['miss_ratio']:.4f}"
            for p in ("lru", "fifo"):
                if p in rows:
                    line += f"  {p} {rows[p]['miss_ratio']:.4f}"
                    if (w.name, p, size) in theory:
                        line += f" (theory {theory[(w.name, p, size)]:.4f})"
            if BOUND in rows:
                line += f"  {BOUND} {rows[BOUND]['miss_ratio']:.4f}"
            tour.log(line)
    tour.log("")
    tour.log(f"wrote {len(tour.files)} files to {tour.config.out}/: "
             + ", ".join(sorted({f.name for f in tour.files if f.suffix != '.png'})) + ", and figures")


def step_sweeps(tour: Tour) -> None:
    """Run the tour's sweeps (experiments/tour.toml, three_tier_ttl.toml, three_tier_crash.toml): replications,
    CIs and figures; the last one sweeps a strategy option with a Redis crash in every run."""
    from simcache.catalog import load_models
    from simcache.progress import progress_wanted
    from simcache.sweeps import run_experiment

    names = ["tour"] + (["three_tier_ttl", "three_tier_crash"] if "three-tier" in load_models() else [])
    for name in names:
        res = run_experiment(name, quick=tour.config.small, executor="local" if tour.config.jobs > 1 else "serial",
                             workers=tour.config.jobs, out_root=tour.config.out / "sweeps",
                             progress=progress_wanted(tour.progress))
        tour.files += [res.out / "runs.csv", res.out / "summary.csv", *res.figures]
        tour.log(f"sweep {res.spec.name}: {len(res.runs)} runs ({len(res.failures)} failed) -> {res.out}")
        for line in res.failure_lines():
            tour.log(f"  {line}")


def step_systems(tour: Tour) -> None:
    """Simulate the three-tier and hierarchy models; write their summaries and latency/hit-ratio figures."""
    from simcache.plots import hierarchy_figures, latency_cdf_figure, save_as, three_tier_figures, timeline
    from simcache.sim.report import SimResult, run_model_full

    out = tour.config.out / "systems"
    out.mkdir(parents=True, exist_ok=True)
    small = tour.config.small
    # a 5 s run is shorter than the hierarchy's TTLs: the small tour shrinks its TTL ladder with it, so that
    # every tier still catches what expired above it (docs/tiers.md)
    params: dict[str, dict[str, Any]] = {
        "three-tier": {"duration": 5.0 if small else 60.0},
        "hierarchy": {"duration": 5.0, "browser_ttl": 6.0, "cdn_ttl": 0.5, "lb_ttl": 1.5, "app_ttl": 3.0,
                      "cache_ttl": 60} if small else {"duration": 60.0},
    }
    runs: dict[str, SimResult] = {}
    for name, figures in (("three-tier", three_tier_figures), ("hierarchy", hierarchy_figures)):
        result = run_model_full(name, params[name], seed=tour.config.seed)
        runs[name] = result
        stem = name.replace("-", "_")
        (out / f"{stem}.json").write_text(result.to_json())
        # one row per window, latency in ms as in the summary (the JSON keeps the tidy table, in seconds)
        result.timeseries_frame().to_csv(out / f"{stem}_timeseries.csv", index=False)
        written = [*figures(result, out / stem)]
        if figures is hierarchy_figures:  # three_tier_figures draws its own timeline
            written.append(save_as(timeline(result), out / stem / "timeline.png"))
        tour.files += [out / f"{stem}.json", out / f"{stem}_timeseries.csv", *map(Path, written or [])]
        s = result.summary
        lat = s.get("latency_ms", {})
        ratios = ", ".join(f"{t} {r:.2f}" for t, r in s.get("hit_ratio", {}).items())
        tour.log(f"{name}: {s.get('sim_requests', 0):,} simulated requests in {s.get('wall_seconds', 0):.1f} s wall; "
                 + ", ".join(f"{q.replace('_', '.')} {lat[q]:.1f} ms" for q in ("p50", "p99", "p99_9") if q in lat)
                 + (f"; hit ratio {ratios}" if ratios else "")
                 + f"; {s.get('stale_reads', 0):,} stale and {s.get('concurrent_reads', 0):,} concurrent reads")
    # the same three-tier run with Redis crashing a fifth of the way in, for 10 % of the run: its timeline
    # shows the fault, and the CDFs compare the configurations' latency over the whole run
    base = runs["three-tier"]
    duration = float(base.summary.get("duration", params["three-tier"]["duration"]))
    crash = f"crash:redis@{duration / 5:g}+{duration / 10:g}"
    crashed = run_model_full("three-tier", params["three-tier"], seed=tour.config.seed, faults=[crash])
    tour.files += three_tier_figures(crashed, out / "three_tier_crash")
    hits = ", ".join(f"{t} {r:.2f}" for t, r in crashed.summary.get("hit_ratio", {}).items())
    tour.log(f"three-tier with {crash}: {crashed.summary['outcomes']}; hit ratio {hits}")
    cdf = latency_cdf_figure({"three-tier": base, f"three-tier, {crash}": crashed, "hierarchy": runs["hierarchy"]},
                             title=f"End-to-end latency CDF per configuration ({duration:g} s simulated, "
                                   f"seed {tour.config.seed})")
    tour.files.append(save_as(cdf, out / "latency_cdf.png"))


def step_metadata(tour: Tour) -> None:
    """metadata.json: how the results were made (versions, seed, command line, configuration, traces)."""
    import importlib.metadata
    import platform
    import sys

    versions = {"python": platform.python_version()}
    for name in ("simcache", "numpy", "numba", "scipy", "simpy", "pandas", "matplotlib"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    c = tour.config
    config = {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
              for k, v in c.__dict__.items()}
    meta = {
        "command": tour.argv or sys.argv,
        "seed": c.seed,
        "config": config,
        "versions": versions,
        "policies": tour.policies,
        "workloads": [{"name": w.name, "distinct": w.distinct, "sizes": w.sizes,
                       **({"synthetic": "zipf", "alpha": w.alpha, "objects": w.recipe.objects,
                           "requests": w.recipe.requests, "seed": w.recipe.seed} if w.recipe.path is None else
                          {"path": w.recipe.path, "limit": w.recipe.limit,
                           "bytes": Path(w.recipe.path).stat().st_size})}
                      for w in tour.workloads],
        "engines": sorted({r["engine"] for r in tour.rows}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = c.out / "metadata.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(meta, indent=1))
    tour.files.append(out)


#: the tour, in order
STEPS: list[Callable[[Tour], None]] = [step_synthetic, step_real_traces, step_replay, step_theory,
                                       step_write_tables, step_figures, step_sweeps, step_systems, step_metadata,
                                       step_summary]


def run_tour(config: TourConfig, *, log: Callable[[str], None] = print, progress: bool | None = None,
             argv: list[str] | None = None) -> Tour:
    """Run every step of the tour and return its state (rows, theory, files).

    Args:
        config: what to replay and where to write.
        log: where progress lines go.
        progress: a progress bar on the replay step (None: in a terminal or a notebook).
        argv: the command line recorded in metadata.json (default: ``sys.argv``).
    """
    from simcache.policies import policy_names

    tour = Tour(config, policy_names(), log=log, progress=progress, argv=list(argv or []))
    for step in STEPS:
        step(tour)
    return tour


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# -------------------------------------------------------------------- CLI
def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tour", help="compare every policy on synthetic and real traces, with theory and figures",
        description="Replay every registered eviction policy on Zipf workloads (alpha 0.8 and 1.0) and on the real "
        "traces in ../shared/traces (when present), at cache sizes from 0.1%% to 10%% of the distinct objects; "
        "compare LRU and FIFO with theory; write replay.csv, replay.json, theory.csv and figures; print the best "
        "policy per size. Belady (offline optimal, allowed to skip admission) is shown as the bound.",
    )
    one_line_errors(p)
    p.add_argument("--out", default="results", metavar="DIR", help="output folder (default results)")
    p.add_argument("--quick", action="store_true", help="a small version that runs in seconds")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="replay engine: auto uses compiled kernels where they exist (default auto)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: the number of CPUs; 1 with --quick)")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bars on stderr even when it is not a terminal")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcache.cli._common import check_output_dir, writing

    out = check_output_dir("--out", args.out)  # a file on the way (out/x) or no write permission fails now
    jobs = args.jobs if args.jobs is not None else (1 if args.quick else os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {jobs}")
    config = TourConfig.quick(out, args.engine, jobs) if args.quick else TourConfig(out=out, engine=args.engine,
                                                                                     jobs=jobs)
    t0 = time.perf_counter()
    with writing("--out", out):
        run_tour(config, progress=args.progress)
    print(f"tour done in {time.perf_counter() - t0:.1f} s")
    return 0
