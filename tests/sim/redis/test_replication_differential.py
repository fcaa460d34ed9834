"""Replication against real Redis: one scenario on a real master and replica and on the simulation.

:func:`scenario` is a generator of steps (a command to the master ``m`` or the replica ``r``, a
MULTI/EXEC, a sleep, a clock reading); it returns its observations.  It runs twice: on two real
``redis-server`` processes (the replica started with ``--replicaof`` over 127.0.0.1) and on a simulated
master and replica.  The tests then require the same numbers wherever Redis is deterministic: the
``master_repl_offset`` growth of every write command (what Redis propagates, as it rewrites it), the
offsets a caught-up replica reports, INFO replication and ROLE, WAIT's replies, the refusals' texts, and
``REPLICAOF NO ONE``'s ID shift.  Ports, addresses, lags and replication IDs' values are not compared.

Both masters run with ``repl-ping-replica-period 3600`` so that no periodic PING lands between the
commands; the scenario turns the period to 1 s once to see one PING enter the stream.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from simcache.sim.redis import Redis, RedisServer
from simcache.sim.rpc import RemoteError
from simcache.sim.world import World
from tests.sim.redis.conftest import _free_port, start_real_redis, stop_real_redis

#: a Unix time for the simulation's clock: milliseconds have 13 digits, as the real server's have now
SIM_UNIX_START = 1_800_000_000.0
#: an absolute expiry in the future (2100-01-01), in seconds and in milliseconds
FAR_S = 4_102_444_800
FAR_MS = FAR_S * 1000


# ------------------------------------------------------------------ steps
@dataclass(frozen=True)
class Cmd:
    """Send ``args`` to ``target`` ("m" or "r"): the parsed reply, or an :class:`Err`."""

    target: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Multi:
    """MULTI, ``cmds``, EXEC on ``target`` (a transactional pipeline): the list of replies."""

    target: str
    cmds: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` (real or simulated)."""

    seconds: float


@dataclass(frozen=True)
class Clock:
    """The current time in seconds (monotonic, or simulated)."""


@dataclass(frozen=True)
class Err:
    """An error reply as the client raised it: the exception's class name and its text."""

    kind: str
    text: str


@dataclass
class Ctx:
    """What differs between the two runs: the address of a master nobody serves."""

    dead_master: tuple[str, int]


Step = Cmd | Multi | Sleep | Clock
Scenario = Generator[Step, Any, dict[str, Any]]

