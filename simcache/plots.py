"""Figures with one consistent style: metric vs parameter with 95% bands, miss-ratio curves,
latency CDFs, time series with event markers, and bar charts with error bars.

Every function draws on ``ax`` (a new figure when None) and returns the
``Figure``; :func:`save_figure` writes it as PNG and SVG.  Colours follow one
colour-blind-safe palette in a fixed order, so a policy keeps its colour from
figure to figure when it keeps its place in the legend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Okabe-Ito: distinguishable with every common colour-vision deficiency
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "svg.fonttype": "none",  # text stays text in SVG
}
BAND_ALPHA = 0.2


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the simcache figure style inside a ``with`` block."""
    import matplotlib as mpl

    with mpl.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def _axes(ax: Any) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    with style():
        fig, ax = plt.subplots()
    return fig, ax


def _finish(ax: Any, xlabel: str, ylabel: str, title: str, logx: bool = False, logy: bool = False,
            legend_title: str | None = None) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    handles, _ = ax.get_legend_handles_labels()
    if len(handles) > 4:  # a long legend covers data: put it beside the axes
        ax.legend(title=legend_title, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif handles:
        ax.legend(title=legend_title)


def _label(name: str) -> str:
    return name.replace("_", " ")


def _groups(summary: pd.DataFrame, hue: str | None) -> list[tuple[Any, pd.DataFrame]]:
    if hue is None:
        return [(None, summary)]
    return [(k, g) for k, g in summary.groupby(hue, sort=False)]


def _metric_rows(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    if "metric" not in summary:
        raise ValueError("expected a summary table with a 'metric' column (see simcache.sweeps.summarize)")
    rows = summary[summary["metric"] == metric]
    if rows.empty:
        known = ", ".join(sorted(summary["metric"].unique()))
        raise ValueError(f"no metric {metric!r} in the summary; metrics: {known}")
    return rows


def metric_vs_param(summary: pd.DataFrame, x: str, metric: str, hue: str | None = None, *, ax: Any = None,
                    logx: bool = False, logy: bool = False, title: str = "") -> Any:
    """One line per ``hue`` value of the mean of ``metric`` against ``x``, with its 95% CI as a band.

    Args:
        summary: a summary table (``simcache.sweeps.summarize``): point, parameters, metric, mean, ci_low, ci_high.
        x: the parameter on the x axis.
        metric: the metric on the y axis.
        hue: the parameter giving one line per value (a policy, a variant), or None.
        ax: the axes to draw on (a new figure when None).
        logx: log-scaled x axis (cache sizes); logy: log-scaled y axis.
        title: the figure title.
    """
    rows = _metric_rows(summary, metric)
    fig, ax = _axes(ax)
    for i, (key, g) in enumerate(_groups(rows, hue)):
        g = g.sort_values(x)
        colour = PALETTE[i % len(PALETTE)]
        label = None if key is None else str(key)
        ax.plot(g[x], g["mean"], marker=MARKERS[i % len(MARKERS)], color=colour, label=label)
        lo, hi = g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float)
        if np.isfinite(lo).any():
            ax.fill_between(g[x].to_numpy(), lo, hi, color=colour, alpha=BAND_ALPHA, linewidth=0)
    _finish(ax, _label(x), _label(metric), title, logx, logy, legend_title=hue and _label(hue))
    return fig


def bars(summary: pd.DataFrame, x: str, metric: str, hue: str | None = None, *, ax: Any = None,
         logy: bool = False, title: str = "") -> Any:
    """Grouped bars of the mean of ``metric`` per ``x`` value (one bar per ``hue`` value) with 95% CI error bars.

    Args:
        summary: a summary table (see :func:`metric_vs_param`).
        x: the parameter whose values form the groups.
        metric: the metric (bar height).
        hue: the parameter giving one bar per value inside each group, or None.
        ax: the axes to draw on.
        logy: log-scaled y axis.
        title: the figure title.
    """
    rows = _metric_rows(summary, metric)
    fig, ax = _axes(ax)
    xs = list(dict.fromkeys(rows[x].tolist()))
    groups = _groups(rows, hue)
    width = 0.8 / len(groups)
    for i, (key, g) in enumerate(groups):
        mean_of = dict(zip(g[x], g["mean"], strict=True))
        half_of = dict(zip(g[x], g["ci_half"], strict=True))
        pos = np.arange(len(xs)) - 0.4 + width * (i + 0.5)
        means = np.array([mean_of.get(v, np.nan) for v in xs], float)
        half = np.array([half_of.get(v, np.nan) for v in xs], float)
        ax.bar(pos, means, width, yerr=np.nan_to_num(half), capsize=3, color=PALETTE[i % len(PALETTE)],
               label=None if key is None else str(key))
    ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
    _finish(ax, _label(x), _label(metric), title, False, logy, legend_title=hue and _label(hue))
    return fig


def miss_ratio_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, ax: Any = None,
                      logx: bool = True, title: str = "Miss-ratio curves") -> Any:
    """Miss ratio against cache size, one line per policy.

    Args:
        curves: policy name -> (sizes, miss ratios).
        ax: the axes to draw on.
        logx: log-scaled size axis.
        title: the figure title.
    """
    fig, ax = _axes(ax)
    for i, (name, (sizes, ratios)) in enumerate(curves.items()):
        ax.plot(sizes, ratios, color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)],
                markevery=max(1, len(sizes) // 10), label=name)
    ax.set_ylim(0, 1.02)
    _finish(ax, "cache size", "miss ratio", title, logx, False, legend_title="policy")
    return fig


def latency_cdf(samples: Mapping[str, Sequence[float]], *, ax: Any = None, logx: bool = False,
                quantiles: Sequence[float] = (0.5, 0.99), unit: str = "ms", title: str = "Latency CDF") -> Any:
    """Empirical CDF of latencies, one line per variant, with dotted marks at chosen quantiles.

    Args:
        samples: variant -> latency samples.
        ax: the axes to draw on.
        logx: log-scaled latency axis.
        quantiles: quantiles marked on each curve.
        unit: the latency unit in the axis label.
        title: the figure title.
    """
    fig, ax = _axes(ax)
    for i, (name, values) in enumerate(samples.items()):
        x = np.sort(np.asarray(values, float))
        if x.size == 0:
            continue
        y = np.arange(1, x.size + 1) / x.size
        colour = PALETTE[i % len(PALETTE)]
        ax.step(x, y, where="post", color=colour, label=name)
        for q in quantiles:
            ax.axvline(float(np.quantile(x, q)), color=colour, linestyle=":", linewidth=1)
    ax.set_ylim(0, 1.0)
    _finish(ax, f"latency ({unit})", "fraction of requests ≤ latency", title, logx, False)
    return fig


def time_series(times: Sequence[float], series: Mapping[str, Sequence[float]], *,
                events: Sequence[tuple[float, str]] = (), ax: Any = None, ylabel: str = "",
                xlabel: str = "simulated time (s)", title: str = "") -> Any:
    """Metrics over simulated time, with a labelled vertical marker per event (a fault, a failover).

    Args:
        times: the sample times.
        series: name -> values at ``times``.
        events: (time, label) pairs marked on the plot.
        ax: the axes to draw on.
        ylabel: the y-axis label; xlabel: the x-axis label.
        title: the figure title.
    """
    fig, ax = _axes(ax)
    for i, (name, values) in enumerate(series.items()):
        ax.plot(times, values, color=PALETTE[i % len(PALETTE)], label=name)
    for t, label in events:
        ax.axvline(t, color="#555555", linestyle="--", linewidth=1)
        ax.annotate(label, (t, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                    fontsize=8, color="#555555")
    _finish(ax, xlabel, ylabel, title)
    return fig


def save_figure(fig: Any, stem: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` (creating the folder) and close it; returns the paths."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with style():
        for fmt in formats:
            path = stem.with_suffix(f".{fmt}")
            fig.savefig(path, format=fmt)
            paths.append(path)
    plt.close(fig)
    return paths


def draw_figure(summary: pd.DataFrame, kind: str, x: str, y: str, hue: str | None = None, **kw: Any) -> Any:
    """Draw one sweep figure by kind: ``line``/``mrc`` (metric vs parameter with bands) or ``bars``."""
    if kind in ("line", "mrc"):
        return metric_vs_param(summary, x, y, hue, **kw)
    if kind == "bars":
        kw.pop("logx", None)
        return bars(summary, x, y, hue, **kw)
    raise ValueError(f"unknown figure kind {kind!r}; kinds: line, bars, mrc")


def draw_sweep_figures(summary: pd.DataFrame, spec: Any, folder: str | Path,
                       skipped: list[str] | None = None) -> list[Path]:
    """Draw every figure a sweep names into ``folder`` (PNG and SVG); returns the files written.

    Args:
        summary: the sweep's summary table.
        spec: the sweep (its ``figures``).
        folder: where the files go.
        skipped: when given, figures that cannot be drawn (every run of a metric failed) are listed here
            with the reason instead of raising.
    """
    paths: list[Path] = []
    for f in spec.figures:
        try:
            fig = draw_figure(summary, f.kind, f.x, f.y, f.hue, logx=f.logx, logy=f.logy, title=f.title)
        except ValueError as err:
            if skipped is None:
                raise
            skipped.append(f"{f.name}: {err}")
            continue
        paths += save_figure(fig, Path(folder) / f.name)
    return paths

