"""``simcache mrc``: the exact LRU miss-ratio curve of a trace (every cache size in one pass)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simcache.cli._common import add_source_args, format_table, one_line_errors, source_from_namespace, split_list
from simcache.errors import UsageError
from simcache.replay import parse_size, resolve_sizes, trace_stats


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
    p.add_argument("--json", action="store_true", help="print one JSON array of {size, miss_ratio}")
    p.add_argument("--plot", metavar="FILE", help="also draw the curve to FILE (.png, .svg or .pdf)")
    p.set_defaults(func=run)


def miss_ratio_at(sizes: np.ndarray, miss_ratios: np.ndarray, query: Sequence[int]) -> list[float]:
    """Sample a step miss-ratio curve: the ratio at the largest curve size <= each query size (1.0 below the first)."""
    sizes = np.asarray(sizes)
    idx = np.searchsorted(sizes, np.asarray(query), side="right") - 1
    return [float(miss_ratios[i]) if i >= 0 else 1.0 for i in idx]


def run(args: argparse.Namespace) -> int:
    if args.plot is not None and Path(args.plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot {args.plot}: the file name must end in .png, .svg or .pdf")
    specs = split_list(args.size, "size") if args.size else []
    for s in specs:
        parse_size(s)  # reject a bad size before the (long) pass over the trace
    source = source_from_namespace(args)
    try:
        from simcache.mrc import exact_lru_mrc
    except ImportError as err:
        raise UsageError(f"the MRC module is not available in this installation ({err})") from None
    sizes, ratios = exact_lru_mrc(source, bytes_mode=args.bytes)
    sizes, ratios = np.asarray(sizes), np.asarray(ratios, dtype=float)
    if specs:
        distinct = None
        if any(isinstance(parse_size(s), float) for s in specs):
            stats = trace_stats(source)
            distinct = stats.distinct_bytes if args.bytes else stats.distinct
        query = resolve_sizes(specs, distinct)
        rows = [{"size": q, "miss_ratio": m} for q, m in zip(query, miss_ratio_at(sizes, ratios, query), strict=True)]
    else:
        if not args.bytes and len(sizes):
            # the curve stops at the largest reuse distance; beyond it only cold misses remain, up to every object
            distinct = trace_stats(source).distinct
            if distinct > len(sizes):
                sizes = np.arange(1, distinct + 1)
                ratios = np.concatenate([ratios, np.full(distinct - len(ratios), ratios[-1])])
        rows = [{"size": int(s), "miss_ratio": float(m)} for s, m in zip(sizes, ratios, strict=True)]
    if args.plot is not None:
        from simcache.plotting_basic import save_mrc_plot

        pts = {"asked": ([r["size"] for r in rows], [r["miss_ratio"] for r in rows])} if specs else None
        save_mrc_plot(args.plot, sizes, ratios, points=pts, title=f"LRU miss-ratio curve: {source.name}",
                      xlabel="cache size (bytes)" if args.bytes else "cache size (entries)")
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"exact LRU miss-ratio curve of {source.name} ({'bytes' if args.bytes else 'entries'})")
    print(format_table(rows, ["size", "miss_ratio"]))
    if args.plot is not None:
        print(f"wrote {args.plot}")
    return 0
