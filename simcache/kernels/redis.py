"""Redis 7 ``maxmemory-policy`` kernels: the eight ``redis-*`` policies of :mod:`simcache.policies.redis`, hit for hit.

One loop serves them all, with the kind (lru, lfu, random, ttl, none) and allkeys/volatile as integer flags.
It keeps the reference's model of the keyspace, :class:`simcache.policies.redis._Dict` (``dict.c``): a
power-of-two table of chains, newest key at the head (``dictAddRaw``), grown on an add that finds
``keys >= buckets`` and shrunk by a delete that leaves it under 10 % full, each resize rehashing old buckets
in index order and every key of a chain from its head onto the head of its new chain (``_dictRehash``).  The
chains are arrays here: a head per bucket (``bhead``, four per object: the table never needs more buckets
than four times the objects seen) and a successor per dense id, in the reference's order, since
``dictGetSomeKeys`` and ``dictGetRandomKey`` walk them in order.  A key's bucket comes from the *raw* id
(``needs_raw``): ``splitmix64(id ^ salt)``, as the reference hashes the original integer key.

Randomness follows the reference draw for draw: its ``_Random`` takes 1024 words at a time from the
generator (``rng.integers(0, 2**64 - 1, size=1024, dtype=uint64, endpoint=True)``) and pops them from the
end; the batch and the number of words left live in the state between chunks, and LFU's coin flips
(``rng.random()``) interleave with the refills exactly as in the reference.  The two dict salts are the
first two words, drawn at construction (``db->dict`` first, then ``db->expires``).

Eviction follows ``evictionPoolPopulate``/``performEvictions`` (``evict.c``) as the reference models it:
the 16-entry pool persisting across evictions, sorted by the score each sample had when it entered, stale
entries skipped when popped; the LRU clock ``floor(now / 1 s)``; LFU's ``LFUDecrAndReturn`` and
``LFULogIncr`` (``evict.c``); a write stored first, then victims evicted until it fits (the new key is a
candidate); a write refused when no key is eligible; a hit that grows a key past the capacity evicting
``dictGetRandomKey``'s key when the policy has no eligible victim.

Two layouts, one loop source (``_loop(hashed)``, compiled twice).  The dense one indexes ``rec``, ``bhead`` and
``samp`` by dense id over every object of the trace (52 B each).  The bounded one (``SLOT_SPECS``, run by
:class:`simcache.kernels.hashed.SlotState`) indexes the same arrays by *slot*, one per resident key, found
from the raw id through :mod:`simcache.kernels.hashed`'s slot table (``slot_lookup``, ``slot_new``,
``slot_free``): a slot is taken when a key is stored and freed wherever it leaves the keyspace (evicted, its
write refused, grown past the cache), so the dict's chains, its bucket heads (four per slot: a table never
has more buckets than four times the most keys it has held) and the sample all follow the resident keys, never
the catalogue: 68 B per slot and a table of 4-8 int32.  The eviction pool may hold stale entries, and the
reference tests ``key in keys``: an entry keeps its key's raw id (``pr``) beside its slot, and a slot that
no longer holds that key (freed, perhaps taken by another) sends the test through the slot table, which
also finds the key if it came back in another slot.  A key being stored takes at most one slot; with none
free the loop stops before that request and the state grows and resumes there (``SlotState.run``).  A
dense state moves over mid-trace (:func:`_adopt`) with its chains, table size, pool, batch and generator.

Trace replay gives no key an expiry (``access`` passes none), so ``db->expires`` is always empty:
volatile-lru/lfu/random/ttl and noeviction never find a victim and refuse writes that do not fit.  The
kernel therefore keeps no ``expires`` table (its salt is still drawn, as the reference draws it), and
volatile-ttl's score (``-expire_at``) is never needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from simcache.kernels._jit import jit, jit_inline
from simcache.kernels._tally import add_counts, tally
from simcache.kernels.base import InitResult, KernelSpec
from simcache.kernels.hashed import (
    SlotSpec,
    SlotState,
    _fill_table,
    _table_size,
    slot_find,
    slot_free,
    slot_hash,
    slot_lookup,
    slot_new,
    splitmix_masked,
)
from simcache.policies import policy_class
from simcache.policies.redis import _RAND_BATCH as RAND_BATCH  # the batch the reference's generator calls draw
from simcache.policies.redis import (
    DICT_HT_INITIAL_SIZE,
    EVPOOL_SIZE,
    HASHTABLE_MIN_FILL,
    LFU_INIT_VAL,
    RedisPolicy,
)

_M64 = (1 << 64) - 1
#: a key's bucket is its hash's low bits; the kernel keeps the low 63 (a table never has 2**63 buckets)
_LOW63 = (1 << 63) - 1

# kinds (sc[10])
LRU, LFU, RANDOM, TTL, NONE = 0, 1, 2, 3, 4
_KINDS = {"lru": LRU, "lfu": LFU, "random": RANDOM, "ttl": TTL, "none": NONE}

# sc slots: 0 used, 1 keys in the table (len(_all)), 2 table size (0: no table yet), 3 the keyspace dict's salt,
#           4 the expires dict's salt (drawn, never used), 5 words left in the batch, 6 pool length,
#           7 maxmemory_samples, 8 lfu_log_factor, 9 lfu_decay_time, 10 kind, 11 allkeys, 12 refused writes
# rec[x]: one 32-byte record per object, what an eviction reads of a key in one place:
#   0 size (-1: not resident; the resident keys are exactly the table's keys), 1 next key in x's chain (-1: last),
#   2 x's salted hash (its low 63 bits), 3 the LRU clock, or for LFU ``last decrement minute << 8 | counter``
#   (as Redis packs an object's 24-bit lru field, db.c updateLFU)
# bhead: bucket heads, four per object (or slot), bucket b at bhead[b >> 2, b & 3] (a reshaped flat view is a
#   local array, reference-counted wherever the closures compiled into the loop read it); samp: dictGetSomeKeys' output (scratch)
# fixed arrays: words (the random batch), pool keys, pool scores, pool keys' raw ids (the bounded layout's), the generator
# bounded layout: these arrays by slot, plus the slot table (keys, tab, hs); a free slot's size is -1
_OBJ = (("rec", np.int64, -1, 4), ("bhead", np.int32, -1, 4), ("samp", np.int32, 0))

@jit_inline
def _key_hash(raw, salt):  # noqa: ANN001, ANN202
    # the reference's _Dict._hash: splitmix64(key_hash64(key) ^ salt), integers hashing as themselves
    return splitmix_masked(raw ^ salt, _LOW63)


@jit
def _refill(words, rng):  # noqa: ANN001, ANN202
    # _Random.__call__ on an empty list: the next batch of 1024 words
    words[:] = rng.integers(0, np.uint64(_M64), size=RAND_BATCH, dtype=np.uint64, endpoint=True)


@jit_inline
def _bits(w, mask):  # noqa: ANN001, ANN202
    # rand() & mask
    return np.int64(w & np.uint64(mask))


@jit_inline
def _below(w, m):  # noqa: ANN001, ANN202
    # rand() % m
    return np.int64(w % np.uint64(m))


@jit_inline
def _next_power(n):  # noqa: ANN001, ANN202
    # _next_power (_dictNextExp): a power of two >= n, at least DICT_HT_INITIAL_SIZE
    p = DICT_HT_INITIAL_SIZE
    while p < n:
        p <<= 1
    return p


@jit
def _rehash(heads, rec, size, new):  # noqa: ANN001, ANN202
    """_Dict._resize: every chain of the ``size`` buckets, in order and each from its head, onto ``new`` buckets."""
    # first thread all keys into one list in visiting order (reusing the chain links), then push each onto its new chain
    first = -1
    last = -1
    for b in range(size):
        x = heads[b]
        while x >= 0:
            nx = rec[x, 1]
            if last < 0:
                first = x
            else:
                rec[last, 1] = x
            last = x
            x = nx
    if last >= 0:
        rec[last, 1] = -1
    heads[:new] = -1
    mask = new - 1
    x = first
    while x >= 0:
        nx = rec[x, 1]
        b = rec[x, 2] & mask
        rec[x, 1] = heads[b]
        heads[b] = x
        x = nx


@jit_inline
def _lfu_decr(rec, x, minutes, decay):  # noqa: ANN001, ANN202
    # RedisPolicy.lfu_decr_and_return (LFUDecrAndReturn): the counter less the elapsed decay periods
    v = rec[x, 3]
    counter = v & 255
    if decay:
        periods = (minutes - (v >> 8)) // decay
        if periods > 0:
            counter = max(0, counter - periods)
    return counter


@jit
def redis_kernel(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001
                 rec, bhead, samp, words, pk, ps, pr, rng):
    """Redis ``maxmemory-policy`` replay of one chunk of dense ids (:class:`simcache.policies.redis.RedisPolicy`)."""
    _dense_loop(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp, rec, bhead, samp, words, pk, ps,
                pr, rng, np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64))


def _loop(hashed: bool) -> Callable[..., int]:
    """The loop over dense ids (``hashed`` False: the slot-table arguments are unused) or over slots (True).

    ``hashed`` is a closure constant of each compiled loop, so the dense loop carries no test of the layout.
    """

    @jit
    def redis_slots(ids, sizes, bsz, raw, times, base, warmup, cnt, hitout, cap, sc, fp,  # noqa: ANN001, ANN202
                    rec, bhead, samp, words, pk, ps, pr, rng, keys, tab, hs):
        """Redis ``maxmemory-policy`` replay of one chunk: dense ids, or raw ids through the slot table.

        Returns the requests replayed: fewer than the chunk when a key about to be stored found no free slot
        (the state is then consistent; the caller grows it and resumes at that request).  The helpers that
        draw random words are closures over the generator, which numba inlines: handing a ``Generator`` from
        call to call costs more than the eviction itself.
        """
        kind = sc[10]
        lfu = kind == LFU
        # only allkeys-lru/lfu/random ever have an eligible key: no key has an expiry in trace replay
        evicts = kind != NONE and sc[11] != 0
        factor = sc[8]
        decay = sc[9]
        mask = tab.shape[0] - 1
        room = rec.shape[0]
        timed = times.shape[0] > 0

        def add(x, raw):  # noqa: ANN001, ANN202
            # _Dict.add: grow first when keys >= buckets, then the key goes to the head of its chain
            n = sc[1]
            size = sc[2]
            if n >= size:
                size = _next_power(n + 1)
                _rehash(bhead.reshape(-1), rec, sc[2], size)
                sc[2] = size
            h = _key_hash(raw, sc[3])
            rec[x, 2] = h
            b = h & (size - 1)
            rec[x, 1] = bhead[b >> 2, b & 3]
            bhead[b >> 2, b & 3] = x
            sc[1] = n + 1

        def discard(x):  # noqa: ANN001, ANN202
            # _Dict.discard of a key in the table: unlink it, then shrink a table left under 10 % full
            size = sc[2]
            b = rec[x, 2] & (size - 1)
            nx = rec[x, 1]
            p = -1
            first = bhead[b >> 2, b & 3]
            y = first
            while y != x:
                p = y
                y = rec[y, 1]
            # the chain's head is stored on both paths: arrays used last in one branch keep their reference counting
            rec[p if p >= 0 else x, 1] = nx  # p's successor, or (x first) x's own link, reset just below
            bhead[b >> 2, b & 3] = nx if p < 0 else first
            rec[x, 1] = -1
            n = sc[1] - 1
            sc[1] = n
            if size > DICT_HT_INITIAL_SIZE and n * 100 // size < HASHTABLE_MIN_FILL:
                new = _next_power(n)
                _rehash(bhead.reshape(-1), rec, size, new)
                sc[2] = new

        def word():  # noqa: ANN202
            # _Random.__call__: the next word of the batch, popped from its end; a new batch when it is used up
            n = sc[5]
            if n == 0:
                _refill(words, rng)
                n = RAND_BATCH
            n -= 1
            sc[5] = n
            return words[n]

        def random_key():  # noqa: ANN202
            # _Dict.random_key (dictGetRandomKey): a random non-empty bucket, then a random key of its chain
            bmask = sc[2] - 1
            b = _bits(word(), bmask)
            x = bhead[b >> 2, b & 3]
            while x < 0:
                b = _bits(word(), bmask)
                x = bhead[b >> 2, b & 3]
            length = 0
            y = x
            while y >= 0:
                length += 1
                y = rec[y, 1]
            k = _below(word(), length)
            while k > 0:
                x = rec[x, 1]
                k -= 1
            return x

        def some_keys():  # noqa: ANN202
            # _Dict.some_keys (dictGetSomeKeys) into samp; returns how many keys it holds
            count = min(sc[7], sc[1])
            bmask = sc[2] - 1
            stored = 0
            emptylen = 0
            i = _bits(word(), bmask)
            for _ in range(count * 10):
                x = bhead[i >> 2, i & 3]
                if x < 0:
                    emptylen += 1
                    if emptylen >= 5 and emptylen > count:
                        i = _bits(word(), bmask)
                        emptylen = 0
                else:
                    emptylen = 0
                    while x >= 0:
                        if stored < count:
                            samp[stored] = x
                        else:
                            r = _below(word(), stored + 1)
                            if r < count:
                                samp[r] = x
                        stored += 1
                        x = rec[x, 1]
                    if stored >= count:
                        break
                i = (i + 1) & bmask
            return min(stored, count)

        def populate(clock, minutes):  # noqa: ANN001, ANN202
            # RedisPolicy._populate (evictionPoolPopulate): score a sample into the pool, sorted ascending; with
            # slots an entry also keeps its key's raw id (pr), since a stale entry's slot may hold another key
            pl = sc[6]
            for j in range(some_keys()):
                x = samp[j]
                s = 255 - _lfu_decr(rec, x, minutes, decay) if lfu else clock - rec[x, 3]
                k = 0  # bisect_left
                while k < pl and ps[k] < s:
                    k += 1
                if pl < EVPOOL_SIZE:
                    for m in range(pl, k, -1):
                        ps[m] = ps[m - 1]
                        pk[m] = pk[m - 1]
                        if hashed:
                            pr[m] = pr[m - 1]
                    ps[k] = s
                    pk[k] = x
                    if hashed:
                        pr[k] = keys[x, 0]
                    pl += 1
                elif k > 0:
                    # full: drop the lowest entry and slot the sample just below the first >= it
                    for m in range(k - 1):
                        ps[m] = ps[m + 1]
                        pk[m] = pk[m + 1]
                        if hashed:
                            pr[m] = pr[m + 1]
                    ps[k - 1] = s
                    pk[k - 1] = x
                    if hashed:
                        pr[k - 1] = keys[x, 0]
            sc[6] = pl

        def victim(clock, minutes, fallback):  # noqa: ANN001, ANN202
            # RedisPolicy._select: the next key to evict, -1 when none is eligible; with fallback (RedisPolicy._victim,
            # for a hit that grew a key) dictGetRandomKey's key then
            if not evicts or sc[1] == 0:
                return random_key() if fallback else -1
            if kind == RANDOM:
                return random_key()
            while True:
                populate(clock, minutes)
                # the best (last) entry still in the keyspace (the reference's ``key in keys``); an exhausted pool
                # is refilled by a new sample
                pl = sc[6]
                while pl > 0:
                    pl -= 1
                    x = pk[pl]
                    if hashed:
                        # a freed slot may have been taken by another key, and the entry's key may be back in
                        # another slot: unless the slot still holds the key, look the key up
                        k = pr[pl]
                        if x < 0 or rec[x, 0] < 0 or keys[x, 0] != k:
                            x = slot_find(tab, keys, k, slot_hash(k), mask)
                    if x >= 0 and rec[x, 0] >= 0:
                        sc[6] = pl
                        return x
                sc[6] = 0

        used = sc[0]
        refused = sc[12]
        done = ids.shape[0]
        nh = nm = nbh = nbm = 0
        want = hitout.shape[0] > 0
        for i in range(ids.shape[0]):
            s = sizes[i]
            if hashed:
                key = ids[i]
                h, x, full = slot_lookup(tab, keys, key, mask, s, cap, hs, room)
                if full:
                    done = i  # no slot left for a key that may be stored: the caller grows the state
                    break
                old = rec[x, 0] if x >= 0 else -1
            else:
                key = raw[i]
                h = 0
                x = ids[i]
                old = rec[x, 0]
            t = times[i] if timed else 0.0
            clock = minutes = np.int64(0)
            if lfu:
                minutes = np.int64(t // 60.0)  # the LFU decrement time
            else:
                clock = np.int64(np.floor(t))  # the LRU clock, 1 s resolution
            hit = old >= 0
            if hit:
                # _touch
                if lfu:
                    counter = _lfu_decr(rec, x, minutes, decay)
                    if counter != 255:  # LFULogIncr
                        r = rng.random()
                        b = counter - LFU_INIT_VAL if counter > LFU_INIT_VAL else 0
                        if r < 1.0 / (b * factor + 1):
                            counter += 1
                    rec[x, 3] = (minutes << 8) | counter
                else:
                    rec[x, 3] = clock
                if s != old:
                    # Policy._resize: a key grown past the whole cache leaves; otherwise evict until it fits
                    used += s - old
                    rec[x, 0] = s
                    if s > cap:
                        used -= s
                        rec[x, 0] = -1
                        discard(x)
                        if hashed:
                            slot_free(tab, keys, hs, x, mask)
                    else:
                        while used > cap:
                            v = victim(clock, minutes, True)
                            discard(v)
                            used -= rec[v, 0]
                            rec[v, 0] = -1
                            if hashed:
                                slot_free(tab, keys, hs, v, mask)
            elif 0 <= s <= cap:
                # _on_insert: store, then evict_to(capacity); nothing eligible left refuses the write
                if hashed:
                    x = slot_new(tab, keys, hs, key, h, mask)
                rec[x, 0] = s
                used += s
                add(x, key)
                if lfu:
                    rec[x, 3] = (minutes << 8) | LFU_INIT_VAL
                else:
                    rec[x, 3] = clock
                while used > cap:
                    v = victim(clock, minutes, False) if evicts else -1
                    if v < 0:
                        if rec[x, 0] >= 0:
                            used -= rec[x, 0]
                            rec[x, 0] = -1
                            discard(x)
                            if hashed:
                                slot_free(tab, keys, hs, x, mask)
                        refused += 1
                        break
                    discard(v)
                    used -= rec[v, 0]
                    rec[v, 0] = -1
                    if hashed:
                        slot_free(tab, keys, hs, v, mask)
            nh, nm, nbh, nbm = tally(base + i >= warmup, hit, bsz[i], nh, nm, nbh, nbm)
            if want:
                hitout[i] = hit
        sc[0] = used
        sc[12] = refused
        add_counts(cnt, nh, nm, nbh, nbm)
        return done

    return redis_slots


redis_slots = _loop(True)
_dense_loop = _loop(False)


#: the reference's parameters and defaults (RedisPolicy.__init__)
PARAMS: dict[str, Any] = {"maxmemory_samples": 5, "lfu_log_factor": 10, "lfu_decay_time": 1}
# bounds within which the kernel's int64 arithmetic equals the reference's Python ints
_LIMITS = {"maxmemory_samples": (1, 2**31), "lfu_log_factor": (0, 2**40), "lfu_decay_time": (0, 2**62)}


def _check(params: Mapping[str, Any], bytes_mode: bool) -> bool:
    for name, (lo, hi) in _LIMITS.items():
        v = params[name]
        try:
            iv = int(v)
        except (TypeError, ValueError, OverflowError):
            return False
        if iv != v or not lo <= iv < hi:
            return False  # the reference reports a bad value, and replays one past int64 range on Python ints
    return True


def _as_int64(word: int) -> int:
    return word - (1 << 64) if word >> 63 else word


def _make_init(kind: int, allkeys: bool) -> Callable[[int, Mapping[str, Any], bool, np.random.Generator], InitResult]:
    def init(cap: int, params: Mapping[str, Any], bytes_mode: bool, rng: np.random.Generator) -> InitResult:
        # RedisPolicy.__init__: _Random's first batch, popped from its end for the two dicts' salts
        words = rng.integers(0, _M64, size=RAND_BATCH, dtype=np.uint64, endpoint=True)
        salt_all, salt_expires = int(words[-1]), int(words[-2])
        sc = np.array([0, 0, 0, _as_int64(salt_all), _as_int64(salt_expires), RAND_BATCH - 2, 0,
                       int(params["maxmemory_samples"]), int(params["lfu_log_factor"]), int(params["lfu_decay_time"]),
                       kind, int(allkeys), 0], dtype=np.int64)
        fixed: list[Any] = [words, np.zeros(EVPOOL_SIZE, dtype=np.int32), np.zeros(EVPOOL_SIZE, dtype=np.int64),
                            np.zeros(EVPOOL_SIZE, dtype=np.int64), rng]
        return sc, np.zeros(0), fixed

    return init


def _spec(name: str) -> KernelSpec:
    cls = policy_class(name)
    if not issubclass(cls, RedisPolicy):
        raise TypeError(f"{name} is not a Redis policy")
    return KernelSpec(name, redis_kernel, PARAMS, _make_init(_KINDS[cls.kind], cls.allkeys), _OBJ, check=_check,
                      needs_raw=True, seeded=True, needs_time=True)


def _adopt(state: SlotState, dense: Any, raw_of: np.ndarray) -> None:
    """Move a dense state's keys into slots: the same chains, table size, pool, batch, generator and counters.

    ``raw_of[d]`` is dense id d's raw id.  The slots hold at least a quarter of the dict's buckets (a table
    that shrinks only under 10 % full may have more than four per resident key), as a slot state always does.
    """
    rec, bhead, _ = dense.obj
    live = np.flatnonzero(rec[:, 0] >= 0)
    n = int(live.shape[0])
    size = int(dense.sc[2])
    rows = max(n, -(-size // 4), 1)
    slot_of = np.full(rec.shape[0] + 1, -1, dtype=np.int64)  # slot_of[-1] = -1: a chain's end stays an end
    slot_of[live] = np.arange(n)
    srec = np.full((rows, 4), -1, dtype=np.int64)
    srec[:n] = rec[live]
    srec[:n, 1] = slot_of[srec[:n, 1]]
    heads = np.full(rows * 4, -1, dtype=np.int32)
    heads[:size] = slot_of[bhead.reshape(-1)[:size]]
    state.obj = [srec, heads.reshape(rows, 4), np.zeros(rows, dtype=np.int32)]
    state.smin = int(srec[:n, 0].min()) if n else None
    # pool entries by slot, with their keys' raw ids; a stale entry's key has no slot (-1) unless it comes back
    words, pk, ps, _, rng = dense.fixed
    pl = int(dense.sc[6])
    spk = np.zeros_like(pk)
    spr = np.zeros(EVPOOL_SIZE, dtype=np.int64)
    spk[:pl] = slot_of[pk[:pl]]
    spr[:pl] = raw_of[pk[:pl]]
    state.fixed = [words.copy(), spk, ps.copy(), spr, rng]  # the generator goes on with the same stream
    state.sc = dense.sc.copy()
    state.fp = dense.fp.copy()
    state.keys = np.zeros((rows, 2), dtype=np.int64)
    state.keys[:n, 0] = raw_of[live]
    state.tab = np.full(_table_size(rows), -1, dtype=np.int32)
    _fill_table(state.tab, state.keys, np.arange(n, dtype=np.int64), True)
    state.hs = np.array([-1, n, n], dtype=np.int64)
    state.cnt = dense.cnt.copy()
    state.seconds = dense.seconds


#: one spec per policy, the kind and the eligible keys read from the reference class
SPECS = tuple(_spec(f"redis-{name}") for name in (
    "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random",
    "volatile-ttl", "noeviction"))
# the bounded layout: a slot per resident key, within the capacity (the key being stored aside); rec's column 0,
# the size, is -1 exactly for the free slots
SLOT_SPECS = tuple(SlotSpec(spec.name, redis_slots, 0, lambda sc, cap: cap, where=0, links=0, adopt=_adopt)
                   for spec in SPECS)
