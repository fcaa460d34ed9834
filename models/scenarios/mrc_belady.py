"""Miss-ratio curves of several policies against Belady's bound and Che's approximation, on a Zipf workload.

The exact LRU curve comes from one stack-distance pass (:func:`simcache.mrc.exact_lru_mrc`), the other
policies from :func:`simcache.mrc.policy_mrc` (every size replayed in one pass), Belady from
:func:`simcache.replay.replay`, and Che's approximation from :func:`simcache.theory.che_hit_ratio` on the
workload's Zipf probabilities.  The curve answers "how much memory?": the size each policy needs for a
target hit ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simcache.mrc import exact_lru_mrc, mrc_value, policy_mrc
from simcache.replay import replay
from simcache.scenarios import Findings, check, choices, num, pct, positive, save, scenario
from simcache.theory import che_hit_ratio
from simcache.workloads import SyntheticTrace, WorkloadSpec, zipf_pmf

POLICIES = ("lfu", "fifo", "arc", "s3fifo", "sieve", "wtinylfu")


@dataclass(frozen=True)
class Params:
    """Parameters (sizes in entries)."""

    alpha: float = 0.8
    objects: int = 50_000
    requests: int = 2_000_000
    points: int = 12
    policies: str = "fifo,lfu,s3fifo,wtinylfu"
    target: float = 0.7

    def __post_init__(self) -> None:
        positive(self, "objects", "requests", "points")
        check(self.alpha > 0, f"alpha must be > 0, got {self.alpha!r}")
        check(0 < self.target < 1, f"target must be a hit ratio in (0, 1), got {self.target!r}")
        check(self.points >= 3, f"points must be >= 3, got {self.points!r}")
        choices(self, "policies", POLICIES)


def size_for(sizes: np.ndarray, miss: np.ndarray, target_hit: float) -> float | None:
    """The size at which the hit ratio reaches ``target_hit``, interpolated in log size (None beyond the grid)."""
    hit = np.maximum.accumulate(1 - np.asarray(miss, float))
    if not hit.size or hit[-1] < target_hit:
        return None
    if hit[0] >= target_hit:
        return float(sizes[0])
    return float(np.exp(np.interp(target_hit, hit, np.log(np.asarray(sizes, float)))))


def takeaways(p: Params, f: Findings) -> list[str]:
    n = f.numbers
    out = [f"At {num(n['mid_size'])} entries ({pct(n['mid_size'] / p.objects)} of the catalogue) LRU missed "
           f"{pct(n['mid_lru'])}, Belady {pct(n['mid_belady'])}: no online policy can close more than that "
           f"gap; the best one here, {n['mid_best']}, missed {pct(n['mid_' + n['mid_best']])}."]
    lru_need, bel_need = n["lru_size_for_target"], n["belady_size_for_target"]
    if lru_need is not None and bel_need is not None:
        out.append(f"For a {pct(p.target, 0)} hit ratio LRU needs about {num(lru_need)} entries and Belady "
                   f"{num(bel_need)} ({num(lru_need / bel_need, 2)}× less memory).")
    else:
        out.append(f"No size on the grid (up to {num(n['max_size'])}) reached a {pct(p.target, 0)} hit ratio "
                   f"under LRU; raise the grid or lower target.")
    out.append(f"Che's approximation is within {n['che_max_error'] * 100:.2f} points of the exact LRU curve on "
               f"this Zipf({p.alpha}) workload, so for an IRM workload the curve is a formula away.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    from simcache.plots import miss_ratio_curves

    curves: dict[str, tuple[Any, Any]] = {k: v for k, v in f.data["curves"].items()}
    fig = miss_ratio_curves(curves, title=f"Miss-ratio curves, Zipf({p.alpha}), {p.objects:,} objects")
    return [save(fig, out, "mrc_belady")]


@scenario("mrc-belady", "miss-ratio curves of LRU and the modern policies, with Belady as the bound and Che's "
          "formula beside LRU", topic="eviction", question="Explain cache eviction policies (LRU, LFU, FIFO)",
          source="Interview question 1",
          setup="{requests} Zipf({alpha}) requests over {objects} objects; the exact LRU miss-ratio curve from "
          "stack distances, {policies} and Belady at {points} sizes from 0.1 % to 50 % of the catalogue, and "
          "Che's approximation of LRU.",
          watch="The gap between each curve and Belady (what a better policy could still win), and how much "
          "memory each needs for a {target} hit ratio.",
          params=Params, quick={"objects": 10_000, "requests": 200_000, "points": 8}, runtime="6 s",
          takeaways=takeaways, figures=figures)
def run(p: Params, seed: int) -> Findings:
    trace = SyntheticTrace(WorkloadSpec(kind="zipf", alpha=p.alpha, n_objects=p.objects), p.requests, seed=seed)
    sizes = np.unique(np.geomspace(max(p.objects // 1000, 1), p.objects // 2, p.points).astype(np.int64))
    lru_sizes, lru_miss = exact_lru_mrc(trace)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {"lru": (sizes, mrc_value((lru_sizes, lru_miss), sizes))}
    for pol in choices(p, "policies", POLICIES):
        caps, mr = policy_mrc(trace, pol, [int(s) for s in sizes])
        curves[pol] = (caps, mr)
    bel = replay(trace, ["belady"], [int(s) for s in sizes], seed=seed)
    curves["belady"] = (sizes, np.asarray([r.miss_ratio for r in bel]))
    pmf = zipf_pmf(p.alpha, p.objects)
    che = np.asarray([1 - che_hit_ratio(pmf, float(s)) for s in sizes])
    curves["che (lru theory)"] = (sizes, che)
    table = [{"size": int(s), **{k: round(float(v[1][i]), 4) for k, v in curves.items()}} for i, s in enumerate(sizes)]
    mid = len(sizes) // 2
    online = [k for k in curves if k not in ("belady", "che (lru theory)")]
    numbers: dict[str, Any] = {"mid_size": int(sizes[mid]), "max_size": int(sizes[-1]),
                               **{f"mid_{k}": float(curves[k][1][mid]) for k in online + ["belady"]}}
    numbers["mid_best"] = min(online, key=lambda k: numbers[f"mid_{k}"])
    numbers["lru_size_for_target"] = size_for(sizes, curves["lru"][1], p.target)
    bel_sizes, bel_miss = curves["belady"]
    numbers["belady_size_for_target"] = size_for(bel_sizes, bel_miss, p.target)
    numbers["che_max_error"] = float(np.max(np.abs(che - curves["lru"][1])))
    return Findings(table, numbers, data={"curves": curves})
