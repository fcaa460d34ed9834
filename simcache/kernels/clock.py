"""CLOCK kernel (libCacheSim ``Clock.c``): FIFO with reinsertion and an n-bit counter per object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec

# sc slots: 0 head (newest), 1 tail (oldest, under the hand), 2 used, 3 max counter value
_OBJ = (("lk", np.int32, -1, 2), ("osize", np.int64, 0), ("res", np.int8, 0),
        ("freq", np.int64, 0))


@jit_inline
def _evict(lk, osize, res, freq, head, tail, used):  # noqa: ANN001
    while True:
        v = tail
        head, tail = unlink(lk, head, tail, v)
        if freq[v] >= 1:  # second chance: spend one unit and go round again
            freq[v] -= 1
            head, tail = push_front(lk, head, tail, v)
        else:
            res[v] = 0
            return head, tail, used - osize[v]


@jit
def clock_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, lk, osize, res, freq):  # noqa: ANN001
    """CLOCK replay of one chunk."""
    head, tail, used, maxf = sc[0], sc[1], sc[2], sc[3]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = res[x] != 0
        if hit:
            if freq[x] < maxf:
                freq[x] += 1
            if s != osize[x]:
                used += s - osize[x]
                osize[x] = s
                if s > cap:
                    head, tail = unlink(lk, head, tail, x)
                    res[x] = 0
                    used -= s
                else:
                    while used > cap:
                        head, tail, used = _evict(lk, osize, res, freq, head, tail, used)
        elif s <= cap:
            while used + s > cap and tail >= 0:
                head, tail, used = _evict(lk, osize, res, freq, head, tail, used)
            head, tail = push_front(lk, head, tail, x)
            res[x] = 1
            osize[x] = s
            freq[x] = 0
            used += s
        nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2] = head, tail, used
    add_counts(cnt, nh, nm, nbh, nbm)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    return np.array([-1, -1, 0, (1 << int(params["bits"])) - 1], dtype=np.int64), np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    b = params["bits"]
    return not isinstance(b, bool) and int(b) == b and 1 <= b <= 32


CLOCK = KernelSpec("clock", clock_kernel, {"bits": 1}, _init, _OBJ, check=_check)
SPECS = (CLOCK,)