#: the write sequence: (label, command); each command's offset growth is compared
WRITES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("SET (first write: SELECT 0 before it)", ("SET", "a", "1")),
    ("SET EX -> SET PXAT", ("SET", "b", "2", "EX", "100")),
    ("SET PX NX -> SET PXAT", ("SET", "c", "3", "PX", "100000", "NX")),
    ("SET PXAT XX -> SET PXAT", ("SET", "c", "4", "PXAT", str(FAR_MS), "XX")),
    ("SET GET -> SET", ("SET", "g", "1", "GET")),
    ("GETSET -> SET", ("GETSET", "g", "2")),
    ("SET NX on an existing key: nothing", ("SET", "a", "9", "NX")),
    ("SET XX on a missing key: nothing", ("SET", "nokey", "9", "XX")),
    ("SETEX -> SET PXAT", ("SETEX", "d", "10", "v")),
    ("INCR", ("INCR", "n")),
    ("INCRBY", ("INCRBY", "n", "5")),
    ("DEL present", ("DEL", "a")),
    ("DEL missing: nothing", ("DEL", "a")),
    ("DEL of three keys, one present", ("DEL", "nokey", "g", "nokey2")),
    ("LPUSH", ("LPUSH", "l", "x", "y")),
    ("HSET", ("HSET", "h", "f", "v")),
    ("EXPIRE -> PEXPIREAT", ("EXPIRE", "b", "50")),
    ("PEXPIRE XX -> PEXPIREAT XX", ("PEXPIRE", "b", "60000", "XX")),
    ("EXPIRE NX on a key with a TTL: nothing", ("EXPIRE", "b", "70", "NX")),
    ("EXPIRE GT with a smaller TTL: nothing", ("EXPIRE", "b", "1", "GT")),
    ("EXPIRE of a missing key: nothing", ("EXPIRE", "nokey", "10")),
    ("EXPIREAT -> PEXPIREAT", ("EXPIREAT", "c", str(FAR_S))),
    ("PEXPIREAT as sent", ("PEXPIREAT", "c", str(FAR_MS + 1))),
    ("PERSIST", ("PERSIST", "d")),
    ("PERSIST without a TTL: nothing", ("PERSIST", "d")),
    ("EXPIRE in the past -> DEL", ("EXPIRE", "d", "-1")),
    ("PEXPIREAT in the past -> DEL", ("PEXPIREAT", "c", "1000")),
    ("GET (read-only): nothing", ("GET", "b")),
    ("EXISTS (read-only): nothing", ("EXISTS", "b", "l")),
)
#: transactions: (label, commands)
TRANSACTIONS: tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...] = (
    ("MULTI with two writes: wrapped in MULTI/EXEC", (("SET", "x", "1"), ("INCR", "x"))),
    ("MULTI with one write: not wrapped", (("SET", "y", "1"),)),
    ("MULTI with a write and a read", (("GET", "y"), ("SET", "y", "2"))),
    ("MULTI with reads only: nothing", (("GET", "y"), ("EXISTS", "x"))),
)


def _info(target: str) -> Generator[Step, Any, dict[str, Any]]:
    reply = yield Cmd(target, ("INFO", "replication"))
    assert isinstance(reply, dict), reply
    return reply


def _offset(target: str = "m") -> Generator[Step, Any, int]:
    info = yield from _info(target)
    return int(info["master_repl_offset"])


def _poll(cond: Callable[[], Generator[Step, Any, bool]], what: str,
          limit: float = 5.0) -> Generator[Step, Any, None]:
    t0 = yield Clock()
    while not (yield from cond()):
        now = yield Clock()
        if now - t0 > limit:
            raise AssertionError(f"gave up waiting for {what}")
        yield Sleep(0.01)


def _caught_up() -> Generator[Step, Any, bool]:
    """The replica applied the master's whole stream, and its ACK of it reached the master."""
    mi = yield from _info("m")
    ri = yield from _info("r")
    off = mi["master_repl_offset"]
    return bool(ri.get("slave_repl_offset") == off and mi.get("slave0", {}).get("offset") == off)


def _link_up() -> Generator[Step, Any, bool]:
    ri = yield from _info("r")
    mi = yield from _info("m")
    return bool(ri.get("master_link_status") == "up" and mi.get("slave0", {}).get("state") == "online")


