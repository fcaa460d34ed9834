"""``simcache mrc``: the exact LRU miss-ratio curve of a trace (every cache size in one pass)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from simcache.cli._common import (
    add_source_args,
    check_output_file,
    format_table,
    one_line_errors,
    parse_sizes,
    source_from_namespace,
    writing,
)
from simcache.errors import UsageError
from simcache.replay import parse_size, resolve_sizes, trace_stats

#: largest fixed-size SHARDS sample (its heap is allocated up front: 24 bytes per tracked object, 240 MB here)
MAX_SHARDS_SIZE = 10**7


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "mrc", help="exact LRU miss-ratio curve of a trace",
        description="Compute the exact LRU miss-ratio curve of a trace (stack distances: every cache size in one "
        "pass) and print it at the sizes asked, or at every size from 1 to the number of distinct objects.",
    )
    one_line_errors(p)
    add_source_args(p)
    p.add_argument("--size", metavar="S[,S...]",
                   help="sizes to report, comma-separated: entries, bytes with --bytes (64MiB), or a percentage of "
                   "the distinct objects/bytes (1%%); default: every size")
    p.add_argument("--bytes", action="store_true", help="capacity in bytes, objects weigh their size")
    p.add_argument("--json", action="store_true", help="print one JSON array of {size, miss_ratio} (every size)")
    p.add_argument("--all", action="store_true",
                   help="print every size; without --size, --all or --json a summary is printed (sizes at 0.1%%, "
                   "1%%, 10%%, ... of the distinct objects)")
    p.add_argument("--plot", metavar="FILE", help="also draw the curve to FILE (.png, .svg or .pdf)")
    g = p.add_argument_group("sampling (SHARDS, for traces too large to replay whole)")
    g.add_argument("--shards-rate", type=float, metavar="R",
                   help="approximate the curve by SHARDS spatial sampling at a fixed rate R in (0, 1]")
    g.add_argument("--shards-size", type=int, metavar="K",
                   help="fixed-size SHARDS: track at most K sampled objects (the rate adapts downwards)")
    g.add_argument("--compare-exact", action="store_true",
                   help="with SHARDS, also compute the exact curve and report the mean absolute error")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.plot is not None and Path(args.plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot {args.plot}: the file name must end in .png, .svg or .pdf")
    specs = parse_sizes(args.size) if args.size else []  # a bad size fails before the (long) pass over the trace
    if args.plot is not None:
        check_output_file("--plot", args.plot)
    source = source_from_namespace(args)
    from simcache.mrc import exact_lru_mrc, mrc_mae, mrc_value, shards_mrc

    sampled = args.shards_rate is not None or args.shards_size is not None
    if args.shards_rate is not None and not 0 < args.shards_rate <= 1:
        raise UsageError(f"--shards-rate must be in (0, 1], got {args.shards_rate}")
    if args.shards_size is not None and not 1 <= args.shards_size <= MAX_SHARDS_SIZE:
        raise UsageError(f"--shards-size must be in [1, {MAX_SHARDS_SIZE:,}] (the sample's heap holds 24 bytes per "
                         f"object), got {args.shards_size}")
    if sampled and args.bytes:
        raise UsageError("SHARDS sampling works in entries; drop --bytes or the --shards-* options")
    if args.compare_exact and not sampled:
        raise UsageError("--compare-exact compares a SHARDS curve with the exact one: add --shards-rate or --shards-size")
    exact = None
    if sampled:
        sizes, ratios = shards_mrc(source, rate=args.shards_rate, sample_size=args.shards_size)
        if len(sizes) == 0 or bool(np.all(np.asarray(ratios) >= 1.0)):
            # no hit at any size: the sample saw no object requested twice, so the curve says nothing
            flag = f"--shards-rate {args.shards_rate:g}" if args.shards_size is None else f"--shards-size {args.shards_size}"
            raise UsageError(f"{flag}: the sample holds no object requested twice, so it gives no curve; "
                             f"sample more (a higher rate or size) or drop the --shards-* options for the exact one")
        if args.compare_exact:
            exact = exact_lru_mrc(source)
    else:
        sizes, ratios = exact_lru_mrc(source, bytes_mode=args.bytes)
    sizes, ratios = np.asarray(sizes), np.asarray(ratios, dtype=float)
    kind = "SHARDS-sampled" if sampled else "exact"
    if specs:
        distinct = None
        if any(isinstance(parse_size(s), float) for s in specs):
            if not sampled and not args.bytes:
                distinct = len(sizes)  # the exact curve in entries spans 1..distinct objects: no second pass
            else:
                stats = trace_stats(source)
                distinct = stats.distinct_bytes if args.bytes else stats.distinct
        query = resolve_sizes(specs, distinct)
        rows = [{"size": q, "miss_ratio": float(m)}
                for q, m in zip(query, mrc_value((sizes, ratios), np.asarray(query)), strict=True)]
    else:
        if sampled and len(sizes):
            # a sampled curve stops at the largest scaled distance; beyond it only cold misses remain, up to
            # every object (the exact curve in entries already spans 1..distinct, bytes mode has no such tail)
            distinct = trace_stats(source).distinct
            if distinct > len(sizes):
                sizes = np.arange(1, distinct + 1)
                ratios = np.concatenate([ratios, np.full(distinct - len(ratios), ratios[-1])])
        rows = [{"size": s, "miss_ratio": m} for s, m in zip(sizes.tolist(), ratios.tolist(), strict=True)]
    mae = None
    if exact is not None:
        mae = mrc_mae(exact, (sizes, ratios))
        for row, m in zip(rows, mrc_value(exact, np.asarray([r["size"] for r in rows])), strict=True):
            row["exact_miss_ratio"] = float(m)
    if args.plot is not None:
        from simcache.plots import mrc_figure, save_as

        pts = {"sizes asked": ([r["size"] for r in rows], [r["miss_ratio"] for r in rows])} if specs else None
        with writing("--plot", args.plot):
            save_as(mrc_figure(sizes, ratios, points=pts, title=f"{kind} LRU miss-ratio curve: {source.name}",
                               xlabel="cache size (bytes)" if args.bytes else "cache size (entries)",
                               label=f"LRU ({kind} MRC)"), args.plot)
    if args.json:
        print(json.dumps(rows))
        if mae is not None:
            print(f"SHARDS mean absolute error vs the exact curve: {mae:.5f}", file=sys.stderr)
        return 0
    shown = rows if specs or args.all else summary_rows(rows)
    print(f"{kind} LRU miss-ratio curve of {source.name} ({'bytes' if args.bytes else 'entries'})"
          + ("" if shown is rows else f": {len(shown)} of {len(rows):,} sizes (--all prints every one)"))
    from simcache.units import format_size

    labels = [format_size(r["size"], args.bytes) for r in shown]
    width = max(map(len, labels), default=4)
    table = [{**r, "size": label.rjust(width)} for r, label in zip(shown, labels, strict=True)]
    print(format_table(table, ["size", "miss_ratio"] + (["exact_miss_ratio"] if exact is not None else [])))
    if mae is not None:
        print(f"SHARDS mean absolute error vs the exact curve: {mae:.5f}")
    if args.plot is not None:
        print(f"wrote {args.plot}")
    return 0


def summary_rows(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """The rows at 0.1 %, 0.3 %, 1 %, 3 %, 10 %, 30 % and 100 % of the largest size (and the first size)."""
    if len(rows) <= 12:
        return rows
    top = rows[-1]["size"]
    picked: dict[int, dict[str, float]] = {0: rows[0]}
    sizes = np.asarray([r["size"] for r in rows], dtype=float)
    for frac in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        i = int(np.searchsorted(sizes, frac * top))
        picked.setdefault(min(i, len(rows) - 1), rows[min(i, len(rows) - 1)])
    return [picked[i] for i in sorted(picked)]
