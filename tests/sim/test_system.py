"""System behaviour with numbers: versioned reads, write strategies, pools, failures, determinism."""

from __future__ import annotations

import math

import pytest

from simcache.catalog import get_model
from tests.sim.helpers import system


def test_read_after_committed_write_sees_new_version_cache_aside() -> None:
    s = system("cache-aside")
    c, db = s["client"], s["db"]
    c.at(0.0, 1, "read")
    c.at(0.1, 1, "write")
    c.at(0.2, 1, "read")
    c.at(0.3, 1, "read")
    s["world"].run(1.0)
    r1, w, r2, r3 = (c.result(i) for i in (1, 2, 3, 4))
    assert r1[2] == "ok" and r1[4] == "db" and r1[5] == 0
    assert w[2] == "ok" and db.version(1) == 1
    wid = db.latest_wid[1]
    assert r2[4] == "db" and r2[5] == wid  # the write deleted the cached copy
    assert r3[4] == "redis" and r3[5] == wid  # refilled with the new version
    assert s["world"].recorder.total("client", "stale_reads") == 0


def test_write_around_serves_stale_and_recorder_knows_where_and_how_stale() -> None:
    s = system("write-around")
    c, db, rec = s["client"], s["db"], s["world"].recorder
    c.at(0.0, 1, "read")
    c.at(0.1, 1, "write")
    c.at(0.2, 1, "read")
    s["world"].run(1.0)
    assert db.version(1) == 1
    r = c.result(3)
    assert r[4] == "redis" and r[5] == 0  # the cache still holds version 0
    assert rec.total("redis", "stale_reads") == 1 and rec.total("db", "stale_reads") == 0
    assert rec.total("redis", "stale_versions_sum") == 1
    # commit at 0.102 (client 1 ms + app->db 1 ms); the read's value reached the app at 0.2031
    assert rec.stale_age.quantile(0.5) == pytest.approx(0.2031 - 0.102, rel=0.011)


def test_write_behind_queued_writes_die_with_the_node() -> None:
    s = system("write-behind")
    c, db, cache, world = s["client"], s["db"], s["cache"], s["world"]
    for i in range(3):  # first burst: flushed after the writer's 0.1 s idle wait
        c.at(0.01 * (i + 1), 10 + i, "write")
    for i in range(4):  # second burst: still being collected at the crash
        c.at(0.5 + 0.01 * i, 20 + i, "write")
    world.at(0.56, lambda _: cache.crash())
    world.at(0.8, lambda _: cache.restart(warm=False))
    world.run(2.0)
    assert all(o[2] == "ok" for o in c.outcomes)  # every client was told its write succeeded
    assert db.writes == 3
    assert s["app"].wb.lost == 4
    assert world.recorder.total("redis", "writes_lost") == 4
    assert all(db.version(10 + i) == 1 for i in range(3))
    assert all(db.version(20 + i) == 0 for i in range(4))


def test_write_behind_durable_queue_loses_nothing() -> None:
    s = system("write-behind", durable=True)
    c, db, cache, world = s["client"], s["db"], s["cache"], s["world"]
    for i in range(4):
        c.at(0.5 + 0.01 * i, 20 + i, "write")
    world.at(0.56, lambda _: cache.crash())
    world.at(0.8, lambda _: cache.restart(warm=False))
    world.run(2.0)
    assert s["app"].wb.lost == 0 and db.writes == 4


def test_write_behind_batches_follow_the_seed_loop() -> None:
    s = system("write-behind", latency="const:0.0001")
    c, db, world = s["client"], s["db"], s["world"]
    for i in range(250):  # 250 writes 1 ms apart: batches of 100, 100, 50
        c.at(0.001 * (i + 1), i, "write")
    world.run(3.0)
    assert db.writes == 250
    assert s["app"].wb.batches == 3


@pytest.mark.parametrize(("order", "dirty", "uncommitted"), [("cache_first", 1, 1), ("db_first", 0, 0)])
def test_write_through_order_with_db_failure_between(order: str, dirty: int, uncommitted: int) -> None:
    s = system("write-through", db_error=1.0, order=order)
    c, world = s["client"], s["world"]
    c.at(0.0, 1, "write")
    c.at(0.2, 1, "read")
    world.run(1.0)
    assert c.result(1)[2] == "db_error"
    assert world.recorder.total("client", "dirty_reads") == dirty
    assert world.recorder.total("app", "uncommitted_in_cache") == uncommitted
    assert s["db"].version(1) == 0
    assert c.result(2)[4] == ("redis" if order == "cache_first" else "db")


def test_pool_exhaustion_fails_fast_and_waiting_pool_absorbs_the_burst() -> None:
    s = system("cache-aside", cache_pool=(2, 0.0))
    c = s["client"]
    for k in range(10):
        c.at(0.0, k, "read")
    s["world"].run(1.0)
    pool = s["app"].cache_pool
    # 8 of the 10 GETs find both connections taken; some later fills (SET) fail the same way
    assert pool.exhausted >= 8
    assert s["world"].recorder.total("app", "cache_pool_exhausted") == 8  # GETs that fell back to the DB
    assert s["db"].reads == 10  # 2 misses + 8 fallbacks
    assert all(o[2] == "ok" for o in c.outcomes)

    s = system("cache-aside", cache_pool=(2, 0.05))
    for k in range(10):
        s["client"].at(0.0, k, "read")
    s["world"].run(1.0)
    assert s["app"].cache_pool.exhausted == 0 and s["app"].cache_pool.waited >= 8
    assert s["app"].cache_pool.peak == 2


