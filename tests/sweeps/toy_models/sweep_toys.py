"""Tiny models for the sweep tests: seeded draws, an optional failure, optional work per run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simcache.catalog import model


@dataclass(frozen=True)
class ToyParams:
    mu: float = 0.0
    sigma: float = 1.0
    n: int = 20
    variant: Literal["a", "b", "c"] = "a"
    fail_when_mu: float | None = None  # raise for this mu: a model bug the sweep must survive
    sleep: float = 0.0  # wall time per run, for kill-and-resume tests
    spin: int = 0  # CPU-bound iterations per run, for the parallel-efficiency benchmark

    def __post_init__(self) -> None:
        if self.sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")


@model("sweep-toy", "normal draws with a seeded generator (sweep tests)", ToyParams)
def run(p: ToyParams, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(p.mu, p.sigma, size=p.n)
    if p.fail_when_mu is not None and p.mu == p.fail_when_mu:
        raise RuntimeError(f"toy failure at mu={p.mu}")
    acc = 0
    for i in range(p.spin):  # pure-Python work: holds the GIL, so only processes run it in parallel
        acc = (acc * 31 + i) % 1_000_003
    if p.sleep:
        time.sleep(p.sleep)
    return {"mean": float(x.mean()), "first": float(x[0]), "offset": p.mu + {"a": 0, "b": 1, "c": 2}[p.variant],
            "detail": {"max": float(x.max()), "count": int(p.n)}, "spin_acc": acc}


@dataclass(frozen=True)
class ToyFaultParams:
    duration: float = 10.0
    strategy: str = "cache-aside"
    scale: float = 1.0


@model("sweep-toy-faults", "echoes its strategy options and fault schedule (sweep tests)", ToyFaultParams,
       options=("strategy",))
def run_faults(p: ToyFaultParams, seed: int, options: dict[str, dict[str, Any]] | None = None,
               faults: list[Any] | None = None) -> dict[str, Any]:
    from simcache.sim.faults import faults_of

    opts = (options or {}).get("strategy", {})
    fs = faults_of(faults or [])
    return {"ttl_seen": float(opts.get("ttl", -1)) * p.scale, "n_faults": len(fs),
            "first_at": fs[0].at if fs else -1.0, "faults": [f.as_dict() for f in fs]}
