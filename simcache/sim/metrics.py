"""The metrics recorder: request outcomes, streaming latency quantiles, windowed counters, scraped gauges.

Components never compute statistics: they call the recorder when something
happens to a request (:meth:`Recorder.request`, :meth:`Recorder.read`,
:meth:`Recorder.count`) and expose cumulative counters that the recorder
scrapes once per time window (:meth:`Recorder.watch`), as a monitoring system
would.  Latencies go into log-bucketed histograms (:class:`LogHistogram`) with a
bounded relative error, so memory stays flat however long the run.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

QUANTILES = (0.5, 0.95, 0.99, 0.999)


class LogHistogram:
    """A log-bucketed histogram (DDSketch-style) with relative error ``rel_err`` on quantiles.

    Args:
        rel_err: bound on |estimate - exact| / exact for values in [min_value, max_value].
        min_value: values at or below it share the lowest bucket (reported as ``min_value``).
        max_value: values above it share the highest bucket.
        rows: number of independent histograms kept side by side (e.g. time windows); grows on demand.
    """

    def __init__(self, rel_err: float = 0.01, min_value: float = 1e-7, max_value: float = 1e5) -> None:
        if not 0 < rel_err < 1:
            raise ValueError(f"rel_err must be in (0, 1), got {rel_err}")
        if not 0 < min_value < max_value:
            raise ValueError("need 0 < min_value < max_value")
        self.rel_err = rel_err
        self.gamma = (1 + rel_err) / (1 - rel_err)
        self._lg = math.log(self.gamma)
        self.min_value = min_value
        self.max_value = max_value
        self._offset = math.ceil(math.log(min_value) / self._lg)
        self.n_buckets = math.ceil(math.log(max_value) / self._lg) - self._offset + 1
        self.counts = np.zeros(self.n_buckets, dtype=np.int64)
        self.total = 0
        self.sum = 0.0
        self.max = 0.0

    def bucket_of(self, values: np.ndarray) -> np.ndarray:
        """Bucket index of each value."""
        v = np.maximum(np.asarray(values, dtype=float), self.min_value)
        idx = np.ceil(np.log(v) / self._lg).astype(np.int64) - self._offset
        return np.clip(idx, 0, self.n_buckets - 1)

    def add(self, values: np.ndarray | list[float]) -> None:
        """Add a batch of values."""
        v = np.asarray(values, dtype=float)
        if v.size == 0:
            return
        self.counts += np.bincount(self.bucket_of(v), minlength=self.n_buckets)
        self.total += int(v.size)
        self.sum += float(v.sum())
        self.max = max(self.max, float(v.max()))

    def merge(self, other: LogHistogram) -> None:
        """Add another histogram with the same layout."""
        self.counts += other.counts
        self.total += other.total
        self.sum += other.sum
        self.max = max(self.max, other.max)

    def value_of(self, bucket: int | np.ndarray) -> Any:
        """Representative value of a bucket (the midpoint in relative terms)."""
        return 2 * self.gamma ** (np.asarray(bucket) + self._offset) / (self.gamma + 1)

    def quantile(self, q: float) -> float:
        """The q-quantile (lower order statistic of rank floor(q*(n-1))); NaN when empty."""
        return quantiles_of(self.counts, [q], self)[0]

    def mean(self) -> float:
        return self.sum / self.total if self.total else math.nan


def quantiles_of(counts: np.ndarray, qs: list[float] | tuple[float, ...], layout: LogHistogram) -> list[float]:
    """Quantiles from one row of bucket counts laid out as ``layout``."""
    n = int(counts.sum())
    if n == 0:
        return [math.nan] * len(qs)
    cum = np.cumsum(counts)
    out = []
    for q in qs:
        rank = math.floor(q * (n - 1))
        b = int(np.searchsorted(cum, rank, side="right"))
        out.append(float(layout.value_of(b)))
    return out


class _LatencyStream:
    """One named latency stream: an overall histogram plus one row per time window."""

    def __init__(self, layout: LogHistogram) -> None:
        self.hist = LogHistogram(layout.rel_err, layout.min_value, layout.max_value)
        self.wkeys: list[np.ndarray] = []
        self.wcounts: list[np.ndarray] = []
        self.t: list[float] = []
        self.v: list[float] = []

    def compact(self) -> tuple[np.ndarray, np.ndarray]:
        """Merge the sparse per-window chunks; return (keys, counts)."""
        if not self.wkeys:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        k = np.concatenate(self.wkeys)
        c = np.concatenate(self.wcounts)
        uk, inv = np.unique(k, return_inverse=True)
        uc = np.bincount(inv, weights=c).astype(np.int64)
        self.wkeys, self.wcounts = [uk], [uc]
        return uk, uc

    def windows(self) -> dict[int, np.ndarray]:
        """Window index -> dense bucket counts."""
        nb = self.hist.n_buckets
        uk, uc = self.compact()
        out: dict[int, np.ndarray] = {}
        wi = uk // nb
        for w in np.unique(wi):
            sel = wi == w
            row = np.zeros(nb, dtype=np.int64)
            row[uk[sel] % nb] = uc[sel]
            out[int(w)] = row
        return out


class Recorder:
    """Collects what components report and turns it into a summary, a tidy DataFrame and JSON.

    Args:
        window: width of a time window in simulated seconds.
        rel_err: relative error of latency quantiles.
        warmup: requests finishing before this time are not counted in latency/outcome totals.
    """

    FLUSH = 8192

    def __init__(self, window: float = 1.0, rel_err: float = 0.01, warmup: float = 0.0) -> None:
        if window <= 0:
            raise ValueError(f"window must be > 0 seconds, got {window}")
        self.window = float(window)
        self._inv_w = 1.0 / self.window
        self.warmup = float(warmup)
        self.layout = LogHistogram(rel_err)
        self._streams: dict[str, _LatencyStream] = {}
        #: (component, metric, window index) -> count
        self.windowed: dict[tuple[str, str, int], float] = defaultdict(float)
        #: (component, metric) -> total
        self.totals: dict[tuple[str, str], float] = defaultdict(float)
        self._watched: list[tuple[str, Callable[[], dict[str, float]], frozenset[str]]] = []
        self._scrapes: list[tuple[float, str, dict[str, float]]] = []
        self._rt: list[float] = []
        self._rv: list[float] = []
        self._rop: list[str] = []
        self._served: dict[str, list[float]] = {}
        self._nserved = 0
        self.end_time = 0.0
        self.stale_age = LogHistogram(rel_err)
        #: timeline markers, in the order they happened: (time, source, kind, detail)
        self._markers: list[tuple[float, str, str, str]] = []

    # ------------------------------------------------------------ reporting
    def latency(self, stream: str, t: float, value: float) -> None:
        """A latency sample for ``stream`` ended at time ``t``."""
        s = self._streams.get(stream)
        if s is None:
            s = self._streams[stream] = _LatencyStream(self.layout)
        s.t.append(t)
        s.v.append(value)
        if len(s.v) >= self.FLUSH:
            self._flush(s)

    def request(self, t_end: float, latency: float, outcome: str, op: str, detail: str = "") -> None:
        """A client request finished at ``t_end`` with ``outcome`` (ok, timeout, error)."""
        if t_end < self.warmup:
            return
        if detail:
            w = int(t_end * self._inv_w)
            self.totals[("errors", detail)] += 1
            self.windowed[("errors", detail, w)] += 1
        if outcome == "ok":
            # three appends; the ok counts (total, per operation, per window) are made in batches by _flush_requests
            self._rt.append(t_end)
            self._rv.append(latency)
            self._rop.append(op)
            if len(self._rv) >= self.FLUSH:
                self._flush_requests()
            return
        self.windowed[("client", outcome, int(t_end * self._inv_w))] += 1
        self.totals[("client", outcome)] += 1
        self.totals[("client", f"{op}_{outcome}")] += 1

    def _flush_requests(self) -> None:
        """Count buffered ok requests per window and move their latencies into "all" and one stream per operation."""
        self._flush_served()
        if not self._rv:
            return
        t, v, ops = self._rt, self._rv, self._rop
        self._rt, self._rv, self._rop = [], [], []
        uw, cnt = np.unique((np.asarray(t) * self._inv_w).astype(np.int64), return_counts=True)
        windowed, totals = self.windowed, self.totals
        for w, c in zip(uw.tolist(), cnt.tolist(), strict=True):
            windowed[("client", "ok", w)] += c
        totals[("client", "ok")] += len(v)
        for name in ("all", *sorted(set(ops))):
            s = self._streams.get(name)
            if s is None:
                s = self._streams[name] = _LatencyStream(self.layout)
            if name == "all":
                s.t.extend(t)
                s.v.extend(v)
            else:
                s.t.extend(x for x, o in zip(t, ops, strict=True) if o == name)
                s.v.extend(x for x, o in zip(v, ops, strict=True) if o == name)
                totals[("client", f"{name}_ok")] += len(s.v)
            self._flush(s)

    def count(self, component: str, metric: str, t: float, n: float = 1) -> None:
        """Add ``n`` to a windowed counter (e.g. writes lost, stale reads); nothing before the warmup counts."""
        if t < self.warmup:
            return
        self.windowed[(component, metric, int(t * self._inv_w))] += n
        self.totals[(component, metric)] += n

    def read(self, t: float, tier: str, kind: str, age: float = 0.0) -> None:
        """A read answered at ``t`` with a value from ``tier``, judged ``kind`` (fresh, stale, concurrent, dirty).

        ``age`` is how long before the read's invocation the newer version had committed (stale reads).
        """
        if t < self.warmup:
            return
        if kind != "fresh":
            self.count(tier, f"{kind}_reads", t)
            self.count("client", f"{kind}_reads", t)
            if kind == "stale":
                self.stale_age.add([max(age, 0.0)])
        # reads_served is counted in batches (see _flush_served)
        b = self._served.get(tier)
        if b is None:
            b = self._served[tier] = []
        b.append(t)
        self._nserved += 1
        if self._nserved >= self.FLUSH:
            self._flush_served()

    def _flush_served(self) -> None:
        """Count buffered served reads per tier and window."""
        if not self._nserved:
            return
        windowed, totals = self.windowed, self.totals
        for tier, ts in self._served.items():
            if not ts:
                continue
            uw, cnt = np.unique((np.asarray(ts) * self._inv_w).astype(np.int64), return_counts=True)
            for w, c in zip(uw.tolist(), cnt.tolist(), strict=True):
                windowed[(tier, "reads_served", w)] += c
            totals[(tier, "reads_served")] += len(ts)
            ts.clear()
        self._nserved = 0

    def mark(self, t: float, source: str, kind: str, detail: str = "") -> None:
        """A point on the timeline: a fault starting or ending, a failover step, a mass expiry.

        Args:
            t: simulated time of the event (seconds).
            source: who it happened to or who did it (a component, a link, a sentinel).
            kind: what happened, short and stable (``crash``, ``restart``, ``sdown``, ``switch-master``...).
            detail: free text for people (``"+5 s"``, ``"redis-1 -> redis-2"``).

        Markers are kept whatever the warmup (a timeline shows the whole run).
        """
        self._markers.append((float(t), source, kind, detail))

    def markers(self) -> list[dict[str, Any]]:
        """Every marker so far, oldest first, as ``{"t", "source", "kind", "detail"}`` records."""
        return [{"t": t, "source": s, "kind": k, "detail": d} for t, s, k, d in self._markers]

    def watch(self, component: str, scrape: Callable[[], dict[str, float]], gauges: tuple[str, ...] = ()) -> None:
        """Scrape ``component``'s cumulative counters (and instantaneous ``gauges``) every window."""
        self._watched.append((component, scrape, frozenset(gauges)))

    def scrape(self, t: float) -> None:
        """Record every watched component's counters at time ``t`` (once per time: a run carried on is not
        scraped twice at its restart)."""
        if self._scrapes and self._scrapes[-1][0] == t:
            return
        for name, fn, _ in self._watched:
            self._scrapes.append((t, name, dict(fn())))

    def finish(self, t: float) -> None:
        """Close the run at time ``t`` (flushes buffers, takes a last scrape)."""
        self.end_time = t
        if not self._scrapes or self._scrapes[-1][0] < t:
            self.scrape(t)
        self._flush_requests()
        for s in self._streams.values():
            self._flush(s)

    def _flush(self, s: _LatencyStream) -> None:
        if not s.v:
            return
        v = np.asarray(s.v)
        b = s.hist.bucket_of(v)
        nb = s.hist.n_buckets
        s.hist.counts += np.bincount(b, minlength=nb)
        s.hist.total += int(v.size)
        s.hist.sum += float(v.sum())
        s.hist.max = max(s.hist.max, float(v.max()))
        # per-window counts kept sparse: (window * n_buckets + bucket) -> count
        keys = (np.asarray(s.t) * self._inv_w).astype(np.int64) * nb + b
        uk, cnt = np.unique(keys, return_counts=True)
        s.wkeys.append(uk)
        s.wcounts.append(cnt)
        if len(s.wkeys) > 32:
            s.compact()
        s.t.clear()
        s.v.clear()

    # -------------------------------------------------------------- results
    def hist(self, stream: str = "all") -> LogHistogram | None:
        """The overall latency histogram of a stream (None if nothing recorded)."""
        self._flush_requests()
        s = self._streams.get(stream)
        if s is None:
            return None
        self._flush(s)
        return s.hist

    def latency_summary(self, stream: str = "all", scale: float = 1000.0) -> dict[str, float]:
        """Mean and p50/p95/p99/p99.9 of a stream, times ``scale`` (default: milliseconds)."""
        h = self.hist(stream)
        if h is None or h.total == 0:
            return {"count": 0}
        qs = quantiles_of(h.counts, QUANTILES, h)
        out = {"count": h.total, "mean": h.mean() * scale}
        for q, v in zip(QUANTILES, qs, strict=True):
            out[_qname(q)] = v * scale
        out["max"] = h.max * scale
        return out

    def total(self, component: str, metric: str) -> float:
        """A counter's total over the run (after the warmup)."""
        self._flush_requests()
        return self.totals.get((component, metric), 0.0)

    def delta(self, component: str) -> dict[str, float]:
        """A component's counters over the measured span: the last scrape minus the one at the warmup
        (gauges: their last value)."""
        gauges = next((g for name, _, g in self._watched if name == component), frozenset())
        first: dict[str, float] | None = None
        last: dict[str, float] = {}
        for t, name, d in self._scrapes:
            if name != component:
                continue
            if first is None and t >= self.warmup:
                first = d
            last = d
        base = first or {}
        return {k: (v if k in gauges else v - base.get(k, 0.0)) for k, v in last.items()}

    def last_scrape(self, component: str) -> dict[str, float]:
        """The latest scraped counters of a component."""
        for _t, name, d in reversed(self._scrapes):
            if name == component:
                return d
        return {}

    def timeseries(self) -> pd.DataFrame:
        """Tidy per-window metrics: columns time, component, metric, value.

        Rows: latency quantiles per window (component ``latency:STREAM``, metrics ``p50_ms``... in
        milliseconds, as the summary's ``latency_ms``),
        windowed counts (per window), and each watched component's scraped counters: cumulative ones as
        ``NAME_rate`` (per second), gauges as their level, and ``hit_ratio`` when it counts hits and misses.
        """
        rows: list[tuple[float, str, str, float]] = []
        w = self.window
        self._flush_requests()
        for (comp, metric, wi), v in self.windowed.items():
            rows.append((wi * w, comp, metric, float(v)))
        for name, s in self._streams.items():
            self._flush(s)
            for wi, counts in s.windows().items():
                for q, v in zip(QUANTILES, quantiles_of(counts, QUANTILES, s.hist), strict=True):
                    # milliseconds, as the summary's latency_ms; the unit is in the name
                    rows.append((wi * w, f"latency:{name}", f"{_qname(q)}_ms", v * 1000.0))
        gauges = {name: g for name, _, g in self._watched}
        prev: dict[str, tuple[float, dict[str, float]]] = {}
        for t, name, d in self._scrapes:
            if name in prev:
                t0, d0 = prev[name]
                dt = t - t0
                for k, v in d.items():
                    if k in gauges.get(name, ()):
                        rows.append((t0, name, k, float(v)))
                    elif dt > 0:
                        rows.append((t0, name, f"{k}_rate", (float(v) - float(d0.get(k, 0.0))) / dt))
                hits = d.get("hits", 0.0) - d0.get("hits", 0.0)
                misses = d.get("misses", 0.0) - d0.get("misses", 0.0)
                if "hits" in d and hits + misses > 0:
                    rows.append((t0, name, "hit_ratio", hits / (hits + misses)))
            prev[name] = (t, d)
        df = pd.DataFrame(rows, columns=["time", "component", "metric", "value"])
        return df.sort_values(["time", "component", "metric"], kind="stable").reset_index(drop=True)


def _qname(q: float) -> str:
    s = f"{q * 100:g}".replace(".", "_")
    return f"p{s}"


def to_json(obj: Any) -> str:
    """JSON text of a summary (numpy numbers and NaN made portable)."""
    return json.dumps(_jsonable(obj), sort_keys=False)


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, float | np.floating):
        f = float(o)
        return f if math.isfinite(f) else None
    return o
