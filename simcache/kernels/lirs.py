"""LIRS kernel (Jiang & Zhang, SIGMETRICS 2002): recency stack S, resident-HIR queue Q, bounded non-resident entries.

An object can be in S and in Q at once, so it has two pairs of list links:
one for S and one for Q -- or, for a non-resident HIR entry (never in Q), for
the list of non-resident entries in the order they left the cache.  All of an
object's fields sit in one row of an int32 record array.

Bounded (``SLOT_SPECS``): the same loops over *slots*, one per object in S, Q or the non-resident list
(resident objects and the non-resident HIR entries LIRS remembers), found through
:mod:`simcache.kernels.hashed`'s slot table; a slot is freed wherever its object leaves the last of them.
Each loop source is compiled twice through the closure constant ``hashed``; the helpers that drop entries
take the slot table as one argument ``tb`` (0 over dense ids: see :func:`simcache.kernels.slru.free_slot`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front_at, unlink_at
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_lookup, slot_new
from simcache.kernels.slru import free_slot, no_table

# state: 0 absent, 1 LIR, 2 resident HIR, 3 non-resident HIR (in S); ins: 1 when in S
# sc slots: 0/1 S top/bottom, 2/3 Q end/front, 4/5 non-resident newest/oldest, 6 used, 7 LIR used,
#           8 non-resident used, 9 LIR limit, 10 non-resident limit, 11 number of LIR keys
# rec[x]: 0/1 S links (newer, older), 2/3 Q or non-resident links, 4/5 unused, 6 state, 7 in S; one cache
# line per object (state in column 6 as libCacheSim's variant keeps its flags there: one column tells both
# variants' live objects apart, and columns 0-5 are links in both)
# x is a dense id, or in the bounded layout a slot (tab, keys, hs: simcache.kernels.hashed's slot table;
# mask = -1 when the table is empty, the dense layout).  Between requests an object is in some list exactly
# when its state is not 0 (an object in S with state 0 is only ever the one being requested, mid-miss).
_OBJ = (("rec", np.int32, 0, 8), ("osize", np.int64, 0))  # links are only read while set


@jit_inline
def _to_top(rec, sh, st, x):  # noqa: ANN001
    if rec[x, 7] != 0:
        if sh == x:
            return sh, st
        sh, st = unlink_at(rec, 0, sh, st, x)
    rec[x, 7] = 1
    return push_front_at(rec, 0, sh, st, x)


@jit_inline
def _prune(rec, osize, sh, st, nh, nt, nu, tb):  # noqa: ANN001
    """Pop non-LIR entries off the bottom of S (forgetting non-resident ones) until a LIR key is there."""
    while st >= 0:
        b = st
        if rec[b, 6] == 1:
            break
        sh, st = unlink_at(rec, 0, sh, st, b)
        rec[b, 7] = 0
        if rec[b, 6] == 3:
            nh, nt = unlink_at(rec, 2, nh, nt, b)
            nu -= osize[b]
            rec[b, 6] = 0
            # in no list now (a resident HIR key stays in Q; state 0 is the key being admitted)
            free_slot(tb, b)
    return sh, st, nh, nt, nu


@jit_inline
def _demote(rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim, tb):  # noqa: ANN001
    """While LIR keys hold more than their limit, the bottom LIR key becomes resident HIR at the end of Q."""
    while lu > llim:
        b = st
        sh, st = unlink_at(rec, 0, sh, st, b)
        rec[b, 7] = 0
        rec[b, 6] = 2
        lu -= osize[b]
        nlir -= 1
        qh, qt = push_front_at(rec, 2, qh, qt, b)
        sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu, tb)
    return sh, st, qh, qt, nh, nt, lu, nu, nlir


@jit_inline
def _evict(rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, nlim, tb):  # noqa: ANN001
    """Evict the front of Q (kept in S as non-resident if it is there), or the bottom LIR key when Q is empty."""
    if qt >= 0:
        k = qt
        sk = osize[k]
        qh, qt = unlink_at(rec, 2, qh, qt, k)
        if rec[k, 7] != 0:
            rec[k, 6] = 3
            nh, nt = push_front_at(rec, 2, nh, nt, k)
            nu += sk
            while nu > nlim:
                o = nt
                nh, nt = unlink_at(rec, 2, nh, nt, o)
                nu -= osize[o]
                sh, st = unlink_at(rec, 0, sh, st, o)
                rec[o, 7] = 0
                rec[o, 6] = 0
                free_slot(tb, o)
        else:
            rec[k, 6] = 0
            free_slot(tb, k)
    else:
        k = st
        sk = osize[k]
        sh, st = unlink_at(rec, 0, sh, st, k)
        rec[k, 7] = 0
        lu -= sk
        nlir -= 1
        rec[k, 6] = 0
        free_slot(tb, k)
        sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu, tb)
    return sh, st, qh, qt, nh, nt, used - sk, lu, nu, nlir


@jit_inline
def _remove(rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, x, tb):  # noqa: ANN001
    """Take a resident key out (its new size no longer fits)."""
    sx = osize[x]
    if rec[x, 6] == 1:
        was_bottom = st == x
        sh, st = unlink_at(rec, 0, sh, st, x)
        rec[x, 7] = 0
        lu -= osize[x]
        nlir -= 1
        rec[x, 6] = 0
        if was_bottom:
            sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu, tb)
    else:
        qh, qt = unlink_at(rec, 2, qh, qt, x)
        if rec[x, 7] != 0:
            sh, st = unlink_at(rec, 0, sh, st, x)
            rec[x, 7] = 0
        rec[x, 6] = 0
    free_slot(tb, x)
    return sh, st, qh, qt, nh, nt, used - sx, lu, nu, nlir


def _paper_loop(hashed: bool) -> Callable[..., int]:
    """The paper's LIRS loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True)."""

    @jit
    def lirs_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
        """LIRS replay of one chunk: dense ids (empty ``tab``), or raw ids through the slot table; returns requests done."""
        sh, st, qh, qt, nh, nt = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
        used, lu, nu, llim, nlim, nlir = sc[6], sc[7], sc[8], sc[9], sc[10], sc[11]
        mask = tab.shape[0] - 1
        tb = (tab, keys, hs, mask) if hashed else 0
        room = rec.shape[0]
        done = ids.shape[0]
        c_h = c_m = c_bh = c_bm = 0
        want = hitout.shape[0] > 0
        for i in range(ids.shape[0]):
            key = ids[i]
            s = sizes[i]
            if hashed:
                h, x, full = slot_lookup(tab, keys, key, mask, s, cap, hs, room)
                if full:
                    done = i  # no slot left for an object that may enter: the caller grows the state
                    break
                sx = rec[x, 6] if x >= 0 else 0
            else:
                h = 0
                x = key
                sx = rec[x, 6]
            hit = sx == 1 or sx == 2
            if hit:
                if sx == 1:
                    was_bottom = st == x
                    sh, st = _to_top(rec, sh, st, x)
                    if was_bottom and rec[st, 6] != 1:
                        sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu, tb)
                elif rec[x, 7] != 0:
                    sh, st = _to_top(rec, sh, st, x)
                    qh, qt = unlink_at(rec, 2, qh, qt, x)
                    rec[x, 6] = 1
                    lu += osize[x]
                    nlir += 1
                    if lu > llim:
                        sh, st, qh, qt, nh, nt, lu, nu, nlir = _demote(
                            rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim, tb)
                else:
                    sh, st = _to_top(rec, sh, st, x)
                    qh, qt = unlink_at(rec, 2, qh, qt, x)
                    qh, qt = push_front_at(rec, 2, qh, qt, x)
                    if nlir == 0:
                        sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu, tb)
                if s != osize[x]:
                    d = s - osize[x]
                    if rec[x, 6] == 1:
                        lu += d
                    osize[x] = s
                    used += d
                    if s > cap:
                        sh, st, qh, qt, nh, nt, used, lu, nu, nlir = _remove(
                            rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, x, tb)
                    else:
                        if lu > llim:  # a LIR key grew: demote the overflow now, as a promotion does
                            sh, st, qh, qt, nh, nt, lu, nu, nlir = _demote(
                                rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim, tb)
                        while used > cap:
                            sh, st, qh, qt, nh, nt, used, lu, nu, nlir = _evict(
                                rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, nlim, tb)
            elif s <= cap:
                if sx == 3:  # reused now: out of the non-resident bound's reach, still in S
                    nh, nt = unlink_at(rec, 2, nh, nt, x)
                    nu -= osize[x]
                    rec[x, 6] = 0
                while used + s > cap:
                    sh, st, qh, qt, nh, nt, used, lu, nu, nlir = _evict(
                        rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, nlim, tb)
                if hashed and x < 0:
                    x = slot_new(tab, keys, hs, key, h, mask)
                    rec[x, 6] = 0
                    rec[x, 7] = 0
                osize[x] = s
                used += s
                if lu + s <= llim:
                    sh, st = _to_top(rec, sh, st, x)
                    rec[x, 6] = 1
                    lu += s
                    nlir += 1
                elif rec[x, 7] != 0:
                    sh, st = _to_top(rec, sh, st, x)
                    rec[x, 6] = 1
                    lu += s
                    nlir += 1
                    if lu > llim:
                        sh, st, qh, qt, nh, nt, lu, nu, nlir = _demote(
                            rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim, tb)
                else:
                    sh, st = _to_top(rec, sh, st, x)
                    rec[x, 6] = 2
                    qh, qt = push_front_at(rec, 2, qh, qt, x)
                    if nlir == 0:
                        sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu, tb)
            c_h, c_m, c_bh, c_bm = tally(base + i >= warmup, hit, bsz[i], c_h, c_m, c_bh, c_bm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2], sc[3], sc[4], sc[5] = sh, st, qh, qt, nh, nt
        sc[6], sc[7], sc[8], sc[11] = used, lu, nu, nlir
        add_counts(cnt, c_h, c_m, c_bh, c_bm)
        return done

    return lirs_slots


