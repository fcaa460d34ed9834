"""Persistence under fixed schedules: save rules, RDB and AOF loss windows, process crash vs power loss, LOADING."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from simcache.sim.ledger import Ledger
from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.client import BusyLoadingError, ResponseError
from simcache.sim.redis.persistence import MISCONF_RDB, parse_save
from simcache.sim.redis.replication import resp_len
from simcache.sim.world import World

LAT = "const:0.0005"


def setup(**kw: Any) -> tuple[World, RedisServer, Redis, Ledger]:
    w = World(0)
    w.network.add_link("app", "r", LAT)
    srv = RedisServer(w, "r", service="const:0.0001", **kw)
    return w, srv, Redis(w, "app", srv), Ledger()


def writer(w: World, c: Redis, led: Ledger, until: float, every: float = 0.1,
           offset: float = 0.05) -> Generator[Any, Any, None]:
    """SET w<i> Value(i) at offset + i * every (one key per write), recording each acknowledged write."""
    i = 0
    while True:
        t = offset + i * every
        if t >= until:
            return
        if t > w.env.now:
            yield w.env.timeout(t - w.env.now)
        try:
            ok = yield from c.set(f"w{i}", Value(i + 1, 10))
            if ok:
                led.record(f"w{i}", Value(i + 1, 10), w.env.now, t)
        except Exception:  # noqa: BLE001 - refused or reset writes are simply not acknowledged
            pass
        i += 1


def crash_and_restart(w: World, srv: RedisServer, at: float, back: float, power: bool) -> Generator[Any, Any, None]:
    yield w.env.timeout(at - w.env.now)
    if power:
        srv.power_loss()
    else:
        srv.crash()
    yield w.env.timeout(back - w.env.now)
    srv.restart()


def test_parse_save() -> None:
    assert parse_save("900 1 300 10 60 10000") == [(900, 1), (300, 10), (60, 10000)]
    assert parse_save("") == []
    with pytest.raises(ValueError):
        parse_save("900")


# -------------------------------------------------------------------- RDB
@pytest.mark.parametrize("power", [False, True])
def test_rdb_save_rule_and_what_a_crash_loses(power: bool) -> None:
    """``save 5 1`` at hz 1: the cron at t fires once unixtime - lastsave (0) > 5, i.e. at t = 6.0; the snapshot
    holds the 60 writes of 0.05..5.95 s.  A crash at 8.0 s loses the 20 writes of 6.05..7.95 s (process crash or
    power loss alike: the RDB was fsynced when it completed)."""
    w, srv, c, led = setup(save="5 1", hz=1)
    w.process(writer(w, c, led, until=8.0))
    w.process(crash_and_restart(w, srv, 8.0, 8.5, power))
    w.env.run(until=7.5)
    info = srv.persistence_info()
    assert info["rdb_last_save_time"] == 6 and srv.rdb_file is not None and srv.rdb_file.taken_at == 6.0
    assert info["rdb_changes_since_last_save"] == 15  # 6.05 .. 7.45
    w.env.run(until=10.0)
    assert len(srv.data) == 60
    rep = led.losses(srv)
    assert rep.acknowledged == 80 and rep.lost == 20
    assert rep.lost_writes[0].key == b"w60"
    assert srv.last_load["source"] == "rdb"


def test_failed_bgsave_is_retried_only_after_the_retry_delay() -> None:
    """save 1 1, hz 1, the disk failing: BGSAVE at 2 s (2 - 0 > 1) fails; the rules try again only once
    unixtime - lastbgsave_try > 5: at 8 s, 14 s...  Writes get MISCONF meanwhile; the disk is fixed at 10 s,
    so the try at 14 s succeeds."""
    w, srv, c, led = setup(save="1 1", hz=1)
    srv.disk_error = True
    errors: list[str] = []

    def body() -> Generator[Any, Any, None]:
        yield from c.set("a", "1")
        yield w.env.timeout(3.0 - w.env.now)
        try:
            yield from c.set("b", "1")
        except ResponseError as e:
            errors.append(str(e))
        yield w.env.timeout(10.0 - w.env.now)
        srv.disk_error = False

    w.process(body())
    w.env.run(until=16.0)
    starts = [m["t"] for m in w.recorder.markers() if m["kind"] == "bgsave-start"]
    assert starts == [2.0, 8.0, 14.0]
    assert errors == [MISCONF_RDB]  # redis-py knows no MISCONF class: a ResponseError with the whole text
    assert srv.lastbgsave_ok and srv.lastsave == 14


def test_bgsave_save_lastsave_replies() -> None:
    w, srv, c, _ = setup()
    got: dict[str, Any] = {}
    srv.dispatch((b"SET", b"big", Value(1, 100_000_000)))  # 100 MB: the child writes for 0.5 s at 200 MB/s

    def body() -> Generator[Any, Any, None]:
        got["bg"] = yield from c.execute_command("BGSAVE")
        try:
            yield from c.execute_command("BGSAVE")
        except ResponseError as e:
            got["bg2"] = str(e)
        try:
            yield from c.execute_command("SAVE")
        except ResponseError as e:
            got["save"] = str(e)
        got["info"] = yield from c.info("persistence")
        yield w.env.timeout(1.0)
        got["last"] = yield from c.execute_command("LASTSAVE")

    w.process(body())
    w.env.run(until=2.0)
    assert got["bg"] == b"Background saving started"
    assert got["bg2"] == got["save"] == "Background save already in progress"
    assert got["info"]["rdb_bgsave_in_progress"] == 1
    assert got["last"] == 0  # the child ended at ~0.5 s: whole seconds
    # the fork paused the event loop in proportion to used_memory (0.013 s per GB)
    assert srv.repl_stats["fork_time"] == pytest.approx(srv.used_memory / (1 << 30) * 0.013, rel=0.01)


# -------------------------------------------------------------------- AOF
@pytest.mark.parametrize("power", [False, True])
def test_aof_always_loses_nothing(power: bool) -> None:
    w, srv, c, led = setup(appendonly=True, appendfsync="always", fsync_time="const:0.001")
    w.process(writer(w, c, led, until=5.0))
    w.process(crash_and_restart(w, srv, 4.98, 6.0, power))
    w.env.run(until=8.0)
    assert led.count == 50 and led.lost(srv) == 0
    assert srv.last_load["source"] == "aof"


def test_aof_always_write_reply_waits_for_the_fsync() -> None:
    w, srv, c, _ = setup(appendonly=True, appendfsync="always", fsync_time="const:0.01")
    got: list[float] = []

    def body() -> Generator[Any, Any, None]:
        yield from c.set("a", "1")
        got.append(w.env.now)

    w.process(body())
    w.env.run(until=1.0)
    # 0.5 ms there, 0.1 ms service + 10 ms fsync (the event loop is stopped), 0.5 ms back
    assert got[0] == pytest.approx(0.0111, abs=1e-6)


def test_aof_always_group_commits_the_replies_of_an_iteration() -> None:
    """20 writes reach the server together: they run back to back (0.1 ms each), then one 10 ms fsync covers them
    all and releases every reply together."""
    w, srv, c, _ = setup(appendonly=True, appendfsync="always", fsync_time="const:0.01")
    done: list[float] = []

    def one(i: int) -> Generator[Any, Any, None]:
        yield from c.set(f"k{i}", "v")
        done.append(w.env.now)

    for i in range(20):
        w.process(one(i))
    w.env.run(until=1.0)
    assert srv.aof_fsyncs == 1 and srv.aof_durable == srv.aof_current_size
    assert len(done) == 20
    # the fsync starts with the last command's service (0.0005 + 19 x 0.0001 s) and lasts 10 ms; the replies cross
    # back in 0.5 ms (the last one leaves when its own service, stretched by the fsync, ends: 0.1 ms later)
    first = 0.0005 + 19 * 0.0001 + 0.01 + 0.0005
    assert sorted(done) == pytest.approx([first] * 19 + [first + 0.0001], abs=1e-9)


@pytest.mark.parametrize("power, lost", [(False, 0), (True, 5)])
def test_aof_everysec_crash_vs_power_loss(power: bool, lost: int) -> None:
    """Background fsyncs start at the first write of each new second (1.05, 2.05, ... 5.05 s) and cover what was
    written by then.  Power loss at 5.58 s: the writes of 5.15..5.55 s were only in the page cache: 5 lost.  A
    process crash loses nothing: every write was write()n before its reply."""
    w, srv, c, led = setup(appendonly=True, appendfsync="everysec", fsync_time="const:0.002")
    w.process(writer(w, c, led, until=5.58))
    w.process(crash_and_restart(w, srv, 5.58, 6.0, power))
    w.env.run(until=8.0)
    assert led.count == 56
    rep = led.losses(srv)
    assert rep.lost == lost
    if lost:
        assert [a.key for a in rep.lost_writes] == [b"w51", b"w52", b"w53", b"w54", b"w55"]
        assert rep.loss_window <= 2.0


def test_aof_everysec_postpones_writes_while_an_fsync_runs() -> None:
    """A 3 s fsync starts at 1.05 s; the writes after it stay in aof_buf (postponed, replies sent) until 2 s of
    unixtime have passed since the first postponement (1 s): at 3.05 s they are written anyway
    (aof_delayed_fsync 1).  A process crash at 2.5 s loses the 14 acknowledged writes of 1.15..2.45 s."""
    w, srv, c, led = setup(appendonly=True, appendfsync="everysec", fsync_time="const:3")
    w.process(writer(w, c, led, until=2.5))
    w.env.run(until=2.5)
    info = srv.persistence_info()
    assert info["aof_pending_bio_fsync"] == 1 and info["aof_buffer_length"] > 0 and info["aof_delayed_fsync"] == 0
    srv.crash()
    srv.restart()
    w.env.run(until=4.0)
    assert led.lost(srv) == 14

    w2, srv2, c2, led2 = setup(appendonly=True, appendfsync="everysec", fsync_time="const:3")
    w2.process(writer(w2, c2, led2, until=3.5))
    w2.env.run(until=3.1)
    # written anyway by the cron at 3.0 s; the write at 3.05 s is postponed anew (39 bytes: SET w30 <10 bytes>)
    assert srv2.aof_delayed_fsync == 1 and srv2.aof_buf_bytes == resp_len((b"SET", b"w30", Value(31, 10))) == 39


@pytest.mark.parametrize("power, lost", [(False, 0), (True, 350)])
def test_aof_no_loses_up_to_the_os_writeback_on_power_loss(power: bool, lost: int) -> None:
    """appendfsync no: the OS writes back page-cache data 30 s old, checking every 5 s.  Writes run 0.05..39.95 s;
    at 39.99 s the last writeback (35 s) had covered what was written by 5 s: a power loss keeps 50 writes and
    loses 350 (the ~35 s window); a process crash loses none."""
    w, srv, c, led = setup(appendonly=True, appendfsync="no")
    w.process(writer(w, c, led, until=39.99))
    w.process(crash_and_restart(w, srv, 39.99, 40.5, power))
    w.env.run(until=45.0)
    assert led.count == 400
    rep = led.losses(srv)
    assert rep.lost == lost
    if lost:
        assert rep.lost_writes[0].key == b"w50"


# ----------------------------------------------------------------- restarts
def test_restart_replies_loading_at_the_load_rate() -> None:
    """A 2 MB dataset loaded at 1 MB/s: LOADING (BusyLoadingError in the client) for 2 s after the restart."""
    w, srv, c, _ = setup(save="1 1", hz=1, load_rate=1e6)
    srv.dispatch((b"SET", b"big", Value(1, 2_000_000)))
    seen: list[tuple[float, str]] = []

    def body() -> Generator[Any, Any, None]:
        yield w.env.timeout(3.0)  # the save rule wrote the RDB at 2 s
        srv.crash()
        srv.restart()
        while w.env.now < 7.0:
            try:
                yield from c.get("big")
                seen.append((w.env.now, "ok"))
            except BusyLoadingError as e:
                seen.append((w.env.now, str(e)))
            yield w.env.timeout(0.1)

    w.process(body())
    w.env.run(until=7.5)
    loading = [t for t, k in seen if k != "ok"]
    assert {k for _, k in seen if k != "ok"} == {"Redis is loading the dataset in memory"}
    nbytes = srv.last_load["bytes"]
    assert nbytes > 2_000_000
    assert loading[0] == pytest.approx(3.0011, abs=1e-6) and 3.0 + nbytes / 1e6 - 0.11 < loading[-1] < 3.0 + nbytes / 1e6
    assert seen[-1][1] == "ok"


def test_replica_restarted_from_its_rdb_resyncs_partially() -> None:
    w = World(0)
    w.network.add_link("m", "r", LAT)
    m = RedisServer(w, "m", service="const:0.0001", repl_diskless_sync_delay=0)
    r = RedisServer(w, "r", service="const:0.0001", replicaof="m", save="1 1", hz=1)

    def body() -> Generator[Any, Any, None]:
        yield w.env.timeout(2.5)
        m.dispatch((b"SET", b"a", b"1"))
        yield w.env.timeout(5.0 - w.env.now)  # r's save rule wrote its RDB at 4 s (with the replication offset)
        r.crash()
        yield w.env.timeout(1.0)
        r.restart()

    w.process(body())
    w.env.run(until=12.0)
    assert r.repl_state == "connected" and r.data.keys() == m.data.keys()
    assert m.repl_stats["sync_partial_ok"] == 1 and m.repl_stats["sync_full"] == 1


def test_power_loss_seam_on_a_plain_component() -> None:
    w, srv, c, _ = setup()
    srv.power_loss()
    assert not srv.up and not srv.host_up
    srv.restart()
    assert srv.up and srv.host_up


# ------------------------------------------------------------ differential
def test_differential_info_persistence_fields(real_redis: Any) -> None:
    for aof in (False, True):
        real_redis.config_set("appendonly", "yes" if aof else "no")
        try:
            real = list(real_redis.info("persistence"))
        finally:
            real_redis.config_set("appendonly", "no")
        _, srv, _, _ = setup(appendonly=aof)
        assert list(srv.persistence_info()) == [k for k in real if not k.startswith("aof_rewrite_scheduled_")]


def test_differential_save_config_and_bgsave_reply(real_redis: Any) -> None:
    real_redis.config_set("save", "900 1 300 10 60 10000")
    try:
        real_save = real_redis.config_get("save")["save"]
    finally:
        real_redis.config_set("save", "")
    w, srv, c, _ = setup(save="900 1 300 10 60 10000")
    got: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        got["save"] = (yield from c.config_get("save"))["save"]
        got["bg"] = yield from c.execute_command("BGSAVE")

    w.process(body())
    w.env.run(until=1.0)
    assert got["save"] == real_save
    assert got["bg"] == b"Background saving started"


# ---------------------------------------------------------------- the model
@pytest.mark.parametrize("fault", ["crash", "power-loss"])
def test_persistence_model_everysec(fault: str) -> None:
    """The seed's persistence (AOF everysec): a process crash loses nothing; a power loss loses the writes of
    at most the last ~1-2 s (since the last completed background fsync), and not more."""
    from simcache.catalog import run_model

    s = run_model("persistence", {"duration": 12, "write_rate": 200, "fault": fault, "fault_at": 6,
                                  "restart_after": 1}, seed=2)
    assert s["persistence"]["loaded_from"] == "aof"
    if fault == "crash":
        assert s["acknowledged_writes_lost"] == 0
    else:
        assert 0 < s["acknowledged_writes_lost"] <= 2 * 200 * 1.2
        assert 0 < s["loss_window_s"] <= 2.0
    assert 1.0 <= s["unavailable_s"] < 1.1


def test_persistence_model_rdb_only_loses_since_the_last_snapshot() -> None:
    from simcache.catalog import run_model

    s = run_model("persistence", {"duration": 12, "write_rate": 200, "appendonly": False, "save": "2 1", "hz": 1,
                                  "fault": "crash", "fault_at": 6.5, "restart_after": 1}, seed=2)
    # save 2 1 at hz 1: snapshots at 3 s and 6 s (unixtime - lastsave > 2); the crash at 6.5 s loses ~0.5 s
    assert s["persistence"]["loaded_from"] == "rdb"
    assert 0.4 < s["loss_window_s"] <= 0.5
    assert 0 < s["acknowledged_writes_lost"] < 200


@pytest.mark.parametrize("queueing", ["fast", "events"])
def test_aof_always_on_a_master_with_a_replica(queueing: str) -> None:
    """Calls that answer nothing (the replica's REPLCONF ACKs) end an event-loop iteration too: 50 sequential
    writes each get their fsync and their reply, and WAIT 1 sees them on the replica."""
    w = World(0)
    for a, b in [("app", "m"), ("app", "r1"), ("m", "r1")]:
        w.network.add_link(a, b, "const:0.001")
    m = RedisServer(w, "m", service="const:0.0001", repl_diskless_sync_delay=0, queueing=queueing, appendonly=True,
                    appendfsync="always", fsync_time="const:0.001")
    r1 = RedisServer(w, "r1", service="const:0.0001", replicaof="m", queueing=queueing)
    c = Redis(w, "app", m)
    out: list[Any] = []

    def body() -> Generator[Any, Any, None]:
        yield w.env.timeout(2.0)
        for i in range(50):
            yield from c.set(f"k{i}", "v")
        out.append((yield from c.wait(1, 1000)))

    w.process(body())
    w.env.run(until=5.0)
    assert out == [1]
    assert m.aof_fsyncs == 50 and m.aof_durable == m.aof_current_size
    assert len(r1.data) == 50


def test_replica_aof_follows_the_stream() -> None:
    """A replica with its own AOF (always) writes and fsyncs what it applies from the stream; restarted after a
    power loss it has every key (and resyncs from there)."""
    w = World(0)
    w.network.add_link("m", "r1", "const:0.001")
    m = RedisServer(w, "m", service="const:0.0001", repl_diskless_sync_delay=0)
    r1 = RedisServer(w, "r1", service="const:0.0001", replicaof="m", appendonly=True, appendfsync="always")

    def body() -> Generator[Any, Any, None]:
        yield w.env.timeout(2.0)
        for i in range(10):
            m.dispatch((b"SET", f"k{i}".encode(), b"v"))
            yield w.env.timeout(0.01)
        yield w.env.timeout(0.5)
        r1.power_loss()
        r1.restart()

    w.process(body())
    w.env.run(until=2.5)
    assert r1.aof_durable == r1.aof_current_size > 0
    w.env.run(until=6.0)
    assert r1.last_load["source"] == "aof" and len(r1.data) == 10
