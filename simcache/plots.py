"""Every simcache figure, in one style: sweeps (metric vs parameter with 95% bands, bars with error bars,
faceted by the axes they do not plot), replay comparisons (policies grouped into panels of at most eight,
Belady as a black dashed bound, theory as a line), exact miss-ratio curves, latency CDFs, latency over
time and a timeline of a system run with its faults and recorder markers.

The drawing functions draw on ``ax`` (a new figure when None) and return the ``Figure``;
:func:`save_figure` writes it as PNG and SVG, :func:`save_as` to one file by suffix.  Colours follow one
colour-blind-safe palette in a fixed order; a policy's colour and marker come from its name
(:func:`policy_style`), so it keeps them from figure to figure.  Units are in every axis label:
latency in milliseconds (as the summaries report it), times in simulated seconds, sizes in entries
or bytes.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from simcache.sim.report import SimResult

__all__ = [
    "BOUND_STYLE",
    "MARKERS",
    "PALETTE",
    "STYLE",
    "bars",
    "draw_figure",
    "draw_sweep_figures",
    "hierarchy_figures",
    "latency_cdf",
    "latency_cdf_figure",
    "latency_over_time",
    "metric_vs_param",
    "miss_ratio_curves",
    "mrc_figure",
    "policy_panels",
    "policy_style",
    "replay_figure",
    "save_as",
    "save_figure",
    "sim_figures",
    "style",
    "three_tier_figures",
    "time_series",
    "timeline",
]

#: Okabe-Ito (distinguishable with every common colour-vision deficiency), its black swapped for Tol's wine:
#: black is the offline bound's alone
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#882255")
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
#: the offline bound (Belady) and exact references: black, dashed, never a contender
BOUND_STYLE: dict[str, Any] = {"color": "black", "linestyle": "--", "marker": None, "linewidth": 1.6}
#: theory curves: grey lines, dotted
THEORY_STYLE: dict[str, Any] = {"color": "#555555", "linestyle": ":", "marker": None, "linewidth": 1.8}
#: at most this many entries in one panel's legend
MAX_ENTRIES = 8


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the simcache figure style inside a ``with`` block."""
    import matplotlib as mpl

    with mpl.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def _pyplot() -> Any:
    import os
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")  # figures go to files; never open a window
    import matplotlib.pyplot as plt

    return plt


def _subplots(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Any, Any]:
    plt = _pyplot()
    with style():
        return plt.subplots(nrows, ncols, **kw)


