"""Random eviction kernel: a dense key array with swap-remove, victims drawn from the reference's generator.

The victim is ``keys[rng.integers(0, n)]`` over the ``n`` resident keys, drawn from the very
``numpy.random.Generator`` the reference class (:class:`simcache.policies.random_policy.RandomPolicy`)
would get: numba's ``Generator.integers`` gives NumPy's values draw for draw and advances the generator's
own state, so chunks continue one stream and both engines evict the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit
from simcache.kernels.base import KernelSpec

# sc slots: 0 resident keys n, 1 used; pos[x]: x's index in keys (-1: absent); keys[0:n] the residents in the
# reference's list order; fixed arrays: keys (grown with the objects), the generator
_OBJ = (("pos", np.int32, -1), ("osize", np.int64, 0))


@jit
def _take(pos, keys, n, j):  # noqa: ANN001, ANN202
    # the reference's _take: the last key fills the hole
    k = keys[j]
    n -= 1
    if j < n:
        last = keys[n]
        keys[j] = last
        pos[last] = j
    pos[k] = -1
    return k, n


@jit
def random_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, pos, osize, keys, rng):  # noqa: ANN001
    """Random eviction replay of one chunk."""
    n, used = sc[0], sc[1]
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        hit = pos[x] >= 0
        if hit:
            if s != osize[x]:
                used += s - osize[x]
                osize[x] = s
                if s > cap:
                    k, n = _take(pos, keys, n, pos[x])
                    used -= s
                else:
                    while used > cap:
                        k, n = _take(pos, keys, n, rng.integers(0, n))
                        used -= osize[k]
        elif s <= cap:
            while used + s > cap and n > 0:
                k, n = _take(pos, keys, n, rng.integers(0, n))
                used -= osize[k]
            pos[x] = n
            keys[n] = x
            n += 1
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
    sc[0], sc[1] = n, used
    cnt[0] += nh
    cnt[1] += nm
    cnt[2] += nbh
    cnt[3] += nbm


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    return np.zeros(2, dtype=np.int64), np.zeros(0), [np.zeros(0, dtype=np.int32), rng]


RANDOM = KernelSpec("random", random_kernel, {}, _init, _OBJ, grow_fixed=((0, -1),), seeded=True)
SPECS = (RANDOM,)
