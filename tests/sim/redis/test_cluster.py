"""Redis Cluster: slots, redirections hand-worked, the cluster client, resharding, failure detection and failover."""

from __future__ import annotations

import socket
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simcache.errors import UsageError
from simcache.sim.redis import Redis
from simcache.sim.redis.client import AskError, ClusterDownError, MovedError, Retry
from simcache.sim.redis.cluster import (
    CLUSTER_SLOTS,
    ClusterNode,
    Message,
    command_keys,
    crc16,
    create_cluster,
    key_hash_slot,
    spread_slots,
)
from simcache.sim.redis.cluster_client import ClusterRouter, reshard
from simcache.sim.world import World
from tests.sim.redis.conftest import start_real_redis, stop_real_redis

LAT = "const:0.0005"


def build(masters: int = 3, replicas: int = 0, *, bus: bool = False, seed: int = 0, **kw: Any
          ) -> tuple[World, list[ClusterNode]]:
    """A cluster whose nodes are linked to each other and to an ``app`` node, 0.5 ms each way."""
    w = World(seed)
    nodes = create_cluster(w, masters, replicas, bus=bus, service="const:0.0001", **kw)
    for a in nodes:
        w.network.add_link("app", a.node, LAT)
        for b in nodes:
            if a.name < b.name:
                w.network.add_link(a.node, b.node, LAT)
    return w, nodes


def run(w: World, gen: Generator[Any, Any, Any]) -> Any:
    p = w.process(gen)
    w.env.run(until=p)
    return p.value


def first_mark(w: World, kind: str, detail: str | None = None, source: str | None = None) -> float | None:
    for m in w.recorder.markers():
        if m["kind"] == kind and (detail is None or m["detail"].startswith(detail)) \
                and (source is None or m["source"] == source):
            return float(m["t"])
    return None


def key_in(slot_range: tuple[int, int], prefix: str = "k") -> str:
    """A key whose slot lies in the range."""
    i = 0
    while not slot_range[0] <= key_hash_slot(f"{prefix}{i}") <= slot_range[1]:
        i += 1
    return f"{prefix}{i}"


# ---------------------------------------------------------------- slots
def test_crc16_check_value() -> None:
    # crc16.c: "Test vector ... '123456789' -> 0x31C3" (XMODEM)
    assert crc16(b"123456789") == 0x31C3


def test_hash_slot_vectors_from_the_specification() -> None:
    # the cluster specification's hash tag examples, and the CLUSTER KEYSLOT examples of its documentation
    assert key_hash_slot("{user1000}.following") == key_hash_slot("{user1000}.followers") == crc16(b"user1000") % 16384
    assert key_hash_slot("foo{}{bar}") == crc16(b"foo{}{bar}") % 16384  # empty first tag: the whole key
    assert key_hash_slot("foo{{bar}}zap") == crc16(b"{bar") % 16384  # the tag is "{bar"
    assert key_hash_slot("foo{bar}{zap}") == crc16(b"bar") % 16384  # only the first tag
    assert key_hash_slot("somekey") == 11058
    assert key_hash_slot("foo{hash_tag}") == key_hash_slot("bar{hash_tag}") == 2515
    assert key_hash_slot("foo") == 12182
    assert key_hash_slot("{") == crc16(b"{") % 16384 and key_hash_slot("}{") == crc16(b"}{") % 16384


def test_spread_slots_as_redis_cli_create() -> None:
    assert spread_slots(3) == [(0, 5460), (5461, 10922), (10923, 16383)]
    ranges = spread_slots(7)
    assert ranges[0][0] == 0 and ranges[-1][1] == CLUSTER_SLOTS - 1
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False))


def test_command_keys_positions() -> None:
    assert command_keys("MSET", (b"MSET", b"a", b"1", b"b", b"2")) == [b"a", b"b"]
    assert command_keys("BLPOP", (b"BLPOP", b"a", b"b", b"0")) == [b"a", b"b"]
    assert command_keys("EVAL", (b"EVAL", b"s", b"1", b"k", b"arg")) == [b"k"]
    assert command_keys("PING", (b"PING",)) == []


