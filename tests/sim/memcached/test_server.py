"""The simulated memcached server, worked by hand: expiry, CAS, incr/decr, memory, size limit, flush."""

from __future__ import annotations

import pytest

from simcache.errors import UsageError
from simcache.sim.memcached import (
    MemcacheClientError,
    MemcacheIllegalInputError,
    MemcacheServerError,
    MemcacheUnknownCommandError,
)
from simcache.sim.memcached.server import (
    ITEM_HEADER,
    REALTIME_MAXDELTA,
    MemcachedServer,
    item_ntotal,
    parse_i32,
    parse_u64,
    slab_sizes,
)
from simcache.sim.oracle import Value
from simcache.sim.rpc import ResponseError, call
from simcache.sim.world import World

from .support import call_at, client, run, world_with

U64 = (1 << 64) - 1


# ------------------------------------------------------------------ expiry
def test_relative_expiry_follows_the_whole_second_clock() -> None:
    # the clock ticks at whole seconds from the server's start: set at 0.5 with 1 s, gone at 1.0
    w, [s] = world_with()
    mc = client(w, s)
    call_at(w, 0.5, lambda: mc.set("k", b"v", expire=1))
    assert call_at(w, 0.99, lambda: mc.get("k")) == b"v"
    assert call_at(w, 1.0, lambda: mc.get("k")) is None
    assert s.stats["get_expired"] == 1


def test_zero_never_expires_and_thirty_days_is_still_relative() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("forever", b"v", expire=0))
    run(w, lambda: mc.set("month", b"v", expire=REALTIME_MAXDELTA))
    assert call_at(w, REALTIME_MAXDELTA - 0.5, lambda: mc.get_many(["forever", "month"])) == {
        "forever": b"v", "month": b"v"}
    assert call_at(w, REALTIME_MAXDELTA, lambda: mc.get_many(["forever", "month"])) == {"forever": b"v"}


def test_larger_expiry_is_a_unix_time() -> None:
    w, [s] = world_with(unix_epoch=1_700_000_000.0)
    mc = client(w, s)
    # 30 days + 1 s is a unix time in 1970: long before the server started, so already expired
    run(w, lambda: mc.set("past", b"v", expire=REALTIME_MAXDELTA + 1))
    assert run(w, lambda: mc.get("past")) is None
    # 100 s after simulated time 0 in unix time
    run(w, lambda: mc.set("future", b"v", expire=1_700_000_100))
    assert call_at(w, 99.9, lambda: mc.get("future")) == b"v"
    assert call_at(w, 100.0, lambda: mc.get("future")) is None


def test_negative_expiry_is_already_expired() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    assert run(w, lambda: mc.set("k", b"v", expire=-1)) is True
    assert run(w, lambda: mc.get("k")) is None


def test_touch_moves_the_expiry() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("k", b"v", expire=2))
    assert call_at(w, 1.5, lambda: mc.touch("k", 10)) is True
    assert call_at(w, 5.0, lambda: mc.get("k")) == b"v"
    assert call_at(w, 11.5, lambda: mc.get("k")) is None
    assert run(w, lambda: mc.touch("k", 10)) is False


def test_append_keeps_the_old_flags_and_expiry() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("k", b"a", expire=5, flags=7))
    assert run(w, lambda: mc.append("k", b"b", expire=1000, flags=1)) is True
    assert run(w, lambda: mc.prepend("k", b"_")) is True
    assert s.items[b"k"].flags == 7
    assert call_at(w, 4.9, lambda: mc.get("k")) == b"_ab"
    assert call_at(w, 5.0, lambda: mc.get("k")) is None
    assert run(w, lambda: mc.append("nokey", b"x")) is False


# --------------------------------------------------------------------- cas
def test_cas_succeeds_only_against_the_value_read() -> None:
    w, [s] = world_with()
    a, b = client(w, s), client(w, s)
    run(w, lambda: a.set("k", b"1"))
    _, token = run(w, lambda: a.gets("k"))
    run(w, lambda: b.set("k", b"2"))  # someone else writes in between
    assert run(w, lambda: a.cas("k", b"3", token)) is False
    assert run(w, lambda: a.get("k")) == b"2"
    _, token2 = run(w, lambda: a.gets("k"))
    assert int(token2) > int(token)
    assert run(w, lambda: a.cas("k", b"3", token2)) is True
    assert run(w, lambda: a.cas("k", b"4", token2)) is False  # the successful cas made a new version
    run(w, lambda: a.delete("k"))
    assert run(w, lambda: a.cas("k", b"5", token2)) is None  # gone
    assert (s.stats["cas_hits"], s.stats["cas_badval"], s.stats["cas_misses"]) == (1, 2, 1)


def test_two_concurrent_read_modify_writes_one_wins() -> None:
    w, [s] = world_with(latency="const:0.001")
    mc = client(w, s)
    run(w, lambda: mc.set("n", b"0"))
    outcomes: list[bool | None] = []

    def rmw():
        value, token = yield from mc.gets("n")
        outcomes.append((yield from mc.cas("n", str(int(value) + 1), token)))

    procs = [w.env.process(rmw()), w.env.process(rmw())]
    w.env.run(until=w.env.all_of(procs))
    assert sorted(outcomes, key=str) == [False, True]
    assert run(w, lambda: mc.get("n")) == b"1"


def test_every_link_and_flush_takes_a_cas_value() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("a", b"1"))
    run(w, lambda: mc.flush_all())  # takes value 2
    run(w, lambda: mc.set("b", b"1"))
    assert run(w, lambda: mc.gets("b")) == (b"1", b"3")
    assert run(w, lambda: mc.get("a")) is None
    assert s.stats["get_flushed"] == 1


def test_delayed_flush_applies_from_its_time() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("k", b"v"))
    run(w, lambda: mc.flush_all(delay=10))
    assert call_at(w, 8.5, lambda: mc.get("k")) == b"v"
    assert call_at(w, 10.0, lambda: mc.get("k")) is None


# --------------------------------------------------------------- incr/decr
def test_incr_wraps_at_64_bits_and_writes_in_place() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("n", str(U64)))
    assert run(w, lambda: mc.incr("n", 1)) == 0
    # the shorter result overwrites the 20 digits in place, padded with spaces
    assert run(w, lambda: mc.get("n")) == b"0" + b" " * 19
    assert run(w, lambda: mc.incr("n", U64)) == U64


def test_decr_stops_at_zero_and_a_longer_result_makes_a_new_item() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("n", b"100"))
    assert run(w, lambda: mc.decr("n", 95)) == 5
    assert run(w, lambda: mc.get("n")) == b"5  "
    assert run(w, lambda: mc.decr("n", 6)) == 0
    run(w, lambda: mc.set("m", b"99"))
    assert run(w, lambda: mc.incr("m", 1)) == 100
    assert run(w, lambda: mc.get("m")) == b"100"
    assert s.items[b"m"].ntotal == item_ntotal(1, 3, 0)


def test_incr_on_missing_and_non_numeric_values() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    assert run(w, lambda: mc.incr("nokey", 1)) is None
    for v in (b"abc", b"", b"5a", b"-5", b"18446744073709551616"):
        run(w, lambda v=v: mc.set("x", v))
        with pytest.raises(MemcacheClientError) as err:
            run(w, lambda: mc.incr("x", 1))
        assert err.value.args == (b"cannot increment or decrement non-numeric value",)
    run(w, lambda: mc.set("v", Value(3, 8)))  # an opaque simulation value is not a number
    with pytest.raises(MemcacheClientError):
        run(w, lambda: mc.incr("v", 1))
    run(w, lambda: mc.set("x", b"7"))
    with pytest.raises(MemcacheClientError) as err:
        run(w, lambda: mc.incr("x", -1))  # the server cannot read "-1" as an unsigned delta
    assert err.value.args == (b"invalid numeric delta argument",)


