"""The hot-path shortcuts agree with the generic code: flat LRU store calls, bounded database history, batched counts."""

from __future__ import annotations

import tracemalloc
from bisect import bisect_right

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simcache.sim.database import Database
from simcache.sim.fastlru import lru_get, lru_set
from simcache.sim.metrics import Recorder
from simcache.sim.network import Network
from simcache.sim.world import World
from simcache.store import Cache

OPS = st.lists(st.tuples(st.sampled_from(["get", "set", "del"]), st.integers(0, 12), st.integers(1, 4),
                         st.sampled_from([None, 0.5, 2.0]), st.floats(0.0, 0.4)), max_size=200)


def snapshot(c: Cache) -> tuple:
    entries = [(k, e.value, e.size, e.expire_at, e.version) for k, e in c._entries.items()]
    return (list(c.policy._order), sorted(entries, key=repr), c.policy.used, sorted(c._volatile, key=repr),
            c.stats.as_dict())


@settings(max_examples=150, deadline=None)
@given(ops=OPS, capacity=st.integers(1, 9), default_ttl=st.sampled_from([None, 1.0]))
def test_flat_lru_calls_equal_the_generic_store(ops: list, capacity: int, default_ttl: float | None) -> None:
    now = [0.0]
    generic = Cache("lru", capacity, clock=lambda: now[0], default_ttl=default_ttl)
    flat = Cache("lru", capacity, clock=lambda: now[0], default_ttl=default_ttl)
    for i, (op, key, size, ttl, dt) in enumerate(ops):
        now[0] += dt
        if op == "get":
            a, b = generic.get(key), lru_get(flat, key, now[0])
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert (a.value, a.version, a.expire_at) == (b.value, b.version, b.expire_at)
        elif op == "set":
            assert generic.set(key, i, size, ttl=ttl, version=i) == lru_set(flat, key, i, size, ttl, i, now[0])
        else:
            assert generic.delete(key) == flat.delete(key)
        assert snapshot(generic) == snapshot(flat)


def test_flat_calls_leave_other_policies_to_the_store() -> None:
    now = 0.0
    c = Cache("fifo", 2, clock=lambda: now)
    for k in range(3):
        lru_set(c, k, k, 1, None, 0, now)
    assert lru_get(c, 0, now) is None and lru_get(c, 2, now) is not None
    assert c.stats.evictions == 1 and c.stats.hits == 1 and c.stats.misses == 1


class Reference:
    """Every commit time of every key, kept forever (the unbounded definition of staleness)."""

    def __init__(self) -> None:
        self.times: dict[int, list[float]] = {}
        self.version_of: dict[int, int] = {}

    def commit(self, key: int, wid: int, t: float) -> None:
        self.times.setdefault(key, []).append(t)
        self.version_of[wid] = len(self.times[key])

    def classify(self, key: int, wid: int, now: float) -> tuple[int, float, bool]:
        hist = self.times.get(key, [])
        if wid and wid not in self.version_of:
            return 0, 0.0, True
        v = self.version_of.get(wid, 0)
        if v and hist[v - 1] > now:
            return 0, 0.0, True
        latest = bisect_right(hist, now)
        return (0, 0.0, False) if latest <= v else (latest - v, now - hist[v], False)


def db_world(history: int) -> tuple[World, Database]:
    world = World(0)
    Network(world).add_node("db")
    return world, Database(world, "db", "db", history=history)


@pytest.mark.parametrize("history", [2, 5, 1000])
def test_bounded_history_is_exact_within_its_window_and_a_lower_bound_beyond(history: int) -> None:
    rng = np.random.default_rng(history)
    world, db = db_world(history)
    ref = Reference()
    wids: dict[int, list[int]] = {k: [0] for k in range(4)}
    t = 0.0
    for i in range(1, 3000):
        t += float(rng.exponential(0.01))
        world.env._now = t  # the database reads the clock only to know what is committed already
        key = int(rng.integers(4))
        if rng.random() < 0.5:
            # commits may be stamped a little in the future (a queued write), never out of order
            db.commit(key, i, t + 0.005)
            ref.commit(key, i, t + 0.005)
            wids[key].append(i)
            continue
        pick = wids[key][int(rng.integers(len(wids[key])))] if rng.random() < 0.7 else wids[key][-1]
        v = ref.version_of.get(pick, 0)
        if rng.random() < 0.05:
            pick, v = 10**9 + i, -1  # a value a cache took before the database committed it (never, here)
        want = ref.classify(key, pick, t)
        base = db.history[key].base if key in db.history else 0
        # as the strategies call it: the tier knows the version it holds
        got = db.classify(key, pick, t, v)
        if 0 <= v < base:
            # the first newer version is forgotten: the count is exact, the age a lower bound
            assert got[0] == want[0] and not got[2] and got[1] <= want[1] + 1e-12
        else:
            assert got == want
        if v < 0:
            continue
        # by value id alone
        got = db.classify(key, pick, t)
        if v > base or base == 0:
            assert got == want
        else:
            assert not got[2] and 1 <= got[0] <= want[0] and got[1] <= want[1] + 1e-12
        assert db.version(key) == bisect_right(ref.times.get(key, []), t)
        assert db.read_value(key)[1] == len(ref.times.get(key, []))
    if history == 1000:
        assert db.truncated_reads == 0


