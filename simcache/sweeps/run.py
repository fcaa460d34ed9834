"""Run a sweep: validate, skip finished runs, execute the rest, store each as it lands, tabulate, plot.

Output folder (default ``results/NAME``)::

    sweep.json      what the folder holds (guards against mixing two sweeps)
    runs/*.json     one file per finished run (written atomically, the resume state)
    runs.csv        the tidy per-run table (also runs.parquet when pyarrow is present)
    summary.csv     mean and 95% CI per point and metric (also summary.parquet)
    metadata.json   the sweep, every seed, package versions, executor, wall time, failures
    figures/        the figures the sweep names, as PNG and SVG
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simcache.errors import UsageError, show_path
from simcache.shipped import shipped_dir
from simcache.sweeps.aggregate import runs_table, summarize
from simcache.sweeps.executors import check_executor, make_executor
from simcache.sweeps.seeds import run_seed
from simcache.sweeps.spec import MAX_RUNS, SweepSpec, load_sweep
from simcache.sweeps.store import MANIFEST, RunStore, atomic_write, atomic_write_json

VERSIONED = ("simcache", "numpy", "scipy", "pandas", "simpy", "matplotlib", "numba", "dask", "distributed", "pyarrow")


@dataclass
class SweepResult:
    """What a finished sweep gives back: tables, failures, counts and where files went."""

    spec: SweepSpec
    out: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    failures: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    wall_seconds: float = 0.0
    figures: list[Path] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every run succeeded."""
        return not self.failures

    def failure_lines(self, limit: int = 10) -> list[str]:
        """One line per failed run (at most ``limit``, then a count of the rest)."""
        lines = [f"point {f['point']} replication {f['replication']} ({_params(f, self.spec.axes)}): {f['error']}"
                 for f in self.failures[:limit]]
        if len(self.failures) > limit:
            lines.append(f"... and {len(self.failures) - limit} more (see {self.out / 'metadata.json'})")
        return lines


def _params(rec: Mapping[str, Any], axes: list[str]) -> str:
    return ", ".join(f"{k}={rec['params'].get(k)!r}" for k in axes)


def tasks_for(spec: SweepSpec, model_file: str | None = None) -> list[dict[str, Any]]:
    """Every run of the sweep as a plain-data task, in (point, replication) order."""
    tasks = []
    faults = [f.as_dict() for f in spec.faults]  # plain data: tasks travel to pool and Dask workers
    for i, point in enumerate(spec.points()):
        for r in range(spec.replications):
            task: dict[str, Any] = {
                "target": spec.target, "model_file": model_file, "params": point, "point": i, "replication": r,
                "seed": run_seed(spec.seed, i, r, common=spec.common_random_numbers)}
            if faults:
                task["faults"] = faults
            tasks.append(task)
    return tasks


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm.auto warns when it falls back from widgets to text
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit="run", disable=not enabled, file=sys.stderr,
                    dynamic_ncols=True)