# ---------------------------------------------------------------- libCacheSim's LIRS.c
# sc slots (variant libcachesim): 0/1 S head/tail, 2/3 Q, 4/5 NH, 6 occupied, 7 lirs_count, 8 hirs_count,
#           9 nonresident, 10 S's total size, 11 LIR limit, 12 variant flag (1), 13 HIR limit,
#           14..18 hit_RD_HIRinQ's freed-entry watch (LibCacheSimLIRS._freed): 14 watching, 15/16 the entry
#           in the watched block (1 S, 2 Q, 3 NH; key), 17 its depth in the free list (-1: allocated), 18 size
# rec[x]: 0/1 S links, 2/3 Q links, 4/5 NH links, 6 flags; osize[x]: the size of x's entries (one size: an
# entry is only ever created from a request's size or copied from another entry of x)
# In the bounded layout an object holds its slot while its flags are not 0; two more flag bits keep it while
# a step may put it back in a list: PIN_REQ for the object requested (until the request is done), PIN_OP
# for the LIR key _l_evict_lir moves to Q (until it is there).  The dense loop never sets them.
IN_S, LIR, NONRES, IN_Q, IN_NH, PIN_REQ, PIN_OP = 1, 2, 4, 8, 16, 32, 64


@jit_inline
def _l_freed(sc, where, k):  # noqa: ANN001, ANN202
    if sc[14] == 0:
        return
    if sc[17] >= 0:
        sc[17] += 1
    elif sc[15] == where and sc[16] == k:
        sc[17] = 0


