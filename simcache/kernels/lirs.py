"""LIRS kernel (Jiang & Zhang, SIGMETRICS 2002): recency stack S, resident-HIR queue Q, bounded non-resident entries.

An object can be in S and in Q at once, so it has two pairs of list links:
one for S and one for Q -- or, for a non-resident HIR entry (never in Q), for
the list of non-resident entries in the order they left the cache.  All of an
object's fields sit in one row of an int32 record array.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front_at, unlink_at
from simcache.kernels.base import KernelSpec

# state: 0 absent, 1 LIR, 2 resident HIR, 3 non-resident HIR (in S); ins: 1 when in S
# sc slots: 0/1 S top/bottom, 2/3 Q end/front, 4/5 non-resident newest/oldest, 6 used, 7 LIR used,
#           8 non-resident used, 9 LIR limit, 10 non-resident limit, 11 number of LIR keys
# rec[x]: 0/1 S links (newer, older), 2/3 Q or non-resident links, 4 state, 5 in S; one cache line per object
_OBJ = (("rec", np.int32, 0, 8), ("osize", np.int64, 0))  # links are only read while set


@jit_inline
def _prune(rec, osize, sh, st, nh, nt, nu):  # noqa: ANN001
    """Pop non-LIR entries off the bottom of S (forgetting non-resident ones) until a LIR key is there."""
    while st >= 0:
        b = st
        if rec[b, 4] == 1:
            break
        sh, st = unlink_at(rec, 0, sh, st, b)
        rec[b, 5] = 0
        if rec[b, 4] == 3:
            nh, nt = unlink_at(rec, 2, nh, nt, b)
            nu -= osize[b]
            rec[b, 4] = 0
    return sh, st, nh, nt, nu


@jit_inline
def _demote(rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim):  # noqa: ANN001
    """While LIR keys hold more than their limit, the bottom LIR key becomes resident HIR at the end of Q."""
    while lu > llim:
        b = st
        sh, st = unlink_at(rec, 0, sh, st, b)
        rec[b, 5] = 0
        rec[b, 4] = 2
        lu -= osize[b]
        nlir -= 1
        qh, qt = push_front_at(rec, 2, qh, qt, b)
        sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu)
    return sh, st, qh, qt, nh, nt, lu, nu, nlir


@jit_inline
def _to_top(rec, sh, st, x):  # noqa: ANN001
    if rec[x, 5] != 0:
        if sh == x:
            return sh, st
        sh, st = unlink_at(rec, 0, sh, st, x)
    rec[x, 5] = 1
    return push_front_at(rec, 0, sh, st, x)


@jit_inline
def _evict(rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, nlim):  # noqa: ANN001
    """Evict the front of Q (kept in S as non-resident if it is there), or the bottom LIR key when Q is empty."""
    if qt >= 0:
        k = qt
        qh, qt = unlink_at(rec, 2, qh, qt, k)
        if rec[k, 5] != 0:
            rec[k, 4] = 3
            nh, nt = push_front_at(rec, 2, nh, nt, k)
            nu += osize[k]
            while nu > nlim:
                o = nt
                nh, nt = unlink_at(rec, 2, nh, nt, o)
                nu -= osize[o]
                sh, st = unlink_at(rec, 0, sh, st, o)
                rec[o, 5] = 0
                rec[o, 4] = 0
        else:
            rec[k, 4] = 0
    else:
        k = st
        sh, st = unlink_at(rec, 0, sh, st, k)
        rec[k, 5] = 0
        lu -= osize[k]
        nlir -= 1
        rec[k, 4] = 0
        sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu)
    return sh, st, qh, qt, nh, nt, used - osize[k], lu, nu, nlir


@jit_inline
def _remove(rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, x):  # noqa: ANN001
    """Take a resident key out (its new size no longer fits)."""
    if rec[x, 4] == 1:
        was_bottom = st == x
        sh, st = unlink_at(rec, 0, sh, st, x)
        rec[x, 5] = 0
        lu -= osize[x]
        nlir -= 1
        rec[x, 4] = 0
        if was_bottom:
            sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu)
    else:
        qh, qt = unlink_at(rec, 2, qh, qt, x)
        if rec[x, 5] != 0:
            sh, st = unlink_at(rec, 0, sh, st, x)
            rec[x, 5] = 0
        rec[x, 4] = 0
    return sh, st, qh, qt, nh, nt, used - osize[x], lu, nu, nlir


@jit
def lirs_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001,E501
    """LIRS replay of one chunk."""
    sh, st, qh, qt, nh, nt = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
    used, lu, nu, llim, nlim, nlir = sc[6], sc[7], sc[8], sc[9], sc[10], sc[11]
    c_h = c_m = c_bh = c_bm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        sx = rec[x, 4]
        hit = sx == 1 or sx == 2
        if hit:
            if sx == 1:
                was_bottom = st == x
                sh, st = _to_top(rec, sh, st, x)
                if was_bottom and rec[st, 4] != 1:
                    sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu)
            elif rec[x, 5] != 0:
                sh, st = _to_top(rec, sh, st, x)
                qh, qt = unlink_at(rec, 2, qh, qt, x)
                rec[x, 4] = 1
                lu += osize[x]
                nlir += 1
                if lu > llim:
                    sh, st, qh, qt, nh, nt, lu, nu, nlir = _demote(
                        rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim)
            else:
                sh, st = _to_top(rec, sh, st, x)
                qh, qt = unlink_at(rec, 2, qh, qt, x)
                qh, qt = push_front_at(rec, 2, qh, qt, x)
                if nlir == 0:
                    sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu)
            if s != osize[x]:
                d = s - osize[x]
                if rec[x, 4] == 1:
                    lu += d
                osize[x] = s
                used += d
                if s > cap:
                    sh, st, qh, qt, nh, nt, used, lu, nu, nlir = _remove(
                        rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, x)
                else:
                    if lu > llim:  # a LIR key grew: demote the overflow now, as a promotion does
                        sh, st, qh, qt, nh, nt, lu, nu, nlir = _demote(
                            rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim)
                    while used > cap:
                        sh, st, qh, qt, nh, nt, used, lu, nu, nlir = _evict(
                            rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir,
                            nlim)
        elif s <= cap:
            if sx == 3:  # reused now: out of the non-resident bound's reach, still in S
                nh, nt = unlink_at(rec, 2, nh, nt, x)
                nu -= osize[x]
                rec[x, 4] = 0
            while used + s > cap:
                sh, st, qh, qt, nh, nt, used, lu, nu, nlir = _evict(
                    rec, osize, sh, st, qh, qt, nh, nt, used, lu, nu, nlir, nlim)
            osize[x] = s
            used += s
            if lu + s <= llim:
                sh, st = _to_top(rec, sh, st, x)
                rec[x, 4] = 1
                lu += s
                nlir += 1
            elif rec[x, 5] != 0:
                sh, st = _to_top(rec, sh, st, x)
                rec[x, 4] = 1
                lu += s
                nlir += 1
                if lu > llim:
                    sh, st, qh, qt, nh, nt, lu, nu, nlir = _demote(
                        rec, osize, sh, st, qh, qt, nh, nt, lu, nu, nlir, llim)
            else:
                sh, st = _to_top(rec, sh, st, x)
                rec[x, 4] = 2
                qh, qt = push_front_at(rec, 2, qh, qt, x)
                if nlir == 0:
                    sh, st, nh, nt, nu = _prune(rec, osize, sh, st, nh, nt, nu)
        if base + i >= warmup:
            if hit:
                c_h += 1
                c_bh += bsz[i]
            else:
                c_m += 1
                c_bm += bsz[i]
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2], sc[3], sc[4], sc[5] = sh, st, qh, qt, nh, nt
    sc[6], sc[7], sc[8], sc[11] = used, lu, nu, nlir
    cnt[0] += c_h
    cnt[1] += c_m
    cnt[2] += c_bh
    cnt[3] += c_bm


# ---------------------------------------------------------------- libCacheSim's LIRS.c
# sc slots (variant libcachesim): 0/1 S head/tail, 2/3 Q, 4/5 NH, 6 occupied, 7 lirs_count, 8 hirs_count,
#           9 nonresident, 10 S's total size, 11 LIR limit, 12 variant flag (1), 13 HIR limit,
#           14..18 hit_RD_HIRinQ's freed-entry watch (LibCacheSimLIRS._freed): 14 watching, 15/16 the entry
#           in the watched block (1 S, 2 Q, 3 NH; key), 17 its depth in the free list (-1: allocated), 18 size
# rec[x]: 0/1 S links, 2/3 Q links, 4/5 NH links, 6 flags; osize[x]: the size of x's entries (one size: an
# entry is only ever created from a request's size or copied from another entry of x)
IN_S, LIR, NONRES, IN_Q, IN_NH = 1, 2, 4, 8, 16


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


@jit
def _l_prune(rec, osize, sc):  # noqa: ANN001, ANN202
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


@jit
def _l_evict_hir(rec, osize, sc):  # noqa: ANN001, ANN202
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


@jit
def _l_evict_lir(rec, osize, sc):  # noqa: ANN001, ANN202
    # evictLIR: S's tail goes to Q (HIR keys evicted for its room), or leaves the cache if larger than Q
    if sc[1] < 0:
        return
    k = sc[1]
    s = osize[k]
    sc[7] -= s
    _l_sdel(rec, osize, sc, k)
    sc[6] -= s
    if s <= sc[13]:
        while sc[8] + s > sc[13] and sc[3] >= 0:
            _l_evict_hir(rec, osize, sc)
        if (rec[k, 6] & IN_Q) == 0:
            sc[2], sc[3] = push_front_at(rec, 2, sc[2], sc[3], k)
            rec[k, 6] |= IN_Q
        _l_alloc(sc, 2, k, s)
        sc[8] += s
        sc[6] += s
    _l_prune(rec, osize, sc)


@jit_inline
def _l_limit_stack(rec, osize, sc, cap):  # noqa: ANN001, ANN202
    while sc[10] > 2 * cap and sc[5] >= 0:
        k = sc[5]
        _l_nhdel(rec, sc, k)
        sc[9] -= osize[k]
        if rec[k, 6] & IN_S:
            _l_sdel(rec, osize, sc, k)


@jit
def lirs_libcachesim_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001
    """libCacheSim's LIRS (:class:`simcache.policies.lirs.LibCacheSimLIRS`) on one chunk."""
    llim, hlim = sc[11], sc[13]
    c_h = c_m = c_bh = c_bm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
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
                _l_prune(rec, osize, sc)
            elif f & IN_S:  # hit_RD_HIRinS
                if f & IN_Q:
                    sc[2], sc[3] = unlink_at(rec, 2, sc[2], sc[3], x)
                    rec[x, 6] &= ~IN_Q
                    sc[8] -= sx
                    sc[6] -= sx
                while sc[7] + sx > llim and sc[1] >= 0:
                    _l_evict_lir(rec, osize, sc)
                if rec[x, 6] & IN_S:
                    rec[x, 6] |= LIR
                    sc[7] += sx
                    sc[6] += sx
            else:  # hit_RD_HIRinQ: the loop reads the size through a pointer that may dangle
                sc[14], sc[15], sc[16], sc[17], sc[18] = 1, 2, x, -1, sx
                while sc[7] + sc[18] > llim and sc[1] >= 0:
                    _l_evict_lir(rec, osize, sc)
                sc[14] = 0
                _l_spush(rec, osize, sc, x)
            _l_limit_stack(rec, osize, sc, cap)
        elif s <= cap:
            admit = True
            if f & IN_S:
                sc[0], sc[1] = unlink_at(rec, 0, sc[0], sc[1], x)
                sc[0], sc[1] = push_front_at(rec, 0, sc[0], sc[1], x)
                old = osize[x]
                while sc[7] + old > llim and sc[1] >= 0:
                    _l_evict_lir(rec, osize, sc)
                if rec[x, 6] & IN_NH:
                    _l_nhdel(rec, sc, x)
                    sc[9] -= old
            elif s > llim or s > hlim:
                admit = False
            elif sc[7] + s > llim and sc[8] + s > hlim:
                while sc[8] + s > hlim and sc[3] >= 0:
                    _l_evict_hir(rec, osize, sc)
            if admit:
                while sc[6] + s > cap:
                    if rec[x, 6] & IN_S:
                        while sc[8] >= hlim and sc[3] >= 0:
                            _l_evict_hir(rec, osize, sc)
                        _l_evict_lir(rec, osize, sc)
                    elif sc[7] + s > llim and sc[8] + s > hlim and sc[3] >= 0:
                        _l_evict_hir(rec, osize, sc)
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
            _l_limit_stack(rec, osize, sc, cap)
        if base + i >= warmup:
            if hit:
                c_h += 1
                c_bh += bsz[i]
            else:
                c_m += 1
                c_bm += bsz[i]
        if want:
            hitout[i] = hit
    cnt[0] += c_h
    cnt[1] += c_m
    cnt[2] += c_bh
    cnt[3] += c_bm


def lirs_or_libcachesim(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001, ANN201
    """LIRS on one chunk: the paper's kernel, or libCacheSim's for its variant (``sc[12]``)."""
    fn = lirs_libcachesim_kernel if sc[12] != 0 else lirs_kernel
    fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    hir = max(1, int(float(params["hir_ratio"]) * cap))
    lir = max(0, cap - hir)
    if params["variant"] == "libcachesim":
        return np.array([-1] * 6 + [0, 0, 0, 0, 0, cap - hir, 1, hir, 0, 0, -1, -1, 0], dtype=np.int64), np.zeros(0), []
    nr = int(float(params["nonresident_factor"]) * cap)
    return np.array([-1] * 6 + [0, 0, 0, lir, nr, 0, 0], dtype=np.int64), np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    return 0.0 <= float(params["hir_ratio"]) <= 1.0 and float(params["nonresident_factor"]) >= 0.0


LIRS = KernelSpec("lirs", lirs_or_libcachesim, {"hir_ratio": 0.01, "nonresident_factor": 2.0, "variant": "paper"},
                  _init, _OBJ, check=_check)
SPECS = (LIRS,)
