"""Stampedes: the seed's lock and its four flaws under fixed schedules, and the protections against theory.

Fixed schedules use one-way latencies of 1 ms on every link, Redis commands
that take no service time and a recompute (a database query) of a constant
duration, so every time below is worked out by hand in the comment beside it.
The theory tests compare seeded replications of the ``stampede`` model with
the expectations in :mod:`simcache.sim.stampede`: the exact mean lies inside
the replications' 95 % confidence interval (Student t over replication means).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import pytest
import simpy

from simcache.catalog import get_model
from simcache.errors import UsageError
from simcache.sim.app import App, MessageLost
from simcache.sim.database import Database, DatabaseClient
from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.rpc import RemoteError
from simcache.sim.stampede import (
    CALL_FRAMES,
    MeteredCache,
    StampedeConfig,
    StampedeMeter,
    comparison_figure,
    expected_recomputes_none,
    expected_recomputes_single_flight,
    expected_recomputes_xfetch,
    make_protection,
    timeline_figure,
)
from simcache.sim.world import World

L = 0.001  # one-way latency of every link in the fixed schedules
RTT = 2 * L


class RecordingMeter(StampedeMeter):
    """A meter that also notes when each recompute starts."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.starts: list[float] = []

    def started(self, key: Any) -> None:
        self.starts.append(self.env.now)
        super().started(key)


class Bed:
    """clients - app0..appN-1 - redis/db; every link 1 ms, Redis service 0, recompute ``compute`` seconds."""

    def __init__(self, protection: str = "seed-lock", apps: int = 1, compute: float = 1.0, **config: Any) -> None:
        self.w = w = World(0)
        self.redis = RedisServer(w, "redis", service="const:0", active_expiry=False)
        self.db = Database(w, "db", read_service=f"const:{compute}", write_service="const:0", connections=100)
        self.meter = RecordingMeter(w)
        cfg = StampedeConfig(**config)
        self.apps: list[App] = []
        for i in range(apps):
            name = f"app{i}"
            for other in ("clients", "redis", "db"):
                w.network.add_link(other, name, f"const:{L}")
            rng = w.rng(f"{name}:{protection}")

            def factory(app: App, rng: Any = rng) -> Any:
                cache = MeteredCache(Redis(w, app, self.redis), self.meter)
                return make_protection(protection, cache, DatabaseClient(w, app, self.db), self.meter, cfg, rng=rng)

            self.apps.append(App(w, name, factory, cpu="const:0"))
        self.log: list[tuple[float, float, Any]] = []

    def request(self, t: float, app: int = 0, key: Any = "hot", op: str = "read", value: Any = None) -> int:
        """At ``t``, send one request; its ``(t, t_end, answer or error name)`` goes to ``log[i]`` (returned)."""
        i = len(self.log)
        self.log.append((t, math.nan, None))

        def go() -> Generator[simpy.Event, Any, None]:
            yield self.w.env.timeout(t)
            try:
                answer, _ = yield from self.apps[app].serve("clients", op, key, value)
            except (RemoteError, MessageLost) as err:
                answer = type(err).__name__
            self.log[i] = (t, self.w.env.now, answer)

        self.w.process(go())
        return i

    def at(self, t: float, fn: Any) -> None:
        def go() -> Generator[simpy.Event, Any, None]:
            yield self.w.env.timeout(t)
            fn()

        self.w.process(go())

    def run(self, until: float) -> None:
        self.w.run(until)


def first_after(t0: float, period: float, after: float) -> int:
    """The first k with ``t0 + k * period > after`` (the poll that sees what happened at ``after``)."""
    k = 0
    while t0 + k * period <= after + 1e-9:
        k += 1
    return k


