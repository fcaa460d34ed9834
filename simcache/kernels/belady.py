"""Belady MIN kernel: an indexed heap on (-next access, last touch), as libCacheSim's ``Belady.c``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit
from simcache.kernels._structs import heap_push, heap_remove, heap_up
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec

# sc slots: 0 heap length, 1 bypass flag (1: skip admitting a miss needed no sooner than every resident), 2 used.  Heap keys: -(next access) so the min-heap pops the
# farthest ("never" is -int64 max), then the last touch, so among equal keys the least recently touched goes first.
_OBJ = (("osize", np.int64, 0), ("res", np.int8, 0), ("pos", np.int32, -1))


@jit
def belady_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, osize, res, pos, hp):  # noqa: ANN001,E501
    """Belady replay of one chunk (``nxt_acc``: global next-access index, int64 max for never)."""
    hn, used = sc[0], sc[2]
    bypass = sc[1] == 1
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = res[x] != 0
        if hit:
            # the next use moves later, so the key (its negation) decreases: sift up
            j = pos[x]
            hp[j, 0] = -nxt_acc[i]
            hp[j, 1] = base + i
            heap_up(hp, pos, j)
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
        elif s <= cap and not (bypass and used + s > cap and hn > 0 and -nxt_acc[i] <= hp[0, 0]):
            # (with bypass, a miss whose next use is no nearer than the farthest resident's is not admitted)
            while used + s > cap and hn > 0:
                v = hp[0, 2]
                hn = heap_remove(hp, pos, hn, v)
                res[v] = 0
                used -= osize[v]
            hn = heap_push(hp, pos, hn, x, -nxt_acc[i], base + i)
            res[x] = 1
            osize[x] = s
            used += s
        nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
        if want:
            hitout[i] = hit
    sc[0], sc[2] = hn, used
    add_counts(cnt, nh, nm, nbh, nbm)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    bypass = 1 if params["bypass"] else 0
    return np.array([0, bypass, 0], dtype=np.int64), np.zeros(0), [np.zeros((0, 3), dtype=np.int64)]


BELADY = KernelSpec("belady", belady_kernel, {"bypass": False}, _init, _OBJ, needs_future=True, grow_fixed=((0, 0),))
SPECS = (BELADY,)
