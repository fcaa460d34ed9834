"""Random eviction kernel: a dense key array with swap-remove, victims drawn from the reference's generator.

The victim is ``keys[rng.integers(0, n)]`` over the ``n`` resident keys, drawn from the very
``numpy.random.Generator`` the reference class (:class:`simcache.policies.random_policy.RandomPolicy`)
would get: numba's ``Generator.integers`` gives NumPy's values draw for draw and advances the generator's
own state, so chunks continue one stream and both engines evict the same keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_free, slot_lookup, slot_new

# sc slots: 0 resident keys n, 1 used
# rec[x]: 0 1 while x is resident, else 0 (the column SlotState.adopt reads to find the residents),
#         1 x's index in order (one row: a request, an insertion and an eviction each touch one line of rec)
# order[0:n]: the residents in the reference's list order; fixed arrays: the generator
# x is a dense id, or a slot in the bounded layout (tab, keys, hs: the slot table of simcache.kernels.hashed;
# empty in the dense layout, which never reads them); a slot is freed when its object leaves the cache.
# Victims are drawn by position in order, so both layouts draw the same victims from the same stream.
_OBJ = (("rec", np.int32, 0, 2), ("osize", np.int64, 0), ("order", np.int32, -1))


@jit
def _take(rec, order, n, j):  # noqa: ANN001, ANN202
    # the reference's _take: the last key fills the hole
    k = order[j]
    n -= 1
    if j < n:
        last = order[n]
        order[j] = last
        rec[last, 1] = j
    rec[k, 0] = 0
    return k, n


def _loop(hashed: bool) -> Callable[..., int]:
    """The random-eviction loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True).

    ``hashed`` is a closure constant of each compiled loop, so the dense loop carries no test of the layout.
    """

    @jit
    def random_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, order, rng,  # noqa: ANN001, ANN201, E501
                     keys, tab, hs):
        """Random eviction of one chunk: dense ids (empty ``tab``), or raw ids through the slot table; returns requests done."""
        n, used = sc[0], sc[1]
        mask = tab.shape[0] - 1
        room = rec.shape[0]
        done = ids.shape[0]
        nh = nm = nbh = nbm = 0
        want = hitout.shape[0] > 0
        for i in range(ids.shape[0]):
            key = ids[i]
            s = sizes[i]
            if hashed:
                h, x, full = slot_lookup(tab, keys, key, mask, s, cap, hs, room)
                if full:
                    done = i  # no slot left for an object that may enter: the caller grows the state
                    break
                hit = x >= 0  # a slot is live exactly while its object is resident
            else:
                h = 0
                x = key
                hit = rec[x, 0] != 0
            if hit:
                if s != osize[x]:
                    used += s - osize[x]
                    osize[x] = s
                    if s > cap:
                        k, n = _take(rec, order, n, rec[x, 1])
                        used -= s
                        if hashed:
                            slot_free(tab, keys, hs, k, mask)
                    else:
                        while used > cap:
                            k, n = _take(rec, order, n, rng.integers(0, n))
                            used -= osize[k]
                            if hashed:
                                slot_free(tab, keys, hs, k, mask)
            elif s <= cap:
                while used + s > cap and n > 0:
                    k, n = _take(rec, order, n, rng.integers(0, n))
                    used -= osize[k]
                    if hashed:
                        slot_free(tab, keys, hs, k, mask)
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                rec[x, 1] = n
                rec[x, 0] = 1
                order[n] = x
                n += 1
                osize[x] = s
                used += s
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1] = n, used
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return random_slots


random_slots = _loop(True)
_dense_loop = _loop(False)


@jit
def random_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, order, rng):  # noqa: ANN001
    """Random eviction replay of one chunk of dense ids."""
    _dense_loop(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, order, rng,
                np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64))


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    return np.zeros(2, dtype=np.int64), np.zeros(0), [rng]


RANDOM = KernelSpec("random", random_kernel, {}, _init, _OBJ, seeded=True)
SPECS = (RANDOM,)
# residents only: at most the capacity's units, the object entering aside; order holds slots by position
SLOT_SPECS = (SlotSpec("random", random_slots, 0, lambda sc, cap: cap, where=0, links=0, positional=((2, None),)),)
