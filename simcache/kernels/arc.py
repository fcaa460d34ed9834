"""ARC kernel (Megiddo & Modha, FAST 2003): T1, T2 resident, B1, B2 ghosts, adaptive target p."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_free, slot_lookup, slot_new

# where: 0 absent, 1 T1, 2 T2, 3 B1, 4 B2
# sc slots: 0/1 T1, 2/3 T2, 4/5 B1, 6/7 B2 head/tail, 8 used, 9 |T1|, 10 |T2|, 11 |B1|, 12 |B2|,
#           13 libCacheSim's variant (ARC.c: the byte-size rules of :class:`simcache.policies.arc.ARC`)
# fp[0]: p, the target size of T1 (a float, as ratios of list sizes move it)
# rec[x]: 0/1 links (newer, older; only read while x is in a list), 2 where, 3 freq: one cache line
# x is a dense id, or in the bounded layout a slot (tab, keys, hs: simcache.kernels.hashed's slot table;
# mask = -1 when the table is empty, the dense layout): a slot is freed wherever its object leaves every list
_OBJ = (("rec", np.int32, 0, 4), ("osize", np.int64, 0))


@jit_inline
def _replace(rec, osize, h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2, p, in_b2):  # noqa: ANN001
    """The paper's REPLACE: T1's LRU to B1, or T2's LRU to B2."""
    from_t1 = h1 >= 0 and (u1 > p or (in_b2 and u1 == p) or h2 < 0)
    k = t1 if from_t1 else t2
    s = osize[k]
    if from_t1:
        h1, t1 = unlink(rec, h1, t1, k)
        u1 -= s
        hb1, tb1 = push_front(rec, hb1, tb1, k)
        ub1 += s
    else:
        h2, t2 = unlink(rec, h2, t2, k)
        u2 -= s
        hb2, tb2 = push_front(rec, hb2, tb2, k)
        ub2 += s
    rec[k, 2] = 3 if from_t1 else 4
    return h1, t1, h2, t2, hb1, tb1, hb2, tb2, used - s, u1, u2, ub1, ub2


@jit_inline
def _trim_ghosts(rec, osize, hb1, tb1, hb2, tb2, u1, u2, ub1, ub2, cap, keys, tab, hs, mask, hashed):  # noqa: ANN001
    """Keep the whole directory within 2c: drop B2's LRU ids, then B1's."""
    while u1 + u2 + ub1 + ub2 > 2 * cap and (hb1 >= 0 or hb2 >= 0):
        from_b2 = hb2 >= 0
        g = tb2 if from_b2 else tb1
        s = osize[g]
        if from_b2:
            hb2, tb2 = unlink(rec, hb2, tb2, g)
            ub2 -= s
        else:
            hb1, tb1 = unlink(rec, hb1, tb1, g)
            ub1 -= s
        rec[g, 2] = 0
        if hashed:
            slot_free(tab, keys, hs, g, mask)
    return hb1, tb1, hb2, tb2, ub1, ub2


@jit
def arc_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001
    """ARC replay of one chunk of dense ids."""
    _dense_loop(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize,
              np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64))


