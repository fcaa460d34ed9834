"""S3-FIFO kernel: small FIFO S, main FIFO M (2-bit CLOCK), ghost FIFO G of evicted ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_free, slot_lookup, slot_new

# where: 0 absent, 1 S, 2 M, 3 G (ghost)
# sc slots: 0/1 S, 2/3 M, 4/5 G head/tail, 6 used, 7 S used, 8 M used, 9 G used,
#           10 S capacity, 11 M capacity, 12 G capacity, 13 move-to-main threshold, 14 refuse_large,
#           15 before the first eviction with the libcachesim variant (new keys go to M once S is full),
#           16 the libcachesim variant (a hit keeps the admitted size)
# rec[x]: 0/1 links (newer, older; only read while x is in a list), 2 where, 3 freq: one cache line
# x is a dense id, or in the bounded layout a slot (tab, keys, hs: simcache.kernels.hashed's slot table;
# mask = -1 when the table is empty, the dense layout): a slot is freed wherever its object leaves every list
_OBJ = (("rec", np.int32, 0, 4), ("osize", np.int64, 0))


@jit_inline
def _evict(rec, osize, sh, st, mh, mt, gh, gt, used, su, mu, gu, mcap, gcap, thr, keys, tab, hs, mask, hashed):  # noqa: ANN001
    # the loops exit only through their conditions: an array's last use then follows every branch, so the
    # compiler can drop the reference counting of the ``jit_inline`` helper's array arguments (several times this loop's work)
    k = -1
    if mu <= mcap:
        # S: promote the tails that were hit enough, evict the first that was not (its id goes to G)
        while k < 0 and st >= 0:
            c = st
            s = osize[c]
            sh, st = unlink(rec, sh, st, c)
            su -= s
            if rec[c, 3] >= thr:
                rec[c, 3] = 0
                mh, mt = push_front(rec, mh, mt, c)
                rec[c, 2] = 2
                mu += s
            else:
                rec[c, 2] = 0
                if s <= gcap:
                    gh, gt = push_front(rec, gh, gt, c)
                    rec[c, 2] = 3
                    gu += s
                    while gu > gcap:
                        g = gt
                        gh, gt = unlink(rec, gh, gt, g)
                        rec[g, 2] = 0
                        gu -= osize[g]
                        if hashed:
                            slot_free(tab, keys, hs, g, mask)
                elif hashed:
                    slot_free(tab, keys, hs, c, mask)
                k = c
    # M: a 2-bit CLOCK
    while k < 0:
        c = mt
        mh, mt = unlink(rec, mh, mt, c)
        if rec[c, 3] > 0:
            rec[c, 3] -= 1
            mh, mt = push_front(rec, mh, mt, c)
        else:
            mu -= osize[c]
            rec[c, 2] = 0
            if hashed:
                slot_free(tab, keys, hs, c, mask)
            k = c
    return sh, st, mh, mt, gh, gt, used - osize[k], su, mu, gu


@jit
def s3fifo_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize):  # noqa: ANN001
    """S3-FIFO replay of one chunk of dense ids."""
    _dense_loop(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize,
                 np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64))


def _loop(hashed: bool) -> Callable[..., int]:
    """The S3-FIFO loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True).

    ``hashed`` is a closure constant of each compiled loop, so the dense loop carries no test of the layout.
    """

    @jit
    def s3fifo_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, keys, tab, hs):  # noqa: ANN001, ANN201
        """S3-FIFO replay of one chunk: dense ids (empty ``tab``), or raw ids through the slot table; returns requests done."""
        sh, st, mh, mt, gh, gt = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
        used, su, mu, gu, mcap, gcap, thr = sc[6], sc[7], sc[8], sc[9], sc[11], sc[12], sc[13]
        scap, refuse, first, lcs = sc[10], sc[14] != 0, sc[15], sc[16] != 0
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
                if rec[x, 3] < 3:
                    rec[x, 3] += 1
                if s != osize[x] and not lcs:
                    d = s - osize[x]
                    if w == 1:
                        su += d
                    else:
                        mu += d
                    osize[x] = s
                    used += d
                    if s > cap:
                        if w == 1:
                            sh, st = unlink(rec, sh, st, x)
                            su -= s
                        else:
                            mh, mt = unlink(rec, mh, mt, x)
                            mu -= s
                        rec[x, 2] = 0
                        used -= s
                        if hashed:
                            slot_free(tab, keys, hs, x, mask)
                    else:
                        while used > cap:
                            sh, st, mh, mt, gh, gt, used, su, mu, gu = _evict(
                                rec, osize, sh, st, mh, mt, gh, gt, used, su, mu, gu, mcap, gcap, thr, keys, tab, hs, mask, hashed)
                            first = 0
            elif s <= cap:
                ghost = w == 3
                if ghost:
                    gh, gt = unlink(rec, gh, gt, x)
                    rec[x, 2] = 0
                    gu -= osize[x]
                if not (refuse and s > scap):
                    while used + s > cap and (st >= 0 or mt >= 0):
                        sh, st, mh, mt, gh, gt, used, su, mu, gu = _evict(
                            rec, osize, sh, st, mh, mt, gh, gt, used, su, mu, gu, mcap, gcap, thr, keys, tab, hs, mask, hashed)
                        first = 0
                    if ghost or not (refuse and s >= scap):
                        if x < 0:
                            x = slot_new(tab, keys, hs, key, h, mask)
                        osize[x] = s
                        used += s
                        rec[x, 3] = 0
                        if ghost or (first != 0 and su >= scap):
                            mh, mt = push_front(rec, mh, mt, x)
                            rec[x, 2] = 2
                            mu += s
                        else:
                            sh, st = push_front(rec, sh, st, x)
                            rec[x, 2] = 1
                            su += s
                if ghost and hashed and rec[x, 2] == 0:  # a ghost refused again leaves its slot
                    slot_free(tab, keys, hs, x, mask)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2], sc[3], sc[4], sc[5] = sh, st, mh, mt, gh, gt
        sc[6], sc[7], sc[8], sc[9], sc[15] = used, su, mu, gu, first
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return s3fifo_slots


s3fifo_slots = _loop(True)
_dense_loop = _loop(False)


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    small = int(cap * float(params["small_ratio"]))
    ghost = int(cap * float(params["ghost_ratio"]))
    sc = np.array([-1, -1, -1, -1, -1, -1, 0, 0, 0, 0, small, cap - small, ghost, int(params["move_to_main_threshold"]),
                   int(bool(params["refuse_large"])), int(params["variant"] == "libcachesim"),
                   int(params["variant"] == "libcachesim")], dtype=np.int64)
    return sc, np.zeros(0), []


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    t = params["move_to_main_threshold"]
    return (0.0 <= float(params["small_ratio"]) < 1.0 and float(params["ghost_ratio"]) >= 0.0
            and int(t) == t and t >= 1 and isinstance(params["refuse_large"], bool | np.bool_ | int))


S3FIFO = KernelSpec("s3fifo", s3fifo_kernel,
                    {"small_ratio": 0.1, "ghost_ratio": 0.9, "move_to_main_threshold": 2, "refuse_large": True,
                     "variant": "paper"},
                    _init, _OBJ, check=_check)
SPECS = (S3FIFO,)
# residents within c, ghosts within the ghost capacity (sc[12]), the object entering aside
SLOT_SPECS = (SlotSpec("s3fifo", s3fifo_slots, 6, lambda sc, cap: cap + int(sc[12]) + 1),)
