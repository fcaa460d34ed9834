"""The pymemcache-like client: noreply, connections and socket timeouts, errors, ignore_exc, values."""

from __future__ import annotations

import pytest
from pymemcache.serde import pickle_serde

from simcache.sim.memcached import Client, MemcacheIllegalInputError
from simcache.sim.oracle import Value
from simcache.sim.rpc import ConnectionError, TimeoutError

from .support import call_at, client, run, world_with


def test_noreply_returns_without_waiting() -> None:
    w, [s] = world_with(latency="const:0.01")
    mc = Client(w, "app", s)  # pymemcache's default: noreply for set, add, replace, delete, touch...
    assert run(w, lambda: mc.get("k")) is None  # connects (one round trip) and reads: 0.04 s
    assert w.now == pytest.approx(0.04)
    t0 = w.now
    assert run(w, lambda: mc.set("k", b"v")) is True
    assert run(w, lambda: mc.add("k", b"other")) is True  # noreply: True whatever happens
    assert w.now == t0
    assert run(w, lambda: mc.get("k")) == b"v"  # the sets arrived first (same link, same delay)
    assert w.now == pytest.approx(t0 + 0.02)
    assert run(w, lambda: mc.set("k", b"w", noreply=False)) is True
    assert w.now == pytest.approx(t0 + 0.04)


def test_noreply_batches_and_cas_incr_wait_by_default() -> None:
    w, [s] = world_with(latency="const:0.01")
    mc = Client(w, "app", s)
    run(w, lambda: mc.get("warm-up"))
    t0 = w.now
    assert run(w, lambda: mc.set_many({"a": b"1", "b": b"2"})) == []
    assert run(w, lambda: mc.delete_many(["a"])) is True
    assert w.now == t0
    assert run(w, lambda: mc.incr("b", 5)) == 7  # incr waits unless told otherwise
    assert w.now == pytest.approx(t0 + 0.02)
    assert run(w, lambda: mc.get_many(["a", "b"])) == {"b": b"7"}


def test_set_many_reports_failed_keys_and_gets_many_tokens() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    assert run(w, lambda: mc.set_many({"a": b"1", "b": b"2"})) == []
    got = run(w, lambda: mc.gets_many(["a", "b", "c"]))
    assert set(got) == {"a", "b"} and got["a"][0] == b"1" and got["a"][1].isdigit()
    assert run(w, lambda: mc.delete("a")) is True
    assert run(w, lambda: mc.delete("a")) is False
    assert run(w, lambda: mc.replace("a", b"x")) is False
    assert run(w, lambda: mc.add("a", b"x")) is True
    assert run(w, lambda: mc.add("a", b"y")) is False
    assert run(w, lambda: mc.flush_all()) is True
    assert run(w, lambda: mc.get_many(["a", "b"])) == {}


def test_values_encode_as_pymemcache_and_simulation_values_pass_through() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("i", 42))
    run(w, lambda: mc.set("s", "text"))
    run(w, lambda: mc.set("v", Value(7, 5000)))
    assert run(w, lambda: mc.get_many(["i", "s", "v"])) == {"i": b"42", "s": b"text", "v": Value(7, 5000)}
    assert s.items[b"v"].ntotal == 48 + 2 + 5002 + 8
    with pytest.raises(MemcacheIllegalInputError):
        run(w, lambda: mc.set("u", "é"))  # ascii encoding, as pymemcache's default
    with pytest.raises(MemcacheIllegalInputError):
        run(w, lambda: mc.set("k", b"v", expire=1.5))  # type: ignore[arg-type]


def test_a_read_of_a_value_notes_the_server_that_served_it() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("v", Value(7, 10)))

    def read():
        value = yield from mc.get("v")
        return value, w.served_by.get(w.env.active_process)

    assert run(w, read) == (Value(7, 10), "mc1")


def test_key_prefix_and_serde() -> None:
    w, [s] = world_with()
    mc = client(w, s, key_prefix=b"app:", serde=pickle_serde)
    run(w, lambda: mc.set("k", {"a": [1, 2]}))
    assert b"app:k" in s.items
    assert run(w, lambda: mc.get("k")) == {"a": [1, 2]}
    assert run(w, lambda: mc.get_many(["k", "z"])) == {"k": {"a": [1, 2]}}


