"""W-TinyLFU kernel: window LRU, SLRU main (probation + protected), TinyLFU admission by a count-min sketch.

The sketch is the reference's exactly (:class:`simcache.policies.wtinylfu.FrequencySketch`):
four rows of 4-bit counters (one byte each), row ``i`` indexed by
``mix64(h ^ seed[i]) & (width - 1)`` where ``h`` is the *raw* object id (the
reference hashes the original key, so the kernel reads the chunk's raw ids, not
the dense ones), sized for and halving every ``sample_factor`` times the entries
(the capacity with unit sizes, else the entries held, rebuilt as they grow), and an
optional doorkeeper (kept here as a packed bit set; the reference uses one byte
per bit, which holds the same information).  The five seeds come from the same
``rng.integers`` draw the reference makes, so a given generator gives the
identical hit/miss sequence.

Bounded (``SLOT_SPECS``): the same loops over *slots*, one per resident object, found through
:mod:`simcache.kernels.hashed`'s slot table, which also hands the loop the raw ids (the ids it hashes);
a slot is freed wherever its object leaves the cache.  The sketch is a fixed array in both layouts.
Each loop source is compiled twice through the closure constant ``hashed``; the helpers that evict take the
slot table as one argument ``tb`` (0 over dense ids: see :func:`simcache.kernels.slru.free_slot`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import COMPILED, jit, jit_inline
from simcache.kernels._structs import push_front, unlink
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import KernelSpec
from simcache.kernels.hashed import SlotSpec, slot_lookup, slot_new
from simcache.kernels.slru import free_slot, no_table, seg_evict, seg_hit, seg_insert

# where (rec[x, 2]): 0 absent, 1 window, 2 probation, 3 protected
# sc slots: 0/1 window head/tail, 2/3 probation, 4/5 protected, 6/7/8 window/probation/protected used,
#           9 window capacity, 10 main capacity, 11 protected capacity, 12 row mask (width - 1),
#           13 sample size, 14 additions, 15 doorkeeper bit mask (-1: no doorkeeper), 16..20 the five seeds,
#           21 weighted (an object of size != 1 was inserted: the sketch follows the entries held),
#           22 entries held, 23 sample factor; fp[0] the sketch width factor
# sk and dk are allocated for the capacity's width, the widest the sketch can get; a narrower sketch uses a prefix
# rec[x]: 0/1 links (newer, older), 2 where, 3 unused, 4..7 the key's counter in each sketch row (offsets into sk,
#         computed once at insertion: a resident key's counters never move), one 32-byte record;
# hsh[x]: the raw id (the key's hash), read only by the doorkeeper
# x is a dense id, or in the bounded layout a slot (tab, keys, hs: simcache.kernels.hashed's slot table;
# tmask = -1 when the table is empty, the dense layout)
_OBJ = (("rec", np.int32, 0, 8), ("osize", np.int64, 0), ("hsh", np.int64, 0))
_MAX_WIDTH = 1 << 22

_M64 = (1 << 64) - 1

if COMPILED:
    # numba: explicit uint64 arithmetic wraps silently, as the reference's masked Python ints do

    @jit_inline
    def _mix(h, seed):  # noqa: ANN001, ANN202
        x = np.uint64(h ^ seed) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

    @jit_inline
    def _slot(h, seed, mask):  # noqa: ANN001, ANN202
        return np.int64(_mix(h, seed) & np.uint64(mask))

    @jit_inline
    def _dk_slots(h, seed, mask):  # noqa: ANN001, ANN202
        d = _mix(h, seed)
        return np.int64(d & np.uint64(mask)), np.int64((d >> np.uint64(32)) & np.uint64(mask))

else:
    # plain Python: numpy scalars warn on wrap-around, so the same mix runs on Python ints

    def _mix(h, seed):  # noqa: ANN001, ANN202
        x = ((int(h) ^ int(seed)) + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        return x ^ (x >> 31)

    def _slot(h, seed, mask):  # noqa: ANN001, ANN202
        return _mix(h, seed) & int(mask)

    def _dk_slots(h, seed, mask):  # noqa: ANN001, ANN202
        d = _mix(h, seed)
        return d & int(mask), (d >> 32) & int(mask)


_XP1, _XP2, _XP3, _XP4, _XP5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                                0x27D4EB2F165667C5)

if COMPILED:

    @jit_inline
    def _xxh64(v, seed):  # noqa: ANN001, ANN202
        # XXH64 of the 8 bytes of v (the reference's xxh64_u64), in wrapping uint64 arithmetic
        h = np.uint64(seed) + np.uint64(_XP5) + np.uint64(8)
        k = np.uint64(v) * np.uint64(_XP2)
        k = ((k << np.uint64(31)) | (k >> np.uint64(33))) * np.uint64(_XP1)
        h ^= k
        h = ((h << np.uint64(27)) | (h >> np.uint64(37))) * np.uint64(_XP1) + np.uint64(_XP4)
        h ^= h >> np.uint64(33)
        h *= np.uint64(_XP2)
        h ^= h >> np.uint64(29)
        h *= np.uint64(_XP3)
        h ^= h >> np.uint64(32)
        return np.int64(h & np.uint64(0xFFFFFFFF))

else:

    def _xxh64(v, seed):  # noqa: ANN001, ANN202
        from simcache.policies.wtinylfu import xxh64_u64

        return xxh64_u64(int(v) & _M64, int(seed)) & 0xFFFFFFFF


@jit_inline
def _cbf_est(cbf, h, nhash):  # noqa: ANN001, ANN202
    # minimalIncrementCBF_estimate: the minimum of the key's counters
    a = _xxh64(h, 0x12345678)
    b = _xxh64(h, 0x12344321)
    n = cbf.shape[0]
    m = np.int64(1) << np.int64(40)
    for i in range(nhash):
        c = np.int64(cbf[((a + i * b) & 0xFFFFFFFF) % n])
        if c < m:
            m = c
    return m


@jit_inline
def _cbf_add(cbf, h, nhash):  # noqa: ANN001, ANN202
    # minimalIncrementCBF_add: every counter of the key
    a = _xxh64(h, 0x12345678)
    b = _xxh64(h, 0x12344321)
    n = cbf.shape[0]
    for i in range(nhash):
        cbf[((a + i * b) & 0xFFFFFFFF) % n] += 1


@jit
def _cbf_decay(cbf):  # noqa: ANN001, ANN202
    for k in range(cbf.shape[0]):
        cbf[k] >>= 1


# libCacheSim's variant: sc slots 0/1 window head/tail, 2..5 main segments' heads/tails, 6 window used,
# 7/8 segment occupancy, 9 window capacity, 10 main capacity, 11/12 segment shares, 13 CBF hashes,
# 14 main-hit counter, 15 its limit (32 x main), 24 variant flag (1); rec[x, 2]: 1 window, 2/3 segments
def _libcachesim_loop(hashed: bool) -> Callable[..., int]:
    """libCacheSim's W-TinyLFU loop over dense ids (``hashed`` False: the table arguments are unused) or slots."""

    @jit
    def wtinylfu_lcs_slots(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                           rec, osize, hsh, cbf, dk, keys, tab, hs):
        """libCacheSim's W-TinyLFU (:class:`simcache.policies.wtinylfu.LibCacheSimWTinyLFU`) on one chunk.

        Dense ids with their raw ids in ``raw``, or raw ids through the slot table; returns the requests done.
        """
        wh, wt, wu = sc[0], sc[1], sc[6]
        wcap, mcap, nhash, rc, rmax = sc[9], sc[10], sc[13], sc[14], sc[15]
        tmask = tab.shape[0] - 1
        tb = (tab, keys, hs, tmask) if hashed else 0
        room = rec.shape[0]
        done = ids.shape[0]
        nh = nm = nbh = nbm = 0
        want = hitout.shape[0] > 0
        for i in range(ids.shape[0]):
            key = ids[i]
            s = sizes[i]
            if hashed:
                ht, x, full = slot_lookup(tab, keys, key, tmask, s, cap, hs, room)
                if full:
                    done = i  # no slot left for an object that may enter: the caller grows the state
                    break
                w = rec[x, 2] if x >= 0 else 0
                hk = key
            else:
                ht = 0
                x = key
                w = rec[x, 2]
                hk = raw[i]
            hit = w != 0
            if hit:
                if w == 1:
                    if wh != x:
                        wh, wt = unlink(rec, wh, wt, x)
                        wh, wt = push_front(rec, wh, wt, x)
                else:
                    seg_hit(rec, osize, sc, 2, 7, 11, 2, 2, x, tb)
                    _cbf_add(cbf, hk, nhash)
                    rc += 1
                    if rc >= rmax:
                        rc = 0
                        _cbf_decay(cbf)
            elif s <= cap and s <= wcap and s <= mcap and s <= sc[11]:
                while wu + sc[7] + sc[8] + s > cap:
                    # WTinyLFU_evict: window tails move to main while it has room; one comparison ends the step
                    while True:
                        if wt < 0:
                            seg_evict(rec, osize, sc, 2, 7, 2, tb)
                            break
                        c = wt
                        cs = osize[c]
                        if sc[7] + sc[8] + cs <= mcap:
                            wh, wt = unlink(rec, wh, wt, c)
                            wu -= cs
                            seg_insert(rec, osize, sc, 2, 7, 11, 2, 2, c, mcap, tb)
                            _cbf_add(cbf, hsh[c], nhash)
                            continue
                        v = sc[3] if sc[3] >= 0 else sc[5]
                        if _cbf_est(cbf, hsh[c], nhash) > _cbf_est(cbf, hsh[v], nhash):
                            seg_evict(rec, osize, sc, 2, 7, 2, tb)
                            wh, wt = unlink(rec, wh, wt, c)
                            wu -= cs
                            seg_insert(rec, osize, sc, 2, 7, 11, 2, 2, c, mcap, tb)
                        else:
                            wh, wt = unlink(rec, wh, wt, c)
                            wu -= cs
                            rec[c, 2] = 0
                        _cbf_add(cbf, hsh[c], nhash)
                        if hashed and rec[c, 2] == 0:  # rejected: in no list any more
                            free_slot(tb, c)
                        break
                if hashed:
                    x = slot_new(tab, keys, hs, key, ht, tmask)
                wh, wt = push_front(rec, wh, wt, x)
                rec[x, 2] = 1
                wu += s
                osize[x] = s
                hsh[x] = hk
                _cbf_add(cbf, hk, nhash)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[6], sc[14] = wh, wt, wu, rc
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return wtinylfu_lcs_slots


