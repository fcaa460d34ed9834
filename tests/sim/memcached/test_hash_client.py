"""The hash client: sharding, and pymemcache's failed / dead server handling with a crashed server."""

from __future__ import annotations

import pytest

from simcache.sim.memcached import HashClient, KetamaHash, MemcacheError, RendezvousHash
from simcache.sim.rpc import ConnectionError

from .support import call_at, run, world_with


def _key_on(node: str, nodes: list[str], prefix: str = "key") -> str:
    h = RendezvousHash(list(nodes))
    return next(f"{prefix}{i}" for i in range(1000) if h.get_node(f"{prefix}{i}") == node)


def test_keys_go_where_the_hasher_says() -> None:
    w, servers = world_with(3, latency="const:0.001")
    hc = HashClient(w, "app", servers, hasher="ketama", default_noreply=False)
    keys = [f"k{i}" for i in range(60)]
    run(w, lambda: hc.set_many({k: k.encode() for k in keys}))
    ring = KetamaHash(["mc1", "mc2", "mc3"])
    for s in servers:
        assert {k.decode() for k in s.items} == {k for k in keys if ring.get_node(k) == s.name}
    assert run(w, lambda: hc.get_many(keys)) == {k: k.encode() for k in keys}
    assert run(w, lambda: hc.incr("n", 1)) is None
    assert run(w, lambda: hc.add("n", b"1")) is True
    assert run(w, lambda: hc.incr("n", 1)) == 2
    assert run(w, lambda: hc.delete_many(keys[:10])) is True
    assert run(w, lambda: hc.get_many(keys[:10])) == {}


def test_a_crashed_server_is_retried_then_marked_dead_then_put_back() -> None:
    w, servers = world_with(3, latency="const:0.001")
    hc = HashClient(w, "app", servers, ignore_exc=True, default_noreply=False, retry_attempts=2,
                    retry_timeout=1.0, dead_timeout=60.0)
    mc2 = servers[1]
    key = _key_on("mc2", ["mc1", "mc2", "mc3"])
    run(w, lambda: hc.set(key, b"v"))
    client2 = hc.clients["mc2"]
    mc2.crash()

    def get(t: float):
        return call_at(w, t, lambda: hc.get(key, default=b"dflt"))

    assert get(0.2) == b"dflt"  # refused: marked failed at 0.202, no error with ignore_exc
    assert hc._failed_clients["mc2"] == {"failed_time": pytest.approx(0.202), "attempts": 0}
    refused = mc2.refused
    assert get(0.5) == b"dflt"  # within retry_timeout: the default without asking
    assert mc2.refused == refused and client2.connects == 1
    assert get(1.5) == b"dflt"  # a retry (a new connect, refused): attempt 1
    assert get(3.0) == b"dflt"  # attempt 2
    assert client2.connects == 3 and hc._failed_clients["mc2"]["attempts"] == 2
    assert get(3.5) == b"dflt"  # retries exhausted: dead, out of the hasher (this call still tries it)
    assert hc._dead_clients == {"mc2": 3.5} and hc.hasher.get_node(key) != "mc2"
    assert get(4.0) == b"dflt"  # now a plain miss on another server
    call_at(w, 4.5, lambda: hc.set(key, b"elsewhere"))
    assert get(5.0) == b"elsewhere"

    w.env.run(until=50.0)
    mc2.restart()
    hits = mc2.stats["get_misses"]
    assert get(64.0) == b"dflt"  # more than dead_timeout later: back in rotation, asked, a (cold) miss
    assert mc2.stats["get_misses"] == hits + 1 and "mc2" not in hc._failed_clients
    assert hc.hasher.get_node(key) == "mc2"
    call_at(w, 65.0, lambda: hc.set(key, b"home"))
    assert get(66.0) == b"home"


def test_without_ignore_exc_failures_raise_but_retry_windows_still_return_defaults() -> None:
    w, servers = world_with(2, latency="const:0.001")
    hc = HashClient(w, "app", servers, default_noreply=False)
    key = _key_on("mc1", ["mc1", "mc2"])
    servers[0].crash()
    with pytest.raises(ConnectionError):
        run(w, lambda: hc.get(key))
    # pymemcache returns the default while a failed server waits for its retry, even without ignore_exc
    assert run(w, lambda: hc.get(key, default=b"d")) == b"d"
    assert run(w, lambda: hc.set(key, b"v")) is False


def test_no_retries_marks_a_server_dead_at_once() -> None:
    w, servers = world_with(1, latency="const:0.001")
    hc = HashClient(w, "app", servers, default_noreply=False, retry_attempts=0)
    servers[0].crash()
    with pytest.raises(ConnectionError):
        run(w, lambda: hc.get("k"))
    with pytest.raises(MemcacheError, match="All servers seem to be down"):
        run(w, lambda: hc.get("k"))
    quiet = HashClient(w, "app2", [], ignore_exc=True)
    assert run(w, lambda: quiet.get("k", default=1)) == 1


def test_batches_with_a_dead_server_keep_what_the_live_ones_give() -> None:
    w, servers = world_with(3, latency="const:0.001")
    hc = HashClient(w, "app", servers, ignore_exc=True, default_noreply=False)
    nodes = ["mc1", "mc2", "mc3"]
    keys = [f"k{i}" for i in range(30)]
    run(w, lambda: hc.set_many({k: b"v" for k in keys}))
    servers[2].crash()
    ring = RendezvousHash(nodes)
    on3 = {k for k in keys if ring.get_node(k) == "mc3"}
    assert set(run(w, lambda: hc.get_many(keys))) == set(keys) - on3
    assert set(run(w, lambda: hc.set_many({k: b"w" for k in keys}))) == on3


def test_concurrent_failures_mark_a_server_dead_once() -> None:
    w, servers = world_with(2, latency="const:0.001")
    hc = HashClient(w, "app", servers, ignore_exc=True, default_noreply=False, retry_attempts=0)
    key = _key_on("mc1", ["mc1", "mc2"])
    run(w, lambda: hc.get(key))  # connect while it is up
    servers[0].crash()
    procs = [w.env.process(hc.get(key, default=b"d")) for _ in range(4)]
    w.env.run(until=w.env.all_of(procs))
    assert [p.value for p in procs] == [b"d"] * 4
    assert "mc1" in hc._dead_clients and hc.hasher.get_node(key) == "mc2"
