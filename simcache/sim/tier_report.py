"""Figures of a tier-chain run: per-tier hit ratio, per-tier load, and who served the reads.

The drawing lives in :mod:`simcache.plots` (one style for every figure); this name stays for the
models and scripts that import it from here.
"""

from __future__ import annotations

from pathlib import Path

from simcache.sim.report import SimResult

__all__ = ["hierarchy_figures"]


def hierarchy_figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """Write ``tier_hit_ratio.png``, ``tier_load.png`` and ``tier_served.png`` for a tier-chain run; see
    :func:`simcache.plots.hierarchy_figures`."""
    from simcache.plots import hierarchy_figures as draw

    return draw(result, out_dir)