def test_crash_fails_in_flight_and_refuses_new_commands() -> None:
    s = system("write-through", read_miss="none", cache_service="const:0.05")
    c, cache, world = s["client"], s["cache"], s["world"]
    for _ in range(3):
        c.at(0.0, 1, "read")  # queued one behind the other: departures 0.052, 0.102, 0.152
    world.at(0.06, lambda _: cache.crash())
    c.at(0.1, 1, "read")
    world.run(1.0)
    details = sorted(o[2] for o in c.outcomes)
    assert details == ["cache_refused", "cache_reset", "cache_reset", "not_found"]
    assert cache.reset == 2 and cache.refused == 1
    reset_times = sorted(o[3] for o in c.outcomes if o[2] == "cache_reset")
    assert reset_times == pytest.approx([0.061, 0.061])  # crash + 1 ms back to the app


@pytest.mark.parametrize("warm", [True, False])
def test_restart_warm_or_cold(warm: bool) -> None:
    s = system("cache-aside")
    c, cache, world = s["client"], s["cache"], s["world"]
    for k in range(5):
        c.at(0.0, k, "read")
    world.at(0.5, lambda _: cache.crash())
    world.at(0.6, lambda _: cache.restart(warm=warm))
    world.run(1.0)
    assert len(cache.store) == (5 if warm else 0)


def test_pause_delays_what_is_in_flight_by_the_pause() -> None:
    times = []
    for pause in (None, 0.05):
        s = system("cache-aside", cache_service="const:0.01")
        if pause:
            s["world"].at(0.005, lambda _, p=pause, cache=s["cache"]: cache.pause(p))
        s["client"].at(0.0, 1, "read")
        s["world"].run(1.0)
        rec = s["world"].recorder
        times.append(rec.total("redis", "time") / rec.total("redis", "calls"))
    # GET round trip 1 + 10 + 1 ms, the SET that follows (no pause then) 1 + 10 + 1 ms
    assert times[0] == pytest.approx(0.012)
    assert (times[1] - times[0]) * 2 == pytest.approx(0.05)


def test_partition_times_out_and_heal_restores() -> None:
    s = system("write-through", read_miss="none", timeout=0.5)
    c, net, world = s["client"], s["net"], s["world"]
    world.at(0.0, lambda _: net.isolate("redis"))
    c.at(0.01, 1, "read")
    world.at(0.6, lambda _: net.heal())
    c.at(0.7, 1, "read")
    world.run(2.0)
    assert c.result(1)[2] == "timeout" and c.result(1)[3] == pytest.approx(0.51)
    assert c.result(2)[2] == "not_found"  # reached the cache again (empty: the seed's get answers nothing)


def test_retries_with_backoff_recover_after_heal() -> None:
    s = system("cache-aside", timeout=0.2)
    s["client"].retries = 3
    net, world = s["net"], s["world"]
    world.at(0.0, lambda _: net.partition(["client"], ["app"]))
    world.at(0.3, lambda _: net.heal())
    s["client"].at(0.01, 1, "read")
    world.run(3.0)
    rec = world.recorder
    assert rec.total("client", "ok") == 1 and rec.total("client", "timeout") == 0
    assert rec.total("client", "retries") >= 1
    assert rec.latency_summary("all", scale=1.0)["max"] > 0.2  # counted from the first attempt


def small_three_tier(seed: int = 11, **kw: object) -> dict:
    spec = get_model("three-tier")
    base = {"duration": 3.0, "rate": 800.0, "n_objects": 2000, "app_cache": 100, "cache_capacity": 500,
            "app_cpu": "exp:0.0002", "write_fraction": 0.1}
    base.update(kw)
    return spec.run(spec.make_params(base), seed)


def test_three_tier_lindley_equals_event_by_event() -> None:
    a = small_three_tier(queueing="lindley")
    b = small_three_tier(queueing="events")
    assert a["sim_requests"] > 2000
    for key in ("sim_requests", "completed", "hit_ratio", "outcomes", "stale_reads", "db"):
        assert a[key] == pytest.approx(b[key]) if isinstance(a[key], float) else a[key] == b[key], key
    for q in ("mean", "p50", "p99", "max"):
        assert a["latency_ms"][q] == pytest.approx(b["latency_ms"][q], rel=1e-9)


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    a, b, c = small_three_tier(), small_three_tier(), small_three_tier(seed=12)
    assert a == b
    assert a["latency_ms"]["mean"] != c["latency_ms"]["mean"]


def test_memcached_profile_with_workers_beats_single_loop_under_load() -> None:
    slow = "exp:0.0012"  # ~1 command per 1.2 ms; ~960 commands/s offered to one loop is near saturation
    redis = small_three_tier(cache_profile="redis", cache_service=slow)
    memc = small_three_tier(cache_profile="memcached", cache_workers=4, cache_service=slow)
    assert memc["tiers"]["redis"]["mean_ms"] < redis["tiers"]["redis"]["mean_ms"] / 2
    assert not math.isnan(redis["latency_ms"]["p99"])


def test_a_timed_out_command_leaves_the_server_when_its_service_ends() -> None:
    # three reads queue at a slow cache (0.2 s each); the client gives up after 0.3 s, so the second
    # and third time out while still at the server. Once every command's service has ended the server
    # holds nothing, and a later crash has nobody to reset.
    s = system("write-through", read_miss="none", cache_service="const:0.2", timeout=0.3)
    c, cache, world = s["client"], s["cache"], s["world"]
    for _ in range(3):
        c.at(0.0, 1, "read")
    world.run(0.35)
    assert len(cache.inflight) == 2  # the 2nd (service ends 0.402) and 3rd (0.602), both timed out at 0.301
    world.run(1.0)
    assert sorted(o[2] for o in c.outcomes) == ["not_found", "timeout", "timeout"]
    assert len(cache.inflight) == 0 and cache.counters()["in_flight"] == 0
    cache.crash()
    world.run(1.5)
    assert cache.reset == 0
