"""Figures of a tier-chain run: per-tier hit ratio, per-tier load, and who served the reads (PNG, matplotlib Agg)."""

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


def _number(v: Any) -> float:
    return 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def hierarchy_figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """Write ``tier_hit_ratio.png``, ``tier_load.png`` and ``tier_served.png`` for a tier-chain run.

    Args:
        result: a run of the ``hierarchy`` model (or any model whose summary holds a per-tier table with
            ``load_per_s``, as :func:`simcache.sim.tiers.tier_table` makes).
        out_dir: folder for the PNG files (created if missing).

    Returns:
        The paths written.
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
    shown = [_number(tiers[n].get("hit_ratio")) for n in names]
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
    loads = [_number(tiers[n]["load_per_s"]) for n in names]
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

    # where the reads were answered, and which of those answers were already superseded (stale) or overlapped
    # a write (concurrent): the browsers and the CDN, which nothing invalidates, carry most of the stale ones
    fig, ax = plt.subplots(figsize=(8, 4))
    stale = [_number(tiers[n].get("stale_reads")) for n in names]
    conc = [_number(tiers[n].get("concurrent_reads")) for n in names]
    fresh = [max(_number(tiers[n].get("reads_served")) - s - c, 0.0) for n, s, c in zip(names, stale, conc,
                                                                                         strict=True)]
    ax.bar(names, fresh, color="tab:green", label="fresh")
    ax.bar(names, conc, bottom=fresh, color="tab:orange", label="concurrent with a write")
    ax.bar(names, stale, bottom=[f + c for f, c in zip(fresh, conc, strict=True)], color="tab:red", label="stale")
    ax.set_ylabel("reads served by the tier")
    ax.set_title("Who answered the reads, and how fresh")
    ax.legend()
    fig.tight_layout()
    p = out / "tier_served.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths
