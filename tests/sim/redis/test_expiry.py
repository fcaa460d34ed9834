"""Expiry, worked by hand with the simulated clock: TTL boundaries, lazy and active expiry, absolute times."""

from __future__ import annotations

from typing import Any

import pytest

from simcache.sim.redis.core import ExpireIndex
from tests.sim.redis.helpers import at, run, world


def test_a_key_lives_through_its_last_millisecond_and_is_gone_after() -> None:
    # Redis expires a key when now > when, in whole milliseconds (db.c keyIsExpired)
    w, srv, _ = world(active_expiry=False)
    assert at(srv, 0.0, "SET", "k", "v", "PX", "100") == "OK"
    assert at(srv, 0.0999, "PTTL", "k") == 1
    assert at(srv, 0.1, "PTTL", "k") == 0
    assert at(srv, 0.1, "GET", "k") == b"v"
    assert at(srv, 0.1009, "GET", "k") == b"v"  # still millisecond 100
    assert at(srv, 0.101, "GET", "k") is None
    assert at(srv, 0.101, "TTL", "k") == -2
    assert srv.stats["expired_keys"] == 1


def test_ttl_rounds_to_the_nearest_second_as_redis_does() -> None:
    w, srv, _ = world(active_expiry=False)
    at(srv, 0.0, "SET", "a", "v", "PX", "1500")
    at(srv, 0.0, "SET", "b", "v", "PX", "1499")
    assert at(srv, 0.0, "TTL", "a") == 2  # (1500 + 500) // 1000
    assert at(srv, 0.0, "TTL", "b") == 1
    assert at(srv, 0.0, "TTL", "nokey") == -2
    at(srv, 0.0, "SET", "c", "v")
    assert at(srv, 0.0, "TTL", "c") == -1
    assert at(srv, 1.2, "TTL", "a") == 0  # 300 ms left rounds down
    assert at(srv, 1.2, "PTTL", "a") == 300


def test_lazy_expiry_deletes_only_when_the_key_is_touched() -> None:
    w, srv, _ = world(active_expiry=False)
    at(srv, 0.0, "SETEX", "k", "10", "v")
    assert at(srv, 11.0, "DBSIZE") == 1  # logically expired, still in the keyspace
    assert at(srv, 11.0, "KEYS", "*") == []  # KEYS skips it without deleting it
    assert srv.stats["expired_keys"] == 0
    misses = srv.stats["keyspace_misses"]
    assert at(srv, 11.0, "GET", "k") is None
    assert srv.stats["keyspace_misses"] == misses + 1
    assert srv.stats["expired_keys"] == 1
    assert at(srv, 11.0, "DBSIZE") == 0
    assert srv.used_memory == 0


def test_expire_boundary_and_non_positive_times_delete_at_once() -> None:
    w, srv, _ = world(active_expiry=False)
    at(srv, 0.0, "SET", "k", "v")
    assert at(srv, 0.0, "EXPIRE", "k", "10") == 1
    assert at(srv, 10.0, "EXISTS", "k") == 1
    assert at(srv, 10.001, "EXISTS", "k") == 0
    at(srv, 11.0, "SET", "j", "v")
    assert at(srv, 11.0, "EXPIRE", "j", "0") == 1  # checkAlreadyExpired: deleted, not expired
    assert at(srv, 11.0, "EXISTS", "j") == 0
    assert at(srv, 11.0, "EXPIRE", "nokey", "10") == 0


def test_expire_options_compare_with_the_current_expiry() -> None:
    w, srv, _ = world(active_expiry=False)
    at(srv, 0.0, "SET", "k", "v")
    assert at(srv, 0.0, "EXPIRE", "k", "100", "XX") == 0  # no expiry yet
    assert at(srv, 0.0, "EXPIRE", "k", "100", "GT") == 0  # no expiry counts as infinite
    assert at(srv, 0.0, "EXPIRE", "k", "100", "NX") == 1
    assert at(srv, 0.0, "EXPIRE", "k", "50", "NX") == 0
    assert at(srv, 0.0, "EXPIRE", "k", "50", "GT") == 0
    assert at(srv, 0.0, "EXPIRE", "k", "200", "GT") == 1
    assert at(srv, 0.0, "EXPIRE", "k", "300", "LT") == 0
    assert at(srv, 0.0, "EXPIRE", "k", "20", "LT", "XX") == 1
    assert at(srv, 0.0, "TTL", "k") == 20
    assert at(srv, 0.0, "PERSIST", "k") == 1
    assert at(srv, 0.0, "PERSIST", "k") == 0
    assert at(srv, 0.0, "TTL", "k") == -1


def test_set_keepttl_keeps_and_plain_set_clears_the_expiry() -> None:
    w, srv, _ = world(active_expiry=False)
    at(srv, 0.0, "SET", "k", "v", "EX", "100")
    at(srv, 0.0, "SET", "k", "w", "KEEPTTL")
    assert at(srv, 0.0, "TTL", "k") == 100
    at(srv, 0.0, "INCR", "n")
    at(srv, 0.0, "EXPIRE", "n", "50")
    at(srv, 0.0, "INCR", "n")  # INCR overwrites the value in place: the expiry stays (dbOverwrite)
    assert at(srv, 0.0, "TTL", "n") == 50
    at(srv, 0.0, "SET", "k", "x")
    assert at(srv, 0.0, "TTL", "k") == -1