# --------------------------------------------------------- redirections
def test_moved_for_a_slot_served_elsewhere_and_crossslot() -> None:
    _, (a, b, _c) = build()
    k = key_in((5461, 10922))
    s = key_hash_slot(k)
    assert str(a.dispatch((b"GET", k.encode()))) == f"MOVED {s} redis-1:6379"
    assert b.dispatch((b"SET", k.encode(), b"v")) == "OK"
    other = key_in((0, 5460), "x")
    assert str(a.dispatch((b"MGET", other.encode(), k.encode()))) == \
        "CROSSSLOT Keys in request don't hash to the same slot"
    # same tag, same slot: no CROSSSLOT (the slot of {t} is served by redis-2)
    assert key_hash_slot("{t}") > 10922
    assert _c.dispatch((b"MGET", b"{t}1", b"{t}2")) == [None, None]
    assert a.dispatch((b"PING",)) == "PONG"  # keyless: served anywhere
    assert a.dispatch((b"CLUSTER", b"KEYSLOT", b"somekey")) == 11058


def test_ask_and_tryagain_during_a_migration_hand_worked() -> None:
    _, (a, b, c) = build()
    k1, k2 = "{b}1", "{b}2"
    s = key_hash_slot(k1)
    assert s <= 5460  # served by redis-0
    a.dispatch((b"SET", k1.encode(), b"one"))
    a.dispatch((b"SET", k2.encode(), b"two"))
    assert b.dispatch((b"CLUSTER", b"SETSLOT", str(s).encode(), b"IMPORTING", a.id.encode())) == "OK"
    assert a.dispatch((b"CLUSTER", b"SETSLOT", str(s).encode(), b"MIGRATING", b.id.encode())) == "OK"
    assert a.dispatch((b"GET", k1.encode())) == b"one"  # still here: served
    assert a.dispatch((b"MIGRATE", b"redis-1", b"6379", b"", b"0", b"5000", b"KEYS", k1.encode())) == "OK"
    assert str(a.dispatch((b"GET", k1.encode()))) == f"ASK {s} redis-1:6379"
    assert a.dispatch((b"GET", k2.encode())) == b"two"
    assert str(a.dispatch((b"MGET", k1.encode(), k2.encode()))) == \
        "TRYAGAIN Multiple keys request during rehashing of slot"
    # the importing node redirects back unless the command follows ASKING, which holds for one command
    assert str(b.dispatch((b"GET", k1.encode()))) == f"MOVED {s} redis-0:6379"
    assert b.dispatch((b"ASKING",)) == "OK"
    assert b.dispatch((b"GET", k1.encode())) == b"one"
    assert str(b.dispatch((b"GET", k1.encode()))).startswith("MOVED")
    # a new key of the migrating slot: ASK to the target (the key is absent here)
    assert str(a.dispatch((b"SET", b"{b}3", b"x"))) == f"ASK {s} redis-1:6379"
    a.dispatch((b"MIGRATE", b"redis-1", b"6379", b"", b"0", b"5000", b"KEYS", k2.encode()))
    assert a.dispatch((b"CLUSTER", b"COUNTKEYSINSLOT", str(s).encode())) == 0
    for n in (b, a, c):
        assert n.dispatch((b"CLUSTER", b"SETSLOT", str(s).encode(), b"NODE", b.id.encode())) == "OK"
    assert b.dispatch((b"GET", k2.encode())) == b"two"
    assert str(a.dispatch((b"GET", k2.encode()))) == f"MOVED {s} redis-1:6379"
    assert b.myself.config_epoch == 4  # the import bumped its epoch above every other
    # newest first: k1 reached redis-1 before k2
    assert b.dispatch((b"CLUSTER", b"GETKEYSINSLOT", str(s).encode(), b"10")) == [k2.encode(), k1.encode()]


def test_setslot_node_refused_while_the_source_holds_keys() -> None:
    _, (a, b, _c) = build()
    a.dispatch((b"SET", b"{b}1", b"v"))
    s = key_hash_slot("{b}1")
    err = a.dispatch((b"CLUSTER", b"SETSLOT", str(s).encode(), b"NODE", b.id.encode()))
    assert "still hold keys" in str(err)


@pytest.mark.parametrize("full", [True, False])
def test_full_coverage_yes_or_no(full: bool) -> None:
    _, (a, b, c) = build(require_full_coverage=full)
    hole = key_in((0, 5460))
    fine = key_in((10923, 16383))
    sh = key_hash_slot(hole)
    for n in (a, b, c):
        n.dispatch((b"CLUSTER", b"DELSLOTS", str(sh).encode()))
    assert str(c.dispatch((b"GET", hole.encode()))) == "CLUSTERDOWN Hash slot not served"
    reply = c.dispatch((b"GET", fine.encode()))
    if full:
        assert str(reply) == "CLUSTERDOWN The cluster is down"
        assert b"cluster_state:fail" in c.dispatch((b"CLUSTER", b"INFO"))
    else:
        assert reply is None
        assert b"cluster_state:ok" in c.dispatch((b"CLUSTER", b"INFO"))