@jit_inline
def _l_alloc(sc, where, k, size):  # noqa: ANN001, ANN202
    if sc[14] == 0 or sc[17] < 0:
        return
    if sc[17] == 0:
        sc[15], sc[16], sc[17], sc[18] = where, k, -1, size
    else:
        sc[17] -= 1


@jit_inline
def _l_resident(rec, x):  # noqa: ANN001, ANN202
    f = rec[x, 6]
    if f & IN_S:
        return (f & NONRES) == 0
    return (f & IN_Q) != 0


@jit_inline
def _l_sdel(rec, osize, sc, x):  # noqa: ANN001, ANN202
    sc[0], sc[1] = unlink_at(rec, 0, sc[0], sc[1], x)
    sc[10] -= osize[x]
    rec[x, 6] &= ~(IN_S | LIR | NONRES)
    _l_freed(sc, 1, x)


@jit_inline
def _l_spush(rec, osize, sc, x):  # noqa: ANN001, ANN202
    sc[0], sc[1] = push_front_at(rec, 0, sc[0], sc[1], x)
    sc[10] += osize[x]
    rec[x, 6] |= IN_S
    _l_alloc(sc, 1, x, osize[x])


@jit_inline
def _l_nhdel(rec, sc, x):  # noqa: ANN001, ANN202
    sc[4], sc[5] = unlink_at(rec, 4, sc[4], sc[5], x)
    rec[x, 6] &= ~IN_NH
    _l_freed(sc, 3, x)


