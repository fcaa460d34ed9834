"""Requests per second of every registered policy through the reference replay engine.

Each policy replays a Zipf(1.0) trace over 10^5 objects at cache sizes 10^3 and
10^4 with ``replay(..., engine="reference")`` (the ``policy.access`` loop), and
is compared with a plain ``collections.OrderedDict`` LRU loop measured right
before it in the same run: the ratio (policy throughput / OrderedDict
throughput) is what to read, not the absolute numbers.  Runs are interleaved
(baseline, policy, baseline, policy, ...) and repeated; the table shows
medians.  When the compiled kernels are available their throughput is shown
too.

    python benchmarks/bench_policies.py [--requests 1000000] [--repeat 3] [--policy lru,arc]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import OrderedDict

from simcache.policies import policy_names
from simcache.replay import chunks_of, replay, source_from_args
from simcache.traces import read_all


def ordered_dict_lru(ids: list[int], capacity: int) -> tuple[int, float]:
    """The raw limit of a Python LRU: (hits, seconds)."""
    cache: OrderedDict[int, None] = OrderedDict()
    move, pop = cache.move_to_end, cache.popitem
    hits = 0
    t0 = time.perf_counter()
    for key in ids:
        if key in cache:
            move(key)
            hits += 1
        else:
            cache[key] = None
            if len(cache) > capacity:
                pop(last=False)
    return hits, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000, help="trace length (default 10^6)")
    ap.add_argument("--objects", type=int, default=100_000, help="distinct objects (default 10^5)")
    ap.add_argument("--sizes", default="1000,10000", help="cache sizes (default 1000,10000)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--policy", default="all", help="policies, comma-separated (default all registered)")
    args = ap.parse_args()

    names = policy_names() if args.policy == "all" else args.policy.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    ids_arr = read_all(source_from_args(synthetic="zipf", alpha=1.0, objects=args.objects, requests=args.requests,
                                        seed=1)).ids
    ids = ids_arr.tolist()
    src = chunks_of(ids_arr, chunk_size=1 << 20, name="zipf1.0")
    try:
        from simcache import kernels

        fast_ok = hasattr(kernels, "supports")
    except ImportError:
        fast_ok = False

    print(f"Zipf(1.0), {args.objects:,} objects, {args.requests:,} requests, {args.repeat} interleaved repeats")
    header = f"{'policy':<14}{'size':>7}{'ref Mreq/s':>12}{'OrderedDict Mreq/s':>20}{'ratio':>8}{'miss ratio':>12}"
    header += f"{'fast Mreq/s':>13}" if fast_ok else ""
    print(header)
    print("-" * len(header))
    for size in sizes:
        base_hits = None
        for name in names:
            ref_rates, base_rates, ratios = [], [], []
            miss = float("nan")
            for _ in range(args.repeat):
                base_hits, base_s = ordered_dict_lru(ids, size)
                [r] = replay(src, name, size, engine="reference", seed=1)
                ref_rates.append(r.requests / r.seconds)
                base_rates.append(args.requests / base_s)
                ratios.append(ref_rates[-1] / base_rates[-1])
                miss = r.miss_ratio
                if name == "lru" and r.hits != base_hits:
                    raise SystemExit(f"lru disagrees with the OrderedDict loop: {r.hits} != {base_hits} hits")
            line = (f"{name:<14}{size:>7}{statistics.median(ref_rates) / 1e6:>12.3f}"
                    f"{statistics.median(base_rates) / 1e6:>20.3f}{statistics.median(ratios):>8.2f}{miss:>12.4f}")
            if fast_ok:
                if kernels.supports(name, {}, False):
                    [f] = replay(src, name, size, engine="fast", seed=1)  # first call may compile; take the best
                    best = min([f.seconds] + [replay(src, name, size, engine="fast", seed=1)[0].seconds
                                              for _ in range(args.repeat - 1)])
                    line += f"{f.requests / best / 1e6:>13.2f}"
                else:
                    line += f"{'-':>13}"
            print(line, flush=True)
        print()


if __name__ == "__main__":
    main()
