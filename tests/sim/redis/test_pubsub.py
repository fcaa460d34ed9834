"""Pub/sub: messages travel to subscribers over the network, in order, and read as redis-py's PubSub reads them."""

from __future__ import annotations

import time
from typing import Any

from simcache.sim.redis import Redis, RedisServer
from simcache.sim.rpc import ConnectionError, ResponseError
from simcache.sim.world import World
from tests.sim.redis.conftest import reset_real
from tests.sim.redis.helpers import run, wait_until


def pubsub_world(sub_latency: str = "const:0.005") -> tuple[World, RedisServer, Redis, Redis]:
    w = World(0)
    w.network.add_link("sub", "redis", sub_latency)
    w.network.add_link("pub", "redis", "const:0.001")
    srv = RedisServer(w, "redis", service="const:0.0001")
    return w, srv, Redis(w, "sub", srv), Redis(w, "pub", srv)


def test_subscribers_get_messages_one_network_delay_after_publish() -> None:
    w, srv, sub, pub = pubsub_world()
    got: list[tuple[Any, float]] = []

    def subscriber() -> Any:
        p = sub.pubsub()
        yield from p.subscribe("news")
        yield from p.psubscribe("n*")
        while len(got) < 4:
            m = yield from p.get_message(timeout=None)
            got.append((m, round(w.env.now, 6)))

    def publisher() -> Any:
        yield from wait_until(w, 1.0)
        return (yield from pub.publish("news", "hello"))

    w.process(subscriber())
    p = w.process(publisher())
    w.env.run(until=2.0)
    assert p.value == 2  # one channel subscription and one pattern
    assert [m for m, _ in got] == [
        {"type": "subscribe", "pattern": None, "channel": b"news", "data": 1},
        {"type": "psubscribe", "pattern": None, "channel": b"n*", "data": 2},
        {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"},
        {"type": "pmessage", "pattern": b"n*", "channel": b"news", "data": b"hello"},
    ]
    # PUBLISH reached the server at 1.001 and the pushes took the 5 ms link to the subscriber
    assert got[2][1] == 1.006 and got[3][1] == 1.006


def test_messages_to_one_subscriber_keep_their_order_over_a_jittery_link() -> None:
    w, srv, sub, pub = pubsub_world(sub_latency="exp:0.01")
    got: list[Any] = []

    def subscriber() -> Any:
        p = sub.pubsub(ignore_subscribe_messages=True)
        yield from p.subscribe("ch")
        while len(got) < 50:
            m = yield from p.get_message(timeout=1.0)
            if m is not None:
                got.append(m["data"])

    def publisher() -> Any:
        yield from wait_until(w, 1.0)
        for i in range(50):
            yield from pub.publish("ch", i)

    w.process(subscriber())
    w.process(publisher())
    w.env.run(until=10.0)
    assert got == [str(i).encode() for i in range(50)]


def test_get_message_timeouts_handlers_and_unsubscribe() -> None:
    w, srv, sub, pub = pubsub_world()
    handled: list[Any] = []

    def body() -> Any:
        p = sub.pubsub()
        out = [(yield from p.get_message())]  # not subscribed yet: nothing
        yield from p.subscribe("a", b=handled.append)
        out.append((yield from p.get_message(timeout=0.1))["channel"])
        out.append((yield from p.get_message(timeout=0.1))["channel"])
        out.append((yield from p.get_message(timeout=0.5)))  # nothing published: None after 0.5 s
        yield from pub.publish("b", "x")
        out.append((yield from p.get_message(timeout=0.1)))  # handled, not returned
        yield from p.unsubscribe()
        out.append(sorted(((yield from p.get_message(timeout=0.1))["channel"],
                           (yield from p.get_message(timeout=0.1))["channel"])))
        out.append(p.subscribed)
        out.append((yield from pub.publish("a", "y")))
        return out

    out = run(w, body)
    assert out == [None, b"a", b"b", None, None, [b"a", b"b"], False, 0]
    assert [m["data"] for m in handled] == [b"x"]


def test_a_subscribed_connection_may_only_run_pubsub_commands() -> None:
    w, srv, sub, pub = pubsub_world()

    def body() -> Any:
        p = sub.pubsub()
        yield from p.subscribe("a")
        try:
            yield from p.execute_command("GET", "k")
        except ResponseError as e:
            err = str(e)
        yield from p.ping()
        yield from p.get_message(timeout=0.1)
        return err, (yield from p.get_message(timeout=0.1))

    err, pong = run(w, body)
    assert err == ("Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
                   "in this context")
    assert pong == {"type": "pong", "pattern": None, "channel": None, "data": b""}


def test_a_partition_loses_messages_and_a_crash_resets_subscribers() -> None:
    w, srv, sub, pub = pubsub_world()
    got: list[Any] = []

    def subscriber() -> Any:
        p = sub.pubsub(ignore_subscribe_messages=True)
        yield from p.subscribe("ch")
        while True:
            try:
                m = yield from p.get_message(timeout=None)
            except ConnectionError as e:
                got.append(str(e))
                return
            if m is not None:
                got.append(m["data"])

    def publisher() -> Any:
        for i, t in enumerate((1.0, 2.0, 3.0)):
            yield from wait_until(w, t)
            yield from pub.publish("ch", i)

    w.process(subscriber())
    w.process(publisher())
    w.env.run(until=1.5)
    cut = w.network.partition(["sub"], ["redis", "pub"])
    w.env.run(until=2.5)
    w.network.heal(cut)
    w.env.run(until=3.5)
    srv.crash()
    w.env.run(until=4.0)
    assert got == [b"0", b"2", "Connection reset by peer"]


def test_close_drops_the_subscriptions_and_returns_the_connection() -> None:
    w, srv, sub, pub = pubsub_world()

    def body() -> Any:
        p = sub.pubsub()
        yield from p.subscribe("ch")
        before = (yield from pub.pubsub_numsub("ch"))
        p.close()
        yield w.env.timeout(0.1)
        return before, (yield from pub.pubsub_numsub("ch")), (yield from pub.publish("ch", "x"))

    assert run(w, body) == ([(b"ch", 1)], [(b"ch", 0)], 0)
    assert sub.connection_pool.in_use == 0


def test_pubsub_reads_like_redis_py_on_a_real_server(real_redis: Any) -> None:
    reset_real(real_redis)
    p = real_redis.pubsub()
    p.subscribe("a", "b")
    p.psubscribe("a*")
    real_redis.publish("a", "one")
    real_redis.publish("ab", "two")
    p.unsubscribe("b")
    p.punsubscribe()
    real_redis.publish("a", "three")
    real: list[Any] = []
    deadline = time.monotonic() + 5
    while len(real) < 9 and time.monotonic() < deadline:
        m = p.get_message(timeout=0.2)
        if m is not None:
            real.append(m)
    p.close()

    w, srv, sub, pub = pubsub_world()
    sim: list[Any] = []

    def body() -> Any:
        q = sub.pubsub()
        yield from q.subscribe("a", "b")
        yield from q.psubscribe("a*")
        yield from pub.publish("a", "one")
        yield from pub.publish("ab", "two")
        yield from q.unsubscribe("b")
        yield from q.punsubscribe()
        yield from pub.publish("a", "three")
        while True:
            m = yield from q.get_message(timeout=0.2)
            if m is None:
                return
            sim.append(m)

    run(w, body)
    assert sim == real
    assert len(real) == 9