def scenario(ctx: Ctx) -> Scenario:
    """The scenario, the same on both sides: returns what it observed (compared by the tests)."""
    obs: dict[str, Any] = {}
    yield from _poll(_link_up, "the replica's link")
    obs["offset_after_sync"] = yield from _offset()

    # one PING enters the stream (replicationCron, fed without a SELECT)
    yield Cmd("m", ("CONFIG", "SET", "repl-ping-replica-period", "1"))
    before = yield from _offset()
    t0 = yield Clock()
    after = before
    while after == before:
        now = yield Clock()
        assert now - t0 < 3, "no PING in 3 s with repl-ping-replica-period 1"
        yield Sleep(0.01)
        after = yield from _offset()
    yield Cmd("m", ("CONFIG", "SET", "repl-ping-replica-period", "3600"))
    obs["ping_bytes"] = after - before

    growth: list[tuple[str, Any, int]] = []
    for label, args in WRITES:
        o = yield from _offset()
        reply = yield Cmd("m", args)
        growth.append((label, reply, (yield from _offset()) - o))
    for label, cmds in TRANSACTIONS:
        o = yield from _offset()
        reply = yield Multi("m", cmds)
        growth.append((label, reply, (yield from _offset()) - o))
    obs["growth"] = growth
    obs["offset_after_writes"] = yield from _offset()

    yield from _poll(_caught_up, "the replica to catch up")
    obs["m_info"] = yield from _info("m")
    obs["r_info"] = yield from _info("r")
    obs["m_role"] = yield Cmd("m", ("ROLE",))
    obs["r_role"] = yield Cmd("r", ("ROLE",))

    # WAIT after a write: 1 (the one replica acknowledges); WAIT 2: 1, after the timeout
    yield Cmd("m", ("SET", "w", "1"))
    o = yield from _offset()
    obs["wait1"] = yield Cmd("m", ("WAIT", "1", "100"))
    o1 = yield from _offset()
    t0 = yield Clock()
    obs["wait2"] = yield Cmd("m", ("WAIT", "2", "100"))
    t1 = yield Clock()
    obs["wait2_elapsed_at_least_timeout"] = t1 - t0 >= 0.1
    obs["wait2_bytes"] = (yield from _offset()) - o1
    obs["wait1_bytes_at_most_getack"] = (o1 - o) in (0, 37)
    # right after WAIT 2 the replica's last ACK answered the GETACK: the offset before that GETACK
    mi = yield from _info("m")
    obs["ack_after_getack_behind_by"] = mi["master_repl_offset"] - mi["slave0"]["offset"]
    yield from _poll(_caught_up, "the replica to catch up after WAIT")
    obs["m_info_after_wait"] = yield from _info("m")
    obs["r_info_after_wait"] = yield from _info("r")

    # refusals on the replica; min-replicas-to-write 1 is met by the online replica
    obs["readonly"] = yield Cmd("r", ("SET", "k", "v"))
    obs["readonly_in_multi"] = yield Multi("r", (("SET", "k", "v"),))
    yield Cmd("m", ("CONFIG", "SET", "min-replicas-to-write", "1"))
    obs["write_with_good_replica"] = yield Cmd("m", ("SET", "mr", "1"))
    obs["m_info_min_replicas"] = yield from _info("m")

    # promotion: REPLICAOF NO ONE shifts the ID (shiftReplicationId)
    yield from _poll(_caught_up, "the replica to catch up before the promotion")
    old = yield from _info("m")
    obs["promoted_reply"] = yield Cmd("r", ("REPLICAOF", "NO", "ONE"))
    ri = yield from _info("r")
    obs["promoted_info"] = ri
    obs["promoted_replid2_is_old_replid"] = ri["master_replid2"] == old["master_replid"]
    obs["promoted_replid_is_new"] = ri["master_replid"] != old["master_replid"]
    obs["promoted_role"] = yield Cmd("r", ("ROLE",))

    def replica_gone() -> Generator[Step, Any, bool]:
        mi = yield from _info("m")
        return bool(mi["connected_slaves"] == 0)

    yield from _poll(replica_gone, "the master to drop its replica")
    # the replica left: the good-replica count drops at once (freeClient refreshes it), writes are refused
    obs["m_noreplicas"] = yield Cmd("m", ("SET", "mr", "2"))
    obs["m_info_no_replica"] = yield from _info("m")
    yield Cmd("m", ("CONFIG", "SET", "min-replicas-to-write", "0"))
    obs["m_write_after_reset"] = yield Cmd("m", ("SET", "mr", "3"))
    yield Cmd("r", ("CONFIG", "SET", "min-replicas-to-write", "1"))
    obs["r_noreplicas"] = yield Cmd("r", ("SET", "k", "v"))
    obs["r_noreplicas_multi"] = yield Multi("r", (("SET", "k", "v"),))
    obs["r_read_allowed"] = yield Cmd("r", ("GET", "a"))
    yield Cmd("r", ("CONFIG", "SET", "min-replicas-to-write", "0"))
    # the promoted instance's stream restarts with a SELECT (replicationUnsetMaster resets slaveseldb)
    o = yield from _offset("r")
    yield Cmd("r", ("SET", "p", "1"))
    obs["promoted_first_write_bytes"] = (yield from _offset("r")) - o

    # a replica whose link is down, with replica-serve-stale-data no
    yield Cmd("r", ("CONFIG", "SET", "replica-serve-stale-data", "no"))
    host, port = ctx.dead_master
    obs["replicaof_dead"] = yield Cmd("r", ("REPLICAOF", host, str(port)))
    obs["masterdown_get"] = yield Cmd("r", ("GET", "a"))
    obs["masterdown_set"] = yield Cmd("r", ("SET", "a", "1"))
    obs["masterdown_ping"] = yield Cmd("r", ("PING",))
    ri = yield from _info("r")
    obs["down_link_status"] = ri["master_link_status"]
    obs["down_role"] = ri["role"]
    role = yield Cmd("r", ("ROLE",))
    obs["down_role_reply"] = (role[0], role[3] in (b"connect", b"connecting"), role[4])
    return obs


