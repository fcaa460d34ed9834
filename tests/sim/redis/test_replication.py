"""Replication under fixed schedules: the stream and offsets, PSYNC partial vs full, WAIT, min-replicas, failover.

Hand-worked expectations; the few differential tests start their own ``redis-server`` processes.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simcache.sim.ledger import Ledger
from simcache.sim.oracle import Value
from simcache.sim.redis import Redis, RedisServer
from simcache.sim.redis.client import BusyLoadingError, MasterDownError, ReadOnlyError, ReplicaReads, ResponseError
from simcache.sim.redis.replication import resp_len
from simcache.sim.world import World

LAT = "const:0.0005"
SVC = "const:0.0001"


def cluster(n: int = 2, **kw: Any) -> tuple[World, RedisServer, list[RedisServer], Redis, list[Redis]]:
    """A master ``m`` and replicas ``r1..rn``, all linked to each other and to ``app``; clients on app."""
    w = World(0)
    names = ["m"] + [f"r{i}" for i in range(1, n + 1)]
    for i, a in enumerate(names):
        w.network.add_link("app", a, LAT)
        for b in names[i + 1:]:
            w.network.add_link(a, b, LAT)
    rkw = {k: v for k, v in kw.items() if not k.startswith("m_")}
    mkw = {k[2:]: v for k, v in kw.items() if k.startswith("m_")}
    base = dict(repl_diskless_sync_delay=0)
    m = RedisServer(w, "m", service=SVC, **{**base, **rkw, **mkw})
    reps = [RedisServer(w, f"r{i}", service=SVC, replicaof="m", **{**base, **rkw}) for i in range(1, n + 1)]
    return w, m, reps, Redis(w, "app", m), [Redis(w, "app", r) for r in reps]


def run(w: World, body: Any, until: float) -> Any:
    p = w.process(body())
    w.env.run(until=until)
    return p.value if p.triggered else None


def sleep_until(w: World, t: float) -> Generator[Any, Any, None]:
    if t > w.env.now:
        yield w.env.timeout(t - w.env.now)


# ------------------------------------------------------------------ stream
def test_resp_len_counts_the_wire_bytes() -> None:
    assert resp_len((b"SET", b"a", b"1")) == len(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n")
    assert resp_len((b"SELECT", b"0")) == 23
    assert resp_len((b"REPLCONF", b"GETACK", b"*")) == 37
    assert resp_len((b"SET", b"k", Value(7, 100))) == len(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n") + 100 + 2


def test_full_sync_then_stream_with_offsets() -> None:
    w, m, (r1, r2), c, (c1, _) = cluster(2)
    got: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)  # replicas connect at their first cron (1 s) and sync at once (delay 0)
        yield from c.set("a", "1")
        yield from sleep_until(w, 2.1)
        got["r1"] = yield from c1.get("a")
        got["info"] = yield from c.info("replication")
        got["rinfo"] = yield from c1.info("replication")
        got["role"] = yield from c.role()

    run(w, body, 3.0)
    assert got["r1"] == b"1"
    # the stream: SELECT 0 (23 bytes) then SET a 1 (27 bytes)
    assert m.master_repl_offset == 23 + 27
    assert r1.master_repl_offset == r2.master_repl_offset == 50
    info = got["info"]
    assert info["role"] == "master" and info["connected_slaves"] == 2
    assert info["slave0"] == {"ip": "r1", "port": 6379, "state": "online", "offset": 50, "lag": 0} or \
        info["slave0"]["state"] == "online"
    assert info["repl_backlog_active"] == 1 and info["repl_backlog_first_byte_offset"] == 1
    assert info["repl_backlog_histlen"] == 50
    ri = got["rinfo"]
    assert ri["role"] == "slave" and ri["master_host"] == "m" and ri["master_link_status"] == "up"
    assert ri["slave_repl_offset"] == 50 and ri["master_replid"] == info["master_replid"]
    assert got["role"][0] == b"master" and got["role"][1] == 50
    assert m.repl_stats["sync_full"] == 2 and m.repl_stats["sync_partial_ok"] == 0


def test_standalone_master_does_not_count_offsets() -> None:
    w = World(0)
    w.network.add_link("app", "m", LAT)
    m = RedisServer(w, "m", service=SVC)
    c = Redis(w, "app", m)

    def body() -> Generator[Any, Any, Any]:
        yield from c.set("a", "1")
        return (yield from c.info("replication"))

    info = run(w, body, 1.0)
    assert info["master_repl_offset"] == 0 and info["repl_backlog_active"] == 0  # no backlog, no replicas


def test_expiry_and_relative_ttls_propagate_as_absolute() -> None:
    w, m, (r1,), c, (c1,) = cluster(1, m_active_expiry=False)
    got: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from c.set("t", "v", px=500)
        yield from sleep_until(w, 2.2)
        got["pttl_m"] = m.get_expire(b"t")
        got["pttl_r"] = r1.get_expire(b"t")
        yield from sleep_until(w, 2.6)
        # past its expiry the key reads as missing on the replica, but it is still there until the master's DEL
        got["r_get"] = yield from c1.get("t")
        got["r_has"] = b"t" in r1.data

    run(w, body, 3.0)
    assert got["pttl_m"] == got["pttl_r"]
    assert got["r_get"] is None
    assert got["r_has"] is True


def test_master_expiry_propagates_del() -> None:
    w, m, (r1,), c, _ = cluster(1)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from c.set("t", "v", px=100)
        yield from sleep_until(w, 2.5)
        yield from c.get("t")  # lazy expiry on the master deletes it and propagates DEL

    run(w, body, 3.0)
    assert b"t" not in m.data and b"t" not in r1.data


# ------------------------------------------------------------- errors
def test_replica_refuses_writes_and_serves_stale_data_or_masterdown() -> None:
    w, m, (r1, r2), c, (c1, c2) = cluster(2)
    r2.replica_serve_stale_data = False
    got: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from c.set("a", "1")
        try:
            yield from c1.set("a", "2")
        except ReadOnlyError as e:
            got["ro"] = str(e)
        m.crash()  # the host stays up: the replicas' connections are reset at once
        yield from sleep_until(w, 2.1)
        got["stale"] = yield from c1.get("a")
        try:
            yield from c2.get("a")
        except MasterDownError as e:
            got["md"] = str(e)
        got["info"] = yield from c2.info("replication")  # INFO is allowed (flag stale)

    run(w, body, 3.0)
    assert got["ro"] == "You can't write against a read only replica."
    assert got["stale"] == b"1"
    assert got["md"] == "Link with MASTER is down and replica-serve-stale-data is set to 'no'."
    assert got["info"]["master_link_status"] == "down"
    assert got["info"]["master_link_down_since_seconds"] == 0


def test_replica_loading_during_full_sync() -> None:
    # a 1 MB value loaded at 1 MB/s: the replica answers LOADING for about one second
    w, m, (r1,), c, (c1,) = cluster(1, load_rate=1e6)
    m.dispatch((b"SET", b"big", Value(1, 1_000_000)))
    seen: list[tuple[float, str]] = []

    def body() -> Generator[Any, Any, None]:
        while w.env.now < 4.0:
            try:
                yield from c1.ping()
                seen.append((w.env.now, "ok"))
            except BusyLoadingError:
                seen.append((w.env.now, "loading"))
            yield w.env.timeout(0.05)

    run(w, body, 4.5)
    loading = [t for t, k in seen if k == "loading"]
    assert loading, seen
    # sync starts at 1 s (first cron); the RDB (1 MB + overhead) crosses at 125 MB/s; load ~1.0 s
    assert 1.0 < loading[0] < 1.1 and 1.9 < loading[-1] < 2.1
    assert r1.data[b"big"].value == Value(1, 1_000_000)


# ------------------------------------------------------------ PSYNC
@pytest.mark.parametrize("backlog, partial", [(1 << 20, True), (1000, False)])
def test_partial_or_full_resync_as_the_backlog_allows(backlog: int, partial: bool) -> None:
    """The replica is cut off for 8 s (repl-timeout 3 s: both sides drop the link); meanwhile the master takes
    40 writes of 100 bytes (~5.3 KB of stream).  With a 1 MB backlog the replica continues; with 1000 bytes it
    needs a full resync."""
    w, m, (r1,), c, (c1,) = cluster(1, repl_timeout=3, repl_backlog_size=backlog)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from c.set("k0", "x")
        yield from sleep_until(w, 3.0)
        cut = w.network.partition(["r1"], ["m", "app"])
        for i in range(40):
            yield from c.set(f"k{i + 1}", "v" * 100)
        yield from sleep_until(w, 11.0)
        w.network.heal(cut)

    run(w, body, 15.0)
    assert r1.repl_state == "connected"
    assert r1.master_repl_offset == m.master_repl_offset
    assert r1.data.keys() == m.data.keys()
    assert m.repl_stats["sync_partial_ok"] == (1 if partial else 0)
    assert m.repl_stats["sync_full"] == (1 if partial else 2)


def test_short_partition_is_retransmitted_without_resync() -> None:
    w, m, (r1,), c, _ = cluster(1)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        cut = w.network.partition(["r1"], ["m", "app"])
        for i in range(5):
            yield from c.set(f"k{i}", "v")
        yield from sleep_until(w, 4.0)
        w.network.heal(cut)

    run(w, body, 7.0)
    assert r1.master_repl_offset == m.master_repl_offset
    assert m.repl_stats["sync_full"] == 1 and m.repl_stats["sync_partial_ok"] == 0


# ------------------------------------------------------------- WAIT
def test_wait_counts_acks_and_returns_the_count_on_timeout() -> None:
    w, m, (r1, r2), c, _ = cluster(2)
    got: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        got["w00"] = yield from c.wait(0, 0)
        yield from c.set("a", "1")
        t0 = w.env.now
        got["w2"] = yield from c.wait(2, 1000)
        got["w2_t"] = w.env.now - t0
        cut = w.network.partition(["r2"], ["m", "r1", "app"])
        yield from c.set("b", "1")
        t0 = w.env.now
        got["w2_cut"] = yield from c.wait(2, 500)
        got["w2_cut_t"] = w.env.now - t0
        got["w1"] = yield from c.wait(1, 500)
        w.network.heal(cut)

    run(w, body, 4.0)
    assert got["w00"] == 2  # acks >= this client's offset (0): every online replica
    assert got["w2"] == 2
    # GETACK goes out at once: the ACKs come back after a round trip (2 x 0.5 ms + service), not after 1 s
    assert got["w2_t"] < 0.005
    assert got["w2_cut"] == 1  # the count reached, on timeout
    assert 0.5 <= got["w2_cut_t"] < 0.502
    assert got["w1"] == 1


def test_wait_on_a_replica_is_an_error() -> None:
    w, m, (r1,), c, (c1,) = cluster(1)

    def body() -> Generator[Any, Any, Any]:
        yield from sleep_until(w, 2.0)
        try:
            yield from c1.wait(1, 0)
        except ResponseError as e:
            return str(e)
        return None

    assert run(w, body, 3.0).startswith("WAIT cannot be used with replica instances.")


# --------------------------------------------------------- min-replicas
@pytest.mark.parametrize("max_lag", [3, 10])
def test_isolated_master_stops_writes_within_max_lag(max_lag: int) -> None:
    w, m, reps, c, _ = cluster(2, m_min_replicas_to_write=1, m_min_replicas_max_lag=max_lag)
    t_cut = 5.3
    refused: list[float] = []

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, t_cut)
        w.network.partition(["m", "app"], ["r1", "r2"])
        while not refused:
            try:
                yield from c.set("k", "v")
            except ResponseError as e:
                assert str(e) == "NOREPLICAS Not enough good replicas to write."
                refused.append(w.env.now)
            yield w.env.timeout(0.01)

    run(w, body, t_cut + max_lag + 5)
    assert refused
    assert max_lag - 1 < refused[0] - t_cut < max_lag + 2


def test_min_replicas_info_field() -> None:
    w, m, _, c, _ = cluster(1, m_min_replicas_to_write=1)

    def body() -> Generator[Any, Any, Any]:
        yield from sleep_until(w, 2.5)
        return (yield from c.info("replication"))

    assert run(w, body, 3.0)["min_slaves_good_slaves"] == 1


# ------------------------------------------------------ failover
def test_promotion_keeps_the_history_and_the_old_master_loses_its_extra_writes() -> None:
    """r1 is promoted while m is cut off with its client; m takes k=3 acknowledged writes the new master never
    sees.  r2 re-points to r1 and continues (+CONTINUE via replid2); m, made a replica of r1 after the heal,
    asks for an offset past r1's second_repl_offset and gets a full resync: the 3 writes are gone."""
    w, m, (r1, r2), c, _ = cluster(2)
    c1 = Redis(w, "app", r1)
    led = Ledger()
    got: dict[str, Any] = {}

    def write(client: Redis, key: str, wid: int) -> Generator[Any, Any, None]:
        t = w.env.now
        v = Value(wid, 10)
        ok = yield from client.set(key, v)
        assert ok
        led.record(key, v, w.env.now, t)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        for i in range(5):
            yield from write(c, f"a{i}", i + 1)
        got["wait_before"] = yield from c.wait(2, 100)
        yield from sleep_until(w, 2.5)
        cut = w.network.partition(["m", "app"], ["r1", "r2"])
        for i in range(3):
            yield from write(c, f"lost{i}", 100 + i)
        t0 = w.env.now
        got["wait_cut"] = yield from c.wait(1, 100)  # acknowledged, WAIT says 0 replicas have it: not safe
        got["wait_cut_t"] = w.env.now - t0
        yield from sleep_until(w, 3.0)
        w.network.heal(cut)
        w.network.partition(["m"], ["r1", "r2", "app"])
        yield from c1.replicaof("NO", "ONE")
        got["r1_info"] = yield from c1.info("replication")
        yield from Redis(w, "app", r2).replicaof("r1", 6379)
        for i in range(2):
            yield from write(c1, f"b{i}", 200 + i)
        yield from sleep_until(w, 5.0)
        w.network.heal()
        yield from c.replicaof("r1", 6379)

    run(w, body, 9.0)
    assert got["wait_before"] == 2
    assert got["wait_cut"] == 0 and got["wait_cut_t"] == pytest.approx(0.0005 + 0.1 + 0.0005, abs=1e-6)
    info = got["r1_info"]
    assert info["role"] == "master" and info["master_replid2"] != 0
    assert info["second_repl_offset"] == info["master_repl_offset"] + 1
    assert r1.repl_stats["sync_partial_ok"] == 1  # r2
    assert r1.repl_stats["sync_full"] == 1  # the old master
    assert m.masterhost == "r1" and m.repl_state == "connected"
    assert m.data.keys() == r1.data.keys() == r2.data.keys()
    assert led.lost(r1) == 3
    rep = led.losses(r1)
    assert [a.key for a in rep.lost_writes] == [b"lost0", b"lost1", b"lost2"]


