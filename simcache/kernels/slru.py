"""Segmented LRU kernel: probationary and protected LRU lists, protected bounded by a share of capacity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels.base import KernelSpec

# where: 0 absent, 1 probationary, 2 protected
# sc slots: 0/1 probationary head/tail, 2/3 protected head/tail, 4 used, 5 protected used, 6 protected limit
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
def slru_kernel(ids, sizes, bsz, nxt_acc, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001
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


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    limit = int(float(params["protected_ratio"]) * cap)
    return np.array([-1, -1, -1, -1, 0, 0, limit], dtype=np.int64), np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    return 0.0 <= float(params["protected_ratio"]) <= 1.0


SLRU = KernelSpec("slru", slru_kernel, {"protected_ratio": 0.8}, _init, _OBJ, check=_check)
SPECS = (SLRU,)
