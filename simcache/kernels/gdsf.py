"""GreedyDual kernels, GDSF (``H = L + F*C/S``) and LFU-DA (``H = L + F*C``): an indexed min-heap on (H, insertion).

The reference (:class:`simcache.policies.gdsf.GreedyDualBase`) keeps a lazily
invalidated heap of (H, insertion sequence, push counter, key); its victim is
the resident key with the lowest (H, insertion sequence), since a key's
insertion sequence is unique among residents.  Here every resident key has
exactly one slot in an indexed binary heap keyed on (H, sequence), updated in
place, so no stale entries exist.  H is the same float64 the reference
computes (``L + (F * C) / max(S, 1)`` or ``L + F * C``, no fast-math); it is
never negative, so its IEEE-754 bit pattern read as an int64 orders exactly as
the float does, which lets the shared integer heap of ``_structs`` hold it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._structs import heap_down, heap_push, heap_remove, heap_up
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_free, slot_lookup, slot_new

# sc slots: 0 heap length, 1 insertion sequence, 2 used, 3 size-aware (GDSF 1, LFU-DA 0),
#           4 libCacheSim's variant (GDSF: insert before evicting, ties by last request; LFU-DA: the bucket kernel),
#           5/6 LFU-DA's min_freq / max_freq (libCacheSim variant), 7 the request a frequency would overflow
#           int64 at (-1: none; KernelSpec.stop_slot)
# fp slots: 0 inflation L, 1 cost C (times 1e6 in GDSF's libCacheSim variant)
# rec[x, 0]: 1 while x is resident, else 0 (the column SlotState.adopt reads to find the residents);
# pos[x]: x's heap position, -1 when absent (LFU-DA's bucket kernel: STRANDED); heap rows (H's bits,
# insertion sequence, object): one per resident object (LFU-DA's bucket kernel: per resident not stranded).
# x is a dense id, or a slot in the bounded layout (tab, keys, hs: the slot table of
# simcache.kernels.hashed; empty in the dense layout, which never reads them); a slot is freed when its
# object leaves the cache
_OBJ = (("rec", np.int32, 0, 1), ("osize", np.int64, 0), ("freq", np.int64, 0), ("pr", np.float64, 0.0),
        ("hp", np.int64, 0, 3), ("pos", np.int32, -1))


@jit_inline
def _priority(infl, cost, f, s, size_aware):  # noqa: ANN001, ANN202
    # the reference's expression, operation for operation: float64 rounding must match
    if size_aware:
        return infl + (f * cost) / max(s, 1)
    return infl + f * cost


@jit_inline
def _bits(fb, ib, h):  # noqa: ANN001, ANN202
    # fb and ib view the same 8 bytes: H's bit pattern, an order-preserving int64 for H >= 0
    fb[0] = h
    return ib[0]


@jit_inline
def _reprioritise(hp, pos, hn, pr, fb, ib, x, h):  # noqa: ANN001, ANN202
    pr[x] = h
    j = pos[x]
    hp[j, 0] = _bits(fb, ib, h)
    heap_down(hp, pos, hn, j)
    heap_up(hp, pos, pos[x])


@jit_inline
def _evict_lowest(hp, pos, hn, rec, osize, pr, used, keys, tab, hs, mask, hashed):  # noqa: ANN001, ANN202
    """Evict the heap's lowest (H, sequence); returns (heap length, used, the new inflation L = its H)."""
    v = hp[0, 2]
    infl = pr[v]
    hn = heap_remove(hp, pos, hn, v)
    rec[v, 0] = 0
    used -= osize[v]
    if hashed:
        slot_free(tab, keys, hs, v, mask)
    return hn, used, infl