@jit_inline
def _has(dk, a, b):  # noqa: ANN001, ANN202
    return ((dk[a >> 6] >> np.uint64(a & 63)) & np.uint64(1)) != 0 and (
        (dk[b >> 6] >> np.uint64(b & 63)) & np.uint64(1)) != 0


@jit
def _halve(sk, dk):  # noqa: ANN001, ANN202
    # rare (every sample_size increments): kept out of line so the request loop stays small
    for k in range(sk.shape[0]):
        sk[k] >>= 1
    for k in range(dk.shape[0]):
        dk[k] = 0


@jit
def _resketch(rec, hsh, sk, dk, heads, entries, factor, sample_factor, door, s0, s1, s2, s3):  # noqa: ANN001, ANN202
    """Rebuild the sketch empty for ``entries`` entries (the reference's ``_new_sketch``); returns (mask, sample, dk mask).

    Rare (O(log capacity) times per run): resident keys' counter offsets are recomputed for the new width.
    """
    want = max(16, np.int64(np.ceil(entries * factor)))
    width = 16
    while width < want and width < _MAX_WIDTH:
        width *= 2
    mask = width - 1
    sk[:] = 0
    dk[:] = 0
    for head in heads:
        c = head
        while c >= 0:
            _slots(rec, c, hsh[c], width, mask, s0, s1, s2, s3)
            c = rec[c, 1]
    return mask, max(1, sample_factor * entries), (8 * width - 1 if door else -1)