def test_old_master_without_extra_writes_continues_partially() -> None:
    w, m, (r1,), c, _ = cluster(1)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from c.set("a", "1")
        yield from sleep_until(w, 2.5)
        r1.unset_master()
        m.set_master("r1")

    run(w, body, 4.0)
    assert m.repl_state == "connected"
    assert r1.repl_stats["sync_partial_ok"] == 1 and r1.repl_stats["sync_full"] == 0


def test_master_crash_resets_replica_link_and_restart_forces_full_sync() -> None:
    w, m, (r1,), c, (c1,) = cluster(1)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from c.set("a", "1")
        m.crash(warm=True)
        yield from sleep_until(w, 2.01)
        assert r1.repl_state != "connected"
        yield from sleep_until(w, 3.5)
        m.restart()

    run(w, body, 6.0)
    assert r1.repl_state == "connected" and r1.replid == m.replid
    assert m.repl_stats["sync_full"] == 2  # a restarted master has a new replication ID


def test_down_host_is_noticed_after_repl_timeout() -> None:
    w, m, (r1,), c, _ = cluster(1, repl_timeout=5)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        m.crash(host_down=True)

    run(w, body, 10.0)
    # last data from the master at ~1.0 s (the sync) ; the cron at t drops it once t - lastio > 5: at 7 s
    assert r1.repl_state != "connected"
    assert r1.repl_down_since is not None and 6.0 <= r1.repl_down_since <= 8.0