def test_numbers_parse_as_memcached_parses_them() -> None:
    assert parse_u64(b" 5\r\n") == 5
    assert parse_u64(b"+5") == 5
    assert parse_u64(b"-0") == 0
    assert parse_u64(b"-5") is None
    assert parse_u64(b"-18446744073709551615") == 1  # strtoull negates in unsigned arithmetic
    assert parse_u64(b"12 34") == 12
    assert parse_u64(b"12x") is None
    assert parse_i32(b"4294967297") == 1  # safe_strtol stores into an int32_t


# ------------------------------------------------------------------ memory
def test_item_size_is_item_ntotal() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("k", b"v"))
    # header + key and its NUL + value and its CRLF + CAS
    assert s.curr_bytes == ITEM_HEADER + 2 + 3 + 8 == 61
    run(w, lambda: mc.set("k2", b"v", flags=5))  # non-zero flags take 4 more bytes
    assert s.curr_bytes == 61 + ITEM_HEADER + 3 + 3 + 4 + 8


def test_item_too_large_is_refused_and_drops_the_old_value() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    largest = (1 << 20) - item_ntotal(1, 0, 0)  # a 1-byte key leaves this much for the value
    assert run(w, lambda: mc.set("b", b"x" * largest)) is True
    with pytest.raises(MemcacheServerError) as err:
        run(w, lambda: mc.set("b", b"x" * (largest + 1)))
    assert err.value.args == (b"object too large for cache",)
    assert run(w, lambda: mc.get("b")) is None  # a failed set must not leave the stale value
    run(w, lambda: mc.set("c", b"y"))
    with pytest.raises(MemcacheServerError):
        run(w, lambda: mc.add("c", Value(1, 2 << 20)))  # a Value counts its .size
    assert run(w, lambda: mc.get("c")) == b"y"  # only set drops the old value
    assert s.stats["store_too_large"] == 2


def test_slab_classes_grow_by_the_factor() -> None:
    sizes = slab_sizes()
    assert sizes[0] == 96 and sizes[-1] == 1 << 19
    assert all(x % 8 == 0 for x in sizes)
    assert all(1.2 < b / a < 1.35 for a, b in zip(sizes[:-2], sizes[1:-1], strict=True))


def _fill_class_server(pages: int) -> tuple[World, MemcachedServer, int, int]:
    w, [s] = world_with(memory=pages << 20)
    value_size = 100_000
    cls = s.slab_class(item_ntotal(3, value_size, 0))
    assert cls is not None
    return w, s, value_size, cls.perslab


def test_lru_eviction_order_under_the_memory_limit() -> None:
    # 100,000-byte values with 3-byte keys take 100,062 bytes: class 103,496 holds 10 per 1 MB page;
    # 2 MB of memory is 2 pages, so 20 items fit
    w, s, size, perslab = _fill_class_server(2)
    assert perslab == 10
    mc = client(w, s)
    for i in range(20):
        run(w, lambda i=i: mc.set(f"k{i:02}", Value(i, size)))
    assert len(s.items) == 20 and s.mem_malloced == 2 << 20
    run(w, lambda: mc.get("k00"))  # k00 moves to the head: k01 is now the oldest
    run(w, lambda: mc.set("k20", Value(20, size)))
    run(w, lambda: mc.set("k21", Value(21, size)))
    found = run(w, lambda: mc.get_many([f"k{i:02}" for i in range(22)]))
    assert sorted(set(f"k{i:02}" for i in range(22)) - set(found)) == ["k01", "k02"]
    st = run(w, lambda: mc.stats())
    assert st[b"evictions"] == 2 and st[b"curr_items"] == 20 and st[b"limit_maxbytes"] == 2 << 20