def test_database_memory_stays_flat_over_a_long_write_heavy_run() -> None:
    world, db = db_world(history=64)
    keys = 50
    tracemalloc.start()
    try:
        def write(n: int, start: int) -> None:
            for i in range(start, start + n):
                world.env._now = i * 1e-4
                db.commit(i % keys, i + 1, world.env._now)

        write(20_000, 0)
        before = tracemalloc.get_traced_memory()[0]
        write(200_000, 20_000)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # the kept window breathes between 64 and 128 versions per key (< 0.4 MB for 50 keys); an unbounded
    # history would hold 200,000 more commit times and value ids (> 6 MB)
    assert after - before < 1_000_000, after - before
    assert db.writes == 220_000
    assert all(db.version(k) == 220_000 // keys for k in range(keys))


def test_batched_ok_and_served_counts_equal_immediate_counts() -> None:
    rec = Recorder(window=0.5, warmup=1.0)
    rng = np.random.default_rng(5)
    ts = np.sort(rng.uniform(0, 10, 3000))
    for i, t in enumerate(ts):
        rec.request(float(t), 0.002, "ok", "read" if i % 3 else "write")
        rec.read_served(float(t), "redis" if i % 2 else "db", 0, 0.0, False)
        if i == 1500:
            # a read of the totals in the middle of a batch sees everything so far
            assert rec.total("client", "ok") == int((ts[: i + 1] >= 1.0).sum())
    kept = ts >= 1.0
    assert rec.total("client", "ok") == kept.sum()
    assert rec.total("client", "write_ok") == sum(1 for i in range(3000) if kept[i] and i % 3 == 0)
    assert rec.total("redis", "reads_served") == sum(1 for i in range(3000) if kept[i] and i % 2)
    df = rec.timeseries()
    per_w = df[(df.component == "db") & (df.metric == "reads_served")].set_index("time").value
    want = [sum(1 for i in range(3000) if kept[i] and i % 2 == 0 and w <= ts[i] < w + 0.5) for w in (2.0, 7.5)]
    assert [per_w[2.0], per_w[7.5]] == want


def mixed_schedule(world_like: object, bare: bool) -> list[tuple[float, str]]:
    """Schedule ties, nested scheduling and a process; with ``bare`` as bare calls, Steps and events, else as
    SimPy timeouts only (the reference order)."""
    import simpy

    from simcache.sim.world import World

    seen: list[tuple[float, str]] = []
    if bare:
        assert isinstance(world_like, World)
        env = world_like.env
    else:
        assert isinstance(world_like, simpy.Environment)
        env = world_like
    from heapq import heappush

    def log(label: str) -> None:
        seen.append((env.now, label))

    def add(delay: float, label: str, kind: int) -> None:
        def then() -> None:
            log(label)
            if label.startswith("n") and "+" not in label:  # more at the same instant and later, from a callback
                add(0.0, label + "+0", (kind + 1) % 3)
                add(0.25, label + "+q", (kind + 2) % 3)

        if not bare or kind == 0:
            ev = simpy.Timeout(env, delay)
            ev.callbacks.append(lambda _e: then())
        elif kind == 1:
            world_like.at(delay, lambda _s: then())  # type: ignore[attr-defined]
        else:
            heappush(env._queue, (env._now + delay, 1, next(env._eid), lambda _a, _t: then(), None))

    def proc(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for i in range(4):
            yield env.timeout(0.5)
            log(f"p{i}")

    env.process(proc(env))
    for i, d in enumerate([0.5, 0.5, 1.0, 0.25, 1.5, 2.0, 2.0, 0.0, 1.0]):
        add(d, ("n" if i % 3 == 0 else "x") + str(i), i % 3)
    return seen


def test_bare_calls_interleave_with_simpy_events_exactly_as_events() -> None:
    import simpy

    from simcache.sim.world import World

    ref_env = simpy.Environment()
    ref = mixed_schedule(ref_env, bare=False)
    ref_env.run(until=2.0)
    w = World(0, window=10.0)
    got = mixed_schedule(w, bare=True)
    w.run(2.0)
    assert got == ref
    assert w.env.now == 2.0 and ref_env.now == 2.0
    assert all(t < 2.0 for t, _ in got)  # entries at exactly `until` wait for the next run, as in SimPy
    assert len(got) >= 12
    # SimPy's own run loop handles bare calls too (SimEnv.step)
    w2 = World(0)
    got2 = mixed_schedule(w2, bare=True)
    w2.env.run(until=2.0)
    assert got2 == ref


@pytest.mark.parametrize("dist", ["exp:0.3", "lognormal:0.001,0.5", "const:0.002", "uniform:1,1", "uniform:1,3"])
def test_buffered_draws_equal_the_sampler(dist: str) -> None:
    from simcache.sim.dists import Dist

    d = Dist.parse(dist)
    s = d.sampler(np.random.default_rng(3), batch=64)
    b = d.buffered(np.random.default_rng(3), batch=64)
    got = []
    for i in range(300):
        if i % 2:
            got.append(b())
        else:  # how hot loops use it
            got.append(b.buf.pop() if b.buf else b.refill())
    assert got == [s() for _ in range(300)]