def _greedydual_loop(hashed: bool) -> Callable[..., int]:
    """The GreedyDual loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True).

    ``hashed`` is a closure constant of each compiled loop, so the dense loop carries no test of the layout.
    """

    @jit
    def greedydual_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                         rec, osize, freq, pr, hp, pos, fb, ib, keys, tab, hs):
        """GDSF / LFU-DA replay of one chunk: dense ids (empty ``tab``), or raw ids through the slot table.

        Returns the requests done (fewer when the slots ran out: the caller grows the state and resumes).
        """
        hn, seq, used, size_aware, lcs = sc[0], sc[1], sc[2], sc[3] != 0, sc[4] != 0
        infl, cost = fp[0], fp[1]
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
                freq[x] += 1
                if lcs:
                    hp[pos[x], 1] = base + i  # ties: least recently requested first
                _reprioritise(hp, pos, hn, pr, fb, ib, x, _priority(infl, cost, freq[x], osize[x], size_aware))
                if s != osize[x] and not lcs:  # libCacheSim keeps the size an object had when it was admitted
                    if size_aware:
                        # GDSF re-prioritises for the new size before the base class refits
                        _reprioritise(hp, pos, hn, pr, fb, ib, x, _priority(infl, cost, freq[x], s, size_aware))
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
                            hn, used, infl = _evict_lowest(hp, pos, hn, rec, osize, pr, used, keys, tab, hs, mask,
                                                           hashed)
            elif s <= cap and lcs:
                # libCacheSim's GDSF: insert, then evict the lowest (maybe the newcomer) until it fits
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                rec[x, 0] = 1
                freq[x] = 1
                osize[x] = s
                used += s
                p = _priority(infl, cost, 1, s, size_aware)
                pr[x] = p
                hn = heap_push(hp, pos, hn, x, _bits(fb, ib, p), base + i)
                while used > cap:
                    hn, used, infl = _evict_lowest(hp, pos, hn, rec, osize, pr, used, keys, tab, hs, mask, hashed)
            elif s <= cap:
                while used + s > cap and hn > 0:
                    hn, used, infl = _evict_lowest(hp, pos, hn, rec, osize, pr, used, keys, tab, hs, mask, hashed)
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                seq += 1
                rec[x, 0] = 1
                freq[x] = 1
                osize[x] = s
                used += s
                p = _priority(infl, cost, 1, s, size_aware)
                pr[x] = p
                hn = heap_push(hp, pos, hn, x, _bits(fb, ib, p), seq)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2] = hn, seq, used
        fp[0] = infl
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return greedydual_slots


greedydual_slots = _greedydual_loop(True)
_greedydual_dense = _greedydual_loop(False)


@jit
def greedydual_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001
                      rec, osize, freq, pr, hp, pos, fb, ib):
    """GDSF / LFU-DA replay of one chunk of dense ids."""
    _greedydual_dense(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,
                      rec, osize, freq, pr, hp, pos, fb, ib,
                      np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64))


_I64_MAX = np.iinfo(np.int64).max

# pos[x] in the LFU-DA bucket kernel: a heap slot, -1 absent, or STRANDED for a resident below min_freq (in no heap)
STRANDED = -2


@jit_inline
def _lfuda_update_min(hp, hn, mn):  # noqa: ANN001, ANN202
    # update_min_freq: the smallest non-empty bucket above min_freq is the heap's lowest f (all are >= min_freq,
    # and bucket min_freq is empty when this runs); none: min_freq stays
    return hp[0, 0] if hn > 0 else mn


def _lfuda_loop(hashed: bool) -> Callable[..., int]:
    """libCacheSim's LFU-DA loop over dense ids (``hashed`` False) or slots (True), as :func:`_greedydual_loop`."""

    @jit
    def lfuda_libcachesim_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                                rec, osize, freq, pr, hp, pos, fb, ib, keys, tab, hs):
        """libCacheSim's LFU-DA (``LFUDA.c``) on one chunk: buckets as a heap on (f, append order).

        The heap holds the residents with ``f >= min_freq``; bucket ``b``'s FIFO order is the order of
        appends (sequence numbers).  A hit that empties bucket ``min_freq`` moves ``min_freq`` to the heap's
        lowest ``f`` before the key is appended again, so the key may fall below it: it is then STRANDED
        (resident, in no heap) until its next hit, exactly as libCacheSim never finds it again.  Returns the
        requests done (fewer when the slots ran out).
        """
        hn, seq, used, mn, mx = sc[0], sc[1], sc[2], sc[5], sc[6]
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
                    done = i
                    break
                hit = x >= 0
            else:
                h = 0
                x = key
                hit = rec[x, 0] != 0
            if hit:
                old = freq[x]
                if old > _I64_MAX - mn:  # libCacheSim's f += min_freq doubles f per generation: int64 runs out
                    sc[7] = base + i
                    done = i
                    break
                f = old + mn
                if f > mx:
                    mx = f
                if pos[x] >= 0:
                    hn = heap_remove(hp, pos, hn, x)
                    if old == mn and (hn == 0 or hp[0, 0] != mn):
                        mn = _lfuda_update_min(hp, hn, mn)
                freq[x] = f
                seq += 1
                pr[x] = seq  # append order, for the fallback
                if f < mn:
                    pos[x] = STRANDED
                else:
                    hn = heap_push(hp, pos, hn, x, f, seq)
                # libCacheSim keeps the size an object had when it was admitted
            elif s <= cap:
                while used + s > cap and used > 0:
                    v, hn, mn, used = _lfuda_evict(rec, pos, osize, freq, pr, hp, hn, mn, used)
                    if hashed:
                        slot_free(tab, keys, hs, v, mask)
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                f = mn + 1
                if f > mx:
                    mx = f
                rec[x, 0] = 1
                freq[x] = f
                osize[x] = s
                used += s
                seq += 1
                pr[x] = seq
                hn = heap_push(hp, pos, hn, x, f, seq)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2], sc[5], sc[6] = hn, seq, used, mn, mx
        fp[0] = float(mn)
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return lfuda_libcachesim_slots


