"""Full 2Q kernel: FIFO A1in, ghost FIFO A1out, LRU Am."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_free, slot_lookup, slot_new

# where: 0 absent, 1 A1in, 2 Am, 3 A1out (ghost)
# sc slots: 0/1 A1in, 2/3 Am, 4/5 A1out head/tail, 6 used, 7 A1in used, 8 A1out used, 9 Kin, 10 Kout,
#           11 libCacheSim's variant (TwoQ.c's byte-size rules, see :class:`simcache.policies.twoq.TwoQ`)
# rec[x]: 0/1 links (newer, older; only read while x is in a list), 2 where, 3 freq: one cache line
# x is a dense id, or in the bounded layout a slot (tab, keys, hs: simcache.kernels.hashed's slot table;
# mask = -1 when the table is empty, the dense layout): a slot is freed wherever its object leaves every list
_OBJ = (("rec", np.int32, 0, 4), ("osize", np.int64, 0))


@jit_inline
def _evict(rec, osize, ih, it, mh, mt, oh, ot, used, iu, ou, kin, kout, lcs, keys, tab, hs, mask, hashed):  # noqa: ANN001
    # each array is last used after the branches join: the compiler can then drop the reference counting
    # of the ``jit_inline`` helper's array arguments (two atomic operations per array per call, more than the list work)
    from_in = it >= 0 and (iu > kin or mt < 0)
    k = it if from_in else mt
    s = osize[k]
    if from_in:
        ih, it = unlink(rec, ih, it, k)
        iu -= s
    else:
        mh, mt = unlink(rec, mh, mt, k)
    to_ghost = from_in and not (lcs and s > kout)
    if to_ghost:
        oh, ot = push_front(rec, oh, ot, k)
        ou += s
    rec[k, 2] = 3 if to_ghost else 0
    if hashed and not to_ghost:
        slot_free(tab, keys, hs, k, mask)
    while ou > kout:  # only after a push: A1out is within Kout between evictions
        g = ot
        oh, ot = unlink(rec, oh, ot, g)
        rec[g, 2] = 0
        ou -= osize[g]
        if hashed:
            slot_free(tab, keys, hs, g, mask)
    return ih, it, mh, mt, oh, ot, used - s, iu, ou


@jit
def twoq_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001
    """2Q replay of one chunk of dense ids."""
    _dense_loop(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize,
               np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64))


def _loop(hashed: bool) -> Callable[..., int]:
    """The 2Q loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True).

    ``hashed`` is a closure constant of each compiled loop, so the dense loop carries no test of the layout.
    """

    @jit
    def twoq_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
        """2Q replay of one chunk: dense ids (empty ``tab``), or raw ids through the slot table; returns requests done."""
        ih, it, mh, mt, oh, ot = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
        used, iu, ou, kin, kout = sc[6], sc[7], sc[8], sc[9], sc[10]
        lcs = sc[11] != 0
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
                w = rec[x, 2] if x >= 0 else 0
            else:
                h = 0
                x = key
                w = rec[x, 2]
            hit = w == 1 or w == 2
            if hit:
                if w == 2 and mh != x:
                    mh, mt = unlink(rec, mh, mt, x)
                    mh, mt = push_front(rec, mh, mt, x)
                if s != osize[x] and not lcs:
                    d = s - osize[x]
                    if w == 1:
                        iu += d
                    osize[x] = s
                    used += d
                    if s > cap:
                        if w == 2:
                            mh, mt = unlink(rec, mh, mt, x)
                        else:
                            ih, it = unlink(rec, ih, it, x)
                            iu -= s
                        rec[x, 2] = 0
                        used -= s
                        if hashed:
                            slot_free(tab, keys, hs, x, mask)
                    else:
                        while used > cap:
                            ih, it, mh, mt, oh, ot, used, iu, ou = _evict(
                                rec, osize, ih, it, mh, mt, oh, ot, used, iu, ou, kin, kout, lcs, keys, tab, hs, mask, hashed)
            elif s <= cap:
                ghost = w == 3
                if ghost:
                    oh, ot = unlink(rec, oh, ot, x)
                    rec[x, 2] = 0
                    ou -= osize[x]
                admit = not (lcs and s > kin)  # TwoQ_can_insert, after the ghost was consumed
                if admit:
                    while used + s > cap:
                        ih, it, mh, mt, oh, ot, used, iu, ou = _evict(
                            rec, osize, ih, it, mh, mt, oh, ot, used, iu, ou, kin, kout, lcs, keys, tab, hs, mask, hashed)
                if admit and ghost and lcs:
                    # Am->get: Am is an LRU cache of capacity - Kin units
                    admit = s <= cap - kin
                    while admit and mt >= 0 and used - iu + s > cap - kin:
                        k = mt
                        mh, mt = unlink(rec, mh, mt, k)
                        rec[k, 2] = 0
                        used -= osize[k]
                        if hashed:
                            slot_free(tab, keys, hs, k, mask)
                if admit:
                    if x < 0:
                        x = slot_new(tab, keys, hs, key, h, mask)
                    osize[x] = s
                    used += s
                    if ghost:
                        mh, mt = push_front(rec, mh, mt, x)
                        rec[x, 2] = 2
                    else:
                        ih, it = push_front(rec, ih, it, x)
                        rec[x, 2] = 1
                        iu += s
                if ghost and hashed and rec[x, 2] == 0:  # a ghost refused leaves its slot
                    slot_free(tab, keys, hs, x, mask)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2], sc[3], sc[4], sc[5] = ih, it, mh, mt, oh, ot
        sc[6], sc[7], sc[8] = used, iu, ou
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return twoq_slots


twoq_slots = _loop(True)
_dense_loop = _loop(False)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    kin = int(float(params["kin"]) * cap)
    kout = int(float(params["kout"]) * cap)
    lcs = int(params["variant"] == "libcachesim")
    return np.array([-1, -1, -1, -1, -1, -1, 0, 0, 0, kin, kout, lcs], dtype=np.int64), np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    return 0.0 <= float(params["kin"]) <= 1.0 and float(params["kout"]) >= 0.0


TWOQ = KernelSpec("2q", twoq_kernel, {"kin": 0.25, "kout": 0.5, "variant": "paper"}, _init, _OBJ, check=_check)
SPECS = (TWOQ,)
# residents within c, A1out within Kout (sc[10]), the object entering aside
SLOT_SPECS = (SlotSpec("2q", twoq_slots, 6, lambda sc, cap: cap + int(sc[10]) + 1),)
