"""Slot-hashed kernels: state bounded by the *resident* objects, raw ids hashed in the loop.

The dense kernels index per-object arrays by dense id over everything the trace
ever requests, so a small cache over a huge catalogue pays for the catalogue.
These variants keep one record per *resident* object (a slot, recycled through
a free list on eviction) and find it through an open-addressing table of slot
numbers: linear probing, a power-of-two size at least four times the number of
slots, splitmix64 of the raw int64 id, tombstone-free deletion by backward
shift.  Total state is O(capacity) and no remapping pass over ids is needed.

A slot is one int64 row ``rec[x]``: 0 the raw id, 1 the size, 2/3 the list
links (newer, older; a free slot's column 3 links the free list), 4 the
policy's flag (SIEVE's visited bit, CLOCK's counter) where there is one, and
last the id's hash (31 bits, high half) with the slot's table position (low
half).  The table holds int32 slot numbers, -1 empty.  A request hashes its id
once (the miss inserts with the same hash); an eviction reads the victim's
position and the homes of the entries it shifts back from their rows, so it
hashes nothing and probes nothing.  In bytes mode the number of resident
objects is bounded by capacity / smallest size seen, so :class:`HashedState`
grows the slots (doubling, the table rehashed) between chunks whenever the next
chunk could exceed them; memory follows the resident objects plus one chunk.

sc slots: 0 head (newest), 1 tail (oldest), 2 used, 3 SIEVE hand / CLOCK max
counter, 4 free-list head, 5 slots handed out so far, 6 resident objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simcache.kernels._jit import COMPILED, jit, jit_inline
from simcache.kernels._structs import push_front_at, unlink_at
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import EMPTY_TIMES

_M64 = (1 << 64) - 1
#: the cap the Python driver keeps: kernel state per cached object, bytes (tables included); the queue
#: layouts take 56-80 (rows of 40-48 B, a table of 4-8 int32 positions per slot)
BUDGET = 80

if COMPILED:
    # numba: explicit uint64 arithmetic wraps silently

    @jit_inline
    def _home(k, mask):  # noqa: ANN001, ANN202
        x = np.uint64(k) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.int64((x ^ (x >> np.uint64(31))) & np.uint64(mask))

    @jit_inline
    def _hash(k):  # noqa: ANN001, ANN202
        return _home(k, 0x7FFFFFFF)

else:
    # plain Python: numpy scalars warn on wrap-around, so the same mix runs on Python ints

    def _home(k, mask):  # noqa: ANN001, ANN202
        x = (int(k) + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        return (x ^ (x >> 31)) & int(mask)

    def _hash(k):  # noqa: ANN001, ANN202
        return _home(k, 0x7FFFFFFF)


#: splitmix64 of a value's 64 bits, then ``& mask``: the one mix of the hashed structures here (compiled or not)
splitmix_masked = _home


def home_slot(key: int, table_size: int) -> int:
    """Table position where probing for raw id ``key`` starts (splitmix64 of its 64 bits, low bits).

    Args:
        key: raw id (int64 or uint64 value; only its 64 bits matter).
        table_size: a power of two.
    """
    x = ((int(key) & _M64) + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return (x ^ (x >> 31)) & (table_size - 1)


@jit_inline
def _lookup(tab, rec, k, h, mask):  # noqa: ANN001, ANN202
    j = h & mask
    while True:
        x = tab[j]
        if x < 0 or rec[x, 0] == k:
            return x
        j = (j + 1) & mask


@jit_inline
def _place(tab, rec, h, mask, x):  # noqa: ANN001, ANN202
    # x's id (hash h) is known to be absent: the first empty position on its probe path, recorded in x's row
    j = h & mask
    while tab[j] >= 0:
        j = (j + 1) & mask
    tab[j] = x
    rec[x, rec.shape[1] - 1] = (h << 32) | j


@jit_inline
def _release(tab, rec, mask, x, fhead):  # noqa: ANN001, ANN202
    """Take slot ``x`` out of the table (backward shift) and onto the free list; returns the new free head.

    Each row's last column holds its id's hash (high half) and its table position (low half), so neither
    finding ``x`` nor the homes of the entries shifted back need a hash or a probe.
    """
    tc = rec.shape[1] - 1
    i = rec[x, tc] & 0xFFFFFFFF
    j = i
    while True:
        j = (j + 1) & mask
        y = tab[j]
        if y < 0:
            break
        e = rec[y, tc]
        h = (e >> 32) & mask
        # y may fill the hole at i unless its home lies cyclically in (i, j]: probing from h must still reach it
        if (h <= i or h > j) if i <= j else (h <= i and h > j):
            tab[i] = y
            rec[y, tc] = (e & ~np.int64(0xFFFFFFFF)) | i
            i = j
    tab[i] = -1
    rec[x, 3] = fhead
    return x


@jit_inline
def _take(rec, fhead, bump):  # noqa: ANN001, ANN202
    if fhead >= 0:
        return fhead, rec[fhead, 3], bump
    return bump, fhead, bump + 1


@jit
def _rehash(old: np.ndarray, new: np.ndarray, rec: np.ndarray) -> None:
    """Insert every slot of table ``old`` into the empty table ``new``."""
    mask = new.shape[0] - 1
    tc = rec.shape[1] - 1
    for j in range(old.shape[0]):
        x = old[j]
        if x >= 0:
            _place(new, rec, rec[x, tc] >> 32, mask, x)


@jit
def _queue(ids, sizes, bsz, base, warmup, cnt, hitout, cap, sc, rec, tab, move_on_hit):  # noqa: ANN001
    head, tail, used, fhead, bump, nres = sc[0], sc[1], sc[2], sc[4], sc[5], sc[6]
    mask = tab.shape[0] - 1
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        k = ids[i]
        s = sizes[i]
        h = _hash(k)
        x = _lookup(tab, rec, k, h, mask)
        hit = x >= 0
        if hit:
            if move_on_hit and head != x:
                head, tail = unlink_at(rec, 2, head, tail, x)
                head, tail = push_front_at(rec, 2, head, tail, x)
            if s != rec[x, 1]:  # a size change on a hit: as the reference, refit or drop
                used += s - rec[x, 1]
                rec[x, 1] = s
                if s > cap:
                    head, tail = unlink_at(rec, 2, head, tail, x)
                    fhead = _release(tab, rec, mask, x, fhead)
                    nres -= 1
                    used -= s
                else:
                    while used > cap:
                        v = tail
                        head, tail = unlink_at(rec, 2, head, tail, v)
                        used -= rec[v, 1]
                        fhead = _release(tab, rec, mask, v, fhead)
                        nres -= 1
        elif s <= cap:
            while used + s > cap and tail >= 0:
                v = tail
                head, tail = unlink_at(rec, 2, head, tail, v)
                used -= rec[v, 1]
                fhead = _release(tab, rec, mask, v, fhead)
                nres -= 1
            x, fhead, bump = _take(rec, fhead, bump)
            rec[x, 0] = k
            rec[x, 1] = s
            head, tail = push_front_at(rec, 2, head, tail, x)
            _place(tab, rec, h, mask, x)
            used += s
            nres += 1
        nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2], sc[4], sc[5], sc[6] = head, tail, used, fhead, bump, nres
    add_counts(cnt, nh, nm, nbh, nbm)


@jit
def lru_hashed(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, tab):  # noqa: ANN001
    """LRU replay of one chunk of raw ids."""
    _queue(ids, sizes, bsz, base, warmup, cnt, hitout, cap, sc, rec, tab, True)


@jit
def fifo_hashed(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, tab):  # noqa: ANN001
    """FIFO replay of one chunk of raw ids."""
    _queue(ids, sizes, bsz, base, warmup, cnt, hitout, cap, sc, rec, tab, False)


@jit_inline
def _sieve_evict(rec, tab, mask, head, tail, used, hand, fhead):  # noqa: ANN001, ANN202
    k = tail if hand < 0 else hand
    while rec[k, 4] != 0:
        rec[k, 4] = 0
        nw = rec[k, 2]
        k = tail if nw < 0 else nw
    hand = rec[k, 2]
    head, tail = unlink_at(rec, 2, head, tail, k)
    used -= rec[k, 1]
    fhead = _release(tab, rec, mask, k, fhead)
    return head, tail, used, hand, fhead


@jit
def sieve_hashed(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, tab):  # noqa: ANN001
    """SIEVE replay of one chunk of raw ids."""
    head, tail, used, hand, fhead, bump, nres = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6]
    mask = tab.shape[0] - 1
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        k = ids[i]
        s = sizes[i]
        h = _hash(k)
        x = _lookup(tab, rec, k, h, mask)
        hit = x >= 0
        if hit:
            rec[x, 4] = 1
            if s != rec[x, 1]:
                used += s - rec[x, 1]
                rec[x, 1] = s
                if s > cap:
                    if hand == x:
                        hand = rec[x, 2]
                    head, tail = unlink_at(rec, 2, head, tail, x)
                    fhead = _release(tab, rec, mask, x, fhead)
                    nres -= 1
                    used -= s
                else:
                    while used > cap:
                        head, tail, used, hand, fhead = _sieve_evict(rec, tab, mask, head, tail, used, hand, fhead)
                        nres -= 1
        elif s <= cap:
            while used + s > cap and tail >= 0:
                head, tail, used, hand, fhead = _sieve_evict(rec, tab, mask, head, tail, used, hand, fhead)
                nres -= 1
            x, fhead, bump = _take(rec, fhead, bump)
            rec[x, 0] = k
            rec[x, 1] = s
            rec[x, 4] = 0
            head, tail = push_front_at(rec, 2, head, tail, x)
            _place(tab, rec, h, mask, x)
            used += s
            nres += 1
        nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6] = head, tail, used, hand, fhead, bump, nres
    add_counts(cnt, nh, nm, nbh, nbm)


@jit_inline
def _clock_evict(rec, tab, mask, head, tail, used, fhead):  # noqa: ANN001, ANN202
    while True:
        v = tail
        head, tail = unlink_at(rec, 2, head, tail, v)
        if rec[v, 4] >= 1:  # second chance: spend one unit and go round again
            rec[v, 4] -= 1
            head, tail = push_front_at(rec, 2, head, tail, v)
        else:
            used -= rec[v, 1]
            fhead = _release(tab, rec, mask, v, fhead)
            return head, tail, used, fhead


@jit
def clock_hashed(ids, sizes, bsz, nxt_acc, times, base, warmup, cnt, hitout, cap, sc, fp, rec, tab):  # noqa: ANN001
    """CLOCK replay of one chunk of raw ids."""
    head, tail, used, maxf, fhead, bump, nres = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6]
    mask = tab.shape[0] - 1
    nh = nm = nbh = nbm = 0
    want = hitout.shape[0] > 0
    for i in range(ids.shape[0]):
        k = ids[i]
        s = sizes[i]
        h = _hash(k)
        x = _lookup(tab, rec, k, h, mask)
        hit = x >= 0
        if hit:
            if rec[x, 4] < maxf:
                rec[x, 4] += 1
            if s != rec[x, 1]:
                used += s - rec[x, 1]
                rec[x, 1] = s
                if s > cap:
                    head, tail = unlink_at(rec, 2, head, tail, x)
                    fhead = _release(tab, rec, mask, x, fhead)
                    nres -= 1
                    used -= s
                else:
                    while used > cap:
                        head, tail, used, fhead = _clock_evict(rec, tab, mask, head, tail, used, fhead)
                        nres -= 1
        elif s <= cap:
            while used + s > cap and tail >= 0:
                head, tail, used, fhead = _clock_evict(rec, tab, mask, head, tail, used, fhead)
                nres -= 1
            x, fhead, bump = _take(rec, fhead, bump)
            rec[x, 0] = k
            rec[x, 1] = s
            rec[x, 4] = 0
            head, tail = push_front_at(rec, 2, head, tail, x)
            _place(tab, rec, h, mask, x)
            used += s
            nres += 1
        nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
        if want:
            hitout[i] = hit
    sc[0], sc[1], sc[2], sc[4], sc[5], sc[6] = head, tail, used, fhead, bump, nres
    add_counts(cnt, nh, nm, nbh, nbm)


@jit
def _adopt(lk, osize, flags, raw_of, rec, tab, sc, dhand):  # noqa: ANN001
    """Copy a dense list state (oldest to newest) into empty hashed arrays; returns the SIEVE hand's slot."""
    mask = tab.shape[0] - 1
    head, tail, bump = np.int64(-1), np.int64(-1), np.int64(0)
    hand = np.int64(-1)
    d = sc[1]  # dense tail: pushing oldest first rebuilds the same order
    while d >= 0:
        x = bump
        bump += 1
        rec[x, 0] = raw_of[d]
        rec[x, 1] = osize[d]
        if flags.shape[0] > 0:
            rec[x, 4] = flags[d]
        head, tail = push_front_at(rec, 2, head, tail, x)
        _place(tab, rec, _hash(raw_of[d]), mask, x)
        if d == dhand:
            hand = x
        d = lk[d, 0]
    sc[0], sc[1], sc[4], sc[5], sc[6] = head, tail, -1, bump, bump
    return hand


