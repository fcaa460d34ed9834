"""Segmented LRU kernel: probationary and protected LRU lists, protected bounded by a share of capacity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels.base import KernelSpec

# where: 0 absent, 1 probationary, 2 protected (libCacheSim's S4LRU: 1 + segment)
# sc slots: 0/1 probationary head/tail, 2/3 protected head/tail, 4 used, 5 protected used, 6 protected limit,
#           7 libCacheSim's variant; S4LRU: 8..15 segment heads/tails (8 + 2i, 9 + 2i), 16..19 segment
#           occupancy, 20..23 segment shares
# rec[x]: 0/1 links (newer, older; only read while x is in a list), 2 where, 3 freq: one cache line
_OBJ = (("rec", np.int32, 0, 4), ("osize", np.int64, 0))


@jit_inline
def _rebalance(rec, osize, ph, pt, qh, qt, qu, qlim):  # noqa: ANN001
    while qu > qlim:
        k = qt
        qh, qt = unlink(rec, qh, qt, k)
        qu -= osize[k]
        ph, pt = push_front(rec, ph, pt, k)
        rec[k, 2] = 1
    return ph, pt, qh, qt, qu


@jit_inline
def _evict(rec, osize, ph, pt, qh, qt, used, qu):  # noqa: ANN001
    if pt >= 0:
        k = pt
        ph, pt = unlink(rec, ph, pt, k)
    else:
        k = qt
        qh, qt = unlink(rec, qh, qt, k)
        qu -= osize[k]
    rec[k, 2] = 0
    return ph, pt, qh, qt, used - osize[k], qu


@jit
def slru_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001
    """SLRU replay of one chunk."""
    ph, pt, qh, qt, used, qu, qlim = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        w = rec[x, 2]
        hit = w != 0
        if hit:
            if w == 2:
                if qh != x:
                    qh, qt = unlink(rec, qh, qt, x)
                    qh, qt = push_front(rec, qh, qt, x)
            else:
                ph, pt = unlink(rec, ph, pt, x)
                qh, qt = push_front(rec, qh, qt, x)
                rec[x, 2] = 2
                qu += osize[x]
                if qu > qlim:
                    ph, pt, qh, qt, qu = _rebalance(rec, osize, ph, pt, qh, qt, qu, qlim)
            if s != osize[x]:
                d = s - osize[x]
                osize[x] = s
                if rec[x, 2] == 2:
                    qu += d
                    ph, pt, qh, qt, qu = _rebalance(rec, osize, ph, pt, qh, qt, qu, qlim)
                used += d
                if s > cap:
                    if rec[x, 2] == 2:
                        qh, qt = unlink(rec, qh, qt, x)
                        qu -= s
                    else:
                        ph, pt = unlink(rec, ph, pt, x)
                    rec[x, 2] = 0
                    used -= s
                else:
                    while used > cap:
                        ph, pt, qh, qt, used, qu = _evict(rec, osize, ph, pt, qh, qt, used, qu)
        elif s <= cap:
            while used + s > cap and (pt >= 0 or qt >= 0):
                ph, pt, qh, qt, used, qu = _evict(rec, osize, ph, pt, qh, qt, used, qu)
            ph, pt = push_front(rec, ph, pt, x)
            rec[x, 2] = 1
            osize[x] = s
            used += s
        if base + i >= warmup:
            if hit:
                nh += 1
                nbh += bsz[i]
            else:
                nm += 1
                nbm += bsz[i]
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2], sc[3], sc[4], sc[5] = ph, pt, qh, qt, used, qu
    cnt[0] += nh
    cnt[1] += nm
    cnt[2] += nbh
    cnt[3] += nbm


NSEG = 4  # libCacheSim's SLRU.c: n_seg = 4


# libCacheSim's SLRU.c over segments whose heads/tails sit at sc[h0 + 2j], sc[h0 + 2j + 1], occupancy at
# sc[u0 + j] and shares at sc[c0 + j]; an object in segment j has rec[x, 2] = woff + j (0: absent).
# Shared by S4LRU here and W-TinyLFU's libCacheSim main area; :class:`simcache.policies.slru.SegmentedLRU`
# is the reference.

@jit_inline
def seg_evict(rec, osize, sc, h0, u0, nseg):  # noqa: ANN001, ANN201
    """SLRU_evict: the tail of the lowest non-empty segment leaves; returns its size (0: nothing)."""
    for j in range(nseg):
        k = sc[h0 + 2 * j + 1]
        if k >= 0:
            sc[h0 + 2 * j], sc[h0 + 2 * j + 1] = unlink(rec, sc[h0 + 2 * j], k, k)
            sc[u0 + j] -= osize[k]
            rec[k, 2] = 0
            return osize[k]
    return 0


@jit_inline
def seg_move(rec, osize, sc, h0, u0, woff, k, j):  # noqa: ANN001, ANN201
    """k leaves its segment for the head of segment j."""
    i = rec[k, 2] - woff
    sc[h0 + 2 * i], sc[h0 + 2 * i + 1] = unlink(rec, sc[h0 + 2 * i], sc[h0 + 2 * i + 1], k)
    sc[u0 + i] -= osize[k]
    sc[h0 + 2 * j], sc[h0 + 2 * j + 1] = push_front(rec, sc[h0 + 2 * j], sc[h0 + 2 * j + 1], k)
    sc[u0 + j] += osize[k]
    rec[k, 2] = woff + j


@jit_inline
def seg_fix(rec, osize, sc, h0, u0, c0, nseg, woff, top):  # noqa: ANN001, ANN201
    """While segment ``top`` is over its share, SLRU_cool(top); returns the size evicted.

    Without recursion, in the same order: a tail moves one segment down and that segment is fixed
    before the one above is looked at again; cooling segment 0 evicts.
    """
    ev = 0
    lvl = top
    while True:
        if sc[u0 + lvl] > sc[c0 + lvl]:
            if lvl == 0:
                ev += seg_evict(rec, osize, sc, h0, u0, nseg)
            else:
                seg_move(rec, osize, sc, h0, u0, woff, sc[h0 + 2 * lvl + 1], lvl - 1)
                lvl -= 1
        elif lvl == top:
            return ev
        else:
            lvl += 1


@jit_inline
def seg_hit(rec, osize, sc, h0, u0, c0, nseg, woff, x):  # noqa: ANN001, ANN201
    """SLRU_find of resident x; returns the size its cooling evicted."""
    ev = 0
    j = rec[x, 2] - woff
    if j == nseg - 1:
        seg_move(rec, osize, sc, h0, u0, woff, x, j)
        return ev
    seg_move(rec, osize, sc, h0, u0, woff, x, j + 1)
    while rec[x, 2] != 0 and sc[u0 + rec[x, 2] - woff] > sc[c0 + rec[x, 2] - woff]:
        ev += seg_fix(rec, osize, sc, h0, u0, c0, nseg, woff, rec[x, 2] - woff)
    return ev


@jit_inline
def seg_insert(rec, osize, sc, h0, u0, c0, nseg, woff, x, s, mcap):  # noqa: ANN001, ANN201
    """SLRU_insert of x (size s) into an area of ``mcap`` units; returns the size evicted for it."""
    ev = 0
    j = -1
    for t in range(nseg):
        if sc[u0 + t] + s <= sc[c0 + t]:
            j = t
            break
    if j < 0:
        mu = 0
        for t in range(nseg):
            mu += sc[u0 + t]
        while mu + s > mcap and mu > 0:
            e = seg_evict(rec, osize, sc, h0, u0, nseg)
            ev += e
            mu -= e
        j = 0
    sc[h0 + 2 * j], sc[h0 + 2 * j + 1] = push_front(rec, sc[h0 + 2 * j], sc[h0 + 2 * j + 1], x)
    sc[u0 + j] += s
    rec[x, 2] = woff + j
    return ev


@jit
def s4lru_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001
    """libCacheSim's SLRU (S4LRU) replay of one chunk."""
    used, scap = sc[4], sc[20]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = rec[x, 2] != 0
        if hit:
            # libCacheSim keeps the size an object had when it was admitted
            used -= seg_hit(rec, osize, sc, 8, 16, 20, NSEG, 1, x)
        elif s <= scap:
            while used + s > cap and used > 0:
                used -= seg_evict(rec, osize, sc, 8, 16, NSEG)
            osize[x] = s
            used += s - seg_insert(rec, osize, sc, 8, 16, 20, NSEG, 1, x, s, cap)
        if base + i >= warmup:
            if hit:
                nh += 1
                nbh += bsz[i]
            else:
                nm += 1
                nbm += bsz[i]
        if want:
            hitout[i] = hit
    sc[4] = used
    cnt[0] += nh
    cnt[1] += nm
    cnt[2] += nbh
    cnt[3] += nbm


def slru_or_s4lru(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001, ANN201
    """SLRU on one chunk: the two-segment kernel, or libCacheSim's S4LRU for its variant."""
    fn = s4lru_kernel if sc[7] != 0 else slru_kernel
    fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    limit = int(float(params["protected_ratio"]) * cap)
    lcs = int(params["variant"] == "libcachesim")
    return (np.array([-1, -1, -1, -1, 0, 0, limit, lcs] + [-1] * (2 * NSEG) + [0] * NSEG + [cap // NSEG] * NSEG,
                     dtype=np.int64), np.zeros(0), [])


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    return 0.0 <= float(params["protected_ratio"]) <= 1.0


SLRU = KernelSpec("slru", slru_or_s4lru, {"protected_ratio": 0.8, "variant": "paper"}, _init, _OBJ, check=_check)
SPECS = (SLRU,)