# ------------------------------------------------------- replica reads
def test_replica_reads_round_robin_and_staleness() -> None:
    w, m, (r1, r2), c, _ = cluster(2)
    rr = Redis(w, "app", router=ReplicaReads(m, [r1, r2]))
    served: list[str] = []

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from rr.set("k", Value(1, 10))  # a write: to the master
        for _ in range(4):
            v = yield from rr.get("k")
            served.append(w.served_by[w.env.active_process])
            assert v == Value(1, 10) or v is None

    run(w, body, 3.0)
    assert served == ["r1", "r2", "r1", "r2"]


# ----------------------------------------------------- differential
@pytest.fixture(scope="module")
def real_pair() -> Any:
    """A real master and a real replica of it (RESP2 redis-py clients); skips without redis-server."""
    import time

    from tests.sim.redis.conftest import start_real_redis, stop_real_redis

    servers = []
    try:
        servers.append(start_real_redis(purpose="the replication differential tests")[:2])
        master = servers[0][1]
        mport = master.connection_pool.connection_kwargs["port"]
        servers.append(start_real_redis("--replicaof", "127.0.0.1", str(mport), "--repl-diskless-sync-delay", "0",
                                        purpose="the replication differential tests")[:2])
        replica = servers[1][1]
        deadline = time.monotonic() + 10
        # the replica's link up, and the master listing it online (after the replica's first REPLCONF ACK)
        while (replica.info("replication").get("master_link_status") != "up"
               or not master.execute_command("ROLE")[2]):
            if time.monotonic() > deadline:
                pytest.skip("the real replica did not connect to its master")
            time.sleep(0.05)
        yield master, replica
    finally:
        for proc, client in servers:
            stop_real_redis(proc, client)


