"""The seed's strategies run as written, and their flaws happen: counted exactly under fixed schedules."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from simcache.errors import UsageError
from simcache.sim.app import App, MessageLost
from simcache.sim.database import Database, DatabaseClient
from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.rpc import RemoteError
from simcache.sim.seed import CacheAside, SeedCache, WriteBehind, WriteThrough
from simcache.sim.strategies import make_strategy, register_strategy, strategy_options
from simcache.sim.world import World
from simcache.store import Cache


def system(strategy: Any = "cache-aside", apps: int = 1, write_error_rate: float = 0.0,
           local: int = 0, **options: Any) -> tuple[World, list[App], Database, RedisServer]:
    """clients - app(s) - redis/db, every latency 1 ms, every service 1 ms, no app CPU."""
    w = World(0)
    net = w.network
    redis = RedisServer(w, "redis", service="const:0.001", active_expiry=False)
    db = Database(w, "db", read_service="const:0.001", write_service="const:0.001", write_error_rate=write_error_rate)
    out = []
    for i in range(apps):
        name = f"app{i}"
        net.add_link("clients", name, "const:0.001")
        net.add_link(name, "redis", "const:0.001")
        net.add_link(name, "db", "const:0.001")

        def factory(app: App) -> Any:
            return make_strategy(strategy, SeedCache(Redis(w, app, redis)), DatabaseClient(w, app, db), **options)

        cache = Cache("lru", local, clock=lambda: w.env.now) if local else None
        out.append(App(w, name, factory, cpu="const:0", local=cache, local_lookup="const:0"))
    return w, out, db, redis


def request(w: World, app: App, t: float, op: str, key: Any, log: list[Any], value: Any = None) -> None:
    """At time ``t``, send one request to ``app``; log ``(t_end, answer or error name, served_by)``."""

    def go() -> Generator[simpy.Event, Any, None]:
        yield w.env.timeout(t)
        t0 = w.env.now
        try:
            answer, served = yield from app.serve("clients", op, key, value)
        except (RemoteError, MessageLost) as err:
            log.append((w.env.now, type(err).__name__, ""))
            return
        log.append((round(w.env.now, 9), answer, served))
        if op == "read" and isinstance(answer, Value):
            log.append(w.oracle.judge(key, answer.wid, t0, w.env.now).kind)

    w.process(go())


def test_cache_aside_reads_the_seeds_way() -> None:
    w, (app,), db, redis = system()
    log: list[Any] = []
    request(w, app, 0.0, "read", "k", log)
    request(w, app, 0.1, "read", "k", log)
    w.run(1)
    # miss: hop 1 ms, GET 3 ms (there, service, back), DB GET 3 ms, SET 3 ms (starting at 8 ms, with the
    # seed's TTL of 3600 s), hop back 1 ms
    assert log[0] == (0.011, Value(0, 100), "db")
    # hit: hop, GET, hop back
    assert log[2] == (0.105, Value(0, 100), "redis")
    assert redis.expires.get(b"k") == 8 + 3600_000  # milliseconds, as Redis keeps them
    assert db.reads == 1


def test_cache_aside_lets_n_concurrent_misses_make_n_database_reads() -> None:
    w, (app,), db, _ = system()
    log: list[Any] = []
    for i in range(7):
        request(w, app, 0.0001 * i, "read", "hot", log)
    w.run(1)
    assert db.reads == 7


def test_a_loading_cache_makes_one_database_read_for_concurrent_misses() -> None:
    w, (app,), db, _ = system("read-through")
    log: list[Any] = []
    for i in range(7):
        request(w, app, 0.0001 * i, "read", "hot", log)
    w.run(1)
    assert db.reads == 1
    assert app.strategy.coalesced == 6
    assert all(e[1] == Value(0, 100) for e in log if isinstance(e, tuple))


def test_write_through_cache_first_leaves_a_dirty_value_when_the_database_write_fails() -> None:
    w, (app,), db, redis = system("write-through", write_error_rate=1.0)
    log: list[Any] = []
    v = Value(w.new_write_id(), 100)
    request(w, app, 0.0, "write", "k", log, v)
    request(w, app, 0.1, "read", "k", log)
    w.run(1)
    assert log[0][1] == "ResponseError"  # the database refused the write...
    assert redis.data[b"k"].value == v  # ...after the cache took it
    assert log[1][1:] == (v, "redis") and log[2] == "dirty"  # so the cache serves a value never committed
    assert db.write_errors == 1 and w.oracle.latest("k") == 0


def test_write_through_reads_only_the_cache_so_a_miss_answers_none() -> None:
    w, (app,), db, _ = system("write-through")
    log: list[Any] = []
    request(w, app, 0.0, "read", "never-written", log)
    w.run(1)
    assert log == [(0.005, None, "")]
    assert db.reads == 0


def test_write_through_db_first_does_not_cache_a_failed_write() -> None:
    w, (app,), db, redis = system("write-through-db-first", write_error_rate=1.0)
    log: list[Any] = []
    request(w, app, 0.0, "write", "k", log, Value(w.new_write_id(), 100))
    w.run(1)
    assert log[0][1] == "ResponseError" and b"k" not in redis.data


def test_write_behind_loses_exactly_the_queued_writes_when_the_app_crashes() -> None:
    w, (app,), db, redis = system("write-behind")
    log: list[Any] = []
    for i in range(5):
        request(w, app, 0.01 * i, "write", f"k{i}", log, Value(w.new_write_id(), 100))
    # the writes are acknowledged once the cache has them (4 ms each); the writer gathers them, waiting up
    # to 0.1 s for each next one, so nothing reaches the database before the crash at 0.1
    w.process(_at(w, 0.1, app.crash))
    w.run(2)
    assert [e[1] for e in log] == [None] * 5  # acknowledged (the seed's set returns nothing)
    assert w.recorder.total("app0", "writes_lost") == 5
    assert db.writes == 0 and all(w.oracle.latest(f"k{i}") == 0 for i in range(5))
    assert len(redis.data) == 5  # the cache holds values the database will never have


def test_write_behind_flushes_a_batch_after_the_queue_stays_empty_for_its_timeout() -> None:
    w, (app,), db, _ = system("write-behind")
    log: list[Any] = []
    for i in range(3):
        request(w, app, 0.01 * i, "write", f"k{i}", log, Value(w.new_write_id(), 100))
    w.process(_at(w, 0.5, app.crash))
    w.run(2)
    # the third write is queued at 0.024; the writer waits 0.1 s more, then sends one batch of three
    assert db.writes == 3 and w.recorder.total("app0", "writes_lost") == 0
    assert w.oracle.version_at("k2", 0.124) == 0 and w.oracle.latest("k2") == 1


def test_an_app_crash_does_not_stop_a_write_already_on_its_way_to_the_database() -> None:
    w, (app,), db, _ = system("write-around")
    log: list[Any] = []
    request(w, app, 0.0, "write", "k", log, Value(w.new_write_id(), 100))
    w.process(_at(w, 0.0015, app.crash))  # the DB write left the app at 0.001 and arrives at 0.002
    w.run(1)
    assert log[0][1] == "ConnectionError"  # the client is reset...
    assert w.oracle.latest("k") == 1  # ...but the write commits


def test_a_near_cache_on_one_app_serves_stale_data_after_a_write_through_another() -> None:
    w, (a0, a1), db, redis = system(apps=2, local=100)
    log: list[Any] = []
    request(w, a0, 0.0, "read", "k", log)  # fills redis and app0's near cache with v0
    request(w, a1, 0.1, "write", "k", log, Value(w.new_write_id(), 100))  # commits at 0.103, deletes from redis
    request(w, a0, 0.2, "read", "k", log)  # app0's own copy: stale
    request(w, a1, 0.3, "read", "k", log)  # app1 misses everywhere and reads v1 from the db
    w.run(1)
    reads = [e for e in log if isinstance(e, tuple) and isinstance(e[1], Value)]
    assert [(e[1].wid, e[2]) for e in reads] == [(0, "db"), (0, "app0"), (1, "db")]
    verdicts = [e for e in log if isinstance(e, str)]
    assert verdicts == ["fresh", "stale", "fresh"]


def test_a_user_strategy_runs_by_class_and_by_name() -> None:
    class CountingAside(CacheAside):
        """Cache-aside that counts its database reads."""

        ttl: float = 60
        db_reads = 0

        def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
            value = yield from self.cache.get(key)
            if value is None:
                self.db_reads += 1
                value = yield from self.db.get(key)
                yield from self.cache.set(key, value, ttl=self.ttl)
            return value

    assert strategy_options(CountingAside) == {"ttl": 60}
    w, (app,), db, redis = system(CountingAside, ttl=5)
    log: list[Any] = []
    request(w, app, 0.0, "read", "k", log)
    request(w, app, 0.1, "read", "k", log)
    w.run(1)
    assert app.strategy.db_reads == 1 and redis.expires.get(b"k") == 8 + 5000
    register_strategy("counting-aside")(CountingAside)
    w2, (app2,), _, _ = system("counting-aside")
    assert isinstance(app2.strategy, CountingAside)


def test_strategy_options_are_checked() -> None:
    with pytest.raises(UsageError, match="no option 'tll'; options: ttl"):
        system("cache-aside", tll=5)
    with pytest.raises(UsageError, match="refresh_fraction must be in"):
        system("refresh-ahead", refresh_fraction=2)
    with pytest.raises(UsageError, match="unknown strategy 'nope'"):
        system("nope")


def test_the_seed_classes_read_as_the_seed_writes_them() -> None:
    import inspect

    src = inspect.getsource(CacheAside.get)
    for line in ("value = yield from self.cache.get(key)", "if value is not None:",
                 "value = yield from self.db.get(key)", "yield from self.cache.set(key, value, ttl=self.ttl)"):
        assert line in src
    assert "yield from self.cache.set(key, value)\n" in inspect.getsource(WriteThrough.set)
    assert "for _ in range(100):" in inspect.getsource(WriteBehind.background_writer)


def _at(w: World, t: float, fn: Any) -> Generator[simpy.Event, Any, None]:
    yield w.env.timeout(t)
    fn()


def test_a_listener_attached_to_the_near_cache_later_sees_every_event() -> None:
    w, (app,), _, _ = system(local=10)
    seen: list[tuple[str, Any]] = []
    assert app.local is not None
    app.local.on_event = lambda kind, key, size: seen.append((kind, key))
    log: list[Any] = []
    request(w, app, 0.0, "read", "k", log)
    request(w, app, 0.1, "read", "k", log)
    request(w, app, 0.2, "write", "k", log, Value(w.new_write_id(), 100))
    w.run(1)
    assert seen == [("miss", "k"), ("hit", "k"), ("delete", "k")]


def test_a_crashed_app_sends_nothing_from_code_still_unwinding() -> None:
    class LockedRead(CacheAside):
        """Takes a lock around the database read and releases it in ``finally`` (as the seed's lock does)."""

        def get(self, key: Any) -> Generator[simpy.Event, Any, Any]:
            yield from self.cache.set(f"lock:{key}", "1", nx=True, ex=30)
            try:
                return (yield from self.db.get(key))
            finally:
                yield from self.cache.delete(f"lock:{key}")

    w, (app,), _, redis = system(LockedRead)
    log: list[Any] = []
    request(w, app, 0.0, "read", "k", log)
    w.process(_at(w, 0.0045, app.crash))  # during the database read
    w.run(1)
    assert log[0][1] == "ConnectionError"  # the client is reset
    assert b"lock:k" in redis.data  # the dead process could not release its lock: it stays until it expires
