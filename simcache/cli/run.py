"""``simcache run NAME``: run one model and print its summary."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from simcache.errors import UsageError

# the catalogue, the simulator and pandas (simcache.sim.metrics) load when `run` runs, not for every command


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a simulation model and print its summary",
                       description="Run a model from the catalogue (see `simcache models`) and print a summary: "
                       "simulated requests, throughput, per-tier hit ratios, latency percentiles, DB load, errors.")
    p.add_argument("name", help="model name")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="set a model parameter, or a strategy option as strategy.NAME=VALUE (repeatable)")
    p.add_argument("--fault", dest="faults", action="append", default=[], metavar="KIND:TARGET[=VALUE]@AT[+DURATION]",
                   help="schedule a fault, times in simulated seconds (repeatable): crash:redis@10+5, "
                   "crash-warm:redis@10+5, down:db@5+2, pause:redis@10+0.5, partition:app|redis@10+10, "
                   "latency:app-redis=0.05@10+20, loss:app-redis=0.3@10+5, link-down:app-db@3+1, "
                   "power-loss:redis@10+5, restart:redis@20, random-crash:redis=600@0+30")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (the model's duration parameter)")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object, with every parameter used, the seed and the faults")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="a progress bar in simulated seconds even when stderr is not a terminal")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--figures", metavar="DIR", default=None,
                   help="also write the model's figures (PNG) into DIR (created if missing; existing files of the "
                        "same names are replaced)")
    p.set_defaults(func=run)


def parse_sets(sets: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed item is a usage error."""
    out: dict[str, str] = {}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _number_or_text(text: str) -> Any:
    """``"60"`` -> 60, ``"0.5"`` -> 0.5, anything else as it is."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def run(args: argparse.Namespace) -> int:
    from simcache.catalog import get_model, run_model
    from simcache.sim.faults import parse_fault
    from simcache.sim.metrics import to_json
    from simcache.sim.report import run_model_full

    spec = get_model(args.name)
    params: dict[str, Any] = parse_sets(args.sets)
    # an option's type is the strategy's to decide (a model's own parameters are converted by the catalogue):
    # numbers are handed over as numbers, so "strategy.ttl=0.5" is 0.5 whatever the default's type
    params = {k: _number_or_text(v) if "." in k else v for k, v in params.items()}
    if args.duration is not None:
        if "duration" not in spec.param_types():
            raise UsageError(f"model {args.name!r} has no duration parameter")
        if args.duration <= 0:
            raise UsageError(f"--duration must be > 0, got {args.duration}")
        params["duration"] = args.duration
    # parsed before anything runs: a bad line is one error naming the part that is wrong
    faults = [parse_fault(line) for line in args.faults]
    from simcache.sim import runner

    runner.PROGRESS = args.progress
    if args.figures is not None:
        figures = model_figures(spec)
        from simcache.cli._common import check_output_dir

        out = check_output_dir("--figures", args.figures)  # before the run: a file on the way fails now
        result = run_model_full(args.name, params, args.seed, faults=faults)
        summary = result.summary
        try:
            written = figures(result, out)
        except OSError as err:
            raise UsageError(f"--figures: cannot write into {out}: {err.strerror or err}") from None
        summary["figures"] = [str(x) for x in written]
    else:
        summary = run_model(args.name, params, args.seed, faults=faults)
    plain, opts = spec.split(params)
    resolved = dataclasses.asdict(spec.make_params(plain))
    summary["params"] = {**resolved, **{f"{g}.{k}": v for g, kv in opts.items() for k, v in kv.items()}}
    summary["seed"] = args.seed
    if args.json:
        print(to_json(summary))
        return 0
    print(format_summary(summary))
    return 0


def model_figures(spec: Any) -> Any:
    """The model module's ``figures(result, out_dir) -> [paths]``; a model without one is a usage error."""
    fn = getattr(sys.modules.get(spec.source), "figures", None)
    if fn is None:
        from simcache.catalog import load_models

        have = sorted(n for n, m in load_models().items() if getattr(sys.modules.get(m.source), "figures", None))
        raise UsageError(f"model {spec.name!r} draws no figures; models with figures: {', '.join(have) or 'none'}")
    return fn


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable summary: headline numbers, then nested sections."""
    lines = [f"model {s.get('model')}  seed {s.get('seed')}  wall {s.get('wall_seconds', 0):.2f} s"
             + (f"  engine {s['engine']}" if "engine" in s else "")]
    head = ["sim_requests", "completed", "throughput", "mean_response", "theory_mean_response", "utilization",
            "stale_reads", "concurrent_reads", "dirty_reads", "writes_lost", "late_commits"]
    skip = {"model", "seed", "wall_seconds", "engine", "duration", "faults", "tiers", "figures", "params", "markers"}
    # the headline numbers first, then every other number or text a model reports (its own fields)
    rest = [k for k, v in s.items() if k not in head and k not in skip and isinstance(v, int | float | str)]
    for k in head + rest:
        if k in s and s[k] is not None:
            v = s[k]
            lines.append(f"  {k:<22} {_value(k, v, 6)}")
    sections = ["hit_ratio", "latency_ms", "latency", "read_latency_ms", "write_latency_ms", "db", "outcomes",
                "errors"]
    sections += [k for k, v in s.items() if isinstance(v, dict) and k not in sections and k not in skip]
    for section in sections:
        d = s.get(section)
        if isinstance(d, dict) and d:
            vals = "  ".join(f"{k}={_value(k, v)}" for k, v in d.items())
            lines.append(f"  {section:<22} {vals}")
    faults = s.get("faults")
    if isinstance(faults, list):
        lines.append(f"  {'faults':<22} {', '.join(_fault_text(f) for f in faults) or 'none'}")
    markers = s.get("markers")
    if isinstance(markers, list) and markers:
        shown = ", ".join(f"{m.get('source', '')} {m.get('kind', '')}@{float(m.get('t', 0)):g}" for m in markers[:8])
        lines.append(f"  {'events':<22} {shown}" + (f" (+{len(markers) - 8} more)" if len(markers) > 8 else ""))
    if s.get("figures"):
        lines.append(f"  {'figures':<22} {', '.join(s['figures'])}")
    tiers = s.get("tiers")
    if isinstance(tiers, dict):
        for name, d in tiers.items():
            vals = "  ".join(f"{k}={_value(k, v)}" for k, v in d.items())
            lines.append(f"  tier {name:<17} {vals}")
    return "\n".join(lines)


def _value(key: str, v: Any, digits: int = 4) -> str:
    """A number for people: byte counts with their unit, large counts with thousands separators."""
    from simcache.units import format_bytes

    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if "memory" in key or key.endswith("_bytes"):
        return format_bytes(v)
    if isinstance(v, int) or (abs(v) >= 10_000 and float(v).is_integer()):
        return f"{int(v):,}"
    return f"{v:,.0f}" if abs(v) >= 100_000 else f"{v:.{digits}g}"


def _fault_text(f: Any) -> str:
    """A fault of the summary (a mapping of its fields) as the line that schedules it."""
    from simcache.sim.faults import Fault

    try:
        return str(Fault(**f)) if isinstance(f, dict) else str(f)
    except (TypeError, UsageError):
        return str(f)
