"""``simcache replay``: replay a trace through eviction policies at several cache sizes."""

from __future__ import annotations

import argparse
import json

from simcache.cli._common import (
    add_source_args,
    check_warmup,
    format_table,
    fraction,
    one_line_errors,
    parse_params,
    parse_policies,
    source_from_namespace,
    split_list,
)
from simcache.replay import ENGINES, parse_size, replay

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
    sizes = split_list(args.size, "size")
    for size in sizes:
        parse_size(size)  # a bad size fails before any work
    warmup = check_warmup(args.warmup)
    params = parse_params(policies, args.param)
    source = source_from_namespace(args)
    results = replay(source, policies, sizes, bytes_mode=args.bytes, warmup=warmup, params=params,
                     engine=args.engine, seed=args.seed)
    rows = [r.as_dict() for r in results]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"trace: {getattr(source, 'name', '?')}  requests counted: {rows[0]['requests'] if rows else 0}"
          f"  warm-up: {rows[0]['warmup_requests'] if rows else 0}  capacity unit: "
          f"{'bytes' if args.bytes else 'entries'}")
    print(format_table(rows, COLUMNS, {"seconds": ".3f"}))
    return 0