@dataclass(frozen=True)
class HashedSpec:
    """A slot-hashed kernel; parameters, defaults and checks are the dense spec's of the same name.

    Args:
        name: the policy's registry name.
        fn: the kernel loop (raw int64 ids in place of dense ids).
        cols: int64 columns per slot (the last holds the hash and table position).
        flag: name of the dense state's per-object flag array copied into column 4 (None: none).
        hand: sc slot 3 is a list position (SIEVE's hand) rather than a parameter.
    """

    name: str
    fn: Callable[..., None]
    cols: int
    flag: str | None = None
    hand: bool = False


HASHED: dict[str, HashedSpec] = {
    "lru": HashedSpec("lru", lru_hashed, 5),
    "fifo": HashedSpec("fifo", fifo_hashed, 5),
    "sieve": HashedSpec("sieve", sieve_hashed, 6, "vis", hand=True),
    "clock": HashedSpec("clock", clock_hashed, 6, "freq"),
}


def _table_size(slots: int) -> int:
    """Positions for ``slots`` slots: a power of two >= 4x, so at most a quarter is in use.

    At half full (2x) a miss -- probing to an empty position, the victim's backward shift, the new
    id's placement -- cost 40-60 % more: clusters grow quadratically with the load.
    """
    return max(8, 1 << max(0, 4 * slots - 1).bit_length())


