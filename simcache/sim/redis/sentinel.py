"""Redis Sentinel as ``sentinel.c`` (Redis 7.0) runs it: monitoring, SDOWN/ODOWN, leader election, failover.

A :class:`SentinelServer` is a simulated server on its own node (a command table
like the other servers: PING, INFO, ROLE, PUBLISH, SUBSCRIBE and the
SENTINEL subcommands) that runs ``sentinelTimer`` as a SimPy process, at
Sentinel's randomised ``hz`` (10 + rand() % 10 ticks a second, drawn anew
after every tick so sentinels started together drift apart).  It talks to
the instances it monitors with the real commands and reads the real INFO
fields, as a real Sentinel does, so it works against any simulated server
that speaks them:

* **Links** (``instanceLink``): a command connection and, to masters and
  replicas, a pub/sub connection subscribed to ``__sentinel__:hello``.
  A refused or reset connection marks the link disconnected; it is
  reconnected at most once per ping period (``sentinelReconnectInstance``),
  and a connection older than 15 s whose ping has waited more than half of
  ``down-after-milliseconds`` is closed (``sentinelCheckSubjectivelyDown``).
* **Periodic commands** (``sentinelSendPeriodicCommands``): INFO every 10 s
  (every 1 s to replicas of a master that is ODOWN or failing over, or that
  report their master link down), PING when the last pong is older than
  the ping period (``min(down-after, 1 s)``), a hello PUBLISH every 2 s.
* **Discovery** (``sentinelRefreshInstanceInfo``, ``sentinelProcessHelloMessage``):
  replicas from the ``slaveN:`` lines of the master's INFO; other sentinels
  from hello messages (``ip,port,runid,current_epoch,master_name,master_ip,
  master_port,master_config_epoch``), which also carry newer configurations
  (``+config-update-from``, ``+switch-master`` on the sentinels that did not
  lead the failover).
* **SDOWN** (``sentinelCheckSubjectivelyDown``): no valid reply (PONG,
  LOADING or MASTERDOWN) for ``down-after-milliseconds`` since the first
  unanswered ping; or a master that reports itself a replica for
  ``down-after + 2 * info-period``.
* **ODOWN** (``sentinelCheckObjectivelyDown``): counting itself, ``quorum``
  sentinels say it is down (``SENTINEL is-master-down-by-addr``, asked once
  a second while SDOWN; an answer older than 5 s is forgotten).
* **Election** (``sentinelVoteLeader``, ``sentinelGetLeader``): each
  sentinel votes once per epoch, for the first to ask; the leader needs
  votes from a majority of every sentinel it knows and at least ``quorum``;
  a sentinel that votes for another postpones its own attempt (start time
  + rand() % 1000 ms, then no new attempt for 2 * failover-timeout).
* **Failover** (``sentinelFailoverStateMachine``): wait-start (abort when not
  elected within min(10 s, failover-timeout)), select-slave
  (``sentinelSelectSlave``), send ``SLAVEOF NO ONE``, wait for the replica to
  report ``role:master`` in INFO (abort after failover-timeout), reconfigure
  the other replicas ``parallel-syncs`` at a time (one not progressing within
  10 s counts as done; the whole phase ends after failover-timeout), then
  ``+switch-master``: the old master is kept as a replica and, when it comes
  back reporting ``role:master``, sent ``SLAVEOF`` the new master
  (``+convert-to-slave``).

``SLAVEOF`` goes out as Sentinel sends it: a MULTI / SLAVEOF / CONFIG
REWRITE / CLIENT KILL TYPE normal / CLIENT KILL TYPE pubsub / EXEC
transaction, of which the commands the target server does not know are left
out (the simulated Redis has no CONFIG REWRITE or CLIENT KILL: its clients
hold no connections to kill and find out from their next reply).

Every Sentinel event is a timeline marker (:meth:`Recorder.mark`): the
source is the sentinel, the kind Redis's event name without its ``+``
(``sdown``, ``-sdown``, ``odown``, ``try-failover``, ``vote-for-leader``,
``elected-leader``, ``selected-slave``, ``failover-state-wait-promotion``,
``promoted-slave``, ``slave-reconf-sent``, ``slave-reconf-done``,
``failover-end``, ``switch-master``, ``convert-to-slave``,
``-failover-abort-no-good-slave``...), the detail Sentinel's ``%@`` text.

* **TILT** (``sentinelCheckTiltCondition``): a gap of more than 2 s between
  two timer runs (a ``pause`` of the sentinel) puts it in TILT for 30 s: it
  keeps monitoring but does not act (no SDOWN/ODOWN changes, no failover, no
  reconfiguration, ``is-master-down-by-addr`` answers 0).

Approximations: the simulated clock never jumps, so only stalls cause TILT;
no scripts, no ACL/AUTH, no
hostnames (an instance's address is its component name and port); a reply
later than :attr:`SentinelServer.reply_timeout` is dropped (hiredis would still
deliver it); the configuration that ``sentinelFlushConfig`` would persist
survives any restart of a sentinel (sentinel.conf is rewritten on every
change), the links start afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from simcache.errors import UsageError
from simcache.sim.dists import Dist
from simcache.sim.redis.client import Redis, Router
from simcache.sim.redis.core import redis_command
from simcache.sim.redis.proto import as_bytes, stringmatch
from simcache.sim.redis.pubsub import PubSubCommands
from simcache.sim.rpc import ConnectionError, Deadlines, ReplyError, ResponseError, TimeoutError, call
from simcache.sim.server import Server

if TYPE_CHECKING:
    from simcache.sim.world import World

# flags (sentinel.c SRI_*)
SRI_MASTER = 1 << 0
SRI_SLAVE = 1 << 1
SRI_SENTINEL = 1 << 2
SRI_S_DOWN = 1 << 3
SRI_O_DOWN = 1 << 4
SRI_MASTER_DOWN = 1 << 5
SRI_FAILOVER_IN_PROGRESS = 1 << 6
SRI_PROMOTED = 1 << 7
SRI_RECONF_SENT = 1 << 8
SRI_RECONF_INPROG = 1 << 9
SRI_RECONF_DONE = 1 << 10
SRI_FORCE_FAILOVER = 1 << 11

#: flag -> name as SENTINEL MASTER / REPLICAS print them (addReplySentinelRedisInstance), in that order
FLAG_NAMES = ((SRI_S_DOWN, "s_down"), (SRI_O_DOWN, "o_down"), (SRI_MASTER, "master"), (SRI_SLAVE, "slave"),
              (SRI_SENTINEL, "sentinel"), (-1, "disconnected"), (SRI_MASTER_DOWN, "master_down"),
              (SRI_FAILOVER_IN_PROGRESS, "failover_in_progress"), (SRI_PROMOTED, "promoted"),
              (SRI_RECONF_SENT, "reconf_sent"), (SRI_RECONF_INPROG, "reconf_inprog"),
              (SRI_RECONF_DONE, "reconf_done"), (SRI_FORCE_FAILOVER, "force_failover"))

# periods, in milliseconds (sentinel.c)
SENTINEL_PING_PERIOD = 1000
SENTINEL_INFO_PERIOD = 10000
SENTINEL_ASK_PERIOD = 1000
SENTINEL_PUBLISH_PERIOD = 2000
SENTINEL_DEFAULT_DOWN_AFTER = 30000
SENTINEL_SLAVE_RECONF_TIMEOUT = 10000
SENTINEL_MIN_LINK_RECONNECT_PERIOD = 15000
SENTINEL_ELECTION_TIMEOUT = 10000
SENTINEL_DEFAULT_FAILOVER_TIMEOUT = 180000
SENTINEL_MAX_PENDING_COMMANDS = 100
SENTINEL_MAX_DESYNC = 1000
SENTINEL_TILT_TRIGGER = 2000
SENTINEL_TILT_PERIOD = SENTINEL_PING_PERIOD * 30
SENTINEL_DEFAULT_SLAVE_PRIORITY = 100
SENTINEL_HELLO_CHANNEL = b"__sentinel__:hello"
CONFIG_DEFAULT_HZ = 10
#: default Unix time of simulated time 0 (2023-11-14)
UNIX_START = 1_700_000_000.0
REDIS_PORT = 6379
SENTINEL_PORT = 26379

# failover states
FAILOVER_NONE, WAIT_START, SELECT_SLAVE, SEND_SLAVEOF_NOONE, WAIT_PROMOTION, RECONF_SLAVES, UPDATE_CONFIG = range(7)
FAILOVER_STATE_NAMES = ("none", "wait_start", "select_slave", "send_slaveof_noone", "wait_promotion",
                        "reconf_slaves", "update_config")

Resolver = Callable[[str, int], "Server | None"]


def component_resolver(world: World) -> Resolver:
    """``(host, port) -> server``: the component named ``host`` (or running on node ``host``) at ``port``."""

    def resolve(host: str, port: int) -> Server | None:
        c = world.components.get(host)
        if c is None:
            c = next((x for x in world.components.values() if x.node == host and isinstance(x, Server)), None)
        if not isinstance(c, Server) or int(getattr(c, "port", REDIS_PORT)) != int(port):
            return None
        return c

    return resolve


class Link:
    """``instanceLink``: the command and pub/sub connections to one instance and their timers (ms)."""

    def __init__(self, now: float) -> None:
        self.disconnected = True
        self.pending_commands = 0
        #: bumped whenever a connection is closed: replies on older connections are ignored
        self.generation = 0
        self.cc: object | None = None
        self.pc: _HelloSubscriber | None = None
        self.cc_conn_time = 0.0
        self.pc_conn_time = 0.0
        self.last_reconn_time = -1e18
        self.pc_last_activity = 0.0
        # "now" even before a connection exists: an instance never reached goes SDOWN too (createInstanceLink)
        self.act_ping_time = now
        self.last_ping_time = 0.0
        self.last_avail_time = now
        self.last_pong_time = now


class Instance:
    """``sentinelRedisInstance``: a master, a replica or another sentinel as this sentinel sees it."""

    def __init__(self, name: str, flags: int, host: str, port: int, quorum: int, master: Instance | None,
                 now: float) -> None:
        self.name = name
        self.flags = flags
        self.host = host
        self.port = int(port)
        self.quorum = quorum
        self.master = master
        self.link = Link(now)
        self.runid: str | None = None
        self.config_epoch = 0
        self.down_after_period: float = master.down_after_period if master else SENTINEL_DEFAULT_DOWN_AFTER
        self.s_down_since_time = 0.0
        self.o_down_since_time = 0.0
        self.info_refresh = 0.0
        self.info = ""
        self.role_reported = SRI_MASTER if flags & SRI_MASTER else SRI_SLAVE
        self.role_reported_time = now
        self.last_pub_time = now
        self.last_hello_time = now
        self.last_master_down_reply_time = now
        self.slaves: dict[tuple[str, int], Instance] = {}
        self.sentinels: dict[str, Instance] = {}
        self.leader: str | None = None
        self.leader_epoch = 0
        self.failover_epoch = 0
        self.failover_state = FAILOVER_NONE
        self.failover_state_change_time = 0.0
        self.failover_start_time = 0.0
        self.failover_timeout = float(SENTINEL_DEFAULT_FAILOVER_TIMEOUT)
        self.parallel_syncs = 1
        self.promoted_slave: Instance | None = None
        # replicas
        self.master_link_down_time: float = 0.0
        self.slave_priority = SENTINEL_DEFAULT_SLAVE_PRIORITY
        self.slave_repl_offset: int = 0
        self.slave_master_host: str | None = None
        self.slave_master_port = 0
        self.slave_master_link_up = False
        self.slave_conf_change_time = now
        self.slave_reconf_sent_time = 0.0
        self.replica_announced = 1

    @property
    def addr(self) -> tuple[str, int]:
        return self.host, self.port

    def type_str(self) -> str:
        """``sentinelRedisInstanceTypeStr``."""
        if self.flags & SRI_MASTER:
            return "master"
        return "slave" if self.flags & SRI_SLAVE else "sentinel"

    def describe(self) -> str:
        """Sentinel's ``%@`` event text: ``<type> <name> <ip> <port> @ <master> <ip> <port>``."""
        s = f"{self.type_str()} {self.name} {self.host} {self.port}"
        if self.master is not None:
            m = self.master
            s += f" @ {m.name} {m.host} {m.port}"
        return s

    def flag_string(self) -> str:
        out = []
        for bit, name in FLAG_NAMES:
            on = self.link.disconnected if bit == -1 else bool(self.flags & bit)
            if on:
                out.append(name)
        return ",".join(out)

    def __repr__(self) -> str:
        return f"<Instance {self.describe()} {self.flag_string()}>"


