"""Simulated requests per wall-clock second of the three-tier model vs SimPy's raw event rate, same run.

Run: ``.venv/bin/python benchmarks/bench_sim.py [--duration 60] [--rounds 3]``.  Prints, measured side by
side: the rate of a plain loop of ``yield env.timeout(1)`` across 10 processes; the reference three-tier
model's simulated requests per second with every metric on (time series included); and their ratio.
Each round runs both; the best of each is kept (the machine is shared and noisy).  A second line gives
the same for the model under a fault schedule, and a third with the event-by-event queueing engine.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

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


def model_rate(duration: float, params: dict[str, Any] | None = None, faults: list[str] | None = None,
               seed: int = 0) -> tuple[float, dict[str, Any]]:
    """(simulated requests per wall second, summary) of one three-tier run with all metrics on."""
    spec = get_model("three-tier")
    module = sys.modules[spec.source]
    p = spec.make_params({"duration": duration, **(params or {})})
    t0 = time.perf_counter()
    result = module.simulate(p, seed, faults=faults or [])
    dt = time.perf_counter() - t0
    assert len(result.timeseries) > 0
    return result.summary["sim_requests"] / dt, result.summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="simulated seconds of the three-tier model")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the best of each measurement is kept")
    args = ap.parse_args()
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("three-tier (defaults)", {}, []),
        ("three-tier, redis crash + partition", {}, ["crash:redis@10+5", "partition:app|db@30+2"]),
        ("three-tier, event-by-event queueing", {"queueing": "events"}, []),
    ]
    raw = 0.0
    best = {name: 0.0 for name, _, _ in cases}
    reqs: dict[str, int] = {}
    for _ in range(args.rounds):
        raw = max(raw, raw_simpy_rate())
        for name, params, faults in cases:
            rate, summary = model_rate(args.duration, params, faults)
            best[name] = max(best[name], rate)
            reqs[name] = summary["sim_requests"]
    print(f"raw SimPy: {raw:,.0f} timeouts/s (10 processes looping yield env.timeout(1))")
    for name, _, _ in cases:
        print(f"{name}: {best[name]:,.0f} simulated requests/s over {reqs[name]:,} requests; "
              f"ratio to raw SimPy {best[name] / raw:.4f}")


if __name__ == "__main__":
    main()