def test_a_tail_pull_reclaims_expired_items_on_its_way_to_an_eviction() -> None:
    # lru_pull_tail with LRU_PULL_EVICT: expired tail items are reclaimed and the walk goes on to the
    # first live item, which is evicted all the same
    w, s, size, perslab = _fill_class_server(2)
    mc = client(w, s)
    run(w, lambda: mc.set("k00", Value(0, size), expire=1))
    for i in range(1, 20):
        run(w, lambda i=i: mc.set(f"k{i:02}", Value(i, size)))
    call_at(w, 5.0, lambda: mc.set("k20", Value(20, size)))
    assert [k for k in (b"k00", b"k01", b"k02", b"k20") if k in s.items] == [b"k02", b"k20"]
    st = run(w, lambda: mc.stats())
    assert (st[b"reclaimed"], st[b"evictions"], st[b"expired_unfetched"]) == (1, 1, 1)


def test_evictions_are_per_slab_class() -> None:
    # memory full of 100 KB items; small items still get a first page of their own (past the limit)
    # and then evict among themselves, never the big ones
    w, s, size, perslab = _fill_class_server(2)
    mc = client(w, s)
    for i in range(20):
        run(w, lambda i=i: mc.set(f"k{i:02}", Value(i, size)))
    small = s.slab_class(item_ntotal(4, 10, 0))
    assert small is not None
    n = small.perslab + 5
    for i in range(n):
        run(w, lambda i=i: mc.set(f"s{i:03}", b"x" * 10))
    assert s.mem_malloced == 3 << 20
    assert small.evicted == 5 and len(small.lru) == small.perslab
    assert all(f"k{i:02}".encode() in s.items for i in range(20))


def test_without_eviction_a_full_class_refuses_writes() -> None:
    w, [s] = world_with(memory=2 << 20, evict=False)
    mc = client(w, s)
    cls = s.slab_class(item_ntotal(3, 100_000, 0))
    assert cls is not None
    for i in range(2 * cls.perslab):
        run(w, lambda i=i: mc.set(f"k{i:02}", Value(i, 100_000)))
    with pytest.raises(MemcacheServerError) as err:
        run(w, lambda: mc.set("one-more", Value(99, 100_000)))
    assert err.value.args == (b"out of memory storing object",)


def test_memory_must_hold_two_of_the_largest_items() -> None:
    with pytest.raises(UsageError, match="item_size_max"):
        MemcachedServer(World(0), "mc", memory=1 << 20)


# -------------------------------------------------------- protocol errors
def test_unknown_command_and_bad_arity_are_plain_errors() -> None:
    w, [s] = world_with()

    def raw(cmd):
        return call(w, "app", s, cmd)

    for cmd in [(b"bogus", b"k"), (b"set", b"k"), (b"get",), (b"incr", b"k")]:
        with pytest.raises(ResponseError, match="^ERROR$"):
            run(w, lambda cmd=cmd: raw(cmd))
    with pytest.raises(ResponseError, match="bad command line format"):
        run(w, lambda: raw((b"get", b"k" * 251)))


def test_get_of_an_overlong_key_from_the_client_is_refused_before_sending() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    for bad in ("k" * 251, "a b", " a", "a\n", "a\x00", "é"):
        with pytest.raises(MemcacheIllegalInputError):
            run(w, lambda bad=bad: mc.get(bad))
    assert s.commands_done == 0
    assert run(w, lambda: mc.get("k" * 250)) is None


def test_stats_names_follow_memcached() -> None:
    w, [s] = world_with()
    mc = client(w, s)
    run(w, lambda: mc.set("a", b"1"))
    run(w, lambda: mc.get_many(["a", "b"]))
    st = run(w, lambda: mc.stats())
    assert (st[b"cmd_get"], st[b"get_hits"], st[b"get_misses"], st[b"cmd_set"]) == (2, 1, 1, 1)
    assert st[b"curr_items"] == 1 and st[b"bytes"] == 61 and st[b"threads"] == 4
    assert st[b"version"] == b"1.6.18" and isinstance(st[b"rusage_user"], float)
    slabs = run(w, lambda: mc.stats("slabs"))
    assert slabs[b"1:chunk_size"] == 96 and slabs[b"total_malloced"] == 1 << 20
    with pytest.raises(MemcacheUnknownCommandError):
        run(w, lambda: mc.stats("nonsense"))