@jit_inline
def _slots(rec, x, h, width, mask, s0, s1, s2, s3):  # noqa: ANN001, ANN202
    rec[x, 4] = _slot(h, s0, mask)
    rec[x, 5] = width + _slot(h, s1, mask)
    rec[x, 6] = 2 * width + _slot(h, s2, mask)
    rec[x, 7] = 3 * width + _slot(h, s3, mask)


@jit_inline
def _est(sk, dk, rec, x, h, dkmask, s4):  # noqa: ANN001, ANN202
    # the count-min estimate of resident key x (hash h), plus one when the doorkeeper holds it
    e = min(min(sk[rec[x, 4]], sk[rec[x, 5]]), min(sk[rec[x, 6]], sk[rec[x, 7]]))
    est = np.int64(e)
    if dkmask >= 0:
        a, b = _dk_slots(h, s4, dkmask)
        if _has(dk, a, b):
            est += 1
    return est


@jit_inline
def _inc(sk, dk, rec, x, h, dkmask, s4, adds, sample):  # noqa: ANN001, ANN202
    # record one access of resident key x; returns the new increment count
    bump = True
    if dkmask >= 0:
        a, b = _dk_slots(h, s4, dkmask)
        if not _has(dk, a, b):
            # a first sighting since the last reset only sets its doorkeeper bits
            dk[a >> 6] |= np.uint64(1) << np.uint64(a & 63)
            dk[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            bump = False
    if bump:
        # a branch, not a branch-free add: hot keys sit at 15 and skip the store (measured faster)
        for c in range(4, 8):
            j = rec[x, c]
            if sk[j] < 15:
                sk[j] += 1
    adds += 1
    if adds >= sample:
        _halve(sk, dk)
        adds //= 2
    return adds


@jit_inline
def _main_victim(rec, osize, ph, pt, qh, qt, pu, qu, tb):  # noqa: ANN001, ANN202
    # probation's LRU key, else protected's
    if pt >= 0:
        k = pt
        ph, pt = unlink(rec, ph, pt, k)
        pu -= osize[k]
    else:
        k = qt
        qh, qt = unlink(rec, qh, qt, k)
        qu -= osize[k]
    rec[k, 2] = 0
    free_slot(tb, k)
    return ph, pt, qh, qt, pu, qu


@jit_inline
def _victim(rec, osize, wh, wt, ph, pt, qh, qt, wu, pu, qu, tb):  # noqa: ANN001, ANN202
    # the reference's _victim: main first, the window only when main is empty
    if pt >= 0 or qt >= 0:
        ph, pt, qh, qt, pu, qu = _main_victim(rec, osize, ph, pt, qh, qt, pu, qu, tb)
    else:
        k = wt
        wh, wt = unlink(rec, wh, wt, k)
        wu -= osize[k]
        rec[k, 2] = 0
        free_slot(tb, k)
    return wh, wt, ph, pt, qh, qt, wu, pu, qu


def _paper_loop(hashed: bool) -> Callable[..., int]:
    """The W-TinyLFU loop over dense ids (``hashed`` False: the table arguments are unused) or slots (True)."""

    @jit
    def wtinylfu_slots(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, hsh, sk, dk,  # noqa: ANN001, ANN201
                       keys, tab, hs):
        """W-TinyLFU replay of one chunk; returns the requests done.

        Dense ids with their raw ids (what the sketch hashes) in ``raw``, or raw ids through the slot table.
        """
        wh, wt, ph, pt, qh, qt = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
        wu, pu, qu = sc[6], sc[7], sc[8]
        wcap, mcap, qcap, mask, sample, adds, dkmask = sc[9], sc[10], sc[11], sc[12], sc[13], sc[14], sc[15]
        s0, s1, s2, s3, s4 = sc[16], sc[17], sc[18], sc[19], sc[20]
        weighted, nres, sfac = sc[21], sc[22], sc[23]
        factor = fp[0]
        width = mask + 1
        tmask = tab.shape[0] - 1
        tb = (tab, keys, hs, tmask) if hashed else 0
        room = rec.shape[0]
        done = ids.shape[0]
        nh = nm = nbh = nbm = 0
        want = hitout.shape[0] > 0
        for i in range(ids.shape[0]):
            key = ids[i]
            s = sizes[i]
            if hashed:
                ht, x, full = slot_lookup(tab, keys, key, tmask, s, cap, hs, room)
                if full:
                    done = i  # no slot left for an object that may enter: the caller grows the state
                    break
                w = rec[x, 2] if x >= 0 else 0
                h = key
            else:
                ht = 0
                x = key
                w = rec[x, 2]
                h = raw[i]
            hit = w != 0
            if hit:
                adds = _inc(sk, dk, rec, x, h, dkmask, s4, adds, sample)
                if w == 1:
                    if wh != x:
                        wh, wt = unlink(rec, wh, wt, x)
                        wh, wt = push_front(rec, wh, wt, x)
                elif w == 3:
                    if qh != x:
                        qh, qt = unlink(rec, qh, qt, x)
                        qh, qt = push_front(rec, qh, qt, x)
                else:
                    ph, pt = unlink(rec, ph, pt, x)
                    pu -= osize[x]
                    qh, qt = push_front(rec, qh, qt, x)
                    rec[x, 2] = 3
                    qu += osize[x]
                    while qu > qcap:
                        k = qt
                        qh, qt = unlink(rec, qh, qt, k)
                        qu -= osize[k]
                        ph, pt = push_front(rec, ph, pt, k)
                        rec[k, 2] = 2
                        pu += osize[k]
                if s != osize[x]:
                    # the reference's _resize: the segment's occupancy follows, then the base class refits
                    d = s - osize[x]
                    osize[x] = s
                    w = rec[x, 2]
                    if w == 1:
                        wu += d
                    elif w == 2:
                        pu += d
                    else:
                        qu += d
                    if s > cap:
                        if w == 1:
                            wh, wt = unlink(rec, wh, wt, x)
                            wu -= s
                        elif w == 2:
                            ph, pt = unlink(rec, ph, pt, x)
                            pu -= s
                        else:
                            qh, qt = unlink(rec, qh, qt, x)
                            qu -= s
                        rec[x, 2] = 0
                        nres -= 1
                        if hashed:
                            free_slot(tb, x)
                    else:
                        while wu + pu + qu > cap:
                            wh, wt, ph, pt, qh, qt, wu, pu, qu = _victim(rec, osize, wh, wt, ph, pt, qh, qt, wu, pu,
                                                                         qu, tb)
                            nres -= 1
            elif s <= cap:
                # the reference's _follow_entries: a weighted cache's sketch follows the entries held
                ent = min(nres + 1, cap)
                grow = False
                if weighted == 0:
                    if s != 1:
                        weighted = 1
                        grow = True
                elif ent * factor > width and width < _MAX_WIDTH:
                    grow = True
                if grow:
                    mask, sample, dkmask = _resketch(rec, hsh, sk, dk, (wh, ph, qh), ent, factor, sfac, dkmask >= 0,
                                                     s0, s1, s2, s3)
                    width = mask + 1
                    adds = 0
                nres += 1
                if hashed:
                    x = slot_new(tab, keys, hs, key, ht, tmask)
                _slots(rec, x, h, width, mask, s0, s1, s2, s3)
                adds = _inc(sk, dk, rec, x, h, dkmask, s4, adds, sample)
                hsh[x] = h
                osize[x] = s
                wh, wt = push_front(rec, wh, wt, x)
                rec[x, 2] = 1
                wu += s
                while wu > wcap:
                    c = wt
                    cs = osize[c]
                    wh, wt = unlink(rec, wh, wt, c)
                    wu -= cs
                    admit = pu + qu + cs <= mcap
                    if not admit and cs <= mcap:
                        v = pt if pt >= 0 else qt
                        if _est(sk, dk, rec, c, hsh[c], dkmask, s4) > _est(sk, dk, rec, v, hsh[v], dkmask, s4):
                            while pu + qu + cs > mcap:
                                ph, pt, qh, qt, pu, qu = _main_victim(rec, osize, ph, pt, qh, qt, pu, qu, tb)
                                nres -= 1
                            admit = True
                    if admit:
                        ph, pt = push_front(rec, ph, pt, c)
                        rec[c, 2] = 2
                        pu += cs
                    else:
                        rec[c, 2] = 0
                        nres -= 1
                        if hashed:
                            free_slot(tb, c)
                # a hit that grew a key can leave main above its share; never exceed the whole cache
                while wu + pu + qu > cap:
                    wh, wt, ph, pt, qh, qt, wu, pu, qu = _victim(rec, osize, wh, wt, ph, pt, qh, qt, wu, pu, qu, tb)
                    nres -= 1
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0], sc[1], sc[2], sc[3], sc[4], sc[5] = wh, wt, ph, pt, qh, qt
        sc[6], sc[7], sc[8], sc[14] = wu, pu, qu, adds
        sc[12], sc[13], sc[15], sc[21], sc[22] = mask, sample, dkmask, weighted, nres
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return wtinylfu_slots


