"""Simulated requests per wall-clock second of the three-tier model vs SimPy's raw event rate, same run.

Run: ``.venv/bin/python benchmarks/bench_sim.py [--duration 60] [--rounds 3]``.  Prints the
rate of a plain loop of ``yield env.timeout(...)`` across 10 processes, the
three-tier model's rate on each engine (``simpy``: the SimPy components;
``compiled``: the array event loop, warmed up first so compilation is not
timed), each engine's ratio to the raw rate (the target is >= 0.25), and
whether both engines gave the same summary.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import simpy

from simcache.catalog import get_model
from simcache.sim.compiled import COMPILED, simulate_compiled


def raw_simpy_rate(events: int = 1_000_000, procs: int = 10) -> float:
    """Timeouts per wall second for ``procs`` processes each looping ``yield env.timeout(1)``."""
    env = simpy.Environment()
    per = events // procs

    def loop(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for _ in range(per):
            yield env.timeout(1.0)

    for _ in range(procs):
        env.process(loop(env))
    t0 = time.perf_counter()
    env.run()
    return per * procs / (time.perf_counter() - t0)


def model_rate(duration: float, seed: int = 0) -> tuple[float, int, float, dict[str, Any]]:
    """SimPy engine: (simulated requests per wall second, requests, queue entries per request, summary)."""
    spec = get_model("three-tier")
    p = spec.make_params({"duration": duration, "engine": "simpy"})
    module = sys.modules[spec.source]
    t0 = time.perf_counter()
    parts = module.build(p, seed)
    world = parts["world"]
    world.run(p.duration)
    s = module.summarize(world, p.duration, [parts["client"]], parts["tiers"], parts["db"])
    dt = time.perf_counter() - t0
    events = next(world.env._eid)  # ids handed out = events scheduled
    return s["sim_requests"] / dt, s["sim_requests"], events / max(s["sim_requests"], 1), s


def compiled_rate(duration: float, seed: int = 0) -> tuple[float, int, float, dict[str, Any]]:
    """Compiled engine, the whole run (draws, loop, recorder, summary): as :func:`model_rate`."""
    spec = get_model("three-tier")
    p = spec.make_params({"duration": duration, "engine": "compiled"})
    module = sys.modules[spec.source]
    stats: dict[str, float] = {}
    t0 = time.perf_counter()
    s = simulate_compiled(p, seed, module.APP_CACHE_SERVICE, timeseries=False, stats=stats).summary
    dt = time.perf_counter() - t0
    return s["sim_requests"] / dt, s["sim_requests"], stats["queue_entries"] / max(s["sim_requests"], 1), s


def same(a: Any, b: Any) -> bool:
    """Equal summaries: exact ints and strings, floats to 1e-9 relative."""
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return bool(a == b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="simulated seconds of the three-tier model")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    args = ap.parse_args()
    t0 = time.perf_counter()
    compiled_rate(0.05)  # compile (or load the cached machine code) before timing
    warm = time.perf_counter() - t0
    best_model = best_fast = best_raw = 0.0
    n = nf = 0
    epr = eprf = 0.0
    sa: dict[str, Any] = {}
    sb: dict[str, Any] = {}
    for _ in range(args.rounds):
        r, n, epr, sa = model_rate(args.duration)
        best_model = max(best_model, r)
        best_raw = max(best_raw, raw_simpy_rate())
        r, nf, eprf, sb = compiled_rate(args.duration)
        best_fast = max(best_fast, r)
    sa.pop("engine", None)
    sb.pop("engine", None)
    mode = "numba" if COMPILED else "plain Python: numba disabled or absent"
    print(f"raw SimPy loop   : {best_raw:12,.0f} timeouts / s (10 processes)")
    print(f"three-tier model : {best_model:12,.0f} simulated requests / s  ({n:,} requests, {epr:.2f} queue entries "
          "each)  [engine=simpy]")
    print(f"ratio            : {best_model / best_raw:.3f}   (target >= 0.25)  [engine=simpy]")
    print(f"three-tier model : {best_fast:12,.0f} simulated requests / s  ({nf:,} requests, {eprf:.2f} queue entries "
          f"each)  [engine=compiled, {mode}; warm-up {warm:.1f} s not timed]")
    print(f"ratio            : {best_fast / best_raw:.3f}   (target >= 0.25)  [engine=compiled]")
    print(f"compiled / simpy : {best_fast / best_model:.1f}x; same summary: {same(sa, sb)}")


if __name__ == "__main__":
    main()