# ---------------------------------------------------------------- real run
def _real_step(clients: dict[str, Any], step: Step) -> Any:
    import redis

    if isinstance(step, Sleep):
        time.sleep(step.seconds)
        return None
    if isinstance(step, Clock):
        return time.monotonic()
    try:
        if isinstance(step, Cmd):
            return clients[step.target].execute_command(*step.args)
        pipe = clients[step.target].pipeline(transaction=True)
        for c in step.cmds:
            pipe.execute_command(*c)
        return pipe.execute()
    except redis.exceptions.ResponseError as e:
        return Err(type(e).__name__, str(e))


def _drive(gen: Scenario, step: Callable[[Step], Any]) -> dict[str, Any]:
    reply: Any = None
    while True:
        try:
            s = gen.send(reply)
        except StopIteration as stop:
            return stop.value
        reply = step(s)


@pytest.fixture(scope="module")
def real_obs() -> Iterator[dict[str, Any]]:
    """The scenario's observations on a real master and replica (started for this module, then stopped)."""
    why = "the replication comparison with a real Redis"
    servers: list[tuple[subprocess.Popen[bytes], Any]] = []
    clients: dict[str, Any] = {}
    try:
        pm, clients["m"], mport = start_real_redis("--repl-ping-replica-period", "3600",
                                                   "--repl-diskless-sync-delay", "0", purpose=why)
        servers.append((pm, clients["m"]))
        pr, clients["r"], _ = start_real_redis("--replicaof", "127.0.0.1", str(mport), purpose=why)
        servers.append((pr, clients["r"]))
        yield _drive(scenario(Ctx(dead_master=("127.0.0.1", _free_port()))), lambda s: _real_step(clients, s))
    finally:
        for proc, client in servers:
            stop_real_redis(proc, client)


# ----------------------------------------------------------------- sim run
def _sim_process(w: World, clients: dict[str, Redis], gen: Scenario,
                 out: dict[str, Any]) -> Generator[Any, Any, None]:
    reply: Any = None
    while True:
        try:
            s = gen.send(reply)
        except StopIteration as stop:
            out.update(stop.value)
            return
        if isinstance(s, Sleep):
            yield w.env.timeout(s.seconds)
            reply = None
        elif isinstance(s, Clock):
            reply = w.env.now
        else:
            try:
                if isinstance(s, Cmd):
                    reply = yield from clients[s.target].execute_command(*s.args)
                else:
                    pipe = clients[s.target].pipeline(transaction=True)
                    for c in s.cmds:
                        pipe.execute_command(*c)
                    reply = yield from pipe.execute()
            except RemoteError as e:
                reply = Err(type(e).__name__, str(e))