class HashedState:
    """The arrays of one running cache in the slot-hashed layout: O(resident objects), never O(catalogue).

    Args:
        hspec: the hashed kernel.
        capacity: entries or bytes.
        sc: int64 scalars from the dense spec's ``init`` (slots 0..3), extended here.
        fp: float64 parameters from the dense spec's ``init``.
    """

    layout = "hashed"

    def __init__(self, hspec: HashedSpec, capacity: int, sc: np.ndarray, fp: np.ndarray) -> None:
        self.hspec = hspec
        self.capacity = capacity
        self.sc = np.array([*sc[:4].tolist(), *([0] * (4 - min(4, sc.shape[0]))), -1, 0, 0], dtype=np.int64)
        self.fp = fp
        self.rec = np.zeros((0, hspec.cols), dtype=np.int64)
        self.tab = np.full(_table_size(0), -1, dtype=np.int32)
        self.smin: int | None = None
        self.cnt = np.zeros(4, dtype=np.int64)
        self.seconds = 0.0
        self.grown = 0

    @property
    def resident(self) -> int:
        """Objects in the cache now."""
        return int(self.sc[6])

    def max_resident(self) -> int:
        """The most objects the cache can hold given the sizes seen so far (capacity / smallest size)."""
        if self.smin is None or self.smin <= 0:
            return self.capacity if self.smin is None else 2**62
        return self.capacity // self.smin

    def prepare(self, sizes: np.ndarray) -> None:
        """Grow the slots (doubling, table rehashed) if residents could outnumber them within this chunk."""
        if sizes.shape[0]:
            m = int(sizes.min())
            self.smin = m if self.smin is None else min(self.smin, m)
        rows = self.rec.shape[0]
        need = min(self.max_resident(), self.resident + int(sizes.shape[0]))
        if need <= rows:
            return
        new = max(need, min(2 * rows, self.max_resident()))
        rec = np.zeros((new, self.hspec.cols), dtype=np.int64)
        rec[:rows] = self.rec
        self.rec = rec
        if _table_size(new) > self.tab.shape[0]:
            tab = np.full(_table_size(new), -1, dtype=np.int32)
            _rehash(self.tab, tab, self.rec)
            self.tab = tab
        self.grown += 1

    def nbytes(self) -> int:
        """Bytes held by this state's arrays."""
        return int(self.rec.nbytes + self.tab.nbytes + self.sc.nbytes + self.fp.nbytes)

    def run(self, ids: np.ndarray, sizes: np.ndarray, bsz: np.ndarray, nxt: np.ndarray, base: int, warmup: int,
            hitout: np.ndarray, times: np.ndarray = EMPTY_TIMES) -> None:
        """Replay one chunk of raw int64 ids through this cache (growing first when needed)."""
        self.prepare(sizes)
        self.hspec.fn(ids, sizes, bsz, nxt, times, base, warmup, self.cnt, hitout, self.capacity, self.sc, self.fp,
                      self.rec, self.tab)

    def adopt(self, dense: Any, raw_of: np.ndarray) -> None:
        """Take over a dense state's residents (same order, flags, hand and counters); ``raw_of[d]`` is d's raw id."""
        obj = dict(zip((a[0] for a in dense.spec.obj_arrays), dense.obj, strict=True))
        res = obj["res"] != 0
        nres = int(res.sum())
        # residents fit in the cache, so capacity / their smallest size bounds them as the chunks' sizes will
        self.smin = int(obj["osize"][res].min()) if nres else None
        self.rec = np.zeros((max(nres, 1), self.hspec.cols), dtype=np.int64)
        self.tab = np.full(_table_size(self.rec.shape[0]), -1, dtype=np.int32)
        n = min(4, dense.sc.shape[0])
        self.sc[:n] = dense.sc[:n]
        flags = obj[self.hspec.flag].astype(np.int64) if self.hspec.flag else np.zeros(0, dtype=np.int64)
        hand = _adopt(obj["lk"], obj["osize"], flags, raw_of, self.rec, self.tab, self.sc,
                      int(dense.sc[3]) if self.hspec.hand else -2)
        if self.hspec.hand:
            self.sc[3] = hand
        self.cnt = dense.cnt.copy()
        self.seconds = dense.seconds


