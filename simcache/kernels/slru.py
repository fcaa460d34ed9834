"""Segmented LRU kernel: probationary and protected LRU lists, protected bounded by a share of capacity.

Bounded (``SLOT_SPECS``): the same loops over *slots*, one per resident object (SLRU keeps no ghosts),
found through :mod:`simcache.kernels.hashed`'s slot table; a slot is freed wherever its object leaves the
cache.  Each loop source is compiled twice through the closure constant ``hashed``.  The helpers that evict
take the slot table as one argument ``tb``: ``(tab, keys, hs, mask)`` over slots, the integer 0 over dense
ids, for which :func:`free_slot` compiles to nothing -- passing the table's arrays into ``jit_inline`` helpers of
the dense loop, where they go unused, made it up to 1.7x slower (S4LRU: reference counts on every call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import COMPILED, jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_free, slot_lookup, slot_new

# where: 0 absent, 1 probationary, 2 protected (libCacheSim's S4LRU: 1 + segment)
# sc slots: 0/1 probationary head/tail, 2/3 protected head/tail, S4LRU: 4..11 segment heads/tails (4 + 2i,
#           5 + 2i); 12 used, 13 protected used, 14 protected limit, 15 libCacheSim's variant; S4LRU: 16..19
#           segment occupancy, 20..23 segment shares (every list pointer before the counters: sc[:12])
# rec[x]: 0/1 links (newer, older; only read while x is in a list), 2 where, 3 freq: one cache line
# x is a dense id, or in the bounded layout a slot (tab, keys, hs: simcache.kernels.hashed's slot table;
# mask = -1 when the table is empty, the dense layout)
_OBJ = (("rec", np.int32, 0, 4), ("osize", np.int64, 0))


def no_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``keys, tab, hs`` a loop compiled for dense ids is given (empty: it never reads them)."""
    return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64)


def free_slot(tb, x):  # noqa: ANN001, ANN201
    """Give slot ``x`` (in no list any more) back to the slot table ``tb = (tab, keys, hs, mask)``; 0: no table."""
    if isinstance(tb, tuple):
        slot_free(tb[0], tb[1], tb[2], x, tb[3])


if COMPILED:
    from numba import types
    from numba.extending import overload

    @overload(free_slot)  # type: ignore[untyped-decorator]
    def _free_slot(tb, x):  # noqa: ANN001, ANN202
        # chosen by tb's type when the caller compiles: the dense loops' integer 0 leaves nothing behind (a call
        # to nothing, which LLVM drops); over slots, a call per freed slot (numba compiles it into the caller; its SSA pass warns)
        if isinstance(tb, types.Integer):
            return lambda tb, x: None
        return lambda tb, x: slot_free(tb[0], tb[1], tb[2], x, tb[3])


@jit_inline
def _rebalance(rec, osize, ph, pt, qh, qt, qu, qlim):  # noqa: ANN001
    while qu > qlim:
        k = qt
        qh, qt = unlink(rec, qh, qt, k)
        qu -= osize[k]
        ph, pt = push_front(rec, ph, pt, k)
        rec[k, 2] = 1
    return ph, pt, qh, qt, qu


@jit_inline
def _evict(rec, osize, ph, pt, qh, qt, used, qu, tb):  # noqa: ANN001, ANN202
    if pt >= 0:
        k = pt
        ph, pt = unlink(rec, ph, pt, k)
    else:
        k = qt
        qh, qt = unlink(rec, qh, qt, k)
        qu -= osize[k]
    rec[k, 2] = 0
    free_slot(tb, k)
    return ph, pt, qh, qt, used - osize[k], qu


