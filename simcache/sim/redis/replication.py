"""Redis replication as ``replication.c`` (Redis 7.0) does it: the stream, offsets, the backlog, PSYNC, ACKs, WAIT.

:class:`ReplicationCommands` is the command group that makes a simulated
Redis a master or a replica.  What it follows:

* **Propagation** (``server.c`` ``call()`` / ``propagatePendingCommands``,
  ``replication.c`` ``replicationFeedSlaves``): a command that changed the
  dataset (``server.dirty`` grew) is propagated with its arguments, relative
  expiries rewritten as absolute ones (``SET ... PXAT``, ``PEXPIREAT``) as
  7.0 does (see :meth:`ReplicationCommands.rewrite_for_propagation`); the
  write commands a transaction or a script ran are propagated one by one
  (effects replication) and wrapped in MULTI/EXEC when there is more than
  one; keys deleted by expiry or eviction propagate as ``DEL``.  The stream
  is fed only when there is a backlog or a replica; after a full sync or a
  promotion its first command that touches keys is preceded by ``SELECT 0``
  (``PING`` and ``REPLCONF GETACK`` are fed with ``server.slaveseldb`` and
  never are), and it carries a ``PING`` every ``repl-ping-replica-period``
  seconds (``replicationCron``).  Offsets count bytes of the RESP encoding
  (``*N\\r\\n$len\\r\\narg\\r\\n...``).  Each command's offset growth is checked
  against a real 7.0.15 master in ``tests/sim/redis/test_replication_differential.py``.
* **The backlog** (``feedReplicationBacklog``): the last ``repl-backlog-size``
  bytes of the stream, created with a fresh replication ID when the first
  replica attaches (``syncCommand``); ``repl_backlog_first_byte_offset`` and
  ``repl_backlog_histlen`` as INFO shows them.  It is kept as whole
  propagated units, trimmed from the front while longer than its size.
* **PSYNC** (``masterTryPartialResynchronization``): ``+CONTINUE`` when the
  replica's replication ID is ours, or our ``replid2`` up to
  ``second_repl_offset``, and its offset is inside the backlog; else
  ``+FULLRESYNC <replid> <offset>``: a fork (the master's event loop pauses
  ``fork_time_per_gb`` seconds per GB of ``used_memory``), the dataset at the
  fork streamed at ``repl_transfer_rate`` bytes/s (diskless, 7.0's default,
  after ``repl-diskless-sync-delay`` seconds counted by ``replicationCron``
  as ``replicationStartPendingFork`` does), or written to disk at
  ``rdb_save_rate`` and then sent.  The replica keeps serving its old data
  during the transfer, then empties itself and loads at ``load_rate`` bytes/s,
  replying ``LOADING`` meanwhile, then acknowledges and receives the writes
  the master buffered for it (``repl_start_cmd_stream_on_ack``).
* **The link** (``replicationCron``): a replica sends ``REPLCONF ACK
  <offset>`` every second; the master drops a replica whose last ACK is
  older than ``repl-timeout`` (``Disconnecting timedout replica``), a replica
  drops a master it heard nothing from for ``repl-timeout`` (``MASTER
  timeout``) and reconnects every second; a process crash on a live host
  resets the connection at once, a host that is down is noticed only by the
  timeouts.  The stream travels over an ordered, reliable connection (a
  model of TCP: messages are delivered in order, a message lost on the way
  is retransmitted after ``tcp_rto`` seconds, doubling up to
  ``tcp_rto_max``), so a short partition delays the stream without breaking
  it, as on a real network.
* **WAIT** (``waitCommand``), ``min-replicas-to-write`` /
  ``min-replicas-max-lag`` (``refreshGoodSlavesCount``, refreshed by the cron
  each second, when a replica comes online and when one is freed as
  ``freeClient`` does; lag in whole seconds of ``server.unixtime``),
  ``replica-read-only``, ``replica-serve-stale-data`` and ``LOADING``
  (``processCommand``'s checks, with Redis's texts), REPLICAOF / SLAVEOF
  (``replicationSetMaster`` caches the old master's replication ID and offset
  to try a partial resync; ``replicationUnsetMaster`` moves ``replid`` to
  ``replid2`` with ``shiftReplicationId`` so the other replicas can continue
  from the promoted one), ROLE, INFO replication.
* **Replicas** do not expire keys themselves: a logically expired key reads
  as missing but stays until the master's ``DEL`` (``expireIfNeeded``);
  they ignore ``maxmemory`` (``replica-ignore-maxmemory yes``).

Approximations: the handshake is one ``PING`` and one ``PSYNC`` round trip
(no AUTH, REPLCONF listening-port/capa); ``server.dirty`` counts changed
keys, not elements; the pops served to clients blocked in BLPOP/BRPOP
are propagated as one LPOP and/or RPOP with a count (read off the list
before and after serving) instead of one per client; a promoted replica's
backlog is the stream it received; the replica's ``read`` offset is the
stream that has arrived at its node, its ``repl`` offset what its event loop
applied; chained replication proxies whole units.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any

import simpy

from simcache.errors import UsageError
from simcache.sim.redis.core import ClientState, RedisCore, RObj, Spec, redis_command
from simcache.sim.redis.proto import as_bytes, parse_int, upper_name
from simcache.sim.rpc import Call, ConnectionError, Deadlines, ReplyError, ResponseError, TimeoutError, call, send
from simcache.sim.server import NO_REPLY, Deferred, size_of

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
READONLY = "READONLY You can't write against a read only replica."
MASTERDOWN = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
LOADING = "LOADING Redis is loading the dataset in memory"
UNBLOCKED = "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
NOMASTERLINK = "NOMASTERLINK Can't SYNC while not connected with my master"
WAIT_ON_REPLICA = ("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a "
                   "replica is configured to be writable (which is not the default) writes to replicas are just "
                   "local and are not propagated.")
ZERO_ID = "0" * 40

#: master link states (server.repl_state) and how ROLE names them
REPL_NONE, REPL_CONNECT, REPL_CONNECTING, REPL_TRANSFER, REPL_CONNECTED = (
    "none", "connect", "connecting", "sync", "connected")
#: a replica's state as its master sees it (slave->replstate) and ``replstateToString``
WAIT_BGSAVE_START, WAIT_BGSAVE_END, SEND_BULK, ONLINE = "wait_bgsave_start", "wait_bgsave_end", "send_bulk", "online"
_STATE_NAMES = {WAIT_BGSAVE_START: "wait_bgsave", WAIT_BGSAVE_END: "wait_bgsave", SEND_BULK: "send_bulk",
                ONLINE: "online"}
#: commands that run other commands: their effects propagate, not themselves
_CONTAINERS = frozenset({"EXEC", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL"})
_SKIP_ON_APPLY = frozenset({b"MULTI", b"EXEC", b"SELECT", b"PING"})
_SELECT0 = (b"SELECT", b"0")
_GETACK = (b"REPLCONF", b"GETACK", b"*")
GB = 1 << 30


def arg_len(a: Any) -> int:
    """Bytes of one argument on the wire (a simulation Value counts its ``size``)."""
    if isinstance(a, bytes | bytearray):
        return len(a)
    if isinstance(a, str):
        return len(a.encode())
    if isinstance(a, int | float):
        return len(repr(a))
    return size_of(a)


def resp_len(argv: Iterable[Any]) -> int:
    """Bytes of a command in the RESP encoding the replication stream uses (``*N``, then ``$len`` per argument)."""
    args = list(argv)
    n = 1 + len(str(len(args))) + 2
    for a in args:
        k = arg_len(a)
        n += 1 + len(str(k)) + 2 + k + 2
    return n


class Chunk:
    """One propagated unit of the replication stream: its first byte's offset, its bytes and its commands."""

    __slots__ = ("start", "nbytes", "ops")

    def __init__(self, start: int, nbytes: int, ops: list[tuple[Any, ...]]) -> None:
        self.start = start
        self.nbytes = nbytes
        self.ops = ops

    @property
    def end(self) -> int:
        """The offset of its last byte."""
        return self.start + self.nbytes - 1

    def __repr__(self) -> str:
        return f"Chunk({self.start}..{self.end}, {[o[0] for o in self.ops]})"