def _axes(ax: Any) -> tuple[Any, Any]:
    plt = _pyplot()

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
        _plain_log_ticks(ax.xaxis, ax)
    if logy:
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis, ax)
    handles, _ = ax.get_legend_handles_labels()
    if len(handles) > 4:  # a long legend covers data: put it beside the axes
        ax.legend(title=legend_title, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif handles:
        ax.legend(title=legend_title)


def _plain_log_ticks(axis: Any, ax: Any) -> None:
    """A log axis labelled with plain numbers (2, 10, 60; 1,000) and no minor labels; when the data have at
    most eight distinct values on it, the ticks sit on those values."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    values = sorted({float(v) for line in ax.get_lines()
                     for v in (line.get_xdata() if axis is ax.xaxis else line.get_ydata())
                     if np.isfinite(float(v)) and float(v) > 0})
    if 0 < len(values) <= 8:
        axis.set_major_locator(FixedLocator(values))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.10g}"))
    axis.set_minor_formatter(NullFormatter())


#: axis labels with units for the parameters and metrics simcache names
UNITS = {
    "size": "cache size (entries)", "ttl": "TTL (s)", "duration": "duration (s)", "rate": "request rate (req/s)",
    "throughput": "throughput (req/s)", "alpha": "Zipf exponent α", "cdn_ttl": "CDN TTL (s)",
    "browser_ttl": "browser TTL (s)", "app_ttl": "app TTL (s)", "lb_ttl": "load-balancer TTL (s)",
    "cache_ttl": "cache TTL (s)", "miss_ratio": "miss ratio", "hit_ratio": "hit ratio",
    "byte_miss_ratio": "byte miss ratio", "wall_seconds": "wall time (s)", "seconds": "wall time (s)",
}


def _label(name: str) -> str:
    """An axis label with its unit: ``p99_ms`` -> ``p99 latency (ms)``, ``strategy.ttl`` -> ``strategy TTL (s)``."""
    if name in UNITS:
        return UNITS[name]
    head, _, leaf = name.rpartition(".")
    if head and leaf in UNITS:
        return f"{head} {UNITS[leaf]}"
    for section, unit in (("latency_ms", "ms"), ("read_latency_ms", "ms"), ("write_latency_ms", "ms"),
                          ("stale_age_ms", "ms")):
        if head == section:
            what = section[: -len("_ms")].replace("_", " ")
            return f"{leaf.replace('_', '.')} {what} ({unit})"
    text = name.replace(".", " ")
    for suffix, unit in (("_per_s", "per s"), ("_ms", "ms"), ("_s", "s"), ("_bytes", "bytes")):
        if text.endswith(suffix):
            stem = text[: -len(suffix)]
            if unit in ("ms", "s") and re.fullmatch(r"(p\d+(_\d+)?|mean|max)", stem.rsplit(" ", 1)[-1]):
                return f"{stem.replace('_', '.')} latency ({unit})"
            return f"{stem.replace('_', ' ')} ({unit})"
    if name.endswith("_ttl"):
        return f"{text.replace('_', ' ')} (s)"
    return text.replace("_", " ")


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
        label = None if key is None else str(key)
        if hue == "policy":  # a policy keeps its colour and marker in every figure; Belady black, dashed
            st = policy_style(str(key))
            colour = st["color"]
            ax.plot(g[x], g["mean"], label=label, **{**st, "marker": st["marker"] or None})
        else:
            colour = PALETTE[i % len(PALETTE)]
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
        colour = policy_style(str(key))["color"] if hue == "policy" else PALETTE[i % len(PALETTE)]
        ax.bar(pos, means, width, yerr=np.nan_to_num(half), capsize=3, color=colour,
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


def save_as(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to one file, format from the suffix (.png, .svg, .pdf), creating the folder; close it."""
    plt = _pyplot()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with style():
        fig.savefig(out)
    plt.close(fig)
    return out


# ------------------------------------------------------------------ sweep figures, faceted
#: more panels than this and a figure refuses instead of drawing postage stamps
MAX_PANELS = 12


def summary_axes(summary: pd.DataFrame) -> list[str]:
    """The grid axes of a summary table: its columns between ``point`` and ``metric``."""
    cols = list(summary.columns)
    if "metric" not in cols:
        return []
    start = cols.index("point") + 1 if "point" in cols else 0
    return cols[start:cols.index("metric")]


def _filter(summary: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    rows = summary
    for k, v in where.items():
        if k not in rows:
            raise ValueError(f"--where {k}: not an axis of this sweep; axes: {', '.join(summary_axes(summary))}")
        col = rows[k]
        match = col.astype(str) == str(v)
        if not match.any() and pd.api.types.is_numeric_dtype(col):
            try:
                match = np.isclose(col.astype(float), float(v))
            except ValueError:
                pass
        if not match.any():
            values = ", ".join(map(str, dict.fromkeys(col.tolist())))
            raise ValueError(f"--where {k}={v}: no such value; values: {values}")
        rows = rows[match]
    return rows


def _follows(rows: pd.DataFrame, axis: str, by: str) -> bool:
    """Whether ``axis`` takes one value per value of ``by`` (a zipped pair moves together)."""
    return bool((rows.groupby(by, sort=False)[axis].nunique(dropna=False) <= 1).all())


def plan_facets(summary: pd.DataFrame, x: str, hue: str | None = None, facet: Sequence[str] = (),
                where: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Which rows and panels a sweep figure draws, so that nothing is averaged or dropped silently.

    Returns the rows left by ``where``, the axes giving one panel per value combination (``facet`` plus
    every other axis that still varies), and the axes moving with ``x`` (a zip group: drawn as x labels).
    """
    rows = _filter(summary, where or {})
    axes = summary_axes(summary)
    for name, axis in (("--x", x), ("--hue", hue), *((f"--facet {a}", a) for a in facet)):
        if axis is not None and axis not in axes:
            raise ValueError(f"{name}: {axis!r} is not an axis of this sweep; axes: {', '.join(axes)}")
    drawn = {x, hue, *facet}
    varying = [a for a in axes if a not in drawn and rows[a].nunique(dropna=False) > 1]
    with_x = [a for a in varying if _follows(rows, a, x) and (hue is None or _follows(rows, a, x))]
    rest = [a for a in varying if a not in with_x]
    if hue is not None:  # an axis zipped with the hue is named in the legend, not a panel
        rest = [a for a in rest if not _follows(rows, a, hue)]
    return rows, list(facet) + rest, with_x


def draw_figure(summary: pd.DataFrame, kind: str, x: str, y: str, hue: str | None = None, *,
                facet: Sequence[str] = (), where: Mapping[str, Any] | None = None, auto_facet: bool = True,
                **kw: Any) -> Any:
    """Draw one sweep figure by kind: ``line``/``mrc`` (metric vs parameter with bands) or ``bars``.

    Every axis of the sweep is accounted for: ``x``, ``hue``, the ``facet`` axes (one panel per value
    combination), the values fixed by ``where``, and the axes that move with ``x`` (zipped: named on the x
    axis). Any other axis that varies gets its own panels when ``auto_facet`` (up to :data:`MAX_PANELS`);
    otherwise, or with more panels than that, a ``ValueError`` names the axes and the ``--where``/``--facet``
    options that choose.
    """
    if kind not in ("line", "mrc", "bars"):
        raise ValueError(f"unknown figure kind {kind!r}; kinds: line, bars, mrc")
    rows, panels, with_x = plan_facets(summary, x, hue, facet, where)
    _metric_rows(rows, y)
    extra = [a for a in panels if a not in facet]
    if extra and not auto_facet:
        raise ValueError(f"axes {', '.join(extra)} also vary and would be mixed into one curve: fix them with "
                         f"--where {extra[0]}=VALUE or draw one panel per value with --facet {extra[0]}")
    keys = [k for k, _ in rows.groupby(panels, sort=False)] if panels else [()]
    if len(keys) > MAX_PANELS:
        raise ValueError(f"axes {', '.join(panels)} give {len(keys)} panels (at most {MAX_PANELS}): fix some with "
                         f"--where {panels[0]}=VALUE")
    title = kw.pop("title", "") or ""
    drawn = {x, hue, *panels, *with_x, *(where or {})}
    constant = {a: rows[a].iloc[0] for a in summary_axes(summary) if a not in drawn and rows[a].nunique() == 1}
    fixed = ", ".join(f"{k}={v}" for k, v in {**(where or {}), **constant}.items())
    xlabel = _label(x) + (f" (with {', '.join(with_x)})" if with_x else "")

    def one(data: pd.DataFrame, ax: Any, sub: str) -> None:
        if kind == "bars":
            bars(data, x, y, hue, ax=ax, logy=kw.get("logy", False), title=sub)
        else:
            metric_vs_param(data, x, y, hue, ax=ax, logx=kw.get("logx", False), logy=kw.get("logy", False),
                            title=sub)
        ax.set_xlabel(xlabel)
        if with_x and kind == "bars":
            lab = {str(r[x]): ", ".join(f"{a}={r[a]}" for a in with_x) for _, r in data.iterrows()}
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            ax.set_xticks(ax.get_xticks(), [f"{t}\n{lab.get(t, '')}" for t in ticks])

    if not panels:
        fig, ax = _axes(kw.get("ax"))
        one(rows, ax, " · ".join(t for t in (title, fixed) if t))
        return fig
    n = len(keys)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axs = _subplots(nrows, ncols, figsize=(4.6 * ncols + 1.4, 3.4 * nrows + 0.6), squeeze=False,
                         sharey=True)
    groups = dict(iter(rows.groupby(panels, sort=False)))
    for i, key in enumerate(keys):
        ax = axs[i // ncols][i % ncols]
        values = key if isinstance(key, tuple) else (key,)
        one(groups[key], ax, ", ".join(f"{a}={v}" for a, v in zip(panels, values, strict=True)))
        if i % ncols:
            ax.set_ylabel("")
        leg = ax.get_legend()
        if leg is not None and i != ncols - 1:
            leg.remove()
    for j in range(n, nrows * ncols):
        axs[j // ncols][j % ncols].set_visible(False)
    head = title or f"{_label(y)} vs {_label(x)}"
    fig.suptitle(head + f" — one panel per {', '.join(panels)}" + (f" ({fixed})" if fixed else ""))
    fig.tight_layout()
    return fig


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


# ------------------------------------------------------------------ replay figures
#: families of policies, one panel each (at most eight entries with the bound); unknown names go last
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("recency and arrival order", ("lru", "fifo", "random", "clock")),
    ("frequency and cost", ("lfu", "lfuda", "gdsf")),
    ("scan-resistant and adaptive", ("slru", "2q", "arc", "lirs", "wtinylfu", "s3fifo", "sieve")),
    ("Redis 7 maxmemory policies", ("redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random",
                                    "redis-volatile-lru", "redis-volatile-lfu", "redis-volatile-random",
                                    "redis-volatile-ttl", "redis-noeviction")),
)
_ORDER = [name for _, names in FAMILIES for name in names]


def policy_style(name: str) -> dict[str, Any]:
    """Colour, marker and line style of a policy: the same in every figure; Belady black and dashed."""
    if name == "belady" or name.startswith("belady"):
        return dict(BOUND_STYLE)
    if name.lower().startswith(("che", "fifo theory", "theory")) or "theory" in name.lower():
        return {**THEORY_STYLE, "linestyle": ":" if name.lower().startswith("che") else "-."}
    # consecutive colours inside a family; a colour that comes round again comes with another marker
    i = _ORDER.index(name) if name in _ORDER else len(_ORDER) + sum(map(ord, name)) % 40
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[(i + i // len(PALETTE)) % len(MARKERS)],
            "linestyle": "-"}


def policy_panels(names: Sequence[str], curves: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None
                  ) -> list[tuple[str, list[str]]]:
    """Group policy names into titled panels of at most ``MAX_ENTRIES - 1`` (the bound is added to each).

    Policies whose curve is identical to another's in the same panel (the ``redis-volatile-*`` policies equal
    ``redis-noeviction`` on a trace without TTLs: they find no key to evict) are drawn once, labelled
    ``a = b = c``.
    """
    names = [n for n in names if n != "belady"]
    panels: list[tuple[str, list[str]]] = []
    for title, members in FAMILIES:
        got = [n for n in members if n in names]
        if got:
            panels.append((title, got))
    other = [n for n in names if n not in _ORDER]
    for k in range(0, len(other), MAX_ENTRIES - 1):
        panels.append(("other policies", other[k:k + MAX_ENTRIES - 1]))
    if curves is None:
        return panels
    out: list[tuple[str, list[str]]] = []
    for title, group_names in panels:
        merged: dict[tuple[Any, ...], list[str]] = {}
        for n in group_names:
            xs, ys = curves[n]
            merged.setdefault((tuple(xs), tuple(np.round(np.asarray(ys, float), 12))), []).append(n)
        out.append((title, [_same(group) for group in merged.values()]))
    return out


def _same(group: list[str]) -> str:
    """``redis-volatile-lru = volatile-lfu = noeviction``: the shared prefix written once."""
    if len(group) == 1:
        return group[0]
    prefix = group[0].split("-")[0] + "-" if all(g.startswith(group[0].split("-")[0] + "-") for g in group) else ""
    return " = ".join([group[0]] + [g[len(prefix):] for g in group[1:]])


def replay_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                  theory: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                  mrc: tuple[Sequence[float], Sequence[float]] | None = None, title: str = "",
                  xlabel: str = "cache size (entries)", logx: bool = True) -> Any:
    """Miss ratio against cache size for many policies: one panel per family (:func:`policy_panels`), each
    with Belady as the black dashed bound, the exact LRU curve and the theory curves as lines.

    Args:
        curves: policy -> (sizes, miss ratios); ``belady`` is the bound.
        theory: label -> (sizes, predicted miss ratios), drawn as lines in the first panel.
        mrc: the exact LRU miss-ratio curve (sizes, miss ratios), drawn in every panel as a thin grey line.
        title: the figure title (say what was fixed: the trace, its requests).
        xlabel: the size axis label (with its unit).
        logx: log-scaled size axis.
    """
    panels = policy_panels(list(curves), curves)
    n = max(len(panels), 1)
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    fig, axs = _subplots(nrows, ncols, figsize=(6.2 * ncols + 0.6, 3.9 * nrows + 0.5), squeeze=False,
                         sharex=True, sharey=True)
    for i, (sub, labels) in enumerate(panels):
        ax = axs[i // ncols][i % ncols]
        if mrc is not None and len(mrc[0]):
            ax.plot(mrc[0], mrc[1], color="#999999", linewidth=1.0, label="LRU, exact MRC")
        if i == 0:
            for name, (xs, ys) in (theory or {}).items():
                ax.plot(xs, ys, label=name, **policy_style(name))
        for label in labels:
            first = label.split(" = ")[0]
            xs, ys = curves[first]
            st = policy_style(first)
            ax.plot(xs, ys, label=label, markersize=5, **st)
        if "belady" in curves:
            xs, ys = curves["belady"]
            ax.plot(xs, ys, label="belady (offline bound)", **BOUND_STYLE)
        ax.set_title(sub)
        if logx:
            ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("miss ratio" if i % ncols == 0 else "")
        ax.legend(fontsize=8, loc="lower left")
    for j in range(len(panels), nrows * ncols):
        axs[j // ncols][j % ncols].set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def mrc_figure(sizes: Sequence[float] | np.ndarray | None, miss_ratios: Sequence[float] | np.ndarray | None, *,
               points: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
               theory: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None, title: str = "",
               xlabel: str = "cache size (entries)", logx: bool = True, label: str = "LRU (exact MRC)") -> Any:
    """An exact miss-ratio curve as a line, theory curves as lines, and optional measured points.

    Args:
        sizes, miss_ratios: the curve (None: no curve).
        points: label -> (sizes, miss ratios) drawn as markers (sizes asked for, a replay's policies).
        theory: label -> (sizes, predicted miss ratios), drawn as dotted lines.
        title: the figure title; xlabel: the size axis label with its unit; logx: log-scaled size axis.
        label: the curve's legend entry.
    """
    fig, ax = _axes(None)
    if sizes is not None and miss_ratios is not None and len(sizes):
        ax.plot(sizes, miss_ratios, color="black", linewidth=1.6, label=label)
    for name, (xs, ys) in (theory or {}).items():
        ax.plot(xs, ys, label=name, **policy_style(name))
    for name, (xs, ys) in (points or {}).items():
        st = policy_style(name)
        st["linestyle"] = "none"
        label = "belady (offline bound)" if name == "belady" else name
        ax.plot(xs, ys, label=label, marker=st.pop("marker") or "o", **st)
    ax.set_ylim(0, 1.02)
    _finish(ax, xlabel, "miss ratio", title, logx, False)
    return fig


# ------------------------------------------------------------------ system runs
def _window(ts: pd.DataFrame) -> float:
    t = np.unique(ts["time"].to_numpy(float))
    return float(np.median(np.diff(t))) if t.size > 1 else 1.0


def _full_windows(ts: pd.DataFrame, end: float | None) -> pd.DataFrame:
    """The rows of the windows that ended by ``end`` (the last partial window would read as a dip), each at
    its window's centre."""
    if ts.empty:
        return ts
    w = _window(ts)
    if end is not None:
        ts = ts[ts["time"] + w <= end + 1e-9]
    return ts.assign(time=ts["time"] + w / 2)


def _with_gaps(d: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A windowed series on every window of the run, NaN where it has no row (no request finished in that
    window: an outage), so the drawn line breaks there instead of bridging the gap."""
    series = pd.Series(d["value"].to_numpy(float), index=d["time"].to_numpy(float))
    series = series[~series.index.duplicated(keep="last")]
    return times, series.reindex(times).to_numpy(float)


def _latency_axis(ax: Any, values: Any) -> None:
    """Latency in ms: a log axis with plain tick labels when it spans more than a factor of 20, else linear
    from 0."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() / v.min() > 20:
        _log_axis(ax)
    else:
        ax.set_ylim(bottom=0, top=float(v.max()) * 1.08 if v.size else None)


def _log_axis(ax: Any) -> None:
    """A log y axis labelled with plain numbers (0.5, 1, 2, 5, 10), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _markers_of(result: SimResult) -> list[dict[str, Any]]:
    """The run's faults (start, end) and every marker its recorder holds, as {t, end, label, kind} records."""
    out: list[dict[str, Any]] = []
    for f in result.summary.get("faults", []) or []:
        if isinstance(f, Mapping) and "at" in f:
            at = float(f["at"])
            dur = f.get("duration")
            label = f"{f.get('kind', 'fault')} {f.get('target', '')}".strip()
            out.append({"t": at, "end": at + float(dur) if dur else None, "label": label, "kind": "fault"})
    markers = result.summary.get("markers")
    if markers is None and result.world is not None and hasattr(result.world.recorder, "markers"):
        markers = result.world.recorder.markers()
    for m in markers or []:
        label = f"{m.get('source', '')} {m.get('kind', '')}".strip()
        out.append({"t": float(m["t"]), "end": None, "label": label, "kind": str(m.get("kind", "")),
                    "detail": m.get("detail", "")})
    return out


def _draw_markers(axs: Sequence[Any], marks: Sequence[Mapping[str, Any]], label_ax: Any) -> None:
    kinds = list(dict.fromkeys(m["kind"] for m in marks if m["kind"] != "fault"))
    marked = {round(m["t"], 9) for m in marks if m["kind"] != "fault"}
    labels: list[tuple[float, str, str]] = []
    for m in marks:
        fault = m["kind"] == "fault"
        if fault and round(m["t"], 9) in marked:  # the recorder marks the fault itself: shade, label once
            for ax in axs:
                if m.get("end"):
                    ax.axvspan(m["t"], m["end"], color="#D55E00", alpha=0.12, linewidth=0)
            continue
        colour = "#D55E00" if fault else PALETTE[(kinds.index(m["kind"]) + 2) % len(PALETTE)]
        for ax in axs:
            if fault and m.get("end"):
                ax.axvspan(m["t"], m["end"], color=colour, alpha=0.12, linewidth=0)
            ax.axvline(m["t"], color=colour, linestyle="--" if fault else ":", linewidth=1)
        labels.append((m["t"], m["label"], colour))
    # markers closer than 2 % of the time axis share one label (a failover's steps come within a second):
    # the first one's and how many more, so no text is drawn over other text
    lo, hi = label_ax.get_xlim()
    gap = 0.02 * (hi - lo)
    labels.sort(key=lambda x: x[0])
    i = 0
    while i < len(labels):
        j = i
        while j + 1 < len(labels) and labels[j + 1][0] - labels[i][0] < gap:
            j += 1
        names = list(dict.fromkeys(lbl for _t, lbl, _c in labels[i:j + 1]))
        more = f" +{len(names) - 1}" if len(names) > 1 else ""
        text = names[0] if len(names[0]) <= 26 else names[0][:25] + "…"
        ann = label_ax.annotate(text + more, (labels[i][0], 0.98), xycoords=("data", "axes fraction"), rotation=90,
                                va="top", ha="right", fontsize=7, color=labels[i][2], clip_on=True)
        ann.set_in_layout(False)  # a label never resizes the panels
        i = j + 1


def latency_over_time(result: SimResult, *, ax: Any = None, stream: str = "all", log: bool = True,
                      quantiles: Sequence[str] = ("p50", "p95", "p99", "p99_9"), title: str = "") -> Any:
    """Latency percentiles per window (ms, as the summary), legend outside, the last partial window left out,
    faults and recorder markers drawn as vertical lines.

    Args:
        result: a run with a time series (``run_model_full``).
        ax: the axes to draw on.
        stream: the latency stream (``all``, ``read``, ``write``).
        log: log latency axis with plain tick labels (else linear from 0).
        quantiles: which percentiles.
        title: the figure title.
    """
    fig, ax = _axes(ax)
    ts = _full_windows(result.timeseries, result.summary.get("duration"))
    lat = ts[ts["component"] == f"latency:{stream}"]
    times = np.unique(ts["time"].to_numpy(float))
    drawn = []
    for i, q in enumerate(quantiles):
        d = lat[lat["metric"] == f"{q}_ms"]
        if d.empty:
            continue
        x, y = _with_gaps(d, times)
        ax.plot(x, y, color=PALETTE[i % len(PALETTE)], marker=None, label=q.replace("_", "."))
        drawn.append(d["value"].to_numpy(float))
    values = np.concatenate(drawn) if drawn else np.array([])
    if log:
        _latency_axis(ax, values)
    else:
        ax.set_ylim(bottom=0)
    _draw_markers([ax], _markers_of(result), ax)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"{stream} latency (ms)" if stream != "all" else "latency (ms)")
    ax.set_title(title or f"Latency per {_window(result.timeseries):g} s window")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="percentile", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def latency_cdf_figure(results: Mapping[str, SimResult], *, stream: str = "all", title: str = "") -> Any:
    """One latency CDF per configuration (label -> run), from each run's latency histogram (1 % relative
    error; :class:`simcache.sim.metrics.LogHistogram`), log latency axis in ms, p50 and p99 marked."""
    fig, ax = _axes(None)
    for i, (name, res) in enumerate(results.items()):
        colour = PALETTE[i % len(PALETTE)]
        h = res.world.recorder.hist(stream) if res.world is not None else None
        if h is not None and h.total:
            nz = np.nonzero(h.counts)[0]
            x = np.asarray(h.value_of(nz), float) * 1000
            y = np.cumsum(h.counts[nz]) / h.total
        else:  # a summary only: the CDF through its percentiles
            s = res.summary.get(f"{stream}_latency_ms" if stream != "all" else "latency_ms", {})
            qs = [(s[k], q) for k, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p99_9", 0.999)) if k in s]
            if not qs:
                continue
            x, y = np.array([v for v, _ in qs]), np.array([q for _, q in qs])
        ax.step(x, y, where="post", color=colour, marker=None, label=name)
        for q in (0.5, 0.99):
            k = int(np.searchsorted(y, q))
            if k < len(x):
                ax.plot([x[k]], [q], marker="o", color=colour, markersize=4)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_ylim(0, 1.0)
    ax.set_xlabel(f"{'' if stream == 'all' else stream + ' '}latency (ms, log scale)")
    ax.set_ylabel("fraction of requests ≤ latency")
    ax.set_title(title or "Latency CDF per configuration (dots: p50, p99)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def timeline(result: SimResult, *, title: str = "") -> Any:
    """A run on one time axis: requests per window by outcome, hit ratio per tier, p99 latency, and keys
    expired per second when a tier reports them; faults as shaded spans, every recorder marker (a failover
    step, a mass expiry) as a labelled vertical line."""
    ts = _full_windows(result.timeseries, result.summary.get("duration"))
    expired = ts[ts["metric"] == "expired_rate"]
    n = 4 if not expired.empty and bool((expired["value"] > 0).any()) else 3
    fig, axs = _subplots(n, 1, figsize=(8.4, 2.1 * n + 0.6), sharex=True, squeeze=False)
    axs = [a[0] for a in axs]
    w = _window(result.timeseries)
    outcomes = ts[(ts["component"] == "client") & ts["metric"].isin(["ok", "timeout", "error"])]
    # a window without errors has no row: it counts 0
    wide = outcomes.pivot_table(index="time", columns="metric", values="value", aggfunc="sum")
    wide = wide.reindex(np.unique(ts["time"].to_numpy(float))).fillna(0.0)
    for i, metric in enumerate(wide.columns):
        colour = {"ok": "#009E73", "error": "#D55E00", "timeout": "#E69F00"}.get(str(metric), PALETTE[i])
        axs[0].plot(wide.index, wide[metric] / w, color=colour, marker=None, label=str(metric))
    axs[0].set_ylabel("requests (per s)")
    hr = ts[ts["metric"] == "hit_ratio"]
    for i, (comp, d) in enumerate(hr.groupby("component", sort=False)):
        axs[1].plot(d["time"], d["value"], color=PALETTE[i % len(PALETTE)], marker=None, label=str(comp))
    axs[1].set_ylim(0, 1.02)
    axs[1].set_ylabel("hit ratio")
    p99 = ts[(ts["component"] == "latency:all") & (ts["metric"] == "p99_ms")]
    x, y = _with_gaps(p99, np.unique(ts["time"].to_numpy(float)))
    axs[2].plot(x, y, color=PALETTE[0], marker=None, label="p99")
    if not p99.empty:
        _latency_axis(axs[2], p99["value"].to_numpy(float))
    axs[2].set_ylabel("p99 latency (ms)")
    if n == 4:
        for i, (comp, d) in enumerate(expired.groupby("component", sort=False)):
            axs[3].plot(d["time"], d["value"], color=PALETTE[i % len(PALETTE)], marker=None, label=str(comp))
        axs[3].set_ylabel("keys expired (per s)")
    marks = _markers_of(result)
    _draw_markers(axs, marks, axs[0])
    for ax in axs:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    axs[-1].set_xlabel("simulated time (s)")
    fixed = result.summary.get("model", "")
    fig.suptitle(title or f"{fixed} timeline, {w:g} s windows" + (" (shaded: faults; lines: events)" if marks else ""))
    fig.tight_layout()
    return fig


def three_tier_figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """The figures of a system run, PNG: ``latency.png`` (percentiles over time with faults and markers,
    whole-run bars), ``hit_ratio.png`` (per tier over time and whole run), ``latency_cdf.png`` (the run's
    latency distribution) and ``timeline.png`` (:func:`timeline`: outcomes, hit ratio, p99 and every marker)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    fig, axes = _subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2.2, 1]})
    latency_over_time(result, ax=axes[0])
    s = result.summary.get("latency_ms", {})
    qs = [k for k in ("p50", "p95", "p99", "p99_9") if k in s]
    axes[1].bar([q.replace("_", ".") for q in qs], [s[q] for q in qs], color=PALETTE[0])
    axes[1].set_ylabel("latency (ms)")
    axes[1].set_xlabel("percentile")
    axes[1].set_title("Whole run (after the warmup)")
    fig.tight_layout()
    paths.append(save_as(fig, out / "latency.png"))

    fig, axes = _subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2.2, 1]})
    ts = _full_windows(result.timeseries, result.summary.get("duration"))
    hr = ts[ts["metric"] == "hit_ratio"]
    for i, (comp, d) in enumerate(hr.groupby("component", sort=False)):
        axes[0].plot(d["time"], d["value"], color=PALETTE[i % len(PALETTE)], marker=None, label=str(comp))
    _draw_markers([axes[0]], _markers_of(result), axes[0])
    axes[0].set_ylim(0, 1.02)
    axes[0].set_xlabel("simulated time (s)")
    axes[0].set_ylabel("hit ratio")
    axes[0].set_title(f"Hit ratio per tier per {_window(result.timeseries):g} s window")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(title="tier", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ratios = result.summary.get("hit_ratio", {})
    axes[1].bar(list(ratios), list(ratios.values()), color=PALETTE[2])
    axes[1].set_ylim(0, 1.02)
    axes[1].set_ylabel("hit ratio")
    axes[1].set_xlabel("tier")
    axes[1].set_title("Whole run (after the warmup)")
    fig.tight_layout()
    paths.append(save_as(fig, out / "hit_ratio.png"))
    model = result.summary.get("model") or "run"
    paths.append(save_as(latency_cdf_figure({str(model): result}, title=f"Latency CDF of the {model} run "
                                            "(dots: p50, p99)"), out / "latency_cdf.png"))
    paths.append(save_as(timeline(result), out / "timeline.png"))
    return paths


def _number(v: Any) -> float:
    return 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def hierarchy_figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """``tier_hit_ratio.png``, ``tier_load.png`` and ``tier_served.png`` of a tier-chain run (PNG).

    Args:
        result: a run of the ``hierarchy`` model (or any model whose summary holds a per-tier table with
            ``load_per_s``, as :func:`simcache.sim.tiers.tier_table` makes).
        out_dir: folder for the PNG files (created if missing).
    """
    from simcache.errors import UsageError

    tiers = result.summary.get("tiers")
    if not isinstance(tiers, dict) or not tiers or not all("load_per_s" in v for v in tiers.values()):
        raise UsageError("hierarchy_figures needs the result of a tier-chain model (summary['tiers'] with load_per_s)")
    names = list(tiers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    fig, ax = _subplots(figsize=(8, 4))
    shown = [_number(tiers[n].get("hit_ratio")) for n in names]
    drawn = ax.bar(names, shown, color=PALETTE[2])
    for b, r, n in zip(drawn, shown, names, strict=True):
        label = "answers all" if tiers[n].get("kind") == "database" else f"{r:.2f}"
        ax.annotate(label, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("tier (top to bottom)")
    ax.set_ylabel("hit ratio (of reads reaching the tier)")
    ax.set_title("Hit ratio per tier, whole run")
    paths.append(save_as(fig, out / "tier_hit_ratio.png"))

    fig, ax = _subplots(figsize=(8, 4))
    loads = [_number(tiers[n]["load_per_s"]) for n in names]
    drawn = ax.bar(names, loads, color=PALETTE[0])
    for b, v in zip(drawn, loads, strict=True):
        ax.annotate(f"{v:,.0f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                    fontsize=8)
    if max(loads, default=0) > 0 and min(loads) > 0 and max(loads) / min(loads) > 100:
        _log_axis(ax)
    ax.set_xlabel("tier (top to bottom)")
    ax.set_ylabel("reads reaching the tier (per s)")
    ax.set_title("Load per tier, whole run")
    paths.append(save_as(fig, out / "tier_load.png"))

    # where the reads were answered, and which of those answers were already superseded (stale) or overlapped
    # a write (concurrent): the browsers and the CDN, which nothing invalidates, carry most of the stale ones
    fig, ax = _subplots(figsize=(8, 4))
    stale = [_number(tiers[n].get("stale_reads")) for n in names]
    conc = [_number(tiers[n].get("concurrent_reads")) for n in names]
    fresh = [max(_number(tiers[n].get("reads_served")) - s - c, 0.0)
             for n, s, c in zip(names, stale, conc, strict=True)]
    ax.bar(names, fresh, color=PALETTE[2], label="fresh")
    ax.bar(names, conc, bottom=fresh, color=PALETTE[1], label="concurrent with a write")
    ax.bar(names, stale, bottom=[f + c for f, c in zip(fresh, conc, strict=True)], color=PALETTE[3], label="stale")
    ax.set_xlabel("tier (top to bottom)")
    ax.set_ylabel("reads served by the tier")
    ax.set_title("Who answered the reads, and how fresh")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    paths.append(save_as(fig, out / "tier_served.png"))
    return paths


def sim_figures(result: SimResult, out_dir: str | Path) -> list[Path]:
    """The figures every system run with a time series can have: latency over time and the timeline."""
    out = Path(out_dir)
    fig, ax = _subplots(figsize=(8.4, 4))
    latency_over_time(result, ax=ax)
    return [save_as(fig, out / "latency.png"), save_as(timeline(result), out / "timeline.png")]