@pytest.fixture(scope="module")
def sim_obs() -> dict[str, Any]:
    """The scenario's observations on a simulated master ``m`` and replica ``r`` (configured as the real ones)."""
    w = World(0)
    for a, b in (("app", "m"), ("app", "r"), ("m", "r")):
        w.network.add_link(a, b, "const:0.0001")
    kw: dict[str, Any] = dict(service="const:0.00005", unix_start=SIM_UNIX_START, repl_ping_replica_period=3600)
    m = RedisServer(w, "m", repl_diskless_sync_delay=0, **kw)
    r = RedisServer(w, "r", replicaof="m", **kw)
    clients = {"m": Redis(w, "app", m), "r": Redis(w, "app", r)}
    out: dict[str, Any] = {}
    p = w.process(_sim_process(w, clients, scenario(Ctx(dead_master=("nowhere", 6379))), out))
    w.env.run(until=p)
    return out


# -------------------------------------------------------------------- tests
def test_offset_growth_of_each_write_command(real_obs: dict[str, Any], sim_obs: dict[str, Any]) -> None:
    """Each command's reply and the bytes it added to the stream (propagate / rewriteClientCommand*)."""
    assert real_obs["offset_after_sync"] == sim_obs["offset_after_sync"] == 0
    for real, sim in zip(real_obs["growth"], sim_obs["growth"], strict=True):
        assert real == sim
    assert real_obs["offset_after_writes"] == sim_obs["offset_after_writes"]


def test_periodic_ping_carries_no_select(real_obs: dict[str, Any], sim_obs: dict[str, Any]) -> None:
    assert real_obs["ping_bytes"] == sim_obs["ping_bytes"] == len(b"*1\r\n$4\r\nPING\r\n")


def _fields(info: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: info.get(n) for n in names}


MASTER_FIELDS = ("role", "connected_slaves", "master_failover_state", "master_replid2", "master_repl_offset",
                 "second_repl_offset", "repl_backlog_active", "repl_backlog_size",
                 "repl_backlog_first_byte_offset", "repl_backlog_histlen")
REPLICA_FIELDS = ("role", "master_link_status", "master_sync_in_progress", "slave_read_repl_offset",
                  "slave_repl_offset", "slave_priority", "slave_read_only", "replica_announced",
                  "connected_slaves", "master_replid2", "master_repl_offset", "second_repl_offset",
                  "repl_backlog_active", "repl_backlog_first_byte_offset", "repl_backlog_histlen")


@pytest.mark.parametrize("phase", ["", "_after_wait"])
def test_caught_up_replica_reports_the_masters_offset(real_obs: dict[str, Any], sim_obs: dict[str, Any],
                                                      phase: str) -> None:
    for obs in (real_obs, sim_obs):
        mi, ri = obs["m_info" + phase], obs["r_info" + phase]
        assert ri["slave_repl_offset"] == ri["slave_read_repl_offset"] == mi["master_repl_offset"]
        assert ri["master_replid"] == mi["master_replid"]
    rm, sm = real_obs["m_info" + phase], sim_obs["m_info" + phase]
    assert _fields(rm, *MASTER_FIELDS) == _fields(sm, *MASTER_FIELDS)
    slave0 = ("state", "offset")
    assert _fields(rm["slave0"], *slave0) == _fields(sm["slave0"], *slave0)
    rr, sr = real_obs["r_info" + phase], sim_obs["r_info" + phase]
    assert _fields(rr, *REPLICA_FIELDS) == _fields(sr, *REPLICA_FIELDS)