def dense_bytes_per_object(spec: Any) -> int:
    """Bytes a dense kernel state keeps per distinct object (its per-object arrays)."""
    return int(sum(np.dtype(a[1]).itemsize * (int(a[3]) if len(a) > 3 else 1) for a in spec.obj_arrays))


def new_hashed_state(spec: Any, capacity: int, params: Mapping[str, Any], bytes_mode: bool,
                     rng: np.random.Generator | None = None) -> Any:
    """A fresh bounded-layout state for dense spec ``spec``'s policy (in :data:`HASHED` or :data:`SLOTTED`).

    ``rng``: for a seeded kernel, the generator its ``init`` draws from and its fixed arrays keep
    (None: ``default_rng(0)``, as :meth:`~simcache.kernels.base.KernelSpec.new_state`).
    """
    init = spec.new_state(int(capacity), params, bytes_mode, rng=rng)  # no per-object rows yet: costs nothing
    return make_hashed_state(spec, int(capacity), init.sc, init.fp, init.fixed)


# --- slot-mapped kernels: the dense kernel's own arrays, indexed by slot instead of dense id -----------------
#
# ARC, S3-FIFO and 2Q keep ghost entries beside the resident ones, each in the same per-object row as a
# resident.  Their kernels take a slot table: ``tab`` (int32 slot numbers, linear probing on splitmix64 of
# the raw id), ``keys[x]`` (slot x's raw id, and its hash << 32 | its table position, so freeing a slot
# hashes nothing) and ``hs`` [free-list head, slots handed out, live slots].  A slot is live while its
# object is in any list (resident or ghost); it is taken when an absent object enters a list and freed
# (backward shift; the free list is threaded through ``keys[x, 1]``, unused while x is free) when it leaves
# the last one.  The dense layout runs the same loop source compiled with ``hashed`` False, which never
# touches the table.
#
# The helpers here, and the kernels' own ``jit_inline`` helpers, leave their loops only through the loop condition
# and touch each array last after their branches join: numba can then prune the reference counting of a
# ``jit_inline`` function's array arguments, which otherwise costs two atomic operations per array per call --
# in these loops, more than all the list work together.