class _HelloSubscriber:
    """The pub/sub connection of a link: the server pushes hello messages (or a reset) to it."""

    __slots__ = ("sentinel", "ri", "generation")

    def __init__(self, sentinel: SentinelServer, ri: Instance, generation: int) -> None:
        self.sentinel = sentinel
        self.ri = ri
        self.generation = generation

    def push(self, msg: Any) -> None:
        s, ri = self.sentinel, self.ri
        if not s.up or ri.link.generation != self.generation or ri.link.pc is not self:
            return
        if isinstance(msg, BaseException):
            s.link_error(ri)
            return
        s.receive_hello_message(ri, msg)


def compare_key(ri: Instance) -> tuple[int, int, int, str]:
    """``compareSlavesForPromotion`` as a sort key: lower priority, greater offset, smaller run id (None last)."""
    return (ri.slave_priority, -ri.slave_repl_offset, ri.runid is None, (ri.runid or "").lower())


def select_slave(master: Instance, now: float) -> Instance | None:
    """``sentinelSelectSlave``: the replica to promote, or None (``now`` in ms).

    Excluded: SDOWN/ODOWN or disconnected replicas, no valid reply within 5 ping periods, priority 0,
    INFO older than 5 ping periods (3 info periods when the master is not SDOWN), master link down for
    longer than ``down_after * 10`` plus the time the master has been SDOWN.  The rest are sorted by
    :func:`compare_key`.
    """
    max_master_down_time = 0.0
    if master.flags & SRI_S_DOWN:
        max_master_down_time += now - master.s_down_since_time
    max_master_down_time += master.down_after_period * 10
    ok = []
    for slave in master.slaves.values():
        if slave.flags & (SRI_S_DOWN | SRI_O_DOWN):
            continue
        if slave.link.disconnected:
            continue
        if now - slave.link.last_avail_time > SENTINEL_PING_PERIOD * 5:
            continue
        if slave.slave_priority == 0:
            continue
        validity = SENTINEL_PING_PERIOD * 5 if master.flags & SRI_S_DOWN else SENTINEL_INFO_PERIOD * 3
        if now - slave.info_refresh > validity:
            continue
        if slave.master_link_down_time > max_master_down_time:
            continue
        ok.append(slave)
    if not ok:
        return None
    return min(ok, key=compare_key)


