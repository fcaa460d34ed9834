"""``simcache keyslot KEY...``: the Redis Cluster hash slot of each key, as ``CLUSTER KEYSLOT`` answers."""

from __future__ import annotations

import argparse
import json

from simcache.cli._common import one_line_errors


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "keyslot", help="Redis Cluster hash slots of keys (CLUSTER KEYSLOT)",
        description="Print the Redis Cluster hash slot of each key: CRC16-XMODEM of the key, or of its first "
        "non-empty {hash tag}, modulo 16384 (cluster.c keyHashSlot).",
    )
    one_line_errors(p)
    p.add_argument("keys", nargs="+", metavar="KEY", help="keys (UTF-8)")
    p.add_argument("--json", action="store_true", help="print one JSON object {key: slot}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcache.sim.redis.cluster import key_hash_slot

    slots = {k: key_hash_slot(k.encode("utf-8", "surrogateescape")) for k in args.keys}
    if args.json:
        print(json.dumps(slots))
        return 0
    for k in args.keys:
        print(f"{slots[k]}\t{k}" if len(args.keys) > 1 else slots[k])
    return 0