def _sim_info_pair() -> tuple[dict[str, Any], dict[str, Any], list[Any], list[Any]]:
    w, m, (r1,), c, (c1,) = cluster(1)
    got: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        got["m"] = yield from c.info("replication")
        got["r"] = yield from c1.info("replication")
        got["mrole"] = yield from c.role()
        got["rrole"] = yield from c1.role()

    run(w, body, 3.0)
    return got["m"], got["r"], got["mrole"], got["rrole"]


def test_differential_info_replication_field_names(real_pair: Any) -> None:
    master, replica = real_pair
    sm, sr, _, _ = _sim_info_pair()
    assert list(master.info("replication")) == list(sm)
    assert list(replica.info("replication")) == list(sr)


def test_differential_role_shape(real_pair: Any) -> None:
    master, replica = real_pair
    _, _, smr, srr = _sim_info_pair()
    real_m = master.execute_command("ROLE")
    real_r = replica.execute_command("ROLE")
    assert real_m[0] == smr[0] == b"master" and isinstance(real_m[1], int) and isinstance(smr[1], int)
    assert [type(x) for x in real_m[2][0]] == [type(x) for x in smr[2][0]] == [bytes, bytes, bytes]
    assert real_r[0] == srr[0] == b"slave"
    assert [type(x) for x in real_r] == [type(x) for x in srr]
    assert real_r[3] == srr[3] == b"connected"