def test_role_replies(real_obs: dict[str, Any], sim_obs: dict[str, Any]) -> None:
    rm, sm = real_obs["m_role"], sim_obs["m_role"]
    assert rm[0] == sm[0] == b"master" and rm[1] == sm[1]
    assert len(rm[2]) == len(sm[2]) == 1
    assert [type(x) for x in rm[2][0]] == [type(x) for x in sm[2][0]] == [bytes, bytes, bytes]
    assert rm[2][0][2] == sm[2][0][2] == str(rm[1]).encode()
    rr, sr = real_obs["r_role"], sim_obs["r_role"]
    assert [type(x) for x in rr] == [type(x) for x in sr]
    assert (rr[0], rr[3], rr[4]) == (sr[0], sr[3], sr[4]) == (b"slave", b"connected", rm[1])


def test_wait_replies(real_obs: dict[str, Any], sim_obs: dict[str, Any]) -> None:
    for obs in (real_obs, sim_obs):
        assert obs["wait1"] == 1 and obs["wait1_bytes_at_most_getack"]
        assert obs["wait2"] == 1 and obs["wait2_elapsed_at_least_timeout"]
    # the blocked WAIT 2 sent REPLCONF GETACK * (37 bytes), and the replica answered with the offset before it
    # (replconfCommand runs before the GETACK counts as processed); the real replica's once-a-second ACK may
    # come in after that answer and report the whole stream (0 behind)
    assert real_obs["wait2_bytes"] == sim_obs["wait2_bytes"] == 37
    assert sim_obs["ack_after_getack_behind_by"] == 37 and real_obs["ack_after_getack_behind_by"] in (0, 37)


def test_refusal_texts(real_obs: dict[str, Any], sim_obs: dict[str, Any]) -> None:
    keys = ("readonly", "readonly_in_multi", "write_with_good_replica", "m_noreplicas", "m_write_after_reset",
            "r_noreplicas", "r_noreplicas_multi", "r_read_allowed", "replicaof_dead", "masterdown_get",
            "masterdown_set", "masterdown_ping")
    assert {k: real_obs[k] for k in keys} == {k: sim_obs[k] for k in keys}
    assert real_obs["readonly"] == Err("ReadOnlyError", "You can't write against a read only replica.")
    assert real_obs["m_noreplicas"] == Err("ResponseError", "NOREPLICAS Not enough good replicas to write.")
    assert real_obs["masterdown_get"] == Err(
        "MasterDownError", "Link with MASTER is down and replica-serve-stale-data is set to 'no'.")
    good = ("min_slaves_good_slaves",)
    assert _fields(real_obs["m_info_min_replicas"], *good) == _fields(sim_obs["m_info_min_replicas"], *good)
    assert _fields(real_obs["m_info_no_replica"], *good) == _fields(sim_obs["m_info_no_replica"], *good)


def test_replicaof_no_one_shifts_the_replication_id(real_obs: dict[str, Any], sim_obs: dict[str, Any]) -> None:
    for obs in (real_obs, sim_obs):
        ri = obs["promoted_info"]
        assert obs["promoted_replid2_is_old_replid"] and obs["promoted_replid_is_new"]
        assert ri["second_repl_offset"] == ri["master_repl_offset"] + 1
    fields = ("role", "connected_slaves", "master_repl_offset", "second_repl_offset", "repl_backlog_active",
              "repl_backlog_first_byte_offset", "repl_backlog_histlen")
    assert _fields(real_obs["promoted_info"], *fields) == _fields(sim_obs["promoted_info"], *fields)
    assert real_obs["promoted_reply"] == sim_obs["promoted_reply"]
    assert real_obs["promoted_first_write_bytes"] == sim_obs["promoted_first_write_bytes"] == 23 + 27
    assert real_obs["promoted_role"] == sim_obs["promoted_role"]


def test_link_down_replica(real_obs: dict[str, Any], sim_obs: dict[str, Any]) -> None:
    keys = ("down_link_status", "down_role", "down_role_reply")
    assert {k: real_obs[k] for k in keys} == {k: sim_obs[k] for k in keys}
    assert real_obs["down_role_reply"] == (b"slave", True, -1)
