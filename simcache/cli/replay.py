"""``simcache replay``: replay a trace through eviction policies at several cache sizes."""

from __future__ import annotations

import argparse
import json
import sys

from simcache.cli._common import (
    add_source_args,
    check_warmup,
    format_table,
    fraction,
    one_line_errors,
    parse_params,
    parse_policies,
    parse_sizes,
    source_from_namespace,
    warn_untimed,
)
from simcache.replay import ENGINES, numba_hint, replay

COLUMNS = ["policy", "size", "requests", "hits", "misses", "miss_ratio", "byte_miss_ratio", "seconds", "engine"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "replay", help="replay a trace through policies and cache sizes",
        description="Replay a trace file or a synthetic workload through each eviction policy at each cache size "
        "and print hits, misses and miss ratios (one row per policy and size).",
        epilog="examples:\n"
        "  simcache replay --synthetic zipf --alpha 0.8 --objects 10000 --requests 100000 --policy lru,arc --size 1%,10%\n"
        "  simcache replay --trace ../shared/traces/lirs_loop.trace.gz --policy lru,lirs,belady --size 500 --json\n"
        "  simcache replay --trace t.oracleGeneral.bin --bytes --size 64MiB --policy gdsf --warmup 0.2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    one_line_errors(p)
    add_source_args(p)
    p.add_argument("--policy", required=True, metavar="P[,P...]",
                   help="policy names, comma-separated, or 'all' (see `simcache policies`)")
    p.add_argument("--size", required=True, metavar="S[,S...]",
                   help="cache sizes, comma-separated: entries (1000), bytes with --bytes (64MiB, 2GB), or a "
                   "percentage of the distinct objects/bytes (1%%)")
    p.add_argument("--bytes", action="store_true",
                   help="capacity in bytes, objects weigh their size (the trace must have sizes)")
    p.add_argument("--warmup", type=fraction, default=0.0, metavar="FRACTION",
                   help="fraction in [0, 1) of the first requests replayed but not counted (default 0)")
    p.add_argument("--param", action="append", metavar="K=V",
                   help="policy parameter, repeatable; applies to every selected policy that has it "
                   "(policy.k=v targets one)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="auto: compiled kernels where supported, else the policy classes; fast: kernels or an "
                   "error; reference: the policy classes (default auto)")
    p.add_argument("--json", action="store_true", help="print one JSON array, one object per (policy, size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policies = parse_policies(args.policy)
    sizes = parse_sizes(args.size)  # a bad size fails before any work
    warmup = check_warmup(args.warmup)
    params = parse_params(policies, args.param)
    source = source_from_namespace(args)
    warn_untimed(policies, source)
    results = replay(source, policies, sizes, bytes_mode=args.bytes, warmup=warmup, params=params,
                     engine=args.engine, seed=args.seed, progress=None)
    rows = [r.as_dict() for r in results]
    hint = numba_hint(results)
    if hint is not None:
        print(hint, file=sys.stderr)
    if args.json:
        # every row says what it replayed: the file (path, format, size on disk) or the synthetic spec and seed
        prov = provenance(args, source)
        print(json.dumps([{**r, "source": prov} for r in rows], indent=1))
        return 0
    print(f"trace: {getattr(source, 'name', '?')}  requests counted: {rows[0]['requests'] if rows else 0:,}"
          f"  warm-up: {rows[0]['warmup_requests'] if rows else 0:,}  capacity unit: "
          f"{'bytes' if args.bytes else 'entries'}")
    print(format_table(readable(rows, args.bytes), COLUMNS, {"seconds": ".3f"}))
    return 0


def readable(rows: list[dict[str, object]], bytes_mode: bool) -> list[dict[str, object]]:
    """Rows for the text table: sizes with their unit in bytes mode, counts with thousands separators
    (right-aligned, as numbers)."""
    from simcache.units import format_count, format_size

    out = [dict(r) for r in rows]
    for col, fmt in (("size", lambda v: format_size(v, bytes_mode)), ("requests", format_count),
                     ("hits", format_count), ("misses", format_count)):
        texts = [fmt(r[col]) for r in rows]  # type: ignore[arg-type]
        width = max(map(len, texts), default=0)
        for r, t in zip(out, texts, strict=True):
            r[col] = t.rjust(width)
    return out


def provenance(args: argparse.Namespace, source: object) -> dict[str, object]:
    """What a replay ran on: ``{"trace", "format", "bytes"}`` for a file, the synthetic spec and seed otherwise."""
    import os

    if args.trace is not None:
        fmt = args.format or getattr(source, "format", None) or type(source).__name__
        return {"trace": os.path.abspath(args.trace), "format": fmt, "bytes": os.path.getsize(args.trace),
                "seed": args.seed, "trace_options": list(args.trace_options or [])}
    spec = getattr(source, "spec", None)
    out: dict[str, object] = {"synthetic": args.synthetic, "alpha": args.alpha, "objects": args.objects,
                              "requests": args.requests, "rate": args.rate, "seed": args.seed}
    if spec is not None and hasattr(spec, "__dataclass_fields__"):
        from dataclasses import fields

        values = {f.name: getattr(spec, f.name) for f in fields(spec)}
        out["spec"] = {k: v for k, v in values.items() if isinstance(v, (int, float, str, bool, type(None)))}
    return out
