"""``simcache plot``: draw figures (PNG and SVG) from a sweep's results folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simcache.cli._common import check_output_dir, writing
from simcache.errors import UsageError
from simcache.sweeps.spec import FIGURE_KINDS, FigureSpec, check_name


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "plot", help="draw figures from a sweep's results folder",
        description="Draw the figures a sweep names (or one given with --x/--y) from a results folder written by "
        "simcache sweep: metric vs parameter with 95% confidence bands, one line per --hue value; bar charts "
        "with error bars; miss-ratio curves. Nothing is averaged or dropped silently: every grid axis is on x, "
        "the hue, a panel (--facet, or automatically) or fixed by --where. Writes PNG and SVG.")
    p.add_argument("folder", metavar="DIR", help="results folder (holds metadata.json and summary.csv)")
    p.add_argument("--kind", choices=FIGURE_KINDS, default=None, help="figure kind (default: line)")
    p.add_argument("--x", default=None, help="parameter on the x axis (default: the first grid axis)")
    p.add_argument("--y", default=None, help="metric on the y axis (default: every metric of the sweep's figures)")
    p.add_argument("--hue", default=None, help="parameter giving one line per value (default: the second axis)")
    p.add_argument("--where", action="append", default=[], metavar="AXIS=VALUE",
                   help="draw only the points where AXIS has VALUE (repeatable); every axis not on x, hue or "
                   "--facet must be fixed so, or it gets one panel per value")
    p.add_argument("--facet", action="append", default=[], metavar="AXIS",
                   help="one panel per value of AXIS (repeatable)")
    p.add_argument("--no-auto-facet", dest="auto_facet", action="store_false",
                   help="refuse, naming them, when axes other than x, hue and --facet vary, instead of giving "
                   "them panels")
    p.add_argument("--logx", action="store_true", help="log-scaled x axis")
    p.add_argument("--logy", action="store_true", help="log-scaled y axis")
    p.add_argument("--out", default=None, metavar="DIR", help="where figures go (default: DIR/figures)")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=run)


def figures_for(args: argparse.Namespace, spec, summary) -> list[FigureSpec]:  # type: ignore[no-untyped-def]
    """The figures to draw: the ones asked for on the command line, else the sweep's, else a default."""
    axes = spec.axes
    metrics = list(dict.fromkeys(summary["metric"])) if "metric" in summary else []
    for name, value, allowed, what in (("--x", args.x, axes, "grid axis"), ("--hue", args.hue, axes, "grid axis"),
                                       ("--y", args.y, metrics, "metric")):
        if value is not None and value not in allowed:
            raise UsageError(f"{name}: {value!r} is not a {what} of this sweep; valid: {', '.join(allowed) or 'none'}")
    if args.x or args.y or args.kind:
        if not axes:
            raise UsageError(f"{args.folder}: the sweep has no grid axis to plot against")
        x = args.x or axes[0]
        hue = args.hue if args.hue is not None else next((a for a in axes if a != x), None)
        ys = [args.y] if args.y else [f.y for f in spec.figures] or metrics[:1]
        return [FigureSpec(kind=args.kind or "line", x=x, y=y, hue=hue, logx=args.logx, logy=args.logy) for y in ys]
    if spec.figures:
        return list(spec.figures)
    if not axes or not metrics:
        raise UsageError(f"{args.folder}: nothing to plot (no grid axis or no numeric metric)")
    hue = next((a for a in axes if a != axes[0]), None)
    return [FigureSpec(kind="line", x=axes[0], y=m, hue=hue) for m in metrics[:4]]


def run(args: argparse.Namespace) -> int:
    from simcache.plots import draw_figure, save_figure
    from simcache.sweeps.run import load_results

    spec, _runs, summary = load_results(args.folder)
    out = Path(args.out) if args.out else Path(args.folder) / "figures"
    check_output_dir("--out", out)
    where: dict[str, str] = {}
    for item in args.where:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--where expects AXIS=VALUE, got {item!r}")
        where[key.strip()] = value.strip()
    for name in [*where, *args.facet]:
        if name not in spec.axes:
            raise UsageError(f"{name!r} is not a grid axis of this sweep; valid: {', '.join(spec.axes) or 'none'}")
    written: list[Path] = []
    for f in figures_for(args, spec, summary):
        try:
            fig = draw_figure(summary, f.kind, f.x, f.y, f.hue, logx=f.logx, logy=f.logy, title=f.title,
                              facet=args.facet, where=where, auto_facet=args.auto_facet)
        except (ValueError, KeyError) as err:
            raise UsageError(f"{args.folder}: cannot draw {f.name}: {err}") from None
        stem = check_name("--where", "figure file name", f.name + "".join(f"-{k}={v}" for k, v in where.items()))
        with writing("--out", out):
            written += save_figure(fig, out / stem)
    if args.json:
        print(json.dumps([str(p) for p in written]))
    else:
        for p in written:
            print(p)
    return 0
