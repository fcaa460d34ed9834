"""The three-tier model as one event loop over arrays (compiled with numba when available; plain Python otherwise).

The loop replays exactly what the SimPy engine does for the supported
configurations (see :mod:`simcache.sim.compiled.three_tier`): the same queue
entries, ordered by the same ``(time, insertion id)`` key, the same state
changes at the same times, and the same random numbers, pre-drawn in Python
from the same streams and consumed in the same order.  Each stream is an
array with a cursor; when one runs dry the loop stops with a status naming it
and the caller draws more and runs again (the draws are a prefix of the
longer stream, so the rerun is identical up to that point).
"""

from __future__ import annotations

import numpy as np

from simcache.kernels._jit import jit, jit_inline

# queue entry kinds
ARRIVE = 0  # the client's next request reaches the app
R_ARR = 1  # a command reaches the cache server
R_REP = 2  # the cache server's reply reaches the app
D_ARR = 3  # a command reaches the database
D_REP = 4  # the database's reply reaches the app
TMO = 5  # a request's deadline
SCRAPE = 6  # the recorder's per-window scrape

# the remote call a request is making
GET = 0
SET = 1
DEL = 2
READ = 3
WRITE = 4

# counters (``st``), in the order the scrapes and the summary read them
R_OPS, R_BUSY, R_WAIT, R_INFL = 0, 1, 2, 3
R_CACHE = 4  # hits, misses, evictions, expired, sets, deletes, keys of the cache server's store: 4..10
L_CACHE = 11  # the same for the in-process cache: 11..17
D_OPS, D_BUSY, D_WAIT, D_INFL, D_READS, D_WRITES = 18, 19, 20, 21, 22, 23
TR_TIME, TR_CALLS, TD_TIME, TD_CALLS = 24, 25, 26, 27
ISSUED, FINISHED, TRUNCATED = 28, 29, 30
N_STATS = 31
# offsets within a cache's block of counters
C_HITS, C_MISSES, C_EVICTIONS, C_EXPIRED, C_SETS, C_DELETES, C_KEYS = 0, 1, 2, 3, 4, 5, 6

# exit statuses: 0 done; otherwise the stream (or buffer) that ran dry
OK = 0
S_GAPS, S_KEYS, S_LINK_C, S_LINK_R, S_LINK_D, S_SVC_R, S_SVC_DR, S_SVC_DW, S_CPU, S_SCRAPES = range(1, 11)

# float parameters (``fp``)
P_UNTIL, P_WINDOW, P_TIMEOUT, P_TTL, P_LOCAL_COST = range(5)
# integer parameters (``ip``)
P_HAS_LOCAL, P_LOCAL_CAP, P_CACHE_CAP, P_CACHE_WORKERS, P_DB_CONNS, P_HISTORY = range(6)


# ------------------------------------------------------------------ queue
@jit_inline
def _push(ht: np.ndarray, hs: np.ndarray, hk: np.ndarray, hr: np.ndarray, n: int, t: float, seq: int, kind: int,
          r: int) -> int:
    """Insert an entry into the (time, seq) min-heap of ``n`` entries; return the new size."""
    i = n
    while i > 0:
        p = (i - 1) >> 1
        pt = ht[p]
        if pt < t or (pt == t and hs[p] < seq):
            break
        ht[i] = pt
        hs[i] = hs[p]
        hk[i] = hk[p]
        hr[i] = hr[p]
        i = p
    ht[i] = t
    hs[i] = seq
    hk[i] = kind
    hr[i] = r
    return n + 1