def test_differential_wait_and_error_texts(real_pair: Any) -> None:
    import redis

    master, replica = real_pair
    w, m, (r1,), c, (c1,) = cluster(1)
    got: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        got["wait"] = yield from c.wait(0, 0)
        try:
            yield from c1.set("x", "1")
        except ResponseError as e:
            got["ro"] = str(e)
        yield from c.config_set("min-replicas-to-write", 3)
        try:
            yield from c.set("x", "1")
        except ResponseError as e:
            got["norep"] = str(e)
        yield from c.config_set("min-replicas-to-write", 0)

    run(w, body, 3.0)
    assert master.wait(0, 0) == got["wait"] == 1
    with pytest.raises(redis.exceptions.ReadOnlyError) as ro:
        replica.set("x", "1")
    assert str(ro.value) == got["ro"]
    master.config_set("min-replicas-to-write", 3)
    try:
        with pytest.raises(redis.exceptions.ResponseError) as nr:
            master.set("x", "1")
    finally:
        master.config_set("min-replicas-to-write", 0)
    assert str(nr.value) == got["norep"]


def test_differential_masterdown_text(real_redis: Any) -> None:
    import redis

    from tests.sim.redis.conftest import _free_port

    real_redis.config_set("replica-serve-stale-data", "no")
    real_redis.replicaof("127.0.0.1", _free_port())  # nobody listens there: the link stays down
    try:
        with pytest.raises(redis.exceptions.ResponseError) as md:
            real_redis.get("x")
    finally:
        real_redis.replicaof("NO", "ONE")
        real_redis.config_set("replica-serve-stale-data", "yes")
    w = World(0)
    w.network.add_link("app", "s", LAT)
    s = RedisServer(w, "s", service=SVC, replicaof="nowhere", replica_serve_stale_data=False)
    c = Redis(w, "app", s)

    def body() -> Generator[Any, Any, Any]:
        try:
            yield from c.get("x")
        except ResponseError as e:
            return type(e).__name__, str(e)
        return None

    assert run(w, body, 1.0) == (type(md.value).__name__, str(md.value)) == ("MasterDownError", str(md.value))


