"""``simcache theory``: analytic hit ratios under the independent reference model (Zipf popularity)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simcache.cli._common import finite_number, format_table, integer, one_line_errors, parse_sizes, split_list
from simcache.errors import UsageError
from simcache.replay import resolve_sizes

#: policy -> (model name, name of the function in simcache.theory)
MODELS = {
    "lru": ("Che approximation", "che_hit_ratio"),
    "fifo": ("FIFO under IRM (Martina et al. 2014)", "fifo_hit_ratio"),
    "random": ("RANDOM: equals FIFO under IRM (Gelenbe 1973)", "random_hit_ratio"),
    "lfu": ("perfect LFU: the C most popular objects", "lfu_hit_ratio"),
}


#: largest catalogue the analytic models are solved for: they hold a few float arrays of one entry per object
#: (about 50 bytes and 1 µs per object and policy; 10**7 objects: 0.5 GB, 8 s for the four models)
MAX_OBJECTS = 10**7


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "theory", help="analytic hit ratios for Zipf popularity (Che, FIFO, LFU)",
        description="Hit ratios predicted by theory for an independent-reference workload with Zipf(alpha) "
        "popularity over N objects: Che's approximation for LRU, the FIFO/RANDOM fixed point, and perfect LFU.",
    )
    one_line_errors(p)
    p.add_argument("--alpha", type=finite_number, required=True, metavar="A", help="Zipf exponent (>= 0)")
    p.add_argument("--objects", type=integer, required=True, metavar="N",
                   help=f"number of distinct objects (at most {MAX_OBJECTS:,})")
    p.add_argument("--size", required=True, metavar="S[,S...]",
                   help="cache sizes in entries, or percentages of the objects (1%%)")
    p.add_argument("--policy", default="lru,fifo,random,lfu", metavar="P[,P...]",
                   help=f"which models, comma-separated, among {', '.join(MODELS)} (default all)")
    p.add_argument("--json", action="store_true", help="print one JSON array of {policy, size, hit_ratio, miss_ratio}")
    p.set_defaults(func=run)


def theory_rows(alpha: float, objects: int, sizes: Sequence[int], policies: Sequence[str]) -> list[dict[str, Any]]:
    """Predicted hit and miss ratios for each policy and size.

    Args:
        alpha: Zipf exponent.
        objects: number of distinct objects.
        sizes: cache sizes in entries.
        policies: names among :data:`MODELS`.
    """
    from simcache import theory
    from simcache.workloads import zipf_pmf

    pdf = np.asarray(zipf_pmf(alpha, objects), dtype=float)
    rows = []
    for policy in policies:
        model, fname = MODELS[policy]
        fn: Callable[[np.ndarray, int], float] = getattr(theory, fname)
        for size in sizes:
            hit = float(fn(pdf, size))
            rows.append({"policy": policy, "size": int(size), "hit_ratio": hit, "miss_ratio": 1.0 - hit,
                         "model": model})
    return rows


def run(args: argparse.Namespace) -> int:
    if args.alpha < 0 or not np.isfinite(args.alpha):
        raise UsageError(f"--alpha must be a finite number >= 0, got {args.alpha:g}")
    if not 1 <= args.objects <= MAX_OBJECTS:
        raise UsageError(f"--objects must be in [1, {MAX_OBJECTS:,}] (the models hold a popularity vector of "
                         f"{MAX_OBJECTS:,} objects in about 0.5 GB and 8 s), got {args.objects}")
    policies = split_list(args.policy, "policy")
    for p in policies:
        if p not in MODELS:
            raise UsageError(f"no analytic model for policy {p!r}; models exist for: {', '.join(MODELS)}")
    sizes = resolve_sizes(parse_sizes(args.size), args.objects)
    rows = theory_rows(args.alpha, args.objects, sizes, policies)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"Zipf(alpha={args.alpha:g}) over {args.objects} objects, independent reference model")
    print(format_table(rows, ["policy", "size", "hit_ratio", "miss_ratio", "model"]))
    return 0