def run_sweep(
    sweep: SweepSpec | str | Path,
    executor: str = "local",
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    retry_failed: bool = False,
    figures: bool = True,
    max_runs: int = MAX_RUNS,
) -> SweepResult:
    """Run every missing point × replication of a sweep and return its tables.

    Args:
        sweep: a :class:`SweepSpec` or the path of a sweep TOML file.
        executor: ``serial``, ``local`` (process pool, all cores) or ``dask``.
        out: the output folder (default ``results/NAME``); finished runs found there are kept.
        workers: processes (local) or local-cluster workers (dask); default all cores.
        scheduler: a Dask scheduler address; without it ``dask`` starts a local cluster.
        client: an existing ``distributed.Client`` (dask).
        progress: show a tqdm progress bar (text in a terminal, a widget in a notebook).
        retry_failed: run again the runs stored as failed.
        figures: draw the figures the sweep names (PNG and SVG under ``OUT/figures``).
        max_runs: refuse a sweep of more runs than this (:data:`~simcache.sweeps.spec.MAX_RUNS` by default).
    """
    spec = load_sweep(sweep) if isinstance(sweep, str | Path) else sweep
    spec.validate(max_runs)
    check_executor(executor, workers, scheduler)
    from simcache.sweeps.targets import resolve_target

    target = resolve_target(spec.target, spec.source or "<sweep>")
    out_dir = Path(out) if out is not None else Path("results") / spec.name
    check_out_folder(out_dir)
    sweep_text = load_sweep_text(spec.source)
    store = RunStore(out_dir, spec.name, spec.fingerprint(), sweep_text)
    store.open()
    tasks = tasks_for(spec, target.model_file)
    done = store.load()
    keep = {k for k, rec in done.items() if rec.get("status") == "ok" or not retry_failed}
    todo = [t for t in tasks if (t["point"], t["replication"]) not in keep]
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()
    ex = make_executor(executor, workers=workers, scheduler=scheduler, client=client) if todo else None
    bar = _progress(len(tasks), len(tasks) - len(todo), spec.name, progress)
    computed = 0
    try:
        if ex is not None:
            checked = not (spec.metrics or spec.figures) or target.kind == "replay"
            for record in ex.run(todo):
                store.write(record)  # before anything else: a kill right after loses nothing
                computed += 1
                bar.update(1)
                if not checked and record.get("status") == "ok":
                    # a model's metrics are known once one run reports them: stop at once on a name it lacks
                    check_metric_names(spec, record.get("metrics") or {})
                    checked = True
    finally:
        bar.close()
        if ex is not None:
            ex.close()
    wall = time.perf_counter() - t0
    records = store.load()
    expected = {(t["point"], t["replication"]) for t in tasks}
    missing = expected - set(records)
    if missing:  # only possible if a run file vanished while we ran
        raise UsageError(f"{out_dir}: {len(missing)} run files missing after the sweep, e.g. {sorted(missing)[0]}")
    ordered = [records[k] for k in sorted(expected)]
    runs = runs_table(ordered, spec.param_names)
    summary = summarize(runs, spec.axes, spec.param_names, spec.metrics)
    failures = [r for r in ordered if r.get("status") != "ok"]
    result = SweepResult(spec=spec, out=out_dir, runs=runs, summary=summary, failures=failures, computed=computed,
                         reused=len(tasks) - len(todo), wall_seconds=wall)
    parquet = write_tables(out_dir, runs, summary)
    skipped: list[str] = []
    if figures and spec.figures:
        result.figures = _draw_figures_atomically(summary, spec, out_dir / "figures", skipped)
    result.metadata = {
        "name": spec.name, "description": spec.description, "source": spec.source, "sweep": spec.to_dict(),
        "sweep_text": sweep_text, "target": spec.target, "model_file": target.model_file,
        "fingerprint": spec.fingerprint(), "root_seed": spec.seed,
        "common_random_numbers": spec.common_random_numbers,
        "seeds": [{"point": t["point"], "replication": t["replication"], "seed": t["seed"]} for t in tasks],
        "runs": len(tasks), "computed": computed, "reused": result.reused, "failed": len(failures),
        "failures": [{k: f.get(k) for k in ("point", "replication", "seed", "params", "error")} for f in failures],
        "executor": executor, "workers": getattr(ex, "workers", None), "scheduler": scheduler,
        "started_at": started.isoformat(), "wall_seconds": wall,
        "run_seconds": sum(float(r.get("wall_seconds") or 0.0) for r in ordered),
        "versions": _versions(), "parquet": parquet, "figures": [str(p) for p in result.figures],
        "figures_skipped": skipped,
    }
    atomic_write_json(out_dir / "metadata.json", result.metadata)
    return result


def check_out_folder(out_dir: Path) -> None:
    """Refuse an output folder that would mix a sweep's files with someone else's.

    The folder may be missing, empty, or a sweep's own (it holds ``sweep.json``); any other folder --
    ``/``, a home folder, a project -- is refused, so no ``summary.csv`` or figure of the user's is
    overwritten.
    """
    shown = show_path(out_dir)
    try:
        if not out_dir.exists():
            return
        if not out_dir.is_dir():
            raise UsageError(f"--out {shown}: exists and is not a folder")
        if (out_dir / MANIFEST).is_file():
            return
        entries = next(iter(os.scandir(out_dir)), None)
    except OSError as err:
        raise UsageError(f"--out {shown}: cannot use the folder: {err.strerror or err}") from None
    if entries is not None:
        raise UsageError(f"--out {shown}: the folder is not empty and holds no sweep results ({MANIFEST}); "
                         f"give a new or empty folder, so nothing in it is overwritten")


def check_metric_names(spec: SweepSpec, metrics: Mapping[str, Any]) -> None:
    """The sweep's ``metrics`` and figure ``y`` names against what a run reported; one line for the first missing."""
    where = spec.source or "<sweep>"
    for i, f in enumerate(spec.figures):
        if f.y not in metrics:
            raise UsageError(f"{where}: figures[{i}].y: model {spec.target!r} reports no metric {f.y!r}; "
                             f"metrics: {', '.join(sorted(metrics))}")
    for m in spec.metrics:
        if m not in metrics:
            raise UsageError(f"{where}: metrics: model {spec.target!r} reports no metric {m!r}; "
                             f"metrics: {', '.join(sorted(metrics))}")