# ====================================================== the seed's lock, line for line
def test_the_seed_lock_makes_one_recompute_and_the_waiters_read_its_value() -> None:
    b = Bed(compute=1.0)
    h = b.request(0.0)
    waiters = [b.request(0.1 + 0.01 * i) for i in range(3)]
    b.run(5)
    # holder: app at 1 ms; GET (miss) at 2 ms, SET NX at 4 ms, the query from 6 ms to 1.006 s, SETEX at 1.008,
    # DEL at 1.010, answer at the client at 1.012
    assert b.log[h][1:] == (pytest.approx(1.012), Value(0, 100))
    assert b.db.reads == 1 and b.meter.recomputes == 1
    assert all(b.log[i][2] == Value(0, 100) for i in waiters)
    assert b"lock:hot" not in b.redis.data and b.redis.data[b"hot"].value == Value(0, 100)
    assert b.redis.get_expire(b"hot") == 1008 + 3600 * 1000  # SETEX hot 3600 at 1.008 s (unix ms)


def test_flaw_b_every_waiter_polls_the_cache_every_100_ms() -> None:
    n = 10
    b = Bed(compute=1.0)
    b.request(0.0)
    waiters = [b.request(0.1 + 0.01 * i) for i in range(n)]
    b.run(5)
    # waiter i's k-th GET runs at 0.102 + 0.01 i + 0.104 k (a GET and a SET NX round trip, then 0.1 s of sleep);
    # the first GET after the SETEX at 1.008 hits.  Before it: k failed rounds of GET + SET NX, k sleeps.
    ks = [first_after(0.102 + 0.01 * i, 0.1 + 2 * RTT, 1.008) for i in range(n)]
    assert ks == [9] * 8 + [8] * 2
    assert b.meter.polls == sum(ks)
    # commands: the holder's GET, SET NX, SETEX, DEL; each waiter's k + 1 GETs and k SET NX
    assert b.redis.commands_done == 4 + sum(2 * k + 1 for k in ks)
    # the waiting load: every command after a waiter's first sleep (k GETs, k - 1 SET NX)
    assert b.meter.waiting_cache_calls == sum(2 * k - 1 for k in ks)
    # about 2 commands per waiter per 104 ms of waiting: 10 waiters over ~0.9 s
    assert b.meter.waiting_cache_calls == pytest.approx(2 * n * 0.9 / 0.104, rel=0.05)
    for i, k in zip(waiters, ks, strict=True):
        t, end, answer = b.log[i]
        assert answer == Value(0, 100)
        assert end - t == pytest.approx(0.004 + 0.104 * k)  # hop, GET, hop back: 4 ms, after k rounds


def test_flaw_a_the_finally_deletes_another_holders_lock_so_two_computes_run_at_once() -> None:
    b = Bed(compute=45.0, ttl=5)
    b.request(0.0)  # H: lock at 0.004 (EX 30), computes until 45.006, SETEX at 45.008, DEL at 45.010
    b.request(31.0)  # B: H's lock expired at 30.005; B's SET NX at 31.004 takes it (until 61.004), computes
    b.request(51.0)  # C: H's value (TTL 5 s) expired at 50.009; B's lock would hold until 61.004...
    locks: dict[float, bool] = {}
    for t in (31.005, 45.009, 45.011):
        b.at(t, lambda t=t: locks.__setitem__(t, b"lock:hot" in b.redis.data))
    b.run(100)
    starts = b.meter.starts
    assert locks == {31.005: True, 45.009: True, 45.011: False}  # H's finally deleted B's lock at 45.010
    # ...so C's SET NX at 51.004 succeeds and C computes while B still does (B until 76.006)
    assert starts == [pytest.approx(0.005), pytest.approx(31.005), pytest.approx(51.005)]
    assert b.meter.overlapping == 2  # B beside H (the lock expired), C beside B (the lock was deleted)
    assert b.db.reads == 3


def test_a_lock_released_only_by_its_token_keeps_the_second_holders_lock() -> None:
    # the same schedule with single-flight across processes (a token lock of 30 s, compare-and-delete release),
    # each request on an app of its own
    b = Bed("single-flight", apps=3, compute=45.0, ttl=5, scope="global", lock_ttl=30, poll=0.1)
    b.request(0.0, app=0)
    b.request(31.0, app=1)
    b.request(51.0, app=2)
    b.run(100)
    starts = b.meter.starts
    # C's SET NX fails while B's lock lives (taken at 31.004 for 30 s); C polls (a SET NX, 0.1 s of sleep, a
    # GET: 0.104 s a round) and takes the lock only once it has expired, at its first SET NX after 61.004
    k = first_after(51.004, 0.1 + 2 * RTT, 61.004)
    assert starts[:2] == [pytest.approx(0.005), pytest.approx(31.005)]
    assert starts[2] == pytest.approx(51.004 + 0.104 * k + L)