@jit_inline
def _pop(ht: np.ndarray, hs: np.ndarray, hk: np.ndarray, hr: np.ndarray, n: int) -> int:
    """Remove the root of the heap of ``n`` entries (read it first); return the new size."""
    n -= 1
    if n == 0:
        return 0
    t = ht[n]
    s = hs[n]
    k = hk[n]
    r = hr[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and (ht[c + 1] < ht[c] or (ht[c + 1] == ht[c] and hs[c + 1] < hs[c])):
            c += 1
        if ht[c] < t or (ht[c] == t and hs[c] < s):
            ht[i] = ht[c]
            hs[i] = hs[c]
            hk[i] = hk[c]
            hr[i] = hr[c]
            i = c
        else:
            break
    ht[i] = t
    hs[i] = s
    hk[i] = k
    hr[i] = r
    return n


@jit_inline
def _replace_min(h: np.ndarray, v: float) -> None:
    """``heapq.heapreplace`` on a full float min-heap: drop the smallest value, add ``v``."""
    n = h.size
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and h[c + 1] < h[c]:
            c += 1
        if h[c] < v:
            h[i] = h[c]
            i = c
        else:
            break
    h[i] = v


# ------------------------------------------------------- LRU store, size 1
# A circular doubly-linked list with the sentinel at index n_objects: nxt[s] is the least recently used
# key (OrderedDict's first), prv[s] the most recently used (its last).
@jit_inline
def _unlink(prv: np.ndarray, nxt: np.ndarray, x: int) -> None:
    p = prv[x]
    q = nxt[x]
    nxt[p] = q
    prv[q] = p


@jit_inline
def _append(prv: np.ndarray, nxt: np.ndarray, s: int, x: int) -> None:
    p = prv[s]
    nxt[p] = x
    prv[x] = p
    nxt[x] = s
    prv[s] = x


@jit_inline
def _lru_get(prv: np.ndarray, nxt: np.ndarray, inc: np.ndarray, exp: np.ndarray, st: np.ndarray, b: int, key: int,
             now: float) -> bool:
    """``fastlru.lru_get``: lazy expiry at ``now``, then a hit (moved to the end) or a miss."""
    if inc[key] and exp[key] <= now:
        _unlink(prv, nxt, key)
        inc[key] = False
        st[b + C_KEYS] -= 1
        st[b + C_EXPIRED] += 1
    if not inc[key]:
        st[b + C_MISSES] += 1
        return False
    _unlink(prv, nxt, key)
    _append(prv, nxt, prv.size - 1, key)
    st[b + C_HITS] += 1
    return True


@jit_inline
def _lru_set(prv: np.ndarray, nxt: np.ndarray, inc: np.ndarray, exp: np.ndarray, ver: np.ndarray, st: np.ndarray,
             b: int, cap: int, key: int, version: int, expire_at: float, now: float) -> None:
    """``fastlru.lru_set`` (and ``Cache.set`` for a key already held) of a size-1 value."""
    s = prv.size - 1
    if inc[key] and exp[key] <= now:
        _unlink(prv, nxt, key)
        inc[key] = False
        st[b + C_KEYS] -= 1
        st[b + C_EXPIRED] += 1
    st[b + C_SETS] += 1
    if inc[key]:
        _unlink(prv, nxt, key)
    else:
        while st[b + C_KEYS] + 1 > cap and st[b + C_KEYS] > 0:
            victim = nxt[s]
            _unlink(prv, nxt, victim)
            inc[victim] = False
            st[b + C_KEYS] -= 1
            st[b + C_EVICTIONS] += 1
        inc[key] = True
        st[b + C_KEYS] += 1
    _append(prv, nxt, s, key)
    exp[key] = expire_at
    ver[key] = version


@jit_inline
def _lru_delete(prv: np.ndarray, nxt: np.ndarray, inc: np.ndarray, st: np.ndarray, b: int, key: int) -> None:
    """``Cache.delete``: an entry held (expired or not) is removed and counted."""
    if inc[key]:
        _unlink(prv, nxt, key)
        inc[key] = False
        st[b + C_KEYS] -= 1
        st[b + C_DELETES] += 1


# ------------------------------------------------------ database history
@jit_inline
def _bisect_right(a: np.ndarray, lo: int, hi: int, x: float) -> int:
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@jit
def _grow(pool: np.ndarray, used: int, need: int) -> np.ndarray:
    """A larger copy of the history pool holding at least ``need`` more slots."""
    size = pool.size * 2
    while size < used + need:
        size *= 2
    out = np.empty(size, dtype=np.float64)
    out[:used] = pool[:used]
    return out


# ------------------------------------------------------------------ loop
@jit
def run_three_tier(fp: np.ndarray, ip: np.ndarray, gaps: np.ndarray, keys: np.ndarray, writes: np.ndarray,
                   lat_c: np.ndarray, lat_r: np.ndarray, lat_d: np.ndarray, svc_r: np.ndarray, svc_dr: np.ndarray,
                   svc_dw: np.ndarray, cpu: np.ndarray, n_objects: int, st: np.ndarray, out_t: np.ndarray,
                   out_v: np.ndarray, out_kind: np.ndarray, sv_t: np.ndarray, sv_tier: np.ndarray,
                   sv_behind: np.ndarray, sv_age: np.ndarray, sv_dirty: np.ndarray, snap_t: np.ndarray,
                   snap: np.ndarray, counts: np.ndarray) -> int:
    """Run the model until ``fp[P_UNTIL]``; return a status (0, or the stream that ran dry).

    Outputs: ``st`` (counters), finished requests ``out_*`` (time, latency, kind: 0 ok read, 1 ok write,
    2 timed-out read, 3 timed-out write), served reads ``sv_*``, scrapes ``snap_t``/``snap``, and
    ``counts`` = (finished requests, served reads, scrapes, queue entries).
    """
    until = fp[P_UNTIL]
    window = fp[P_WINDOW]
    timeout = fp[P_TIMEOUT]
    ttl = fp[P_TTL]
    local_cost = fp[P_LOCAL_COST]
    has_local = ip[P_HAS_LOCAL] != 0
    local_cap = ip[P_LOCAL_CAP]
    cache_cap = ip[P_CACHE_CAP]
    hist_k = ip[P_HISTORY]
    n_req = keys.size

    # stores: LRU lists, membership, expiry and version of each key
    s = n_objects
    l_prv = np.empty(s + 1, dtype=np.int64)
    l_nxt = np.empty(s + 1, dtype=np.int64)
    l_prv[s] = s
    l_nxt[s] = s
    l_inc = np.zeros(s, dtype=np.bool_)
    l_exp = np.zeros(s, dtype=np.float64)
    l_ver = np.zeros(s, dtype=np.int64)
    r_prv = np.empty(s + 1, dtype=np.int64)
    r_nxt = np.empty(s + 1, dtype=np.int64)
    r_prv[s] = s
    r_nxt[s] = s
    r_inc = np.zeros(s, dtype=np.bool_)
    r_exp = np.zeros(s, dtype=np.float64)
    r_ver = np.zeros(s, dtype=np.int64)
    # database: per key, its versions committed (base + kept) and the kept commit times in a shared pool
    h_cnt = np.zeros(s, dtype=np.int64)
    h_base = np.zeros(s, dtype=np.int64)
    h_off = np.zeros(s, dtype=np.int64)
    h_cap = np.zeros(s, dtype=np.int64)
    pool = np.empty(1024, dtype=np.float64)
    pool_used = 0
    # servers' free times (Lindley's recursion)
    r_free = np.zeros(ip[P_CACHE_WORKERS], dtype=np.float64)
    d_free = np.zeros(ip[P_DB_CONNS], dtype=np.float64)

    # requests
    r_key = np.empty(n_req, dtype=np.int64)
    r_write = np.empty(n_req, dtype=np.bool_)
    r_t0 = np.empty(n_req, dtype=np.float64)
    r_dl = np.empty(n_req, dtype=np.float64)
    r_done = np.zeros(n_req, dtype=np.bool_)
    r_tmo = np.zeros(n_req, dtype=np.bool_)
    r_ev = np.empty(n_req, dtype=np.int64)  # the pending step's seq (-1: none)
    r_sent = np.empty(n_req, dtype=np.float64)
    r_stage = np.empty(n_req, dtype=np.int64)
    r_hit = np.zeros(n_req, dtype=np.bool_)
    r_v = np.zeros(n_req, dtype=np.int64)  # the version the request carries

    # the queue: at most one pending step and one timeout per request, plus the arrival and the scrape
    hcap = 2 * n_req + 8
    ht = np.empty(hcap, dtype=np.float64)
    hs = np.empty(hcap, dtype=np.int64)
    hk = np.empty(hcap, dtype=np.int64)
    hr = np.empty(hcap, dtype=np.int64)

    i_gap = 0
    i_key = 0
    i_c = 0
    i_r = 0
    i_d = 0
    i_sr = 0
    i_sdr = 0
    i_sdw = 0
    i_cpu = 0
    n_out = 0
    n_sv = 0
    n_snap = 0
    seq = 0
    n = 0
    if gaps.size == 0:
        return S_GAPS
    n = _push(ht, hs, hk, hr, n, 0.0 + gaps[0], seq, ARRIVE, -1)
    i_gap = 1
    seq += 1
    n = _push(ht, hs, hk, hr, n, 0.0 + window, seq, SCRAPE, -1)
    seq += 1

    while n > 0:
        now = ht[0]
        if now >= until:
            break  # the stop mark sorts first among entries at ``until``
        tok = hs[0]
        kind = hk[0]
        r = hr[0]
        n = _pop(ht, hs, hk, hr, n)
        # what the request does next, after the event: 0 nothing, 1 call the cache, 2 call the DB, 3 answer
        act = 0
        extra = 0.0
        serve_tier = -1

        if kind == ARRIVE:
            if i_gap >= gaps.size:
                return S_GAPS
            n = _push(ht, hs, hk, hr, n, now + gaps[i_gap], seq, ARRIVE, -1)
            i_gap += 1
            seq += 1
            if i_key >= keys.size:
                return S_KEYS
            if i_c >= lat_c.size:
                return S_LINK_C
            r = i_key
            key = keys[i_key]
            i_key += 1
            st[ISSUED] += 1
            t0 = now - lat_c[i_c]
            i_c += 1
            r_key[r] = key
            r_write[r] = writes[r]
            r_t0[r] = t0
            r_dl[r] = t0 + timeout
            r_ev[r] = -1
            if writes[r]:
                r_stage[r] = WRITE
                act = 2
            else:
                if has_local and _lru_get(l_prv, l_nxt, l_inc, l_exp, st, L_CACHE, key, now):
                    r_v[r] = l_ver[key]
                    serve_tier = 0
                    act = 3
                    extra = local_cost
                else:
                    r_stage[r] = GET
                    act = 1
        elif kind == SCRAPE:
            if n_snap >= snap_t.size:
                return S_SCRAPES
            snap_t[n_snap] = now
            snap[n_snap, :] = st
            n_snap += 1
            n = _push(ht, hs, hk, hr, n, now + window, seq, SCRAPE, -1)
            seq += 1
            continue
        elif kind == TMO:
            if r_done[r]:
                continue
            r_done[r] = True
            r_ev[r] = -1
            st[FINISHED] += 1
            out_t[n_out] = now
            out_v[n_out] = now - r_t0[r]
            out_kind[n_out] = 3 if r_write[r] else 2
            n_out += 1
            continue
        elif kind == R_ARR or kind == D_ARR:
            if tok != r_ev[r]:
                continue  # no longer awaited (timed out)
            key = r_key[r]
            stage = r_stage[r]
            if kind == R_ARR:
                if i_r >= lat_r.size:
                    return S_LINK_R
                back = lat_r[i_r]
                i_r += 1
                f = r_free[0]
                start = f if f > now else now
                if stage == GET:
                    hit = _lru_get(r_prv, r_nxt, r_inc, r_exp, st, R_CACHE, key, start)
                    r_hit[r] = hit
                    if hit:
                        r_v[r] = r_ver[key]
                elif stage == SET:
                    _lru_set(r_prv, r_nxt, r_inc, r_exp, r_ver, st, R_CACHE, cache_cap, key, r_v[r], start + ttl,
                             start)
                else:
                    _lru_delete(r_prv, r_nxt, r_inc, st, R_CACHE, key)
                if i_sr >= svc_r.size:
                    return S_SVC_R
                svc = svc_r[i_sr]
                i_sr += 1
                dep = start + svc
                if r_free.size == 1:
                    r_free[0] = dep
                else:
                    _replace_min(r_free, dep)
                st[R_OPS] += 1
                st[R_BUSY] += svc
                st[R_WAIT] += start - now
                st[R_INFL] += 1
                nxt_kind = R_REP
            else:
                if i_d >= lat_d.size:
                    return S_LINK_D
                back = lat_d[i_d]
                i_d += 1
                f = d_free[0]
                start = f if f > now else now
                if stage == READ:
                    st[D_READS] += 1
                    r_v[r] = h_cnt[key]
                    if i_sdr >= svc_dr.size:
                        return S_SVC_DR
                    svc = svc_dr[i_sdr]
                    i_sdr += 1
                else:
                    # commit at the service start, stamped with it
                    kept = h_cnt[key] - h_base[key]
                    if kept == h_cap[key]:
                        newcap = 8 if h_cap[key] == 0 else 2 * h_cap[key]
                        if pool_used + newcap > pool.size:
                            pool = _grow(pool, pool_used, newcap)
                        pool[pool_used:pool_used + kept] = pool[h_off[key]:h_off[key] + kept]
                        h_off[key] = pool_used
                        h_cap[key] = newcap
                        pool_used += newcap
                    o = h_off[key]
                    pool[o + kept] = start
                    h_cnt[key] += 1
                    kept += 1
                    st[D_WRITES] += 1
                    if kept > 2 * hist_k and pool[o + hist_k - 1] <= now:
                        # Database.commit forgets the oldest hist_k versions
                        pool[o:o + kept - hist_k] = pool[o + hist_k:o + kept].copy()
                        h_base[key] += hist_k
                    if i_sdw >= svc_dw.size:
                        return S_SVC_DW
                    svc = svc_dw[i_sdw]
                    i_sdw += 1
                dep = start + svc
                if d_free.size == 1:
                    d_free[0] = dep
                else:
                    _replace_min(d_free, dep)
                st[D_OPS] += 1
                st[D_BUSY] += svc
                st[D_WAIT] += start - now
                st[D_INFL] += 1
                nxt_kind = D_REP
            # the reply: one step at departure + the network delay back
            t = dep + back
            n = _push(ht, hs, hk, hr, n, t, seq, nxt_kind, r)
            r_ev[r] = seq
            seq += 1
            if not r_tmo[r] and t > r_dl[r]:
                r_tmo[r] = True
                dt = r_dl[r] - now
                n = _push(ht, hs, hk, hr, n, now + (dt if dt > 0.0 else 0.0), seq, TMO, r)
                seq += 1
            continue
        elif kind == R_REP:
            if tok != r_ev[r]:
                if r_done[r]:
                    st[R_INFL] -= 1  # timed out while at the server, which is through with it now
                continue
            st[R_INFL] -= 1
            st[TR_TIME] += now - r_sent[r]
            st[TR_CALLS] += 1
            stage = r_stage[r]
            if stage == GET:
                if r_hit[r]:
                    if has_local:
                        _lru_set(l_prv, l_nxt, l_inc, l_exp, l_ver, st, L_CACHE, local_cap, r_key[r], r_v[r],
                                 now + ttl, now)
                    serve_tier = 1
                    act = 3
                else:
                    r_stage[r] = READ
                    act = 2
            else:
                act = 3
        else:  # D_REP
            if tok != r_ev[r]:
                if r_done[r]:
                    st[D_INFL] -= 1
                continue
            st[D_INFL] -= 1
            st[TD_TIME] += now - r_sent[r]
            st[TD_CALLS] += 1
            if r_stage[r] == READ:
                serve_tier = 2
                if has_local:
                    _lru_set(l_prv, l_nxt, l_inc, l_exp, l_ver, st, L_CACHE, local_cap, r_key[r], r_v[r],
                             now + ttl, now)
                r_stage[r] = SET
            else:
                if has_local:
                    _lru_delete(l_prv, l_nxt, l_inc, st, L_CACHE, r_key[r])
                r_stage[r] = DEL
            act = 1

        if serve_tier >= 0:
            # Database.classify(key, wid, now, version) with the version the tier holds (>= 0)
            key = r_key[r]
            v = r_v[r]
            behind = 0
            age = 0.0
            dirty = False
            cnt = h_cnt[key]
            if cnt > 0:
                base = h_base[key]
                o = h_off[key]
                kept = cnt - base
                if v > base and pool[o + v - base - 1] > now:
                    dirty = True
                else:
                    latest = base + _bisect_right(pool, o, o + kept, now) - o
                    if latest > v:
                        behind = latest - v
                        if v < base:
                            st[TRUNCATED] += 1
                            age = now - pool[o]
                        else:
                            age = now - pool[o + v - base]
            sv_t[n_sv] = now
            sv_tier[n_sv] = serve_tier
            sv_behind[n_sv] = behind
            sv_age[n_sv] = age
            sv_dirty[n_sv] = dirty
            n_sv += 1

        if act == 3:
            # App.done then Client.reply: the app's CPU time, the way back, the deadline
            if i_cpu >= cpu.size:
                return S_CPU
            if i_c >= lat_c.size:
                return S_LINK_C
            t_app = now + cpu[i_cpu] + extra
            i_cpu += 1
            t_end = t_app + lat_c[i_c]
            i_c += 1
            if t_end > r_dl[r]:
                r_ev[r] = -1
                if not r_tmo[r] and r_dl[r] != np.inf:
                    r_tmo[r] = True
                    dt = r_dl[r] - now
                    n = _push(ht, hs, hk, hr, n, now + (dt if dt > 0.0 else 0.0), seq, TMO, r)
                    seq += 1
            else:
                r_done[r] = True
                st[FINISHED] += 1
                out_t[n_out] = t_end
                out_v[n_out] = t_end - r_t0[r]
                out_kind[n_out] = 1 if r_write[r] else 0
                n_out += 1
        elif act != 0:
            # core.call: onto the wire to the cache (1) or the database (2)
            r_sent[r] = now
            if act == 1:
                if i_r >= lat_r.size:
                    return S_LINK_R
                t = now + lat_r[i_r]
                i_r += 1
                nxt_kind = R_ARR
            else:
                if i_d >= lat_d.size:
                    return S_LINK_D
                t = now + lat_d[i_d]
                i_d += 1
                nxt_kind = D_ARR
            n = _push(ht, hs, hk, hr, n, t, seq, nxt_kind, r)
            r_ev[r] = seq
            seq += 1
            if not r_tmo[r] and t > r_dl[r]:
                r_tmo[r] = True
                dt = r_dl[r] - now
                n = _push(ht, hs, hk, hr, n, now + (dt if dt > 0.0 else 0.0), seq, TMO, r)
                seq += 1

    counts[0] = n_out
    counts[1] = n_sv
    counts[2] = n_snap
    counts[3] = seq
    return OK
