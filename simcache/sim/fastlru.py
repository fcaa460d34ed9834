"""Flat versions of :meth:`Cache.get` and :meth:`Cache.set` for the simulation's hot path.

A cache lookup through :class:`~simcache.store.Cache` and the policy protocol
is a chain of five to twelve Python calls (clock, lookup, hooks, eviction
callback...).  For the policy every system model uses by default, plain LRU
with no event listener, these functions do the same bookkeeping in one call:
same entries, same recency order, same evictions, same counters.  Any other
store (another policy, a subclass, an ``on_event`` listener) goes through the
generic methods.  ``tests/sim/test_fastlru.py`` checks the two agree.
"""

from __future__ import annotations

from typing import Any

from simcache.policies.lru import LRU
from simcache.store import Cache, Entry


def flat(store: Cache) -> bool:
    """Whether ``store`` can take the flat path (plain LRU, no event listener, not a Cache subclass)."""
    return type(store) is Cache and type(store.policy) is LRU and store.on_event is None


def lru_get(store: Cache, key: Any, now: float) -> Entry | None:
    """``store.get(key)`` at time ``now``."""
    if store.on_event is not None or type(store.policy) is not LRU or type(store) is not Cache:
        return store.get(key)
    e = store._entries.get(key)
    if e is not None and e.expire_at is not None and e.expire_at <= now:
        store._expire(key)
        e = None
    st = store.stats
    if e is None:
        st.misses += 1
        return None
    store.policy._order.move_to_end(key)
    st.hits += 1
    st.byte_hits += e.size
    return e


def lru_set(store: Cache, key: Any, value: Any, size: int, ttl: float | None, version: int, now: float) -> bool:
    """``store.set(key, value, size, ttl=ttl, version=version)`` at time ``now``; whether the key is stored."""
    entries = store._entries
    pol = store.policy
    if store.on_event is not None or type(pol) is not LRU or type(store) is not Cache or key in entries:
        # an update in place (or another policy): the generic path
        return store.set(key, value, size, ttl=ttl, version=version)
    if ttl is None:
        ttl = store.default_ttl
    expire_at = now + ttl if ttl is not None else None
    st = store.stats
    st.sets += 1
    cap = pol.capacity
    if size > cap or size < 0:
        return False
    sizes = pol.sizes
    order = pol._order
    volatile = store._volatile
    # Policy._evict_until_fits -> LRU._victim -> Policy._drop -> Cache._evicted, flattened
    while pol.used + size > cap and sizes:
        victim = order.popitem(last=False)[0]
        vsize = sizes.pop(victim)
        pol.used -= vsize
        entries.pop(victim, None)
        volatile.pop(victim, None)
        st.evictions += 1
        st.evicted_bytes += vsize
    sizes[key] = size
    pol.used += size
    order[key] = None
    entries[key] = Entry(value, size, expire_at, version)
    if expire_at is None:
        volatile.pop(key, None)
    else:
        volatile[key] = None
    return True