class Snapshot:
    """A dataset frozen at a fork: keys with private copies of their values, expiries, and the RDB's bytes."""

    __slots__ = ("data", "expires", "nbytes", "repl_id", "repl_offset", "taken_at")

    def __init__(self, data: dict[Any, RObj], expires: dict[Any, int], nbytes: int, repl_id: str,
                 repl_offset: int, taken_at: float) -> None:
        self.data = data
        self.expires = expires
        self.nbytes = nbytes
        self.repl_id = repl_id
        self.repl_offset = repl_offset
        self.taken_at = taken_at


class RDBPayload:
    """The RDB a full resync sends (what the pipe carries)."""

    __slots__ = ("snapshot",)

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot


class _Close:
    """An end of a connection closed it (a FIN or an RST reaching the peer)."""


CLOSE = _Close()


class Pipe:
    """An ordered, reliable one-way connection from node ``a`` to node ``b`` (a model of a TCP stream).

    Messages are delivered to ``deliver(payload)`` in the order sent.  Each is sent through the
    network (its delay drawn at the send); one lost at the send or cut in flight is retransmitted
    ``rto`` seconds later (doubling, at most ``rto_max``), and the ones behind it wait for it, as TCP's
    receive window does.  :meth:`close` stops everything (nothing more is delivered).

    Args:
        world: the simulation world.
        a, b: the sending and receiving nodes.
        deliver: called with each payload, in order, when it arrives.
        rto, rto_max: retransmission timeout and its cap, seconds.
    """

    def __init__(self, world: Any, a: str, b: str, deliver: Callable[[Any], None], rto: float = 0.2,
                 rto_max: float = 1.0) -> None:
        self.world = world
        self.env = world.env
        self.a = a
        self.b = b
        self._deliver = deliver
        self.rto = rto
        self.rto_max = rto_max
        self.closed = False
        self._seq = 0
        self._next = 0
        self._arrived: dict[int, Any] = {}
        self._due = 0.0
        self.retransmits = 0

    def send(self, size: float, payload: Any, extra: float = 0.0) -> None:
        """Send ``payload`` of ``size`` bytes; ``extra`` seconds are added to its transit (a bulk transfer)."""
        if self.closed:
            return
        seq = self._seq
        self._seq += 1
        self._transmit(seq, size, payload, extra, self.rto)

    def _transmit(self, seq: int, size: float, payload: Any, extra: float, rto: float) -> None:
        if self.closed:
            return
        net = self.world.network
        d = net.transit(self.a, self.b, size)
        if d is None:
            self._retry(seq, size, payload, extra, rto)
            return
        now = self.env.now
        due = max(now + d + extra, self._due)  # a later message never overtakes an earlier one
        self._due = due
        epoch, route = net.epoch, net.route(self.a, self.b)
        ev = self.env.timeout(due - now)
        ev.callbacks.append(lambda _e: self._arrive(seq, size, payload, extra, rto, epoch, route))

    def _retry(self, seq: int, size: float, payload: Any, extra: float, rto: float) -> None:
        self.retransmits += 1
        ev = self.env.timeout(rto)
        ev.callbacks.append(lambda _e: self._transmit(seq, size, payload, extra, min(rto * 2, self.rto_max)))

    def _arrive(self, seq: int, size: float, payload: Any, extra: float, rto: float, epoch: int,
                route: Any) -> None:
        if self.closed:
            return
        if not self.world.network.still_up(self.a, self.b, epoch, route):
            self._retry(seq, size, payload, extra, rto)
            return
        self._arrived[seq] = payload
        while self._next in self._arrived and not self.closed:
            p = self._arrived.pop(self._next)
            self._next += 1
            self._deliver(p)

    def close(self) -> None:
        """Stop the connection: nothing in flight or queued is delivered any more."""
        self.closed = True
        self._arrived.clear()


def notify_close(world: Any, a: str, b: str, callback: Callable[[Any], None], msg: Any) -> None:
    """A FIN/RST from node ``a`` reaching ``b`` (one message, lost if the path is cut)."""
    world.network.send(a, b, 0, callback, msg)


class MasterLink:
    """A replica's connection to its master (``server.master`` / the handshake's connection).

    It is also the connection token the replica's PSYNC and REPLCONF ACK calls carry, so the master
    knows which replica speaks.
    """

    __slots__ = ("replica", "master", "phase", "replid", "reploff", "read_reploff", "initial_offset",
                 "lastinteraction", "held", "closed")

    def __init__(self, replica: ReplicationCommands, master: ReplicationCommands | None) -> None:
        self.replica = replica
        self.master = master
        #: "handshake" (PSYNC sent), "transfer" (FULLRESYNC: RDB coming), "loading", "ready" (stream applied)
        self.phase = "handshake"
        self.replid = ""
        self.reploff = 0
        self.read_reploff = 0
        self.initial_offset = 0
        self.lastinteraction = replica.env.now
        #: stream that arrived before the link was ready (kept in order)
        self.held: list[Any] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"<MasterLink {self.replica.name}->{None if self.master is None else self.master.name} {self.phase}>"


class SlaveLink:
    """A replica as its master keeps it (``client`` with ``CLIENT_SLAVE``): state, ACKs, output buffer."""

    __slots__ = ("replica", "conn", "node", "port", "state", "ack_off", "ack_time", "pipe", "buffer",
                 "stream_on_ack", "psync_initial_offset", "since")

    def __init__(self, master: ReplicationCommands, conn: MasterLink, node: str) -> None:
        self.replica = conn.replica
        self.conn = conn
        self.node = node
        self.port = conn.replica.port
        self.state = WAIT_BGSAVE_START
        self.ack_off = 0
        self.ack_time = master.unixtime()
        self.pipe = Pipe(master.world, master.node, node, self._deliver, master.tcp_rto, master.tcp_rto_max)
        self.buffer: list[Chunk] = []
        self.stream_on_ack = False
        self.psync_initial_offset = 0
        self.since = master.env.now

    def _deliver(self, payload: Any) -> None:
        self.conn.replica.link_data(self.conn, payload)

    def feed(self, chunk: Chunk) -> None:
        """``replicationFeedSlaves`` for this replica: send, buffer, or skip (still waiting for the fork)."""
        if self.state == WAIT_BGSAVE_START:
            return
        if self.state != ONLINE or self.stream_on_ack:
            self.buffer.append(chunk)
            return
        self.pipe.send(chunk.nbytes, chunk)

    def flush(self) -> None:
        """Start streaming: what was buffered since the fork goes out, in order."""
        self.stream_on_ack = False
        buf, self.buffer = self.buffer, []
        for c in buf:
            self.pipe.send(c.nbytes, c)


class Backlog:
    """The replication backlog: the last ``size`` bytes of the stream, as whole units."""

    def __init__(self, size: int, next_offset: int) -> None:
        self.size = size
        self.chunks: deque[Chunk] = deque()
        self.histlen = 0
        #: offset of the first byte kept (``repl_backlog->offset``)
        self.offset = next_offset

    def add(self, chunk: Chunk) -> None:
        """``feedReplicationBacklog``."""
        if not self.chunks:
            self.offset = chunk.start
        self.chunks.append(chunk)
        self.histlen += chunk.nbytes
        self.trim()

    def trim(self) -> None:
        """Drop the oldest units while the backlog holds more than its size (keeping at least one)."""
        while self.histlen > self.size and len(self.chunks) > 1:
            c = self.chunks.popleft()
            self.histlen -= c.nbytes
            self.offset = self.chunks[0].start

    def since(self, offset: int) -> list[Chunk] | None:
        """The units from byte ``offset`` on, or None when ``offset`` falls inside a unit."""
        out = [c for c in self.chunks if c.end >= offset]
        if out and out[0].start != offset:
            return None
        return out


def _bool_config(v: Any) -> bool:
    s = as_bytes(v).decode(errors="replace").lower()
    if s not in ("yes", "no"):
        raise ValueError("argument must be 'yes' or 'no'")
    return s == "yes"