# ------------------------------------------------------------ the model
def test_replication_model_partitioned_primary_with_min_replicas() -> None:
    """The primary and its clients are cut off from both replicas at 6 s for 8 s with min-replicas-max-lag 3:
    writes are refused from 3-4 s later (within (max-lag - 1, max-lag + 2)) until just after the heal at 14 s, and none is lost (no failover)."""
    from simcache.catalog import run_model

    s = run_model("replication", {"duration": 16, "warmup": 3, "write_rate": 100, "read_rate": 100,
                                  "repl_diskless_sync_delay": 0, "min_replicas_to_write": 1,
                                  "min_replicas_max_lag": 3}, seed=1, faults=["partition:m,app|r1,r2@6+8"])
    # (before the replicas' first sync at ~1 s writes are refused too: no good replica yet)
    refused = [x["t"] for x in s["availability"] if x["t"] >= 3 and x["write_fail"]]
    assert refused and 8.0 <= refused[0] <= 10.0
    # after the heal the next ACK (each second) and the next cron (each second) count the replicas good again
    assert 13.0 <= refused[-1] <= 15.0
    assert all(x["write_fail"] == 0 for x in s["availability"] if 3 <= x["t"] < refused[0])
    assert s["errors"]["NOREPLICAS"] == s["writes"]["refused"] > 0
    assert s["acknowledged_writes_lost"] == 0
    # the link stayed up (repl-timeout 60 s): only the two initial full syncs, one fork each (delay 0)
    assert s["syncs"] == {"full": 2, "partial": 0, "forks": 2}


def test_replication_model_failover_loses_the_unreplicated_writes() -> None:
    """The replicas are cut off from the primary at 5 s; at 8 s r1 is promoted and the writers move to it.
    Writes acknowledged by m between 5 s and 8 s never reached r1 and are lost when m resyncs from r1."""
    from simcache.catalog import run_model

    s = run_model("replication", {"duration": 12, "warmup": 2, "write_rate": 50, "read_rate": 10, "keys": 1_000_000,
                                  "repl_diskless_sync_delay": 0, "promote_at": 8}, seed=3,
                  faults=["partition:m|r1,r2@5+4"])
    assert s["primary"] == "r1"
    lost = s["acknowledged_writes_lost"]
    assert lost > 0
    assert 5.0 <= s["first_lost_ack_at"] and s["last_lost_ack_at"] <= 8.1


# ------------------------------------------------------------ invariants
@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(1.5, 20.0), st.sampled_from(["set", "del", "incr", "expire"]),
                          st.integers(0, 7)), min_size=1, max_size=40),
       st.lists(st.tuples(st.floats(1.5, 20.0), st.floats(0.1, 8.0), st.sampled_from(["r1", "r2", "m"])),
                max_size=3),
       st.integers(200, 5000))