@jit_inline
def slot_hash(k):  # noqa: ANN001, ANN202
    """The 31-bit splitmix64 hash of raw id ``k`` (its low bits are the home position in any table)."""
    return _hash(k)


@jit_inline
def slot_find(tab, keys, k, h, mask):  # noqa: ANN001, ANN202
    """Slot of raw id ``k`` (hash ``h``), or -1 when it is in no list."""
    j = h & mask
    x = tab[j]
    while x >= 0 and keys[x, 0] != k:
        j = (j + 1) & mask
        x = tab[j]
    return x


@jit_inline
def slot_lookup(tab, keys, k, mask, size, cap, hs, room):  # noqa: ANN001, ANN202
    """A request's lookup in the slot table: (hash of ``k``, its slot or -1, whether the replay must stop).

    It must stop (and the caller grow the state, then resume at this request) when ``k`` is absent, could
    enter (``size`` <= ``cap``), and no slot is left: the free list empty and all ``room`` rows handed out.
    """
    h = _hash(k)
    x = slot_find(tab, keys, k, h, mask)
    return h, x, x < 0 and size <= cap and hs[0] < 0 and hs[1] >= room


@jit_inline
def _slot_place(tab, keys, h, mask, x):  # noqa: ANN001, ANN202
    j = h & mask
    while tab[j] >= 0:
        j = (j + 1) & mask
    tab[j] = x
    keys[x, 1] = (h << 32) | j