def run_recursion(limit: int) -> tuple[Bed, list[int]]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        b = Bed(compute=200.0, ttl=10)
        b.request(0.0)
        waiters = [b.request(0.1 + 0.01 * i) for i in range(5)]
        b.run(300)
    finally:
        sys.setrecursionlimit(old)
    return b, waiters


def test_flaw_c_the_retry_recursion_reaches_the_recursion_limit_and_the_request_fails_with_an_error() -> None:
    b, waiters = run_recursion(1000)
    # computes of 200 s, a lock of 30 s: at 30, 60 and 90 s a waiter takes the expired lock (and stops waiting);
    # the two left keep recursing, one frame per 104 ms, until the recursion limit stops them
    failed = [i for i in waiters if b.log[i][2] == "RecursionDepthError"]
    assert len(failed) == 2
    assert b.meter.recomputes == 4 and b.db.reads == 4
    polls = {n for _, n in b.meter.recursion_errors}
    assert len(polls) == 1  # both at the same depth
    (n,) = polls
    # the stack: the frames below the first get_or_compute, one more per poll, and a cache call's frames on top
    assert 900 < n + CALL_FRAMES < 1000
    for i in failed:
        t, end, _ = b.log[i]
        # the hop to the app, n rounds (GET, SET NX, sleep), the next GET refused at the call, the hop back
        assert end - t == pytest.approx(L + 0.104 * n + L)


def test_flaw_c_each_100_ms_of_waiting_costs_one_frame() -> None:
    b1, _ = run_recursion(1000)
    b2, _ = run_recursion(900)
    (n1,) = {n for _, n in b1.meter.recursion_errors}
    (n2,) = {n for _, n in b2.meter.recursion_errors}
    assert n1 - n2 == 100
    # with 100 fewer frames the error comes 100 polls (10.4 s) sooner; only two takeovers (30 s, 60 s) by then
    assert len(b2.meter.recursion_errors) == 3


def test_flaw_d_a_crashed_holder_leaves_every_waiter_polling_until_the_lock_expires() -> None:
    b = Bed(apps=2, compute=5.0, ttl=10)
    h = b.request(0.0, app=0)  # H takes the lock at 0.004 (EX 30) and computes
    waiters = [b.request(0.1 + 0.01 * i, app=1) for i in range(3)]
    b.at(1.0, b.apps[0].crash)  # H's app dies: its finally never runs, the lock stays
    b.run(60)
    assert b.log[h][2] == "ConnectionError"  # the client's connection was reset
    # the lock expires at 30.005 (SET at 4 ms, EX 30, whole milliseconds); waiter i's SET NX runs at
    # 0.104 + 0.01 i + 0.104 k: the first of them after 30.005 takes it and computes 5 s
    sets = [0.104 + 0.01 * i + 0.104 * first_after(0.104 + 0.01 * i, 0.104, 30.0045) for i in range(3)]
    j = int(np.argmin(sets))
    taker = waiters[j]
    fill = sets[j] + L + RTT + 5.0 + L  # the query's round trip, then SETEX
    assert b.log[taker][1] == pytest.approx(fill + 2 * RTT)  # SETEX's reply, DEL, then back to the client
    for i, w in enumerate(waiters):
        t, end, answer = b.log[w]
        assert answer == Value(0, 100)
        assert end - t > 30.0 - 0.2  # nobody got a value before the lock expired
        if w != taker:
            k = first_after(0.102 + 0.01 * i, 0.104, fill)
            assert end == pytest.approx(0.102 + 0.01 * i + 0.104 * k + RTT)
    assert b.db.reads == 2  # H's query (lost with H) and the taker's


