"""BLPOP/BRPOP worked by hand: first blocked first served, timeouts at the cron tick, blocking inside pipelines."""

from __future__ import annotations

from typing import Any

import pytest

from simcache.sim.redis import Redis, RedisServer
from simcache.sim.rpc import ConnectionError, TimeoutError
from simcache.sim.world import World
from tests.sim.redis.helpers import run, wait_until


def two_clients(queueing: str = "fast") -> tuple[World, RedisServer, Redis, Redis, Redis]:
    w = World(0)
    for n in ("c1", "c2", "pusher"):
        w.network.add_link(n, "redis", "const:0.001")
    srv = RedisServer(w, "redis", service="const:0.0001", queueing=queueing)  # type: ignore[arg-type]
    return w, srv, Redis(w, "c1", srv), Redis(w, "c2", srv), Redis(w, "pusher", srv)


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_first_blocked_is_first_served(queueing: str) -> None:
    w, srv, c1, c2, pusher = two_clients(queueing)
    got: list[tuple[str, Any, float]] = []

    def waiter(name: str, r: Redis, start: float) -> Any:
        yield from wait_until(w, start)
        got.append((name, (yield from r.brpop("q", timeout=0)), w.env.now))

    def push() -> Any:
        yield from wait_until(w, 1.0)
        n = yield from pusher.lpush("q", "x", "y")  # the list is [y, x]: the tail x goes first
        got.append(("pusher", n, w.env.now))

    w.process(waiter("second", c2, 0.2))
    w.process(waiter("first", c1, 0.1))
    run(w, push)
    w.env.run(until=2.0)
    # LPUSH answers 2 (the length after the push); then the blocked clients are served, oldest first
    assert [(n, v) for n, v, _ in got] == [("first", (b"q", b"x")), ("second", (b"q", b"y")), ("pusher", 2)]
    # the served replies leave when the LPUSH runs (1.001) and take one hop back
    assert got[0][2] == pytest.approx(1.002) and got[1][2] == pytest.approx(1.002)
    assert srv.data == {} and srv.blocked_clients == {}


def test_one_element_serves_one_client_the_other_keeps_waiting() -> None:
    w, srv, c1, c2, pusher = two_clients()
    got: list[Any] = []

    def waiter(r: Redis, start: float) -> Any:
        yield from wait_until(w, start)
        got.append((yield from r.blpop(["a", "q"], timeout=0)))

    def push() -> Any:
        yield from wait_until(w, 1.0)
        yield from pusher.rpush("q", "only")
        yield from wait_until(w, 2.0)
        yield from pusher.rpush("a", "later")

    w.process(waiter(c1, 0.1))
    w.process(waiter(c2, 0.2))
    w.process(push())
    w.env.run(until=1.5)
    assert got == [(b"q", b"only")]
    assert len(srv.blocked_clients) == 1
    w.env.run(until=3.0)
    assert got == [(b"q", b"only"), (b"a", b"later")]  # blocked on both keys, served by the other one


def test_a_timeout_answers_nil_at_the_first_cron_tick_after_the_deadline() -> None:
    w, srv, c1, _, _ = two_clients()

    def body() -> Any:
        v = yield from c1.brpop("q", timeout=1)
        return v, w.env.now

    v, t = run(w, body)
    # BRPOP arrived at 1 ms: deadline 1001 ms; the cron (hz 10) first sees now > 1001 at 1.1 s
    assert v is None
    assert t == pytest.approx(1.101)


def test_a_fractional_timeout_is_rounded_up_to_a_millisecond() -> None:
    w, srv, c1, _, _ = two_clients()

    def body() -> Any:
        v = yield from c1.brpop("q", timeout=0.25)
        return v, w.env.now

    assert run(w, body) == (None, pytest.approx(0.301))


def test_timeout_zero_waits_forever() -> None:
    w, srv, c1, _, pusher = two_clients()
    got: list[Any] = []

    def waiter() -> Any:
        got.append((yield from c1.brpop("q")))

    w.process(waiter())
    w.env.run(until=500.0)
    assert got == [] and len(srv.blocked_clients) == 1

    def push() -> Any:
        yield from pusher.rpush("q", "v")

    w.process(push())
    w.env.run(until=501.0)
    assert got == [(b"q", b"v")]


def test_a_non_empty_list_answers_at_once_and_wrongtype_is_an_error() -> None:
    w, srv, c1, _, _ = two_clients()

    def body() -> Any:
        yield from c1.rpush("q", "a", "b")
        yield from c1.set("s", "x")
        first = yield from c1.brpop(["empty", "q"], timeout=5)
        try:
            yield from c1.brpop(["s", "q"], timeout=5)
        except Exception as e:  # noqa: BLE001
            return first, str(e), w.env.now
        return first, None, w.env.now

    first, err, t = run(w, body)
    assert first == (b"q", b"b")
    assert err == "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert t < 0.01


