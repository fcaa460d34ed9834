"""Simulated requests per wall-clock second of the three-tier model vs SimPy's raw event rate, same run.

Run: ``.venv/bin/python benchmarks/bench_sim.py [--duration 60]``.  Prints the
model's rate, the rate of a plain loop of ``yield env.timeout(...)`` across 10
processes, and their ratio (the target is >= 0.25).
"""

from __future__ import annotations

import argparse
import sys
import time

import simpy

from simcache.catalog import get_model


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


def model_rate(duration: float, seed: int = 0) -> tuple[float, int, float]:
    """(simulated requests per wall second, requests, queue entries -- events and bare calls -- per request)."""
    spec = get_model("three-tier")
    p = spec.make_params({"duration": duration})
    module = sys.modules[spec.source]
    t0 = time.perf_counter()
    parts = module.build(p, seed)
    world = parts["world"]
    world.run(p.duration)
    s = module.summarize(world, p.duration, [parts["client"]], parts["tiers"], parts["db"])
    dt = time.perf_counter() - t0
    events = next(world.env._eid)  # ids handed out = events scheduled
    return s["sim_requests"] / dt, s["sim_requests"], events / max(s["sim_requests"], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="simulated seconds of the three-tier model")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    args = ap.parse_args()
    best_model, best_raw, n, epr = 0.0, 0.0, 0, 0.0
    for _ in range(args.rounds):
        r, n, epr = model_rate(args.duration)
        best_model = max(best_model, r)
        best_raw = max(best_raw, raw_simpy_rate())
    print(f"three-tier model : {best_model:12,.0f} simulated requests / s  ({n:,} requests, {epr:.2f} queue entries each)")
    print(f"raw SimPy loop   : {best_raw:12,.0f} timeouts / s (10 processes)")
    print(f"ratio            : {best_model / best_raw:.3f}   (target >= 0.25)")


if __name__ == "__main__":
    main()
