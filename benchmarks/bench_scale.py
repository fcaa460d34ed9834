"""Replay a very long synthetic Zipf stream in chunks and show that memory stays flat.

The default is the scale target: 10**8 requests over a catalogue of 10**8
objects, LRU at two sizes.  Zipf ranks come from the rejection-inversion
sampler (no probability array over the catalogue) and the catalogue's ids are
already dense, so the kernels' per-object arrays are allocated once; after
that nothing grows with the number of requests.  Prints the resident set size
as the replay goes, the peak, and the throughput.

    python benchmarks/bench_scale.py                       # 10^8 requests (a few minutes)
    python benchmarks/bench_scale.py --requests 10000000   # a quicker look
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10**8)
    ap.add_argument("--objects", type=int, default=10**8)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--capacities", type=int, nargs="+", default=[10**5, 10**6])
    ap.add_argument("--policy", default="lru")
    ap.add_argument("--chunk", type=int, default=1 << 22)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from simcache.kernels import COMPILED, KERNELS, dense_chunks
    from simcache.workloads import SyntheticTrace, WorkloadSpec

    spec = WorkloadSpec(kind="zipf", n_objects=args.objects, alpha=args.alpha)
    src = SyntheticTrace(spec, args.requests, seed=args.seed, chunk_size=args.chunk)
    kernel = KERNELS[args.policy]
    states = [kernel.new_state(c, {}, False) for c in args.capacities]
    print(f"{args.requests:,} requests, Zipf alpha={args.alpha} over {args.objects:,} objects, {args.policy} at "
          f"{args.capacities}, chunks of {args.chunk:,}; compiled={COMPILED}")
    print(f"RSS before: {rss_mib():,.0f} MiB")
    empty = np.zeros(0, dtype=np.int8)
    t_all = time.perf_counter()
    t_kernel = 0.0
    done = 0
    next_report = args.requests // 10
    samples = []
    for ids, sizes, bsz, nxt, base, n in dense_chunks(src, False):
        for st in states:
            st.ensure(n)
            t0 = time.perf_counter()
            st.run(ids, sizes, bsz, nxt, base, 0, empty)
            t_kernel += time.perf_counter() - t0
        done += ids.shape[0]
        if done >= next_report or done == args.requests:
            samples.append(rss_mib())
            print(f"  {done:>13,} requests  RSS {samples[-1]:,.0f} MiB  elapsed {time.perf_counter() - t_all:6.1f} s")
            next_report += args.requests // 10
    wall = time.perf_counter() - t_all
    print(f"kernel state: {sum(st.nbytes() for st in states) / 2**20:,.0f} MiB "
          f"({kernel.name}: {sum(np.dtype(a[1]).itemsize * (a[3] if len(a) > 3 else 1) for a in kernel.obj_arrays)} "
          f"bytes per catalogue object "
          f"per cache)")
    for c, st in zip(args.capacities, states, strict=True):
        h, m = int(st.cnt[0]), int(st.cnt[1])
        print(f"capacity {c:>12,}: miss ratio {m / (h + m):.6f}")
    print(f"wall {wall:.1f} s (trace generation included): {args.requests / wall / 1e6:.1f} M req/s; "
          f"kernel loops alone {args.requests * len(states) / t_kernel / 1e6:.1f} M req/s per cache")
    if len(samples) >= 2:
        print(f"RSS from the first report to the end: {samples[0]:,.0f} -> {samples[-1]:,.0f} MiB "
              f"(growth {samples[-1] - samples[0]:+,.0f} MiB)")
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