@jit_inline
def slot_new(tab, keys, hs, k, h, mask):  # noqa: ANN001, ANN202
    """A slot for absent raw id ``k`` (hash ``h``): the free list first, then the next unused row."""
    x = hs[0]
    if x >= 0:
        hs[0] = keys[x, 1]
    else:
        x = hs[1]
        hs[1] += 1
    keys[x, 0] = k
    _slot_place(tab, keys, h, mask, x)
    hs[2] += 1
    return x


@jit_inline
def slot_free(tab, keys, hs, x, mask):  # noqa: ANN001, ANN202
    """Take slot ``x`` (in no list any more) out of the table by backward shift and onto the free list.

    ``keys[x, 1]`` holds the id's hash (high half) and the slot's table position (low half): no hashing.
    """
    i = keys[x, 1] & 0xFFFFFFFF
    j = i
    while True:
        j = (j + 1) & mask
        y = tab[j]
        if y < 0:
            break
        e = keys[y, 1]
        h = (e >> 32) & mask
        if (h <= i or h > j) if i <= j else (h <= i and h > j):
            tab[i] = y
            keys[y, 1] = (e & ~np.int64(0xFFFFFFFF)) | i
            i = j
    tab[i] = -1
    keys[x, 1] = hs[0]
    hs[0] = x
    hs[2] -= 1


@jit
def _fill_table(tab: np.ndarray, keys: np.ndarray, live: np.ndarray, rehash: bool) -> None:
    """Enter every slot in ``live`` into the empty table ``tab`` (``rehash``: hash the raw ids first)."""
    mask = tab.shape[0] - 1
    for j in range(live.shape[0]):
        x = live[j]
        h = _hash(keys[x, 0]) if rehash else keys[x, 1] >> 32
        _slot_place(tab, keys, h, mask, x)


@dataclass(frozen=True)
class SlotSpec:
    """A dense kernel that also runs over slots (resident and ghost objects only).

    Args:
        name: the policy's registry name (its dense :class:`~simcache.kernels.base.KernelSpec` has the same).
        fn: ``fn(ids, sizes, bsz, nxt, times, base, warmup, cnt, hitout, cap, sc, fp, *obj_arrays, *fixed, keys,
            tab, hs)``, raw int64 ids; returns the requests replayed, fewer than the chunk when it needed a slot and
            none was left (the state is then consistent, and the caller grows it and goes on).
        pointers: ``sc[:pointers]`` are list heads and tails (object numbers, -1 for none).
        bound: ``bound(sc, capacity)``: the most units (entries or bytes) resident and ghost objects
            together can hold; divided by the smallest size seen it bounds the live slots.
        where: column of the dense kernel's first per-object array (``rec``, list links in columns 0
            and 1) that is 0 for an object in no list.
        links: columns of ``rec`` (from 0) holding object numbers, renumbered when a dense state moves
            (0 for a kernel without lists).
        positional: per-object arrays indexed by position rather than by object (a heap, the random
            kernel's key array), as (index among the per-object arrays, the column holding an object
            number, None for a 1-D array of object numbers): a dense state moving over keeps their first
            rows in place, object numbers renumbered, where other arrays are gathered by object.
        adopt: ``adopt(state, dense, raw_of)`` in place of :meth:`SlotState.adopt`'s own moving, for a
            layout those fields cannot describe (the redis kernels' dict chains and eviction pool).
    """

    name: str
    fn: Callable[..., int]
    pointers: int
    bound: Callable[[np.ndarray, int], int]
    where: int = 2
    links: int = 2
    positional: tuple[tuple[int, int | None], ...] = ()
    adopt: Callable[[Any, Any, np.ndarray], None] | None = None