def test_a_crashed_process_refuses_the_connect() -> None:
    w, [s] = world_with(latency="const:0.01")
    mc = client(w, s)
    s.crash()
    with pytest.raises(ConnectionError, match="refused"):
        run(w, lambda: mc.get("k"))
    assert w.now == pytest.approx(0.02)  # one round trip to the live host's kernel


def test_a_host_that_is_down_times_out_the_connect() -> None:
    w, [s] = world_with(latency="const:0.01")
    mc = client(w, s, connect_timeout=0.5)
    s.crash(host_down=True)
    with pytest.raises(TimeoutError):
        run(w, lambda: mc.get("k"))
    assert w.now == pytest.approx(0.5)


def test_a_slow_reply_times_out_and_the_command_still_runs() -> None:
    w, [s] = world_with(latency="const:0.01")
    mc = client(w, s, timeout=0.1)
    run(w, lambda: mc.get("warm-up"))
    s.pause(1.0)
    t0 = w.now
    with pytest.raises(TimeoutError):
        run(w, lambda: mc.set("k", b"v"))
    assert w.now == pytest.approx(t0 + 0.1)
    assert mc.sock is None  # any error closes the connection
    assert call_at(w, t0 + 2.0, lambda: mc.get("k")) == b"v"  # the set ran after the pause


def test_a_restarted_server_resets_the_old_connection() -> None:
    w, [s] = world_with(latency="const:0.01")
    mc = client(w, s)
    run(w, lambda: mc.set("k", b"v"))
    s.crash()
    s.restart()  # cold: a new process, its memory empty
    with pytest.raises(ConnectionError, match="reset"):
        run(w, lambda: mc.get("k"))
    assert run(w, lambda: mc.get("k")) is None  # reconnected
    assert mc.connects == 2


def test_ignore_exc_turns_read_errors_into_misses() -> None:
    w, [s] = world_with()
    mc = client(w, s, ignore_exc=True)
    run(w, lambda: mc.set("k", b"v"))
    s.crash()
    assert run(w, lambda: mc.get("k", default=b"dflt")) == b"dflt"
    assert run(w, lambda: mc.gets("k")) == (None, None)
    assert run(w, lambda: mc.get_many(["k"])) == {}
    assert run(w, lambda: mc.stats()) == {}
    with pytest.raises(ConnectionError):
        run(w, lambda: mc.set("k", b"v"))  # writes still raise
    with pytest.raises(MemcacheIllegalInputError):
        run(w, lambda: mc.get("bad key"))  # a bad key is not a server error


def test_concurrent_callers_share_one_connect() -> None:
    w, [s] = world_with(latency="const:0.01")
    mc = client(w, s)
    run(w, lambda: mc.set("k", b"v"))
    mc.close()
    procs = [w.env.process(mc.get("k")) for _ in range(3)]
    w.env.run(until=w.env.all_of(procs))
    assert [p.value for p in procs] == [b"v"] * 3
    assert mc.connects == 2 and s.total_connections == 2


def test_a_paused_client_host_delays_its_caller() -> None:
    w, [s] = world_with(latency="const:0.01")
    from simcache.sim.component import Component

    app = Component(w, "app-process", "app")
    mc = Client(w, app, s, default_noreply=False)
    run(w, lambda: mc.get("k"))
    t0 = w.now
    app.pause(0.5)
    run(w, lambda: mc.get("k"))
    assert w.now == pytest.approx(t0 + 0.5)


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_both_queueing_engines_give_the_same_story(queueing: str) -> None:
    w, [s] = world_with(latency="const:0.01", queueing=queueing)
    mc = Client(w, "app", s)
    story = [run(w, lambda: mc.get("k")), w.now]
    story += [run(w, lambda: mc.set("k", b"v")), w.now, run(w, lambda: mc.gets("k")), w.now]
    s.crash()
    s.restart()
    with pytest.raises(ConnectionError, match="reset"):
        run(w, lambda: mc.get("k"))
    story += [w.now, run(w, lambda: mc.get("k")), w.now]
    assert story == [None, pytest.approx(0.04), True, pytest.approx(0.04), (b"v", b"1"), pytest.approx(0.06),
                     pytest.approx(0.08), None, pytest.approx(0.12)]


def test_timeouts_must_be_positive() -> None:
    from simcache.errors import UsageError

    w, [s] = world_with()
    with pytest.raises(UsageError, match="timeout must be > 0 seconds or None"):
        Client(w, "app", s, timeout=0)