def test_absolute_times_count_from_unix_start() -> None:
    start = 1_700_000_000.0
    w, srv, _ = world(active_expiry=False, unix_start=start)
    assert at(srv, 0.0, "SET", "k", "v", "EXAT", str(int(start) + 60)) == "OK"
    assert at(srv, 0.0, "TTL", "k") == 60
    assert at(srv, 0.0, "EXPIRETIME", "k") == int(start) + 60
    assert at(srv, 0.0, "SET", "old", "v", "PXAT", str(int(start * 1000) - 1)) == "OK"
    assert at(srv, 0.0, "EXISTS", "old") == 0  # set with a time already past: gone at the next look
    assert at(srv, 0.0, "PEXPIREAT", "k", str(int(start * 1000) + 5000)) == 1
    assert at(srv, 0.0, "PTTL", "k") == 5000
    secs, micros = at(srv, 2.5, "TIME")
    assert (int(secs), int(micros)) == (int(start) + 2, 500_000)


def test_active_expiry_reclaims_expired_keys_nobody_reads() -> None:
    w, srv, _ = world(hz=10)
    for i in range(200):
        at(srv, 0.0, "SET", f"k{i}", "v", "PX", "500")
    for i in range(50):
        at(srv, 0.0, "SET", f"keep{i}", "v", "EX", "3600")
    w.env.run(until=0.55)
    assert srv.stats["expired_keys"] == 0  # at the 0.5 s tick now == when: not yet expired
    w.env.run(until=0.65)
    # one tick later: the cycle loops while more than 10% of a 20-key sample had expired, so it stops once
    # the few stale keys left are diluted among the live ones
    assert 150 <= srv.stats["expired_keys"] < 200
    w.env.run(until=5.0)
    assert srv.stats["expired_keys"] == 200
    assert len(srv.data) == 50
    assert 0 < srv.avg_ttl <= 3_600_000  # the running estimate of the remaining TTL (ms)


def test_active_expiry_stops_at_its_time_budget() -> None:
    # 25% of a 100 ms cron period at 1 ms per examined key is 25 ms: the cycle checks the budget every
    # 16 loops of 20 keys, so it stops after 320 keys and the rest wait for the next ticks
    w, srv, _ = world(hz=10, expire_key_cost=0.001)
    for i in range(1000):
        at(srv, 0.0, "SET", f"k{i}", "v", "PX", "50")
    w.env.run(until=0.15)  # one tick (at 0.1 s) after the keys expired
    assert srv.stats["expired_keys"] == 320
    assert srv.stats["expired_time_cap_reached_count"] == 1
    w.env.run(until=0.55)
    assert srv.stats["expired_keys"] == 1000


def test_the_expires_index_scans_every_key_once_per_sweep() -> None:
    import random

    idx = ExpireIndex(random.Random(1))
    for i in range(10):
        idx.set(i, 1000 + i)
    seen = idx.scan(4) + idx.scan(4) + idx.scan(2)
    assert sorted(seen) == list(range(10))
    assert idx.pop(3) == 1003 and 3 not in idx and len(idx) == 9
    assert sorted(idx.scan(100)) == [k for k in range(10) if k != 3]


@pytest.mark.parametrize("cmd,err", [
    (("SET", "k", "v", "EX", "0"), "ERR invalid expire time in 'set' command"),
    (("SET", "k", "v", "PX", "-1"), "ERR invalid expire time in 'set' command"),
    (("SETEX", "k", "0", "v"), "ERR invalid expire time in 'setex' command"),
    (("SET", "k", "v", "EX", "10", "PX", "100"), "ERR syntax error"),
    (("SET", "k", "v", "KEEPTTL", "EX", "10"), "ERR syntax error"),
    (("SET", "k", "v", "NX", "XX"), "ERR syntax error"),
    (("SET", "k", "v", "EX", "1.5"), "ERR value is not an integer or out of range"),
    (("EXPIRE", "k", "10", "NX", "GT"), "ERR NX and XX, GT or LT options at the same time are not compatible"),
    (("EXPIRE", "k", "10", "GT", "LT"), "ERR GT and LT options at the same time are not compatible"),
    (("EXPIRE", "k", "9223372036854775807"), "ERR invalid expire time in 'expire' command"),
])
def test_expiry_argument_errors_have_redis_text(cmd: tuple[Any, ...], err: str) -> None:
    w, srv, _ = world()
    assert str(at(srv, 0.0, *cmd)) == err


def test_ttl_through_the_client_and_the_network() -> None:
    w, srv, r = world(latency="const:0.01")

    def body() -> Any:
        yield from r.set("k", "v", ex=30)
        yield w.env.timeout(10.0)
        return (yield from r.ttl("k")), (yield from r.pttl("k"))

    ttl, pttl = run(w, body)
    # SET ran at 0.01 (one hop): it expires at 30.01 s; PTTL ran at 10.0502 s (SET's reply at 0.0201, ten
    # seconds, TTL's round trip of 0.0201, PTTL's hop of 0.01)
    assert ttl == 20
    assert pttl == 30_010 - 10_050
