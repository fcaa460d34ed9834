"""What a trace holds: requests, objects, bytes, popularity (a Zipf fit), reuse distances, sizes, request rate.

:func:`describe` reads a trace source once (whole, in memory) and returns a :class:`TraceSummary`;
:func:`summary_figures` draws it. Reuse distances are LRU stack distances (distinct other objects
requested since the previous request to the object, :func:`simcache.mrc.reuse_distance_histogram`),
bucketed by powers of two, so the histogram is the derivative of the LRU miss-ratio curve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simcache.traces._io import concat_chunks
from simcache.traces.base import TraceSource

#: bins of the request-rate series over the trace's time span
RATE_BINS = 20


@dataclass
class TraceSummary:
    """The numbers ``simcache trace stats`` prints.

    Attributes:
        requests: requests in the trace.
        objects: distinct object ids.
        total_bytes / distinct_bytes: summed sizes of every request / of every object once (its
            last size); None without sizes.
        writes: requests marked as writes (None without operations).
        zipf_alpha: least-squares slope of log(frequency) against log(rank), over the ranks that
            were requested at least twice (None with fewer than 10 such objects).
        one_hit_objects: objects requested once.
        reuse_hist: ``[[low, high, count], ...]`` of LRU stack distances in [low, high), powers of two;
            first requests (infinite distance) are counted in ``cold``.
        size_hist: ``[[low, high, count], ...]`` of request sizes in bytes, powers of two.
        time_span: seconds from the first to the last request (None without times).
        rate: ``[[start, requests per second], ...]`` in :data:`RATE_BINS` bins of the time span.
    """

    name: str
    requests: int
    objects: int
    total_bytes: int | None = None
    distinct_bytes: int | None = None
    writes: int | None = None
    zipf_alpha: float | None = None
    one_hit_objects: int = 0
    cold: int = 0
    reuse_hist: list[list[int]] = field(default_factory=list)
    size_hist: list[list[int]] = field(default_factory=list)
    time_span: float | None = None
    rate: list[list[float]] = field(default_factory=list)
    counts_by_rank: Any = None  # the sorted frequencies (for the figure; not printed)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("counts_by_rank")
        return out


def _pow2_hist(values: np.ndarray, weights: np.ndarray | None = None) -> list[list[int]]:
    if values.size == 0:
        return []
    top = int(values.max())
    edges = [0, 1]
    while edges[-1] <= top:
        edges.append(edges[-1] * 2)
    counts, _ = np.histogram(values, bins=edges, weights=weights)
    return [[int(lo), int(hi), int(c)] for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True) if c]


def zipf_fit(counts_by_rank: np.ndarray) -> float | None:
    """The Zipf exponent of sorted frequencies: minus the slope of log(count) on log(rank), counts >= 2."""
    c = np.asarray(counts_by_rank, dtype=float)
    c = c[c >= 2]
    if c.size < 10:
        return None
    ranks = np.arange(1, c.size + 1, dtype=float)
    slope = np.polyfit(np.log(ranks), np.log(c), 1)[0]
    return float(-slope)


def describe(source: TraceSource) -> TraceSummary:
    """Read ``source`` once and summarise it (see :class:`TraceSummary`)."""
    from simcache.mrc import reuse_distance_histogram

    chunk = concat_chunks(list(source.iter_chunks()))
    ids = chunk.ids
    n = len(chunk)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    by_rank = np.sort(counts)[::-1]
    s = TraceSummary(name=getattr(source, "name", "?"), requests=n, objects=int(uniq.size),
                     zipf_alpha=zipf_fit(by_rank), one_hit_objects=int(np.sum(counts == 1)),
                     counts_by_rank=by_rank)
    if chunk.sizes is not None:
        sizes = np.asarray(chunk.sizes, dtype=np.int64)
        s.total_bytes = int(sizes.sum())
        last = np.zeros(uniq.size, dtype=np.int64)
        last[inverse] = sizes  # later requests overwrite: each object's last size
        s.distinct_bytes = int(last.sum())
        s.size_hist = _pow2_hist(sizes)
    if chunk.ops is not None:
        s.writes = int(np.sum(chunk.ops == 1))
    hist, cold = reuse_distance_histogram(_Whole(chunk, s.name))
    s.cold = cold
    if hist.size:
        s.reuse_hist = _pow2_hist(np.arange(hist.size), weights=hist)
    if chunk.times is not None and n:
        t = np.asarray(chunk.times, dtype=float)
        lo, hi = float(t.min()), float(t.max())
        s.time_span = hi - lo
        if hi > lo:
            c, edges = np.histogram(t, bins=RATE_BINS, range=(lo, hi))
            width = (hi - lo) / RATE_BINS
            s.rate = [[float(e), float(k / width)] for e, k in zip(edges[:-1], c, strict=True)]
    return s


@dataclass
class _Whole:
    chunk: Any
    name: str

    def iter_chunks(self) -> Any:
        yield self.chunk


def summary_figures(s: TraceSummary, folder: str | Path) -> list[Path]:
    """Draw popularity (rank-frequency, log-log), reuse distances, sizes and the request rate as PNG files."""
    from simcache.plots import _pyplot, save_as

    plt = _pyplot()
    out = Path(folder)
    written = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ranks = np.arange(1, len(s.counts_by_rank) + 1)
    ax.loglog(ranks, s.counts_by_rank, ".", markersize=2, label="trace")
    if s.zipf_alpha is not None and len(ranks):
        c1 = float(s.counts_by_rank[0])
        ax.loglog(ranks, c1 * ranks ** (-s.zipf_alpha), "-", label=f"Zipf fit, alpha {s.zipf_alpha:.2f}")
        ax.legend()
    ax.set(xlabel="object rank", ylabel="requests", title=f"popularity: {s.name}")
    written.append(save_as(fig, out / "popularity.png"))
    for key, label, fname in (("reuse_hist", "LRU stack distance (objects)", "reuse.png"),
                              ("size_hist", "request size (bytes)", "sizes.png")):
        rows = getattr(s, key)
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.bar([str(lo) for lo, _, _ in rows], [c for _, _, c in rows])
        ax.set(xlabel=f"{label}, from", ylabel="requests", title=f"{label}: {s.name}")
        ax.tick_params(axis="x", labelrotation=60)
        written.append(save_as(fig, out / fname))
    if s.rate:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.step([r[0] for r in s.rate], [r[1] for r in s.rate], where="post")
        ax.set(xlabel="time (s)", ylabel="requests per second", title=f"request rate: {s.name}")
        written.append(save_as(fig, out / "rate.png"))
    return written