def test_with_leases_a_crashed_holder_blocks_the_key_only_for_the_lease_time() -> None:
    b = Bed("lease", apps=2, compute=5.0, ttl=60, lease_ttl=10, poll=0.1)
    b.request(0.0, app=0)  # a token at 2 ms (lease 10 s)
    waiters = [b.request(0.1 + 0.01 * i, app=1) for i in range(3)]
    b.at(1.0, b.apps[0].crash)
    b.run(60)
    ends = [b.log[w][1] for w in waiters]
    assert all(b.log[w][2] == Value(0, 100) for w in waiters)
    # the lease expired at 10.003; the first lease-get after it gets the token and recomputes 5 s
    assert 15.0 < min(ends) < 15.3 and max(ends) < 15.5
    assert b.db.reads == 2


@pytest.mark.parametrize("stale", [False, True])
def test_leases_issue_at_most_one_token_per_key_per_lease_time(stale: bool) -> None:
    b = Bed("lease", compute=0.1, ttl=1, lease_ttl=10, poll=0.1, lease_stale=stale)
    b.request(0.0)  # a token at 2 ms (its lease key expires after 10.002); the value is set at 0.108, TTL 1 s
    r = b.request(2.0)  # the value has expired, but a token was issued less than 10 s ago: a hot miss
    b.run(15)
    t, end, answer = b.log[r]
    if stale:
        assert (end, answer) == (pytest.approx(2.004), Value(0, 100))  # the stale copy, at once
        return
    # lease-gets at 2.002 + 0.102 k until one runs after 10.002; it gets a token and recomputes:
    # reply, the query's round trip (0.102 s), the lease-set, its reply, the hop to the client
    k = first_after(2.002, 0.1 + RTT, 10.0025)
    assert (end, answer) == (pytest.approx(2.002 + 0.102 * k + L + 0.102 + RTT + L), Value(0, 100))
    assert b.meter.polls == k and b.db.reads == 2


def test_a_delete_invalidates_the_lease_token_so_the_old_recompute_is_not_cached() -> None:
    b = Bed("lease", compute=1.0, ttl=60)
    r = b.request(0.0)  # token at 2 ms; the query reads version 0 until 1.006
    w = b.request(0.5, op="write", value=Value(b.w.new_write_id(), 100))  # commits, then lease-delete
    b.run(5)
    assert b.log[r][2] == Value(0, 100) and b.log[w][2] is None
    strategy = b.apps[0].strategy
    assert strategy.refused_sets == 1  # the lease-set at 1.008 found no token
    assert b"hot" not in b.redis.data  # the version read before the write is not cached


# ====================================================== theory
@pytest.fixture(scope="module")
def stampede_model() -> Iterator[Any]:
    spec = get_model("stampede")
    yield spec, sys.modules[spec.source]


def replicate(stampede_model: Any, seeds: range, **params: Any) -> tuple[float, float, Any]:
    """Mean recomputes per expiry over replications, the 95 % half-width (Student t), and the model's theory."""
    from scipy import stats

    spec, mod = stampede_model
    p = spec.make_params(params)
    means = []
    for s in seeds:
        system = mod.build(p, s)
        mod.simulate_system(system, p.duration, [], False)
        means.append(float(np.mean(system.parts["meter"].counts())))
    a = np.asarray(means)
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return float(a.mean()), half, mod.theory(p)


# the model's latencies: cache link 0.5 ms, database link 0.5 ms, Redis service 20 us; from the first miss's
# lookup at Redis to its fill there: reply 0.52 ms, query 0.1 s + 1 ms, fill 0.5 ms
W = 0.1 + 0.00002 + 0.002


def test_without_protection_an_expiry_costs_one_plus_r_w_recomputes(stampede_model: Any) -> None:
    mean, half, th = replicate(stampede_model, range(8), protection="none", rate=200, ttl=0.5, duration=15)
    assert th["recomputes_per_expiry"] == pytest.approx(expected_recomputes_none(200, W)) == 1 + 200 * W
    assert abs(mean - (1 + 200 * W)) < half