def test_cluster_slots_and_nodes_shapes() -> None:
    _, nodes = build(3, 1)
    a = nodes[0]
    slots = a.dispatch((b"CLUSTER", b"SLOTS"))
    assert [(e[0], e[1]) for e in slots] == spread_slots(3)
    assert slots[0][2] == [b"redis-0", 6379, a.id.encode(), []]
    assert slots[0][3][0] == b"redis-3"  # its replica
    lines = a.dispatch((b"CLUSTER", b"NODES")).decode().splitlines()
    assert len(lines) == 6
    mine = [ln for ln in lines if "myself" in ln][0].split()
    assert mine[0] == a.id and mine[2] == "myself,master" and mine[3] == "-" and mine[-1] == "0-5460"
    rep = [ln for ln in lines if ln.startswith(nodes[3].id)][0].split()
    assert rep[2] == "slave" and rep[3] == a.id
    assert a.dispatch((b"CLUSTER", b"MYID")) == a.id.encode()
    assert "unknown subcommand" in str(a.dispatch((b"CLUSTER", b"NOPE")))


# ------------------------------------------------------- cluster client
def test_client_follows_moved_and_updates_its_map() -> None:
    w, (a, b, c) = build()
    router = ClusterRouter(w, "app", [a], reinitialize_steps=0)
    r = Redis(w, "app", router=router)
    k = key_in((0, 5460))
    s = key_hash_slot(k)
    assert router.slots[s] is a
    # the slot moves to redis-1 behind the client's back (empty slot: SETSLOT NODE everywhere)
    for n in (b, a, c):
        n.dispatch((b"CLUSTER", b"SETSLOT", str(s).encode(), b"NODE", b.id.encode()))

    def body() -> Generator[Any, Any, Any]:
        yield from r.set(k, "v")
        v = yield from r.get(k)
        return v

    assert run(w, body()) == b"v"
    assert router.stats["moved"] == 1  # only the first command was redirected
    assert router.slots[s] is b
    assert a.stats_redirects["moved"] == 1 and b.stats_redirects["moved"] == 0


def test_client_full_refresh_every_reinitialize_steps_moved() -> None:
    w, (a, b, c) = build()
    router = ClusterRouter(w, "app", [a], reinitialize_steps=2)
    r = Redis(w, "app", router=router)
    ks = [key_in((0, 5460), p) for p in ("p", "q")]
    for k in ks:
        for n in (b, a, c):
            n.dispatch((b"CLUSTER", b"SETSLOT", str(key_hash_slot(k)).encode(), b"NODE", b.id.encode()))
    moved_slots = {key_hash_slot(k) for k in ks}

    def body() -> Generator[Any, Any, Any]:
        for k in ks:
            yield from r.get(k)
        yield w.env.timeout(0.01)

    run(w, body())
    assert router.stats["moved"] == 2 and router.stats["refreshes"] == 1
    assert all(router.slots[s] is b for s in moved_slots)


def test_client_ask_sends_asking_and_keeps_its_map() -> None:
    w, (a, b, _c) = build()
    router = ClusterRouter(w, "app", [a])
    r = Redis(w, "app", router=router)
    s = key_hash_slot("{b}1")
    a.dispatch((b"SET", b"{b}1", b"one"))
    b.dispatch((b"CLUSTER", b"SETSLOT", str(s).encode(), b"IMPORTING", a.id.encode()))
    a.dispatch((b"CLUSTER", b"SETSLOT", str(s).encode(), b"MIGRATING", b.id.encode()))
    a.dispatch((b"MIGRATE", b"redis-1", b"6379", b"", b"0", b"5000", b"KEYS", b"{b}1"))

    def body() -> Generator[Any, Any, Any]:
        v1 = yield from r.get("{b}1")
        t1 = w.env.now
        v2 = yield from r.get("{b}1")
        return v1, v2, t1, w.env.now - t1

    v1, v2, _t1, dt = run(w, body())
    assert v1 == v2 == b"one"
    assert router.stats["ask"] == 2 and router.stats["moved"] == 0
    assert router.slots[s] is a  # ASK never updates the map
    # each GET: to redis-0 (ASK), then ASKING and GET to redis-1: three round trips of 1 ms + service times
    assert dt == pytest.approx(3 * 0.001 + 3 * 0.0001, abs=1e-9)


