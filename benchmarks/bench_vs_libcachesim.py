"""simcache's compiled kernels against libCacheSim's C simulator, measured side by side in one run.

Writes one Zipf trace as oracleGeneral, then for each policy and cache size
prints our requests/second (the kernel loop alone, after compilation), libCacheSim's
requests/second with its C ``process_trace`` loop, the ratio, and both miss
ratios (plus, under each policy that has one, a ``hashed`` line: the same policy
with state for resident objects only and raw ids hashed in the loop, against
the same libCacheSim run); then Redis's maxmemory policies, which libCacheSim lacks,
their kernels against simcache's reference classes; then the exact LRU MRC (all sizes, one pass) against libCacheSim
simulating LRU at 10 sizes -- the loops alone, then as whole processes
(``python -m simcache mrc`` against a ``python -c`` process with libCacheSim's
bindings, each importing, reading the file and simulating from scratch) -- and
the speed-up of replaying many sizes on threads.

    pip install .[bench]
    python benchmarks/bench_vs_libcachesim.py            # the full table (a few minutes)
    python benchmarks/bench_vs_libcachesim.py --repeat 1 --policies lru fifo

Every policy runs with ``variant=libcachesim`` by default, so both sides run the same
algorithm and the miss ratios must agree to the last digit ("same"); ``--variant paper``
times simcache's default (paper) variants instead, where the note says what differs.

Timings are the best of ``--repeat`` runs, ours and libCacheSim's interleaved.
Both loops run in the calling thread, and by default each is timed with that
thread's CPU time (``time.thread_time``), which other processes on a shared
machine cannot inflate by preempting it; ``--clock wall`` times wall-clock instead.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# policy -> libCacheSim class name, and what differs between simcache's paper variant and libCacheSim
LCS = {
    "lru": ("LRU", ""),
    "fifo": ("FIFO", ""),
    "clock": ("Clock", ""),
    "sieve": ("Sieve", ""),
    "s3fifo": ("S3FIFO", "libCacheSim sends new keys to M while S fills before its first eviction"),
    "arc": ("ARC", "the same with unit sizes"),
    "lfu": ("LFU", ""),
    "wtinylfu": ("WTinyLFU", "both window 1% + SLRU 1:4; libCacheSim's sketch is a minimal-increment counting "
                             "Bloom filter sized for main at 0.1% error, decayed every 32x main hits; ours a 4-row "
                             "count-min, width 4x capacity, halved every 10x capacity accesses"),
    "2q": ("TwoQ", ""),
    "lirs": ("LIRS", "LIRS variants differ in the HIR share and the non-resident bound"),
    "slru": ("SLRU", "libCacheSim: 4 equal LRU segments; ours: probationary + 80% protected"),
    "belady": ("Belady", ""),
    "gdsf": ("GDSF", "same H = L + F*C/S; ours breaks ties among equal H by earliest insertion, a likely source of "
                     "the small difference"),
    "random": ("Random", "both uniform random eviction; the random streams differ, so the miss ratios agree "
                         "only statistically"),
    "lfuda": ("LFUDA", "libCacheSim adds L (not C) to a key's priority on a hit and breaks ties LRU first; ours: "
                       "H = L + F*C, ties by earliest insertion"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hashpower", type=int, default=16, help="libCacheSim hash table size 2**hashpower (default 16)")
    ap.add_argument("--policies", nargs="+", default=list(LCS))
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="cpu: the calling thread's CPU time (default); wall: perf_counter")
    ap.add_argument("--redis-requests", type=int, default=200_000,
                    help="requests of the trace replayed through the Redis policies (their reference classes are slow)")
    ap.add_argument("--variant", choices=["libcachesim", "paper"], default="libcachesim",
                    help="simcache's variant of each policy (default libcachesim: the same algorithm as theirs)")
    args = ap.parse_args(argv)
    params = {"variant": args.variant}
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter

    try:
        import libcachesim as lcs
    except ImportError:
        print("libcachesim is not installed: pip install .[bench]", file=sys.stderr)
        return 2

    from simcache.kernels import COMPILED, KERNELS, dense_chunks
    from simcache.kernels.hashed import hashed_policies, new_hashed_state
    from simcache.mrc import exact_lru_mrc, mrc_value
    from simcache.traces import open_trace, write_oracle_general
    from simcache.workloads import zipf_trace

    tmp = Path(tempfile.mkdtemp(prefix="simcache-bench-"))
    path = tmp / "zipf.oracleGeneral.bin"
    ids = zipf_trace(args.alpha, args.objects, args.requests, seed=args.seed)
    write_oracle_general(path, ids)
    print(f"trace: {args.requests:,} requests, Zipf alpha={args.alpha} over {args.objects:,} objects "
          f"(seed {args.seed}), unit sizes, {path}")
    print(f"kernels compiled: {COMPILED}; libCacheSim hashpower={args.hashpower}; best of {args.repeat}; "
          f"clock: {'thread CPU time' if args.clock == 'cpu' else 'wall'}; simcache variant: {args.variant}")

    # remap ids once (and the next-access indexes Belady needs): not part of the timed loop
    parts = list(dense_chunks(open_trace(path), False, need_future=True))
    d_ids = np.concatenate([p.ids for p in parts])
    d_sz = np.concatenate([p.sizes for p in parts])
    d_nx = np.concatenate([p.nxt for p in parts])
    n_obj = parts[-1].n_objects
    # kernels that hash the original keys (W-TinyLFU) read the raw ids where others read next-access indexes
    raw = np.ascontiguousarray(np.asarray(ids).astype(np.int64))

    def side(policy: str) -> np.ndarray:
        return raw if KERNELS[policy].needs_raw else d_nx

    empty = np.zeros(0, dtype=np.int8)
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)

    def ours(policy: str, size: int) -> tuple[float, float]:
        st = KERNELS[policy].new_state(size, params, False)
        st.ensure(n_obj)
        t0 = clock()
        st.run(d_ids, d_sz, d_sz, side(policy), 0, 0, empty)
        dt = clock() - t0
        return dt, st.cnt[1] / (st.cnt[0] + st.cnt[1])

    def ours_hashed(policy: str, size: int) -> tuple[float, float]:
        # raw ids straight into the kernel: no remap, state for resident objects only (allocation timed too)
        st = new_hashed_state(KERNELS[policy], size, params, False)
        t0 = clock()
        st.run(raw, d_sz, d_sz, raw[:0], 0, 0, empty)
        dt = clock() - t0
        return dt, st.cnt[1] / (st.cnt[0] + st.cnt[1])

    def theirs(policy: str, size: int) -> tuple[float, float]:
        cache = getattr(lcs, LCS[policy][0])(size, hashpower=args.hashpower)
        t0 = clock()
        mr, _ = cache.process_trace(reader)
        return clock() - t0, mr

    header = f"{'policy':8} {'size':>7} {'ours req/s':>12} {'lcs req/s':>12} {'ratio':>7} {'ours miss':>10} {'lcs miss':>10}  note"
    print()
    print(header)
    print("-" * len(header))
    ratios, hashed_ratios = [], []
    for policy in args.policies:
        for size in args.sizes:
            if policy not in KERNELS:
                _, mr_l = theirs(policy, size)
                print(f"{policy:8} {size:>7} {'(no kernel)':>12} {'':>12} {'':>7} {'':>10} {mr_l:>10.6f}")
                continue
            # compile (or load the cached machine code) before timing
            warm = KERNELS[policy].new_state(size, params, False)
            warm.ensure(n_obj)
            warm.run(d_ids[:1000], d_sz[:1000], d_sz[:1000], side(policy)[:1000], 0, 0, empty)
            hashed = policy in hashed_policies()
            if hashed:
                ours_hashed(policy, size)  # compile
            best_o = best_l = best_h = float("inf")
            for _ in range(args.repeat):
                dt_o, mr_o = ours(policy, size)
                dt_l, mr_l = theirs(policy, size)
                best_o, best_l = min(best_o, dt_o), min(best_l, dt_l)
                if hashed:
                    dt_h, mr_h = ours_hashed(policy, size)
                    best_h = min(best_h, dt_h)
            r_o, r_l = args.requests / best_o, args.requests / best_l
            ratios.append(r_o / r_l)
            same = "same" if abs(mr_o - mr_l) < 5e-7 else "DIFFERENT"
            note = same if same == "same" or not LCS[policy][1] or (args.variant == "libcachesim"
                                                                    and policy != "random") \
                else f"{same}: {LCS[policy][1]}"
            print(f"{policy:8} {size:>7} {r_o:>12,.0f} {r_l:>12,.0f} {r_o / r_l:>7.1f} {mr_o:>10.6f} {mr_l:>10.6f}  {note}")
            if hashed:
                r_h = args.requests / best_h
                hashed_ratios.append(r_h / r_l)
                same_h = "same" if abs(mr_h - mr_l) < 5e-7 else "DIFFERENT"
                print(f"{'  hashed':8} {size:>7} {r_h:>12,.0f} {r_l:>12,.0f} {r_h / r_l:>7.1f} {mr_h:>10.6f} {mr_l:>10.6f}  "
                      f"{same_h}; {r_h / r_o:.2f}x the dense kernel")
    if ratios:
        print(f"\nratio: min {min(ratios):.1f}, geometric mean {np.exp(np.mean(np.log(ratios))):.1f}")
    if hashed_ratios:
        print(f"hashed kernels' ratio: min {min(hashed_ratios):.1f}, "
              f"geometric mean {np.exp(np.mean(np.log(hashed_ratios))):.1f}")

    _redis_section(ids, args)

    # exact LRU MRC (every size, one pass) vs libCacheSim LRU at 10 sizes
    exact_lru_mrc(_Small(ids[:2000]))  # compile first
    best_m = float("inf")
    for _ in range(args.repeat):
        t0 = clock()
        sizes, mr = exact_lru_mrc(open_trace(path))
        best_m = min(best_m, clock() - t0)
    ten = np.unique(np.geomspace(10, args.objects, 10).astype(np.int64))
    best_l = float("inf")
    lcs_mr = []
    for _ in range(args.repeat):
        t_sum, lcs_mr = 0.0, []
        for c in ten:
            dt, m = theirs("lru", int(c))
            t_sum += dt
            lcs_mr.append(m)
        best_l = min(best_l, t_sum)
    ours_at = mrc_value((sizes, mr), ten)
    print(f"\nexact LRU MRC, all {sizes.shape[0]:,} sizes in one pass (reading the file included): {best_m:.3f} s")
    print(f"libCacheSim LRU at {len(ten)} sizes {list(map(int, ten))}: {best_l:.3f} s")
    print(f"MRC speed ratio: {best_l / best_m:.1f}x; max |difference| at those sizes: "
          f"{np.max(np.abs(ours_at - np.asarray(lcs_mr))):.2e}")

    # whole processes: `simcache mrc` (every size) against a Python process with libCacheSim's bindings
    # simulating LRU at the same 10 sizes; both import, read the file and compute from scratch
    lcs_script = ("import sys, libcachesim as lcs\n"
                  "r = lcs.TraceReader(sys.argv[1], lcs.TraceType.ORACLE_GENERAL_TRACE)\n"
                  f"for c in {list(map(int, ten))}:\n"
                  f"    print(c, lcs.LRU(c, hashpower={args.hashpower}).process_trace(r)[0])\n")
    cmds = {"simcache mrc": [sys.executable, "-m", "simcache", "mrc", "--trace", str(path)],
            "libCacheSim LRU x10": [sys.executable, "-c", lcs_script, str(path)]}
    subprocess.run(cmds["simcache mrc"], check=True, capture_output=True)  # the kernels' on-disk cache, warm
    best_p = {k: float("inf") for k in cmds}
    for _ in range(args.repeat):
        for k, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            best_p[k] = min(best_p[k], time.perf_counter() - t0)
    ours_p, theirs_p = best_p["simcache mrc"], best_p["libCacheSim LRU x10"]
    print(f"whole process, wall, best of {args.repeat}: `simcache mrc` {ours_p:.3f} s (every size); libCacheSim "
          f"bindings, LRU at {len(ten)} sizes {theirs_p:.3f} s; ratio {theirs_p / ours_p:.2f}x")

    # SHARDS: approximate curves against the exact one, on this trace and on the shared CloudPhysics trace
    from simcache.mrc import mrc_mae, shards_mrc

    traces = [("zipf", path)]
    cloud = Path(__file__).resolve().parents[2] / "shared" / "traces" / "cloudphysics_io.oracleGeneral.bin"
    if cloud.exists():
        traces.append(("cloudphysics", cloud))
    print()
    for label, p in traces:
        exact_t0 = clock()
        exact = exact_lru_mrc(open_trace(p))
        exact_dt = clock() - exact_t0
        cells = []
        for kw in ({"rate": 0.1}, {"rate": 0.01}, {"sample_size": 8192}, {"sample_size": 2048}):
            t0 = clock()
            approx = shards_mrc(open_trace(p), **kw)
            dt = clock() - t0
            k, v = next(iter(kw.items()))
            cells.append(f"{k}={v}: MAE {mrc_mae(exact, approx):.4f} ({dt:.2f} s)")
        print(f"SHARDS on {label} (exact {exact_dt:.2f} s): " + "; ".join(cells))

    # many sizes on threads vs one thread (wall clock: this measures parallelism)
    from simcache.kernels import replay_fast

    src = open_trace(path)
    replay_fast(src, "lru", list(ten), bytes_mode=False, workers=1)
    t = {}
    for w in (1, 2):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            replay_fast(src, "lru", list(ten), bytes_mode=False, workers=w)
            best = min(best, time.perf_counter() - t0)
        t[w] = best
    print(f"\nLRU at {len(ten)} sizes through replay_fast: 1 thread {t[1]:.3f} s, 2 threads {t[2]:.3f} s "
          f"(speed-up {t[1] / t[2]:.2f}x)")
    return 0


REDIS = ("redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random", "redis-noeviction")


def _redis_section(ids: np.ndarray, args: argparse.Namespace) -> None:
    """Redis's maxmemory policies have no libCacheSim counterpart: their kernels against simcache's reference classes.

    Both replay the same timed prefix of the trace (requests 10 us apart, so the LRU clock and LFU decay
    move) with the same seeded streams; the hits must be identical, and the ratio is of the loops' seconds.
    """
    from simcache.kernels import ArraySource
    from simcache.replay import replay

    n = min(len(ids), args.redis_requests)
    src = ArraySource(np.asarray(ids[:n], dtype=np.int64), times=np.arange(n, dtype=np.float64) * 1e-5)
    replay(ArraySource(np.asarray(ids[:1000], dtype=np.int64), times=np.zeros(1000)), list(REDIS), [10],
           engine="fast")  # compile first
    print(f"\nRedis maxmemory policies ({n:,} requests 10 us apart): compiled kernel against the reference class "
          f"(libCacheSim has none)")
    header = f"{'policy':22} {'size':>7} {'kernel req/s':>13} {'class req/s':>12} {'ratio':>7} {'miss ratio':>11}  hits"
    print(header)
    print("-" * len(header))
    for policy in REDIS:
        for size in args.sizes:
            fast = min((replay(src, policy, [size], engine="fast", seed=args.seed)[0] for _ in range(args.repeat)),
                       key=lambda r: r.seconds)
            ref = replay(src, policy, [size], engine="reference", seed=args.seed)[0]
            same = "same" if (fast.hits, fast.byte_hits) == (ref.hits, ref.byte_hits) else "DIFFERENT"
            print(f"{policy:22} {size:>7} {n / fast.seconds:>13,.0f} {n / ref.seconds:>12,.0f} "
                  f"{ref.seconds / fast.seconds:>7.1f} {fast.miss_ratio:>11.6f}  {same}")


class _Small:
    """A tiny in-memory source used to compile the MRC kernels before timing."""

    name = "warm-up"

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids

    def iter_chunks(self):  # noqa: ANN201
        from simcache.traces.base import Chunk

        yield Chunk(np.asarray(self.ids, dtype=np.int64))


if __name__ == "__main__":
    sys.exit(main())