class SentinelServer(PubSubCommands):
    """A Redis Sentinel process (``redis-server --sentinel``) on its own node.

    Args:
        world: the simulation world.
        name: component name (also its node and the host in its address).
        node: network node (default: ``name``).
        port: its port (hello messages and SENTINEL SENTINELS report it).
        service: service time of one command.
        resolve: ``(host, port) -> server`` (default: components by name, see :func:`component_resolver`).
        reply_timeout: seconds after which a reply nobody received is given up (frees the waiting process).
        unix_start: the Unix time simulated time 0 stands for (a failover may start at once only because
            ``now - failover_start_time`` (0: never) exceeds ``2 * failover-timeout``).
    """

    def __init__(self, world: World, name: str = "sentinel", node: str | None = None, *, port: int = SENTINEL_PORT,
                 service: Dist | str | float = "const:0.00005", resolve: Resolver | None = None,
                 reply_timeout: float = 60.0, unix_start: float = UNIX_START) -> None:
        super().__init__(world, name, node, service, active_expiry=False, unix_start=unix_start)
        if not reply_timeout > 0:
            raise UsageError(f"{name}: reply_timeout must be > 0 seconds, got {reply_timeout!r}")
        self.port = int(port)
        self.resolve = resolve or component_resolver(world)
        self.reply_timeout = float(reply_timeout)
        self._deadlines = Deadlines(self.env, self.reply_timeout, "sentinel: no reply")
        self._rand_rng = world.rng(f"{name}:rand")
        self.myid = "".join(f"{b:02x}" for b in world.rng(f"{name}:myid").integers(0, 256, 20))
        self.current_epoch = 0
        self.masters: dict[str, Instance] = {}
        self.timer_hz = CONFIG_DEFAULT_HZ
        self.tilt = False
        self.tilt_start_time = 0.0
        self.previous_time = self.ms()
        #: every event so far: (time s, event, detail)
        self.events: list[tuple[float, str, str]] = []
        self.env.process(self._timer())

    # ----------------------------------------------------------- helpers
    def ms(self) -> float:
        """``mstime()``: Unix milliseconds (Sentinel compares them with 0, \"never\", so the epoch matters)."""
        return float(self.mstime())

    def rand(self) -> int:
        """C's ``rand()``, from this sentinel's stream."""
        return int(self._rand_rng.integers(0, 2**31 - 1))

    def event(self, kind: str, ri: Instance | None, detail: str = "") -> None:
        """``sentinelEvent``: log, publish on the sentinel's own channel ``kind``, and mark the timeline."""
        text = ri.describe() if ri is not None else ""
        if detail:
            text = f"{text} {detail}" if text else detail
        now = self.env.now
        self.events.append((now, kind, text))
        self.world.recorder.mark(now, self.name, kind[1:] if kind.startswith("+") else kind, text)
        if self.pubsub_channels or self.pubsub_patterns:
            self._publish(kind.encode(), text.encode())

    def monitor(self, name: str, host: str, port: int = REDIS_PORT, quorum: int = 2, *,
                down_after_milliseconds: int = SENTINEL_DEFAULT_DOWN_AFTER,
                failover_timeout: int = SENTINEL_DEFAULT_FAILOVER_TIMEOUT, parallel_syncs: int = 1) -> Instance:
        """``sentinel monitor <name> <host> <port> <quorum>`` plus the master's ``sentinel set`` options."""
        if name in self.masters:
            raise UsageError(f"{self.name}: master name {name!r} is already monitored")
        if int(quorum) != quorum or quorum < 1:
            raise UsageError(f"{self.name}: quorum must be an integer >= 1, got {quorum!r}")
        for f, v in (("down_after_milliseconds", down_after_milliseconds), ("failover_timeout", failover_timeout),
                     ("parallel_syncs", parallel_syncs)):
            if int(v) != v or v < 1:
                raise UsageError(f"{self.name}: {f} must be an integer >= 1, got {v!r}")
        m = Instance(name, SRI_MASTER, host, port, int(quorum), None, self.ms())
        m.down_after_period = float(down_after_milliseconds)
        m.failover_timeout = float(failover_timeout)
        m.parallel_syncs = int(parallel_syncs)
        self.masters[name] = m
        self.event("+monitor", m, f"quorum {m.quorum}")
        return m

    def _create_slave(self, master: Instance, host: str, port: int) -> Instance:
        s = Instance(f"{host}:{port}", SRI_SLAVE, host, port, master.quorum, master, self.ms())
        master.slaves[(host, port)] = s
        self.event("+slave", s)
        return s

    # ------------------------------------------------------------ links
    def send(self, ri: Instance, cmd: Any, on_reply: Callable[[Any], None] | None, batch: bool = False) -> bool:
        """``redisAsyncCommand`` on the command connection: False when the link is down."""
        link = ri.link
        if link.disconnected or link.cc is None:
            return False
        server = self.resolve(ri.host, ri.port)
        if server is None:
            self.link_error(ri)
            return False
        link.pending_commands += 1
        self.env.process(self._request(ri, link.generation, link.cc, server, cmd, on_reply, batch))
        return True

    def _request(self, ri: Instance, generation: int, conn: object, server: Server, cmd: Any,
                 on_reply: Callable[[Any], None] | None, batch: bool,
                 counted: bool = True) -> Generator[simpy.Event, Any, None]:
        epoch = self.epoch
        try:
            reply = yield from call(self.world, self.node, server, cmd, batch=batch, deadlines=self._deadlines,
                                    conn=conn, host=self)
        except ResponseError as err:
            reply = err
        except ConnectionError:
            if epoch == self.epoch and self.up and ri.link.generation == generation:
                self.link_error(ri)
            return
        except TimeoutError:
            return  # still pending for hiredis; the link is closed (and the counter reset) when it looks dead
        if epoch != self.epoch or not self.up or ri.link.generation != generation:
            return
        if self.paused:
            yield self.env.timeout(self.paused_until - self.env.now)  # the event loop reads it after the pause
            if epoch != self.epoch or ri.link.generation != generation:
                return
        if counted:
            ri.link.pending_commands -= 1
        if on_reply is not None:
            on_reply(reply)

    def link_error(self, ri: Instance) -> None:
        """``instanceLinkConnectionError`` / ``instanceLinkCloseConnection`` on both connections."""
        link = ri.link
        link.cc = None
        link.pc = None
        link.pending_commands = 0
        link.disconnected = True
        link.generation += 1

    def reconnect(self, ri: Instance) -> None:
        """``sentinelReconnectInstance``: open the connections, at most once per ping period."""
        link = ri.link
        if not link.disconnected:
            return
        now = self.ms()
        if now - link.last_reconn_time < SENTINEL_PING_PERIOD:
            return
        link.last_reconn_time = now
        server = self.resolve(ri.host, ri.port)
        if server is None:
            return
        link.generation += 1
        link.cc = object()
        link.pending_commands = 0
        link.cc_conn_time = now
        link.disconnected = False  # both connections are opened at once (the first error closes both)
        if ri.flags & (SRI_MASTER | SRI_SLAVE):
            link.pc = _HelloSubscriber(self, ri, link.generation)
            link.pc_conn_time = now
            self.env.process(self._request(ri, link.generation, link.pc, server,
                                           (b"SUBSCRIBE", SENTINEL_HELLO_CHANNEL), None, False, counted=False))
        self.send_ping(ri)

    def send_ping(self, ri: Instance) -> bool:
        """``sentinelSendPing``."""
        if not self.send(ri, (b"PING",), lambda r: self.ping_reply(ri, r)):
            return False
        link = ri.link
        link.last_ping_time = self.ms()
        if link.act_ping_time == 0:
            link.act_ping_time = link.last_ping_time
        return True

    def ping_reply(self, ri: Instance, r: Any) -> None:
        """``sentinelPingReplyCallback``: PONG, LOADING and MASTERDOWN count as available."""
        link = ri.link
        text = str(r) if isinstance(r, ResponseError) else (r.decode() if isinstance(r, bytes) else str(r))
        if text.startswith(("PONG", "LOADING", "MASTERDOWN")):
            link.last_avail_time = self.ms()
            link.act_ping_time = 0
        link.last_pong_time = self.ms()

    # ----------------------------------------------------------- INFO
    def info_reply(self, ri: Instance, r: Any) -> None:
        """``sentinelInfoReplyCallback``."""
        if isinstance(r, bytes | str):
            self.refresh_instance_info(ri, r.decode() if isinstance(r, bytes) else r)

    def refresh_instance_info(self, ri: Instance, info: str) -> None:
        """``sentinelRefreshInstanceInfo``: what INFO says, then what to do about it."""
        now = self.ms()
        ri.info = info
        ri.master_link_down_time = 0.0
        role = 0
        for line in info.split("\r\n") if "\r\n" in info else info.splitlines():
            if line.startswith("run_id:") and len(line) >= 47:
                rid = line[7:47]
                if ri.runid is not None and ri.runid != rid:
                    self.event("+reboot", ri)
                ri.runid = rid
            if ri.flags & SRI_MASTER and line.startswith("slave") and len(line) > 5 and line[5].isdigit():
                fields = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].split(",") if "=" in kv)
                host, port = fields.get("ip"), fields.get("port")
                if host is not None and port is not None and port.isdigit():
                    if (host, int(port)) not in ri.slaves:
                        self._create_slave(ri, host, int(port))
            if line.startswith("master_link_down_since_seconds:"):
                try:
                    ri.master_link_down_time = int(float(line[31:])) * 1000
                except ValueError:
                    pass
            if line.startswith("role:master"):
                role = SRI_MASTER
            elif line.startswith("role:slave"):
                role = SRI_SLAVE
            if role == SRI_SLAVE:
                if line.startswith("master_host:"):
                    h = line[12:]
                    if ri.slave_master_host is None or h.lower() != ri.slave_master_host.lower():
                        ri.slave_master_host = h
                        ri.slave_conf_change_time = now
                elif line.startswith("master_port:"):
                    p = int(line[12:] or 0)
                    if p != ri.slave_master_port:
                        ri.slave_master_port = p
                        ri.slave_conf_change_time = now
                elif line.startswith("master_link_status:"):
                    ri.slave_master_link_up = line[19:].lower() == "up"
                elif line.startswith("slave_priority:"):
                    ri.slave_priority = int(line[15:])
                elif line.startswith("slave_repl_offset:"):
                    ri.slave_repl_offset = int(line[18:])
                elif line.startswith("replica_announced:"):
                    ri.replica_announced = int(line[18:])
        ri.info_refresh = now

        # ---- acting half
        if role != ri.role_reported:
            ri.role_reported_time = now
            ri.role_reported = role
            if role == SRI_SLAVE:
                ri.slave_conf_change_time = now
            coherent = (ri.flags & (SRI_MASTER | SRI_SLAVE)) == role
            self.event("+role-change" if coherent else "-role-change", ri,
                       f"new reported role is {'master' if role == SRI_MASTER else 'slave'}")
        if self.tilt:
            return
        master = ri.master
        if ri.flags & SRI_SLAVE and role == SRI_MASTER:
            assert master is not None
            if (ri.flags & SRI_PROMOTED and master.flags & SRI_FAILOVER_IN_PROGRESS
                    and master.failover_state == WAIT_PROMOTION):
                master.config_epoch = master.failover_epoch
                master.failover_state = RECONF_SLAVES
                master.failover_state_change_time = now
                self.event("+promoted-slave", ri)
                self.event("+failover-state-reconf-slaves", master)
                self.force_hello_update(master)
            else:
                wait_time: float = SENTINEL_PUBLISH_PERIOD * 4
                if (not ri.flags & SRI_PROMOTED and master_looks_sane(master, now) and no_down_for(ri, wait_time, now)
                        and now - ri.role_reported_time > wait_time):
                    if self.send_slaveof(ri, master.addr):
                        self.event("+convert-to-slave", ri)
        if (ri.flags & SRI_SLAVE and role == SRI_SLAVE and master is not None
                and (ri.slave_master_port != master.port
                     or (ri.slave_master_host or "").lower() != master.host.lower())):
            wait_time = master.failover_timeout
            if (master_looks_sane(master, now) and no_down_for(ri, wait_time, now)
                    and now - ri.slave_conf_change_time > wait_time):
                if self.send_slaveof(ri, master.addr):
                    self.event("+fix-slave-config", ri)
        if ri.flags & SRI_SLAVE and role == SRI_SLAVE and ri.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG):
            assert master is not None
            promoted = master.promoted_slave
            if (ri.flags & SRI_RECONF_SENT and promoted is not None and ri.slave_master_host is not None
                    and ri.slave_master_host.lower() == promoted.host.lower()
                    and ri.slave_master_port == promoted.port):
                ri.flags &= ~SRI_RECONF_SENT
                ri.flags |= SRI_RECONF_INPROG
                self.event("+slave-reconf-inprog", ri)
            if ri.flags & SRI_RECONF_INPROG and ri.slave_master_link_up:
                ri.flags &= ~SRI_RECONF_INPROG
                ri.flags |= SRI_RECONF_DONE
                self.event("+slave-reconf-done", ri)

    # ------------------------------------------------------------ hello
    def hello_payload(self, master: Instance) -> bytes:
        """``sentinelSendHello``'s message for ``master``."""
        host, port = current_master_address(master)
        return (f"{self.name},{self.port},{self.myid},{self.current_epoch},"
                f"{master.name},{host},{port},{master.config_epoch}").encode()

    def send_hello(self, ri: Instance) -> bool:
        """``sentinelSendHello``: PUBLISH the hello to a master, replica or sentinel."""
        master = ri if ri.flags & SRI_MASTER else ri.master
        assert master is not None
        if ri.link.disconnected:
            return False
        return self.send(ri, (b"PUBLISH", SENTINEL_HELLO_CHANNEL, self.hello_payload(master)),
                         lambda r: self._publish_reply(ri, r))

    def _publish_reply(self, ri: Instance, r: Any) -> None:
        """``sentinelPublishReplyCallback``: a successful PUBLISH refreshes ``last_pub_time``."""
        if not isinstance(r, ResponseError):
            ri.last_pub_time = self.ms()

    def force_hello_update(self, master: Instance) -> None:
        """``sentinelForceHelloUpdateForMaster``."""
        period = SENTINEL_PUBLISH_PERIOD + 1
        for ri in (master, *master.sentinels.values(), *master.slaves.values()):
            if ri.last_pub_time >= period:
                ri.last_pub_time -= period

    def receive_hello_message(self, ri: Instance, msg: Any) -> None:
        """``sentinelReceiveHelloMessages``: a push on the pub/sub connection of ``ri``."""
        ri.link.pc_last_activity = self.ms()
        if (not isinstance(msg, list) or len(msg) != 3 or msg[0] != b"message"
                or not isinstance(msg[2], bytes | str)):
            return
        text = msg[2].decode() if isinstance(msg[2], bytes) else msg[2]
        if self.myid in text:
            return
        self.process_hello(text)

    def process_hello(self, hello: str) -> None:
        """``sentinelProcessHelloMessage``."""
        token = hello.split(",")
        if len(token) != 8:
            return
        master = self.masters.get(token[4])
        if master is None:
            return
        try:
            port, current_epoch, master_port, master_config_epoch = (int(token[1]), int(token[3]), int(token[6]),
                                                                      int(token[7]))
        except ValueError:
            return
        si = master.sentinels.get(token[2])
        if si is not None and si.addr != (token[0], port):
            # the same run id at a new address
            del master.sentinels[token[2]]
            self.event("+sentinel-address-switch", master, f"ip {token[0]} port {port} for {token[2]}")
            si = None
        if si is None:
            for rid, other in list(master.sentinels.items()):
                if other.addr == (token[0], port):
                    self.event("+sentinel-invalid-addr", other)
                    for m in self.masters.values():
                        m.sentinels.pop(rid, None)
            si = Instance(f"{token[0]}:{port}", SRI_SENTINEL, token[0], port, master.quorum, master, self.ms())
            si.runid = token[2]
            master.sentinels[token[2]] = si
            self.event("+sentinel", si)
        if current_epoch > self.current_epoch:
            self.current_epoch = current_epoch
            self.event("+new-epoch", master, str(current_epoch))
        if master.config_epoch < master_config_epoch:
            master.config_epoch = master_config_epoch
            if master_port != master.port or token[5].lower() != master.host.lower():
                self.event("+config-update-from", si)
                self.event("+switch-master", None,
                           f"{master.name} {master.host} {master.port} {token[5]} {master_port}")
                self.reset_master_and_change_address(master, token[5], master_port)
        si.last_hello_time = self.ms()

    # -------------------------------------------------------- periodic
    def send_periodic_commands(self, ri: Instance) -> None:
        """``sentinelSendPeriodicCommands``: INFO, PING and hello, each on its period."""
        link = ri.link
        if link.disconnected:
            return
        if link.pending_commands >= SENTINEL_MAX_PENDING_COMMANDS:
            return
        now = self.ms()
        master = ri.master
        if ri.flags & SRI_SLAVE and master is not None and (
                master.flags & (SRI_O_DOWN | SRI_FAILOVER_IN_PROGRESS) or ri.master_link_down_time != 0):
            info_period = 1000
        else:
            info_period = SENTINEL_INFO_PERIOD
        ping_period = min(ri.down_after_period, SENTINEL_PING_PERIOD)
        if not ri.flags & SRI_SENTINEL and (ri.info_refresh == 0 or now - ri.info_refresh > info_period):
            self.send(ri, (b"INFO",), lambda r: self.info_reply(ri, r))
        if now - link.last_pong_time > ping_period and now - link.last_ping_time > ping_period / 2:
            self.send_ping(ri)
        if now - ri.last_pub_time > SENTINEL_PUBLISH_PERIOD:
            self.send_hello(ri)

    def check_subjectively_down(self, ri: Instance) -> None:
        """``sentinelCheckSubjectivelyDown``."""
        now = self.ms()
        link = ri.link
        elapsed = 0.0
        if link.act_ping_time:
            elapsed = now - link.act_ping_time
        elif link.disconnected:
            elapsed = now - link.last_avail_time
        if (link.cc is not None and now - link.cc_conn_time > SENTINEL_MIN_LINK_RECONNECT_PERIOD
                and link.act_ping_time != 0 and now - link.act_ping_time > ri.down_after_period / 2
                and now - link.last_pong_time > ri.down_after_period / 2):
            self.link_error(ri)
        elif (link.pc is not None and now - link.pc_conn_time > SENTINEL_MIN_LINK_RECONNECT_PERIOD
                and now - link.pc_last_activity > SENTINEL_PUBLISH_PERIOD * 3):
            self.link_error(ri)
        if (elapsed > ri.down_after_period
                or (ri.flags & SRI_MASTER and ri.role_reported == SRI_SLAVE
                    and now - ri.role_reported_time > ri.down_after_period + SENTINEL_INFO_PERIOD * 2)):
            if not ri.flags & SRI_S_DOWN:
                self.event("+sdown", ri)
                ri.s_down_since_time = now
                ri.flags |= SRI_S_DOWN
        elif ri.flags & SRI_S_DOWN:
            self.event("-sdown", ri)
            ri.flags &= ~SRI_S_DOWN

    def check_objectively_down(self, master: Instance) -> None:
        """``sentinelCheckObjectivelyDown``: counting itself, ``quorum`` sentinels say it is down."""
        quorum = 0
        odown = False
        if master.flags & SRI_S_DOWN:
            quorum = 1 + sum(1 for ri in master.sentinels.values() if ri.flags & SRI_MASTER_DOWN)
            odown = quorum >= master.quorum
        if odown:
            if not master.flags & SRI_O_DOWN:
                self.event("+odown", master, f"#quorum {quorum}/{master.quorum}")
                master.flags |= SRI_O_DOWN
                master.o_down_since_time = self.ms()
        elif master.flags & SRI_O_DOWN:
            self.event("-odown", master)
            master.flags &= ~SRI_O_DOWN

    def ask_master_state(self, master: Instance, forced: bool = False) -> None:
        """``sentinelAskMasterStateToOtherSentinels``: SENTINEL is-master-down-by-addr to every other sentinel."""
        now = self.ms()
        for ri in master.sentinels.values():
            if now - ri.last_master_down_reply_time > SENTINEL_ASK_PERIOD * 5:
                ri.flags &= ~SRI_MASTER_DOWN
                ri.leader = None
            if not master.flags & SRI_S_DOWN:
                continue
            if ri.link.disconnected:
                continue
            if not forced and now - ri.last_master_down_reply_time < SENTINEL_ASK_PERIOD:
                continue
            runid = self.myid if master.failover_state > FAILOVER_NONE else "*"
            cmd = (b"SENTINEL", b"is-master-down-by-addr", master.host.encode(), str(master.port).encode(),
                   str(self.current_epoch).encode(), runid.encode())
            self.send(ri, cmd, self._is_master_down_cb(ri))

    def _is_master_down_cb(self, ri: Instance) -> Callable[[Any], None]:
        return lambda r: self.is_master_down_reply(ri, r)

    def is_master_down_reply(self, ri: Instance, r: Any) -> None:
        """``sentinelReceiveIsMasterDownReply``."""
        if (isinstance(r, list) and len(r) == 3 and isinstance(r[0], int) and isinstance(r[1], bytes | str)
                and isinstance(r[2], int)):
            ri.last_master_down_reply_time = self.ms()
            if r[0] == 1:
                ri.flags |= SRI_MASTER_DOWN
            else:
                ri.flags &= ~SRI_MASTER_DOWN
            leader = r[1].decode() if isinstance(r[1], bytes) else r[1]
            if leader != "*":
                ri.leader = leader
                ri.leader_epoch = r[2]

    # -------------------------------------------------------- election
    def vote_leader(self, master: Instance, req_epoch: int, req_runid: str) -> tuple[str | None, int]:
        """``sentinelVoteLeader``: vote once per epoch, for the first to ask; (leader, leader epoch)."""
        if req_epoch > self.current_epoch:
            self.current_epoch = req_epoch
            self.event("+new-epoch", master, str(self.current_epoch))
        if master.leader_epoch < req_epoch and self.current_epoch <= req_epoch:
            master.leader = req_runid
            master.leader_epoch = self.current_epoch
            self.event("+vote-for-leader", master, f"{master.leader} {master.leader_epoch}")
            if master.leader.lower() != self.myid:
                master.failover_start_time = self.ms() + self.rand() % SENTINEL_MAX_DESYNC
        return master.leader, master.leader_epoch

    def get_leader(self, master: Instance, epoch: int) -> str | None:
        """``sentinelGetLeader``: the winner of ``epoch``, if it has a majority of all known sentinels and quorum."""
        voters = len(master.sentinels) + 1
        counters: dict[str, int] = {}
        for ri in master.sentinels.values():
            if ri.leader is not None and ri.leader_epoch == self.current_epoch:
                counters[ri.leader] = counters.get(ri.leader, 0) + 1
        winner, max_votes = None, 0
        for rid, votes in counters.items():
            if votes > max_votes:
                winner, max_votes = rid, votes
        myvote, leader_epoch = self.vote_leader(master, epoch, winner if winner else self.myid)
        if myvote is not None and leader_epoch == epoch:
            votes = counters.get(myvote, 0) + 1
            if votes > max_votes:
                winner, max_votes = myvote, votes
        if winner is not None and (max_votes < voters // 2 + 1 or max_votes < master.quorum):
            winner = None
        return winner

    # -------------------------------------------------------- failover
    def send_slaveof(self, ri: Instance, addr: tuple[str, int] | None) -> bool:
        """``sentinelSendSlaveOf``: the MULTI/SLAVEOF/CONFIG REWRITE/CLIENT KILL/EXEC transaction.

        Commands the target server does not have are left out of the transaction (it would abort).
        """
        server = self.resolve(ri.host, ri.port)
        if server is None or ri.link.disconnected:
            return False
        host, port = (b"NO", b"ONE") if addr is None else (addr[0].encode(), str(addr[1]).encode())
        slaveof = b"SLAVEOF" if _knows(server, (b"SLAVEOF", host, port)) else b"REPLICAOF"
        cmds: list[tuple[bytes, ...]] = [(b"MULTI",), (slaveof, host, port)]
        for extra in ((b"CONFIG", b"REWRITE"), (b"CLIENT", b"KILL", b"TYPE", b"normal"),
                      (b"CLIENT", b"KILL", b"TYPE", b"pubsub")):
            if _knows(server, extra):
                cmds.append(extra)
        cmds.append((b"EXEC",))
        return self.send(ri, cmds, None, batch=True)

    def start_failover(self, master: Instance) -> None:
        """``sentinelStartFailover``: a new epoch, wait-start, a start time desynchronised by up to 1 s."""
        master.failover_state = WAIT_START
        master.flags |= SRI_FAILOVER_IN_PROGRESS
        self.current_epoch += 1
        master.failover_epoch = self.current_epoch
        self.event("+new-epoch", master, str(self.current_epoch))
        self.event("+try-failover", master)
        master.failover_start_time = self.ms() + self.rand() % SENTINEL_MAX_DESYNC
        master.failover_state_change_time = self.ms()

    def start_failover_if_needed(self, master: Instance) -> bool:
        """``sentinelStartFailoverIfNeeded``: ODOWN, none in progress, none tried within 2 * failover-timeout."""
        if not master.flags & SRI_O_DOWN:
            return False
        if master.flags & SRI_FAILOVER_IN_PROGRESS:
            return False
        if self.ms() - master.failover_start_time < master.failover_timeout * 2:
            return False
        self.start_failover(master)
        return True

    def failover_wait_start(self, ri: Instance) -> None:
        """``sentinelFailoverWaitStart``."""
        leader = self.get_leader(ri, ri.failover_epoch)
        isleader = leader is not None and leader.lower() == self.myid
        if not isleader and not ri.flags & SRI_FORCE_FAILOVER:
            election_timeout = min(SENTINEL_ELECTION_TIMEOUT, ri.failover_timeout)
            if self.ms() - ri.failover_start_time > election_timeout:
                self.event("-failover-abort-not-elected", ri)
                self.abort_failover(ri)
            return
        self.event("+elected-leader", ri)
        ri.failover_state = SELECT_SLAVE
        ri.failover_state_change_time = self.ms()
        self.event("+failover-state-select-slave", ri)

    def failover_select_slave(self, ri: Instance) -> None:
        """``sentinelFailoverSelectSlave``."""
        slave = select_slave(ri, self.ms())
        if slave is None:
            self.event("-failover-abort-no-good-slave", ri)
            self.abort_failover(ri)
            return
        self.event("+selected-slave", slave)
        slave.flags |= SRI_PROMOTED
        ri.promoted_slave = slave
        ri.failover_state = SEND_SLAVEOF_NOONE
        ri.failover_state_change_time = self.ms()
        self.event("+failover-state-send-slaveof-noone", slave)

    def failover_send_slaveof_noone(self, ri: Instance) -> None:
        """``sentinelFailoverSendSlaveOfNoOne``."""
        slave = ri.promoted_slave
        assert slave is not None
        if slave.link.disconnected:
            if self.ms() - ri.failover_state_change_time > ri.failover_timeout:
                self.event("-failover-abort-slave-timeout", ri)
                self.abort_failover(ri)
            return
        if not self.send_slaveof(slave, None):
            return
        self.event("+failover-state-wait-promotion", slave)
        ri.failover_state = WAIT_PROMOTION
        ri.failover_state_change_time = self.ms()

    def failover_wait_promotion(self, ri: Instance) -> None:
        """``sentinelFailoverWaitPromotion``: only the timeout (INFO moves the state on)."""
        if self.ms() - ri.failover_state_change_time > ri.failover_timeout:
            self.event("-failover-abort-slave-timeout", ri)
            self.abort_failover(ri)

    def failover_detect_end(self, master: Instance) -> None:
        """``sentinelFailoverDetectEnd``."""
        now = self.ms()
        elapsed = now - master.failover_state_change_time
        promoted = master.promoted_slave
        if promoted is None or promoted.flags & SRI_S_DOWN:
            return
        not_reconfigured = sum(1 for s in master.slaves.values()
                               if not s.flags & (SRI_PROMOTED | SRI_RECONF_DONE) and not s.flags & SRI_S_DOWN)
        timeout = False
        if elapsed > master.failover_timeout:
            not_reconfigured = 0
            timeout = True
            self.event("+failover-end-for-timeout", master)
        if not_reconfigured == 0:
            self.event("+failover-end", master)
            master.failover_state = UPDATE_CONFIG
            master.failover_state_change_time = now
        if timeout:
            for s in master.slaves.values():
                if s.flags & (SRI_PROMOTED | SRI_RECONF_DONE | SRI_RECONF_SENT) or s.link.disconnected:
                    continue
                if self.send_slaveof(s, promoted.addr):
                    self.event("+slave-reconf-sent-be", s)
                    s.flags |= SRI_RECONF_SENT

    def failover_reconf_next_slave(self, master: Instance) -> None:
        """``sentinelFailoverReconfNextSlave``: SLAVEOF the new master, ``parallel-syncs`` at a time."""
        promoted = master.promoted_slave
        assert promoted is not None
        in_progress = sum(1 for s in master.slaves.values() if s.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG))
        now = self.ms()
        for slave in list(master.slaves.values()):
            if in_progress >= master.parallel_syncs:
                break
            if slave.flags & (SRI_PROMOTED | SRI_RECONF_DONE):
                continue
            if slave.flags & SRI_RECONF_SENT and now - slave.slave_reconf_sent_time > SENTINEL_SLAVE_RECONF_TIMEOUT:
                self.event("-slave-reconf-sent-timeout", slave)
                slave.flags &= ~SRI_RECONF_SENT
                slave.flags |= SRI_RECONF_DONE
            if slave.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG):
                continue
            if slave.link.disconnected:
                continue
            if self.send_slaveof(slave, promoted.addr):
                slave.flags |= SRI_RECONF_SENT
                slave.slave_reconf_sent_time = now
                self.event("+slave-reconf-sent", slave)
                in_progress += 1
        self.failover_detect_end(master)

    def switch_to_promoted(self, master: Instance) -> None:
        """``sentinelFailoverSwitchToPromotedSlave``."""
        ref = master.promoted_slave or master
        self.event("+switch-master", None, f"{master.name} {master.host} {master.port} {ref.host} {ref.port}")
        self.reset_master_and_change_address(master, ref.host, ref.port)

    def failover_state_machine(self, ri: Instance) -> None:
        """``sentinelFailoverStateMachine``: one step per timer tick."""
        if not ri.flags & SRI_FAILOVER_IN_PROGRESS:
            return
        st = ri.failover_state
        if st == WAIT_START:
            self.failover_wait_start(ri)
        elif st == SELECT_SLAVE:
            self.failover_select_slave(ri)
        elif st == SEND_SLAVEOF_NOONE:
            self.failover_send_slaveof_noone(ri)
        elif st == WAIT_PROMOTION:
            self.failover_wait_promotion(ri)
        elif st == RECONF_SLAVES:
            self.failover_reconf_next_slave(ri)

    def abort_failover(self, ri: Instance) -> None:
        """``sentinelAbortFailover``."""
        ri.flags &= ~(SRI_FAILOVER_IN_PROGRESS | SRI_FORCE_FAILOVER)
        ri.failover_state = FAILOVER_NONE
        ri.failover_state_change_time = self.ms()
        if ri.promoted_slave is not None:
            ri.promoted_slave.flags &= ~SRI_PROMOTED
            ri.promoted_slave = None

    def reset_master(self, ri: Instance, keep_sentinels: bool, generate_event: bool = False) -> None:
        """``sentinelResetMaster``."""
        now = self.ms()
        ri.slaves = {}
        if not keep_sentinels:
            ri.sentinels = {}
        self.link_error(ri)
        ri.flags &= SRI_MASTER
        ri.leader = None
        ri.failover_state = FAILOVER_NONE
        ri.failover_state_change_time = 0.0
        ri.failover_start_time = 0.0
        ri.promoted_slave = None
        ri.runid = None
        ri.slave_master_host = None
        ri.link.act_ping_time = now
        ri.link.last_ping_time = 0.0
        ri.link.last_avail_time = now
        ri.link.last_pong_time = now
        ri.role_reported_time = now
        ri.role_reported = SRI_MASTER
        if generate_event:
            self.event("+reset-master", ri)

    def reset_master_and_change_address(self, master: Instance, host: str, port: int) -> None:
        """``sentinelResetMasterAndChangeAddress``: the old master and the other replicas become its replicas."""
        new = (host, int(port))
        slaves = [addr for addr in master.slaves if addr != new]
        if new != master.addr:
            slaves.append(master.addr)
        self.reset_master(master, keep_sentinels=True)
        master.host, master.port = new
        master.o_down_since_time = 0
        master.s_down_since_time = 0
        for h, p in slaves:
            self._create_slave(master, h, p)

    # ----------------------------------------------------------- timer
    def handle_instance(self, ri: Instance) -> None:
        """``sentinelHandleRedisInstance``: the monitoring half, and (out of TILT) the acting half."""
        self.reconnect(ri)
        self.send_periodic_commands(ri)
        if self.tilt:
            if self.ms() - self.tilt_start_time < SENTINEL_TILT_PERIOD:
                return
            self.tilt = False
            self.event("-tilt", None, "#tilt mode exited")
        self.check_subjectively_down(ri)
        if ri.flags & SRI_MASTER:
            self.check_objectively_down(ri)
            if self.start_failover_if_needed(ri):
                self.ask_master_state(ri, forced=True)
            self.failover_state_machine(ri)
            self.ask_master_state(ri)

    def check_tilt_condition(self) -> None:
        """``sentinelCheckTiltCondition``: a timer gap over 2 s (a pause, a stall) means TILT for 30 s."""
        now = self.ms()
        delta = now - self.previous_time
        if delta < 0 or delta > SENTINEL_TILT_TRIGGER:
            self.tilt = True
            self.tilt_start_time = now
            self.event("+tilt", None, "#tilt mode entered")
        self.previous_time = now

    def sentinel_timer(self) -> None:
        """``sentinelTimer`` (``sentinelHandleDictOfRedisInstances`` over the masters, their replicas, sentinels)."""
        self.check_tilt_condition()
        switch = None
        for m in list(self.masters.values()):
            self.handle_instance(m)
            for s in list(m.slaves.values()):
                self.handle_instance(s)
            for s in list(m.sentinels.values()):
                self.handle_instance(s)
            if m.failover_state == UPDATE_CONFIG:
                switch = m
        if switch is not None:
            self.switch_to_promoted(switch)
        self.timer_hz = CONFIG_DEFAULT_HZ + self.rand() % CONFIG_DEFAULT_HZ

    def _timer(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(1.0 / self.timer_hz)
            if self.up and not self.paused:
                self.sentinel_timer()

    # ------------------------------------------------------------ faults
    def on_restart(self) -> None:
        super().on_restart()
        # sentinel.conf kept the configuration; the process and its links start afresh
        now = self.ms()
        self.tilt = False
        self.previous_time = now
        for m in self.masters.values():
            for ri in (m, *m.slaves.values(), *m.sentinels.values()):
                self.link_error(ri)
                ri.link = Link(now)

    def reset_state(self) -> None:
        """A sentinel's state lives in sentinel.conf: a cold restart keeps it (see :meth:`on_restart`)."""

    # --------------------------------------------------------- commands
    @redis_command("PING", -1, "fast sentinel")
    def _ping(self, *args: Any) -> Any:
        if len(args) > 1:
            raise ReplyError("ERR wrong number of arguments for 'ping' command")
        return args[0] if args else "PONG"

    @redis_command("ROLE", 1, "fast sentinel")
    def _role(self) -> list[Any]:
        return [b"sentinel", [m.encode() for m in self.masters]]

    @redis_command("PUBLISH", 3, "pubsub fast sentinel")
    def _publish_cmd(self, channel: Any, message: Any) -> int:
        """``sentinelPublishCommand``: only hello messages, processed at once."""
        if as_bytes(channel) != SENTINEL_HELLO_CHANNEL:
            raise ReplyError("ERR Only HELLO messages are accepted by Sentinel instances.")
        self.process_hello(as_bytes(message).decode(errors="replace"))
        return 1

    @redis_command("INFO", -1, "sentinel")
    def _info(self, *sections: Any) -> bytes:
        """``sentinelInfoCommand`` (the server and sentinel sections)."""
        lines = ["# Server", "redis_version:7.0.15", "redis_mode:sentinel", f"run_id:{self.myid}",
                 f"tcp_port:{self.port}", "", "# Sentinel", f"sentinel_masters:{len(self.masters)}",
                 f"sentinel_tilt:{int(self.tilt)}",
                 f"sentinel_tilt_since_seconds:{int((self.ms() - self.tilt_start_time) / 1000) if self.tilt else -1}",
                 "sentinel_running_scripts:0",
                 "sentinel_scripts_queue_length:0", "sentinel_simulate_failure_flags:0"]
        for i, m in enumerate(self.masters.values()):
            status = "odown" if m.flags & SRI_O_DOWN else "sdown" if m.flags & SRI_S_DOWN else "ok"
            lines.append(f"master{i}:name={m.name},status={status},address={m.host}:{m.port},"
                         f"slaves={len(m.slaves)},sentinels={len(m.sentinels) + 1}")
        return "\r\n".join(lines).encode()

    @redis_command("SENTINEL", -2, "admin sentinel")
    def _sentinel(self, sub: Any, *args: Any) -> Any:
        """``sentinelCommand``."""
        name = as_bytes(sub).decode(errors="replace").lower()
        handler = _SUBCOMMANDS.get(name)
        if handler is None:
            raise ReplyError(f"ERR unknown subcommand '{as_bytes(sub).decode(errors='replace')[:128]}'. "
                             "Try SENTINEL HELP.")
        fn, nargs = handler
        if len(args) != nargs:
            raise ReplyError(f"ERR wrong number of arguments for 'sentinel|{name}' command")
        return fn(self, *args)

    def _master_or_error(self, name: Any) -> Instance:
        m = self.masters.get(as_bytes(name).decode(errors="replace"))
        if m is None:
            raise ReplyError("ERR No such master with that name")
        return m

    def instance_reply(self, ri: Instance) -> list[bytes]:
        """``addReplySentinelRedisInstance``: field, value, ... as bulk strings."""
        now = self.ms()
        link = ri.link
        f: list[tuple[str, Any]] = [("name", ri.name), ("ip", ri.host), ("port", ri.port), ("runid", ri.runid or ""),
                                    ("flags", ri.flag_string()), ("link-pending-commands", link.pending_commands),
                                    ("link-refcount", 1)]
        if ri.flags & SRI_FAILOVER_IN_PROGRESS:
            f.append(("failover-state", FAILOVER_STATE_NAMES[ri.failover_state]))
        f += [("last-ping-sent", int(now - link.act_ping_time) if link.act_ping_time else 0),
              ("last-ok-ping-reply", int(now - link.last_avail_time)),
              ("last-ping-reply", int(now - link.last_pong_time))]
        if ri.flags & SRI_S_DOWN:
            f.append(("s-down-time", int(now - ri.s_down_since_time)))
        if ri.flags & SRI_O_DOWN:
            f.append(("o-down-time", int(now - ri.o_down_since_time)))
        f.append(("down-after-milliseconds", int(ri.down_after_period)))
        if ri.flags & (SRI_MASTER | SRI_SLAVE):
            f += [("info-refresh", int(now - ri.info_refresh) if ri.info_refresh else 0),
                  ("role-reported", "master" if ri.role_reported == SRI_MASTER else "slave"),
                  ("role-reported-time", int(now - ri.role_reported_time))]
        if ri.flags & SRI_MASTER:
            f += [("config-epoch", ri.config_epoch), ("num-slaves", len(ri.slaves)),
                  ("num-other-sentinels", len(ri.sentinels)), ("quorum", ri.quorum),
                  ("failover-timeout", int(ri.failover_timeout)), ("parallel-syncs", ri.parallel_syncs)]
        if ri.flags & SRI_SLAVE:
            f += [("master-link-down-time", int(ri.master_link_down_time)),
                  ("master-link-status", "ok" if ri.slave_master_link_up else "err"),
                  ("master-host", ri.slave_master_host or "?"), ("master-port", ri.slave_master_port),
                  ("slave-priority", ri.slave_priority), ("slave-repl-offset", ri.slave_repl_offset),
                  ("replica-announced", ri.replica_announced)]
        if ri.flags & SRI_SENTINEL:
            f += [("last-hello-message", int(now - ri.last_hello_time)), ("voted-leader", ri.leader or "?"),
                  ("voted-leader-epoch", ri.leader_epoch)]
        out: list[bytes] = []
        for k, v in f:
            out += [k.encode(), str(v).encode()]
        return out

    def _cmd_masters(self) -> list[Any]:
        return [self.instance_reply(m) for m in self.masters.values()]

    def _cmd_master(self, name: Any) -> list[Any]:
        return self.instance_reply(self._master_or_error(name))

    def _cmd_replicas(self, name: Any) -> list[Any]:
        return [self.instance_reply(s) for s in self._master_or_error(name).slaves.values()]

    def _cmd_sentinels(self, name: Any) -> list[Any]:
        return [self.instance_reply(s) for s in self._master_or_error(name).sentinels.values()]

    def _cmd_myid(self) -> bytes:
        return self.myid.encode()

    def _cmd_get_master_addr_by_name(self, name: Any) -> list[bytes] | None:
        m = self.masters.get(as_bytes(name).decode(errors="replace"))
        if m is None:
            return None
        host, port = current_master_address(m)
        return [host.encode(), str(port).encode()]

    def _cmd_is_master_down_by_addr(self, ip: Any, port: Any, epoch: Any, runid: Any) -> list[Any]:
        try:
            p, req_epoch = int(as_bytes(port)), int(as_bytes(epoch))
        except ValueError:
            raise ReplyError("ERR value is not an integer or out of range") from None
        host = as_bytes(ip).decode(errors="replace")
        ri = next((m for m in self.masters.values() if m.addr == (host, p)), None)
        isdown = not self.tilt and ri is not None and bool(ri.flags & SRI_S_DOWN) and bool(ri.flags & SRI_MASTER)
        leader: str | None = None
        leader_epoch = 0
        rid = as_bytes(runid).decode(errors="replace")
        if ri is not None and ri.flags & SRI_MASTER and rid != "*":
            leader, leader_epoch = self.vote_leader(ri, req_epoch, rid)
        return [1 if isdown else 0, (leader or "*").encode(), leader_epoch]

    def _cmd_failover(self, name: Any) -> str:
        m = self._master_or_error(name)
        if m.flags & SRI_FAILOVER_IN_PROGRESS:
            raise ReplyError("INPROG Failover already in progress")
        if select_slave(m, self.ms()) is None:
            raise ReplyError("NOGOODSLAVE No suitable replica to promote")
        self.start_failover(m)
        m.flags |= SRI_FORCE_FAILOVER
        return "OK"

    def _cmd_ckquorum(self, name: Any) -> str:
        m = self._master_or_error(name)
        usable = 1 + sum(1 for s in m.sentinels.values() if not s.flags & (SRI_S_DOWN | SRI_O_DOWN))
        voters = len(m.sentinels) + 1
        noquorum, noauth = usable < m.quorum, usable < voters // 2 + 1
        if not (noquorum or noauth):
            return f"OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
        e = f"NOQUORUM {usable} usable Sentinels. "
        if noquorum:
            e += "Not enough available Sentinels to reach the specified quorum for this master"
        if noauth:
            if noquorum:
                e += ". "
            e += "Not enough available Sentinels to reach the majority and authorize a failover"
        raise ReplyError(e)

    def _cmd_reset(self, pattern: Any) -> int:
        n = 0
        for name, m in self.masters.items():
            if stringmatch(as_bytes(pattern), name.encode()):
                self.reset_master(m, keep_sentinels=False, generate_event=True)
                n += 1
        return n


_SUBCOMMANDS: dict[str, tuple[Callable[..., Any], int]] = {
    "masters": (SentinelServer._cmd_masters, 0), "master": (SentinelServer._cmd_master, 1),
    "replicas": (SentinelServer._cmd_replicas, 1), "slaves": (SentinelServer._cmd_replicas, 1),
    "sentinels": (SentinelServer._cmd_sentinels, 1), "myid": (SentinelServer._cmd_myid, 0),
    "get-master-addr-by-name": (SentinelServer._cmd_get_master_addr_by_name, 1),
    "is-master-down-by-addr": (SentinelServer._cmd_is_master_down_by_addr, 4),
    "failover": (SentinelServer._cmd_failover, 1), "ckquorum": (SentinelServer._cmd_ckquorum, 1),
    "reset": (SentinelServer._cmd_reset, 1),
}


def _knows(server: Server, argv: tuple[bytes, ...]) -> bool:
    """Whether ``server`` has the command ``argv`` (a simulated Redis looks it up as processCommand would)."""
    lookup = getattr(server, "lookup_command", None)
    if lookup is None:
        return argv[0] in server.COMMANDS
    return bool(lookup(argv)[0] is not None)


def master_looks_sane(master: Instance, now: float) -> bool:
    """``sentinelMasterLooksSane``."""
    return bool(master.flags & SRI_MASTER and master.role_reported == SRI_MASTER
                and not master.flags & (SRI_S_DOWN | SRI_O_DOWN) and now - master.info_refresh < SENTINEL_INFO_PERIOD * 2)


def no_down_for(ri: Instance, ms: float, now: float) -> bool:
    """``sentinelRedisInstanceNoDownFor``."""
    most_recent = max(ri.s_down_since_time, ri.o_down_since_time)
    return most_recent == 0 or now - most_recent > ms


def current_master_address(master: Instance) -> tuple[str, int]:
    """``sentinelGetCurrentMasterAddress``: the promoted replica's once it acknowledged the switch."""
    p = master.promoted_slave
    if master.flags & SRI_FAILOVER_IN_PROGRESS and p is not None and master.failover_state >= RECONF_SLAVES:
        return p.addr
    return master.addr


# ============================================================== the client side
class MasterNotFoundError(ConnectionError):
    """No sentinel knows a usable master for the service (redis-py ``MasterNotFoundError``)."""


class SlaveNotFoundError(ConnectionError):
    """No replica, nor the master, could be reached (redis-py ``SlaveNotFoundError``)."""


_SENTINEL_STATE_INTS = frozenset({"port", "quorum", "num-other-sentinels", "num-slaves", "config-epoch",
                                  "down-after-milliseconds", "failover-timeout", "parallel-syncs", "info-refresh",
                                  "last-ok-ping-reply", "last-ping-reply", "last-ping-sent", "role-reported-time",
                                  "link-pending-commands", "link-refcount", "master-link-down-time",
                                  "master-port", "slave-priority", "slave-repl-offset", "replica-announced",
                                  "s-down-time", "o-down-time", "last-hello-message", "voted-leader-epoch"})


def parse_sentinel_state(item: list[Any]) -> dict[str, Any]:
    """redis-py's ``parse_sentinel_state``: field/value pairs with ints converted and ``is_<flag>`` booleans."""
    it = iter(item)
    state: dict[str, Any] = {}
    for k, v in zip(it, it, strict=False):
        key = k.decode() if isinstance(k, bytes) else str(k)
        val = v.decode() if isinstance(v, bytes) else v
        state[key] = int(val) if key in _SENTINEL_STATE_INTS else val
    flags = set(str(state.get("flags", "")).split(","))
    for name in ("master", "slave", "sdown", "odown", "sentinel", "disconnected", "master_down"):
        state[f"is_{name}"] = name in flags
    state["is_sdown"] = "s_down" in flags
    state["is_odown"] = "o_down" in flags
    return state


class Sentinel:
    """Where the master is, as redis-py's ``redis.sentinel.Sentinel`` finds out (generator methods).

    ``discover_master`` asks each sentinel in turn (SENTINEL MASTERS, as redis-py 4+; or
    SENTINEL GET-MASTER-ADDR-BY-NAME with ``discover="get-master-addr-by-name"``, as clients following the
    Sentinel client spec do), skips sentinels that fail or see the master SDOWN/ODOWN, and moves the one that
    answered to the front.  ``master_for`` / ``slave_for`` give a :class:`~simcache.sim.redis.client.Redis`
    whose :class:`SentinelRouter` resolves the address when it (re)connects: before its first command, after
    a connection error or a timeout, and after a READONLY reply (which it turns into
    ``ConnectionError("The previous master is now a slave")``, as ``SentinelManagedConnection`` does).

    Args:
        world: the simulation world.
        host: the component (or node) the client runs on.
        sentinels: the sentinels to ask, in order (servers, or ``(host, port)`` addresses).
        min_other_sentinels: a sentinel that sees fewer others is not believed (redis-py's option).
        socket_timeout: socket timeout of the connections to the sentinels (redis-py's ``sentinel_kwargs``).
        discover: ``"masters"`` (redis-py) or ``"get-master-addr-by-name"``.
        resolve: ``(host, port) -> server`` (default: components by name).
    """

    DISCOVER = ("masters", "get-master-addr-by-name")

    def __init__(self, world: World, host: Any, sentinels: Any, *, min_other_sentinels: int = 0,
                 socket_timeout: float | None = 0.5, discover: str = "masters",
                 resolve: Resolver | None = None) -> None:
        if discover not in self.DISCOVER:
            raise UsageError(f"discover must be one of {', '.join(self.DISCOVER)}, got {discover!r}")
        self.world = world
        self.host = host
        self.resolve = resolve or component_resolver(world)
        self.min_other_sentinels = int(min_other_sentinels)
        self.discover = discover
        node = host if isinstance(host, str) else host.node
        self.node = node
        self._routers = 0
        self.sentinels: list[Redis] = []
        for i, s in enumerate(sentinels):
            server = s if isinstance(s, Server) else self.resolve(s[0], int(s[1]))
            if server is None:
                raise UsageError(f"sentinel {s!r}: no such server")
            self.sentinels.append(Redis(world, host, server=server, socket_timeout=socket_timeout,
                                        name=f"{node}:sentinel-client:{i}"))
        if not self.sentinels:
            raise UsageError("Sentinel needs at least one sentinel")

    @staticmethod
    def check_master_state(state: dict[str, Any], min_other_sentinels: int) -> bool:
        """redis-py's ``check_master_state``."""
        if not state["is_master"] or state["is_sdown"] or state["is_odown"]:
            return False
        return bool(state["num-other-sentinels"] >= min_other_sentinels)

    def discover_master(self, service_name: str) -> Generator[simpy.Event, Any, tuple[str, int]]:
        """The master's ``(host, port)``, or raise :class:`MasterNotFoundError` (redis-py ``discover_master``)."""
        errors = []
        for i, s in enumerate(list(self.sentinels)):
            try:
                if self.discover == "masters":
                    raw = yield from s.execute_command("SENTINEL", "MASTERS", _cb="SENTINEL MASTERS")
                    masters = {st["name"]: st for st in (parse_sentinel_state(x) for x in raw)}
                    state = masters.get(service_name)
                    if not (state and self.check_master_state(state, self.min_other_sentinels)):
                        continue
                    addr = (str(state["ip"]), int(state["port"]))
                else:
                    raw = yield from s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service_name,
                                                       _cb="SENTINEL GET-MASTER-ADDR-BY-NAME")
                    if not raw:
                        continue
                    addr = (raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0]), int(raw[1]))
            except (ConnectionError, TimeoutError) as err:
                errors.append(f"{s.router.target(()).name} - {err!r}")
                continue
            self.sentinels[0], self.sentinels[i] = self.sentinels[i], self.sentinels[0]
            return addr
        info = f" : {', '.join(errors)}" if errors else ""
        raise MasterNotFoundError(f"No master found for {service_name!r}{info}")

    def discover_slaves(self, service_name: str) -> Generator[simpy.Event, Any, list[tuple[str, int]]]:
        """Replicas neither SDOWN nor ODOWN, from the first sentinel that knows some (redis-py ``discover_slaves``)."""
        for s in self.sentinels:
            try:
                raw = yield from s.execute_command("SENTINEL", "REPLICAS", service_name, _cb="SENTINEL REPLICAS")
            except (ConnectionError, TimeoutError, ResponseError):
                continue
            alive = [(str(st["ip"]), int(st["port"])) for st in (parse_sentinel_state(x) for x in raw)
                     if not (st["is_odown"] or st["is_sdown"])]
            if alive:
                return alive
        return []

    def master_for(self, service_name: str, **kwargs: Any) -> Redis:
        """A client of the current master (``Redis`` arguments in ``kwargs``: ``socket_timeout``, ``retry``...)."""
        return Redis(self.world, self.host, router=SentinelRouter(self, service_name, True), **kwargs)

    def slave_for(self, service_name: str, **kwargs: Any) -> Redis:
        """A client of one replica (round robin from a random start on every reconnect; the master if none)."""
        return Redis(self.world, self.host, router=SentinelRouter(self, service_name, False), **kwargs)