@pytest.mark.parametrize("processes, rate", [(4, 40), (8, 40)])
def test_single_flight_per_process_costs_one_recompute_per_process_that_sees_a_request(
        stampede_model: Any, processes: int, rate: float) -> None:
    mean, half, th = replicate(stampede_model, range(8), protection="single-flight", rate=rate, ttl=0.5,
                               duration=30, processes=processes)
    expected = 1 + (processes - 1) * (1 - math.exp(-rate * W / processes))
    assert expected_recomputes_single_flight(rate, W, processes) == pytest.approx(expected)
    assert th["recomputes_per_expiry"] == pytest.approx(expected)
    assert abs(mean - expected) < half


def test_xfetch_exact_expectation_is_about_e_to_the_one_over_beta() -> None:
    # w / delta_measured = 1.0101 and the rest is the truncation at the fill: "about" is within 2 % here
    for beta, rate, ttl in ((1.0, 200, 1.0), (2.0, 100, 2.0)):
        exact = expected_recomputes_xfetch(rate, 0.101, beta, W, 0.00052, ttl)
        assert exact == pytest.approx(math.exp(1 / beta), rel=0.02)
        assert exact == pytest.approx(math.exp(W / (beta * 0.101)), rel=1e-3)
    # with r * beta * delta >> 1, the quadrature gives the asymptote; with r * beta * delta small, fewer
    assert expected_recomputes_xfetch(1e5, 0.1, 1.0) == pytest.approx(math.e, rel=1e-4)
    assert expected_recomputes_xfetch(2.0, 0.1, 1.0) < math.e - 0.3


@pytest.mark.parametrize("beta, rate, ttl, duration", [(1.0, 200, 1.0, 15), (2.0, 100, 2.0, 25)])
def test_xfetch_recomputes_per_expiry_match_theory(stampede_model: Any, beta: float, rate: float, ttl: float,
                                                   duration: float) -> None:
    # r * beta * delta = 20 in both sets; the first recompute comes ~beta*delta*ln(20) before the expiry
    mean, half, th = replicate(stampede_model, range(16), protection="xfetch", rate=rate, ttl=ttl,
                               duration=duration, beta=beta)
    assert th["recomputes_per_expiry"] == pytest.approx(math.exp(1 / beta), rel=0.02)
    assert abs(mean - th["recomputes_per_expiry"]) < half
    assert abs(mean - 1) > 2 * half  # and XFetch does recompute more than once per expiry


@pytest.mark.slow
def test_xfetch_with_a_small_beta_matches_theory_over_many_replications(stampede_model: Any) -> None:
    mean, half, th = replicate(stampede_model, range(20), protection="xfetch", rate=1000, ttl=0.6, duration=10,
                               beta=0.5)
    assert th["recomputes_per_expiry"] == pytest.approx(math.exp(2), rel=0.03)
    assert abs(mean - th["recomputes_per_expiry"]) < half


def test_leases_cut_the_peak_database_load_by_more_than_ten_times(stampede_model: Any) -> None:
    spec, mod = stampede_model
    # one token per key per second (the lease time), a TTL of 2 s
    common = dict(rate=1000, ttl=2, duration=10, window=0.5, recompute="const:0.1", lease_ttl=1)
    none = mod.simulate(spec.make_params(dict(common, protection="none")), 1, timeseries=False).summary
    lease = mod.simulate(spec.make_params(dict(common, protection="lease")), 1, timeseries=False).summary
    assert none["db_peak_rps"] >= 10 * lease["db_peak_rps"]
    assert lease["recomputes_per_expiry"]["mean"] == 1.0 and lease["recomputes_per_expiry"]["expiries"] >= 4
    assert lease["wait_polls"] > 0 and lease["errors"] == {}


def test_ttl_jitter_spreads_keys_filled_together(stampede_model: Any) -> None:
    spec, mod = stampede_model
    common = dict(rate=500, keys=50, ttl=5, duration=21, window=0.5)
    none = mod.simulate(spec.make_params(dict(common, protection="none")), 1, timeseries=False).summary
    jit = mod.simulate(spec.make_params(dict(common, protection="jitter", jitter=0.3)), 1, timeseries=False).summary
    # without jitter the 50 keys expire in the same window, 4 times; with it, over jitter * ttl = 1.5 s (three
    # windows) at the first expiry, and further apart at each later one
    assert none["db_peak_rps"] > 2 * jit["db_peak_rps"]


def test_stale_while_revalidate_refreshes_once_and_no_request_waits(stampede_model: Any) -> None:
    spec, mod = stampede_model
    s = mod.simulate(spec.make_params(dict(protection="swr", rate=1000, ttl=2, duration=10, processes=4)), 1,
                     timeseries=False).summary
    assert s["recomputes_per_expiry"]["mean"] == 1.0 and s["recomputes_per_expiry"]["expiries"] >= 4
    assert s["latency_ms"]["max"] < 10  # requests never wait for the 100 ms recompute


def test_a_recursion_error_in_a_model_run_is_a_request_error_not_a_crash(stampede_model: Any) -> None:
    spec, mod = stampede_model
    # a recompute of 100 s; with the recursion limit at 350 a waiter runs out of frames after ~25 s of polling,
    # before the lock expires (30 s)
    p = spec.make_params(dict(protection="seed-lock", rate=0.5, ttl=10, duration=40, recompute="const:100",
                              prefill=False))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(350)
    try:
        s = mod.simulate(p, 1, timeseries=False).summary
    finally:
        sys.setrecursionlimit(old)
    assert s["errors"]["RecursionDepthError"] >= 5
    assert s["recursion_errors"]["count"] == s["errors"]["RecursionDepthError"]
    assert 10 < s["recursion_errors"]["first_after_s"] < 30


def test_the_model_takes_a_fault_schedule_and_a_crashed_holder_stalls_the_key(stampede_model: Any) -> None:
    spec, mod = stampede_model
    p = spec.make_params(dict(protection="seed-lock", rate=50, ttl=5, duration=8, prefill=False))
    # the first request (at ~20 ms) takes the lock and recomputes for 0.1 s; the app crashes at 0.05 (its
    # requests are reset) and is back at 1.05, but the lock stays until ~30 s: no value all run long
    s = mod.simulate(p, 1, faults=["crash:app@0.05+1"], timeseries=False).summary
    assert s["faults"] == [{"kind": "crash", "target": "app", "at": 0.05, "duration": 1.0}]
    assert s["errors"]["ConnectionError"] > 0
    assert s["recomputes"] == 1 and s["recomputes_per_expiry"]["expiries"] == 0
    assert s["outcomes"]["ok"] == 0 and s["wait_polls"] > 1000


@pytest.mark.parametrize("params, needle", [
    ({"protection": "locks"}, "protection must be one of"),
    ({"beta": 0}, "beta must be"),
    ({"keys": 0}, "keys must be an integer >= 1"),
    ({"recompute": "gauss:1"}, "recompute:"),
    ({"protection": "seed-lock", "ttl": 2.5}, "ttl must be whole seconds"),
    ({"jitter": 1.5}, "jitter must be a fraction"),
    ({"scope": "cluster"}, "scope must be one of"),
    ({"rate": -1}, "rate must be a number > 0"),
])
def test_bad_parameters_give_one_line_naming_the_field(stampede_model: Any, params: dict[str, Any],
                                                       needle: str) -> None:
    spec, _ = stampede_model
    with pytest.raises(UsageError) as err:
        spec.make_params(params)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_figures(stampede_model: Any, tmp_path: Any) -> None:
    spec, mod = stampede_model
    results = {prot: mod.simulate(spec.make_params(dict(protection=prot, rate=200, ttl=2, duration=5)), 1)
               for prot in ("none", "lease")}
    timeline_figure(results["none"], tmp_path / "timeline")
    comparison_figure({k: r.summary for k, r in results.items()}, tmp_path / "comparison")
    assert (tmp_path / "timeline.png").stat().st_size > 0 and (tmp_path / "comparison.svg").stat().st_size > 0
