"""``simcache shard``: the arithmetic of client-side sharding — keys moved and load per node when servers change."""

from __future__ import annotations

import argparse
import json

from simcache.cli._common import format_table, one_line_errors
from simcache.errors import UsageError

SCHEMES = ("modulo", "ketama", "rendezvous")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "shard", help="keys moved and load per node for modulo, ketama or rendezvous hashing",
        description="Hash --keys keys (key:0, key:1, ...) over --nodes servers (node-0, node-1, ...) with a "
        "Memcached client's scheme (modulo and ketama as twemproxy builds them, rendezvous as pymemcache's "
        "HashClient), then add or remove servers and report the fraction of keys that moved, the busiest "
        "server's load over the mean, and each server's share.",
    )
    one_line_errors(p)
    p.add_argument("--scheme", required=True, metavar="S", help=f"one of {', '.join(SCHEMES)}")
    p.add_argument("--nodes", type=int, required=True, metavar="N", help="servers before the change (>= 1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--add", type=int, default=0, metavar="K", help="servers added (node-N ... node-N+K-1)")
    g.add_argument("--remove", type=int, default=0, metavar="K", help="servers removed (the last K)")
    p.add_argument("--keys", type=int, required=True, metavar="M", help="number of keys (>= 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcache.sim.memcached.hashing import layout_change

    if args.scheme not in SCHEMES:
        raise UsageError(f"--scheme must be one of {', '.join(SCHEMES)}, got {args.scheme!r}")
    if args.nodes < 1:
        raise UsageError(f"--nodes must be >= 1, got {args.nodes}")
    if args.keys < 1:
        raise UsageError(f"--keys must be >= 1, got {args.keys}")
    if args.add < 0 or args.remove < 0:
        raise UsageError(f"--add and --remove must be >= 0, got {args.add if args.add < 0 else args.remove}")
    if args.remove >= args.nodes:
        raise UsageError(f"--remove must leave at least one of the {args.nodes} nodes, got {args.remove}")
    before = [f"node-{i}" for i in range(args.nodes)]
    after = before[:args.nodes - args.remove] + [f"node-{args.nodes + i}" for i in range(args.add)]
    keys = [f"key:{i}" for i in range(args.keys)]
    out = layout_change(args.scheme, before, after, keys)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.scheme}: {args.nodes} -> {len(after)} nodes, {args.keys} keys")
    print(f"moved_fraction {out['moved_fraction']:.4f} (least possible {out['ideal_moved_fraction']:.4f}), "
          f"moved to a server that was there before: {out['moved_to_other']}")
    print(f"max_mean_load {out['max_mean_load']:.3f} (before {out['max_mean_load_before']:.3f})")
    rows = [{"node": n, "share_before": out["shares_before"].get(n, 0.0), "share": out["shares"].get(n, 0.0)}
            for n in dict.fromkeys(before + after)]
    print(format_table(rows, ["node", "share_before", "share"]))
    return 0