def test_inside_multi_an_empty_pop_answers_nil_at_once() -> None:
    w, srv, c1, _, _ = two_clients()

    def body() -> Any:
        p = c1.pipeline()
        p.brpop("q", timeout=0).rpush("q", "v").brpop("q", timeout=0)
        return (yield from p.execute())

    assert run(w, body) == [None, 1, (b"q", b"v")]


def test_a_blocked_command_holds_the_rest_of_its_pipeline() -> None:
    w, srv, c1, _, pusher = two_clients()

    def pipe() -> Any:
        p = c1.pipeline(transaction=False)
        p.brpop("q", timeout=0).get("k")
        return (yield from p.execute()), w.env.now

    def push() -> Any:
        yield from wait_until(w, 3.0)
        yield from pusher.set("k", "after")
        yield from pusher.rpush("q", "v")

    p = w.process(pipe())
    w.process(push())
    w.env.run(until=10.0)
    # the GET after the BRPOP ran only once the BRPOP was served, so it sees the SET made meanwhile
    assert p.value == ([(b"q", b"v"), b"after"], pytest.approx(3.0041))


def test_a_push_inside_a_transaction_serves_after_exec() -> None:
    w, srv, c1, _, pusher = two_clients()
    got: list[Any] = []

    def waiter() -> Any:
        got.append((yield from c1.brpop("q")))

    def tx() -> Any:
        yield from wait_until(w, 1.0)
        p = pusher.pipeline()
        p.rpush("q", "a").llen("q").rpush("q", "b")
        return (yield from p.execute())

    w.process(waiter())
    t = w.process(tx())
    w.env.run(until=2.0)
    # inside EXEC the list still has its element (clients are served after the transaction)
    assert t.value == [1, 1, 2]
    assert got == [(b"q", b"b")]
    assert list(srv.data[b"q"].value) == [b"a"]


def test_a_crash_resets_blocked_clients() -> None:
    w, srv, c1, _, _ = two_clients()

    def body() -> Any:
        try:
            yield from c1.brpop("q")
        except ConnectionError as e:
            return str(e), w.env.now

    p = w.process(body())
    w.env.run(until=1.0)
    srv.crash()
    w.env.run(until=2.0)
    assert p.value == ("Connection reset by peer", pytest.approx(1.001))
    assert srv.blocked_clients == {} and srv.blocking_keys == {}


@pytest.mark.parametrize("cmd,err", [
    (("BRPOP", "q", "-1"), "timeout is negative"),
    (("BRPOP", "q", "abc"), "timeout is not a float or out of range"),
    (("BLPOP", "q"), "wrong number of arguments for 'blpop' command"),
])
def test_blocking_argument_errors(cmd: tuple[Any, ...], err: str) -> None:
    w, srv, c1, _, _ = two_clients()

    def body() -> Any:
        try:
            yield from c1.execute_command(*cmd)
        except Exception as e:  # noqa: BLE001
            return str(e)

    assert run(w, body) == err


def test_a_client_that_times_out_drops_its_blocked_pop() -> None:
    w = World(0)
    w.network.add_link("c", "redis", "const:0.001")
    srv = RedisServer(w, "redis", service="const:0.0001")
    impatient = Redis(w, "c", srv, socket_timeout=0.5)
    other = Redis(w, "c", srv)

    def body() -> Any:
        try:
            yield from impatient.brpop("q", timeout=0)
        except TimeoutError as e:
            err = str(e)
        yield from wait_until(w, 1.0)
        yield from other.rpush("q", "kept")
        return err, (yield from other.llen("q"))

    # as redis-py, the client closes the connection that timed out: the server no longer holds the pop
    assert run(w, body) == ("Timeout reading from socket", 1)
    assert srv.blocked_clients == {}


def test_a_deadline_inside_the_commands_own_service_answers_when_the_service_ends() -> None:
    w = World(0)
    w.network.add_link("c", "redis", "const:0.001")
    srv = RedisServer(w, "redis", service="const:0.5", hz=100)
    r = Redis(w, "c", srv)

    def body() -> Any:
        v = yield from r.brpop("q", timeout=0.1)
        return v, w.env.now

    # the 100 ms deadline passes during the command's 0.5 s of service: nil leaves at the first tick after
    assert run(w, body) == (None, pytest.approx(0.511))