def load_sweep_text(source: str) -> str:
    """The text of the sweep file, kept next to its results ('' for a sweep built in Python)."""
    if not source:
        return ""
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{show_path(source)}: cannot read sweep file: {err}") from None


def _draw_figures_atomically(summary: pd.DataFrame, spec: SweepSpec, folder: Path, skipped: list[str]) -> list[Path]:
    """Draw the sweep's figures into a temporary folder beside ``folder``, then move each file over its final
    name with ``os.replace``: a reader (or a kill) sees a whole old figure or a whole new one."""
    from simcache.plots import draw_sweep_figures

    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-figures-", dir=folder.parent))
    except OSError as err:
        raise UsageError(f"{show_path(folder)}: cannot create the figures folder: {err.strerror or err}") from None
    try:
        drawn = draw_sweep_figures(summary, spec, tmp, skipped)
        out = []
        for path in drawn:
            final = folder / path.relative_to(tmp)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
            out.append(final)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def experiment_path(name: str) -> Path:
    """The sweep file ``experiments/NAME.toml`` of the project (a path to a file is returned as is)."""
    as_path = Path(name)
    if as_path.suffix == ".toml" and as_path.is_file():
        return as_path
    folder = shipped_dir("experiments")
    path = folder / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.toml"))) or "none found"
        raise UsageError(f"no experiment {name!r} in {folder}; experiments: {known}")
    return path


def run_experiment(name: str, *, quick: bool = False, executor: str = "local", workers: int | None = None,
                   out_root: str | Path = "results", progress: bool = False, **kw: Any) -> SweepResult:
    """Run ``experiments/NAME.toml`` (its ``[quick]`` variant with ``quick=True``) into ``OUT_ROOT/NAME``.

    Args:
        name: the experiment's file stem (``tour``, ``smoke``, ...) or a path to a sweep file.
        quick: apply the file's ``[quick]`` overrides (fewer replications, shorter runs).
        executor: ``serial``, ``local`` or ``dask``.
        workers: processes or Dask workers.
        out_root: the folder that receives one sub-folder per sweep, named after it.
        progress: show a progress bar.
        kw: passed on to :func:`run_sweep` (``scheduler``, ``client``, ``figures``, ``retry_failed``).
    """
    spec = load_sweep(experiment_path(name))
    if quick:
        spec = spec.quick_variant()
    return run_sweep(spec, executor, out=Path(out_root) / spec.name, workers=workers, progress=progress, **kw)


def write_tables(out_dir: Path, runs: pd.DataFrame, summary: pd.DataFrame) -> bool | str:
    """Write runs/summary as CSV, and Parquet when pyarrow is present; returns True or why Parquet was skipped.

    Each file is written under a temporary name in the folder and renamed over its final name
    (``os.replace``), like the run files: a reader sees the old table or the new one, never a part.
    """
    atomic_write(out_dir / "runs.csv", lambda path: runs.to_csv(path, index=False))
    atomic_write(out_dir / "summary.csv", lambda path: summary.to_csv(path, index=False))
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "pyarrow not installed"
    try:
        atomic_write(out_dir / "runs.parquet", lambda path: runs.to_parquet(path, index=False))
        atomic_write(out_dir / "summary.parquet", lambda path: summary.to_parquet(path, index=False))
    except (ValueError, TypeError, ImportError) as err:  # mixed-type columns pyarrow cannot store
        return f"skipped: {err}"
    return True


def load_results(folder: str | Path) -> tuple[SweepSpec, pd.DataFrame, pd.DataFrame]:
    """Read a results folder back: ``(spec, runs, summary)``; a folder without results is one clear error."""
    folder = Path(folder)
    meta_path = folder / "metadata.json"
    if not meta_path.is_file():
        raise UsageError(f"{folder}: not a sweep results folder (no metadata.json); run simcache sweep first")
    import json

    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        spec = SweepSpec.from_dict(meta["sweep"], source=meta.get("source") or "")
    except (OSError, ValueError, KeyError) as err:
        raise UsageError(f"{meta_path}: unreadable metadata ({err})") from None
    runs = pd.read_csv(folder / "runs.csv")
    summary = pd.read_csv(folder / "summary.csv")
    return spec, runs, summary
