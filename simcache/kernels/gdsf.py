"""GreedyDual kernels, GDSF (``H = L + F*C/S``) and LFU-DA (``H = L + F*C``): an indexed min-heap on (H, insertion).

The reference (:class:`simcache.policies.gdsf.GreedyDualBase`) keeps a lazily
invalidated heap of (H, insertion sequence, push counter, key); its victim is
the resident key with the lowest (H, insertion sequence), since a key's
insertion sequence is unique among residents.  Here every resident key has
exactly one slot in an indexed binary heap keyed on (H, sequence), updated in
place, so no stale entries exist.  H is the same float64 the reference
computes (``L + (F * C) / max(S, 1)`` or ``L + F * C``, no fast-math); it is
never negative, so its IEEE-754 bit pattern read as an int64 orders exactly as
the float does, which lets the shared integer heap of ``_structs`` hold it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import heap_down, heap_push, heap_remove, heap_up
from simcache.kernels.base import KernelSpec

# sc slots: 0 heap length, 1 insertion sequence, 2 used, 3 size-aware (GDSF 1, LFU-DA 0)
# fp slots: 0 inflation L, 1 cost C
# heap rows (H's bits, insertion sequence, object); pos[x] >= 0 exactly when x is resident
_OBJ = (("pos", np.int32, -1), ("osize", np.int64, 0), ("freq", np.int64, 0), ("pr", np.float64, 0.0))


@jit_inline
def _priority(infl, cost, f, s, size_aware):  # noqa: ANN001, ANN202
    # the reference's expression, operation for operation: float64 rounding must match
    if size_aware:
        return infl + (f * cost) / max(s, 1)
    return infl + f * cost


@jit_inline
def _bits(fb, ib, h):  # noqa: ANN001, ANN202
    # fb and ib view the same 8 bytes: H's bit pattern, an order-preserving int64 for H >= 0
    fb[0] = h
    return ib[0]


@jit_inline
def _reprioritise(hp, pos, hn, pr, fb, ib, x, h):  # noqa: ANN001, ANN202
    pr[x] = h
    j = pos[x]
    hp[j, 0] = _bits(fb, ib, h)
    heap_down(hp, pos, hn, j)
    heap_up(hp, pos, pos[x])


@jit
def greedydual_kernel(ids, sizes, bsz, nxt_acc, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001
                      pos, osize, freq, pr, hp, fb, ib):
    """GDSF / LFU-DA replay of one chunk."""
    hn, seq, used, size_aware = sc[0], sc[1], sc[2], sc[3] != 0
    infl, cost = fp[0], fp[1]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = pos[x] >= 0
        if hit:
            freq[x] += 1
            _reprioritise(hp, pos, hn, pr, fb, ib, x, _priority(infl, cost, freq[x], osize[x], size_aware))
            if s != osize[x]:
                if size_aware:
                    # GDSF re-prioritises for the new size before the base class refits
                    _reprioritise(hp, pos, hn, pr, fb, ib, x, _priority(infl, cost, freq[x], s, size_aware))
                used += s - osize[x]
                osize[x] = s
                if s > cap:
                    hn = heap_remove(hp, pos, hn, x)
                    used -= s
                else:
                    while used > cap:
                        v = hp[0, 2]
                        infl = pr[v]
                        hn = heap_remove(hp, pos, hn, v)
                        used -= osize[v]
        elif s <= cap:
            while used + s > cap and hn > 0:
                v = hp[0, 2]
                infl = pr[v]
                hn = heap_remove(hp, pos, hn, v)
                used -= osize[v]
            seq += 1
            freq[x] = 1
            osize[x] = s
            used += s
            h = _priority(infl, cost, 1, s, size_aware)
            pr[x] = h
            hn = heap_push(hp, pos, hn, x, _bits(fb, ib, h), seq)
        if base + i >= warmup:
            if hit:
                nh += 1
                nbh += bsz[i]
            else:
                nm += 1
                nbm += bsz[i]
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2] = hn, seq, used
    fp[0] = infl
    cnt[0] += nh
    cnt[1] += nm
    cnt[2] += nbh
    cnt[3] += nbm


def _init_for(size_aware: bool):  # noqa: ANN202
    def init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        fb = np.zeros(1, dtype=np.float64)
        sc = np.array([0, 0, 0, int(size_aware)], dtype=np.int64)
        return sc, np.array([0.0, float(params["cost"])]), [np.zeros((0, 3), dtype=np.int64), fb, fb.view(np.int64)]

    return init


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    c = float(params["cost"])
    return c > 0 and math.isfinite(c)


GDSF = KernelSpec("gdsf", greedydual_kernel, {"cost": 1.0}, _init_for(True), _OBJ, check=_check,
                  grow_fixed=((0, 0),))
LFUDA = KernelSpec("lfuda", greedydual_kernel, {"cost": 1.0}, _init_for(False), _OBJ, check=_check,
                   grow_fixed=((0, 0),))
SPECS = (GDSF, LFUDA)