def _slru_loop(hashed: bool) -> Callable[..., int]:
    """The SLRU loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True)."""

    @jit
    def slru_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
        """SLRU replay of one chunk: dense ids (empty ``tab``), or raw ids through the slot table; returns requests done."""
        ph, pt, qh, qt, used, qu, qlim = sc[0], sc[1], sc[2], sc[3], sc[12], sc[13], sc[14]
        mask = tab.shape[0] - 1
        tb = (tab, keys, hs, mask) if hashed else 0
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
            hit = w != 0
            if hit:
                if w == 2:
                    if qh != x:
                        qh, qt = unlink(rec, qh, qt, x)
                        qh, qt = push_front(rec, qh, qt, x)
                else:
                    ph, pt = unlink(rec, ph, pt, x)
                    qh, qt = push_front(rec, qh, qt, x)
                    rec[x, 2] = 2
                    qu += osize[x]
                    if qu > qlim:
                        ph, pt, qh, qt, qu = _rebalance(rec, osize, ph, pt, qh, qt, qu, qlim)
                if s != osize[x]:
                    d = s - osize[x]
                    osize[x] = s
                    if rec[x, 2] == 2:
                        qu += d
                        ph, pt, qh, qt, qu = _rebalance(rec, osize, ph, pt, qh, qt, qu, qlim)
                    used += d
                    if s > cap:
                        if rec[x, 2] == 2:
                            qh, qt = unlink(rec, qh, qt, x)
                            qu -= s
                        else:
                            ph, pt = unlink(rec, ph, pt, x)
                        rec[x, 2] = 0
                        used -= s
                        if hashed:
                            slot_free(tab, keys, hs, x, mask)
                    else:
                        while used > cap:
                            ph, pt, qh, qt, used, qu = _evict(rec, osize, ph, pt, qh, qt, used, qu, tb)
            elif s <= cap:
                while used + s > cap and (pt >= 0 or qt >= 0):
                    ph, pt, qh, qt, used, qu = _evict(rec, osize, ph, pt, qh, qt, used, qu, tb)
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                ph, pt = push_front(rec, ph, pt, x)
                rec[x, 2] = 1
                osize[x] = s
                used += s
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2], sc[3], sc[12], sc[13] = ph, pt, qh, qt, used, qu
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return slru_slots


NSEG = 4  # libCacheSim's SLRU.c: n_seg = 4


# libCacheSim's SLRU.c over segments whose heads/tails sit at sc[h0 + 2j], sc[h0 + 2j + 1], occupancy at
# sc[u0 + j] and shares at sc[c0 + j]; an object in segment j has rec[x, 2] = woff + j (0: absent).
# Shared by S4LRU here and W-TinyLFU's libCacheSim main area; :class:`simcache.policies.slru.SegmentedLRU`
# is the reference.  Each helper takes the slot table last (``tb``: ``(tab, keys, hs, mask)`` over slots, 0 over
# dense ids), where an evicted object's slot is freed.

@jit_inline
def seg_evict(rec, osize, sc, h0, u0, nseg, tb):  # noqa: ANN001, ANN201
    """SLRU_evict: the tail of the lowest non-empty segment leaves; returns its size.

    Every caller evicts from an area holding more units than it may, so some segment is non-empty.  No
    branch or early return around the arrays: numba then prunes their reference counting (see
    :mod:`simcache.kernels.hashed`).
    """
    j = 0
    while j < nseg - 1 and sc[h0 + 2 * j + 1] < 0:
        j += 1
    k = sc[h0 + 2 * j + 1]
    sc[h0 + 2 * j], sc[h0 + 2 * j + 1] = unlink(rec, sc[h0 + 2 * j], k, k)
    s = osize[k]
    sc[u0 + j] -= s
    rec[k, 2] = 0
    free_slot(tb, k)
    return s


@jit_inline
def seg_move(rec, osize, sc, h0, u0, woff, k, j):  # noqa: ANN001, ANN201
    """k leaves its segment for the head of segment j."""
    i = rec[k, 2] - woff
    sc[h0 + 2 * i], sc[h0 + 2 * i + 1] = unlink(rec, sc[h0 + 2 * i], sc[h0 + 2 * i + 1], k)
    sc[u0 + i] -= osize[k]
    sc[h0 + 2 * j], sc[h0 + 2 * j + 1] = push_front(rec, sc[h0 + 2 * j], sc[h0 + 2 * j + 1], k)
    sc[u0 + j] += osize[k]
    rec[k, 2] = woff + j


@jit_inline
def seg_fix(rec, osize, sc, h0, u0, c0, nseg, woff, top, tb):  # noqa: ANN001, ANN201
    """While segment ``top`` is over its share, SLRU_cool(top); returns the size evicted.

    Without recursion, in the same order: a tail moves one segment down and that segment is fixed
    before the one above is looked at again; cooling segment 0 evicts.
    """
    ev = 0
    lvl = top
    fixed = False
    while not fixed:
        if sc[u0 + lvl] > sc[c0 + lvl]:
            if lvl == 0:
                ev += seg_evict(rec, osize, sc, h0, u0, nseg, tb)
            else:
                seg_move(rec, osize, sc, h0, u0, woff, sc[h0 + 2 * lvl + 1], lvl - 1)
                lvl -= 1
        elif lvl == top:
            fixed = True
        else:
            lvl += 1
    return ev