@jit_inline
def _l_drop(rec, tb, k):  # noqa: ANN001, ANN202
    # an object in no list (and not pinned) gives its slot back
    if rec[k, 6] == 0:
        free_slot(tb, k)


@jit
def _l_prune(rec, osize, sc, tb):  # noqa: ANN001, ANN202
    # LIRS_prune: non-LIR entries leave S's tail, never its head
    while sc[1] >= 0 and sc[1] != sc[0]:
        k = sc[1]
        f = rec[k, 6]
        if f & LIR:
            break
        if (f & NONRES) and (f & IN_NH):
            _l_nhdel(rec, sc, k)
            sc[9] -= osize[k]
        _l_sdel(rec, osize, sc, k)
        _l_drop(rec, tb, k)


@jit
def _l_evict_hir(rec, osize, sc, tb):  # noqa: ANN001, ANN202
    k = sc[3]
    sc[2], sc[3] = unlink_at(rec, 2, sc[2], sc[3], k)
    rec[k, 6] &= ~IN_Q
    _l_freed(sc, 2, k)
    sc[8] -= osize[k]
    if rec[k, 6] & IN_S:
        rec[k, 6] |= NONRES
        if (rec[k, 6] & IN_NH) == 0:
            sc[4], sc[5] = push_front_at(rec, 4, sc[4], sc[5], k)
            rec[k, 6] |= IN_NH
        _l_alloc(sc, 3, k, osize[k])
        sc[9] += osize[k]
    sc[6] -= osize[k]
    _l_drop(rec, tb, k)


@jit
def _l_evict_lir(rec, osize, sc, tb, pin):  # noqa: ANN001, ANN202
    # evictLIR: S's tail goes to Q (HIR keys evicted for its room), or leaves the cache if larger than Q
    if sc[1] < 0:
        return
    k = sc[1]
    s = osize[k]
    if pin:
        rec[k, 6] |= PIN_OP  # out of S before it is in Q (and maybe evicted from Q meanwhile): keep its slot
    sc[7] -= s
    _l_sdel(rec, osize, sc, k)
    sc[6] -= s
    if s <= sc[13]:
        while sc[8] + s > sc[13] and sc[3] >= 0:
            _l_evict_hir(rec, osize, sc, tb)
        if (rec[k, 6] & IN_Q) == 0:
            sc[2], sc[3] = push_front_at(rec, 2, sc[2], sc[3], k)
            rec[k, 6] |= IN_Q
        _l_alloc(sc, 2, k, s)
        sc[8] += s
        sc[6] += s
    if pin:
        rec[k, 6] &= ~PIN_OP
        _l_drop(rec, tb, k)
    _l_prune(rec, osize, sc, tb)


