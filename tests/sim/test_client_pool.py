"""Connection pools and retries behave as redis-py's, in simulated time."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from simcache.sim.pool import BlockingConnectionPool, ConnectionPool
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.client import ConstantBackoff, ExponentialBackoff, FullJitterBackoff, Retry
from simcache.sim.rpc import ConnectionError
from simcache.sim.world import World


def setup(pool: Any = None, retry: Retry | None = None) -> tuple[World, RedisServer, Redis]:
    w = World(0)
    w.network.add_link("app", "redis", "const:0.001")
    srv = RedisServer(w, "redis", service="const:0.01", active_expiry=False)
    r = Redis(w, "app", srv, connection_pool=pool(w) if pool else None, retry=retry)
    return w, srv, r


def gets(w: World, r: Redis, n: int, out: list[Any], at: float = 0.0) -> None:
    def one() -> Generator[simpy.Event, Any, None]:
        yield w.env.timeout(at)
        try:
            v = yield from r.get("k")
            out.append((round(w.env.now, 6), v))
        except ConnectionError as err:
            out.append((round(w.env.now, 6), str(err)))

    for _ in range(n):
        w.process(one())


def test_a_full_connection_pool_fails_at_once() -> None:
    w, _, r = setup(lambda w: ConnectionPool(w.env, max_connections=2))
    out: list[Any] = []
    gets(w, r, 3, out)
    w.run(1)
    # the third caller finds both connections in use: refused at t=0; the others queue at the server
    assert out == [(0.0, "Too many connections"), (0.012, None), (0.022, None)]
    assert r.connection_pool.exhausted == 1 and r.connection_pool.peak == 2


def test_a_blocking_pool_waits_for_a_connection_then_gives_up() -> None:
    w, _, r = setup(lambda w: BlockingConnectionPool(w.env, max_connections=1, timeout=0.015))
    out: list[Any] = []
    gets(w, r, 3, out)
    w.run(1)
    # the first holds the connection until 0.012; the second takes it then; the third has waited 15 ms by 0.015
    assert out == [(0.012, None), (0.015, "No connection available."), (0.024, None)]


def test_retries_wait_their_backoff_and_succeed_after_a_restart() -> None:
    w, srv, r = setup(retry=Retry(ConstantBackoff(0.1), retries=3))
    srv.crash()
    out: list[Any] = []
    gets(w, r, 1, out)

    def back() -> Generator[simpy.Event, Any, None]:
        yield w.env.timeout(0.15)
        srv.restart()

    w.process(back())
    w.run(1)
    # refused at 0.002; wait 0.1; refused at 0.104; wait 0.1; served: 0.204 + 0.012
    assert out == [(0.216, None)]


def test_retries_give_up_after_their_count() -> None:
    w, srv, r = setup(retry=Retry(ConstantBackoff(0.1), retries=2))
    srv.crash()
    out: list[Any] = []
    gets(w, r, 1, out)
    w.run(1)
    assert out == [(0.206, "Connection refused")]
    assert srv.refused == 3


def test_backoffs_follow_redis_py() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    assert [ExponentialBackoff(cap=1.0, base=0.1).compute(k, rng) for k in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    draws = [FullJitterBackoff(cap=1.0, base=0.1).compute(3, rng) for _ in range(1000)]
    assert 0 <= min(draws) and max(draws) <= 0.8 and abs(np.mean(draws) - 0.4) < 0.03
    with pytest.raises(Exception, match="retries must be"):
        Retry(retries=-1)