def test_replicas_converge_after_faults_heal(ops: list[tuple[float, str, int]],
                                             cuts: list[tuple[float, float, str]], backlog: int) -> None:
    """Whatever the writes and partitions (repl-timeout 3 s: some cuts break the link), once everything has healed
    and gone quiet the replicas hold the master's dataset at the master's offset."""
    w, m, (r1, r2), c, _ = cluster(2, repl_timeout=3, repl_backlog_size=backlog)
    env = w.env

    def cut(at: float, dur: float, who: str) -> Generator[Any, Any, None]:
        yield env.timeout(at)
        k = w.network.partition([who], [n for n in ("m", "r1", "r2", "app") if n != who])
        yield env.timeout(dur)
        w.network.heal(k)

    def body() -> Generator[Any, Any, None]:
        for t, op, k in sorted(ops):
            yield from sleep_until(w, t)
            key = f"k{k}"
            try:
                if op == "set":
                    yield from c.set(key, "v")
                elif op == "del":
                    yield from c.delete(key)
                elif op == "incr":
                    yield from c.incrby(f"n{k}", 1)
                else:
                    yield from c.expire(key, 100)  # still there at the end: the replicas must hold the same deadline
            except Exception:  # noqa: BLE001 - a cut may time out the client
                pass

    for at, dur, who in cuts:
        w.process(cut(at, dur, who))
    c.socket_timeout = 0.5
    w.process(body())
    env.run(until=60.0)
    for r in (r1, r2):
        assert r.repl_stats["stream_gaps"] == 0  # the ordered connection never delivers a hole
        assert r.repl_state == "connected"
        assert r.master_repl_offset == m.master_repl_offset
        assert {k: o.value for k, o in r.data.items()} == {k: o.value for k, o in m.data.items()}
        assert r.expires.when == m.expires.when


def test_pops_served_to_blocked_clients_propagate() -> None:
    """A BRPOP waiting on the master is served by an LPUSH of three elements: the replica sees the push and the
    pop (as RPOP), so it holds the two elements left, in order."""
    w, m, (r1,), c, _ = cluster(1)
    c2 = Redis(w, "app", m)
    got: dict[str, Any] = {}

    def popper() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        got["pop"] = yield from c2.brpop("q", 0)

    def pusher() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.5)
        yield from c.lpush("q", "a", "b", "c")

    w.process(popper())
    w.process(pusher())
    w.env.run(until=3.0)
    assert got["pop"] == (b"q", b"a")
    assert list(m.data[b"q"].value) == list(r1.data[b"q"].value) == [b"c", b"b"]
    assert r1.master_repl_offset == m.master_repl_offset


@pytest.mark.parametrize("ahead, partial", [(False, True), (True, False)])
def test_replica_ahead_of_the_promoted_one_needs_a_full_resync(ahead: bool, partial: bool) -> None:
    """One write reaches only one replica; r1 is promoted and r2 follows it.  r2 behind r1 continues (its offset
    is within r1's replid2 history); r2 ahead of r1 asks for an offset past second_repl_offset: full resync."""
    w, m, (r1, r2), c, _ = cluster(2)

    def body() -> Generator[Any, Any, None]:
        yield from sleep_until(w, 2.0)
        yield from c.set("a", "1")
        cut = w.network.partition(["r1" if ahead else "r2"], ["m", "app", "r2" if ahead else "r1"])
        yield from c.set("b", "1")
        yield from sleep_until(w, 2.5)
        w.network.partition(["m"], ["r1", "r2", "app"])
        w.network.heal(cut)
        r1.unset_master()
        r2.set_master("r1")

    run(w, body, 4.0)
    assert r2.repl_state == "connected"
    assert r1.repl_stats["sync_partial_ok"] == int(partial) and r1.repl_stats["sync_full"] == int(not partial)
    # the write r1 never saw is gone from r2 too once it took r1's dataset
    assert (b"b" in r1.data) == (not ahead)
    assert r2.data.keys() == r1.data.keys()
