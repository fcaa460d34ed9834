"""Eviction policies on the workloads that separate them: Zipf skew, scans, a loop, a popularity shift.

Each workload is replayed through every policy at one cache size (``size`` entries) with
:func:`simcache.replay.replay`, Belady's offline optimum as the bound.  The loop is a cyclic sweep over
``loop_factor × size`` objects, the textbook case where LRU and FIFO miss every request; the scans are
one-off sequential reads mixed into a Zipf stream (``WorkloadSpec.scan_fraction``); the shift redraws the
popularity ranking every ``shift_period`` requests (``WorkloadSpec(kind="shifting")``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simcache.replay import chunks_of, replay
from simcache.scenarios import Findings, check, choices, num, pct, positive, save, scenario
from simcache.workloads import SyntheticTrace, WorkloadSpec

WORKLOADS = ("zipf", "scan", "loop", "shift")
POLICIES = ("lru", "fifo", "lfu", "arc", "lirs", "s3fifo", "sieve", "wtinylfu", "belady")


@dataclass(frozen=True)
class Params:
    """Parameters (sizes in entries)."""

    policies: str = "lru,fifo,lfu,arc,lirs,s3fifo,sieve,wtinylfu,belady"
    workloads: str = "zipf,scan,loop,shift"
    objects: int = 20_000
    requests: int = 1_000_000
    size: int = 1_000
    alpha: float = 0.9
    scan_fraction: float = 0.3
    scan_length: int = 5_000
    loop_factor: float = 1.2
    shift_period: int = 100_000

    def __post_init__(self) -> None:
        choices(self, "policies", POLICIES)
        choices(self, "workloads", WORKLOADS)
        positive(self, "objects", "requests", "size", "scan_length", "shift_period", "loop_factor")
        check(self.alpha >= 0, f"alpha must be >= 0, got {self.alpha!r}")
        check(0 < self.scan_fraction < 1, f"scan_fraction must be in (0, 1), got {self.scan_fraction!r}")
        check(self.size < self.objects, f"size must be < objects ({self.objects}), got {self.size!r}")


def trace_of(p: Params, workload: str, seed: int) -> Any:
    """The trace source of one workload."""
    if workload == "loop":
        n = max(int(p.loop_factor * p.size), 2)
        return chunks_of(np.arange(p.requests, dtype=np.int64) % n, name=f"loop-{n}")
    spec = {"zipf": WorkloadSpec(kind="zipf", alpha=p.alpha, n_objects=p.objects),
            "scan": WorkloadSpec(kind="zipf", alpha=p.alpha, n_objects=p.objects, scan_fraction=p.scan_fraction,
                                 scan_length=p.scan_length),
            "shift": WorkloadSpec(kind="shifting", alpha=p.alpha, n_objects=p.objects,
                                  shift_period=p.shift_period)}[workload]
    return SyntheticTrace(spec, p.requests, seed=seed)


def takeaways(p: Params, f: Findings) -> list[str]:
    n = f.numbers
    workloads = choices(p, "workloads", WORKLOADS)
    wins = "; ".join(f"{w}: {n[f'{w}_best']} ({pct(n[f'{w}_' + n[f'{w}_best']])})" for w in workloads)
    out = [f"No policy wins everywhere at {num(p.size)} entries — lowest miss ratio per workload: {wins}."]
    if "belady" in n.get("policies", []):
        gaps = "; ".join(f"{w} {100 * (n[f'{w}_' + n[f'{w}_best']] - n[f'{w}_belady']):.1f}" for w in workloads)
        out.append(f"Belady's offline optimum bounds them all; the best online policy misses more than it by (points): "
                   f"{gaps}.")
    worst = "; ".join(f"{w}: {n[f'{w}_worst']} ({pct(n[f'{w}_' + n[f'{w}_worst']])})" for w in workloads)
    out.append(f"Highest miss ratio per workload: {worst}.")
    if "shift_lfu" in n and "zipf_lfu" in n:
        out.append(f"LFU missed {pct(n['zipf_lfu'])} on stable Zipf but {pct(n['shift_lfu'])} once the popularity "
                   f"moved every {num(p.shift_period)} requests: its counts keep yesterday's favourites.")
    if "loop_lru" in n and "loop_belady" in n:
        out.append(f"On the loop over {num(n['loop_objects'])} objects with room for {num(p.size)}, LRU missed "
                   f"{pct(n['loop_lru'])} of requests: each object is evicted just before it comes back, while the "
                   f"offline optimum keeps a fixed subset and misses only {pct(n['loop_belady'])}.")
    if "scan_lru" in n and "zipf_lru" in n:
        sb = n["scan_best"]
        out.append(f"Scans ({pct(p.scan_fraction, 0)} of requests) raised LRU's miss ratio from "
                   f"{pct(n['zipf_lru'])} to {pct(n['scan_lru'])}; the scan-resistant "
                   f"{sb} kept it at {pct(n['scan_' + sb])}.")
    return out


def figures(p: Params, f: Findings, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from simcache.plots import PALETTE, style

    workloads = choices(p, "workloads", WORKLOADS)
    policies = choices(p, "policies", POLICIES)
    with style():
        fig, ax = plt.subplots(figsize=(7.5, 4.0))
        width = 0.8 / len(policies)
        for i, pol in enumerate(policies):
            xs = np.arange(len(workloads)) + (i - (len(policies) - 1) / 2) * width
            ax.bar(xs, [f.numbers[f"{w}_{pol}"] for w in workloads], width, label=pol, color=PALETTE[i % 8],
                   hatch="//" if pol == "belady" else None)
        ax.set_xticks(np.arange(len(workloads)), workloads)
        ax.set_ylabel("miss ratio")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Miss ratio per policy at {p.size:,} entries")
        ax.legend(ncol=5, fontsize=8, loc="upper left")
    return [save(fig, out, "eviction_policies")]


@scenario("eviction-policies", "LRU, LFU, FIFO and the modern policies on skew, scans, a loop and a popularity shift",
          topic="eviction", question="Explain cache eviction policies (LRU, LFU, FIFO)",
          source="Interview question 1",
          setup="{requests} requests per workload over {objects} objects (Zipf alpha {alpha}), replayed through "
          "each policy ({policies}) at {size} entries: plain Zipf; Zipf with {scan_fraction} of requests in "
          "one-off scans of {scan_length}; a loop over loop_factor {loop_factor} times the cache; a popularity "
          "ranking redrawn every {shift_period} requests. Belady (who knows the future) is the bound.",
          watch="Which policy wins where: frequency (LFU, W-TinyLFU) on stable skew, scan resistance (S3-FIFO, "
          "ARC, LIRS, SIEVE) on scans, LRU and FIFO collapsing on the loop, LFU stuck on yesterday's favourites "
          "after a shift.",
          params=Params, quick={"requests": 100_000, "objects": 5_000, "size": 250, "scan_length": 1_000,
                                "shift_period": 20_000}, runtime="4 s",
          takeaways=takeaways, figures=figures)
def run(p: Params, seed: int) -> Findings:
    policies = choices(p, "policies", POLICIES)
    table: list[dict[str, Any]] = []
    numbers: dict[str, Any] = {"policies": policies, "loop_objects": max(int(p.loop_factor * p.size), 2)}
    for w in choices(p, "workloads", WORKLOADS):
        results = replay(trace_of(p, w, seed), policies, [p.size], seed=seed)
        row: dict[str, Any] = {"workload": w}
        for r in results:
            row[r.policy] = round(r.miss_ratio, 4)
            numbers[f"{w}_{r.policy}"] = r.miss_ratio
        online = [pol for pol in policies if pol != "belady"] or policies
        numbers[f"{w}_best"] = min(online, key=lambda pol: numbers[f"{w}_{pol}"])
        numbers[f"{w}_worst"] = max(online, key=lambda pol: numbers[f"{w}_{pol}"])
        row["best"] = numbers[f"{w}_best"]
        table.append(row)
    return Findings(table, numbers)