@jit_inline
def _l_limit_stack(rec, osize, sc, cap, tb):  # noqa: ANN001, ANN202
    while sc[10] > 2 * cap and sc[5] >= 0:
        k = sc[5]
        _l_nhdel(rec, sc, k)
        sc[9] -= osize[k]
        if rec[k, 6] & IN_S:
            _l_sdel(rec, osize, sc, k)
        _l_drop(rec, tb, k)


def _libcachesim_loop(hashed: bool) -> Callable[..., int]:
    """libCacheSim's LIRS loop over dense ids (``hashed`` False) or slots (True)."""

    @jit
    def lirs_lcs_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
        """libCacheSim's LIRS (:class:`simcache.policies.lirs.LibCacheSimLIRS`) on one chunk; returns requests done."""
        llim, hlim = sc[11], sc[13]
        mask = tab.shape[0] - 1
        tb = (tab, keys, hs, mask) if hashed else 0
        room = rec.shape[0]
        done = ids.shape[0]
        c_h = c_m = c_bh = c_bm = 0
        want = hitout.shape[0] > 0
        for i in range(ids.shape[0]):
            key = ids[i]
            s = sizes[i]
            if hashed:
                h, x, full = slot_lookup(tab, keys, key, mask, s, cap, hs, room)
                if full:
                    done = i
                    break
                if x >= 0:
                    hit = _l_resident(rec, x)
                else:
                    hit = False
                    if s <= cap:  # a slot for the entries it may get (given back below if it gets none)
                        x = slot_new(tab, keys, hs, key, h, mask)
                        rec[x, 6] = 0
                if x >= 0:
                    rec[x, 6] |= PIN_REQ
                f = rec[x, 6] if x >= 0 else 0
            else:
                x = key
                hit = _l_resident(rec, x)
                f = rec[x, 6]
            if hit:
                if f & IN_S:
                    sc[0], sc[1] = unlink_at(rec, 0, sc[0], sc[1], x)
                    sc[0], sc[1] = push_front_at(rec, 0, sc[0], sc[1], x)
                if f & IN_Q:
                    sc[2], sc[3] = unlink_at(rec, 2, sc[2], sc[3], x)
                    sc[2], sc[3] = push_front_at(rec, 2, sc[2], sc[3], x)
                sx = osize[x]
                if (f & IN_S) and (f & LIR):
                    _l_prune(rec, osize, sc, tb)
                elif f & IN_S:  # hit_RD_HIRinS
                    if f & IN_Q:
                        sc[2], sc[3] = unlink_at(rec, 2, sc[2], sc[3], x)
                        rec[x, 6] &= ~IN_Q
                        sc[8] -= sx
                        sc[6] -= sx
                    while sc[7] + sx > llim and sc[1] >= 0:
                        _l_evict_lir(rec, osize, sc, tb, hashed)
                    if rec[x, 6] & IN_S:
                        rec[x, 6] |= LIR
                        sc[7] += sx
                        sc[6] += sx
                else:  # hit_RD_HIRinQ: the loop reads the size through a pointer that may dangle
                    sc[14], sc[15], sc[16], sc[17], sc[18] = 1, 2, x, -1, sx
                    while sc[7] + sc[18] > llim and sc[1] >= 0:
                        _l_evict_lir(rec, osize, sc, tb, hashed)
                    sc[14] = 0
                    _l_spush(rec, osize, sc, x)
                _l_limit_stack(rec, osize, sc, cap, tb)
            elif s <= cap:
                admit = True
                if f & IN_S:
                    sc[0], sc[1] = unlink_at(rec, 0, sc[0], sc[1], x)
                    sc[0], sc[1] = push_front_at(rec, 0, sc[0], sc[1], x)
                    old = osize[x]
                    while sc[7] + old > llim and sc[1] >= 0:
                        _l_evict_lir(rec, osize, sc, tb, hashed)
                    if rec[x, 6] & IN_NH:
                        _l_nhdel(rec, sc, x)
                        sc[9] -= old
                elif s > llim or s > hlim:
                    admit = False
                elif sc[7] + s > llim and sc[8] + s > hlim:
                    while sc[8] + s > hlim and sc[3] >= 0:
                        _l_evict_hir(rec, osize, sc, tb)
                if admit:
                    while sc[6] + s > cap:
                        if rec[x, 6] & IN_S:
                            while sc[8] >= hlim and sc[3] >= 0:
                                _l_evict_hir(rec, osize, sc, tb)
                            _l_evict_lir(rec, osize, sc, tb, hashed)
                        elif sc[7] + s > llim and sc[8] + s > hlim and sc[3] >= 0:
                            _l_evict_hir(rec, osize, sc, tb)
                        else:
                            break
                    if rec[x, 6] & IN_S:
                        old = osize[x]
                        rec[x, 6] = (rec[x, 6] & ~NONRES) | LIR
                        sc[7] += old
                        sc[6] += old
                    else:
                        osize[x] = s
                        _l_spush(rec, osize, sc, x)
                        if sc[7] + s <= llim:
                            rec[x, 6] |= LIR
                            sc[7] += s
                        else:
                            sc[2], sc[3] = push_front_at(rec, 2, sc[2], sc[3], x)
                            rec[x, 6] |= IN_Q
                            sc[8] += s
                        sc[6] += s
                _l_limit_stack(rec, osize, sc, cap, tb)
            if hashed and x >= 0:
                rec[x, 6] &= ~PIN_REQ
                _l_drop(rec, tb, x)
            c_h, c_m, c_bh, c_bm = tally(base + i >= warmup, hit, bsz[i], c_h, c_m, c_bh, c_bm)
            if want:
                hitout[i] = hit
        add_counts(cnt, c_h, c_m, c_bh, c_bm)
        return done

    return lirs_lcs_slots


