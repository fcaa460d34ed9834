"""Redis Sentinel: detection, agreement, election and failover timing against sentinel.c's periods.

Every bound below is derived from the periods of ``sentinel.c`` (Redis 7.0):
the timer ticks at 10..19 Hz (a tick is at most ``TICK`` = 0.1 s apart), PING
goes out when the last pong is older than the ping period (1 s), SDOWN is
declared once the first unanswered ping is older than ``down-after``, peers
are asked ``is-master-down-by-addr`` once a second while SDOWN.  Links have a
constant one-way latency ``LAT``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from simcache.errors import UsageError
from simcache.sim import faults
from simcache.sim.redis import RedisServer
from simcache.sim.redis.sentinel import (
    SRI_MASTER,
    SRI_S_DOWN,
    SRI_SLAVE,
    Instance,
    MasterNotFoundError,
    Sentinel,
    SentinelServer,
    select_slave,
)
from simcache.sim.rpc import ResponseError, call
from simcache.sim.world import World

LAT = 0.0005
RTT = 2 * LAT
TICK = 0.1          # the longest gap between two sentinelTimer runs (hz >= 10)
PING = 1.0          # SENTINEL_PING_PERIOD
ASK = 1.0           # sentinel_ask_period
DOWN_AFTER = 5.0
EPS = 1e-6


def build(seed: int = 1, n: int = 3, quorum: int = 2, down_after_ms: int = 5000, failover_timeout_ms: int = 60000,
          ) -> tuple[World, RedisServer, list[SentinelServer]]:
    """A master ``redis-0`` and ``n`` sentinels monitoring it as ``mymaster``, all nodes linked pairwise."""
    w = World(seed=seed)
    m = RedisServer(w, "redis-0")
    sens = [SentinelServer(w, f"sentinel-{i}") for i in range(n)]
    nodes = ["redis-0", "app"] + [s.node for s in sens]
    w.network.add_node("app")
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            w.network.add_link(a, b, f"const:{LAT}")
    for s in sens:
        s.monitor("mymaster", "redis-0", 6379, quorum, down_after_milliseconds=down_after_ms,
                  failover_timeout=failover_timeout_ms)
    return w, m, sens


def first(sens: list[SentinelServer], kind: str, who: SentinelServer | None = None) -> list[float]:
    """Times of event ``kind`` (Redis's name, e.g. ``+sdown``) on the master, per sentinel (or one)."""
    out = []
    for s in sens if who is None else [who]:
        out += [t for t, k, d in s.events if k == kind and d.startswith("master ")]
    return sorted(out)


def test_hello_messages_discover_every_other_sentinel_within_two_publish_periods() -> None:
    w, _, sens = build()
    w.run(2 * 2.0 + 2 * TICK + RTT)
    for s in sens:
        known = s.masters["mymaster"].sentinels
        assert {x.host for x in known.values()} == {o.name for o in sens if o is not s}
        assert {x.runid for x in known.values()} == {o.myid for o in sens if o is not s}


@pytest.mark.parametrize("kind", ["crash", "down"])
def test_sdown_after_down_after_and_within_one_ping_period_more(kind: str) -> None:
    """SDOWN once the first unanswered ping is older than down-after.

    That ping left no earlier than one latency before the fault (an earlier one was answered), and no later
    than a ping period after the last pong, plus a tick to notice: SDOWN - T in
    (DOWN_AFTER - LAT, DOWN_AFTER + PING + 2 * TICK + RTT].
    """
    w, _, sens = build(seed=3)
    t = 20.0
    faults.schedule(w, [f"{kind}:redis-0@{t}"])
    w.run(t + DOWN_AFTER + PING + 1.0)
    downs = [first(sens, "+sdown", s) for s in sens]
    assert all(len(d) == 1 for d in downs)
    for (d,) in downs:
        assert t + DOWN_AFTER - LAT < d <= t + DOWN_AFTER + PING + 2 * TICK + RTT
    assert not first(sens, "+sdown", None) or min(first(sens, "+sdown")) > t  # nothing before the fault


def test_odown_election_and_abort_in_order_without_replicas() -> None:
    """ODOWN needs quorum SDOWNs (the first sentinel's own plus a peer's answer); the failover follows in order.

    * odown >= the quorum-th SDOWN, and <= it + ASK + 2 * TICK + RTT (the next question and the tick after
      its answer);
    * the leader's try-failover in the same tick as its ODOWN (a peer may try too, in the same epoch, only
      before the leader's vote request reaches it);
    * elected-leader after the votes come back: >= try + RTT, <= try + RTT + 2 * TICK;
    * no replica: -failover-abort-no-good-slave one tick later.
    """
    w, _, sens = build(seed=5)
    t = 10.0
    faults.schedule(w, [f"crash:redis-0@{t}"])
    w.run(t + 10.0)
    sdowns = first(sens, "+sdown")
    odowns = first(sens, "+odown")
    assert len(sdowns) == 3 and odowns
    second_sdown = sdowns[1]
    assert second_sdown < odowns[0] <= second_sdown + ASK + 2 * TICK + RTT
    # one leader per epoch; a second sentinel may have tried in the same epoch before the first one's vote
    # request reached it (it then lost: a vote per epoch, for the first to ask)
    (leader,) = [s for s in sens if first(sens, "+elected-leader", s)]
    (t_try,) = first(sens, "+try-failover", leader)
    assert t_try == first(sens, "+odown", leader)[0]
    for s in sens:
        if s is not leader:
            assert all(tt < t_try + RTT for tt in first(sens, "+try-failover", s))
    (t_elected,) = first(sens, "+elected-leader", leader)
    assert t_try + RTT <= t_elected <= t_try + RTT + 2 * TICK
    (t_abort,) = first(sens, "-failover-abort-no-good-slave", leader)
    assert t_elected < t_abort <= t_elected + TICK + EPS
    # each sentinel voted once, in epoch 1; a majority of the 3 (and at least the quorum) for the leader
    votes = [s.masters["mymaster"] for s in sens]
    assert all(m.leader_epoch == 1 for m in votes)
    assert sum(m.leader == leader.myid for m in votes) >= 2
    # markers on the world's timeline, with Redis's event names without '+'
    kinds = [(mk["source"], mk["kind"]) for mk in w.recorder.markers()]
    assert (leader.name, "elected-leader") in kinds and ("redis-0", "crash") in kinds


def test_no_majority_means_no_leader_and_retry_only_after_twice_the_failover_timeout() -> None:
    """With quorum 1, a sentinel cut off from the other two reaches ODOWN alone but cannot win (majority of the
    3 it knows is 2): it aborts after min(10 s, failover-timeout) and tries again only 2 * failover-timeout after
    its start time (the try time + rand() % 1000 ms)."""
    fto = 3.0
    w, _, sens = build(seed=7, quorum=1, failover_timeout_ms=int(fto * 1000))
    faults.schedule(w, ["partition:sentinel-0|redis-0,app,sentinel-1,sentinel-2@5"])  # after everyone met
    w.run(40.0)
    s0 = sens[0]
    tries = first(sens, "+try-failover", s0)
    aborts = first(sens, "-failover-abort-not-elected", s0)
    assert len(tries) >= 3 and len(aborts) >= 2
    assert not first(sens, "+elected-leader", s0)
    for a, b in zip(tries, tries[1:], strict=False):
        assert 2 * fto < b - a <= 2 * fto + 1.0 + TICK + EPS
    for tr, ab in zip(tries, aborts, strict=False):
        assert fto < ab - tr <= fto + 1.0 + TICK + EPS
    # the other two still see the master and never fail over
    assert not first(sens, "+odown", sens[1]) and not first(sens, "+odown", sens[2])


def test_a_paused_sentinel_tilts_for_thirty_seconds_and_does_not_act_meanwhile() -> None:
    """A 3 s pause is a timer gap over 2 s: +tilt on the first run after it, -tilt 30 s later; in between the
    sentinel neither flags the crashed master SDOWN nor says it is down, and the other two fail over alone."""
    w, _, sens = build(seed=8)
    faults.schedule(w, ["pause:sentinel-0@10+3", "crash:redis-0@15"])
    w.run(50.0)
    s0 = sens[0]
    (t_tilt,) = [t for t, k, _ in s0.events if k == "+tilt"]
    (t_untilt,) = [t for t, k, _ in s0.events if k == "-tilt"]
    assert 13.0 <= t_tilt <= 13.0 + TICK + EPS
    assert t_tilt + 30.0 <= t_untilt <= t_tilt + 30.0 + TICK + EPS
    assert all(t >= t_untilt for t in first(sens, "+sdown", s0))
    assert first(sens, "+odown", sens[1]) or first(sens, "+odown", sens[2])
    assert len([s for s in sens[1:] if first(sens, "+elected-leader", s)]) == 1


def test_vote_goes_to_the_first_requester_of_an_epoch() -> None:
    w, _, sens = build()
    s = sens[0]
    m = s.masters["mymaster"]
    assert s.vote_leader(m, 1, "a" * 40) == ("a" * 40, 1)
    assert s.vote_leader(m, 1, "b" * 40) == ("a" * 40, 1)
    assert s.vote_leader(m, 2, "b" * 40) == ("b" * 40, 2)
    assert s.current_epoch == 2


def _replica(master: Instance, host: str, prio: int, offset: int, runid: str | None, now: float) -> Instance:
    r = Instance(f"{host}:6379", SRI_SLAVE, host, 6379, 2, master, now)
    r.slave_priority, r.slave_repl_offset, r.runid = prio, offset, runid
    r.link.disconnected = False
    r.link.last_avail_time = now
    r.info_refresh = now
    master.slaves[r.addr] = r
    return r


def test_select_slave_priority_then_offset_then_runid_and_never_priority_zero() -> None:
    now = 1e12
    m = Instance("mymaster", SRI_MASTER, "redis-0", 6379, 2, None, now)
    m.down_after_period = 5000
    _replica(m, "r-zero", 0, 10**9, "0" * 40, now)          # priority 0: never
    _replica(m, "r-p200", 200, 10**6, "1" * 40, now)
    b = _replica(m, "r-b", 100, 500, "b" * 40, now)
    a = _replica(m, "r-a", 100, 500, "a" * 40, now)
    _replica(m, "r-low", 100, 499, "0" * 40, now)
    assert select_slave(m, now) is a                         # same priority and offset: smaller run id
    a.slave_repl_offset = 400
    assert select_slave(m, now) is b                         # greater offset first
    for r in list(m.slaves.values()):
        if r.slave_priority == 100:
            r.link.disconnected = True
    assert select_slave(m, now).host == "r-p200"            # type: ignore[union-attr]
    m.slaves[("r-p200", 6379)].flags |= SRI_S_DOWN
    assert select_slave(m, now) is None                      # only priority 0 left


def test_select_slave_excludes_stale_info_and_long_master_link_down() -> None:
    now = 1e12
    m = Instance("mymaster", SRI_MASTER, "redis-0", 6379, 2, None, now)
    m.down_after_period = 5000
    r = _replica(m, "r", 100, 1, "a" * 40, now)
    r.info_refresh = now - 30000 - 1                         # 3 INFO periods while the master is not SDOWN
    assert select_slave(m, now) is None
    r.info_refresh = now - 30000
    assert select_slave(m, now) is r
    m.flags |= SRI_S_DOWN
    m.s_down_since_time = now - 2000
    assert select_slave(m, now) is None                      # SDOWN master: INFO within 5 ping periods
    r.info_refresh = now - 5000
    assert select_slave(m, now) is r
    r.master_link_down_time = 10 * 5000 + 2000 + 1           # down_after * 10 + time the master is SDOWN
    assert select_slave(m, now) is None
    r.master_link_down_time = 10 * 5000 + 2000
    assert select_slave(m, now) is r
    r.link.last_avail_time = now - 5001                      # no valid reply within 5 ping periods
    assert select_slave(m, now) is None


def _ask(w: World, server: Any, *cmd: Any) -> Any:
    out: dict[str, Any] = {}

    def proc() -> Any:
        try:
            out["r"] = yield from call(w, "app", server, tuple(c.encode() if isinstance(c, str) else c for c in cmd))
        except ResponseError as err:
            out["r"] = err

    w.process(proc())
    w.env.run(until=w.now + 0.01)  # World.run starts the metric scrapes at time 0: once per world
    return out["r"]


def test_sentinel_commands_reply_shapes() -> None:
    w, _, sens = build()
    w.run(5.0)
    s = sens[0]
    assert _ask(w, s, "SENTINEL", "get-master-addr-by-name", "mymaster") == [b"redis-0", b"6379"]
    assert _ask(w, s, "SENTINEL", "get-master-addr-by-name", "nope") is None
    assert _ask(w, s, "PING") == "PONG"
    assert _ask(w, s, "ROLE") == [b"sentinel", [b"mymaster"]]
    assert str(_ask(w, s, "SENTINEL", "ckquorum", "mymaster")).startswith("OK 3 usable Sentinels.")
    assert str(_ask(w, s, "SENTINEL", "master", "nope")) == "ERR No such master with that name"
    master = _ask(w, s, "SENTINEL", "master", "mymaster")
    st = dict(zip(master[::2], master[1::2], strict=True))
    assert st[b"flags"] == b"master" and st[b"num-other-sentinels"] == b"2" and st[b"quorum"] == b"2"
    assert _ask(w, s, "SENTINEL", "is-master-down-by-addr", "redis-0", "6379", "0", "*") == [0, b"*", 0]
    assert str(_ask(w, s, "SENTINEL", "bogus")).startswith("ERR unknown subcommand 'bogus'")
    assert len(_ask(w, s, "SENTINEL", "sentinels", "mymaster")) == 2
    assert str(_ask(w, s, "PUBLISH", "other", "x")) == "ERR Only HELLO messages are accepted by Sentinel instances."


def test_ckquorum_fails_when_too_few_sentinels_are_up() -> None:
    w, _, sens = build(seed=2)
    faults.schedule(w, ["down:sentinel-1@5", "down:sentinel-2@5"])
    w.run(5.0 + DOWN_AFTER + PING + 1.0)
    r = str(_ask(w, sens[0], "SENTINEL", "ckquorum", "mymaster"))
    assert r == ("NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for "
                 "this master. Not enough available Sentinels to reach the majority and authorize a failover")


def test_client_discovers_master_and_refuses_an_odown_one() -> None:
    """redis-py's discover_master: SENTINEL MASTERS, skipping a master flagged s_down/o_down."""
    w, m, sens = build(seed=4)
    client = Sentinel(w, "app", sens, socket_timeout=0.5)
    r = client.master_for("mymaster", socket_timeout=0.5)
    out: list[Any] = []

    def proc() -> Any:
        out.append((yield from client.discover_master("mymaster")))
        out.append((yield from r.set("k", "v")))
        yield w.env.timeout(20.0)
        try:
            yield from client.discover_master("mymaster")
        except MasterNotFoundError as err:
            out.append(str(err))

    w.process(proc())
    faults.schedule(w, ["crash:redis-0@5"])
    w.run(30.0)
    assert out[:2] == [("redis-0", 6379), True]
    assert out[2] == "No master found for 'mymaster'"
    assert m.data.get(b"k") is not None  # the write reached the master before the crash


def test_sentinel_restart_keeps_its_configuration() -> None:
    w, _, sens = build(seed=6)
    faults.schedule(w, ["crash:sentinel-0@5+3"])
    w.run(12.0)
    m = sens[0].masters["mymaster"]
    assert len(m.sentinels) == 2 and not m.flags & SRI_S_DOWN
    assert not first(sens, "+sdown")


def test_monitor_rejects_bad_parameters() -> None:
    w, _, sens = build()
    with pytest.raises(UsageError, match="quorum"):
        sens[0].monitor("other", "redis-0", 6379, 0)
    with pytest.raises(UsageError, match="already monitored"):
        sens[0].monitor("mymaster", "redis-0", 6379, 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ERROR_CASES = [("SENTINEL", "MASTER", "nope"), ("SENTINEL", "bogus"), ("SENTINEL", "MASTER"),
               ("SENTINEL", "get-master-addr-by-name", "a", "b"), ("PUBLISH", "other", "x"),
               ("SENTINEL", "is-master-down-by-addr", "127.0.0.1", "x", "0", "*")]


def test_get_master_addr_by_name_shape_matches_a_real_sentinel() -> None:
    """A real ``redis-server --sentinel`` answers [ip, port] as two bulk strings, nil for an unknown name; ROLE
    and the error texts of bad SENTINEL calls are the same."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed, so a real Sentinel cannot be started")
    redis = pytest.importorskip("redis", reason="the redis Python package is needed to talk to a real sentinel")
    port = _free_port()
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d) / "sentinel.conf"
        conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {_free_port()} 2\n")
        proc = subprocess.Popen([exe, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, protocol=2)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.skip("redis-server --sentinel did not start")
                    time.sleep(0.05)
            real = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster",
                                          **{"NEVER_DECODE": True})
            real_none = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope")
            real_role = client.execute_command("ROLE")
            real_errors = []
            for cmd in ERROR_CASES:
                try:
                    client.execute_command(*cmd)
                except redis.exceptions.ResponseError as err:
                    real_errors.append(str(err))
        finally:
            client.close()
            proc.terminate()
            proc.wait(timeout=10)
    w, _, sens = build()
    sim = _ask(w, sens[0], "SENTINEL", "get-master-addr-by-name", "mymaster")
    assert [type(x) for x in real] == [type(x) for x in sim] == [bytes, bytes]
    assert real[1].isdigit() and sim[1].isdigit()
    assert real_none is None and _ask(w, sens[0], "SENTINEL", "get-master-addr-by-name", "nope") is None
    assert real_role == _ask(w, sens[0], "ROLE")
    # redis-py strips the ERR code of an error reply
    sim_errors = [str(_ask(w, sens[0], *cmd)).removeprefix("ERR ") for cmd in ERROR_CASES]
    assert sim_errors == real_errors


# ------------------------------------------------------------------ with replicas
def build_replicated(seed: int = 1, priorities: tuple[int, int] = (100, 100), min_replicas: int = 0,
                     max_lag: int = 10, clients: tuple[str, ...] = ("app",), failover_timeout_ms: int = 60000,
                     ) -> tuple[World, list[RedisServer], list[SentinelServer]]:
    """``redis-0`` with replicas ``redis-1``/``redis-2`` (replica-priority ``priorities``), 3 sentinels (the seed's
    settings), client nodes ``clients``; every node linked to every other with latency LAT."""
    w = World(seed=seed)
    kw: dict[str, Any] = {"min_replicas_to_write": min_replicas, "min_replicas_max_lag": max_lag}
    rs = [RedisServer(w, "redis-0", **kw)]
    rs += [RedisServer(w, f"redis-{i + 1}", replicaof="redis-0", replica_priority=p, **kw)
           for i, p in enumerate(priorities)]
    sens = [SentinelServer(w, f"sentinel-{i}") for i in range(3)]
    for c in clients:
        w.network.add_node(c)
    nodes = [r.node for r in rs] + list(clients) + [s.node for s in sens]
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            w.network.add_link(a, b, f"const:{LAT}")
    for s in sens:
        s.monitor("mymaster", "redis-0", 6379, 2, down_after_milliseconds=5000, failover_timeout=failover_timeout_ms)
    return w, rs, sens


def events_of(s: SentinelServer, kind: str, after: float = 0.0) -> list[tuple[float, str]]:
    return [(t, d) for t, k, d in s.events if k == kind and t >= after]


def leader_of(sens: list[SentinelServer], after: float) -> SentinelServer:
    """The first sentinel elected after ``after``."""
    elected = sorted((events_of(s, "+elected-leader", after)[0][0], i) for i, s in enumerate(sens)
                     if events_of(s, "+elected-leader", after))
    return sens[elected[0][1]]


def test_failover_steps_in_order_each_within_its_period_and_the_old_master_rejoins() -> None:
    """The leader's steps after a master crash at T, each bounded by the periods that drive it:

    * selected-slave one tick after elected-leader, send-slaveof-noone... wait-promotion one tick later;
    * promoted-slave when an INFO (every 1 s during a failover) shows role:master: <= wait + PING + 2 TICK + RTT;
    * slave-reconf-sent one tick after; slave-reconf-done when an INFO shows the new master and the link up
      (two INFO rounds at most): <= sent + 2 (1 s + 2 TICK) + RTT;
    * failover-end and +switch-master in the same timer run (UPDATE_CONFIG is acted on at its end);
    * the old master restarts (warm) at T + 40 and reports role:master: Sentinel waits 4 publish periods (8 s)
      after the role change and acts on the next INFO (every 10 s): +convert-to-slave in
      (heal + 8 s, heal + PING + 2 TICK + 10 s + 2 TICK + 2 RTT].
    """
    w, rs, sens = build_replicated(seed=11)
    t = 20.0
    back = t + 40.0
    faults.schedule(w, [f"crash-warm:redis-0@{t}+40"])
    w.run(back + 25.0)
    ld = leader_of(sens, t)
    (t_el, _), = events_of(ld, "+elected-leader", t)
    (t_sel, sel), = events_of(ld, "+selected-slave", t)
    (t_wait, _), = events_of(ld, "+failover-state-wait-promotion", t)
    (t_pro, pro), = events_of(ld, "+promoted-slave", t)
    (t_sent, _), = events_of(ld, "+slave-reconf-sent", t)
    (t_done, _), = events_of(ld, "+slave-reconf-done", t)
    (t_end, _), = events_of(ld, "+failover-end", t)
    (t_sw, sw), = events_of(ld, "+switch-master", t)
    assert t_el < t_sel <= t_el + TICK + EPS
    assert t_sel < t_wait <= t_sel + TICK + EPS
    assert t_wait < t_pro <= t_wait + PING + 2 * TICK + RTT
    assert t_pro < t_sent <= t_pro + TICK + EPS
    assert t_sent < t_done <= t_sent + 2 * (PING + 2 * TICK) + RTT
    assert t_done < t_end <= t_done + TICK + EPS and t_sw == t_end
    new = sel.split(" ")[2]
    assert pro.split(" ")[2] == new and sw == f"mymaster redis-0 6379 {new} 6379"
    other = next(r for r in rs[1:] if r.name != new)
    assert other.masterhost == new and other.repl_state == "connected"
    # every sentinel switched, the others from the leader's hello
    for s in sens:
        assert s.masters["mymaster"].addr == (new, 6379)
    # the old master came back as a master, and was converted
    conv = sorted(ti for s in sens for ti, d in events_of(s, "+convert-to-slave", back) if d.startswith("slave redis-0:"))
    assert conv and back + 8.0 < conv[0] <= back + PING + 2 * TICK + 10.0 + 2 * TICK + 2 * RTT
    assert rs[0].masterhost == new and rs[0].repl_state == "connected"


@pytest.mark.parametrize(("priorities", "promoted"), [((0, 100), "redis-2"), ((100, 0), "redis-1"), ((0, 0), None)])
def test_a_priority_zero_replica_is_never_promoted(priorities: tuple[int, int], promoted: str | None) -> None:
    w, rs, sens = build_replicated(seed=12, priorities=priorities)
    faults.schedule(w, ["crash:redis-0@20"])
    w.run(32.0)
    selected = {d.split(" ")[2] for s in sens for _, d in events_of(s, "+selected-slave")}
    if promoted is None:
        assert not selected
        assert any(events_of(s, "-failover-abort-no-good-slave") for s in sens)
        assert all(s.masters["mymaster"].addr == ("redis-0", 6379) for s in sens)
    else:
        assert selected == {promoted}
        assert rs[int(promoted[-1])].masterhost is None


def test_failover_aborts_when_the_promotion_is_not_seen_within_the_failover_timeout() -> None:
    """The only candidate (the other has priority 0) stalls for 5 s the moment it is selected (a pause): its
    SLAVEOF NO ONE waits for the pause to end, and the leader aborts failover-timeout (3 s) after entering
    wait-promotion, at the next tick."""
    fto = 3.0
    w, rs, sens = build_replicated(seed=16, priorities=(100, 0), failover_timeout_ms=int(fto * 1000))
    faults.schedule(w, ["crash:redis-0@20"])

    def stall_when_selected() -> Any:
        while not any(events_of(s, "+selected-slave") for s in sens):
            yield w.env.timeout(0.001)
        rs[1].pause(5.0)

    w.process(stall_when_selected())
    w.run(29.5)
    ld = leader_of(sens, 20.0)
    (t_sel, sel), = events_of(ld, "+selected-slave", 20.0)
    assert sel.startswith("slave redis-1:")
    (t_wait, _), = events_of(ld, "+failover-state-wait-promotion", 20.0)
    (t_abort, _), = events_of(ld, "-failover-abort-slave-timeout", 20.0)
    assert t_wait + fto < t_abort <= t_wait + fto + TICK + EPS
    assert not any(events_of(s, "+promoted-slave") for s in sens)
    assert rs[1].masterhost == "redis-0"  # the command has not run yet


def test_reconfiguration_ends_at_the_failover_timeout_when_a_replica_cannot_sync() -> None:
    """redis-2 answers the sentinels but cannot reach the promoted redis-1: it takes SLAVEOF (reconf-inprog) and
    never reports its link up; the leader ends the failover failover-timeout (3 s) after the promotion
    (+failover-end-for-timeout) and switches in the same timer run."""
    fto = 3.0
    w, rs, sens = build_replicated(seed=17, priorities=(100, 0), failover_timeout_ms=int(fto * 1000))
    faults.schedule(w, ["crash:redis-0@20", "partition:redis-2|redis-1@21"])
    w.run(34.0)
    ld = leader_of(sens, 20.0)
    (t_pro, _), = events_of(ld, "+promoted-slave", 20.0)
    assert events_of(ld, "+slave-reconf-inprog", 20.0) and not events_of(ld, "+slave-reconf-done", 20.0)
    (t_cap, _), = events_of(ld, "+failover-end-for-timeout", 20.0)
    (t_sw, sw), = events_of(ld, "+switch-master", 20.0)
    assert t_pro + fto < t_cap <= t_pro + fto + TICK + EPS and t_sw == t_cap
    assert sw == "mymaster redis-0 6379 redis-1 6379" and rs[2].masterhost == "redis-1"


def test_sentinel_reset_forgets_replicas_and_sentinels_and_finds_them_again() -> None:
    """SENTINEL RESET: the sentinels come back with the others' next hello (within a publish period), the
    replicas with the master's next INFO (sentinelResetMaster keeps info_refresh: within an INFO period)."""
    w, _, sens = build_replicated(seed=18)
    w.run(12.0)
    m = sens[0].masters["mymaster"]
    assert len(m.slaves) == 2 and len(m.sentinels) == 2
    assert _ask(w, sens[0], "SENTINEL", "reset", "*") == 1
    assert len(m.slaves) == 0 and len(m.sentinels) == 0
    w.env.run(until=w.now + 2.0 + 2 * TICK + RTT)
    assert len(m.sentinels) == 2
    w.env.run(until=w.now + 10.0)
    assert len(m.slaves) == 2


def _writer(w: World, node: str, sens: list[SentinelServer], prefix: str, times: list[float], ledger: Any,
            log: list[tuple[float, bool, str]]) -> None:
    """Writes ``prefix:i`` at ``times[i]`` through a Sentinel-managed client; acknowledged writes go to ``ledger``.

    A first write ``prefix:warm`` at 10 s (the replicas are in sync by then) makes the client find the master (it keeps its connection after).
    """
    r = Sentinel(w, node, sens, socket_timeout=0.2).master_for("mymaster", socket_timeout=0.5)

    def one(i: int | str, at: float) -> Any:
        yield w.env.timeout(at)
        key = f"{prefix}:{i}".encode()
        try:
            yield from r.set(key, key)
        except Exception:  # noqa: BLE001 - any failure: not acknowledged
            log.append((w.now, False, ""))
            return
        ledger.record(key, key, w.now, at)
        log.append((w.now, True, r.router.target(()).name))

    w.process(one("warm", 10.0))
    for i, at in enumerate(times):
        w.process(one(i, at))


@pytest.mark.parametrize(("lagging", "expected"), [("redis-1", "redis-2"), ("redis-2", "redis-1")])
def test_selection_prefers_the_greater_replication_offset(lagging: str, expected: str) -> None:
    """A replica cut off from the master for the 3 s before the crash has a smaller offset (writes go on):
    the other one is promoted, whatever the run ids."""
    from simcache.sim.ledger import Ledger

    w, rs, sens = build_replicated(seed=13)
    _writer(w, "app", sens, "k", [10 + 0.05 * i for i in range(200)], Ledger(), [])
    faults.schedule(w, [f"partition:redis-0|{lagging}@17", "crash:redis-0@20"])
    w.run(30.0)
    lag = next(r for r in rs if r.name == lagging)
    best = next(r for r in rs if r.name == expected)
    assert lag.master_repl_offset < best.master_repl_offset or best.masterhost is None
    selected = {d.split(" ")[2] for s in sens for _, d in events_of(s, "+selected-slave")}
    assert selected == {expected}


def test_selection_with_equal_offsets_takes_the_smaller_run_id() -> None:
    w, rs, sens = build_replicated(seed=14)
    faults.schedule(w, ["crash:redis-0@20"])
    w.run(30.0)
    ld = leader_of(sens, 20.0)
    m = ld.masters["mymaster"]
    (_, sel), = events_of(ld, "+selected-slave", 20.0)
    # after the switch the sentinel forgot the old replica instances; their run ids are the servers' INFO ones
    runids = {r.name: r.info_section("server").split("run_id:")[1][:40] for r in rs[1:]}
    assert sel.split(" ")[2] == min(runids, key=lambda n: runids[n])
    assert m.addr[0] == sel.split(" ")[2]


@pytest.mark.parametrize("min_replicas", [0, 1])
def test_split_brain_isolated_master_writes_and_exact_losses(min_replicas: int) -> None:
    """``redis-0`` and ``client-0`` are cut off from everyone else at 20 s for 30 s; client-0 writes a new key
    every 0.5 s from 20.5 s to 49 s (58 writes), client-1 (majority side) the same.

    * min-replicas-to-write 0: the isolated master acknowledges all 58, and all 58 are lost when it rejoins
      as a replica (full resync from the new master); client-1's acknowledged writes are all kept.
    * min-replicas-to-write 1, max-lag 10: the isolated master stops within (max-lag - 1, max-lag + 2) s of the
      split (the last replica ACK is at most 1 s old at the split, the lag is whole seconds, refreshed every
      second); exactly the writes it acknowledged are lost.
    """
    from simcache.sim.ledger import Ledger

    w, rs, sens = build_replicated(seed=15, min_replicas=min_replicas, clients=("client-0", "client-1"))
    ledger = Ledger()
    times = [20.5 + 0.5 * i for i in range(58)]
    logs: dict[str, list[tuple[float, bool, str]]] = {"client-0": [], "client-1": []}
    for c in logs:
        _writer(w, c, sens, c, times, ledger, logs[c])
    majority = "redis-1,redis-2,client-1,sentinel-0,sentinel-1,sentinel-2"
    faults.schedule(w, [f"partition:redis-0,client-0|{majority}@20+30"])
    w.run(80.0)
    new = sens[0].masters["mymaster"].addr[0]
    assert new in ("redis-1", "redis-2") and rs[0].masterhost == new
    report = ledger.losses(next(r for r in rs if r.name == new))
    iso = [t for t, ok, srv in logs["client-0"] if ok and srv == "redis-0" and t > 20]
    lost_keys = {a.key for a in report.lost_writes}
    assert all(k.startswith(b"client-0:") for k in lost_keys)
    assert report.lost == len(iso)
    if min_replicas == 0:
        assert len(iso) == 58 and report.lost == 58
    else:
        refused = [t for t, ok, _ in logs["client-0"] if not ok and t > 20]
        assert refused and 20 + 10 - 1 < min(refused) <= 20 + 10 + 2
        assert max(iso) < min(refused)
        assert 2 * (10 - 1) - 1 <= len(iso) <= 2 * (10 + 2)


def test_the_docs_example_runs_and_follows_a_failover() -> None:
    import re

    doc = Path(__file__).resolve().parents[3] / "docs" / "sentinel.md"
    (src,) = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    ns: dict[str, Any] = {}
    exec(src, ns)  # noqa: S102 - our own documentation
    w, r = ns["w"], ns["r"]
    out: list[Any] = []

    def proc() -> Any:
        yield w.env.timeout(5.0)
        out.append((yield from r.set("k", "v")))
        yield w.env.timeout(30.0)
        out.append((yield from r.get("k")))  # after the failover: from the promoted replica

    w.process(proc())
    faults.schedule(w, ["crash:redis-0@20"])
    w.run(40.0)
    assert out == [True, b"v"]
    assert r.router.target(()).name in ("redis-1", "redis-2")