@jit_inline
def seg_hit(rec, osize, sc, h0, u0, c0, nseg, woff, x, tb):  # noqa: ANN001, ANN201
    """SLRU_find of resident x; returns the size its cooling evicted (x itself may be among it)."""
    ev = 0
    j = rec[x, 2] - woff
    seg_move(rec, osize, sc, h0, u0, woff, x, min(j + 1, nseg - 1))  # the top segment: to its head
    # an evicted x has rec[x, 2] == 0 (a freed slot keeps its columns but 0, and nothing takes it meanwhile);
    # in the top segment the loop finds nothing over its share: x's move did not change its units
    while j < nseg - 1 and rec[x, 2] != 0 and sc[u0 + rec[x, 2] - woff] > sc[c0 + rec[x, 2] - woff]:
        ev += seg_fix(rec, osize, sc, h0, u0, c0, nseg, woff, rec[x, 2] - woff, tb)
    return ev


@jit_inline
def seg_insert(rec, osize, sc, h0, u0, c0, nseg, woff, x, mcap, tb):  # noqa: ANN001, ANN201
    """SLRU_insert of x (its size in ``osize[x]``) into an area of ``mcap`` units; returns the size evicted for it."""
    s = osize[x]
    ev = 0
    j = 0
    while j < nseg and sc[u0 + j] + s > sc[c0 + j]:
        j += 1
    if j == nseg:
        mu = 0
        for t in range(nseg):
            mu += sc[u0 + t]
        while mu + s > mcap and mu > 0:
            e = seg_evict(rec, osize, sc, h0, u0, nseg, tb)
            ev += e
            mu -= e
        j = 0
    sc[h0 + 2 * j], sc[h0 + 2 * j + 1] = push_front(rec, sc[h0 + 2 * j], sc[h0 + 2 * j + 1], x)
    sc[u0 + j] += osize[x]  # read again after the branch: see seg_evict
    rec[x, 2] = woff + j
    return ev


def _s4lru_loop(hashed: bool) -> Callable[..., int]:
    """libCacheSim's S4LRU loop over dense ids (``hashed`` False) or slots (True)."""

    @jit
    def s4lru_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
        """libCacheSim's SLRU (S4LRU) replay of one chunk: dense ids, or raw ids through the slot table."""
        used, scap = sc[12], sc[20]
        mask = tab.shape[0] - 1
        tb = (tab, keys, hs, mask) if hashed else 0
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
                    done = i
                    break
                hit = x >= 0
            else:
                h = 0
                x = key
                hit = rec[x, 2] != 0
            if hit:
                # libCacheSim keeps the size an object had when it was admitted
                used -= seg_hit(rec, osize, sc, 4, 16, 20, NSEG, 1, x, tb)
            elif s <= scap:
                while used + s > cap and used > 0:
                    used -= seg_evict(rec, osize, sc, 4, 16, NSEG, tb)
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                osize[x] = s
                used += s - seg_insert(rec, osize, sc, 4, 16, 20, NSEG, 1, x, cap, tb)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[12] = used
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return s4lru_slots


_slru_dense, _slru_hashed = _slru_loop(False), _slru_loop(True)
_s4lru_dense, _s4lru_hashed = _s4lru_loop(False), _s4lru_loop(True)


def slru_or_s4lru(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001, ANN201
    """SLRU on one chunk of dense ids: the two-segment loop, or libCacheSim's S4LRU for its variant."""
    fn = _s4lru_dense if sc[15] != 0 else _slru_dense
    fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, *no_table())


def slru_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
    """SLRU on one chunk of raw ids through the slot table (either variant); returns the requests done."""
    fn = _s4lru_hashed if sc[15] != 0 else _slru_hashed
    return fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    limit = int(float(params["protected_ratio"]) * cap)
    lcs = int(params["variant"] == "libcachesim")
    return (np.array([-1] * (4 + 2 * NSEG) + [0, 0, limit, lcs] + [0] * NSEG + [cap // NSEG] * NSEG,
                     dtype=np.int64), np.zeros(0), [])


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    return 0.0 <= float(params["protected_ratio"]) <= 1.0


SLRU = KernelSpec("slru", slru_or_s4lru, {"protected_ratio": 0.8, "variant": "paper"}, _init, _OBJ, check=_check)
SPECS = (SLRU,)
# residents only (no ghosts): they hold at most the capacity
SLOT_SPECS = (SlotSpec("slru", slru_slots, 4 + 2 * NSEG, lambda sc, cap: cap),)