class SentinelRouter(Router):
    """The router of a Sentinel-managed client (redis-py's ``SentinelConnectionPool``); see :class:`Sentinel`."""

    def __init__(self, manager: Sentinel, service_name: str, is_master: bool) -> None:
        self.manager = manager
        self.service_name = service_name
        self.is_master = is_master
        self.stale = True
        self.server: Server | None = None
        self.master_address: tuple[str, int] | None = None
        self.resolutions = 0
        self._rr: int | None = None
        manager._routers += 1
        # the random start of the replica round robin (redis-py draws it once per pool)
        self._rng = (None if is_master else
                     manager.world.rng(f"{manager.node}:sentinel:{service_name}:slaves:{manager._routers}"))

    def resolve(self) -> Generator[simpy.Event, Any, None]:
        """``get_master_address`` (or ``rotate_slaves``), then the server at that address."""
        m = self.manager
        self.resolutions += 1
        if self.is_master:
            addr = yield from m.discover_master(self.service_name)
            server = m.resolve(*addr)
            if server is None:
                raise MasterNotFoundError(f"No master found for {self.service_name!r}: {addr} is not a server")
            self.master_address = addr
        else:
            slaves = yield from m.discover_slaves(self.service_name)
            server = None
            if slaves:
                if self._rr is None:
                    assert self._rng is not None
                    self._rr = int(self._rng.integers(0, len(slaves)))
                self._rr = (self._rr + 1) % len(slaves)
                server = m.resolve(*slaves[self._rr])
            if server is None:
                try:
                    addr = yield from m.discover_master(self.service_name)
                except MasterNotFoundError:
                    raise SlaveNotFoundError(f"No slave found for {self.service_name!r}") from None
                server = m.resolve(*addr)
                if server is None:
                    raise SlaveNotFoundError(f"No slave found for {self.service_name!r}")
        self.server = server
        self.stale = False

    def target(self, args: tuple[Any, ...]) -> Server:
        assert self.server is not None
        return self.server

    def targets(self, stack: list[tuple[Any, ...]]) -> Server:
        return self.target(stack[0])

    def failed(self, server: Server, err: Exception) -> None:
        """A connection error or timeout: the connection is dropped; the next one asks the sentinels."""
        self.stale = True

    def redirected(self, server: Server, err: ResponseError) -> Server | None:
        """READONLY from the master: it was demoted (``SentinelManagedConnection.read_response``)."""
        if self.is_master and str(err).startswith("READONLY"):
            self.stale = True
            raise ConnectionError("The previous master is now a slave")
        return None

    def prelude(self, server: Server) -> tuple[Any, ...] | None:
        return None

    def retry_wait(self, err: ResponseError) -> float:
        return 0.0