_paper_dense, _paper_hashed = _paper_loop(False), _paper_loop(True)
_lcs_dense, _lcs_hashed = _libcachesim_loop(False), _libcachesim_loop(True)


def lirs_or_libcachesim(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001, ANN201
    """LIRS on one chunk of dense ids: the paper's loop, or libCacheSim's for its variant (``sc[12]``)."""
    fn = _lcs_dense if sc[12] != 0 else _paper_dense
    fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, *no_table())


def lirs_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
    """LIRS on one chunk of raw ids through the slot table (either variant); returns the requests done."""
    fn = _lcs_hashed if sc[12] != 0 else _paper_hashed
    return fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    hir = max(1, int(float(params["hir_ratio"]) * cap))
    lir = max(0, cap - hir)
    if params["variant"] == "libcachesim":
        return np.array([-1] * 6 + [0, 0, 0, 0, 0, cap - hir, 1, hir, 0, 0, -1, -1, 0], dtype=np.int64), np.zeros(0), []
    nr = int(float(params["nonresident_factor"]) * cap)
    return np.array([-1] * 6 + [0, 0, 0, lir, nr, 0, 0], dtype=np.int64), np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    return 0.0 <= float(params["hir_ratio"]) <= 1.0 and float(params["nonresident_factor"]) >= 0.0


def _bound(sc: np.ndarray, cap: int) -> int:
    """Units the objects in some list can hold: residents (at most ``cap``) plus the non-resident entries.

    The paper's non-resident HIR entries hold at most ``nonresident_factor x cap`` (``sc[10]``).  libCacheSim's
    stack S holds at most 2 ``cap`` while it has non-resident entries (``_l_limit_stack``; without them, S is
    residents only) and an object outside S is a resident HIR key in Q, at most the HIR share (``sc[13]``).
    """
    if sc[12] != 0:
        return int(2 * cap + sc[13])
    return int(cap + sc[10])


LIRS = KernelSpec("lirs", lirs_or_libcachesim, {"hir_ratio": 0.01, "nonresident_factor": 2.0, "variant": "paper"},
                  _init, _OBJ, check=_check)
SPECS = (LIRS,)
# list pointers sc[0..5] in both variants; links in rec columns 0-5 (the paper's 4/5 unused), where: column 6
SLOT_SPECS = (SlotSpec("lirs", lirs_slots, 6, _bound, where=6, links=6),)