def test_client_raises_redis_py_errors() -> None:
    w, (a, b, c) = build()
    router = ClusterRouter(w, "app", [a], cluster_error_retry_attempts=0)
    r = Redis(w, "app", router=router)
    k = key_in((0, 5460))
    for n in (a, b, c):
        n.dispatch((b"CLUSTER", b"DELSLOTS", str(key_hash_slot(k)).encode()))

    def body() -> Generator[Any, Any, Any]:
        try:
            yield from r.get(k)
        except ClusterDownError as e:
            return str(e)
        return None

    assert run(w, body()) == "Hash slot not served"
    assert issubclass(MovedError, AskError)


def test_resharding_under_traffic_keeps_every_write() -> None:
    w, (a, b, c) = build()
    router = ClusterRouter(w, "app", [a])
    r = Redis(w, "app", router=router, retry=Retry(retries=3))
    keys = [f"user:{i}" for i in range(400)]
    last: dict[str, int] = {}
    moving = range(0, 500)
    st: dict[str, Any] = {}

    def load() -> Generator[Any, Any, None]:
        for k in keys:
            yield from r.set(k, "0")
            last[k] = 0

    def traffic() -> Generator[Any, Any, None]:
        rng = np.random.default_rng(1)
        for i in range(1, 3000):
            k = keys[int(rng.integers(len(keys)))]
            yield from r.set(k, str(i))
            last[k] = i
            v = yield from r.get(k)
            assert v == str(i).encode()
            yield w.env.timeout(0.001)

    def admin() -> Generator[Any, Any, None]:
        yield w.env.timeout(0.5)
        yield from reshard(w, "app", a, b, moving, masters=[a, b, c], stats=st)

    run(w, load())
    t = w.process(traffic())
    w.process(admin())
    w.env.run(until=t)
    w.env.run(until=w.env.now + 5)
    in_moving = [k for k in keys if key_hash_slot(k) in moving]
    assert st["slots_moved"] == 500 and st["keys_moved"] == len(in_moving) > 0
    assert router.stats["moved"] + router.stats["ask"] > 0
    for k in keys:
        owner = b if key_hash_slot(k) in moving else router.node_for_slot(key_hash_slot(k))
        assert owner.data[k.encode()].value == str(last[k]).encode()
    assert not any(k.encode() in a.data for k in in_moving)
    assert all(n.slots[s] == b.id for n in (a, b, c) for s in moving)
    assert not a.migrating_to and not b.importing_from


# ---------------------------------------------- failure detection, failover
T = 5.0  # cluster-node-timeout
CRASH = 10.0


def crashed_master_world(seed: int = 0) -> tuple[World, list[ClusterNode]]:
    w, nodes = build(3, 1, bus=True, seed=seed, node_timeout=T)

    def fault() -> Generator[Any, Any, None]:
        yield w.env.timeout(CRASH)
        nodes[0].crash(host_down=True)

    w.process(fault())
    w.run(CRASH + 4 * T)
    return w, nodes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_failover_timeline_bounds(seed: int) -> None:
    """Bounds from the mechanism (T = node timeout, ticks of 100 ms):

    * PFAIL: the first unanswered PING is sent within T/2 + one tick after the crash (a node pings any node
      whose PONG is older than T/2), and PFAIL comes one tick after it is T old: in [CRASH + T, CRASH + 1.5 T + 0.2].
    * FAIL: after a majority of masters (2 of 3) flagged it; they gossip to each other within T/2 + a tick:
      in [first PFAIL, CRASH + 2 T + 0.5].
    * election: the replica schedules it at its first tick after it sees FAIL, for 500 ms + random(0..499) ms
      + rank * 1000 ms (rank 0: the only replica), starts it at the first tick after that and wins one round
      trip later: elected - fail_seen in [0.5, 1.0 + 0.2 + 0.01]; promoted at the same moment.
    """
    w, nodes = crashed_master_world(seed)
    replica = nodes[3]
    pfail = first_mark(w, "pfail", "redis-0")
    fail = first_mark(w, "fail", "redis-0")
    seen = first_mark(w, "fail", "redis-0", source="redis-3")
    elected = first_mark(w, "elected", source="redis-3")
    promoted = first_mark(w, "promoted", source="redis-3")
    assert pfail is not None and fail is not None and seen is not None and elected is not None
    assert CRASH + T <= pfail <= CRASH + 1.5 * T + 0.2
    assert pfail <= fail <= CRASH + 2 * T + 0.5
    assert 0.5 <= elected - seen <= 1.0 + 0.2 + 0.01
    assert promoted == elected
    assert replica.myself.master and replica.is_master and replica.myself.config_epoch == 4
    for n in nodes[1:]:
        assert all(n.slots[s] == replica.id for s in range(0, 5461))
        assert n.state_ok
    # masters voted once each in epoch 4
    votes = [m for m in w.recorder.markers() if m["kind"] == "voted"]
    assert sorted(m["source"] for m in votes) == ["redis-1", "redis-2"]