# ========================================================= a monitored setup
class KVClient:
    """An open-loop client of a Sentinel-managed master: unique-key SETs and GETs of keys it wrote.

    Arrivals are Poisson at ``rate``; a share ``write_fraction`` are ``SET <name>:<n> <name>:<n>`` (each key
    written once, so the ledger counts every lost acknowledged write), the rest ``GET`` of one of the last
    100 keys acknowledged.  Every outcome goes to the recorder (``op`` read/write, ok/timeout/error) and to
    :attr:`log` as ``(time, op, ok, server)``; acknowledged writes go to ``ledger`` and :attr:`acked_by`.

    Args:
        world: the world.
        name: the client's name (its random streams ``NAME:arrivals``, ``NAME:ops``).
        redis: a client from :meth:`Sentinel.master_for`.
        rate: operations per second.
        write_fraction: share of writes.
        ledger: where acknowledged writes are recorded (:class:`~simcache.sim.ledger.Ledger`).
    """

    def __init__(self, world: World, name: str, redis: Redis, rate: float, write_fraction: float,
                 ledger: Any) -> None:
        if not rate > 0:
            raise UsageError(f"{name}: rate must be > 0 operations/s, got {rate!r}")
        if not 0 <= write_fraction <= 1:
            raise UsageError(f"{name}: write_fraction must be in [0, 1], got {write_fraction!r}")
        self.world = world
        self.name = name
        self.redis = redis
        self.rate = float(rate)
        self.write_fraction = float(write_fraction)
        self.ledger = ledger
        self._arr = world.rng(f"{name}:arrivals")
        self._ops = world.rng(f"{name}:ops")
        self.issued = 0
        self.finished = 0
        self._n = 0
        self._recent: list[bytes] = []
        self.log: list[tuple[float, str, bool, str]] = []
        #: acknowledged write's key -> the server that acknowledged it
        self.acked_by: dict[bytes, str] = {}
        world.process(self._arrivals())

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while True:
            yield env.timeout(float(self._arr.exponential(1.0 / self.rate)))
            self.issued += 1
            if self._ops.random() < self.write_fraction or not self._recent:
                self._n += 1
                key = f"{self.name}:{self._n}".encode()
                env.process(self._op("write", key))
            else:
                env.process(self._op("read", self._recent[int(self._ops.integers(len(self._recent)))]))

    def _op(self, op: str, key: bytes) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        rec = self.world.recorder
        t0 = env.now
        try:
            if op == "write":
                yield from self.redis.set(key, key)
            else:
                yield from self.redis.get(key)
        except TimeoutError:
            outcome, detail = "timeout", "timeout"
        except (ConnectionError, ResponseError) as err:
            outcome = "error"
            code = str(err).split(" ")[0] if isinstance(err, ResponseError) else type(err).__name__
            detail = code or type(err).__name__
        else:
            outcome, detail = "ok", ""
            if op == "write":
                self.ledger.record(key, key, env.now, t0)
                self._recent.append(key)
                if len(self._recent) > 100:
                    del self._recent[0]
        self.finished += 1
        server = self.redis.router.target(()).name if not self.redis.router.stale else ""
        if outcome == "ok" and op == "write":
            self.acked_by[key] = server
        self.log.append((env.now, op, outcome == "ok", server))
        rec.request(env.now, env.now - t0, outcome, op, detail)


