"""simcache.plots: no silent aggregation in sweep figures, grouped replay figures, latency and timeline figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from simcache import plots  # noqa: E402
from simcache.store import Cache  # noqa: E402
from simcache.units import format_bytes  # noqa: E402


def _summary(zipped: bool = True) -> pd.DataFrame:
    """alpha x policy x (objects, size) zipped; mean = alpha + size/1000 + (policy == fifo)."""
    rows = []
    for alpha in (0.6, 1.0):
        for policy in ("lru", "fifo"):
            for objects, size in ((10_000, 100), (100_000, 1000)) if zipped else ((10_000, 100), (10_000, 1000)):
                mean = alpha + size / 1000 + (policy == "fifo")
                rows.append({"point": len(rows), "alpha": alpha, "policy": policy, "objects": objects, "size": size,
                             "metric": "miss_ratio", "n": 2, "mean": mean, "std": 0.0, "ci_low": mean,
                             "ci_high": mean, "ci_half": 0.0})
    return pd.DataFrame(rows)


def test_a_varying_axis_gets_panels_and_a_zipped_axis_labels_x() -> None:
    fig = plots.draw_figure(_summary(), "bars", "size", "miss_ratio", "policy")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["alpha=0.6", "alpha=1.0"]
    # each panel holds only its alpha's bars: heights alpha + size/1000 + fifo
    heights = sorted(round(p.get_height(), 6) for p in panels[1].patches)
    assert heights == [1.1, 2.0, 2.1, 3.0]
    assert "with objects" in panels[0].get_xlabel()
    plt.close(fig)


def test_refusal_names_the_axes_and_the_options() -> None:
    with pytest.raises(ValueError, match=r"axes alpha also vary.*--where alpha=VALUE.*--facet alpha"):
        plots.draw_figure(_summary(), "line", "size", "miss_ratio", "policy", auto_facet=False)


def test_where_fixes_an_axis_and_draws_one_panel() -> None:
    fig = plots.draw_figure(_summary(), "line", "size", "miss_ratio", "policy", where={"alpha": "1.0"})
    (ax,) = fig.axes
    lines = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
    assert np.allclose(lines["lru"], [1.1, 2.0]) and np.allclose(lines["fifo"], [2.1, 3.0])
    assert "alpha=1.0" in ax.get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="no such value; values: 0.6, 1.0"):
        plots.draw_figure(_summary(), "line", "size", "miss_ratio", "policy", where={"alpha": "2"})


def test_policy_panels_group_and_merge_identical_curves() -> None:
    names = ["lru", "fifo", "arc", "s3fifo", "redis-allkeys-lru", "redis-volatile-lru", "redis-noeviction",
             "belady", "mine"]
    same = ([10, 100], [0.9, 0.8])
    curves = {n: ([10, 100], [0.5 + i / 100, 0.4]) for i, n in enumerate(names)}
    curves["redis-volatile-lru"] = curves["redis-noeviction"] = same
    panels = dict(plots.policy_panels(names, curves))
    assert panels["recency and arrival order"] == ["lru", "fifo"]
    assert panels["Redis 7 maxmemory policies"] == ["redis-allkeys-lru", "redis-volatile-lru = noeviction"]
    assert panels["other policies"] == ["mine"]
    assert all(len(v) <= plots.MAX_ENTRIES - 1 for v in panels.values())
    fig = plots.replay_figure(curves)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        bound = [ln for ln in ax.get_lines() if ln.get_label().startswith("belady")]
        assert len(bound) == 1 and bound[0].get_linestyle() == "--" and bound[0].get_color() == "black"
        assert len(ax.get_legend().get_texts()) <= plots.MAX_ENTRIES
    plt.close(fig)


def test_axis_labels_carry_units() -> None:
    assert plots._label("p99_ms") == "p99 latency (ms)"
    assert plots._label("strategy.ttl") == "strategy TTL (s)"
    assert plots._label("cdn_ttl") == "CDN TTL (s)"


def test_units_and_cache_get() -> None:
    assert format_bytes(64 * 2**20) == "64 MiB" and format_bytes(1536) == "1.5 KiB" and format_bytes(512) == "512 B"
    cache = Cache("lru", 2)
    cache.set("a", None)
    assert cache.get("a", "missing") is None  # a stored None is a hit, not the default
    assert cache.get_entry("a") is not None and cache.get("b", "missing") == "missing"
    assert (cache.stats.hits, cache.stats.misses) == (2, 1)


def test_system_figures_drop_the_partial_window_and_draw_markers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from simcache.sim.report import run_model_full

    res = run_model_full("three-tier", {"duration": 3.5, "rate": 300.0}, seed=1, faults=["crash:redis@1+1"])
    res.summary["markers"] = list(res.summary.get("markers", [])) + [
        {"t": 2.5, "source": "sentinel", "kind": "switch-master", "detail": "redis -> replica"}]
    fig = plots.latency_over_time(res)
    ax = fig.axes[0]
    xs = np.concatenate([ln.get_xdata() for ln in ax.get_lines() if ln.get_label().startswith("p")])
    assert xs.max() <= 3.0 and np.isclose(xs.min(), 0.5)  # window centres; the window 3..4 is not drawn
    assert ax.get_legend() is not None and ax.get_ylabel() == "latency (ms)"
    assert any("switch-master" in t.get_text() for t in ax.texts)
    plt.close(fig)
    paths = plots.three_tier_figures(res, tmp_path)
    assert sorted(p.name for p in paths) == ["hit_ratio.png", "latency.png", "latency_cdf.png", "timeline.png"]
    fig = plots.timeline(res)
    assert [ax.get_ylabel() for ax in fig.axes][:3] == ["requests (per s)", "hit ratio", "p99 latency (ms)"]
    assert {t.get_text() for t in fig.axes[0].texts} >= {"sentinel switch-master"}
    plt.close(fig)
    frame = res.timeseries_frame()
    assert "latency:all.p99_ms" in frame and frame["latency:all.p99_ms"].max() < 1000


def test_a_latency_line_breaks_where_no_request_finished() -> None:
    from simcache.plots import _with_gaps

    d = pd.DataFrame({"time": [0.5, 1.5, 4.5], "value": [1.0, 2.0, 3.0]})
    x, y = _with_gaps(d, np.array([0.5, 1.5, 2.5, 3.5, 4.5]))
    assert list(x) == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert y[:2].tolist() == [1.0, 2.0] and np.isnan(y[2]) and np.isnan(y[3]) and y[4] == 3.0
