"""The redis-py-like client: argument checks and error classes as redis-py's, decoding, pipelines with scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.client import (
    DataError,
    ExecAbortError,
    MovedError,
    NoScriptError,
    OutOfMemoryError,
    encode,
    parse_error,
)
from simcache.sim.rpc import ResponseError
from simcache.sim.world import World
from tests.sim.redis.helpers import run, world

redis = pytest.importorskip("redis")

# calls redis-py refuses before sending anything; the simulated client must refuse them the same way
REFUSED: list[Callable[[Any], Any]] = [
    lambda r: r.set("k", "v", ex=1, px=1),
    lambda r: r.set("k", "v", nx=True, xx=True),
    lambda r: r.set("k", "v", ex=1.5),
    lambda r: r.set("k", "v", keepttl=True, exat=10),
    lambda r: r.zadd("z", {}),
    lambda r: r.zadd("z", {"a": 1}, nx=True, xx=True),
    lambda r: r.zadd("z", {"a": 1}, gt=True, lt=True),
    lambda r: r.zadd("z", {"a": 1, "b": 2}, incr=True),
    lambda r: r.zadd("z", {"a": 1}, nx=True, gt=True),
    lambda r: r.zrange("z", 0, 1, byscore=True, bylex=True),
    lambda r: r.zrange("z", 0, 1, byscore=True, offset=1),
    lambda r: r.zrange("z", "-", "+", bylex=True, withscores=True),
    lambda r: r.zrangebyscore("z", 0, 1, start=1),
    lambda r: r.hset("h"),
    lambda r: r.zmscore("z", []),
]


@pytest.mark.parametrize("make", REFUSED)
def test_refusals_match_redis_py(make: Callable[[Any], Any]) -> None:
    real = redis.Redis(host="127.0.0.1", port=1)  # never connects: these fail before sending
    with pytest.raises(redis.exceptions.DataError) as want:
        make(real)
    w, srv, r = world()
    with pytest.raises(DataError) as got:
        gen = make(r)
        run(w, lambda: gen)
    assert str(got.value) == str(want.value)


def test_error_replies_map_to_redis_py_classes() -> None:
    assert type(parse_error("EXECABORT Transaction discarded")) is ExecAbortError
    assert str(parse_error("ERR syntax error")) == "syntax error"
    assert str(parse_error("WRONGTYPE Operation")) == "WRONGTYPE Operation"
    assert type(parse_error("NOSCRIPT No matching script")) is NoScriptError
    assert type(parse_error("OOM command not allowed")) is OutOfMemoryError
    moved = parse_error("MOVED 3999 10.0.0.1:6381")
    assert isinstance(moved, MovedError) and isinstance(moved, ResponseError)
    assert (moved.slot_id, moved.host, moved.port) == (3999, "10.0.0.1", 6381)


def test_encode_is_redis_py_encoder() -> None:
    assert [encode(x) for x in ("é", b"b", 3, 2.5, 1e20)] == [b"\xc3\xa9", b"b", b"3", b"2.5", b"1e+20"]
    v = Value(7, 300)
    assert encode(v) is v
    with pytest.raises(DataError):
        encode(True)


def test_decode_responses_gives_str() -> None:
    w, srv, _ = world()
    r = Redis(w, "app", srv, decode_responses=True)

    def body() -> Any:
        yield from r.set("k", "v")
        yield from r.hset("h", mapping={"f": "1"})
        yield from r.sadd("s", "a")
        p = r.pubsub()
        yield from p.subscribe("ch")
        msg = yield from p.get_message(timeout=0.1)
        return ((yield from r.get("k")), (yield from r.type("k")), (yield from r.hgetall("h")),
                (yield from r.smembers("s")), (yield from r.keys()), msg, (yield from r.script_load(lambda *a: 1)))

    got, t, h, s, k, msg, sha = run(w, body)
    assert (got, t, h, s) == ("v", "string", {"f": "1"}, {"a"})
    assert sorted(k) == ["h", "k", "s"]
    assert msg == {"type": "subscribe", "pattern": None, "channel": "ch", "data": 1}
    assert isinstance(sha, str) and len(sha) == 40


def test_status_replies_are_bytes_like_redis_py() -> None:
    w, srv, r = world()

    def body() -> Any:
        yield from r.set("k", "v")
        return (yield from r.type("k")), (yield from r.execute_command("SET", "j", "v")), \
            (yield from r.execute_command("PING"))

    assert run(w, body) == (b"string", True, True)


def test_a_pipeline_loads_its_scripts_first() -> None:
    w, srv, r = world()

    def double(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
        return 2 * int(args[0])

    s = r.register_script(double)

    def body() -> Any:
        with r.pipeline() as p:
            s(args=[21], client=p)
            p.get("missing")
            return (yield from p.execute())

    assert run(w, body) == [42, None]
    assert s.sha in srv.scripts


def test_mget_of_no_keys_sends_nothing() -> None:
    w, srv, r = world()

    def body() -> Any:
        return (yield from r.mget([]))

    assert run(w, body) == []
    assert srv.commands_done == 0


def test_values_round_trip_and_note_the_serving_tier() -> None:
    w, srv, r = world()
    v = Value(12, 500)
    p: Any = None

    def body() -> Any:
        yield from r.set("k", v)
        return (yield from r.get("k")), (yield from r.strlen("k"))

    p = w.process(body())
    w.env.run(until=p)
    assert p.value == (v, 500)
    assert w.served_by[p] == "redis"
    assert srv.used_memory == 1 + 500 + 56


def test_big_replies_take_longer_on_a_slow_link() -> None:
    w = World(0)
    w.network.add_link("app", "redis", "const:0.001", bandwidth=1_000_000)
    srv = RedisServer(w, "redis", service="const:0.0001")
    r = Redis(w, "app", srv)

    def body() -> Any:
        yield from r.set("a", "x" * 50_000)
        yield from r.set("b", "x" * 50_000)
        t0 = w.env.now
        yield from r.mget("a", "b")
        return w.env.now - t0

    # 100 kB back over 1 MB/s: 0.1 s on top of the round trip
    assert run(w, body) == pytest.approx(0.001 + 0.0001 + 0.001 + 0.1, rel=1e-3)


def test_a_router_sees_the_full_error_text() -> None:
    w, srv, _ = world()
    from simcache.sim.redis.client import SingleNode

    seen: list[str] = []

    class Watching(SingleNode):
        def redirected(self, server: Any, err: ResponseError) -> Any:
            seen.append(str(err))
            return None

    r = Redis(w, "app", router=Watching(srv))

    def body() -> Any:
        yield from r.set("k", "v")
        try:
            yield from r.lpush("k", "x")
        except ResponseError as e:
            return str(e)

    assert run(w, body) == "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert seen == ["WRONGTYPE Operation against a key holding the wrong kind of value"]