def test_client_recovers_after_failover() -> None:
    w, nodes = build(3, 1, bus=True, node_timeout=T)
    router = ClusterRouter(w, "app", nodes[:3], socket_timeout=0.2)
    r = Redis(w, "app", router=router, socket_timeout=0.2, retry=Retry(retries=1))
    k = key_in((0, 5460))
    ok_at: list[float] = []

    def traffic() -> Generator[Any, Any, None]:
        while w.env.now < CRASH + 4 * T:
            try:
                yield from r.set(k, "v")
                ok_at.append(w.env.now)
            except Exception:  # noqa: BLE001 - errors during the outage are the point
                pass
            yield w.env.timeout(0.1)

    def fault() -> Generator[Any, Any, None]:
        yield w.env.timeout(CRASH)
        nodes[0].crash(host_down=True)

    w.process(traffic())
    w.process(fault())
    w.run(CRASH + 4 * T)
    promoted = first_mark(w, "promoted")
    assert promoted is not None
    gap = [t for t in ok_at if t > CRASH]
    assert gap and gap[0] > promoted  # nothing succeeds between the crash and the promotion
    assert gap[0] - promoted < 1.0  # the map is re-read after the connection errors
    assert router.slots[key_hash_slot(k)] is nodes[3]


def test_minority_master_refuses_commands_after_node_timeout() -> None:
    w, nodes = build(3, 0, bus=True, node_timeout=T)
    a = nodes[0]
    k = key_in((0, 5460))

    def fault() -> Generator[Any, Any, None]:
        yield w.env.timeout(CRASH)
        w.network.partition(["redis-0", "app"], ["redis-1", "redis-2"])

    w.process(fault())
    w.run(CRASH + 2 * T)
    down = first_mark(w, "cluster-state-fail", source="redis-0")
    assert down is not None and CRASH + T <= down <= CRASH + 1.5 * T + 0.2
    assert str(a.dispatch((b"GET", k.encode()))) == "CLUSTERDOWN The cluster is down"
    assert str(a.dispatch((b"SET", k.encode(), b"x"))) == "CLUSTERDOWN The cluster is down"
    # the majority side: redis-0 is FAIL there, and with full coverage its slots make the state fail too
    assert nodes[1].nodes[a.id].fail and not nodes[1].state_ok


def _auth_request(node: ClusterNode, epoch: int) -> Message:
    return Message("FAILOVER_AUTH_REQUEST", node.id, epoch, 1, False, node.myself.slaveof,
                   node.owned(node.myself.slaveof or ""), 0)


def test_a_master_votes_once_per_epoch_and_once_per_2_node_timeouts() -> None:
    w, nodes = build(3, 2, bus=False, node_timeout=T)
    m1 = nodes[1]
    r0, r0b = nodes[3], nodes[6]  # both replicas of redis-0
    assert r0.myself.slaveof == r0b.myself.slaveof == nodes[0].id
    m1.nodes[nodes[0].id].fail = True
    acks: list[str] = []
    m1._send_bus = lambda v, msg: acks.append(v.name)  # type: ignore[method-assign]
    m1.process_packet(_auth_request(r0, 4))
    m1.process_packet(_auth_request(r0b, 4))  # same epoch: refused
    assert acks == ["redis-3"]
    m1.process_packet(_auth_request(r0b, 5))  # new epoch, but within 2 T of the last vote for redis-0's replicas
    assert acks == ["redis-3"]
    w.env.run(until=2 * T + 0.01)
    m1.process_packet(_auth_request(r0b, 6))
    assert acks == ["redis-3", "redis-6"]


def test_rank_delays_the_less_up_to_date_replica() -> None:
    _, nodes = build(3, 2, bus=False)
    r, other = nodes[3], nodes[6]
    r.nodes[other.id].repl_offset = 100  # the other replica claims more data
    assert r.slave_rank() == 1
    assert other.slave_rank() == 0


def test_bad_parameters() -> None:
    w = World(0)
    with pytest.raises(UsageError, match="node_timeout"):
        ClusterNode(w, "n", node_timeout=0)
    with pytest.raises(UsageError, match="replicas"):
        create_cluster(World(0), 3, -1)


# ------------------------------------------------------------ real server
def _free_port() -> int:
    """A free port P with P + 10000 (the cluster bus port) free too; a cluster node refuses P > 55535."""
    rng = np.random.default_rng()
    for _ in range(200):
        port = int(rng.integers(20000, 55535))
        try:
            with socket.socket() as s1, socket.socket() as s2:
                s1.bind(("127.0.0.1", port))
                s2.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    pytest.skip("no free pair of local ports for a cluster node")