def link_all(world: World, nodes: list[str], latency: str) -> None:
    """A link of ``latency`` between every two of ``nodes`` (a flat LAN)."""
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            world.network.add_link(a, b, latency)


def sentinel_system(seed: int, *, window: float, client_nodes: list[str], latency: str,
                    replica_priorities: tuple[int, ...] | list[int] = (100, 100), quorum: int = 2,
                    down_after_ms: int = 5000, failover_timeout_ms: int = 60000, parallel_syncs: int = 1,
                    min_replicas_to_write: int = 0, min_replicas_max_lag: int = 10, rate: float = 100.0,
                    write_fraction: float = 0.5, socket_timeout: float = 0.5, sentinel_timeout: float = 0.2,
                    discover: str = "masters", master: str = "mymaster") -> Any:
    """A Sentinel-managed deployment on one flat network: master ``redis-0``, one replica per priority
    (``redis-1``...), three sentinels monitoring ``master`` with the given quorum and timeouts, and a
    :class:`KVClient` on each of ``client_nodes`` through :meth:`Sentinel.master_for`, all recording into one
    :class:`~simcache.sim.ledger.Ledger`.

    Returns a :class:`~simcache.sim.runner.System` whose ``parts`` hold ``redis``, ``sentinels``, ``ledger``
    and ``clients``.
    """
    from simcache.sim.ledger import Ledger
    from simcache.sim.redis.server import RedisServer
    from simcache.sim.runner import System
    from simcache.sim.world import World

    w = World(seed=seed, window=window)
    kw: dict[str, Any] = {"min_replicas_to_write": min_replicas_to_write, "min_replicas_max_lag": min_replicas_max_lag}
    redis = [RedisServer(w, "redis-0", **kw)]
    redis += [RedisServer(w, f"redis-{i + 1}", replicaof="redis-0", replica_priority=prio, **kw)
              for i, prio in enumerate(replica_priorities)]
    sentinels = [SentinelServer(w, f"sentinel-{i}") for i in range(3)]
    for n in client_nodes:
        w.network.add_node(n)
    link_all(w, [r.node for r in redis] + [s.node for s in sentinels] + list(client_nodes), latency)
    for s in sentinels:
        s.monitor(master, "redis-0", 6379, quorum, down_after_milliseconds=down_after_ms,
                  failover_timeout=failover_timeout_ms, parallel_syncs=parallel_syncs)
    ledger = Ledger()
    clients = []
    for n in client_nodes:
        manager = Sentinel(w, n, sentinels, socket_timeout=sentinel_timeout, discover=discover)
        r = manager.master_for(master, socket_timeout=socket_timeout)
        clients.append(KVClient(w, n, r, rate, write_fraction, ledger))
    return System(w, clients, [r.name for r in redis],
                  parts={"redis": redis, "sentinels": sentinels, "ledger": ledger, "clients": clients})


