"""Figures of a tier-chain run: per-tier hit ratio and per-tier load (PNG, matplotlib Agg)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from simcache.errors import UsageError
from simcache.sim.report import SimResult


def _tiers(result: SimResult) -> dict[str, dict[str, Any]]:
    tiers = result.summary.get("tiers")
    if not isinstance(tiers, dict) or not tiers or not all("load_per_s" in v for v in tiers.values()):
        raise UsageError("hierarchy_figures needs the result of a tier-chain model (summary['tiers'] with load_per_s)")
    return tiers


def hierarchy_figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """Write ``tier_hit_ratio.png`` and ``tier_load.png`` for a tier-chain run; return their paths.

    Args:
        result: a run of the ``hierarchy`` model (or any model whose summary holds a chain's per-tier summary).
        out_dir: folder for the PNG files (created if missing).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiers = _tiers(result)
    names = list(tiers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    fig, ax = plt.subplots(figsize=(8, 4))
    ratios = [tiers[n]["hit_ratio"] for n in names]
    shown = [0.0 if r is None or (isinstance(r, float) and math.isnan(r)) else r for r in ratios]
    bars = ax.bar(names, shown, color="tab:green")
    for b, r, n in zip(bars, shown, names, strict=True):
        label = "answers all" if tiers[n].get("kind") == "database" else f"{r:.2f}"
        ax.annotate(label, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("hit ratio (of reads reaching the tier)")
    ax.set_title("Hit ratio per tier")
    fig.tight_layout()
    p = out / "tier_hit_ratio.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    fig, ax = plt.subplots(figsize=(8, 4))
    loads = [tiers[n]["load_per_s"] for n in names]
    bars = ax.bar(names, loads, color="tab:blue")
    for b, v in zip(bars, loads, strict=True):
        ax.annotate(f"{v:.0f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    if max(loads, default=0) > 0 and min(loads) > 0 and max(loads) / min(loads) > 100:
        ax.set_yscale("log")
    ax.set_ylabel("reads reaching the tier (per second)")
    ax.set_title("Load per tier")
    fig.tight_layout()
    p = out / "tier_load.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths
