"""The seed's RateLimiter run as written, its flaws counted under hand-built schedules, and the limiters beside it.

Links are 1 ms one way and Redis serves in 0 s.  Request times are multiples of 1/16 s where a boundary
matters, so every ``clock.time()`` (1.7e9 + t) and every ``now - window`` is exact in binary floating point.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from simcache.catalog import run_model
from simcache.errors import UsageError
from simcache.sim import faults
from simcache.sim.locks import Host
from simcache.sim.ratelimit import (
    GCRA_LUA,
    SLIDING_COUNTER_LUA,
    SLIDING_LOG_LUA,
    CoarseClock,
    FixedWindowLeaky,
    WorkerDied,
    exact_decisions,
    false_rejects,
    make_limiter,
    max_in_any_window,
    rate_limit_comparison_figure,
    rate_limit_figure,
    trailing_counts,
)
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.world import World
from tests.sim.redis.conftest import real_redis, reset_real  # noqa: F401 (the fixture is used by name)

Gen = Generator[simpy.Event, Any, Any]


class Rig:
    """Clients (each a host with its own clock) in front of one Redis; :meth:`offer` records each decision."""

    def __init__(self, kind: str, limit: int, window: float = 1.0, clients: int = 1,
                 offsets: tuple[float, ...] = (), resolution: float = 0.0, **options: Any) -> None:
        self.w = w = World(0)
        self.srv = RedisServer(w, "redis", service="const:0", active_expiry=False)
        self.hosts: list[Host] = []
        self.limiters: list[Any] = []
        self.window = window
        self.decisions: list[tuple[float, int, bool]] = []
        for i in range(clients):
            off = offsets[i] if i < len(offsets) else 0.0
            h = Host(w, f"c{i}", clock=CoarseClock(w.env, resolution, offset=off))
            w.network.add_link(h.node, "redis", "const:0.001")
            self.hosts.append(h)
            self.limiters.append(make_limiter(kind, Redis(w, h, self.srv), limit, window, h.clock, name=h.name,
                                              **options))

    def offer(self, t: float, client: int = 0, key: str = "user") -> None:
        """At true time ``t``, client ``client`` asks whether a request for ``key`` may pass."""

        def ask() -> Gen:
            try:
                ok = yield from self.limiters[client].is_allowed(key)
            except WorkerDied:
                return
            self.decisions.append((t, client, ok))

        def arrive() -> Gen:
            yield self.w.env.timeout(t)
            self.hosts[client].spawn(ask())  # the request runs on the client: it dies if the client crashes

        self.w.process(arrive())

    def run(self, until: float) -> tuple[list[float], list[float]]:
        """Run; the invocation times of the accepted and of the rejected requests."""
        self.w.run(until)
        acc = sorted(t for t, _, ok in self.decisions if ok)
        rej = sorted(t for t, _, ok in self.decisions if not ok)
        return acc, rej


def even(per_window: int, windows: int, window: float = 1.0, start: float = 0.0) -> list[float]:
    """``per_window`` evenly spaced request times per window, for ``windows`` windows."""
    d = window / per_window
    return [start + i * d for i in range(per_window * windows)]


# ------------------------------------------------------------------ the seed
def test_the_seed_logs_every_request_in_one_multi_exec_pipeline() -> None:
    rig = Rig("seed", limit=2)
    for t in (0.0, 0.25, 0.5):
        rig.offer(t)
    acc, rej = rig.run(2)
    assert (acc, rej) == ([0.0, 0.25], [0.5])
    # the rejected request is in the log too
    assert rig.srv.dispatch((b"ZRANGE", b"user", b"0", b"-1")) == [b"1700000000.0", b"1700000000.25",
                                                                   b"1700000000.5"]
    # MULTI, ZREMRANGEBYSCORE, ZADD, ZCOUNT, EXPIRE, EXEC per request; EXPIRE window + 1 from the last, at 0.501
    assert rig.srv.commands_done == 3 * 6
    assert rig.srv.expires.get(b"user") == 501 + 2000


@pytest.mark.parametrize(("kind", "accepted"), [
    # the seed: the first L of the first window, then the log (rejects included) holds 2L > L entries forever
    ("seed", 4),
    # an exact sliding log, a fixed window and the sliding counter: L per window
    ("sliding-log", 40), ("fixed-window", 40), ("sliding-counter", 40),
    # GCRA with burst L: 7 in the first window (the burst of 4 plus 3 refilled), then one per 0.25 s
    ("token-bucket", 43),
])
def test_a_client_offering_2l_per_window_is_starved_by_the_seed(kind: str, accepted: int) -> None:
    limit, windows = 4, 10
    rig = Rig(kind, limit)
    times = even(2 * limit, windows)  # every 0.125 s for 10 s: 80 requests
    for t in times:
        rig.offer(t)
    acc, rej = rig.run(windows + 1)
    assert len(acc) == accepted and len(acc) + len(rej) == 80
    if kind == "seed":
        assert acc == [0.0, 0.125, 0.25, 0.375]
        # every rejection from t = 1 on came with fewer than L let through in the trailing second: 72 of 76
        assert false_rejects(acc, rej, limit, 1.0) == 72
    if kind in ("sliding-log", "fixed-window"):
        assert false_rejects(acc, rej, limit, 1.0) == 0
    assert max_in_any_window(acc, 1.0) == (7 if kind == "token-bucket" else 4)
    # an exact sliding log on the same arrivals: L per window
    assert int(exact_decisions(times, limit, 1.0).sum()) == 40


def test_two_requests_with_the_same_timestamp_share_one_member() -> None:
    rig = Rig("seed", limit=1, clients=2)
    rig.offer(0.0, 0)
    rig.offer(0.0, 1)  # the same instant, the same clock reading: the same member
    acc, rej = rig.run(1)
    assert (acc, rej) == ([0.0, 0.0], [])  # both counted 1 <= 1: two let through with a limit of one
    assert rig.srv.dispatch((b"ZCARD", b"user")) == 1


def test_a_coarse_clock_makes_distinct_requests_share_a_timestamp() -> None:
    # a 1/64 s clock: requests 5 ms apart read the same time
    rig = Rig("seed", limit=2, resolution=1 / 64)
    for t in (0.0, 0.005, 0.01):
        rig.offer(t)
    acc, _ = rig.run(1)
    assert acc == [0.0, 0.005, 0.01]  # three through a limit of two: the log holds one member
    fixed = Rig("sliding-log", limit=2, resolution=1 / 64)
    for t in (0.0, 0.005, 0.01):
        fixed.offer(t)
    acc, rej = fixed.run(1)
    assert (acc, rej) == ([0.0, 0.005], [0.01])  # unique members count every request


def test_a_client_whose_clock_is_ahead_trims_the_others_entries() -> None:
    # c1's clock is 1 s ahead: at 0.5 it trims everything before its 0.5 s ago, i.e. c0's two entries
    rig = Rig("seed", limit=2, clients=2, offsets=(0.0, 1.0))
    for t, c in ((0.0, 0), (0.25, 0), (0.5, 1), (0.6, 1), (0.7, 0)):
        rig.offer(t, c)
    acc, rej = rig.run(2)
    assert (acc, rej) == ([0.0, 0.25, 0.5, 0.6], [0.7])
    assert max_in_any_window(acc, 1.0) == 4  # twice the limit inside one true second


def test_a_check_then_add_log_lets_concurrent_clients_past_the_limit() -> None:
    racy = Rig("sliding-log-racy", limit=1, clients=2)
    atomic = Rig("sliding-log", limit=1, clients=2)
    for rig in (racy, atomic):
        rig.offer(0.0, 0)
        rig.offer(0.0, 1)
    assert len(racy.run(1)[0]) == 2  # both counted 0 before either added
    assert len(atomic.run(1)[0]) == 1


# -------------------------------------------------------------- fixed windows
def test_a_fixed_window_lets_2l_through_across_a_boundary() -> None:
    limit = 4
    times = [0.75 + k / 16 for k in range(2 * limit)]  # 0.75 ... 1.1875: four before the boundary, four after
    fixed, log = Rig("fixed-window", limit), Rig("sliding-log", limit)
    for rig in (fixed, log):
        for t in times:
            rig.offer(t)
    acc, rej = fixed.run(3)
    assert (len(acc), rej) == (8, [])
    assert max_in_any_window(acc, 1.0) == 2 * limit
    acc, rej = log.run(3)
    assert acc == times[:4] and max_in_any_window(acc, 1.0) == limit


def test_the_leaky_fixed_window_never_expires_when_its_client_dies_between_incr_and_expire() -> None:
    limit = 3
    rig = Rig("fixed-window-leaky", limit)
    rig.offer(0.0)
    # the INCR runs at 1 ms; the client dies with the reply in flight and is back at 10 ms
    faults.schedule(rig.w, ["crash:c0@0.0015+0.0085"])
    for k in range(50):
        rig.offer(0.1 + 0.1 * k)  # 10 requests per window for 5 s
    acc, rej = rig.run(6)
    assert len(acc) == limit - 1  # the dead request's count stays: 2 more, then nothing, ever
    assert len(rej) == 48
    assert rig.srv.expires.get(b"user") is None and rig.srv.data[b"user"].value == b"51"
    healthy = Rig("fixed-window-leaky", limit)
    for k in range(50):
        healthy.offer(0.1 + 0.1 * k)
    acc, _ = healthy.run(6)
    assert len(acc) == limit * 5  # a window from each first request: 3 per second


def test_the_leaky_fixed_window_die_hook_leaks_the_same_way() -> None:
    deaths = iter([True])
    rig = Rig("fixed-window-leaky", 3, die=lambda: next(deaths, False))
    for k in range(20):
        rig.offer(0.1 * k)
    acc, _ = rig.run(3)
    assert len(acc) == 2 and rig.srv.expires.get(b"user") is None
    assert isinstance(rig.limiters[0], FixedWindowLeaky)


# ----------------------------------------------------------------- measurement
def test_the_window_measures() -> None:
    acc = [0.0, 0.5, 0.99, 1.0, 1.2]
    assert max_in_any_window(acc, 1.0) == 4  # [0.5, 1.5)
    assert max_in_any_window([], 1.0) == 0
    assert trailing_counts(acc, [1.0, 2.0, 2.5], 1.0).tolist() == [3, 1, 0]  # (t - 1, t]
    assert false_rejects(acc, [1.0, 2.0, 2.5], limit=3, window=1.0) == 2
    assert exact_decisions([0.0, 0.1, 0.2, 1.0, 1.05], 2, 1.0).tolist() == [True, True, False, True, False]


@pytest.mark.parametrize("kind", ["seed", "fixed-window", "sliding-counter", "sliding-log", "token-bucket"])
def test_every_limiter_holds_a_trickle_below_the_limit(kind: str) -> None:
    rig = Rig(kind, limit=4)
    times = even(2, 5)  # 2 per window, well under 4
    for t in times:
        rig.offer(t)
    acc, rej = rig.run(6)
    assert (acc, rej) == (times, [])


# ------------------------------------------------------------------------ model
def test_rate_limit_model_starves_the_seed_and_not_the_others() -> None:
    # two clients interleaved, each every 1/8 s: 16 per window (exact binary times, so no boundary ties)
    common = {"limit": 8, "offered": 16, "duration": 20, "arrivals": "uniform"}
    seed = run_model("rate-limit", {**common, "limiter": "seed"})
    log = run_model("rate-limit", {**common, "limiter": "sliding-log"})
    fixed = run_model("rate-limit", {**common, "limiter": "fixed-window"})
    # 320 offered: the seed lets the first 8 through, then nothing; every rejection after the first window is false
    assert seed["offered"] == 320 and seed["accepted"] == 8
    assert seed["false_rejects"] == 320 - 8 - 8
    assert log["accepted"] == 160 and log["max_in_any_window"] == 8 and log["false_rejects"] == 0
    assert log["accepted_fraction"] == log["exact_accepted_fraction"] == 0.5
    assert fixed["accepted"] == 160
    leaky = run_model("rate-limit", {**common, "limiter": "fixed-window-leaky", "abort": 1.0})
    assert leaky["accepted"] == 0 and leaky["died"] == 320 and leaky["keys_without_ttl"] == 1


def test_rate_limit_model_takes_faults_and_poisson_load() -> None:
    s = run_model("rate-limit", {"limiter": "token-bucket", "duration": 10, "clients": 3, "keys": 2},
                  faults=["crash:redis@4+1"])
    assert s["limiter_errors"] > 0 and s["faults"]
    assert 0 < s["accepted_fraction"] < 1


@pytest.mark.parametrize(("params", "message"), [
    ({"limiter": "leaky-bucket"}, "limiter must be one of"),
    ({"window": 0.5}, "window must be whole seconds for limiter=seed"),
    ({"limit": 0}, "limit must be an integer >= 1"),
    ({"abort": 2}, "abort must be a probability"),
    ({"latency": "lognormal:1"}, "latency:"),
])
def test_rate_limit_model_rejects_bad_parameters_with_one_line(params: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        run_model("rate-limit", params)
    assert "\n" not in str(err.value)


def test_rate_limit_figures_are_written(tmp_path: Any) -> None:
    from simcache.sim.report import run_model_full

    runs = {k: run_model_full("rate-limit", {"limiter": k, "duration": 5}) for k in ("seed", "sliding-log")}
    paths = rate_limit_figure(runs["seed"], tmp_path)
    paths += rate_limit_comparison_figure({k: r.summary for k, r in runs.items()}, tmp_path)
    assert [p.name for p in paths] == ["rate_limit_timeline.png", "rate_limit_comparison.png"]
    assert all(p.stat().st_size > 0 for p in paths)


# ------------------------------------------------- the scripts against real Redis
def test_limiter_scripts_match_a_real_redis(real_redis: Any) -> None:  # noqa: F811
    reset_real(real_redis)
    w = World(0)
    srv = RedisServer(w, "redis", active_expiry=False)
    rng = np.random.default_rng(7)
    now = 1_700_000_000.0
    calls: list[tuple[str, int, tuple[Any, ...]]] = []
    for _ in range(60):
        now += float(rng.exponential(0.05))
        wid = int(now // 1.0)
        calls.append((GCRA_LUA, 1, (b"gcra", repr(now), repr(0.25), repr(0.75))))
        calls.append((SLIDING_LOG_LUA, 1, (b"log", repr(now), repr(now - 1.0), 4, f"{now!r}:c:{len(calls)}", 1000)))
        calls.append((SLIDING_COUNTER_LUA, 2, (f"ctr:{wid}", f"ctr:{wid - 1}", repr(1.0 - (now - wid)), 4, 2000)))
    for src, n, args in calls:
        enc = tuple(a if isinstance(a, bytes) else str(a).encode() for a in args)
        real = real_redis.eval(src, n, *enc)
        sim = srv.dispatch((b"EVAL", src.encode(), str(n).encode(), *enc))
        assert sim == real, (src.splitlines()[0], args)
    assert srv.dispatch((b"GET", b"gcra")) == real_redis.get("gcra")
    assert srv.dispatch((b"ZRANGE", b"log", b"0", b"-1")) == real_redis.zrange("log", 0, -1)