def master_events(sentinels: list[SentinelServer], kind: str, name: str, host: str,
                  after: float = 0.0) -> list[tuple[float, str]]:
    """``(time, sentinel)`` of event ``kind`` (Redis's name, ``+sdown``) about master ``name`` at ``host``, by time.

    An event is about that master when its text names it (``master mymaster redis-0 6379``, ``... @ mymaster
    redis-0 6379`` for its replicas, ``mymaster redis-0 6379 redis-2 6379`` for a switch away from it);
    SDOWN and ODOWN count only the master's own.
    """
    tag = f"{name} {host} "
    return sorted((t, s.name) for s in sentinels for t, k, d in s.events
                  if k == kind and t >= after and tag in d + " "
                  and (kind not in ("+sdown", "-sdown", "+odown", "-odown") or d.startswith("master ")))


def failover_timeline(sentinels: list[SentinelServer], name: str, old: str, fault_at: float) -> dict[str, Any]:
    """Each failover step's first time after ``fault_at`` for master ``name`` at ``old``, relative to it.

    ``sdown_at`` and ``odown_at`` are the first sentinel's; ``switch_master_at`` the leader's own
    ``+switch-master`` (the others learn it from its hello messages); ``converted_at`` the first
    ``+convert-to-slave`` of the old master.  None: the step did not happen.
    """
    def at(kind: str, who: list[SentinelServer] = sentinels) -> float | None:
        ev = master_events(who, kind, name, old, fault_at)
        return ev[0][0] - fault_at if ev else None

    elected = sorted((t, i) for i, s in enumerate(sentinels) for t, k, _ in s.events
                     if k == "+elected-leader" and t >= fault_at)
    leader = sentinels[elected[0][1]] if elected else None
    conv = sorted(t for s in sentinels for t, k, d in s.events
                  if k == "+convert-to-slave" and t >= fault_at and d.startswith(f"slave {old}:"))
    return {"sdown_at": at("+sdown"), "odown_at": at("+odown"), "try_failover_at": at("+try-failover"),
            "elected_at": at("+elected-leader"), "selected_at": at("+selected-slave"),
            "promoted_at": at("+promoted-slave"),
            "switch_master_at": at("+switch-master", [leader]) if leader is not None else None,
            "converted_at": conv[0] - fault_at if conv else None}


