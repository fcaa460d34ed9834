"""Replay a very long synthetic Zipf stream in chunks and show that memory stays flat and bounded by the caches.

The default is the scale target: 10**8 requests over a catalogue of 10**8
objects, LRU at two sizes.  Zipf ranks come from the rejection-inversion
sampler (no probability array over the catalogue).  ``replay_fast`` picks the
state layout per cache (``--state auto``): a cache whose dense per-object
arrays would cost more than 64 bytes per cached object runs the slot-hashed
kernel, whose state is O(capacity).  Prints the resident set size as the
replay goes, each cache's layout and kernel state bytes per cached object, the
peak RSS and the throughput.

    python benchmarks/bench_scale.py                       # 10^8 requests (a few minutes)
    python benchmarks/bench_scale.py --requests 10000000   # a quicker look
    python benchmarks/bench_scale.py --state dense         # the catalogue-sized layout, for comparison
    python benchmarks/bench_scale.py --compare             # dense vs auto for lru, arc, s3fifo, 2q: memory ratios

``--compare`` runs each (policy, layout) in its own process over a 10**8-object
catalogue with few requests (2 * 10**6 by default) and prints, per policy, the
peak RSS, the peak of numpy's allocations traced by ``tracemalloc`` and the
kernel state of the dense layout and of the one ``auto`` picks, with their
ratios, all measured in that one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Progress:
    """A trace source that forwards another's chunks (and its ``spec``) and prints RSS every tenth of the stream."""

    def __init__(self, inner: Any, total: int, t0: float) -> None:
        self.inner = inner
        self.spec = inner.spec  # replay_fast reads the catalogue size from it
        self.name = inner.name
        self.total = total
        self.t0 = t0
        self.samples: list[float] = []

    def iter_chunks(self) -> Iterator[Any]:
        done = 0
        next_report = self.total // 10
        for chunk in self.inner.iter_chunks():
            yield chunk  # replay_fast runs the kernels on this chunk before asking for the next one
            done += len(chunk)
            if done >= next_report or done == self.total:
                self.samples.append(rss_mib())
                print(f"  {done:>13,} requests  RSS {self.samples[-1]:,.0f} MiB  "
                      f"elapsed {time.perf_counter() - self.t0:6.1f} s", flush=True)
                next_report += self.total // 10


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=None, help="default 10**8 (--compare: 2 * 10**6)")
    ap.add_argument("--objects", type=int, default=10**8)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--capacities", type=int, nargs="+", default=[10**5, 10**6])
    ap.add_argument("--policy", default="lru")
    ap.add_argument("--chunk", type=int, default=1 << 22)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--state", choices=["auto", "dense", "hashed"], default="auto")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--compare", action="store_true",
                    help="dense vs auto layout, each policy of --policies in its own process; prints memory ratios")
    ap.add_argument("--policies", nargs="+", default=["lru", "arc", "s3fifo", "2q"], help="with --compare")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.requests is None:
        args.requests = 2 * 10**6 if args.compare else 10**8
    if args.compare:
        return compare(args)
    if args.child:
        return child(args)

    from simcache.kernels import COMPILED, replay_fast
    from simcache.workloads import SyntheticTrace, WorkloadSpec

    spec = WorkloadSpec(kind="zipf", n_objects=args.objects, alpha=args.alpha)
    print(f"{args.requests:,} requests, Zipf alpha={args.alpha} over {args.objects:,} objects, {args.policy} at "
          f"{args.capacities}, chunks of {args.chunk:,}; state={args.state}; compiled={COMPILED}")
    print(f"RSS before: {rss_mib():,.0f} MiB")
    t_all = time.perf_counter()
    src = Progress(SyntheticTrace(spec, args.requests, seed=args.seed, chunk_size=args.chunk), args.requests, t_all)
    rows = replay_fast(src, args.policy, args.capacities, bytes_mode=False, state=args.state, workers=args.workers)
    wall = time.perf_counter() - t_all
    t_kernel = sum(r["seconds"] for r in rows)
    for r in rows:
        print(f"capacity {r['capacity']:>12,}: miss ratio {r['misses'] / r['requests']:.6f}  state {r['state']:6}  "
              f"kernel state {r['state_bytes'] / 2**20:8,.1f} MiB = {r['state_bytes'] / r['capacity']:,.1f} bytes "
              f"per cached object")
    print(f"wall {wall:.1f} s (trace generation included): {args.requests / wall / 1e6:.1f} M req/s; "
          f"kernel loops alone {args.requests * len(rows) / t_kernel / 1e6:.1f} M req/s per cache")
    s = src.samples
    if len(s) >= 2:
        print(f"RSS from the first report to the end: {s[0]:,.0f} -> {s[-1]:,.0f} MiB (growth {s[-1] - s[0]:+,.0f} MiB)")
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    return 0


