"""Small matplotlib helpers for miss-ratio figures (Agg backend: files only, no display)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # figures go to files; never open a window
    import matplotlib.pyplot as plt

    return plt


def save_mrc_plot(
    path: str | PathLike[str],
    sizes: np.ndarray | None = None,
    miss_ratios: np.ndarray | None = None,
    *,
    points: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    title: str = "",
    xlabel: str = "cache size (entries)",
    log_x: bool = True,
    dashed: Sequence[str] = ("belady",),
) -> Path:
    """Draw a miss-ratio curve and/or per-policy points and save it (format from the suffix: .png, .svg, .pdf).

    Args:
        path: output file.
        sizes: x of the exact curve (e.g. LRU MRC), or None for no curve.
        miss_ratios: y of the exact curve.
        points: policy name -> (sizes, miss ratios), drawn as marked lines.
        title: figure title.
        xlabel: x-axis label.
        log_x: logarithmic size axis.
        dashed: names drawn dashed (bounds and predictions rather than policies).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        if sizes is not None and miss_ratios is not None:
            ax.plot(sizes, miss_ratios, color="black", lw=1.5, label="LRU (exact MRC)")
        colors = plt.get_cmap("tab20").colors  # up to 20 policies stay distinguishable
        for i, (name, (xs, ys)) in enumerate((points or {}).items()):
            style = "--" if name in dashed else "-"
            ax.plot(xs, ys, style, color=colors[i % 20], marker="os^vD<>p*hx+"[i % 12], ms=4, lw=1, label=name)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("miss ratio")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        if title:
            ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out