def client_summary(clients: list[KVClient], fault_at: float, window: float, duration: float,
                   master: str | None = None) -> dict[str, Any]:
    """Availability (share of operations that succeeded) per window, and when the clients recovered.

    ``clients_recovered_at``: the first write acknowledged (by ``master``, the master at the end, when given)
    after the first failed operation following the fault, relative to it; ``recovered_at_by_client`` the
    same per client (None: nothing failed, or nothing recovered).
    """
    n = max(int(duration / window + 0.5), 1)
    ok = [0] * n
    total = [0] * n

    def recovered(log: list[tuple[float, str, bool, str]]) -> float | None:
        first_fail = next((t for t, _, good, _ in log if t >= fault_at and not good), None)
        if first_fail is None:
            return None
        t_ok = next((t for t, op, good, srv in log if t > first_fail and good and op == "write"
                     and (master is None or srv == master)), None)
        return None if t_ok is None else t_ok - fault_at

    for c in clients:
        for t, _, good, _ in c.log:
            i = min(int(t / window), n - 1)
            total[i] += 1
            ok[i] += good
    logs = sorted(x for c in clients for x in c.log)
    first_fail = next((t for t, _, good, _ in logs if t >= fault_at and not good), None)
    by_client = {c.name: recovered(c.log) for c in clients}
    return {"availability": [round(o / tot, 6) if tot else None for o, tot in zip(ok, total, strict=True)],
            "availability_window": window,
            "first_failure_at": None if first_fail is None else first_fail - fault_at,
            "clients_recovered_at": recovered(logs), "recovered_at_by_client": by_client}


def final_master(sentinels: list[SentinelServer], name: str) -> Server:
    """The server the first sentinel believes is master ``name``."""
    s0 = sentinels[0]
    server = s0.resolve(*s0.masters[name].addr)
    if server is None:
        raise UsageError(f"{s0.name}: master {name!r} at {s0.masters[name].addr} is no server")
    return server


#: the failover steps a figure labels (the first of each after a fault); every event stays in the markers
FIGURE_STEPS = ("sdown", "odown", "elected-leader", "promoted-slave", "switch-master", "convert-to-slave")


def failover_figures(result: Any, out_dir: Any) -> list[Any]:
    """Latency over time and the timeline of a Sentinel run, labelling only the first of each
    :data:`FIGURE_STEPS` (and the faults) so the step lines stay readable (:func:`simcache.plots.sim_figures`)."""
    import dataclasses

    from simcache.plots import sim_figures

    world = result.world
    sentinels = ({n for n, c in world.components.items() if isinstance(c, SentinelServer)} if world is not None
                 else {m.get("source", "") for m in result.summary.get("markers", [])
                       if str(m.get("source", "")).startswith("sentinel")})
    seen: set[str] = set()
    keep = []
    for m in result.summary.get("markers", []):
        kind = m.get("kind", "")
        if kind in FIGURE_STEPS and kind not in seen:
            seen.add(kind)
            keep.append(m)
        elif kind not in FIGURE_STEPS and m.get("source") not in sentinels:
            src = str(m.get("source", ""))
            if len(src) > 24:  # a partition's groups: the first one names it, the label stays short
                m = {**m, "source": src.split("|")[0][:24] + "|..."}
            keep.append(m)  # the faults' (and the servers') own markers
    return list(sim_figures(dataclasses.replace(result, summary={**result.summary, "markers": keep}), out_dir))