class ReplicationCommands(RedisCore):
    """The replication command group (see the module docstring).

    Args (keywords, on top of :class:`~simcache.sim.redis.core.RedisCore`'s):
        replicaof: the master's component name (or ``(name, port)``): start as its replica.
        port: the port this instance listens on (INFO's ``slaveN:port=``, ROLE).
        repl_backlog_size: bytes of backlog (``repl-backlog-size``).
        repl_timeout: seconds (``repl-timeout``).
        repl_ping_replica_period: seconds between PINGs in the stream (``repl-ping-replica-period``).
        repl_diskless_sync: stream the RDB to replicas without a file (``repl-diskless-sync``).
        repl_diskless_sync_delay: seconds to wait for more replicas before a diskless fork.
        min_replicas_to_write, min_replicas_max_lag: ``min-replicas-to-write`` / ``min-replicas-max-lag``.
        replica_serve_stale_data, replica_read_only, replica_priority: as the ``replica-*`` settings.
        fork_time_per_gb: seconds the event loop stops per GB of ``used_memory`` at a fork (Redis's latency
            page measures 8-13 ms/GB on physical machines and modern VMs).
        repl_transfer_rate: bytes/s an RDB crosses to a replica.
        rdb_save_rate: bytes/s a fork child writes an RDB to disk.
        load_rate: bytes/s an RDB (or AOF) is loaded.
        tcp_rto, tcp_rto_max: the replication connection's retransmission timeout and its cap.
    """

    GAUGES: tuple[str, ...] = (*RedisCore.GAUGES, "master_repl_offset", "connected_slaves", "loading", "master_link_up")

    def __init__(self, *args: Any, replicaof: str | tuple[str, int] | None = None, port: int = 6379,
                 repl_backlog_size: int = 1 << 20, repl_timeout: float = 60, repl_ping_replica_period: int = 10,
                 repl_diskless_sync: bool = True, repl_diskless_sync_delay: float = 5,
                 min_replicas_to_write: int = 0, min_replicas_max_lag: int = 10,
                 replica_serve_stale_data: bool = True, replica_read_only: bool = True, replica_priority: int = 100,
                 fork_time_per_gb: float = 0.013, repl_transfer_rate: float = 125e6, rdb_save_rate: float = 200e6,
                 load_rate: float = 200e6, tcp_rto: float = 0.2, tcp_rto_max: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name = self.name
        ints: tuple[tuple[str, Any, int], ...] = (
            ("repl_backlog_size", repl_backlog_size, 1), ("repl_ping_replica_period", repl_ping_replica_period, 1),
            ("port", port, 1), ("min_replicas_to_write", min_replicas_to_write, 0),
            ("min_replicas_max_lag", min_replicas_max_lag, 0), ("replica_priority", replica_priority, 0))
        for f, v, lo in ints:
            if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v or v < lo:
                raise UsageError(f"{name}: {f} must be an integer >= {lo}, got {v!r}")
        nums: tuple[tuple[str, Any, bool], ...] = (
            ("repl_timeout", repl_timeout, False), ("repl_transfer_rate", repl_transfer_rate, False),
            ("rdb_save_rate", rdb_save_rate, False), ("load_rate", load_rate, False), ("tcp_rto", tcp_rto, False),
            ("tcp_rto_max", tcp_rto_max, False), ("repl_diskless_sync_delay", repl_diskless_sync_delay, True),
            ("fork_time_per_gb", fork_time_per_gb, True))
        for f, v, zero_ok in nums:
            if not (isinstance(v, int | float) and math.isfinite(v) and (v >= 0 if zero_ok else v > 0)):
                raise UsageError(f"{name}: {f} must be a number {'>=' if zero_ok else '>'} 0, got {v!r}")
        self.port = int(port)
        self.repl_backlog_size = int(repl_backlog_size)
        self.repl_timeout = float(repl_timeout)
        self.repl_ping_replica_period = int(repl_ping_replica_period)
        self.repl_diskless_sync = bool(repl_diskless_sync)
        self.repl_diskless_sync_delay = float(repl_diskless_sync_delay)
        self.min_replicas_to_write = int(min_replicas_to_write)
        self.min_replicas_max_lag = int(min_replicas_max_lag)
        self.replica_serve_stale_data = bool(replica_serve_stale_data)
        self.replica_read_only = bool(replica_read_only)
        self.replica_priority = int(replica_priority)
        self.fork_time_per_gb = float(fork_time_per_gb)
        self.repl_transfer_rate = float(repl_transfer_rate)
        self.rdb_save_rate = float(rdb_save_rate)
        self.load_rate = float(load_rate)
        self.tcp_rto = float(tcp_rto)
        self.tcp_rto_max = float(tcp_rto_max)
        self._replid_rng = self.world.rng(f"{name}:replid")
        self.replid = self.new_replid()
        self.replid2 = ZERO_ID
        self.master_repl_offset = 0
        self.second_replid_offset = -1
        self.backlog: Backlog | None = None
        self.slaves: list[SlaveLink] = []
        self._slave_of: dict[MasterLink, SlaveLink] = {}
        self.slaveseldb = -1
        self.repl_good_slaves_count = 0
        self.repl_no_slaves_since = self.env.now
        self.masterhost: str | None = None
        self.masterport = 0
        self.repl_state = REPL_NONE
        #: the connected master link (``server.master``), or the one being set up
        self.master_link: MasterLink | None = None
        self._pending_link: MasterLink | None = None
        #: whether this instance has a history to PSYNC with (a cached master), else ``PSYNC ? -1``
        self.can_psync = False
        self.repl_down_since: float | None = None
        self.repl_transfer_lastio = 0.0
        self.loading = False
        self.loading_start = 0.0
        self.loading_bytes = 0
        self._loaded_bytes_at_start = 0
        self._applying = False
        self._prop: list[tuple[Any, ...]] | None = None
        self._waiters: list[tuple[Deferred, int, int]] = []
        #: lists with clients blocked on them, as they were before those clients were served
        self._served_lists: dict[Any, tuple[Any, ...]] = {}
        #: replicas waiting for their +FULLRESYNC (sent at the fork)
        self._fsr: dict[SlaveLink, Deferred] = {}
        self._get_ack = False
        self._cron_loops = 0
        #: when the current fork child (BGSAVE or replication) ends (None: no child)
        self.child_until: float | None = None
        self.child_type = ""
        self.repl_stats = {"sync_full": 0, "sync_partial_ok": 0, "sync_partial_err": 0, "forks": 0,
                           "fork_time": 0.0, "stream_gaps": 0}
        #: callbacks ``fn(key, value, t)`` for each string write a master applies (the oracle's commits)
        self.on_write: list[Callable[[Any, Any, float], None]] = []
        self.env.process(self._replication_cron())
        if replicaof is not None:
            host, p = (replicaof, 6379) if isinstance(replicaof, str) else replicaof
            # configured at startup: no history of our own to offer (PSYNC ? -1), the first cron connects
            self.masterhost = str(host)
            self.masterport = int(p)
            self.repl_state = REPL_CONNECT
            self.mark("replicaof", f"{host} {p}")

    # ------------------------------------------------------------ clock, ids
    def unixtime(self) -> int:
        """``server.unixtime``: whole seconds."""
        return int(math.floor(self.unix_now()))

    def new_replid(self) -> str:
        """``changeReplicationId``: 40 random hex characters (from this server's own stream)."""
        return "".join(f"{int(x):02x}" for x in self._replid_rng.integers(0, 256, 20))

    def mark(self, kind: str, detail: str = "") -> None:
        """A timeline marker (``world.recorder.mark``): link up/down, syncs, promotions."""
        self.world.recorder.mark(self.env.now, self.name, kind, detail)

    @property
    def is_master(self) -> bool:
        """Whether this instance is a master (``server.masterhost == NULL``)."""
        return self.masterhost is None

    # -------------------------------------------------------- command checks
    def deny_command(self, spec: Spec, st: ClientState) -> str | None:
        """``processCommand``: NOREPLICAS, READONLY, MASTERDOWN and LOADING refusals, in Redis's order."""
        if self.masterhost is None and not self.loading and not self.min_replicas_to_write:
            return None  # the common case: a master that refuses nothing
        flags = spec.flags
        name = spec.upper
        is_write = "write" in flags or (name == "EXEC" and "write" in st.multi_flags)
        if is_write and not self.good_replicas_ok():
            return NOREPLICAS
        if self.masterhost is not None and self.replica_read_only and is_write:
            return READONLY
        if self.masterhost is not None and self.repl_state != REPL_CONNECTED and not self.replica_serve_stale_data:
            if "stale" not in flags or (name == "EXEC" and st.multi is not None
                                        and any("stale" not in s.flags for s, _ in st.multi)):
                return MASTERDOWN
        if self.loading:
            if "loading" not in flags or (name == "EXEC" and st.multi is not None
                                          and any("loading" not in s.flags for s, _ in st.multi)):
                return LOADING
        return None

    def good_replicas_ok(self) -> bool:
        """``checkGoodReplicasStatus``."""
        return (self.masterhost is not None or not self.min_replicas_max_lag or not self.min_replicas_to_write
                or self.repl_good_slaves_count >= self.min_replicas_to_write)

    def refresh_good_slaves(self) -> None:
        """``refreshGoodSlavesCount``: online replicas whose last ACK is at most ``min-replicas-max-lag`` old."""
        if not self.min_replicas_to_write or not self.min_replicas_max_lag:
            return
        now = self.unixtime()
        self.repl_good_slaves_count = sum(1 for s in self.slaves
                                          if s.state == ONLINE and now - s.ack_time <= self.min_replicas_max_lag)

    # ----------------------------------------------------------- propagation
    def call(self, spec: Spec, argv: tuple[Any, ...]) -> Any:
        """``call()``: run the command; what changed the dataset is propagated (``propagatePendingCommands``)."""
        top = self._prop is None
        if top:
            self._prop = []
        before = self.dirty
        try:
            reply = super().call(spec, argv)
            if self.dirty != before and spec.upper not in _CONTAINERS:
                assert self._prop is not None
                self._prop.append(self.rewrite_for_propagation(spec.upper, argv, reply))
        finally:
            if top:
                ops, self._prop = self._prop, None
        if top and ops:
            self.propagate(ops)
            if self.current is not None and self.masterhost is None:
                self.client_state().woff = self.master_repl_offset
        if top and self.ready_keys and self.masterhost is None:
            # clients blocked on these lists are served right after this command: note the lists to see the pops
            for key in self.ready_keys:
                obj = self.data.get(key)
                if obj is not None and obj.type == "list":
                    self._served_lists[key] = tuple(obj.value)
        return reply

    def _settle(self) -> None:
        super()._settle()
        if self._served_lists and self._prop is None:
            self._propagate_served_pops()

    def _propagate_served_pops(self) -> None:
        """``serveClientBlockedOnList`` propagates the pops it made for blocked clients as LPOP / RPOP."""
        watched, self._served_lists = self._served_lists, {}
        for key, before in watched.items():
            obj = self.data.get(key)
            after = tuple(obj.value) if obj is not None and obj.type == "list" else ()
            k = len(before) - len(after)
            if k <= 0:
                continue
            for left in range(k + 1):
                if before[left:len(before) - (k - left)] == after:
                    ops = []
                    if left:
                        ops.append((b"LPOP", key, str(left).encode()))
                    if k - left:
                        ops.append((b"RPOP", key, str(k - left).encode()))
                    self.propagate(ops)
                    break

    def rewrite_for_propagation(self, name: str, argv: tuple[Any, ...], reply: Any) -> tuple[Any, ...]:
        """The command as 7.0 propagates it (the ``rewriteClientCommand*`` calls of the commands).

        * SET with EX/PX/EXAT/PXAT, SETEX, PSETEX: ``SET key value PXAT <ms>`` (NX/XX/GET dropped); SET ... GET
          without an expiry: the GET arguments dropped (``t_string.c`` ``setGenericCommand``); GETSET: SET
          (``getsetCommand``).
        * EXPIRE, PEXPIRE, EXPIREAT: ``PEXPIREAT key <ms>`` followed by their NX/XX/GT/LT option; PEXPIREAT as
          sent; a time already past deletes the key and propagates ``DEL key`` (``expire.c``
          ``expireGenericCommand``, ``lazyfree-lazy-expire no``).
        * GETEX: PEXPIREAT, PERSIST or DEL (``getexCommand``); INCRBYFLOAT: ``SET key value KEEPTTL``
          (``incrbyfloatCommand``); SPOP: SREM of the members popped (``spopWithCountCommand``).
        """
        if name in ("SET", "SETEX", "PSETEX", "GETSET", "GETEX", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT",
                    "INCRBYFLOAT", "SPOP"):
            key = argv[1]
            obj = self.data.get(key)
            when = self.expires.get(key)
            if name in ("SETEX", "PSETEX"):
                return (b"SET", key, argv[3], b"PXAT", str(when).encode())
            if name == "GETSET":
                return (b"SET", key, argv[2])
            if name == "SET":
                opts = [upper_name(a) for a in argv[3:]]
                if any(o in ("EX", "PX", "EXAT", "PXAT") for o in opts) and when is not None:
                    return (b"SET", key, argv[2], b"PXAT", str(when).encode())
                if "GET" in opts:
                    return (*argv[:3], *(a for a, o in zip(argv[3:], opts, strict=True) if o != "GET"))
                return argv
            if name in ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "GETEX"):
                if obj is None:
                    return (b"DEL", key)
                if name == "GETEX" and when is None:
                    return (b"PERSIST", key)
                if name == "PEXPIREAT":
                    return argv
                rest = argv[3:] if name != "GETEX" else ()
                return (b"PEXPIREAT", key, str(when).encode(), *rest)
            if name == "INCRBYFLOAT" and obj is not None:
                return (b"SET", key, obj.value, b"KEEPTTL")
            if name == "SPOP":
                members = reply if isinstance(reply, list) else [reply]
                return (b"SREM", key, *[m for m in members if m is not None])
        return argv

    def propagate(self, ops: list[tuple[Any, ...]]) -> None:
        """``propagatePendingCommands``: one unit (MULTI/EXEC around several commands) into the stream."""
        if self.masterhost is not None:
            return
        for op in ops:
            if op and op[0] == b"SET" and len(op) > 2 and self.on_write:
                for fn in self.on_write:
                    fn(op[1], op[2], self.env.now)
        if len(ops) > 1:
            ops = [(b"MULTI",), *ops, (b"EXEC",)]
        self.feed_slaves(ops)

    def feed_slaves(self, ops: list[tuple[Any, ...]], keyspace: bool = True) -> None:
        """``replicationFeedSlaves``: the unit goes into the backlog and to every replica, with its offset.

        A unit that touches keys is preceded by ``SELECT 0`` when the stream's selected database is not 0
        yet; ``keyspace=False`` (PING, ``REPLCONF GETACK``) is fed with ``dictid = server.slaveseldb`` as
        ``replicationCron`` and ``sendGetackToReplicas`` (``server.c``) do, so it never emits a SELECT.
        """
        if self.masterhost is not None:
            return  # a replica proxies its master's stream instead
        if self.backlog is None and not self.slaves:
            return
        if keyspace and self.slaveseldb != 0:
            ops = [_SELECT0, *ops]
            self.slaveseldb = 0
        n = sum(resp_len(o) for o in ops)
        chunk = Chunk(self.master_repl_offset + 1, n, ops)
        self.master_repl_offset += n
        if self.backlog is not None:
            self.backlog.add(chunk)
        for s in self.slaves:
            s.feed(chunk)

    def delete_expired(self, key: Any) -> None:
        """``deleteExpiredKeyAndPropagate``: the key goes, and a DEL is propagated (not counted as dirty)."""
        d = self.dirty
        super().delete_expired(key)
        self.dirty = d
        self._propagate_deletion(key)

    def _evicted(self, key: Any, size: int) -> None:
        if key in self.data:
            super()._evicted(key, size)
            self._propagate_deletion(key)
        else:
            super()._evicted(key, size)

    def _propagate_deletion(self, key: Any) -> None:
        if self.masterhost is not None:
            return
        if self._prop is not None:
            self._prop.append((b"DEL", key))
        else:
            self.propagate([(b"DEL", key)])

    def expire_if_needed(self, key: Any) -> bool:
        """``expireIfNeeded``: a replica reports a key expired without deleting it; its master's commands see it."""
        if self.masterhost is not None:
            if self._applying:
                return False
            return self.key_is_expired(key)
        return super().expire_if_needed(key)

    def active_expire_cycle(self, fast: bool = False) -> int:
        """Only masters run active expiry (replicas wait for the master's DELs)."""
        if self.masterhost is not None:
            return 0
        return super().active_expire_cycle(fast)

    def perform_evictions(self) -> bool:
        """``replica-ignore-maxmemory yes``: a replica never evicts by itself."""
        if self.masterhost is not None:
            return True
        return super().perform_evictions()

    # --------------------------------------------------------------- forks
    def fork_time(self) -> float:
        """Seconds the event loop stops for a fork: proportional to ``used_memory``."""
        return self.used_memory / GB * self.fork_time_per_gb

    def fork(self, kind: str) -> Snapshot:
        """Fork a child: the parent pauses, the child has the dataset as it is now (a :class:`Snapshot`)."""
        snap = self.snapshot()
        t = self.fork_time()
        self.repl_stats["forks"] += 1
        self.repl_stats["fork_time"] += t
        self.child_type = kind
        self.stall(t)
        return snap

    def stall(self, duration: float) -> None:
        """Stop the event loop for ``duration`` seconds from now, the command running now included (its reply
        leaves after): a pause that begins once the current command has entered its service."""
        if duration <= 0:
            return
        ev = self.env.timeout(0)
        epoch = self.epoch
        ev.callbacks.append(lambda _e: self.pause(duration) if self.epoch == epoch else None)

    def snapshot(self) -> Snapshot:
        """The dataset now, with private copies of mutable values (what an RDB would hold)."""
        data: dict[Any, RObj] = {}
        nbytes = 0
        for key, obj in self.data.items():
            val = obj.value if obj.type == "string" else copy.deepcopy(obj.value)
            data[key] = RObj(obj.type, val, obj.size)
            nbytes += self.charge(key, obj)
        return Snapshot(data, dict(self.expires.when), nbytes, self.replid, self.master_repl_offset, self.env.now)

    def install(self, snap: Snapshot) -> None:
        """Replace the dataset with a snapshot's (``emptyData`` + ``rdbLoad``)."""
        d = self.dirty
        self.flush()
        for key, obj in snap.data.items():
            val = obj.value if obj.type == "string" else copy.deepcopy(obj.value)
            self.data[key] = RObj(obj.type, val, obj.size)
            self._accessed[key] = None
        for key, when in snap.expires.items():
            if key in self.data:
                self.set_expire(key, when)
        self._settle()
        self.dirty = d

    def load_time(self, nbytes: int) -> float:
        """Seconds to load ``nbytes`` of RDB or AOF."""
        return nbytes / self.load_rate

    # ------------------------------------------------------- master: PSYNC
    @redis_command("PSYNC", -3, "admin noscript no_async_loading no_multi")
    def _psync(self, replid: Any, offset: Any, *rest: Any) -> Any:
        conn = self.current.conn if self.current is not None else None
        if not isinstance(conn, MasterLink):
            raise ReplyError("ERR PSYNC is only available to simulated replicas")
        if self.masterhost is not None and self.repl_state != REPL_CONNECTED:
            raise ReplyError(NOMASTERLINK)
        if conn.closed or conn.replica is self:
            return NO_REPLY
        # the replica's previous connection is gone from its side (it reconnects): drop it here too
        for old in [s for s in self.slaves if s.replica is conn.replica]:
            self.free_slave(old, notify=False)
        rid = as_bytes(replid).decode(errors="replace")
        try:
            psync_offset = parse_int(offset)
        except ReplyError:
            psync_offset = -1
        slave = SlaveLink(self, conn, self.current.src if self.current is not None else conn.replica.node)
        if self.try_partial_resync(slave, rid, psync_offset):
            self.mark("partial-resync", f"{conn.replica.name} from offset {psync_offset}")
            return f"CONTINUE {self.replid}"
        self.mark("full-resync", conn.replica.name)
        if rid != "?":
            self.repl_stats["sync_partial_err"] += 1
        self.repl_stats["sync_full"] += 1
        self.add_slave(slave)
        if self.backlog is None and len(self.slaves) == 1:
            # a new history: fresh replication ID, no ID2 (syncCommand)
            self.replid = self.new_replid()
            self.replid2 = ZERO_ID
            self.second_replid_offset = -1
            self.backlog = Backlog(self.repl_backlog_size, self.master_repl_offset + 1)
        d = Deferred()
        self._fsr[slave] = d
        if not (self.repl_diskless_sync and self.repl_diskless_sync_delay) and self.child_until is None:
            self.start_bgsave_for_replication()
        return d

    def try_partial_resync(self, slave: SlaveLink, rid: str, psync_offset: int) -> bool:
        """``masterTryPartialResynchronization``: +CONTINUE and the backlog from ``psync_offset``, or False."""
        if rid != self.replid and (rid != self.replid2 or psync_offset > self.second_replid_offset):
            return False
        bl = self.backlog
        if bl is None or psync_offset < bl.offset or psync_offset > bl.offset + bl.histlen:
            return False
        chunks = bl.since(psync_offset)
        if chunks is None:
            return False
        slave.state = ONLINE
        slave.ack_time = self.unixtime()
        self.add_slave(slave)
        for c in chunks:
            slave.pipe.send(c.nbytes, c)
        self.repl_stats["sync_partial_ok"] += 1
        self.refresh_good_slaves()
        return True

    def add_slave(self, slave: SlaveLink) -> None:
        """The replica joins ``server.slaves``."""
        self.slaves.append(slave)
        self._slave_of[slave.conn] = slave

    def free_slave(self, slave: SlaveLink, notify: bool = True) -> None:
        """``freeClient`` of a replica: it leaves the list; with ``notify`` the replica hears the close."""
        if slave in self.slaves:
            self.slaves.remove(slave)
        self._slave_of.pop(slave.conn, None)
        self._fsr.pop(slave, None)
        slave.pipe.close()
        if not self.slaves:
            self.repl_no_slaves_since = self.env.now
        self.refresh_good_slaves()  # freeClient (networking.c) refreshes the good-replica count at once
        if notify and self.host_up:
            conn = slave.conn
            notify_close(self.world, self.node, slave.node, conn.replica.link_closed, conn)

    def disconnect_slaves(self) -> None:
        """``disconnectSlaves``."""
        for s in list(self.slaves):
            self.free_slave(s)

    def start_bgsave_for_replication(self) -> None:
        """``startBgsaveForReplication``: fork; replicas waiting get +FULLRESYNC with the offset at the fork."""
        waiting = [s for s in self.slaves if s.state == WAIT_BGSAVE_START]
        if not waiting:
            return
        self.slaveseldb = -1  # replicationSetupSlaveForFullResync: the stream restarts with SELECT
        for s in waiting:
            s.state = WAIT_BGSAVE_END
            s.psync_initial_offset = self.master_repl_offset
            d = self._fsr.pop(s, None)
            if d is not None:
                d.resolve(f"FULLRESYNC {self.replid} {self.master_repl_offset}")
        snap = self.fork("replication")
        start = self.env.now + self.fork_time()
        save = 0.0 if self.repl_diskless_sync else snap.nbytes / self.rdb_save_rate
        transfer = snap.nbytes / self.repl_transfer_rate
        self.child_until = start + save + (transfer if self.repl_diskless_sync else 0.0)
        self.env.process(self._replication_child(waiting, snap, start, save, transfer, self.epoch))

    def _replication_child(self, slaves: list[SlaveLink], snap: Snapshot, start: float, save: float,
                           transfer: float, epoch: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if start > env.now:
            yield env.timeout(start - env.now)
        if save > 0:
            yield env.timeout(save)
        if self.epoch != epoch:
            return
        payload = RDBPayload(snap)
        for s in slaves:
            if s in self.slaves:
                if not self.repl_diskless_sync:
                    s.state = SEND_BULK
                s.pipe.send(snap.nbytes, payload, extra=transfer)
        if self.repl_diskless_sync:
            yield env.timeout(transfer)
            if self.epoch != epoch:
                return
            self.child_until = None
            self.child_done(snap, ok=True, to_disk=False)
            for s in slaves:
                if s in self.slaves:
                    self.put_online(s, stream_on_ack=True)
            return
        self.child_until = None
        self.child_done(snap, ok=True, to_disk=True)
        yield env.timeout(transfer)
        if self.epoch != epoch:
            return
        for s in slaves:
            if s in self.slaves:
                self.put_online(s, stream_on_ack=False)

    def child_done(self, snap: Snapshot, ok: bool, to_disk: bool = False) -> None:
        """A replication fork child ended (``to_disk``: it wrote an RDB file, which persistence counts as a save)."""
        self.child_type = ""

    def full_sync_loaded(self, snap: Snapshot) -> None:
        """A replica has loaded its master's RDB (persistence restarts its AOF from it)."""

    def put_online(self, s: SlaveLink, stream_on_ack: bool) -> None:
        """``replicaPutOnline``."""
        s.state = ONLINE
        s.ack_time = self.unixtime()
        if stream_on_ack:
            s.stream_on_ack = True
        else:
            s.flush()
        self.refresh_good_slaves()

    # ------------------------------------------------------ master: ACKs, WAIT
    @redis_command("REPLCONF", -1, "admin noscript loading stale allow_busy")
    def _replconf(self, *args: Any) -> Any:
        if len(args) % 2:
            raise ReplyError("ERR syntax error")
        conn = self.current.conn if self.current is not None else None
        for i in range(0, len(args), 2):
            opt = upper_name(args[i])
            if opt == "ACK":
                s = self._slave_of.get(conn) if isinstance(conn, MasterLink) else None
                if s is None:
                    return NO_REPLY
                off = parse_int(args[i + 1])
                if off > s.ack_off:
                    s.ack_off = off
                s.ack_time = self.unixtime()
                if s.stream_on_ack and s.state == ONLINE:
                    s.flush()
                self.process_waiting_replicas()
                return NO_REPLY
            if opt == "GETACK":
                return NO_REPLY
        return "OK"

    def count_acks(self, offset: int) -> int:
        """``replicationCountAcksByOffset``."""
        return sum(1 for s in self.slaves if s.state == ONLINE and s.ack_off >= offset)

    @redis_command("WAIT", 3, "noscript")
    def _wait(self, numreplicas: Any, timeout: Any) -> Any:
        if self.masterhost is not None:
            raise ReplyError(WAIT_ON_REPLICA)
        n = parse_int(numreplicas)
        try:
            ms = parse_int(timeout)
        except ReplyError:
            raise ReplyError("ERR timeout is not an integer or out of range") from None
        if ms < 0:
            raise ReplyError("ERR timeout is negative")
        st = self.client_state()
        acked = self.count_acks(st.woff)
        if acked >= n or self.in_exec:
            return acked
        d = Deferred()
        waiter = (d, st.woff, n)
        self._waiters.append(waiter)
        if ms:
            ev = self.env.timeout(ms / 1000)
            epoch = self.epoch
            ev.callbacks.append(lambda _e: self._wait_timeout(waiter, epoch))
        if not self._get_ack:
            # replicationRequestAckFromSlaves: REPLCONF GETACK * goes out before the event loop sleeps
            self._get_ack = True
            t = self.env.timeout(0)
            t.callbacks.append(lambda _e: self._send_getack())
        return d

    def _send_getack(self) -> None:
        self._get_ack = False
        if self.up and self.masterhost is None:
            self.feed_slaves([_GETACK], keyspace=False)

    def _wait_timeout(self, waiter: tuple[Deferred, int, int], epoch: int) -> None:
        if epoch != self.epoch or waiter not in self._waiters:
            return
        self._waiters.remove(waiter)
        waiter[0].resolve(self.count_acks(waiter[1]))

    def process_waiting_replicas(self) -> None:
        """``processClientsWaitingReplicas``: WAITs now satisfied get the count."""
        for w in list(self._waiters):
            n = self.count_acks(w[1])
            if n >= w[2]:
                self._waiters.remove(w)
                w[0].resolve(n)

    # --------------------------------------------------------- ROLE, REPLICAOF
    @redis_command("ROLE", 1, "noscript loading stale fast sentinel")
    def _role(self) -> list[Any]:
        if self.masterhost is None:
            return [b"master", self.master_repl_offset,
                    [[s.node.encode(), str(s.port).encode(), str(s.ack_off).encode()]
                     for s in self.slaves if s.state == ONLINE]]
        link = self.master_link
        return [b"slave", self.masterhost.encode(), self.masterport, self.repl_state.encode(),
                link.reploff if link is not None and self.repl_state == REPL_CONNECTED else -1]

    @redis_command("REPLICAOF", 3, "admin noscript stale no_async_loading")
    def _replicaof(self, host: Any, port: Any) -> str:
        if upper_name(host) == "NO" and upper_name(port) == "ONE":
            if self.masterhost is not None:
                self.unset_master()
            return "OK"
        p = parse_int(port)
        h = as_bytes(host).decode(errors="replace")
        if self.masterhost == h and self.masterport == p:
            return "OK Already connected to specified master"
        self.set_master(h, p)
        return "OK"

    @redis_command("SLAVEOF", 3, "admin noscript stale no_async_loading")
    def _slaveof(self, host: Any, port: Any) -> str:
        return self._replicaof(host, port)

    def set_master(self, host: str, port: int = 6379) -> None:
        """``replicationSetMaster``: become a replica of the component ``host`` (PSYNC with our own history)."""
        was_master = self.masterhost is None
        self.masterhost = None
        self._drop_master_link(notify=True)
        self._unblock_all()
        self.masterhost = host
        self.masterport = int(port)
        self._pending_link = None
        if was_master:
            self.can_psync = True  # replicationCacheMasterUsingMyself: our replid and offset are what we PSYNC with
        self.repl_state = REPL_CONNECT
        self.mark("replicaof", f"{host} {port}")
        self.connect_with_master()

    def unset_master(self) -> None:
        """``replicationUnsetMaster``: become a master; ``replid`` moves to ``replid2`` (``shiftReplicationId``)."""
        if self.masterhost is None:
            return
        self.masterhost = None
        self._drop_master_link(notify=True)
        self._pending_link = None
        self.replid2 = self.replid
        self.second_replid_offset = self.master_repl_offset + 1
        self.replid = self.new_replid()
        self.disconnect_slaves()
        self.repl_state = REPL_NONE
        self.slaveseldb = -1
        self.repl_no_slaves_since = self.env.now
        self.repl_down_since = None
        self.mark("promoted", f"offset {self.master_repl_offset}")
        if self.backlog is None:
            self.backlog = Backlog(self.repl_backlog_size, self.master_repl_offset + 1)

    def _unblock_all(self) -> None:
        """``disconnectAllBlockedClients``: blocked clients get the UNBLOCKED error."""
        for w in self._waiters:
            w[0].resolve(ResponseError(UNBLOCKED))
        self._waiters.clear()
        for b in list(self.blocked_clients):
            self.unblock_entry(b)
            b.resume(ResponseError(UNBLOCKED))

    def _drop_master_link(self, notify: bool) -> None:
        """``freeClient(server.master)`` / cancel the handshake: close the link (telling the master)."""
        for link in (self.master_link, self._pending_link):
            if link is None or link.closed:
                continue
            link.closed = True
            master = link.master
            if notify and master is not None and self.host_up:
                notify_close(self.world, self.node, master.node, master.slave_closed, link)
        if self.master_link is not None and self.repl_state == REPL_CONNECTED:
            self.repl_down_since = self.env.now
            self.mark("master-link-down")
        self.master_link = None
        self._pending_link = None
        if self.loading and self.masterhost is None:
            self.loading = False

    def slave_closed(self, conn: MasterLink) -> None:
        """A replica's connection closed from its side (it reached us): free it."""
        s = self._slave_of.get(conn)
        if s is not None and self.up:
            self.free_slave(s, notify=False)

    # -------------------------------------------------------- replica side
    def connect_with_master(self) -> None:
        """``connectWithMaster``: start the handshake (a process)."""
        if self.masterhost is None or self._pending_link is not None or not self.up:
            return
        target = self.world.components.get(self.masterhost)
        master = target if isinstance(target, ReplicationCommands) else None
        link = MasterLink(self, master)
        self._pending_link = link
        self.repl_state = REPL_CONNECTING
        self.repl_transfer_lastio = self.env.now
        self.env.process(self._handshake(link))

    def _handshake(self, link: MasterLink) -> Generator[simpy.Event, Any, None]:
        master = link.master
        dl = Deadlines(self.env, self.repl_timeout, "Timeout connecting to the MASTER")
        try:
            if master is None:
                raise ConnectionError(f"no master {self.masterhost!r}")
            yield from call(self.world, self.node, master, (b"PING",), deadlines=dl, conn=link, host=self)
            if self.can_psync:
                args = (b"PSYNC", self.replid.encode(), str(self.master_repl_offset + 1).encode())
            else:
                args = (b"PSYNC", b"?", b"-1")
            reply = yield from call(self.world, self.node, master, args, deadlines=dl, conn=link, host=self)
        except (ConnectionError, TimeoutError, ResponseError):
            if self._pending_link is link:
                self._pending_link = None
                link.closed = True
                if self.masterhost is not None:
                    self.repl_state = REPL_CONNECT
            return
        if self._pending_link is not link or link.closed or not self.up:
            return
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        words = text.split()
        if words and words[0] == "FULLRESYNC":
            link.replid = words[1]
            link.initial_offset = int(words[2])
            link.phase = "transfer"
            self.repl_state = REPL_TRANSFER
            self.repl_transfer_lastio = self.env.now
        elif words and words[0] == "CONTINUE":
            new = words[1] if len(words) > 1 else self.replid
            if new != self.replid:
                # the master's ID changed (a promotion): our history continues under the new ID
                self.replid2 = self.replid
                self.second_replid_offset = self.master_repl_offset + 1
                self.replid = new
                self.disconnect_slaves()
            link.replid = new
            link.reploff = link.read_reploff = self.master_repl_offset
            self._link_ready(link)
        else:
            link.closed = True
            self._pending_link = None
            self.repl_state = REPL_CONNECT
            return
        self._drain_held(link)

    def _link_ready(self, link: MasterLink) -> None:
        link.phase = "ready"
        link.lastinteraction = self.env.now
        self.master_link = link
        self._pending_link = None
        self.repl_state = REPL_CONNECTED
        self.repl_down_since = None
        self.can_psync = True
        self.mark("master-link-up", f"offset {link.reploff}")

    def link_data(self, link: MasterLink, payload: Any) -> None:
        """Something from the master arrived at this node (in order): into the event loop's queue."""
        if link.closed or not self.up:
            return
        link.lastinteraction = self.env.now
        if isinstance(payload, Chunk):
            link.read_reploff = max(link.read_reploff, payload.end)
        self.repl_transfer_lastio = self.env.now
        self.receive(Call(payload, self.node, None, conn=link, t_sent=self.env.now))

    def link_closed(self, link: MasterLink) -> None:
        """The master closed our connection (FIN/RST reached us): ``replicationHandleMasterDisconnection``."""
        if link.closed or not self.up:
            return
        if link is self.master_link or link is self._pending_link:
            self._drop_master_link(notify=False)
            if self.masterhost is not None:
                self.repl_state = REPL_CONNECT

    def execute(self, call: Call) -> Any:
        conn = call.conn
        if conn.__class__ is MasterLink and conn.replica is self:
            self.current = None
            self.stream_payload(conn, call.cmd)
            self.before_sleep()
            return NO_REPLY
        return super().execute(call)

    def stream_payload(self, link: MasterLink, payload: Any) -> None:
        """The event loop reads the master's connection: an RDB to load, or stream to apply."""
        if link.closed:
            return
        if link.phase in ("handshake", "loading") or (link.phase == "transfer" and not isinstance(payload,
                                                                                                   RDBPayload)):
            link.held.append(payload)
            return
        if isinstance(payload, RDBPayload):
            self._start_load(link, payload.snapshot)
            return
        self.apply_chunk(link, payload)

    def _drain_held(self, link: MasterLink) -> None:
        held, link.held = link.held, []
        for p in held:
            self.stream_payload(link, p)

    def _start_load(self, link: MasterLink, snap: Snapshot) -> None:
        """``readSyncBulkPayload``: the RDB is here: empty the dataset and load it (LOADING meanwhile)."""
        link.phase = "loading"
        self.loading = True
        self.loading_start = self.env.now
        self.loading_bytes = snap.nbytes
        t = self.load_time(snap.nbytes)
        epoch = self.epoch
        self.flush()
        ev = self.env.timeout(t)
        ev.callbacks.append(lambda _e: self._end_load(link, snap, epoch))

    def _end_load(self, link: MasterLink, snap: Snapshot, epoch: int) -> None:
        if epoch != self.epoch:
            return
        self.loading = False
        if link.closed or link is not self._pending_link:
            return
        self.install(snap)
        self.full_sync_loaded(snap)
        self.replid = link.replid
        self.replid2 = ZERO_ID
        self.second_replid_offset = -1
        self.master_repl_offset = link.initial_offset
        link.reploff = link.read_reploff = link.initial_offset
        self.backlog = Backlog(self.repl_backlog_size, self.master_repl_offset + 1)
        self.disconnect_slaves()
        self._link_ready(link)
        self.send_ack()
        self._drain_held(link)

    def apply_chunk(self, link: MasterLink, chunk: Chunk) -> None:
        """Apply one unit of the master's stream, feed our backlog and sub-replicas, advance the offset."""
        if chunk.end <= link.reploff:
            return  # already have it
        if chunk.start != link.reploff + 1:
            # a hole in the stream: cannot happen over the ordered connection, but never apply out of order
            self.repl_stats["stream_gaps"] += 1
            self._drop_master_link(notify=True)
            self.repl_state = REPL_CONNECT
            return
        self._applying = True
        try:
            for op in chunk.ops:
                name = op[0]
                if name in _SKIP_ON_APPLY:
                    continue
                if name == b"REPLCONF":
                    if len(op) > 1 and upper_name(op[1]) == "GETACK":
                        self.send_ack()  # the offset before this unit, as replconfCommand answers
                    continue
                spec, _err = self.lookup_command(op)
                if spec is not None:
                    self.call(spec, op)
        finally:
            self._applying = False
        link.reploff = chunk.end
        self.master_repl_offset = chunk.end
        if self.backlog is not None:
            self.backlog.add(chunk)
        for s in self.slaves:
            s.feed(chunk)

    def send_ack(self) -> None:
        """``replicationSendAck``: REPLCONF ACK <offset> to the master (no reply)."""
        link = self.master_link
        if link is None or link.master is None or link.closed:
            return
        send(self.world, self.node, link.master, (b"REPLCONF", b"ACK", str(link.reploff).encode()), conn=link,
             host=self)

    # ------------------------------------------------------------------ cron
    def _replication_cron(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(1.0)
            if not self.up or self.paused or self.loading:
                continue
            self.replication_cron()

    def replication_cron(self) -> None:
        """``replicationCron`` (once a second)."""
        now = self.env.now
        t = self.repl_timeout
        if self.masterhost is not None:
            if self.repl_state in (REPL_CONNECTING, REPL_TRANSFER) and now - self.repl_transfer_lastio > t:
                self._drop_master_link(notify=True)
                self.repl_state = REPL_CONNECT
            link = self.master_link
            if self.repl_state == REPL_CONNECTED and link is not None and now - link.lastinteraction > t:
                self._drop_master_link(notify=True)  # MASTER timeout: no data nor PING received
                self.repl_state = REPL_CONNECT
            if self.repl_state == REPL_CONNECT:
                self.connect_with_master()
            if self.repl_state == REPL_CONNECTED:
                self.send_ack()
        if self._cron_loops % self.repl_ping_replica_period == 0 and self.slaves:
            self.feed_slaves([(b"PING",)], keyspace=False)
        unixtime = self.unixtime()
        for s in list(self.slaves):
            if s.state == ONLINE and unixtime - s.ack_time > t:
                self.free_slave(s)  # Disconnecting timedout replica (streaming sync)
        self.start_pending_fork()
        self.refresh_good_slaves()
        self._cron_loops += 1

    def start_pending_fork(self) -> None:
        """``replicationStartPendingFork``: a diskless fork once the first waiting replica waited long enough."""
        waiting = [s for s in self.slaves if s.state == WAIT_BGSAVE_START]
        if not waiting or self.child_until is not None:
            return
        idle = max(self.env.now - s.since for s in waiting)
        if not self.repl_diskless_sync or idle >= self.repl_diskless_sync_delay - 1e-9:
            self.start_bgsave_for_replication()

    # ---------------------------------------------------------------- faults
    def on_crash(self) -> None:
        host_up = self.host_up
        for s in list(self.slaves):
            self.free_slave(s, notify=host_up)  # the kernel resets the replicas' connections
        self._waiters.clear()
        self._fsr.clear()
        if self.masterhost is not None:
            self._drop_master_link(notify=host_up)
        self.loading = False
        self.child_until = None
        self.child_type = ""
        super().on_crash()

    def on_restart(self) -> None:
        super().on_restart()
        # a restarted process has a new replication ID; a replica keeps its master's ID and offset only when
        # its dataset survived (a warm restart; an RDB with the replication info)
        self.slaves.clear()
        self._slave_of.clear()
        self.slaveseldb = -1
        self.repl_good_slaves_count = 0
        if not self.warm:
            self.master_repl_offset = 0
            self.can_psync = False
            self.backlog = None
        if self.masterhost is None:
            self.replid = self.new_replid()
            self.replid2 = ZERO_ID
            self.second_replid_offset = -1
            self.backlog = None
        else:
            self.backlog = None
            self.repl_state = REPL_CONNECT
            self.repl_down_since = self.env.now

    # ------------------------------------------------------------------ INFO
    def replication_info(self) -> dict[str, Any]:
        """INFO replication's fields, in Redis 7.0's order (``genRedisInfoString``)."""
        f: dict[str, Any] = {"role": "master" if self.masterhost is None else "slave"}
        unixtime = self.unixtime()
        if self.masterhost is not None:
            link = self.master_link
            connected = self.repl_state == REPL_CONNECTED and link is not None
            f["master_host"] = self.masterhost
            f["master_port"] = self.masterport
            f["master_link_status"] = "up" if connected else "down"
            f["master_last_io_seconds_ago"] = (unixtime - int(math.floor(self.unix_start + link.lastinteraction))
                                               if connected and link is not None else -1)
            f["master_sync_in_progress"] = int(self.repl_state == REPL_TRANSFER)
            f["slave_read_repl_offset"] = link.read_reploff if connected and link is not None else (
                self.master_repl_offset if self.can_psync else 1)
            f["slave_repl_offset"] = link.reploff if connected and link is not None else (
                self.master_repl_offset if self.can_psync else 1)
            if not connected:
                f["master_link_down_since_seconds"] = (-1 if self.repl_down_since is None
                                                       else int(self.env.now - self.repl_down_since))
            f["slave_priority"] = self.replica_priority
            f["slave_read_only"] = int(self.replica_read_only)
            f["replica_announced"] = 1
        f["connected_slaves"] = len(self.slaves)
        if self.min_replicas_to_write and self.min_replicas_max_lag:
            f["min_slaves_good_slaves"] = self.repl_good_slaves_count
        for i, s in enumerate(self.slaves):
            lag = unixtime - s.ack_time if s.state == ONLINE else 0
            f[f"slave{i}"] = (f"ip={s.node},port={s.port},state={_STATE_NAMES[s.state]},offset={s.ack_off},"
                              f"lag={lag}")
        bl = self.backlog
        f.update(master_failover_state="no-failover", master_replid=self.replid, master_replid2=self.replid2,
                 master_repl_offset=self.master_repl_offset, second_repl_offset=self.second_replid_offset,
                 repl_backlog_active=int(bl is not None), repl_backlog_size=self.repl_backlog_size,
                 repl_backlog_first_byte_offset=bl.offset if bl is not None else 0,
                 repl_backlog_histlen=bl.histlen if bl is not None else 0)
        return f

    # ---------------------------------------------------------------- CONFIG
    REPL_CONFIG: tuple[str, ...] = ("replica-read-only", "slave-read-only", "replica-serve-stale-data", "slave-serve-stale-data",
                   "replica-priority", "slave-priority", "min-replicas-to-write", "min-slaves-to-write",
                   "min-replicas-max-lag", "min-slaves-max-lag", "repl-backlog-size", "repl-timeout",
                   "repl-ping-replica-period", "repl-ping-slave-period", "repl-diskless-sync",
                   "repl-diskless-sync-delay", "replicaof", "slaveof")

    def repl_config_values(self) -> dict[str, str]:
        """The replication parameters as CONFIG GET shows them."""
        yn = {True: "yes", False: "no"}
        master = f"{self.masterhost} {self.masterport}" if self.masterhost is not None else ""
        return {"replica-read-only": yn[self.replica_read_only],
                "replica-serve-stale-data": yn[self.replica_serve_stale_data],
                "replica-priority": str(self.replica_priority),
                "min-replicas-to-write": str(self.min_replicas_to_write),
                "min-replicas-max-lag": str(self.min_replicas_max_lag),
                "repl-backlog-size": str(self.repl_backlog_size), "repl-timeout": str(int(self.repl_timeout)),
                "repl-ping-replica-period": str(self.repl_ping_replica_period),
                "repl-diskless-sync": yn[self.repl_diskless_sync],
                "repl-diskless-sync-delay": str(int(self.repl_diskless_sync_delay)), "replicaof": master}

    def set_repl_config(self, key: str, v: Any) -> None:
        """CONFIG SET of one replication parameter (raises ValueError with the reason)."""
        alias = {"slave-read-only": "replica-read-only", "slave-serve-stale-data": "replica-serve-stale-data",
                 "slave-priority": "replica-priority", "min-slaves-to-write": "min-replicas-to-write",
                 "min-slaves-max-lag": "min-replicas-max-lag", "repl-ping-slave-period": "repl-ping-replica-period"}
        key = alias.get(key, key)
        if key == "replica-read-only":
            self.replica_read_only = _bool_config(v)
        elif key == "replica-serve-stale-data":
            self.replica_serve_stale_data = _bool_config(v)
        elif key == "repl-diskless-sync":
            self.repl_diskless_sync = _bool_config(v)
        elif key in ("replicaof", "slaveof"):
            raise ValueError("can't set immutable config")
        else:
            try:
                n = parse_int(v)
            except ReplyError:
                raise ValueError("argument couldn't be parsed into an integer") from None
            lo = 1 if key in ("repl-backlog-size", "repl-timeout", "repl-ping-replica-period") else 0
            if n < lo:
                raise ValueError(f"argument must be between {lo} and {2**63 - 1 if key == 'repl-backlog-size' else 2**31 - 1} inclusive")
            if key == "replica-priority":
                self.replica_priority = n
            elif key == "min-replicas-to-write":
                self.min_replicas_to_write = n
                self.refresh_good_slaves()
            elif key == "min-replicas-max-lag":
                self.min_replicas_max_lag = n
                self.refresh_good_slaves()
            elif key == "repl-backlog-size":
                self.repl_backlog_size = n
                if self.backlog is not None:
                    self.backlog.size = n
                    self.backlog.trim()
            elif key == "repl-timeout":
                self.repl_timeout = float(n)
            elif key == "repl-ping-replica-period":
                self.repl_ping_replica_period = n
            elif key == "repl-diskless-sync-delay":
                self.repl_diskless_sync_delay = float(n)

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update(master_repl_offset=float(self.master_repl_offset), connected_slaves=float(len(self.slaves)),
                 loading=float(self.loading), master_link_up=float(self.repl_state == REPL_CONNECTED))
        return d
