"""SIEVE kernel (libCacheSim ``Sieve.c``): FIFO order, a visited bit and a hand that stays where it stopped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec

# sc slots: 0 head (newest), 1 tail (oldest), 2 used, 3 hand (-1: start at the tail)
# lk[x, 0] points to the newer neighbour, lk[x, 1] to the older one
_OBJ = (("lk", np.int32, -1, 2), ("osize", np.int64, 0), ("res", np.int8, 0),
        ("vis", np.int8, 0))


@jit_inline
def _evict(lk, osize, res, vis, head, tail, used, hand):  # noqa: ANN001
    k = tail if hand < 0 else hand
    while vis[k] != 0:
        vis[k] = 0
        nw = lk[k, 0]
        k = tail if nw < 0 else nw
    hand = lk[k, 0]
    head, tail = unlink(lk, head, tail, k)
    res[k] = 0
    return head, tail, used - osize[k], hand


@jit
def sieve_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, lk, osize, res, vis):  # noqa: ANN001
    """SIEVE replay of one chunk."""
    head, tail, used, hand = sc[0], sc[1], sc[2], sc[3]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = res[x] != 0
        if hit:
            vis[x] = 1
            if s != osize[x]:
                used += s - osize[x]
                osize[x] = s
                if s > cap:
                    if hand == x:
                        hand = lk[x, 0]
                    head, tail = unlink(lk, head, tail, x)
                    res[x] = 0
                    used -= s
                else:
                    while used > cap:
                        head, tail, used, hand = _evict(lk, osize, res, vis, head, tail, used, hand)
        elif s <= cap:
            while used + s > cap and tail >= 0:
                head, tail, used, hand = _evict(lk, osize, res, vis, head, tail, used, hand)
            head, tail = push_front(lk, head, tail, x)
            res[x] = 1
            osize[x] = s
            vis[x] = 0
            used += s
        nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2], sc[3] = head, tail, used, hand
    add_counts(cnt, nh, nm, nbh, nbm)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    return np.array([-1, -1, 0, -1], dtype=np.int64), np.zeros(0), []


SIEVE = KernelSpec("sieve", sieve_kernel, {}, _init, _OBJ)
SPECS = (SIEVE,)
