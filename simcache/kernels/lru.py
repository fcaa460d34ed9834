"""LRU and FIFO kernels: one queue, newest at the head; LRU moves a hit to the head, FIFO does not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec

# sc slots: 0 head, 1 tail, 2 used
_OBJ = (("lk", np.int32, -1, 2), ("osize", np.int64, 0), ("res", np.int8, 0))


@jit
def _queue(ids, sizes, bsz, base, warmup, cnt, hitout, cap, sc, lk, osize, res, move_on_hit):  # noqa: ANN001
    head, tail, used = sc[0], sc[1], sc[2]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = res[x] != 0
        if hit:
            if move_on_hit and head != x:
                head, tail = unlink(lk, head, tail, x)
                head, tail = push_front(lk, head, tail, x)
            if s != osize[x]:  # a size change on a hit: as the reference, refit or drop
                used += s - osize[x]
                osize[x] = s
                if s > cap:
                    head, tail = unlink(lk, head, tail, x)
                    res[x] = 0
                    used -= s
                else:
                    while used > cap:
                        v = tail
                        head, tail = unlink(lk, head, tail, v)
                        res[v] = 0
                        used -= osize[v]
        elif s <= cap:
            while used + s > cap and tail >= 0:
                v = tail
                head, tail = unlink(lk, head, tail, v)
                res[v] = 0
                used -= osize[v]
            head, tail = push_front(lk, head, tail, x)
            res[x] = 1
            osize[x] = s
            used += s
        nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2] = head, tail, used
    add_counts(cnt, nh, nm, nbh, nbm)


@jit
def lru_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, lk, osize, res):  # noqa: ANN001
    """LRU replay of one chunk."""
    _queue(ids, sizes, bsz, base, warmup, cnt, hitout, cap, sc, lk, osize, res, True)


@jit
def fifo_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, lk, osize, res):  # noqa: ANN001
    """FIFO replay of one chunk."""
    _queue(ids, sizes, bsz, base, warmup, cnt, hitout, cap, sc, lk, osize, res, False)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    return np.array([-1, -1, 0], dtype=np.int64), np.zeros(0), []


LRU = KernelSpec("lru", lru_kernel, {}, _init, _OBJ)
FIFO = KernelSpec("fifo", fifo_kernel, {}, _init, _OBJ)
SPECS = (LRU, FIFO)
