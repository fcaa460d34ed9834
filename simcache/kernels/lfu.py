"""In-cache LFU kernel: an indexed min-heap on (count, last request), so ties go LRU first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit
from simcache.kernels._structs import heap_down, heap_push, heap_remove
from simcache.kernels.base import KernelSpec

# sc slots: 0 heap length, 1 unused, 2 used
_OBJ = (("osize", np.int64, 0), ("res", np.int8, 0), ("freq", np.int64, 0), ("last", np.int64, 0),
        ("pos", np.int32, -1))


@jit
def lfu_kernel(ids, sizes, bsz, nxt_acc, base, warmup, cnt, hitout, cap, sc, fp, osize, res, freq, last, pos, heap):  # noqa: ANN001
    """LFU replay of one chunk."""
    hn, used = sc[0], sc[2]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = res[x] != 0
        if hit:
            freq[x] += 1
            last[x] = base + i
            heap_down(heap, pos, freq, last, hn, pos[x])
            if s != osize[x]:
                used += s - osize[x]
                osize[x] = s
                if s > cap:
                    hn = heap_remove(heap, pos, freq, last, hn, x)
                    res[x] = 0
                    used -= s
                else:
                    while used > cap:
                        v = heap[0]
                        hn = heap_remove(heap, pos, freq, last, hn, v)
                        res[v] = 0
                        used -= osize[v]
        elif s <= cap:
            while used + s > cap and hn > 0:
                v = heap[0]
                hn = heap_remove(heap, pos, freq, last, hn, v)
                res[v] = 0
                used -= osize[v]
            freq[x] = 1
            last[x] = base + i
            hn = heap_push(heap, pos, freq, last, hn, x)
            res[x] = 1
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
    sc[0], sc[2] = hn, used
    cnt[0] += nh
    cnt[1] += nm
    cnt[2] += nbh
    cnt[3] += nbm


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    return np.array([0, -1, 0], dtype=np.int64), np.zeros(0), [np.zeros(0, dtype=np.int32)]


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    # perfect LFU (counts kept after eviction) is left to the reference class
    return not params["keep_history"]


LFU = KernelSpec("lfu", lfu_kernel, {"keep_history": False}, _init, _OBJ, check=_check, grow_fixed=((0, -1),))
SPECS = (LFU,)