def _loop(hashed: bool) -> Callable[..., int]:
    """The ARC loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True).

    ``hashed`` is a closure constant of each compiled loop, so the dense loop carries no test of the layout.
    """

    @jit
    def arc_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
        """ARC replay of one chunk: dense ids (empty ``tab``), or raw ids through the slot table; returns requests done."""
        h1, t1, h2, t2, hb1, tb1, hb2, tb2 = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]
        used, u1, u2, ub1, ub2 = sc[8], sc[9], sc[10], sc[11], sc[12]
        p = fp[0]
        lcs = sc[13] != 0
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
                if w == 2:
                    if h2 != x:
                        h2, t2 = unlink(rec, h2, t2, x)
                        h2, t2 = push_front(rec, h2, t2, x)
                else:
                    h1, t1 = unlink(rec, h1, t1, x)
                    u1 -= osize[x]
                    h2, t2 = push_front(rec, h2, t2, x)
                    rec[x, 2] = 2
                    u2 += osize[x]
                if s != osize[x] and not lcs:
                    d = s - osize[x]
                    osize[x] = s
                    u2 += d  # x is in T2 now
                    used += d
                    if s > cap:
                        h2, t2 = unlink(rec, h2, t2, x)
                        u2 -= s
                        used -= s
                        rec[x, 2] = 0
                        if hashed:
                            slot_free(tab, keys, hs, x, mask)
                    else:
                        while used > cap:
                            h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2 = _replace(
                                rec, osize, h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2, p,
                                False)
                            hb1, tb1, hb2, tb2, ub1, ub2 = _trim_ghosts(
                                rec, osize, hb1, tb1, hb2, tb2, u1, u2, ub1, ub2, cap, keys, tab, hs, mask, hashed)
                    hb1, tb1, hb2, tb2, ub1, ub2 = _trim_ghosts(
                        rec, osize, hb1, tb1, hb2, tb2, u1, u2, ub1, ub2, cap, keys, tab, hs, mask, hashed)
            elif s <= cap:
                if w == 3:
                    # B1 ghost hit: recency is paying off, grow T1's target
                    if lcs:
                        p = min(p + max(ub2 / ub1, 1.0), cap)
                    elif ub1 >= ub2:
                        p = min(p + s, cap)
                    elif ub1 == 0:
                        p = cap
                    else:
                        p = min(p + s * ub2 / ub1, cap)
                    hb1, tb1 = unlink(rec, hb1, tb1, x)
                    ub1 -= osize[x]
                    while used + s > cap:
                        h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2 = _replace(
                            rec, osize, h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2, p, False)
                    target = 2
                elif w == 4:
                    # B2 ghost hit: frequency is paying off, shrink T1's target
                    if lcs:
                        p = max(p - max(ub1 / ub2, 1.0), 0.0)
                    elif ub2 >= ub1:
                        p = max(p - s, 0.0)
                    elif ub2 == 0:
                        p = 0.0
                    else:
                        p = max(p - s * ub1 / ub2, 0.0)
                    hb2, tb2 = unlink(rec, hb2, tb2, x)
                    ub2 -= osize[x]
                    while used + s > cap:
                        h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2 = _replace(
                            rec, osize, h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2, p, True)
                    target = 2
                elif lcs:
                    while used + s > cap:  # _ARC_evict_miss_on_all_queues, once per eviction
                        # drop B1's or B2's LRU ghost (or, B1 empty and L1 full, T1's LRU object itself),
                        # then REPLACE unless T1's object was the one dropped; one place frees the slot
                        g = -1
                        from_t1 = False
                        if u1 + ub1 + s > cap:
                            if ub1 > 0:
                                g = tb1
                                hb1, tb1 = unlink(rec, hb1, tb1, g)
                                ub1 -= osize[g]
                            else:
                                g = t1
                                from_t1 = True
                                h1, t1 = unlink(rec, h1, t1, g)
                                u1 -= osize[g]
                                used -= osize[g]
                        elif u1 + ub1 + u2 + ub2 >= 2 * cap and ub2 > 0:
                            g = tb2
                            hb2, tb2 = unlink(rec, hb2, tb2, g)
                            ub2 -= osize[g]
                        if g >= 0:
                            rec[g, 2] = 0
                            if hashed:
                                slot_free(tab, keys, hs, g, mask)
                        if not from_t1:
                            h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2 = _replace(
                                rec, osize, h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2, p, False)
                    target = 1
                else:
                    if u1 + ub1 + s > cap:
                        # case A: L1 = T1 + B1 would exceed c
                        while hb1 >= 0 and u1 + ub1 + s > cap:
                            g = tb1
                            hb1, tb1 = unlink(rec, hb1, tb1, g)
                            ub1 -= osize[g]
                            rec[g, 2] = 0
                            if hashed:
                                slot_free(tab, keys, hs, g, mask)
                        while u1 + s > cap:
                            k = t1
                            h1, t1 = unlink(rec, h1, t1, k)
                            u1 -= osize[k]
                            used -= osize[k]
                            rec[k, 2] = 0
                            if hashed:
                                slot_free(tab, keys, hs, k, mask)
                    else:
                        # case B: keep the whole directory within 2c
                        while hb2 >= 0 and u1 + u2 + ub1 + ub2 + s > 2 * cap:
                            g = tb2
                            hb2, tb2 = unlink(rec, hb2, tb2, g)
                            ub2 -= osize[g]
                            rec[g, 2] = 0
                            if hashed:
                                slot_free(tab, keys, hs, g, mask)
                    while used + s > cap:
                        h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2 = _replace(
                            rec, osize, h1, t1, h2, t2, hb1, tb1, hb2, tb2, used, u1, u2, ub1, ub2, p, False)
                    target = 1
                if x < 0:
                    x = slot_new(tab, keys, hs, key, h, mask)
                osize[x] = s
                used += s
                rec[x, 2] = target
                if target == 1:
                    h1, t1 = push_front(rec, h1, t1, x)
                    u1 += s
                else:
                    h2, t2 = push_front(rec, h2, t2, x)
                    u2 += s
                if u1 + u2 + ub1 + ub2 > 2 * cap and not lcs:  # rare (byte sizes only): test before paying for the call
                    hb1, tb1, hb2, tb2, ub1, ub2 = _trim_ghosts(
                        rec, osize, hb1, tb1, hb2, tb2, u1, u2, ub1, ub2, cap, keys, tab, hs, mask, hashed)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7] = h1, t1, h2, t2, hb1, tb1, hb2, tb2
        sc[8], sc[9], sc[10], sc[11], sc[12] = used, u1, u2, ub1, ub2
        fp[0] = p
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return arc_slots


arc_slots = _loop(True)
_dense_loop = _loop(False)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    lcs = int(params["variant"] == "libcachesim")
    return np.array([-1] * 8 + [0] * 5 + [lcs], dtype=np.int64), np.zeros(1, dtype=np.float64), []


ARC = KernelSpec("arc", arc_kernel, {"variant": "paper"}, _init, _OBJ)
SPECS = (ARC,)
# T1 + T2 + B1 + B2 stay within 2c (libCacheSim's variant: one object more), the object entering aside
SLOT_SPECS = (SlotSpec("arc", arc_slots, 8, lambda sc, cap: 2 * cap + 1),)
