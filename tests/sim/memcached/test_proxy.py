"""The twemproxy-like proxy: routing by the pool's hash, multiget fragments, auto_eject_hosts under fixed faults."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from simcache.errors import UsageError
from simcache.sim.memcached import Client, KetamaHash, MemcachedServer
from simcache.sim.memcached.hashing import hash_fnv1a_64
from simcache.sim.memcached.proxy import TwemproxyServer
from simcache.sim.world import World

Gen = Generator[Any, Any, Any]
D = 0.001  # one-way delay of every link


def build(n: int = 3, **proxy: Any) -> tuple[World, TwemproxyServer, list[MemcachedServer], Client]:
    w = World(0)
    w.network.add_link("app", "proxy", f"const:{D}")
    backends = []
    for i in range(n):
        w.network.add_link("proxy", f"mc{i}", f"const:{D}")
        backends.append(MemcachedServer(w, f"mc{i}", service="const:0"))
    px = TwemproxyServer(w, "proxy", backends, service="const:0", **proxy)
    c = Client(w, "app", px, default_noreply=False)  # type: ignore[arg-type]  # the proxy speaks memcached
    return w, px, backends, c


def run(w: World, body: Gen) -> Any:
    p = w.env.process(body)
    return w.env.run(until=p)


def test_fnv1a_64_is_nutcrackers() -> None:
    # FNV-1a with the 64-bit offset basis and prime cut to 32 bits: "" -> 0x84222325, "a" by hand
    assert hash_fnv1a_64(b"") == 0x84222325
    assert hash_fnv1a_64(b"a") == ((0x84222325 ^ 0x61) * 0x1B3) & 0xFFFFFFFF


def test_keys_go_where_the_continuum_says_and_multiget_merges() -> None:
    w, px, backends, c = build(hash="md5")
    ring = KetamaHash(["mc0", "mc1", "mc2"])
    keys = [f"k{i}" for i in range(30)]

    def body() -> Gen:
        for k in keys:
            assert (yield from c.set(k, k.upper()))
        got = yield from c.get_many(keys)
        return got

    got = run(w, body())
    assert got == {k: k.upper().encode() for k in keys}
    for k in keys:
        owner = ring.get_node(k)
        assert owner is not None and backends[int(owner[2])].lookup(k.encode(), False) is not None
    assert px.stats_proxy["fragments"] == 3  # one get per server


def test_auto_eject_after_failure_limit_and_retry_after_timeout() -> None:
    w, px, backends, c = build(auto_eject_hosts=True, server_failure_limit=2, server_retry_timeout=5.0,
                               hash="md5")
    ring = KetamaHash(["mc0", "mc1", "mc2"])
    key = next(f"k{i}" for i in range(100) if ring.get_node(f"k{i}") == "mc1")
    backends[1].crash()  # the process dies, its host stays up: connections are refused at once
    out: list[tuple[float, Any]] = []

    def body() -> Gen:
        for _ in range(3):
            try:
                r = yield from c.set(key, "v")
            except Exception as e:  # noqa: BLE001 - the error is what is checked
                r = type(e).__name__
            out.append((w.env.now, r))
        return None

    run(w, body())
    # two refused attempts (each: app->proxy, proxy->mc1 refused one round trip later, proxy->app) count two
    # failures: ejected at the second; the third goes to the server that owns the key without mc1
    assert [r for _, r in out] == ["MemcacheServerError", "MemcacheServerError", True]
    eject_t = px.events[0][0]
    assert px.events[0][1:] == ("eject", "mc1")
    assert eject_t == pytest.approx(out[1][0] - D)
    assert px.live == ["mc0", "mc2"]
    other = KetamaHash(["mc0", "mc2"]).get_node(key)
    assert other is not None and backends[int(other[2])].lookup(key.encode(), False) is not None

    # before next_retry = eject + 5 s the server stays out; after it the next request rebuilds with it
    def later(t: float) -> Gen:
        yield w.env.timeout(t - w.env.now)
        try:
            r = yield from c.get(key)
        except Exception as e:  # noqa: BLE001
            r = type(e).__name__
        return r

    assert run(w, later(eject_t + 4.9)) == b"v" and px.live == ["mc0", "mc2"]
    backends[1].restart()
    assert run(w, later(eject_t + 5.1)) is None  # back in the continuum: mc1 is empty after its restart
    assert px.live == ["mc0", "mc1", "mc2"] and px.events[-1][1:] == ("retry", "mc1")


def test_without_auto_eject_the_dead_servers_keys_keep_failing() -> None:
    w, px, backends, c = build(hash="md5")
    ring = KetamaHash(["mc0", "mc1", "mc2"])
    key = next(f"k{i}" for i in range(100) if ring.get_node(f"k{i}") == "mc2")
    backends[2].crash()

    def body() -> Gen:
        errors = 0
        for _ in range(5):
            try:
                yield from c.set(key, "v")
            except Exception:  # noqa: BLE001
                errors += 1
        return errors

    assert run(w, body()) == 5
    assert px.stats_proxy["ejections"] == 0 and px.live == ["mc0", "mc1", "mc2"]


def test_a_host_down_times_out_then_is_ejected() -> None:
    w, px, backends, c = build(auto_eject_hosts=True, server_failure_limit=1, timeout=0.25, hash="md5")
    ring = KetamaHash(["mc0", "mc1", "mc2"])
    key = next(f"k{i}" for i in range(100) if ring.get_node(f"k{i}") == "mc0")
    backends[0].crash(host_down=True)

    def body() -> Gen:
        t0 = w.env.now
        try:
            yield from c.get(key)
        except Exception as e:  # noqa: BLE001
            return type(e).__name__, w.env.now - t0, str(e)
        return None

    name, dt, text = run(w, body())
    assert name == "MemcacheServerError" and "timed out" in text
    assert dt == pytest.approx(2 * D + 2 * D + 0.25)  # connect to the proxy, the request, the proxy's timeout
    assert px.live == ["mc1", "mc2"] and px.stats_proxy["timeouts"] == 1


def test_bad_configuration() -> None:
    w = World(0)
    mc = MemcachedServer(w, "mc")
    with pytest.raises(UsageError, match="distribution"):
        TwemproxyServer(w, "p1", [mc], distribution="random")
    with pytest.raises(UsageError, match="server_failure_limit"):
        TwemproxyServer(w, "p2", [mc], server_failure_limit=0)
    with pytest.raises(UsageError, match="backend"):
        TwemproxyServer(w, "p3", [])
