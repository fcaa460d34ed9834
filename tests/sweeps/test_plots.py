"""Figures: what is drawn matches the table (means, CI bands, error bars), files are PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from simcache import plots  # noqa: E402
from simcache.cli import main  # noqa: E402

from .conftest import TOY_SWEEP, write_sweep  # noqa: E402


def _summary() -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for policy, base in (("lru", 0.5), ("fifo", 0.6)):
        for i, size in enumerate((10, 100, 1000)):
            mean = base - 0.1 * i
            rows.append({"point": len(rows), "policy": policy, "size": size, "metric": "miss_ratio", "n": 3,
                         "mean": mean, "std": 0.01, "ci_low": mean - 0.02, "ci_high": mean + 0.03, "ci_half": 0.025})
    return pd.DataFrame(rows)


def test_metric_vs_param_draws_means_and_bands() -> None:
    fig = plots.metric_vs_param(_summary(), "size", "miss_ratio", "policy", logx=True)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"lru", "fifo"}
    assert np.allclose(lines["lru"].get_ydata(), [0.5, 0.4, 0.3])
    assert np.allclose(lines["fifo"].get_xdata(), [10, 100, 1000])
    assert lines["lru"].get_color() != lines["fifo"].get_color()
    bands = ax.collections
    assert len(bands) == 2
    verts = bands[0].get_paths()[0].vertices  # the lru band: from ci_low up to ci_high
    assert np.isclose(verts[:, 1].min(), 0.3 - 0.02) and np.isclose(verts[:, 1].max(), 0.5 + 0.03)
    assert ax.get_xscale() == "log" and ax.get_legend().get_title().get_text() == "policy"
    plt.close(fig)


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="metrics: miss_ratio"):
        plots.metric_vs_param(_summary(), "size", "hits")


def test_bars_heights_and_error_bars() -> None:
    fig = plots.bars(_summary(), "size", "miss_ratio", "policy")
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted([0.5, 0.4, 0.3, 0.6, 0.5, 0.4])
    caps = [c for c in ax.containers if hasattr(c, "errorbar") and c.errorbar is not None]
    assert len(caps) == 2
    segs = caps[0].errorbar.lines[2][0].get_segments()
    assert all(np.isclose(s[1][1] - s[0][1], 0.05) for s in segs)  # ± ci_half
    plt.close(fig)


def test_mrc_cdf_and_time_series() -> None:
    fig = plots.miss_ratio_curves({"lru": ([1, 10, 100], [0.9, 0.5, 0.1])})
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.9, 0.5, 0.1])
    plt.close(fig)
    fig = plots.latency_cdf({"a": [3.0, 1.0, 2.0, 4.0]}, quantiles=(0.5,))
    step = fig.axes[0].get_lines()[0]
    assert np.allclose(step.get_xdata(), [1, 2, 3, 4]) and np.allclose(step.get_ydata(), [0.25, 0.5, 0.75, 1.0])
    plt.close(fig)
    fig = plots.time_series([0, 1, 2], {"p99": [1, 5, 2]}, events=[(1.0, "crash"), (1.5, "failover")])
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3 and [t.get_text() for t in ax.texts] == ["crash", "failover"]
    plt.close(fig)


def test_save_figure_writes_png_and_svg(tmp_path: Path) -> None:
    fig = plots.metric_vs_param(_summary(), "size", "miss_ratio", "policy")
    paths = plots.save_figure(fig, tmp_path / "sub" / "mrc")
    assert [p.name for p in paths] == ["mrc.png", "mrc.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()[:2000] and b"miss ratio" in paths[1].read_bytes()


def test_plot_cli_from_a_results_folder(tmp_path: Path, toy_models: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_sweep(tmp_path, TOY_SWEEP)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--executor", "serial", "--quiet", "--out", str(out), "--no-figures"]) == 0
    assert not (out / "figures").exists()
    capsys.readouterr()
    assert main(["plot", str(out)]) == 0  # the sweep's own figure
    assert (out / "figures" / "line-mean-vs-mu.svg").is_file()
    assert main(["plot", str(out), "--kind", "bars", "--y", "first", "--out", str(tmp_path / "f")]) == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["bars-first-vs-mu.png", "bars-first-vs-mu.svg"]
    capsys.readouterr()
    assert main(["plot", str(out), "--y", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--y: 'nope' is not a metric of this sweep; valid:" in err and "mean" in err
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a sweep results folder" in capsys.readouterr().err
