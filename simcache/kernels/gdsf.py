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

# sc slots: 0 heap length, 1 insertion sequence, 2 used, 3 size-aware (GDSF 1, LFU-DA 0),
#           4 libCacheSim's variant (GDSF: insert before evicting, ties by last request; LFU-DA: the bucket kernel),
#           5/6 LFU-DA's min_freq / max_freq (libCacheSim variant)
# fp slots: 0 inflation L, 1 cost C (times 1e6 in GDSF's libCacheSim variant)
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
def greedydual_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001
                      pos, osize, freq, pr, hp, fb, ib):
    """GDSF / LFU-DA replay of one chunk."""
    hn, seq, used, size_aware, lcs = sc[0], sc[1], sc[2], sc[3] != 0, sc[4] != 0
    infl, cost = fp[0], fp[1]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = pos[x] >= 0
        if hit:
            freq[x] += 1
            if lcs:
                hp[pos[x], 1] = base + i  # ties: least recently requested first
            _reprioritise(hp, pos, hn, pr, fb, ib, x, _priority(infl, cost, freq[x], osize[x], size_aware))
            if s != osize[x] and not lcs:  # libCacheSim keeps the size an object had when it was admitted
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
        elif s <= cap and lcs:
            # libCacheSim's GDSF: insert, then evict the lowest (maybe the newcomer) until it fits
            freq[x] = 1
            osize[x] = s
            used += s
            h = _priority(infl, cost, 1, s, size_aware)
            pr[x] = h
            hn = heap_push(hp, pos, hn, x, _bits(fb, ib, h), base + i)
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


# pos[x] in the LFU-DA bucket kernel: a heap slot, -1 absent, STRANDED resident below min_freq (in no heap)
STRANDED = -2


@jit_inline
def _lfuda_update_min(hp, hn, mn):  # noqa: ANN001, ANN202
    # update_min_freq: the smallest non-empty bucket above min_freq is the heap's lowest f (all are >= min_freq,
    # and bucket min_freq is empty when this runs); none: min_freq stays
    return hp[0, 0] if hn > 0 else mn


@jit
def lfuda_libcachesim_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001
                             pos, osize, freq, pr, hp, fb, ib):
    """libCacheSim's LFU-DA (``LFUDA.c``) on one chunk: buckets as a heap on (f, append order).

    The heap holds the residents with ``f >= min_freq``; bucket ``b``'s FIFO order is the order of
    appends (sequence numbers).  A hit that empties bucket ``min_freq`` moves ``min_freq`` to the heap's
    lowest ``f`` before the key is appended again, so the key may fall below it: it is then STRANDED
    (resident, in no heap) until its next hit, exactly as libCacheSim never finds it again.
    """
    hn, seq, used, mn, mx = sc[0], sc[1], sc[2], sc[5], sc[6]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = pos[x] != -1
        if hit:
            old = freq[x]
            f = old + mn
            if f > mx:
                mx = f
            if pos[x] >= 0:
                hn = heap_remove(hp, pos, hn, x)
                if old == mn and (hn == 0 or hp[0, 0] != mn):
                    mn = _lfuda_update_min(hp, hn, mn)
            freq[x] = f
            seq += 1
            pr[x] = seq  # append order, for the fallback
            if f < mn:
                pos[x] = STRANDED
            else:
                hn = heap_push(hp, pos, hn, x, f, seq)
            # libCacheSim keeps the size an object had when it was admitted
        elif s <= cap:
            while used + s > cap and used > 0:
                hn, mn, used = _lfuda_evict(pos, osize, freq, pr, hp, hn, mn, used)
            f = mn + 1
            if f > mx:
                mx = f
            freq[x] = f
            osize[x] = s
            used += s
            seq += 1
            pr[x] = seq
            hn = heap_push(hp, pos, hn, x, f, seq)
        if base + i >= warmup:
            if hit:
                nh += 1
                nbh += bsz[i]
            else:
                nm += 1
                nbm += bsz[i]
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2], sc[5], sc[6] = hn, seq, used, mn, mx
    fp[0] = float(mn)
    cnt[0] += nh
    cnt[1] += nm
    cnt[2] += nbh
    cnt[3] += nbm


@jit
def _lfuda_evict(pos, osize, freq, pr, hp, hn, mn, used):  # noqa: ANN001, ANN202
    """Evict the head of bucket max(min_freq, 1); when that bucket is empty, the lowest resident's."""
    if hn > 0 and hp[0, 0] == max(mn, 1):
        v = hp[0, 2]
        mn = hp[0, 0]
        hn = heap_remove(hp, pos, hn, v)
        if hn == 0 or hp[0, 0] != mn:
            mn = _lfuda_update_min(hp, hn, mn)
    else:
        # rare: the reference's fallback (libCacheSim would read an empty list): lowest (f, append order)
        v = -1
        for y in range(pos.shape[0]):
            if pos[y] != -1 and (v < 0 or freq[y] < freq[v] or (freq[y] == freq[v] and pr[y] < pr[v])):
                v = y
        if pos[v] >= 0:
            hn = heap_remove(hp, pos, hn, v)
        pos[v] = -1
    used -= osize[v]
    return hn, mn, used


def _init_for(size_aware: bool):  # noqa: ANN202
    def init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        fb = np.zeros(1, dtype=np.float64)
        lcs = params.get("variant", "paper") == "libcachesim"
        sc = np.array([0, 0, 0, int(size_aware), int(lcs), 0, 0], dtype=np.int64)
        cost = float(params["cost"]) * (1.0e6 if lcs and size_aware else 1.0)
        return sc, np.array([0.0, cost]), [np.zeros((0, 3), dtype=np.int64), fb, fb.view(np.int64)]

    return init


def lfuda_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                 pos, osize, freq, pr, hp, fb, ib):
    """LFU-DA on one chunk: the GreedyDual heap kernel, or libCacheSim's bucket kernel for its variant."""
    fn = lfuda_libcachesim_kernel if sc[4] != 0 else greedydual_kernel
    fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, pos, osize, freq, pr, hp, fb, ib)


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    c = float(params["cost"])
    return c > 0 and math.isfinite(c)


GDSF = KernelSpec("gdsf", greedydual_kernel, {"cost": 1.0, "variant": "paper"}, _init_for(True), _OBJ, check=_check,
                  grow_fixed=((0, 0),))
LFUDA = KernelSpec("lfuda", lfuda_kernel, {"cost": 1.0, "variant": "paper"}, _init_for(False), _OBJ, check=_check,
                   grow_fixed=((0, 0),))
SPECS = (GDSF, LFUDA)
