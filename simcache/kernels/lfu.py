"""In-cache LFU kernel: an indexed min-heap on (count, last request), so ties go LRU first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit
from simcache.kernels._structs import heap_down, heap_push, heap_remove
from simcache.kernels.base import KernelSpec

# sc slots: 0 heap length, 1 unused, 2 used
# heap rows (count, last request, object): one slot per resident object
_OBJ = (("osize", np.int64, 0), ("res", np.int8, 0), ("pos", np.int32, -1))


@jit
def lfu_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, osize, res, pos, hp):  # noqa: ANN001,E501
    """LFU replay of one chunk."""
    hn, used = sc[0], sc[2]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = res[x] != 0
        if hit:
            j = pos[x]
            hp[j, 0] += 1
            hp[j, 1] = base + i
            heap_down(hp, pos, hn, j)
            if s != osize[x]:
                used += s - osize[x]
                osize[x] = s
                if s > cap:
                    hn = heap_remove(hp, pos, hn, x)
                    res[x] = 0
                    used -= s
                else:
                    while used > cap:
                        v = hp[0, 2]
                        hn = heap_remove(hp, pos, hn, v)
                        res[v] = 0
                        used -= osize[v]
        elif s <= cap:
            while used + s > cap and hn > 0:
                v = hp[0, 2]
                hn = heap_remove(hp, pos, hn, v)
                res[v] = 0
                used -= osize[v]
            hn = heap_push(hp, pos, hn, x, 1, base + i)
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
    return np.array([0, -1, 0], dtype=np.int64), np.zeros(0), [np.zeros((0, 3), dtype=np.int64)]


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    # perfect LFU (counts kept after eviction) is left to the reference class
    return not params["keep_history"]


LFU = KernelSpec("lfu", lfu_kernel, {"keep_history": False}, _init, _OBJ, check=_check, grow_fixed=((0, 0),))
SPECS = (LFU,)
