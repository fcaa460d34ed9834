"""In-cache LFU kernel: an indexed min-heap on (count, last request), so ties go LRU first.

One loop source serves two layouts.  Dense: per-object rows indexed by dense id over every object seen.
Bounded (``SLOT_SPECS``): the same rows indexed by *slot*, one per resident object, found through
:mod:`simcache.kernels.hashed`'s slot table from the raw id; a slot is freed when its object leaves the
cache, so the state follows the capacity, not the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit
from simcache.kernels._structs import heap_down, heap_push, heap_remove
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_free, slot_lookup, slot_new

# sc slots: 0 heap length, 1 unused, 2 used
# rec[x, 0]: 1 while x is resident, else 0 (the column SlotState.adopt reads to find the residents);
# pos[x]: x's heap position; heap rows (count, last request, object): one per resident object.
# x is a dense id, or a slot in the bounded layout (tab, keys, hs: the slot table; empty in the dense
# layout, which never reads them).  The flag is an array of its own, not a column beside pos: a request reads
# one small array to learn whether it hits, and the heap's sifts write a contiguous pos.
_OBJ = (("rec", np.int32, 0, 1), ("osize", np.int64, 0), ("hp", np.int64, 0, 3), ("pos", np.int32, -1))


def _loop(hashed: bool) -> Callable[..., int]:
    """The LFU loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True).

    ``hashed`` is a closure constant of each compiled loop, so the dense loop carries no test of the layout.
    """

    @jit
    def lfu_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, hp, pos, keys, tab, hs):  # noqa: ANN001, ANN201, E501
        """LFU replay of one chunk: dense ids (empty ``tab``), or raw ids through the slot table; returns requests done."""
        hn, used = sc[0], sc[2]
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
                j = pos[x]
                hp[j, 0] += 1
                hp[j, 1] = base + i
                heap_down(hp, pos, hn, j)
                if s != osize[x]:
                    used += s - osize[x]
                    osize[x] = s
                    if s > cap:
                        hn = heap_remove(hp, pos, hn, x)
                        rec[x, 0] = 0
                        used -= s
                        if hashed:
                            slot_free(tab, keys, hs, x, mask)
                    else:
                        while used > cap:
                            v = hp[0, 2]
                            hn = heap_remove(hp, pos, hn, v)
                            rec[v, 0] = 0
                            used -= osize[v]
                            if hashed:
                                slot_free(tab, keys, hs, v, mask)
            elif s <= cap:
                while used + s > cap and hn > 0:
                    v = hp[0, 2]
                    hn = heap_remove(hp, pos, hn, v)
                    rec[v, 0] = 0
                    used -= osize[v]
                    if hashed:
                        slot_free(tab, keys, hs, v, mask)
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                hn = heap_push(hp, pos, hn, x, 1, base + i)
                rec[x, 0] = 1
                osize[x] = s
                used += s
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[2] = hn, used
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return lfu_slots


lfu_slots = _loop(True)
_dense_loop = _loop(False)


@jit
def lfu_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, hp, pos):  # noqa: ANN001
    """LFU replay of one chunk of dense ids."""
    _dense_loop(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, hp, pos,
                np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64))


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    return np.array([0, -1, 0], dtype=np.int64), np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    # perfect LFU (counts kept after eviction) is left to the reference class
    return not params["keep_history"]


LFU = KernelSpec("lfu", lfu_kernel, {"keep_history": False}, _init, _OBJ, check=_check)
SPECS = (LFU,)
# residents only (no ghosts): at most the capacity's units, the object entering aside
SLOT_SPECS = (SlotSpec("lfu", lfu_slots, 0, lambda sc, cap: cap, where=0, links=0, positional=((2, 2),)),)
