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
def lirs_kernel(ids, sizes, bsz, nxt_acc, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001,E501
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


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    hir = max(1, int(float(params["hir_ratio"]) * cap))
    lir = max(0, cap - hir)
    nr = int(float(params["nonresident_factor"]) * cap)
    return np.array([-1] * 6 + [0, 0, 0, lir, nr, 0], dtype=np.int64), np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    return 0.0 <= float(params["hir_ratio"]) <= 1.0 and float(params["nonresident_factor"]) >= 0.0


LIRS = KernelSpec("lirs", lirs_kernel, {"hir_ratio": 0.01, "nonresident_factor": 2.0}, _init, _OBJ, check=_check)
SPECS = (LIRS,)
