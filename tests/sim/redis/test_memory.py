"""maxmemory worked by hand: OOM with noeviction, evictions before commands with the Redis policies, INFO, CONFIG."""

from __future__ import annotations

from typing import Any

import pytest

from simcache.sim.redis.client import OutOfMemoryError
from simcache.sim.redis.core import KEY_OVERHEAD
from tests.sim.redis.helpers import at, run, world

VALUE = "x" * 100
CHARGE = 2 + 100 + KEY_OVERHEAD  # "k1" + value + overhead = 158 bytes


def test_noeviction_accepts_the_write_that_crosses_the_limit_then_refuses() -> None:
    # processCommand checks memory before the command: the write that goes over passes, the next is refused
    w, srv, r = world(maxmemory=1000, maxmemory_policy="noeviction")

    def body() -> Any:
        out = []
        for i in range(1, 9):
            try:
                out.append((yield from r.set(f"k{i}", VALUE)))
            except OutOfMemoryError as e:
                out.append(str(e))
        out.append((yield from r.get("k1")))  # reads still work
        out.append((yield from r.delete("k7", "k6")))  # DEL is not denyoom
        out.append((yield from r.set("k9", VALUE)))  # back under the limit
        return out

    out = run(w, body)
    assert out[:7] == [True] * 7  # 6 * 158 = 948 <= 1000 when the 7th arrives
    assert out[7] == "command not allowed when used memory > 'maxmemory'."
    assert out[8:] == [VALUE.encode(), 2, True]
    assert srv.stats["rejected_oom"] == 1 and srv.stats["evicted_keys"] == 0
    assert srv.used_memory == 6 * CHARGE


def test_allkeys_lru_evicts_the_least_recently_used_before_the_next_command() -> None:
    w, srv, r = world(maxmemory=1000, maxmemory_policy="allkeys-lru", maxmemory_samples=16)
    alive: list[Any] = []

    def body() -> Any:
        for i in range(20):
            yield w.env.timeout(1.0)  # the LRU clock ticks once a second
            yield from r.set(f"k{i:02d}" if i else "k00", VALUE)
            yield from r.get("k00")  # k00 is used every second
            alive.append(sorted(srv.data))
        return (yield from r.info("stats"))["evicted_keys"]

    evicted = run(w, body)
    last = alive[-1]
    # each SET goes over the limit (7 keys); the GET after it first evicts one (back to 6); sampling every key
    # (16 >= 7) makes the approximation exact, so k00 (used every second) and the newest keys survive
    assert last == [b"k00"] + [f"k{i:02d}".encode() for i in range(15, 20)]
    assert evicted == 20 - 6
    assert srv.used_memory <= 1000 + 3 * CHARGE


def test_volatile_policies_evict_only_keys_with_an_expiry() -> None:
    w, srv, _ = world(maxmemory=1000, maxmemory_policy="volatile-ttl")
    for i in range(6):
        at(srv, 0.0, "SET", f"p{i}", VALUE)
    at(srv, 0.0, "SET", "t1", VALUE, "EX", "100")
    at(srv, 0.0, "SET", "t2", VALUE, "EX", "50")  # used 8 * 158 > 1000 after this one
    assert at(srv, 0.0, "SET", "p6", VALUE) == "OK"  # t2 (soonest expiry), then t1 made room
    assert b"t2" not in srv.data and b"t1" not in srv.data
    assert str(at(srv, 0.0, "SET", "p7", VALUE)) == "OOM command not allowed when used memory > 'maxmemory'."
    assert srv.stats["evicted_keys"] == 2


def test_config_set_maxmemory_evicts_at_once() -> None:
    w, srv, _ = world(maxmemory_policy="allkeys-random")
    for i in range(10):
        at(srv, 0.0, "SET", f"k{i}", VALUE)
    assert srv.used_memory == 10 * CHARGE
    assert at(srv, 0.0, "CONFIG", "SET", "maxmemory", "500") == "OK"
    assert len(srv.data) == 3 and srv.used_memory <= 500
    assert at(srv, 0.0, "CONFIG", "GET", "maxmemory") == [b"maxmemory", b"500"]


def test_an_exact_model_policy_keeps_the_keyspace_within_maxmemory() -> None:
    w, srv, _ = world(maxmemory=1000, maxmemory_policy="lru")
    for i in range(20):
        assert at(srv, float(i), "SET", f"k{i:02d}", VALUE) == "OK"  # never OOM
        assert srv.used_memory <= 1000
    assert sorted(srv.data) == [f"k{i:02d}".encode() for i in range(14, 20)]
    assert srv.stats["evicted_keys"] == 14