class SlotState:
    """One running cache of a :class:`SlotSpec` kernel: O(resident + ghost objects), never O(catalogue).

    Args:
        spec: the dense kernel spec (its per-object arrays become per-slot arrays).
        sspec: the slot kernel.
        capacity: entries or bytes.
        sc: int64 scalars from the dense spec's ``init`` (same meaning, list pointers are slots).
        fp: float64 parameters from ``init``.
        fixed: the fixed arrays from ``init`` (scratch views, a seeded kernel's generator), passed after
            the per-slot arrays.
    """

    layout = "hashed"

    def __init__(self, spec: Any, sspec: SlotSpec, capacity: int, sc: np.ndarray, fp: np.ndarray,
                 fixed: list[Any] | None = None) -> None:
        self.spec = spec
        self.sspec = sspec
        self.capacity = capacity
        self.sc = sc.copy()
        self.fp = fp.copy()
        self.fixed = list(fixed or [])
        self.obj = [np.full(_obj_shape(0, a), a[2], dtype=a[1]) for a in spec.obj_arrays]
        self.keys = np.zeros((0, 2), dtype=np.int64)
        self.tab = np.full(_table_size(0), -1, dtype=np.int32)
        self.hs = np.array([-1, 0, 0], dtype=np.int64)
        self.smin: int | None = None
        self.cnt = np.zeros(4, dtype=np.int64)
        self.seconds = 0.0
        self.grown = 0

    @property
    def resident(self) -> int:
        """Live slots now: objects in the cache and ghost entries."""
        return int(self.hs[2])

    @property
    def rows(self) -> int:
        """Slots allocated."""
        return int(self.keys.shape[0])

    def max_live(self) -> int:
        """The most live slots the directory can need given the sizes seen so far (+1 for the object entering)."""
        units = self.sspec.bound(self.sc, self.capacity)
        if self.smin is None:
            return units + 1
        return units // max(1, self.smin) + 1

    def _grow(self, new: int) -> None:
        rows = self.rows
        for j, a in enumerate(self.spec.obj_arrays):
            grown = np.full(_obj_shape(new, a), a[2], dtype=a[1])
            grown[:rows] = self.obj[j]
            self.obj[j] = grown
        keys = np.zeros((new, 2), dtype=np.int64)
        keys[:rows] = self.keys
        self.keys = keys
        if _table_size(new) > self.tab.shape[0]:
            tab = np.full(_table_size(new), -1, dtype=np.int32)
            _fill_table(tab, self.keys, self.tab[self.tab >= 0].astype(np.int64), False)
            self.tab = tab
        self.grown += 1

    def prepare(self, sizes: np.ndarray) -> None:
        """Grow the slots (doubling, table rehashed) if live objects could outnumber them within this chunk."""
        if sizes.shape[0]:
            m = int(sizes.min())
            self.smin = m if self.smin is None else min(self.smin, m)
        need = min(self.max_live(), self.resident + int(sizes.shape[0]))
        if need > self.rows:
            self._grow(max(need, min(2 * self.rows, self.max_live())))

    def nbytes(self) -> int:
        """Bytes held by this state's arrays."""
        return int(sum(a.nbytes for a in self.obj) + self.keys.nbytes + self.tab.nbytes + self.hs.nbytes
                   + self.sc.nbytes + self.fp.nbytes + sum(getattr(a, "nbytes", 0) for a in self.fixed))

    def run(self, ids: np.ndarray, sizes: np.ndarray, bsz: np.ndarray, nxt: np.ndarray, base: int, warmup: int,
            hitout: np.ndarray, times: np.ndarray = EMPTY_TIMES) -> None:
        """Replay one chunk of raw int64 ids (growing first when needed, and again if the kernel runs out)."""
        self.prepare(sizes)
        lo, m = 0, ids.shape[0]
        while True:
            done = lo + int(self.sspec.fn(ids[lo:], sizes[lo:], bsz[lo:], _tail(nxt, lo), _tail(times, lo), base + lo,
                                          warmup, self.cnt, _tail(hitout, lo), self.capacity, self.sc,
                                          self.fp, *self.obj, *self.fixed, self.keys, self.tab, self.hs))
            self.spec.check_stopped(self.sc)  # stopped short for good (int64 overflow), not for want of slots
            if done >= m:
                return
            lo = done
            self._grow(max(2 * self.rows, self.rows + 1))

    def adopt(self, dense: Any, raw_of: np.ndarray) -> None:
        """Take over a dense state's objects in any list (same lists, flags, heaps, counters, generator).

        ``raw_of[d]`` is dense id d's raw id.
        """
        if self.sspec.adopt is not None:
            self.sspec.adopt(self, dense, raw_of)
            return
        rec = dense.obj[0]
        live = np.flatnonzero(rec[:, self.sspec.where] != 0)
        n = int(live.shape[0])
        sizes = dense.obj[1][live] if len(dense.obj) > 1 and n else np.zeros(0, dtype=np.int64)
        self.smin = int(sizes.min()) if sizes.shape[0] else None
        slot_of = np.full(rec.shape[0] + 1, -1, dtype=np.int64)  # slot_of[-1] = -1: a missing link stays missing
        slot_of[live] = np.arange(n)
        self.obj = [a[live].copy() for a in dense.obj]
        links = self.sspec.links
        self.obj[0][:, :links] = slot_of[self.obj[0][:, :links]]
        for j, col in self.sspec.positional:  # the first n positions hold every live object
            a = dense.obj[j][:n].copy()
            if col is None:
                a[:] = slot_of[a]
            else:
                a[:, col] = slot_of[a[:, col]]
            self.obj[j] = a
        self.fixed = list(dense.fixed)  # a seeded kernel's generator goes on with the same stream
        self.sc = dense.sc.copy()
        p = self.sspec.pointers
        self.sc[:p] = slot_of[self.sc[:p]]
        self.fp = dense.fp.copy()
        self.keys = np.zeros((n, 2), dtype=np.int64)
        self.keys[:, 0] = raw_of[live]
        self.tab = np.full(_table_size(n), -1, dtype=np.int32)
        _fill_table(self.tab, self.keys, np.arange(n, dtype=np.int64), True)
        self.hs = np.array([-1, n, n], dtype=np.int64)
        self.cnt = dense.cnt.copy()
        self.seconds = dense.seconds


