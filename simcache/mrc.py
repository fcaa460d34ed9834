"""Miss-ratio curves: exact LRU in one pass, SHARDS sampling, reuse distances, and any policy over many sizes.

Exact LRU MRC: LRU is a stack algorithm (Mattson et al. 1970), so one pass that
computes every request's stack distance -- the number of distinct objects
(or bytes) touched since the previous request to the same object, itself
included -- gives the miss ratio at every cache size at once: a request hits
in a cache of size ``c`` exactly when its distance is at most ``c``.  The
distances come from a Fenwick tree over "last access" markers; the tree is
indexed by a slot counter that is compacted (live markers renumbered in
order) when it runs out, so memory follows the number of distinct objects,
not the trace length.

SHARDS (Waldspurger et al., FAST 2015) keeps only the objects whose id hash
falls below a threshold ``T`` (rate ``R = T / P``), computes their distances
and scales them by ``1/R``.  Fixed-size SHARDS lowers ``T`` whenever more than
``sample_size`` objects are tracked, evicting those with the largest hashes
and rescaling the histogram counts gathered so far by ``R_new / R_old``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simcache.errors import UsageError
from simcache.kernels import dense_chunks, replay_fast
from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import heap_push, heap_remove
from simcache.kernels.remap import Remapper

_P = 1 << 24  # SHARDS hash modulus: thresholds are integers in [0, P]


@jit_inline
def _fw_add(bit: np.ndarray, i: int, v: int) -> None:
    i += 1
    n = bit.shape[0]
    while i <= n:
        bit[i - 1] += v
        i += i & (-i)


@jit_inline
def _fw_prefix(bit: np.ndarray, i: int) -> int:
    """Sum of positions 0..i-1."""
    s = 0
    while i > 0:
        s += bit[i - 1]
        i -= i & (-i)
    return s


@jit
def _compact(last: np.ndarray, weight: np.ndarray, bit: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """Renumber live markers 0..L-1 in order and rebuild the tree (doubling it when over half full)."""
    n_live = 0
    for x in range(last.shape[0]):
        if last[x] >= 0:
            n_live += 1
    objs = np.empty(n_live, dtype=np.int64)
    keys = np.empty(n_live, dtype=np.int64)
    j = 0
    for x in range(last.shape[0]):
        if last[x] >= 0:
            objs[j] = x
            keys[j] = last[x]
            j += 1
    order = np.argsort(keys)
    size = bit.shape[0]
    while 2 * n_live + 16 > size:
        size *= 2
    nb = np.zeros(size, dtype=np.int64)
    for r in range(n_live):
        x = objs[order[r]]
        last[x] = r
        nb[r] = weight[x]
    # linear-time Fenwick build
    for i in range(1, size + 1):
        p = i + (i & (-i))
        if p <= size:
            nb[p - 1] += nb[i - 1]
    sc[0] = n_live
    return nb


@jit
def _distances(ids: np.ndarray, sizes: np.ndarray, start: int, last: np.ndarray, weight: np.ndarray,
               bit: np.ndarray, sc: np.ndarray, out: np.ndarray) -> int:
    """Stack distances of ids[start:] into out (-1: first access); returns where it stopped (tree full)."""
    t = sc[0]
    total = sc[1]
    n = bit.shape[0]
    for i in range(start, ids.shape[0]):
        if t >= n:
            sc[0] = t
            sc[1] = total
            return i
        x = ids[i]
        s = sizes[i]
        p = last[x]
        if p >= 0:
            out[i] = total - _fw_prefix(bit, p)
            _fw_add(bit, p, -weight[x])
            total -= weight[x]
        else:
            out[i] = -1
        last[x] = t
        weight[x] = s
        _fw_add(bit, t, s)
        total += s
        t += 1
    sc[0] = t
    sc[1] = total
    return ids.shape[0]


class StackDistances:
    """Streaming LRU stack distances (entries or bytes) with memory proportional to distinct objects."""

    def __init__(self) -> None:
        self.last = np.full(0, -1, dtype=np.int64)
        self.weight = np.zeros(0, dtype=np.int64)
        self.bit = np.zeros(1 << 16, dtype=np.int64)
        self.sc = np.zeros(2, dtype=np.int64)  # next slot, total live weight

    def ensure(self, n: int) -> None:
        have = self.last.shape[0]
        if n > have:
            new = max(n, have + have // 2)
            self.last = np.concatenate([self.last, np.full(new - have, -1, dtype=np.int64)])
            self.weight = np.concatenate([self.weight, np.zeros(new - have, dtype=np.int64)])

    def forget(self, x: int) -> None:
        """Drop object ``x``'s marker (fixed-size SHARDS stops tracking it)."""
        p = self.last[x]
        if p >= 0:
            _fw_add(self.bit, int(p), -int(self.weight[x]))
            self.sc[1] -= self.weight[x]
            self.last[x] = -1

    def run(self, ids: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Distances of one chunk of dense ids (-1 for first accesses)."""
        out = np.empty(ids.shape[0], dtype=np.int64)
        i = 0
        while True:
            i = _distances(ids, sizes, i, self.last, self.weight, self.bit, self.sc, out)
            if i >= ids.shape[0]:
                return out
            self.bit = _compact(self.last, self.weight, self.bit, self.sc)


def _entry_hist(source: Any, bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(distinct distances, their counts, number of requests) over a whole trace."""
    sd = StackDistances()
    n_req = 0
    hist = np.zeros(1, dtype=np.int64)  # entry mode: hist[d] for d >= 1
    parts_d: list[np.ndarray] = []
    parts_c: list[np.ndarray] = []
    for ids, sizes, *_, n in dense_chunks(source, bytes_mode):
        sd.ensure(n)
        d = sd.run(ids, sizes)
        n_req += ids.shape[0]
        d = d[d > 0]
        if bytes_mode:
            u, c = np.unique(d, return_counts=True)
            parts_d.append(u)
            parts_c.append(c)
            if len(parts_d) > 16:  # keep the partial histograms merged
                parts_d, parts_c = _merge(parts_d, parts_c)
        else:
            b = np.bincount(d, minlength=hist.shape[0])
            if b.shape[0] > hist.shape[0]:
                b[: hist.shape[0]] += hist
                hist = b
            else:
                hist += b
    if bytes_mode:
        (dist,), (cnt,) = _merge(parts_d, parts_c) if parts_d else ([np.zeros(0, np.int64)], [np.zeros(0, np.int64)])
        return dist, cnt, n_req
    nz = np.nonzero(hist)[0]
    return nz.astype(np.int64), hist[nz], n_req


def _merge(parts_d: list[np.ndarray], parts_c: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    d = np.concatenate(parts_d)
    c = np.concatenate(parts_c)
    u, inv = np.unique(d, return_inverse=True)
    return [u], [np.bincount(inv, weights=c, minlength=u.shape[0]).astype(np.int64)]


def exact_lru_mrc(source: Any, bytes_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Exact LRU miss ratio at every cache size, in one pass.

    Args:
        source: a TraceSource.
        bytes_mode: False: sizes 1..N (N distinct objects) in entries.  True:
            sizes are the distinct byte stack distances (sum of the sizes of
            the distinct objects touched since the last access, the object's
            own included); the miss ratio is a step function between them.
            In bytes this equals an LRU replay when no object is larger than
            the cache (LRU then always holds the longest recency prefix that fits).

    Returns ``(sizes, miss_ratios)``.
    """
    dist, cnt, n_req = _entry_hist(source, bytes_mode)
    if n_req == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    if not bytes_mode:
        n_obj = n_req - int(cnt.sum())  # first accesses: one per distinct object
        full = np.zeros(n_obj + 1, dtype=np.int64)
        full[dist] = cnt
        sizes = np.arange(1, n_obj + 1, dtype=np.int64)
        return sizes, 1.0 - np.cumsum(full[1:]) / n_req
    return dist, 1.0 - np.cumsum(cnt) / n_req


def reuse_distance_histogram(source: Any) -> tuple[np.ndarray, int]:
    """Histogram of reuse distances (distinct other objects requested since the previous access).

    Args:
        source: a TraceSource.

    Returns ``(counts, first_accesses)``: ``counts[d]`` requests had reuse
    distance ``d`` (an LRU cache of ``d + 1`` entries would hit them).
    """
    dist, cnt, n_req = _entry_hist(source, False)
    counts = np.zeros(int(dist[-1]) if dist.shape[0] else 0, dtype=np.int64)
    counts[dist - 1] = cnt
    return counts, int(n_req - cnt.sum())


def _shards_hash(raw: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of the raw ids (seeded), reduced to [0, P)."""
    with np.errstate(over="ignore"):
        z = raw.astype(np.int64).view(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (seed + 1)) & (2**64 - 1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z & np.uint64(_P - 1)).astype(np.int64)


@jit
def _shards_fixed_size(ids: np.ndarray, hashes: np.ndarray, fs: np.ndarray, tracked: np.ndarray, hp: np.ndarray,
                       pos: np.ndarray, smax: int, last: np.ndarray,
                       weight: np.ndarray, bit: np.ndarray, sd: np.ndarray, dout: np.ndarray, rout: np.ndarray,
                       keep: np.ndarray) -> np.ndarray:
    """Fixed-size SHARDS over one chunk: admission by threshold, eviction of the largest hashes, stack distances.

    fs: 0 threshold T, 1 heap length; sd: the StackDistances scalars.  Returns the (possibly rebuilt) tree.
    """
    for i in range(ids.shape[0]):
        x = ids[i]
        keep[i] = 0
        if hashes[i] >= fs[0]:
            continue
        if tracked[x] == 0:
            tracked[x] = 1
            fs[1] = heap_push(hp, pos, fs[1], x, -hashes[i], 0)
            while fs[1] > smax:
                # lower T to the largest tracked hash and stop tracking every object at or above it
                top = -hp[0, 0]
                fs[0] = top
                while fs[1] > 0 and -hp[0, 0] >= top:
                    y = hp[0, 2]
                    fs[1] = heap_remove(hp, pos, fs[1], y)
                    tracked[y] = 0
                    p = last[y]
                    if p >= 0:
                        _fw_add(bit, p, -weight[y])
                        sd[1] -= weight[y]
                        last[y] = -1
        if tracked[x] == 0:
            continue
        keep[i] = 1
        if sd[0] >= bit.shape[0]:
            bit = _compact(last, weight, bit, sd)
        t = sd[0]
        p = last[x]
        if p >= 0:
            dout[i] = sd[1] - _fw_prefix(bit, p)
            _fw_add(bit, p, -weight[x])
            sd[1] -= weight[x]
        else:
            dout[i] = -1
        last[x] = t
        weight[x] = 1
        _fw_add(bit, t, 1)
        sd[1] += 1
        sd[0] = t + 1
        rout[i] = fs[0] / 16777216.0
    return bit


def shards_mrc(
    source: Any, *, rate: float | None = None, sample_size: int | None = None, seed: int = 0, adjust: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate LRU MRC (entries) by SHARDS spatial sampling.

    Args:
        source: a TraceSource.
        rate: fixed sampling rate in (0, 1] (fixed-rate SHARDS).
        sample_size: maximum number of tracked objects (fixed-size SHARDS; the
            rate starts at ``rate`` or 1 and only goes down).
        seed: hash seed (which objects are sampled).
        adjust: apply SHARDS_adj (the shortfall between the expected and the
            actual number of sampled requests is added to the smallest distance).

    Returns ``(sizes, miss_ratios)``: sizes are scaled distances (ceil(d / R)).
    """
    if rate is None and sample_size is None:
        raise UsageError("shards_mrc: give rate=, sample_size= or both")
    if rate is not None and not 0.0 < rate <= 1.0:
        raise UsageError(f"shards_mrc: rate must be in (0, 1], got {rate!r}")
    if sample_size is not None and (int(sample_size) != sample_size or sample_size < 1):
        raise UsageError(f"shards_mrc: sample_size must be an integer >= 1, got {sample_size!r}")
    thresh = _P if rate is None else max(1, int(round(rate * _P)))
    remap = Remapper()
    sd = StackDistances()
    fixed = sample_size is not None
    fs_sc = np.array([thresh, 0], dtype=np.int64)
    tracked = np.zeros(0, dtype=np.int8)
    pos = np.full(0, -1, dtype=np.int32)
    hp = np.zeros((int(sample_size or 0) + 2, 3), dtype=np.int64)
    n_total = 0
    # per scaled distance: sum over events of 1/R_i (weights are R_final / R_i)
    parts_d: list[np.ndarray] = []
    parts_w: list[np.ndarray] = []
    cold_w = 0.0
    for chunk in source.iter_chunks():
        raw = np.asarray(chunk.ids)
        n_total += raw.shape[0]
        h = _shards_hash(raw, seed)
        sel = h < fs_sc[0]
        if not sel.any():
            continue
        ids = remap.map(raw[sel])
        hs = h[sel]
        n = remap.n
        sd.ensure(n)
        if fixed:
            if tracked.shape[0] < n:
                grow = max(n, 2 * tracked.shape[0]) - tracked.shape[0]
                tracked = np.concatenate([tracked, np.zeros(grow, np.int8)])
                pos = np.concatenate([pos, np.full(grow, -1, np.int32)])
            keep = np.zeros(ids.shape[0], dtype=np.int8)
            dout = np.empty(ids.shape[0], dtype=np.int64)
            rout = np.empty(ids.shape[0], dtype=np.float64)
            sd.bit = _shards_fixed_size(ids, hs, fs_sc, tracked, hp, pos, int(sample_size or 0), sd.last,
                                        sd.weight, sd.bit, sd.sc, dout, rout, keep)
            kept = keep.astype(bool)
            d, r = dout[kept], rout[kept]
        else:
            d = sd.run(ids, np.ones(ids.shape[0], dtype=np.int64))
            r = np.full(ids.shape[0], thresh / _P)
        cold_w += float((1.0 / r[d < 0]).sum())
        hit = d > 0
        parts_d.append(np.ceil(d[hit] / r[hit]).astype(np.int64))
        parts_w.append(1.0 / r[hit])
        if len(parts_d) > 16:
            parts_d, parts_w = _merge_f(parts_d, parts_w)
    r_final = fs_sc[0] / _P
    if not parts_d:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    (dist,), (w,) = _merge_f(parts_d, parts_w)
    w = w * r_final
    total = w.sum() + cold_w * r_final
    expected = n_total * r_final
    if adjust and w.shape[0]:
        w[0] += expected - total
        total = expected
    return dist, np.clip(1.0 - np.cumsum(w) / total, 0.0, 1.0)


def _merge_f(parts_d: list[np.ndarray], parts_w: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    d = np.concatenate(parts_d)
    w = np.concatenate(parts_w)
    u, inv = np.unique(d, return_inverse=True)
    return [u], [np.bincount(inv, weights=w, minlength=u.shape[0])]


def mrc_value(curve: tuple[np.ndarray, np.ndarray], sizes: np.ndarray) -> np.ndarray:
    """Miss ratio of a step curve at arbitrary sizes (the value at the largest curve size <= each; 1 before it)."""
    cs, cm = curve
    idx = np.searchsorted(np.asarray(cs), np.asarray(sizes), side="right") - 1
    out = np.ones(np.asarray(sizes).shape[0])
    ok = idx >= 0
    out[ok] = np.asarray(cm)[idx[ok]]
    return out


def mrc_mae(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean absolute difference of two MRCs, evaluated at the sizes of ``a`` (e.g. the exact curve).

    Args:
        a: ``(sizes, miss_ratios)``, the reference curve.
        b: ``(sizes, miss_ratios)``, read as a step function.
    """
    sizes = np.asarray(a[0])
    if sizes.shape[0] == 0:
        return 0.0
    return float(np.mean(np.abs(np.asarray(a[1]) - mrc_value(b, sizes))))


def policy_mrc(
    source: Any,
    policy: str,
    capacities: Sequence[int],
    *,
    bytes_mode: bool = False,
    warmup: int = 0,
    params: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Miss ratio of any kernel policy at many sizes, the sizes replayed in parallel in one pass.

    Args:
        source: a TraceSource.
        policy: registry name with a kernel.
        capacities: cache sizes (entries or bytes).
        bytes_mode: capacities in bytes.
        warmup: leading requests not counted.
        params: policy parameters.
    """
    res = replay_fast(source, policy, capacities, bytes_mode=bytes_mode, warmup=warmup, params=params or {})
    caps = np.asarray([r["capacity"] for r in res], dtype=np.int64)
    mr = np.asarray([r["misses"] / r["requests"] if r["requests"] else 0.0 for r in res])
    return caps, mr