@jit
def _lfuda_evict(rec, pos, osize, freq, pr, hp, hn, mn, used):  # noqa: ANN001, ANN202
    """Evict the head of bucket max(min_freq, 1); when that bucket is empty, the lowest resident's.

    Returns (the victim, heap length, min_freq, used).
    """
    if hn > 0 and hp[0, 0] == max(mn, 1):
        v = hp[0, 2]
        mn = hp[0, 0]
        hn = heap_remove(hp, pos, hn, v)
        if hn == 0 or hp[0, 0] != mn:
            mn = _lfuda_update_min(hp, hn, mn)
    else:
        # rare: the reference's fallback (libCacheSim would read an empty list): lowest (f, append order)
        # over every row (pos -1: absent, or a free slot), so both layouts pick the same key
        v = -1
        for y in range(pos.shape[0]):
            if pos[y] != -1 and (v < 0 or freq[y] < freq[v] or (freq[y] == freq[v] and pr[y] < pr[v])):
                v = y
        if pos[v] >= 0:
            hn = heap_remove(hp, pos, hn, v)
        pos[v] = -1
    rec[v, 0] = 0
    used -= osize[v]
    return v, hn, mn, used


lfuda_libcachesim_slots = _lfuda_loop(True)
_lfuda_libcachesim_dense = _lfuda_loop(False)


@jit
def lfuda_libcachesim_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001
                             rec, osize, freq, pr, hp, pos, fb, ib):
    """libCacheSim's LFU-DA on one chunk of dense ids."""
    _lfuda_libcachesim_dense(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,
                             rec, osize, freq, pr, hp, pos, fb, ib,
                             np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32),
                             np.zeros(3, dtype=np.int64))


def _init_for(size_aware: bool):  # noqa: ANN202
    def init(cap: int, params: Mapping[str, Any], bytes_mode: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        fb = np.zeros(1, dtype=np.float64)
        lcs = params.get("variant", "paper") == "libcachesim"
        sc = np.array([0, 0, 0, int(size_aware), int(lcs), 0, 0, -1], dtype=np.int64)
        cost = float(params["cost"]) * (1.0e6 if lcs and size_aware else 1.0)
        return sc, np.array([0.0, cost]), [fb, fb.view(np.int64)]

    return init


def lfuda_kernel(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                 rec, osize, freq, pr, hp, pos, fb, ib):
    """LFU-DA on one chunk: the GreedyDual heap kernel, or libCacheSim's bucket kernel for its variant."""
    fn = lfuda_libcachesim_kernel if sc[4] != 0 else greedydual_kernel
    fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, freq, pr, hp, pos, fb, ib)


def lfuda_slots(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                rec, osize, freq, pr, hp, pos, fb, ib, keys, tab, hs):
    """:func:`lfuda_kernel` over slots (raw ids through the slot table); returns the requests done."""
    fn = lfuda_libcachesim_slots if sc[4] != 0 else greedydual_slots
    return fn(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, freq, pr, hp,
              pos, fb, ib, keys, tab, hs)


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    c = float(params["cost"])
    return c > 0 and math.isfinite(c)


GDSF = KernelSpec("gdsf", greedydual_kernel, {"cost": 1.0, "variant": "paper"}, _init_for(True), _OBJ, check=_check)
LFUDA = KernelSpec("lfuda", lfuda_kernel, {"cost": 1.0, "variant": "paper"}, _init_for(False), _OBJ, check=_check,
                   stop_slot=7, stop_reason="variant=libcachesim's frequencies (f += min_freq on a hit) pass 2**63")
SPECS = (GDSF, LFUDA)


def _slot_spec(name: str, fn: Callable[..., int]) -> SlotSpec:
    # residents only (no ghosts): at most the capacity's units, the object entering aside (libCacheSim's GDSF
    # inserts it before evicting: SlotState's bound keeps one slot more for it)
    return SlotSpec(name, fn, 0, lambda sc, cap: cap, where=0, links=0, positional=((4, 2),))


SLOT_SPECS = (_slot_spec("gdsf", greedydual_slots), _slot_spec("lfuda", lfuda_slots))