def _tail(a: np.ndarray, lo: int) -> np.ndarray:
    """A per-request array from request ``lo`` on (an empty one, meaning "not given", stays empty)."""
    return a[lo:] if a.shape[0] else a


def _obj_shape(n: int, a: tuple[Any, ...]) -> int | tuple[int, int]:
    return (n, int(a[3])) if len(a) > 3 else n


#: slot-mapped kernels by policy name, registered by their modules (``SLOT_SPECS``) when the kernels load
SLOTTED: dict[str, SlotSpec] = {}


def hashed_policies() -> list[str]:
    """Policies with a layout bounded by the cached objects, sorted."""
    from simcache.kernels import load_kernels  # the kernel modules register their slot layouts as they load

    load_kernels()
    return sorted({*HASHED, *SLOTTED})


def make_hashed_state(spec: Any, capacity: int, sc: np.ndarray, fp: np.ndarray,
                      fixed: list[Any] | None = None) -> HashedState | SlotState:
    """An empty bounded-layout state for dense spec ``spec`` from its ``init`` scalars (and fixed arrays)."""
    if spec.name in SLOTTED:
        return SlotState(spec, SLOTTED[spec.name], capacity, sc, fp, fixed)
    return HashedState(HASHED[spec.name], capacity, sc, fp)