_paper_dense, _paper_hashed = _paper_loop(False), _paper_loop(True)
_lcs_dense, _lcs_hashed = _libcachesim_loop(False), _libcachesim_loop(True)


def wtinylfu_or_libcachesim(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                            rec, osize, hsh, sk, dk):
    """W-TinyLFU on one chunk of dense ids (``raw``: their raw ids): the sketch loop, or libCacheSim's (``sc[24]``)."""
    fn = _lcs_dense if sc[24] != 0 else _paper_dense
    fn(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, hsh, sk, dk, *no_table())


def wtinylfu_slots(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN201
                   rec, osize, hsh, sk, dk, keys, tab, hs):
    """W-TinyLFU on one chunk of raw ids through the slot table (either variant); returns the requests done."""
    fn = _lcs_hashed if sc[24] != 0 else _paper_hashed
    return fn(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp, rec, osize, hsh, sk, dk, keys, tab,
              hs)


def sketch_width(capacity: int, factor: float) -> int:
    """The reference's row width: next power of two >= ceil(capacity * factor), clamped to [16, 2**22]."""
    want = max(16, int(np.ceil(capacity * factor)))
    return min(_MAX_WIDTH, 1 << (want - 1).bit_length())


def _init(cap: int, params: Mapping[str, Any], bytes_mode: bool,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    if params["variant"] == "libcachesim":
        from simcache.policies.wtinylfu import cbf_shape

        lw = int(cap * float(params["window_ratio"]))
        main = cap - lw
        nhash, ncount = cbf_shape(main)
        # the reference's five seeds are drawn all the same: keep the generator's state in step
        rng.integers(0, 2**63, size=5, dtype=np.int64)
        lsc = np.zeros(25, dtype=np.int64)
        lsc[:6] = -1
        lsc[9], lsc[10], lsc[11], lsc[12] = lw, main, int(1.0 / 5.0 * main), int(4.0 / 5.0 * main)
        lsc[13], lsc[15], lsc[24] = nhash, 32 * main, 1
        return lsc, np.zeros(1), [np.zeros(ncount, dtype=np.uint32), np.zeros(0, dtype=np.uint64)]
    wcap = max(1, int(cap * float(params["window_ratio"])))
    mcap = cap - wcap
    qcap = int(mcap * float(params["protected_ratio"]))
    width = sketch_width(cap, float(params["sketch_width_factor"]))
    sample = max(1, int(params["sample_factor"]) * cap)
    # the reference draws its five seeds exactly so, once, at construction
    seeds = [int(s) for s in rng.integers(0, 2**63, size=5, dtype=np.int64)]
    door = bool(params["doorkeeper"])
    dkmask = 8 * width - 1 if door else -1
    sc = np.array([-1, -1, -1, -1, -1, -1, 0, 0, 0, wcap, mcap, qcap, width - 1, sample, 0, dkmask, *seeds,
                   0, 0, int(params["sample_factor"]), 0], dtype=np.int64)
    sk = np.zeros(4 * width, dtype=np.uint8)
    dk = np.zeros(width // 8 if door else 0, dtype=np.uint64)  # 8 * width bits
    return sc, np.array([float(params["sketch_width_factor"])]), [sk, dk]


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    sf = params["sample_factor"]
    return (0.0 <= float(params["window_ratio"]) < 1.0 and 0.0 <= float(params["protected_ratio"]) <= 1.0
            and float(params["sketch_width_factor"]) > 0 and int(sf) == sf and sf >= 1
            and isinstance(params["doorkeeper"], bool | np.bool_ | int))


WTINYLFU = KernelSpec(
    "wtinylfu", wtinylfu_or_libcachesim,
    {"window_ratio": 0.01, "protected_ratio": 0.8, "sketch_width_factor": 4.0, "sample_factor": 10,
     "doorkeeper": False, "variant": "paper"},
    _init, _OBJ, check=_check, needs_raw=True, seeded=True,
)
SPECS = (WTINYLFU,)
# residents only (the sketch is a fixed array): window and main hold at most the capacity
SLOT_SPECS = (SlotSpec("wtinylfu", wtinylfu_slots, 6, lambda sc, cap: cap),)