@pytest.fixture(scope="module")
def real_cluster_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``redis-server --cluster-enabled yes`` (no slots assigned) in a temporary directory."""
    d: Path = tmp_path_factory.mktemp("cluster")
    proc, client, _ = start_real_redis("--cluster-enabled", "yes", "--cluster-config-file", str(d / "nodes.conf"),
                                       purpose="the CLUSTER KEYSLOT comparison", workdir=str(d), port=_free_port())
    try:
        yield client
    finally:
        stop_real_redis(proc, client)


def test_keyslot_matches_a_real_server(real_cluster_node: Any) -> None:
    rng = np.random.default_rng(7)
    alphabet = np.frombuffer(b"ab{}xyz01{}", dtype=np.uint8)
    keys = [b"", b"{}", b"{", b"}", b"{{}}", b"a{b}c", b"{user1000}.following"]
    keys += [bytes(rng.choice(alphabet, size=int(rng.integers(1, 12)))) for _ in range(1500)]
    keys += [bytes(rng.integers(0, 256, size=int(rng.integers(1, 20)), dtype=np.uint8)) for _ in range(500)]
    pipe = real_cluster_node.pipeline(transaction=False)
    for k in keys:
        pipe.execute_command("CLUSTER", "KEYSLOT", k)
    real = pipe.execute()
    assert [key_hash_slot(k) for k in keys] == real
    _, (a, *_rest) = build(1)
    assert [a.dispatch((b"CLUSTER", b"KEYSLOT", k)) for k in keys[:200]] == real[:200]


def test_minority_master_writes_are_lost_after_the_heal_exactly() -> None:
    """The client sits with redis-0 in the minority and writes a new key every 100 ms to redis-0's slots.

    Before the split every write reaches the replica (1 ms round trips): kept.  From the split until
    redis-0 flags the majority PFAIL (T to 1.5 T + 0.2 s later) it acknowledges writes nobody else sees;
    then it refuses.  On the other side redis-3 is promoted; at the heal redis-0 learns the newer epoch,
    becomes redis-3's replica and full-resyncs: every write it took alone is lost, and only those.
    """
    from simcache.sim.ledger import Ledger

    split, heal = 10.0, 30.0
    w, nodes = build(3, 1, bus=True, node_timeout=T)
    ledger = Ledger()
    router = ClusterRouter(w, "app", nodes[:3], socket_timeout=0.2)
    r = Redis(w, "app", router=router, socket_timeout=0.2)
    keys = (f"{{b}}{i}" for i in range(10**6))  # tag {b}: a slot of redis-0
    acked: list[float] = []

    def writer() -> Generator[Any, Any, None]:
        while w.env.now < heal + 10:
            k = next(keys)
            try:
                yield from r.set(k, "v")
                ledger.record(k, b"v", w.env.now)
                acked.append(w.env.now)
            except Exception:  # noqa: BLE001 - refused or timed out: not acknowledged
                pass
            yield w.env.timeout(0.1)

    def fault() -> Generator[Any, Any, None]:
        yield w.env.timeout(split)
        cut = w.network.partition(["redis-0", "app"], [n.node for n in nodes[1:]])
        yield w.env.timeout(heal - split)
        w.network.heal(cut)

    w.process(writer())
    w.process(fault())
    w.run(heal + 10)
    down = first_mark(w, "cluster-state-fail", source="redis-0")
    assert down is not None and split + T <= down <= split + 1.5 * T + 0.2
    isolated = [t for t in acked if split <= t < heal]
    assert isolated and max(isolated) < down + 0.01
    assert T / 0.1 - 1 <= len(isolated) <= (1.5 * T + 0.2) / 0.1 + 1
    new_master = nodes[3]
    assert new_master.myself.master and not nodes[0].myself.master  # the old master follows the new one
    report = ledger.losses({k: v.value for k, v in new_master.data.items()}, until=heal)
    assert report.lost == len(isolated)
    assert {a.acked for a in report.lost_writes} == set(isolated)


def test_replicas_follow_migrations_and_the_promoted_replica_has_the_data() -> None:
    """MIGRATE reaches the source's replica as DEL and the target's RESTORE-ASKING reaches the target's replica;
    after the failover the promoted replica serves what its master had (writes long replicated)."""
    w, nodes = build(3, 1, bus=True, node_timeout=T)
    router = ClusterRouter(w, "app", nodes[:3])
    r = Redis(w, "app", router=router, retry=Retry(retries=3), socket_timeout=0.5)
    src, dst = nodes[1], nodes[2]
    src_rep, dst_rep = nodes[4], nodes[5]
    keys = [f"user:{i}" for i in range(1000)]
    moving = range(5461, 5661)

    def body() -> Generator[Any, Any, None]:
        yield w.env.timeout(7.0)  # after the replicas' first full sync (diskless, 5 s delay)
        for k in keys:
            yield from r.set(k, k)
        yield from reshard(w, "app", src, dst, moving, masters=nodes[:3])
        yield w.env.timeout(1.0)

    run(w, body())
    moved = [k.encode() for k in keys if key_hash_slot(k) in moving]
    assert moved
    assert all(k in dst_rep.data and k not in src_rep.data for k in moved)
    for k in keys:
        owner = next(n for n in nodes[:3] if n.slots[key_hash_slot(k)] == n.id)
        replica = nodes[3 + nodes.index(owner)]
        assert replica.data[k.encode()].value == k.encode()

    nodes[0].crash(host_down=True)
    w.env.run(until=w.env.now + 3 * T)
    assert nodes[3].myself.master
    for k in keys:
        if key_hash_slot(k) <= 5460:
            assert nodes[3].data[k.encode()].value == k.encode()


def test_cluster_model_summary() -> None:
    from simcache.catalog import run_model

    s = run_model("cluster", {"duration": 25, "fault_at": 10, "reshard_at": 4, "reshard_slots": 1000, "rate": 200,
                              "keys": 300}, seed=3)
    assert s["slots_moved"] == 1000 and s["keys_moved"] > 0
    f = s["failover"]
    assert T <= f["pfail_at"] <= 1.5 * T + 0.2 and f["pfail_at"] <= f["fail_at"] <= 2 * T + 0.5
    assert 0.5 <= f["promoted_at"] - f["fail_at"] <= 1.3
    assert f["promoted_at"] < f["clients_recovered_at"] < f["promoted_at"] + 1.0
    assert s["final_masters"] == ["redis-1", "redis-2", "redis-3"]
    # a failed operation is counted when it ends: at most (retries + 1) socket timeouts of 0.5 s after it began
    bad = [a for a in s["availability"] if a["ratio"] is not None and a["ratio"] < 1]
    assert bad and all(10 <= a["t"] <= 10 + f["clients_recovered_at"] + 4 * 0.5 for a in bad)
    assert s["acknowledged_writes"] > 0 and s["acknowledged_writes_lost"] <= 2


def test_migrate_holds_the_source_for_a_round_trip_and_reports_target_errors() -> None:
    from simcache.sim.rpc import ResponseError, call

    w, (a, b, _c) = build()
    a.dispatch((b"SET", b"{b}1", b"one"))
    a.dispatch((b"SET", b"{b}3", b"three"))
    s = str(key_hash_slot("{b}1")).encode()
    b.dispatch((b"CLUSTER", b"SETSLOT", s, b"IMPORTING", a.id.encode()))
    a.dispatch((b"CLUSTER", b"SETSLOT", s, b"MIGRATING", b.id.encode()))
    assert b.restore(b"{b}3", a.data[b"{b}3"], -1) == "OK"  # the target already has {b}3

    def migrate(key: bytes, *extra: bytes) -> Generator[Any, Any, Any]:
        t0 = w.env.now
        try:
            reply = yield from call(w, "app", a, (b"MIGRATE", b"redis-1", b"6379", b"", b"0", b"1000", *extra,
                                                  b"KEYS", key))
        except ResponseError as err:
            reply = str(err)
        return reply, w.env.now - t0

    # app->redis-0 and back: 1 ms; service 0.1 ms; redis-0->redis-1 and back: 1 ms more
    assert run(w, migrate(b"{b}1")) == ("OK", pytest.approx(0.001 + 0.0001 + 0.001, abs=1e-9))
    assert b"{b}1" in b.data and b"{b}1" not in a.data
    assert run(w, migrate(b"{b}1")) == ("NOKEY", pytest.approx(0.0011, abs=1e-9))
    reply, _ = run(w, migrate(b"{b}3"))
    assert "BUSYKEY" in reply and b"{b}3" in a.data
    b.crash(host_down=True)
    reply, dt = run(w, migrate(b"{b}3", b"REPLACE"))
    assert reply.startswith("IOERR") and dt == pytest.approx(0.001 + 0.0001 + 1.0, abs=1e-9)
    assert b"{b}3" in a.data  # nothing moved


def test_slot_commands_and_shapes_match_a_real_server(real_cluster_node: Any) -> None:
    """A real one-node cluster serving every slot, and a simulated one, after the same writes."""
    real = real_cluster_node
    real.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    deadline = time.monotonic() + 10
    while b"cluster_state:ok" not in real.execute_command("CLUSTER", "INFO"):
        if time.monotonic() > deadline:
            pytest.skip("the real cluster node did not reach cluster_state:ok")
        time.sleep(0.05)
    _, (sim, *_rest) = build(1)
    ops = [("SET", "{t}a", "1"), ("SET", "{t}b", "2"), ("SET", "{t}c", "3"), ("DEL", "{t}a"), ("SET", "{t}a", "4"),
           ("SET", "{t}b", "5"), ("SET", "other", "x")]
    for op in ops:
        real.execute_command(*op)
        sim.dispatch(tuple(a.encode() for a in op))
    slot = str(key_hash_slot("{t}")).encode()
    for cmd in ((b"CLUSTER", b"COUNTKEYSINSLOT", slot), (b"CLUSTER", b"GETKEYSINSLOT", slot, b"10"),
                (b"CLUSTER", b"GETKEYSINSLOT", slot, b"2"), (b"CLUSTER", b"KEYSLOT", b"{t}zz")):
        assert sim.dispatch(cmd) == real.execute_command(*cmd), cmd
    # CLUSTER SLOTS: one range, the node as [host, port, id, metadata]
    rs, ss = real.execute_command("CLUSTER", "SLOTS"), sim.dispatch((b"CLUSTER", b"SLOTS"))
    assert [(e[0], e[1], len(e[2]), type(e[2][3])) for e in rs] == [(e[0], e[1], len(e[2]), type(e[2][3])) for e in ss]
    # CLUSTER NODES: the same fields for the node itself
    rline = real.execute_command("CLUSTER", "NODES").decode().split()
    sline = sim.dispatch((b"CLUSTER", b"NODES")).decode().split()
    assert len(rline) == len(sline) and rline[2:4] == sline[2:4] == ["myself,master", "-"]
    assert rline[7:] == sline[7:] == ["connected", "0-16383"]
    # CLUSTER INFO: the fields the model keeps, with the same values
    rinfo = dict(ln.split(":", 1) for ln in real.execute_command("CLUSTER", "INFO").decode().split("\r\n") if ln)
    sinfo = dict(ln.split(":", 1) for ln in sim.dispatch((b"CLUSTER", b"INFO")).decode().split("\r\n") if ln)
    for k in ("cluster_state", "cluster_slots_assigned", "cluster_slots_ok", "cluster_known_nodes", "cluster_size"):
        assert rinfo[k] == sinfo[k], k
    assert set(sinfo) <= set(rinfo)


def test_the_less_up_to_date_replica_waits_a_rank_longer_and_follows_the_winner() -> None:
    """Two replicas of redis-0; redis-6's link from its master is 50 ms slow, so at the crash its replication
    offset is behind redis-3's.  Election delay = 500 ms + random(0..499) ms + rank * 1000 ms: redis-3 (rank 0)
    in [500, 1000) ms, redis-6 (rank 1) in [1500, 2000) ms; redis-3 wins, redis-6 then replicates from it."""
    w, nodes = build(3, 2, bus=True, node_timeout=T)
    w.network.set_link("redis-0", "redis-6", latency="const:0.05")
    router = ClusterRouter(w, "app", nodes[:3])
    r = Redis(w, "app", router=router, socket_timeout=0.5)

    def writer() -> Generator[Any, Any, None]:
        i = 0
        while w.env.now < CRASH:
            yield from r.set(f"{{b}}{i}", "v")
            i += 1
            yield w.env.timeout(0.01)

    def fault() -> Generator[Any, Any, None]:
        yield w.env.timeout(CRASH)
        nodes[0].crash(host_down=True)

    w.process(writer())
    w.process(fault())
    w.run(CRASH + 4 * T)
    sched = {m["source"]: m["detail"] for m in w.recorder.markers() if m["kind"] == "election-scheduled"}
    rank3, delay3 = sched["redis-3"].split(" in ")
    rank6, delay6 = sched["redis-6"].split(" in ")
    assert rank3 == "rank 0" and 500 <= float(delay3.split()[0]) < 1000
    assert rank6 == "rank 1" and 1500 <= float(delay6.split()[0]) < 2000
    assert first_mark(w, "promoted", source="redis-3") is not None
    assert first_mark(w, "promoted", source="redis-6") is None
    assert nodes[6].myself.slaveof == nodes[3].id and nodes[6].masterhost == "redis-3"