def test_baseline_memory_counts_against_maxmemory() -> None:
    w, srv, _ = world(maxmemory=1_000_000, baseline_memory=1_000_100)
    assert srv.used_memory == 1_000_100
    assert str(at(srv, 0.0, "SET", "k", "v")).startswith("OOM")
    assert at(srv, 0.0, "GET", "k") is None


def test_memory_is_charged_per_element_and_given_back() -> None:
    w, srv, _ = world()
    at(srv, 0.0, "RPUSH", "l", "a", "bb")
    at(srv, 0.0, "HSET", "h", "f", "vvv")
    at(srv, 0.0, "ZADD", "z", "1", "m")
    at(srv, 0.0, "SADD", "s", "x")
    expected = (1 + KEY_OVERHEAD + 1 + 16 + 2 + 16) + (1 + KEY_OVERHEAD + 1 + 3 + 16) + \
        (1 + KEY_OVERHEAD + 1 + 8 + 16) + (1 + KEY_OVERHEAD + 1 + 16)
    assert srv.used_memory == expected
    at(srv, 0.0, "DEL", "l", "h", "z")
    at(srv, 0.0, "SREM", "s", "x")
    assert srv.used_memory == 0 and srv.data == {}


def test_info_has_redis_field_names_and_sections() -> None:
    w, srv, r = world(maxmemory=10_000, maxmemory_policy="allkeys-lfu")

    def body() -> Any:
        for i in range(50):
            yield from r.set(f"k{i}", "v")
            yield from r.get(f"k{i}")
            yield from r.get("missing")
        yield w.env.timeout(2.0)
        return (yield from r.info()), (yield from r.info("memory")), (yield from r.info("keyspace"))

    info, memory, keyspace = run(w, body)
    for field in ("keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys", "connected_clients",
                  "instantaneous_ops_per_sec", "used_memory", "maxmemory", "maxmemory_policy",
                  "total_commands_processed", "redis_version", "role", "db0"):
        assert field in info, field
    assert info["keyspace_hits"] == 50 and info["keyspace_misses"] == 50
    assert info["total_commands_processed"] == 150
    assert info["maxmemory"] == 10_000 and info["maxmemory_policy"] == "allkeys-lfu"
    assert info["connected_clients"] == 1
    assert info["db0"] == {"keys": 50, "expires": 0, "avg_ttl": 0}
    assert set(memory) >= {"used_memory", "maxmemory", "maxmemory_policy"} and "keyspace_hits" not in memory
    assert list(keyspace) == ["db0"]


def test_instantaneous_ops_per_sec_follows_the_load() -> None:
    w, srv, r = world()

    def body() -> Any:
        while w.env.now < 3.0:
            yield from r.ping()
            yield w.env.timeout(0.01 - 0.0021)  # about 100 commands a second with the round trip
        return (yield from r.info("stats"))["instantaneous_ops_per_sec"]

    assert run(w, body) == pytest.approx(100, abs=5)


def test_config_get_and_set() -> None:
    w, srv, r = world()

    def body() -> Any:
        out = [(yield from r.config_get("maxmemory*"))]
        out.append((yield from r.config_set("maxmemory", "1mb", "maxmemory-policy", "allkeys-lru")))
        out.append((yield from r.config_get("maxmemory", "maxmemory-policy")))
        for args in (("maxmemory-policy", "nope"), ("maxmemory-samples", "0"), ("nosuch", "1"),
                     ("maxmemory", "lots")):
            try:
                yield from r.config_set(*args)
            except Exception as e:  # noqa: BLE001
                out.append(str(e))
        return out

    out = run(w, body)
    assert out[0] == {"maxmemory": "0", "maxmemory-policy": "noeviction", "maxmemory-samples": "5"}
    assert out[1] is True
    assert out[2] == {"maxmemory": "1048576", "maxmemory-policy": "allkeys-lru"}
    assert out[3] == ("CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be "
                      "one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, "
                      "allkeys-lfu, allkeys-random, noeviction")
    assert out[4] == ("CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be "
                      "between 1 and 2147483647 inclusive")
    assert out[5] == "Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    assert out[6] == "CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    assert srv.maxmemory == 1048576 and srv.maxmemory_policy == "allkeys-lru"