def child(args: argparse.Namespace) -> int:
    """One (policy, layout) run for ``--compare``: prints one JSON line of its measurements."""
    from simcache.kernels import replay_fast
    from simcache.workloads import SyntheticTrace, WorkloadSpec

    spec = WorkloadSpec(kind="zipf", n_objects=args.objects, alpha=args.alpha)
    base_rss = rss_mib()
    tracemalloc.start()
    t0 = time.perf_counter()
    rows = replay_fast(SyntheticTrace(spec, args.requests, seed=args.seed, chunk_size=args.chunk), args.policy,
                       args.capacities, bytes_mode=False, state=args.state, workers=args.workers)
    wall = time.perf_counter() - t0
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"rows": rows, "traced": traced, "peak_rss": peak_rss_mib(), "base_rss": base_rss,
                      "wall": wall}))
    return 0


def compare(args: argparse.Namespace) -> int:
    """Dense vs auto layout per policy, each in a fresh process, with the memory ratios."""
    print(f"{args.requests:,} requests, Zipf alpha={args.alpha} over {args.objects:,} objects, capacities "
          f"{args.capacities}; each (policy, layout) in its own process")
    head = (f"{'policy':8} {'layout':14} {'peak RSS':>10} {'traced peak':>12} {'kernel state':>13} "
            f"{'B/cached obj':>13} {'miss ratio':>11} {'wall':>7}")
    print(head)
    print("-" * len(head))
    for policy in args.policies:
        got = {}
        for state in ("dense", "auto"):
            cmd = [sys.executable, __file__, "--child", "--policy", policy, "--state", state,
                   "--requests", str(args.requests), "--objects", str(args.objects), "--alpha", str(args.alpha),
                   "--chunk", str(args.chunk), "--seed", str(args.seed), "--capacities", *map(str, args.capacities)]
            if args.workers is not None:
                cmd += ["--workers", str(args.workers)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            got[state] = r = json.loads(out.strip().splitlines()[-1])
            states = sum(x["state_bytes"] for x in r["rows"])
            layouts = "/".join(sorted({x["state"] for x in r["rows"]}))
            per = states / sum(x["capacity"] for x in r["rows"])
            miss = ", ".join(f"{x['misses'] / x['requests']:.6f}" for x in r["rows"])
            print(f"{policy:8} {state + ' (' + layouts + ')':14} {r['peak_rss']:>7,.0f} MiB {r['traced'] / 2**20:>8,.0f} MiB "
                  f"{states / 2**20:>9,.1f} MiB {per:>13,.1f} {miss:>11} {r['wall']:>6.1f}s")
        d, a = got["dense"], got["auto"]
        same = all(x["hits"] == y["hits"] for x, y in zip(d["rows"], a["rows"], strict=True))
        print(f"{'':8} ratio dense/auto: peak RSS {d['peak_rss'] / a['peak_rss']:.1f}x, traced "
              f"{d['traced'] / a['traced']:.1f}x, kernel state "
              f"{sum(x['state_bytes'] for x in d['rows']) / sum(x['state_bytes'] for x in a['rows']):.0f}x; "
              f"hits {'identical' if same else 'DIFFERENT'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
