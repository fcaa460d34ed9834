"""Redis Cluster: hash slots, redirections, resharding, the cluster bus (gossip, failure detection, failover).

Follows Redis 7.0 ``src/cluster.c`` and the Redis Cluster specification:

* **Slots** — :func:`crc16` is ``crc16.c`` (XMODEM: polynomial 0x1021, initial
  value 0, ``crc16("123456789") == 0x31C3``); :func:`key_hash_slot` is
  ``keyHashSlot``: the CRC of the first non-empty ``{hash tag}`` (else the
  whole key) modulo 16384.
* **Serving** — a :class:`ClusterNode` is a
  :class:`~simcache.sim.redis.server.RedisServer` in cluster mode.  Its
  ``processCommand`` hook (:meth:`ClusterNode.cluster_redirect`) is
  ``getNodeByQuery`` + ``clusterRedirectClient``: ``CROSSSLOT``,
  ``CLUSTERDOWN Hash slot not served``, ``CLUSTERDOWN The cluster is down``,
  ``MOVED slot host:port``, ``ASK slot host:port`` for a key absent from a
  MIGRATING slot, ``TRYAGAIN`` for a multi-key command whose keys are split
  by a migration, and the IMPORTING side served only after ``ASKING``.
  Commands: ``CLUSTER`` (KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, SLOTS,
  NODES, SHARDS, INFO, MYID, ADDSLOTS, ADDSLOTSRANGE, DELSLOTS, SETSLOT
  MIGRATING/IMPORTING/NODE/STABLE, COUNT-FAILURE-REPORTS), ``ASKING``,
  ``READONLY``, ``READWRITE``, ``MIGRATE`` (with ``KEYS``, ``COPY``,
  ``REPLACE``), ``RESTORE-ASKING``.
* **The cluster bus** (``clusterCron`` every 100 ms, ``clusterProcessPacket``):
  every 10th tick a PING to the node with the oldest PONG among 5 drawn at
  random, and a PING to every node whose PONG is older than half the node
  timeout; a PING carries the sender's slots, epochs, role, replication
  offset and a gossip section (``max(3, nodes/10)`` random nodes plus every
  node it flags PFAIL, ``clusterSendPing``); a node is **PFAIL** when the
  oldest unanswered PING (or the last data received, whichever is later) is
  older than ``cluster-node-timeout``; a master's gossip about a PFAIL or
  FAIL node is a failure report, valid for twice the node timeout; a node
  becomes **FAIL** when a majority of the masters serving slots report it
  (counting itself when it is a master: ``markNodeAsFailingIfNeeded``) and
  the FAIL message is broadcast.
* **Failover** (``clusterHandleSlaveFailover``): a replica of a FAIL master
  schedules its election ``500 + random(0..499) + rank * 1000`` ms after it
  sees the FAIL (rank: how many replicas of the same master have a greater
  replication offset, ``clusterGetSlaveRank``), bumps ``currentEpoch`` and
  asks every node for a vote; a master serving slots votes once per epoch
  and not twice within ``2 * node_timeout`` for replicas of the same master
  (``clusterSendFailoverAuthIfNeeded``); with votes from a majority of the
  masters the replica takes the epoch as its ``configEpoch``, takes its
  master's slots and broadcasts a PONG (``clusterFailoverReplaceYourMaster``).
  The election expires after ``max(2 * node_timeout, 2 s)`` and is retried
  after twice that.  Nodes adopt a slot claimed with a greater
  ``configEpoch`` (``clusterUpdateSlotsConfigWith``); a node that claims
  slots with a stale epoch is sent an UPDATE; a master left without slots
  becomes a replica of the node that took them.
* **State** (``clusterUpdateState``): ``fail`` when a slot is unassigned or
  its owner FAIL and ``cluster-require-full-coverage`` is yes, or when fewer
  than a majority of the masters serving slots are reachable (not PFAIL or
  FAIL) — a master partitioned into the minority refuses every keyed command
  with ``CLUSTERDOWN The cluster is down`` once it has flagged the others
  PFAIL, one node timeout after the partition.  A master leaving ``fail``
  waits ``CLUSTER_WRITABLE_DELAY`` (2 s) after its start and a rejoin delay
  (the node timeout, clamped to 0.5..5 s) after it was last in the minority.

Replicas hold their master's data through the replication layer
(:mod:`simcache.sim.redis.replication`): a replica node is a replica of its
master there (``replicationSetMaster``), its rank uses its replication
offset, the promotion is ``replicationUnsetMaster``, and a master that lost
its slots becomes a replica of their new owner (a full resync that discards
what it accepted meanwhile).  A MIGRATE reaches the replicas as a DEL of the
moved keys, and the target's RESTORE-ASKING as itself.

Simplifications (what the model does not do, and why it rarely matters):

* The nodes start as ``redis-cli --cluster create`` leaves them: every node
  knows every other (no MEET, handshake or node-id discovery), config epochs
  1..n for the masters; node ids are the SHA-1 of the component name.
* The bus has no links to reconnect: a message crosses the network if the
  path is up (the cluster bus port shares the node's links); a crashed or
  host-down node neither sends nor receives; a paused node handles the bus
  messages that arrived during the pause when the pause ends.  Messages
  are handled on arrival, outside the command event loop's service time.
* ``MIGRATE`` moves its keys at the moment its service starts (the target's
  ``RESTORE-ASKING`` is applied then, when the target is up and reachable)
  and holds the source's event loop for one round trip to the target plus
  the service time, as the synchronous ``MIGRATE`` does; a target that is
  down or cut off makes it wait ``timeout`` ms and reply ``IOERR``.
* No replica migration, manual failover (``CLUSTER FAILOVER``), pub/sub
  over the bus, ``cluster-allow-reads-when-down``, ``cluster-slave-validity-factor``
  other than its default 10 (the data age is measured from the master's last
  PONG), or nodes.conf persistence (a restarted node keeps its cluster view
  and, if warm, its data).
* Keys of commands are found from a table of key positions (:data:`KEY_SPECS`);
  a command not in it is treated as keyless.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from simcache.errors import UsageError
from simcache.sim.redis.core import ClientState, RObj, Spec, redis_command
from simcache.sim.redis.proto import as_bytes, upper_name
from simcache.sim.redis.server import RedisServer
from simcache.sim.rpc import ReplyError, ResponseError

if TYPE_CHECKING:
    from simcache.sim.world import World

#: CLUSTER_SLOTS (cluster.h)
CLUSTER_SLOTS = 16384
#: CLUSTER_FAIL_REPORT_VALIDITY_MULT, CLUSTER_FAIL_UNDO_TIME_MULT (cluster.h)
FAIL_REPORT_VALIDITY_MULT = 2
FAIL_UNDO_TIME_MULT = 2
#: CLUSTER_WRITABLE_DELAY, CLUSTER_MIN_REJOIN_DELAY, CLUSTER_MAX_REJOIN_DELAY (cluster.c), milliseconds
WRITABLE_DELAY_MS = 2000
MIN_REJOIN_DELAY_MS = 500
MAX_REJOIN_DELAY_MS = 5000
#: clusterCron's period (serverCron runs it every 100 ms)
CRON_PERIOD = 0.1
#: cluster-slave-validity-factor and repl-ping-replica-period defaults
SLAVE_VALIDITY_FACTOR = 10
REPL_PING_PERIOD_S = 10

# --------------------------------------------------------------------------- slots
_CRC16_TABLE: list[int] = []
for _i in range(256):
    _c = _i << 8
    for _ in range(8):
        _c = ((_c << 1) ^ 0x1021) if _c & 0x8000 else (_c << 1)
    _CRC16_TABLE.append(_c & 0xFFFF)


def crc16(data: bytes) -> int:
    """CRC16-XMODEM as ``crc16.c`` (polynomial 0x1021, initial 0, no reflection): ``crc16(b"123456789") == 0x31C3``."""
    crc = 0
    tab = _CRC16_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ tab[((crc >> 8) ^ b) & 0xFF]
    return crc


@functools.lru_cache(maxsize=1 << 16)
def _slot_of(key: bytes) -> int:
    s = key.find(b"{")
    if s != -1:
        e = key.find(b"}", s + 1)
        if e != -1 and e != s + 1:
            return crc16(key[s + 1:e]) & 0x3FFF
    return crc16(key) & 0x3FFF


def key_hash_slot(key: Any) -> int:
    """``keyHashSlot``: the slot of a key (str is UTF-8 encoded); only the first non-empty ``{tag}`` is hashed."""
    return _slot_of(key if isinstance(key, bytes) else as_bytes(key))


def node_id(name: str) -> str:
    """A 40-hex-digit node id for a component name (a real node draws it at random once)."""
    return hashlib.sha1(f"simcache-cluster-node:{name}".encode()).hexdigest()


def spread_slots(masters: int) -> list[tuple[int, int]]:
    """Slot ranges ``redis-cli --cluster create`` gives ``masters`` masters (``clusterManagerCommandCreate``)."""
    if masters < 1:
        raise UsageError(f"a cluster needs at least 1 master, got {masters!r}")
    per = CLUSTER_SLOTS / masters
    out = []
    first, cursor = 0, 0.0
    for i in range(masters):
        last = int(_lround(cursor + per - 1))
        if last > CLUSTER_SLOTS or i == masters - 1:
            last = CLUSTER_SLOTS - 1
        last = max(last, first)
        out.append((first, last))
        first = last + 1
        cursor += per
    return out


def _lround(x: float) -> int:
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


# ------------------------------------------------------------------ key positions
#: command -> (first key, last key (negative: from the end), step), the legacy key range of ``commands.def``
KEY_SPECS: dict[str, tuple[int, int, int]] = {
    **dict.fromkeys(("DEL", "UNLINK", "EXISTS", "TOUCH", "MGET", "SDIFF", "SINTER", "SUNION"), (1, -1, 1)),
    **dict.fromkeys(("MSET", "MSETNX"), (1, -1, 2)),
    **dict.fromkeys(("BLPOP", "BRPOP"), (1, -2, 1)),
    **dict.fromkeys((
        "GET", "SET", "SETEX", "PSETEX", "SETNX", "GETSET", "GETDEL", "GETEX", "STRLEN", "INCR", "DECR", "INCRBY",
        "DECRBY", "INCRBYFLOAT", "APPEND", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "TTL", "PTTL",
        "EXPIRETIME", "PEXPIRETIME", "PERSIST", "TYPE", "DUMP", "RESTORE", "RESTORE-ASKING", "HSET", "HSETNX",
        "HGET", "HMGET", "HMSET", "HGETALL", "HKEYS", "HVALS", "HDEL", "HLEN", "HEXISTS", "HINCRBY",
        "HINCRBYFLOAT", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LPOP", "RPOP", "LRANGE", "LLEN", "LINDEX", "LTRIM",
        "LSET", "LREM", "SADD", "SREM", "SMEMBERS", "SCARD", "SISMEMBER", "SMISMEMBER", "SPOP", "SRANDMEMBER",
        "ZADD", "ZINCRBY", "ZREM", "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE",
        "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZCOUNT", "ZCARD", "ZSCORE", "ZMSCORE", "ZRANK", "ZREVRANK",
        "OBJECT|ENCODING"), (1, 1, 1)),
}
#: commands whose keys follow a numkeys argument at position 2 (EVAL script numkeys key...)
NUMKEYS_AT_2 = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})


def command_keys(name: str, argv: Sequence[Any]) -> list[Any]:
    """The keys of a command (``getKeysFromCommand``) from :data:`KEY_SPECS`; ``argv`` includes the name."""
    if name in NUMKEYS_AT_2:
        try:
            n = int(as_bytes(argv[2]))
        except (IndexError, ValueError):
            return []
        return list(argv[3:3 + max(n, 0)])
    spec = KEY_SPECS.get(name)
    if spec is None:
        return []
    first, last, step = spec
    end = len(argv) + last if last < 0 else last
    return [argv[i] for i in range(first, min(end, len(argv) - 1) + 1, step)]


# ------------------------------------------------------------------ cluster view
@dataclass(eq=False)
class NodeView:
    """What one node knows about another (``clusterNode``): role, slots, epochs, timers, failure reports."""

    id: str
    name: str
    server: ClusterNode
    master: bool = True
    slaveof: str | None = None
    config_epoch: int = 0
    pfail: bool = False
    fail: bool = False
    fail_time: float = 0.0
    #: seconds; 0: no PING in flight
    ping_sent: float = 0.0
    pong_received: float = 0.0
    data_received: float = 0.0
    #: reporter id -> when it last reported this node PFAIL/FAIL
    fail_reports: dict[str, float] = field(default_factory=dict)
    #: when this node (a master) last had a replica voted for
    voted_time: float = -1e18
    repl_offset: int = 0
    numslots: int = 0
    #: the bus link to this node is up, and when it was made (clusterLink ctime)
    link: bool = True
    link_ctime: float = 0.0

    @property
    def failed(self) -> bool:
        return self.fail


@dataclass
class Message:
    """A cluster bus message (``clusterMsg``): the sender's header and, for PING/PONG, a gossip section."""

    type: str  # PING PONG FAIL UPDATE FAILOVER_AUTH_REQUEST FAILOVER_AUTH_ACK
    sender: str
    current_epoch: int
    config_epoch: int
    master: bool
    slaveof: str | None
    slots: frozenset[int]
    offset: int
    #: (id, pfail, fail, pong_received in whole seconds) per gossiped node (clusterMsgDataGossip)
    gossip: list[tuple[str, bool, bool, int]] = field(default_factory=list)
    about: str | None = None  # FAIL: the failed node; UPDATE: the owner
    about_epoch: int = 0
    about_slots: frozenset[int] = frozenset()

    @property
    def size(self) -> int:
        # clusterMsg header (2256 bytes with the 2 KB slot bitmap) + 104 bytes per gossip entry
        return 2256 + 104 * len(self.gossip)


class ClusterNode(RedisServer):
    """A Redis server in cluster mode (``cluster-enabled yes``): slots, redirections, the bus, failover.

    Nodes are wired together with :func:`create_cluster` (or :meth:`meet` by hand).

    Args:
        world: the simulation world.
        name: component name (also its node and its host in MOVED/ASK replies).
        node_timeout: ``cluster-node-timeout`` in seconds (the seed: 5).
        require_full_coverage: ``cluster-require-full-coverage``.
        port: the port in MOVED/ASK replies and CLUSTER SLOTS/NODES.
        bus: run the cluster bus (False: slots and redirections only, for tests of those).
        **server: the :class:`~simcache.sim.redis.server.RedisServer` arguments (service, maxmemory...).
    """

    cluster_enabled = True

    def __init__(self, world: World, name: str, *, node_timeout: float = 5.0, require_full_coverage: bool = True,
                 port: int = 6379, bus: bool = True, **server: Any) -> None:
        super().__init__(world, name, port=port, **server)
        if not node_timeout > 0:
            raise UsageError(f"{name}: node_timeout must be > 0 seconds, got {node_timeout!r}")
        self.node_timeout = float(node_timeout)
        self.require_full_coverage = bool(require_full_coverage)
        self.id = node_id(name)
        self.myself = NodeView(self.id, name, self)
        self.nodes: dict[str, NodeView] = {self.id: self.myself}
        #: slot -> owner id (None: unassigned)
        self.slots: list[str | None] = [None] * CLUSTER_SLOTS
        self._owned_cache: dict[str, frozenset[int]] = {}
        self._ranges_cache: dict[str, list[tuple[int, int]]] = {}
        self.migrating_to: dict[int, str] = {}
        self.importing_from: dict[int, str] = {}
        self.current_epoch = 0
        self.last_vote_epoch = 0
        self.state_ok = False
        self.size = 0
        self._first_state_call: float | None = None
        self._among_minority_time = -1e18
        self._asking: set[Any] = set()
        self._readonly: set[Any] = set()
        self._slot_keys: dict[int, dict[Any, None]] = {}
        self._extra_service = 0.0
        self._migrated: list[Any] = []
        # failover (replica side)
        self.failover_auth_time = -1e18
        self.failover_auth_sent = False
        self.failover_auth_count = 0
        self.failover_auth_rank = 0
        self.failover_auth_epoch = 0
        #: events of interest, (time, kind, detail), also put on the world's timeline markers
        self.events: list[tuple[float, str, str]] = []
        self.stats_bus = {"messages_sent": 0, "messages_received": 0}
        self.stats_redirects = {"moved": 0, "ask": 0, "tryagain": 0, "crossslot": 0, "clusterdown": 0}
        self.bus_enabled = bool(bus)
        self._bus_rng = world.rng(f"{name}:cluster-bus")
        self._iteration = 0
        if bus:
            self.env.process(self._cluster_cron())

    # ----------------------------------------------------------- wiring
    def meet(self, other: ClusterNode) -> None:
        """Know ``other`` (as after ``CLUSTER MEET`` and the handshake), with its current role."""
        if other.id in self.nodes:
            return
        now = self.env.now
        self.nodes[other.id] = NodeView(other.id, other.name, other, master=other.myself.master,
                                        slaveof=other.myself.slaveof, config_epoch=other.myself.config_epoch,
                                        pong_received=now, data_received=now)

    @property
    def master_view(self) -> NodeView | None:
        """This replica's master, as this node knows it."""
        return self.nodes.get(self.myself.slaveof) if self.myself.slaveof else None

    def owner(self, slot: int) -> ClusterNode | None:
        """The server this node believes serves ``slot``."""
        nid = self.slots[slot]
        return None if nid is None else self.nodes[nid].server

    def slot_ranges(self, nid: str | None = None) -> list[tuple[int, int]]:
        """Contiguous slot ranges owned by ``nid`` (default: this node), as this node sees them."""
        nid = nid or self.id
        got = self._ranges_cache.get(nid)
        if got is not None:
            return got
        out: list[tuple[int, int]] = []
        start = -1
        prev = -2
        for s in sorted(self.owned(nid)):
            if s != prev + 1:
                if start >= 0:
                    out.append((start, prev))
                start = s
            prev = s
        if start >= 0:
            out.append((start, prev))
        self._ranges_cache[nid] = out
        return out

    def owned(self, nid: str) -> frozenset[int]:
        """The slots ``nid`` serves in this node's view (cached until the slot map changes)."""
        got = self._owned_cache.get(nid)
        if got is None:
            got = self._owned_cache[nid] = frozenset(s for s, o in enumerate(self.slots) if o == nid)
        return got

    def _recount(self) -> None:
        self._owned_cache.clear()
        self._ranges_cache.clear()
        for v in self.nodes.values():
            v.numslots = 0
        for nid in self.slots:
            if nid is not None:
                self.nodes[nid].numslots += 1

    def assign(self, slots: Iterable[int], nid: str) -> None:
        """Set the owner of ``slots`` in this node's view (``clusterAddSlot``/``clusterDelSlot``)."""
        nodes = self.nodes
        for s in slots:
            old = self.slots[s]
            if old is not None:
                nodes[old].numslots -= 1
            self.slots[s] = nid
            nodes[nid].numslots += 1
        self._owned_cache.clear()
        self._ranges_cache.clear()

    def mark(self, kind: str, detail: str = "") -> None:
        """Record a cluster event on this node and on the world's timeline."""
        self.events.append((self.env.now, kind, detail))
        self.world.recorder.mark(self.env.now, self.name, kind, detail)

    def addr(self, v: NodeView | None = None) -> str:
        v = v or self.myself
        return f"{v.name}:{v.server.port}"

    # -------------------------------------------------------- keyspace index
    def db_add(self, key: Any, obj: RObj) -> None:
        super().db_add(key, obj)
        if isinstance(key, bytes):
            slot = _slot_of(key)
            d = self._slot_keys.get(slot)
            if d is None:
                d = self._slot_keys[slot] = {}
            d.pop(key, None)  # a key deleted and added again is new: it goes first (slotToKeyAddEntry)
            d[key] = None

    def keys_in_slot(self, slot: int) -> list[Any]:
        """The live keys of ``slot`` here, newest first (``slot_to_keys``: each new key goes to the list's head)."""
        d = self._slot_keys.get(slot)
        if not d:
            return []
        data = self.data
        for k in [k for k in d if k not in data]:
            del d[k]
        return list(reversed(d))

    def count_keys_in_slot(self, slot: int) -> int:
        return len(self.keys_in_slot(slot))

    # ---------------------------------------------------------- redirection
    def cluster_redirect(self, spec: Spec, argv: tuple[Any, ...], st: ClientState) -> str | None:
        """``getNodeByQuery`` + ``clusterRedirectClient``: None to serve here, else the error text."""
        name = spec.upper
        conn = st.conn
        asking = conn in self._asking
        if name != "ASKING" and st.multi is None and asking:
            self._asking.discard(conn)  # resetClient: ASKING holds for one command
        if name == "EXEC":
            if st.multi is None:
                return None
            cmds = [(s.upper, a) for s, a in st.multi]
        else:
            cmds = [(name, argv)]
        firstkey: Any = None
        slot = 0
        owner: str | None = None
        migrating = importing = multiple = False
        missing = existing = 0
        write = False
        for cname, cargv in cmds:
            keys = command_keys(cname, cargv)
            if keys and cname in self.SPECS and "write" in self.SPECS[cname].flags:
                write = True
            for key in keys:
                this = key_hash_slot(key)
                if firstkey is None:
                    firstkey, slot = key, this
                    owner = self.slots[slot]
                    if owner is None:
                        return self._redir_error(st, name, "clusterdown", "CLUSTERDOWN Hash slot not served")
                    if owner == self.id and slot in self.migrating_to:
                        migrating = True
                    elif slot in self.importing_from:
                        importing = True
                elif key != firstkey:
                    if this != slot:
                        return self._redir_error(st, name, "crossslot",
                                                 "CROSSSLOT Keys in request don't hash to the same slot")
                    multiple = True
                if migrating or importing:
                    if self.data.get(key) is None or self.key_is_expired(key):
                        missing += 1
                    else:
                        existing += 1
        if owner is None:
            return None  # no key at all: served here
        if not self.state_ok:
            return self._redir_error(st, name, "clusterdown", "CLUSTERDOWN The cluster is down")
        if (migrating or importing) and name == "MIGRATE":
            return None
        if migrating and missing:
            if existing:
                return self._redir_error(st, name, "tryagain", "TRYAGAIN Multiple keys request during rehashing "
                                                               "of slot")
            target = self.nodes[self.migrating_to[slot]]
            return self._redir_error(st, name, "ask", f"ASK {slot} {self.addr(target)}")
        if importing and (asking or "asking" in spec.flags):
            if multiple and missing:
                return self._redir_error(st, name, "tryagain", "TRYAGAIN Multiple keys request during rehashing "
                                                               "of slot")
            return None
        if (conn in self._readonly and not write and not self.myself.master
                and self.myself.slaveof == owner):
            return None
        if owner != self.id:
            return self._redir_error(st, name, "moved", f"MOVED {slot} {self.addr(self.nodes[owner])}")
        return None

    def _redir_error(self, st: ClientState, name: str, kind: str, text: str) -> str:
        self.stats_redirects[kind] += 1
        if name == "EXEC":
            self.discard_transaction(st)  # processCommand: EXEC redirected discards the transaction
        return text

    # ------------------------------------------------------------ commands
    @redis_command("ASKING", 1, "fast")
    def _asking_cmd(self) -> str:
        self._asking.add(self.client_state().conn)
        return "OK"

    @redis_command("READONLY", 1, "fast loading stale")
    def _readonly_cmd(self) -> str:
        self._readonly.add(self.client_state().conn)
        return "OK"

    @redis_command("READWRITE", 1, "fast loading stale")
    def _readwrite_cmd(self) -> str:
        self._readonly.discard(self.client_state().conn)
        return "OK"

    @redis_command("CLUSTER", -2, "")
    def _cluster(self, sub: Any, *args: Any) -> Any:
        name = upper_name(sub)
        fn = _CLUSTER_SUBCOMMANDS.get(name)
        if fn is None:
            raise ReplyError(f"ERR unknown subcommand '{as_bytes(sub).decode(errors='replace')}'. "
                             "Try CLUSTER HELP.")
        return fn(self, *args)

    def _slot_arg(self, a: Any) -> int:
        try:
            s = int(as_bytes(a))
        except ValueError:
            raise ReplyError("ERR Invalid or out of range slot") from None
        if not 0 <= s < CLUSTER_SLOTS:
            raise ReplyError("ERR Invalid or out of range slot")
        return s

    def _c_keyslot(self, *args: Any) -> int:
        if len(args) != 1:
            raise ReplyError("ERR wrong number of arguments for 'cluster|keyslot' command")
        return key_hash_slot(args[0])

    def _c_countkeysinslot(self, *args: Any) -> int:
        if len(args) != 1:
            raise ReplyError("ERR wrong number of arguments for 'cluster|countkeysinslot' command")
        return self.count_keys_in_slot(self._slot_arg(args[0]))

    def _c_getkeysinslot(self, *args: Any) -> list[Any]:
        if len(args) != 2:
            raise ReplyError("ERR wrong number of arguments for 'cluster|getkeysinslot' command")
        try:
            count = int(as_bytes(args[1]))
        except ValueError:
            raise ReplyError("ERR Invalid slot or number of keys") from None
        if count < 0:
            raise ReplyError("ERR Invalid slot or number of keys")
        return self.keys_in_slot(self._slot_arg(args[0]))[:count]

    def _c_myid(self) -> bytes:
        return self.id.encode()

    def _node_entry(self, v: NodeView) -> list[Any]:
        return [v.name.encode(), v.server.port, v.id.encode(), []]

    def _c_slots(self) -> list[Any]:
        """``clusterReplyMultiBulkSlots``: per contiguous range of a master, [start, end, master, replicas...]."""
        out: list[Any] = []
        for v in self.nodes.values():
            if not v.master or not v.numslots:
                continue
            replicas = [r for r in self.nodes.values() if not r.master and r.slaveof == v.id and not r.fail]
            for a, b in self.slot_ranges(v.id):
                out.append([a, b, self._node_entry(v)] + [self._node_entry(r) for r in replicas])
        return out

    def _flags(self, v: NodeView) -> str:
        f = []
        if v is self.myself:
            f.append("myself")
        f.append("master" if v.master else "slave")
        if v.pfail:
            f.append("fail?")
        if v.fail:
            f.append("fail")
        return ",".join(f)

    def _c_nodes(self) -> bytes:
        """``clusterGenNodesDescription``: one line per node, as CLUSTER NODES prints it."""
        lines = []
        for v in self.nodes.values():
            parts = [v.id, f"{v.name}:{v.server.port}@{v.server.port + 10000}", self._flags(v),
                     v.slaveof or "-", str(int(v.ping_sent * 1000)), str(int(v.pong_received * 1000)),
                     str(v.config_epoch), "connected"]
            for a, b in self.slot_ranges(v.id):
                parts.append(str(a) if a == b else f"{a}-{b}")
            if v is self.myself:
                parts += [f"[{s}->-{t}]" for s, t in sorted(self.migrating_to.items())]
                parts += [f"[{s}-<-{t}]" for s, t in sorted(self.importing_from.items())]
            lines.append(" ".join(parts))
        return ("\n".join(lines) + "\n").encode()

    def _c_shards(self) -> list[Any]:
        """CLUSTER SHARDS (7.0): per master, its slot ranges and the nodes of its shard."""
        out: list[Any] = []
        for v in self.nodes.values():
            if not v.master:
                continue
            members = [v] + [r for r in self.nodes.values() if not r.master and r.slaveof == v.id]
            slots: list[int] = []
            for a, b in self.slot_ranges(v.id):
                slots += [a, b]
            nodes = [[b"id", m.id.encode(), b"port", m.server.port, b"ip", m.name.encode(),
                      b"endpoint", m.name.encode(), b"role", b"master" if m.master else b"replica",
                      b"replication-offset", m.repl_offset, b"health", b"fail" if m.fail else b"online"]
                     for m in members]
            out.append([b"slots", slots, b"nodes", nodes])
        return out

    def _c_info(self) -> bytes:
        assigned = sum(1 for s in self.slots if s is not None)
        pfail = sum(1 for s in self.slots if s is not None and self.nodes[s].pfail)
        fail = sum(1 for s in self.slots if s is not None and self.nodes[s].fail)
        fields = {
            "cluster_state": "ok" if self.state_ok else "fail", "cluster_slots_assigned": assigned,
            "cluster_slots_ok": assigned - pfail - fail, "cluster_slots_pfail": pfail, "cluster_slots_fail": fail,
            "cluster_known_nodes": len(self.nodes), "cluster_size": self.size,
            "cluster_current_epoch": self.current_epoch, "cluster_my_epoch": self._my_epoch(),
            "cluster_stats_messages_sent": self.stats_bus["messages_sent"],
            "cluster_stats_messages_received": self.stats_bus["messages_received"],
            "total_cluster_links_buffer_limit_exceeded": 0}
        return "".join(f"{k}:{v}\r\n" for k, v in fields.items()).encode()

    def _my_epoch(self) -> int:
        mv = self.master_view
        return mv.config_epoch if mv is not None and not self.myself.master else self.myself.config_epoch

    def _c_addslots(self, *args: Any) -> str:
        if not args:
            raise ReplyError("ERR wrong number of arguments for 'cluster|addslots' command")
        slots = [self._slot_arg(a) for a in args]
        for s in slots:
            if self.slots[s] is not None:
                raise ReplyError(f"ERR Slot {s} is already busy")
        self.assign(slots, self.id)
        self.update_state()
        return "OK"

    def _c_addslotsrange(self, *args: Any) -> str:
        if not args or len(args) % 2:
            raise ReplyError("ERR wrong number of arguments for 'cluster|addslotsrange' command")
        slots: list[int] = []
        for a, b in zip(args[::2], args[1::2], strict=True):
            lo, hi = self._slot_arg(a), self._slot_arg(b)
            if lo > hi:
                raise ReplyError(f"ERR start slot number {lo} is greater than end slot number {hi}")
            slots += range(lo, hi + 1)
        return self._c_addslots(*[str(s).encode() for s in slots])

    def _c_delslots(self, *args: Any) -> str:
        slots = [self._slot_arg(a) for a in args]
        for s in slots:
            if self.slots[s] is None:
                raise ReplyError(f"ERR Slot {s} is already unassigned")
        for s in slots:
            self.slots[s] = None
            self.migrating_to.pop(s, None)
            self.importing_from.pop(s, None)
        self._recount()
        self.update_state()
        return "OK"

    def _c_setslot(self, *args: Any) -> str:
        """``CLUSTER SETSLOT slot MIGRATING|IMPORTING|NODE id`` / ``STABLE`` (``clusterCommand``)."""
        if len(args) < 2:
            raise ReplyError("ERR wrong number of arguments for 'cluster|setslot' command")
        if not self.myself.master:
            raise ReplyError("ERR Please use SETSLOT only with masters.")
        slot = self._slot_arg(args[0])
        action = upper_name(args[1])
        target = as_bytes(args[2]).decode() if len(args) > 2 else None
        if action == "MIGRATING" and target is not None:
            if self.slots[slot] != self.id:
                raise ReplyError(f"ERR I'm not the owner of hash slot {slot}")
            if target not in self.nodes:
                raise ReplyError(f"ERR I don't know about node {target}")
            if not self.nodes[target].master:
                raise ReplyError("ERR Target node is not a master")
            self.migrating_to[slot] = target
        elif action == "IMPORTING" and target is not None:
            if self.slots[slot] == self.id:
                raise ReplyError(f"ERR I'm already the owner of hash slot {slot}")
            if target not in self.nodes:
                raise ReplyError(f"ERR I don't know about node {target}")
            if not self.nodes[target].master:
                raise ReplyError("ERR Target node is not a master")
            self.importing_from[slot] = target
        elif action == "STABLE" and target is None:
            self.migrating_to.pop(slot, None)
            self.importing_from.pop(slot, None)
        elif action == "NODE" and target is not None:
            v = self.nodes.get(target)
            if v is None:
                raise ReplyError(f"ERR Unknown node {target}")
            if not v.master:
                raise ReplyError("ERR Target node is not a master")
            if self.slots[slot] == self.id and target != self.id and self.count_keys_in_slot(slot):
                raise ReplyError(f"ERR Can't assign hashslot {slot} to a different node while I still hold keys "
                                 "for this hash slot.")
            if self.count_keys_in_slot(slot) == 0 and slot in self.migrating_to:
                del self.migrating_to[slot]
            if target == self.id and slot in self.importing_from:
                # the import is over: this node takes the slot with a new config epoch, so that every node
                # accepts its claim (clusterBumpConfigEpochWithoutConsensus)
                del self.importing_from[slot]
                self.assign([slot], target)
                self._bump_epoch_without_consensus()
            else:
                self.assign([slot], target)
            self.update_state()
        else:
            raise ReplyError("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
        return "OK"

    def _bump_epoch_without_consensus(self) -> None:
        max_epoch = max(v.config_epoch for v in self.nodes.values())
        if self.myself.config_epoch == 0 or self.myself.config_epoch != max_epoch:
            self.current_epoch += 1
            self.myself.config_epoch = self.current_epoch

    def _c_count_failure_reports(self, *args: Any) -> int:
        if len(args) != 1:
            raise ReplyError("ERR wrong number of arguments for 'cluster|count-failure-reports' command")
        v = self.nodes.get(as_bytes(args[0]).decode())
        if v is None:
            raise ReplyError(f"ERR Unknown node {as_bytes(args[0]).decode()}")
        return self._count_reports(v)

    # MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [KEYS key ...]
    @redis_command("MIGRATE", -6, "write")
    def _migrate(self, host: Any, port: Any, key: Any, db: Any, timeout: Any, *opts: Any) -> Any:
        """``migrateCommand``: move keys to another node (see the module docstring for the timing)."""
        copy = replace = False
        keys: list[Any] = [key] if as_bytes(key) else []
        i = 0
        while i < len(opts):
            o = upper_name(opts[i])
            if o == "COPY":
                copy = True
            elif o == "REPLACE":
                replace = True
            elif o == "KEYS":
                if as_bytes(key):
                    raise ReplyError("ERR When using MIGRATE KEYS option, the key argument must be set to the "
                                     "empty string")
                keys = list(opts[i + 1:])
                break
            else:
                raise ReplyError("ERR syntax error")
            i += 1
        try:
            timeout_ms = int(as_bytes(timeout))
        except ValueError:
            raise ReplyError("ERR value is not an integer or out of range") from None
        live = [k for k in keys if self.lookup(k, nostats=True, notouch=True) is not None]
        if not live:
            return "NOKEY"
        target = self._by_addr(as_bytes(host).decode(), int(as_bytes(port)))
        net = self.world.network
        rtt = None
        if target is not None and target.up and not target.paused:
            there = net.transit(self.node, target.node)
            back = net.transit(target.node, self.node)
            if there is not None and back is not None:
                rtt = there + back
        if rtt is None:
            self._extra_service = max(timeout_ms, 1) / 1000
            raise ReplyError("IOERR error or timeout connecting to the client")
        assert target is not None
        for k in live:
            if not replace and target.data.get(k) is not None and not target.key_is_expired(k):
                self._extra_service = rtt
                raise ReplyError("ERR Target instance replied with error: BUSYKEY Target key name already exists.")
        for k in live:
            obj = self.data[k]
            reply = target.restore(k, obj, self.get_expire(k))
            if isinstance(reply, ResponseError):
                self._extra_service = rtt
                raise ReplyError(f"ERR Target instance replied with error: {reply}")
            if not copy:
                self.remove(k)
                self._migrated.append(k)
        self._extra_service = rtt
        return "OK"

    def rewrite_for_propagation(self, name: str, argv: tuple[Any, ...], reply: Any) -> tuple[Any, ...]:
        """A MIGRATE reaches the replicas as the DEL of the keys it moved (``migrateCommand``)."""
        if name == "MIGRATE":
            keys, self._migrated = self._migrated, []
            return (b"DEL", *keys)
        out: tuple[Any, ...] = super().rewrite_for_propagation(name, argv, reply)
        return out

    def restore(self, key: Any, obj: RObj, when: int) -> Any:
        """``RESTORE-ASKING key ttl payload REPLACE`` from a MIGRATE, applied here (unix ms expiry or -1): the reply."""
        st = self.client_state(None)
        return self.process((b"RESTORE-ASKING", key, when, obj), st)

    @redis_command("RESTORE-ASKING", 4, "write denyoom asking")
    def _restore_asking(self, key: Any, when: Any, obj: Any) -> str:
        if not isinstance(obj, RObj):
            raise ReplyError("ERR DUMP payload version or checksum are wrong")
        self.set_key(key, _copy_obj(obj))  # a replica applying the stream gets its own copy too
        w = int(when) if not isinstance(when, bytes) else int(when)
        if w >= 0:
            self.set_expire(key, w)
        return "OK"

    def _by_addr(self, host: str, port: int) -> ClusterNode | None:
        for v in self.nodes.values():
            if v.name == host and v.server.port == port:
                return v.server
        return None

    def service_time(self, call: Any) -> float:
        t = super().service_time(call)
        if self._extra_service:
            t += self._extra_service  # a MIGRATE holds the event loop for its round trip
            self._extra_service = 0.0
        return t

    # --------------------------------------------------------------- state
    def update_state(self) -> None:
        """``clusterUpdateState``."""
        now_ms = self.env.now * 1000
        if self._first_state_call is None:
            self._first_state_call = now_ms
        if self.myself.master and not self.state_ok and now_ms - self._first_state_call < WRITABLE_DELAY_MS:
            return
        new_ok = True
        if self.require_full_coverage:
            # a slot unassigned, or served by a FAIL node (the counts per node say it without a walk)
            served = 0
            for v in self.nodes.values():
                served += v.numslots
                if v.fail and v.numslots:
                    new_ok = False
            if served < CLUSTER_SLOTS:
                new_ok = False
        self.size = 0
        reachable = 0
        for v in self.nodes.values():
            if v.master and v.numslots:
                self.size += 1
                if not (v.fail or v.pfail):
                    reachable += 1
        if reachable < self.size // 2 + 1:
            new_ok = False
            self._among_minority_time = now_ms
        if new_ok != self.state_ok:
            rejoin = min(max(self.node_timeout * 1000, MIN_REJOIN_DELAY_MS), MAX_REJOIN_DELAY_MS)
            if new_ok and self.myself.master and now_ms - self._among_minority_time < rejoin:
                return
            self.state_ok = new_ok
            self.mark("cluster-state-ok" if new_ok else "cluster-state-fail")

    # ----------------------------------------------------------------- bus
    def _send_bus(self, v: NodeView, msg: Message) -> None:
        self.stats_bus["messages_sent"] += 1
        self.world.network.send(self.node, v.server.node, msg.size, v.server._bus_deliver, msg)

    def _bus_deliver(self, msg: Message) -> None:
        if not self.up or not self.bus_enabled:
            return
        if self.paused:
            epoch = self.epoch
            t = self.env.timeout(self.paused_until - self.env.now)
            t.callbacks.append(lambda _e: self._bus_deliver(msg) if self.epoch == epoch else None)
            return
        self.process_packet(msg)

    def _header(self, type_: str) -> Message:
        me = self.myself
        mv = self.master_view
        # a replica advertises its master's slots (clusterBuildMessageHdr)
        owner = me.id if me.master or mv is None else mv.id
        slots = self.owned(owner) if self._owns_any(owner) else frozenset()
        return Message(type_, me.id, self.current_epoch, self._my_epoch(), me.master, me.slaveof, slots,
                       self.repl_offset())

    def _owns_any(self, nid: str) -> bool:
        v = self.nodes.get(nid)
        return v is not None and v.numslots > 0

    def repl_offset(self) -> int:
        """This node's replication offset (``replicationGetSlaveOffset`` for a replica, the master's own)."""
        return int(self.master_repl_offset)

    def send_ping(self, v: NodeView, type_: str = "PING") -> None:
        """``clusterSendPing``: the header plus a gossip section."""
        msg = self._header(type_)
        others = [n for n in self.nodes.values() if n is not self.myself and n is not v]
        wanted = min(max(3, len(self.nodes) // 10), max(len(self.nodes) - 2, 0))
        healthy = [n for n in others if not n.pfail]
        picks: list[NodeView] = []
        if healthy and wanted:
            idx = self._bus_rng.permutation(len(healthy))[:wanted]
            picks = [healthy[int(i)] for i in idx]
        picks += [n for n in others if n.pfail]
        msg.gossip = [(n.id, n.pfail, n.fail, int(n.pong_received)) for n in picks]
        if type_ == "PING" and v.ping_sent == 0:
            v.ping_sent = self.env.now
        self._send_bus(v, msg)

    def broadcast(self, msg_or_type: Message | str) -> None:
        for v in list(self.nodes.values()):
            if v is self.myself:
                continue
            if isinstance(msg_or_type, str):
                self.send_ping(v, msg_or_type)
            else:
                self._send_bus(v, msg_or_type)

    def _cluster_cron(self) -> Generator[simpy.Event, Any, None]:
        """``clusterCron`` every 100 ms (a random phase per node, as their server crons are unaligned)."""
        yield self.env.timeout(float(self._bus_rng.uniform(0, CRON_PERIOD)))
        while True:
            if self.up and not self.paused:
                self.cluster_cron()
            yield self.env.timeout(CRON_PERIOD)

    def cluster_cron(self) -> None:
        """One ``clusterCron`` tick: pings, PFAIL detection, the replica's failover, the state."""
        self._iteration += 1
        now = self.env.now
        timeout = self.node_timeout
        views = list(self.nodes.values())
        if self._iteration % 10 == 0:
            best: NodeView | None = None
            for _ in range(5):
                v = views[int(self._bus_rng.integers(len(views)))]
                if not v.link or v.ping_sent != 0 or v is self.myself:
                    continue
                if best is None or best.pong_received > v.pong_received:
                    best = v
            if best is not None:
                self.send_ping(best)
        net = self.world.network
        for v in views:
            # clusterNodeCronHandleReconnect: a freed link is made again as soon as a connect can succeed, and a
            # PING goes out on it at once (keeping the time of the PING still unanswered)
            if v is not self.myself and not v.link and v.server.up and net.reachable(self.node, v.server.node):
                v.link = True
                v.link_ctime = now
                old = v.ping_sent
                self.send_ping(v)
                if old:
                    v.ping_sent = old
        for v in views:
            if v is self.myself:
                continue
            if (v.link and now - v.link_ctime > timeout and v.ping_sent and now - v.ping_sent > timeout / 2
                    and now - v.data_received > timeout / 2):
                v.link = False  # no data for half the node timeout: free the link, it is remade next tick
            if v.link and v.ping_sent == 0 and now - v.pong_received > timeout / 2:
                self.send_ping(v)
                continue
            if v.ping_sent == 0:
                continue
            delay = min(now - v.ping_sent, now - v.data_received)
            if delay > timeout and not (v.pfail or v.fail):
                v.pfail = True
                self.mark("pfail", v.name)
        if not self.myself.master:
            self.handle_slave_failover()
        # clusterCron updates the state when a flag changed or the state is fail; clusterBeforeSleep after
        # every event that changed a flag: here once a tick, which is as often
        self.update_state()

    def _count_reports(self, v: NodeView) -> int:
        """``clusterNodeFailureReportsCount`` after ``clusterNodeCleanupFailureReports``."""
        limit = self.node_timeout * FAIL_REPORT_VALIDITY_MULT
        now = self.env.now
        for r in [r for r, t in v.fail_reports.items() if now - t > limit]:
            del v.fail_reports[r]
        return len(v.fail_reports)

    def _mark_failing_if_needed(self, v: NodeView) -> None:
        """``markNodeAsFailingIfNeeded``."""
        if not v.pfail or v.fail:
            return
        failures = self._count_reports(v) + (1 if self.myself.master else 0)
        if failures < self.size // 2 + 1:
            return
        v.pfail = False
        v.fail = True
        v.fail_time = self.env.now
        self.mark("fail", v.name)
        m = self._header("FAIL")
        m.about = v.id
        self.broadcast(m)
        self.update_state()

    def process_packet(self, msg: Message) -> None:
        """``clusterProcessPacket`` (the parts that change timing and outcomes)."""
        self.stats_bus["messages_received"] += 1
        sender = self.nodes.get(msg.sender)
        if sender is None or sender is self.myself:
            return
        now = self.env.now
        sender.data_received = now
        if msg.current_epoch > self.current_epoch:
            self.current_epoch = msg.current_epoch
        if msg.config_epoch > sender.config_epoch and msg.master:
            sender.config_epoch = msg.config_epoch
        sender.repl_offset = msg.offset
        t = msg.type
        if t == "PING":
            self.send_ping(sender, "PONG")
        if t in ("PING", "PONG"):
            if t == "PONG":
                sender.pong_received = now
                sender.ping_sent = 0
                if sender.pfail:
                    sender.pfail = False
                    self.update_state()
                elif sender.fail:
                    self._clear_failure_if_needed(sender)
            self._update_role(sender, msg)
            if msg.master:
                self._update_slots(sender, msg.config_epoch, msg.slots)
            for gid, pfail, fail, pong_s in msg.gossip:  # clusterProcessGossipSection
                g = self.nodes.get(gid)
                if g is None or g is self.myself:
                    continue
                if sender.master:
                    if pfail or fail:
                        g.fail_reports[sender.id] = now
                        self._mark_failing_if_needed(g)
                    else:
                        g.fail_reports.pop(sender.id, None)
                # the sender heard from g more recently than we did: take its PONG time (fewer PINGs needed)
                if not (pfail or fail) and g.ping_sent == 0 and self._count_reports(g) == 0 \
                        and g.pong_received < pong_s <= now + 0.5:
                    g.pong_received = float(pong_s)
        elif t == "FAIL":
            g = self.nodes.get(msg.about or "")
            if g is not None and g is not self.myself and not g.fail:
                g.fail = True
                g.pfail = False
                g.fail_time = now
                self.mark("fail", g.name)
                self.update_state()
        elif t == "UPDATE":
            owner = self.nodes.get(msg.about or "")
            if owner is not None and owner.config_epoch < msg.about_epoch:
                owner.config_epoch = msg.about_epoch
                self._update_slots(owner, msg.about_epoch, msg.about_slots)
        elif t == "FAILOVER_AUTH_REQUEST":
            self._send_auth_if_needed(sender, msg)
        elif t == "FAILOVER_AUTH_ACK":
            if sender.master and sender.numslots and msg.current_epoch >= self.failover_auth_epoch:
                self.failover_auth_count += 1
                self.handle_slave_failover()

    def _clear_failure_if_needed(self, v: NodeView) -> None:
        """``clearNodeFailureIfNeeded``."""
        if not v.master or v.numslots == 0:
            v.fail = False
            self.update_state()
        elif self.env.now - v.fail_time > self.node_timeout * FAIL_UNDO_TIME_MULT:
            v.fail = False
            self.update_state()

    def _update_role(self, sender: NodeView, msg: Message) -> None:
        if msg.master and not sender.master:
            sender.master = True
            sender.slaveof = None
        elif not msg.master:
            if sender.master:
                # a master turned into a replica: clusterDelNodeSlots
                sender.master = False
                if sender.numslots:
                    for s in self.owned(sender.id):
                        self.slots[s] = None
                    self._recount()
                    self.update_state()
            sender.slaveof = msg.slaveof

    def _update_slots(self, sender: NodeView, epoch: int, claimed: frozenset[int]) -> None:
        """``clusterUpdateSlotsConfigWith``, plus the UPDATE reply to a sender with a stale claim."""
        me = self.myself
        stale_owner: NodeView | None = None
        lost_mine = False
        changed = False
        if not self.importing_from and claimed == self.owned(sender.id):
            return  # the common case: nothing new
        for s in claimed:
            cur = self.slots[s]
            if cur == sender.id:
                continue
            if s in self.importing_from:
                continue
            if cur is None or self.nodes[cur].config_epoch < epoch:
                if cur == me.id:
                    lost_mine = True
                self.slots[s] = sender.id
                self.migrating_to.pop(s, None)
                changed = True
            elif self.nodes[cur].config_epoch > epoch:
                stale_owner = self.nodes[cur]
        if changed:
            self._recount()
            if lost_mine and me.master and me.numslots == 0:
                self.become_replica_of(sender)
            elif not me.master and me.slaveof and self.nodes[me.slaveof].numslots == 0 and \
                    self.nodes[me.slaveof] is not sender and sender.master:
                self.become_replica_of(sender)  # our master lost its slots to sender: follow the slots
            self.update_state()
        if stale_owner is not None:
            m = self._header("UPDATE")
            m.about = stale_owner.id
            m.about_epoch = stale_owner.config_epoch
            m.about_slots = self.owned(stale_owner.id)
            self._send_bus(sender, m)

    # ------------------------------------------------------------ failover
    def become_replica_of(self, master: NodeView) -> None:
        """``clusterSetMaster``: this node turns into a replica of ``master`` (and replicates from it)."""
        me = self.myself
        was_master = me.master
        me.master = False
        me.slaveof = master.id
        self.migrating_to.clear()
        self.importing_from.clear()
        self.mark("replicaof", master.name)
        self.set_master(master.name, master.server.port)  # replicationSetMaster
        if was_master:
            self.broadcast("PONG")

    def handle_slave_failover(self) -> None:
        """``clusterHandleSlaveFailover`` (automatic failover only)."""
        me = self.myself
        mv = self.master_view
        now_ms = self.env.now * 1000
        auth_timeout = max(self.node_timeout * 2000, 2000)
        auth_retry = auth_timeout * 2
        auth_age = now_ms - self.failover_auth_time
        if me.master or mv is None or not mv.fail or mv.numslots == 0:
            return
        data_age = (self.env.now - mv.pong_received) * 1000
        if data_age > self.node_timeout * 1000:
            data_age -= self.node_timeout * 1000
        if data_age > REPL_PING_PERIOD_S * 1000 + self.node_timeout * 1000 * SLAVE_VALIDITY_FACTOR:
            return
        if auth_age > auth_retry:
            self.failover_auth_time = now_ms + 500 + int(self._bus_rng.integers(500))
            self.failover_auth_count = 0
            self.failover_auth_sent = False
            self.failover_auth_rank = self.slave_rank()
            self.failover_auth_time += self.failover_auth_rank * 1000
            self.mark("election-scheduled", f"rank {self.failover_auth_rank} in "
                                            f"{self.failover_auth_time - now_ms:.0f} ms")
            for v in self.nodes.values():
                if v is not me and not v.master and v.slaveof == me.slaveof:
                    self.send_ping(v, "PONG")  # clusterBroadcastPong(CLUSTER_BROADCAST_LOCAL_SLAVES)
            return
        if not self.failover_auth_sent:
            newrank = self.slave_rank()
            if newrank > self.failover_auth_rank:
                self.failover_auth_time += (newrank - self.failover_auth_rank) * 1000
                self.failover_auth_rank = newrank
        if now_ms < self.failover_auth_time:
            return
        if auth_age > auth_timeout:
            return
        if not self.failover_auth_sent:
            self.current_epoch += 1
            self.failover_auth_epoch = self.current_epoch
            self.failover_auth_sent = True
            self.mark("election-started", f"epoch {self.current_epoch}")
            self.broadcast(self._header("FAILOVER_AUTH_REQUEST"))
            return
        if self.failover_auth_count >= self.size // 2 + 1:
            self.mark("elected", f"epoch {self.failover_auth_epoch}, {self.failover_auth_count} votes")
            if me.config_epoch < self.failover_auth_epoch:
                me.config_epoch = self.failover_auth_epoch
            self.replace_master()

    def slave_rank(self) -> int:
        """``clusterGetSlaveRank``: replicas of my master with a greater replication offset."""
        mine = self.repl_offset()
        me = self.myself
        return sum(1 for v in self.nodes.values()
                   if v is not me and not v.master and v.slaveof == me.slaveof and v.repl_offset > mine)

    def replace_master(self) -> None:
        """``clusterFailoverReplaceYourMaster``: become master, take the old master's slots, tell everyone."""
        me = self.myself
        old = self.master_view
        assert old is not None
        me.master = True
        me.slaveof = None
        self.unset_master()  # replicationUnsetMaster
        self.assign([s for s in range(CLUSTER_SLOTS) if self.slots[s] == old.id], me.id)
        self.mark("promoted", f"took {me.numslots} slots of {old.name}")
        self.update_state()
        self.broadcast("PONG")

    def _send_auth_if_needed(self, node: NodeView, req: Message) -> None:
        """``clusterSendFailoverAuthIfNeeded``."""
        me = self.myself
        if not me.master or me.numslots == 0:
            return
        if req.current_epoch < self.current_epoch:
            return
        if self.last_vote_epoch == self.current_epoch:
            return
        master = self.nodes.get(node.slaveof or "") if not node.master else None
        if node.master or master is None or not master.fail:
            return
        if self.env.now - master.voted_time < self.node_timeout * 2:
            return
        for s in req.slots:
            cur = self.slots[s]
            if cur is not None and self.nodes[cur].config_epoch > req.config_epoch:
                return
        self.last_vote_epoch = self.current_epoch
        master.voted_time = self.env.now
        self.mark("voted", f"{node.name} epoch {self.current_epoch}")
        self._send_bus(node, self._header("FAILOVER_AUTH_ACK"))

    # ------------------------------------------------------------ faults
    def on_crash(self) -> None:
        super().on_crash()
        self._asking.clear()
        self._readonly.clear()

    def on_restart(self) -> None:
        super().on_restart()
        now = self.env.now
        # clusterInit: the state starts as fail; the view (nodes.conf) is kept; timers start afresh
        self.state_ok = False
        self._first_state_call = None
        for v in self.nodes.values():
            v.ping_sent = 0.0
            v.pong_received = now
            v.data_received = now
            v.link = False  # the links are made again by the next cron

    def reset_state(self) -> None:
        super().reset_state()
        self._slot_keys.clear()

    def info_section(self, name: str) -> str:
        if name == "cluster":
            return "# Cluster\r\ncluster_enabled:1"
        text: str = super().info_section(name)
        return text

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update({f"redirect_{k}": float(v) for k, v in self.stats_redirects.items()})
        d["cluster_state_ok"] = float(self.state_ok)
        return d


def _copy_obj(obj: RObj) -> RObj:
    """A copy of a value for the target of a MIGRATE (DUMP + RESTORE): containers copied, strings shared."""
    import copy

    v = obj.value
    return RObj(obj.type, v if obj.type == "string" else copy.deepcopy(v), obj.size)


_CLUSTER_SUBCOMMANDS: dict[str, Any] = {
    "KEYSLOT": ClusterNode._c_keyslot, "COUNTKEYSINSLOT": ClusterNode._c_countkeysinslot,
    "GETKEYSINSLOT": ClusterNode._c_getkeysinslot, "MYID": ClusterNode._c_myid, "SLOTS": ClusterNode._c_slots,
    "NODES": ClusterNode._c_nodes, "SHARDS": ClusterNode._c_shards, "INFO": ClusterNode._c_info,
    "ADDSLOTS": ClusterNode._c_addslots, "ADDSLOTSRANGE": ClusterNode._c_addslotsrange,
    "DELSLOTS": ClusterNode._c_delslots, "SETSLOT": ClusterNode._c_setslot,
    "COUNT-FAILURE-REPORTS": ClusterNode._c_count_failure_reports,
}


def create_cluster(world: World, masters: int = 3, replicas: int = 1, *, prefix: str = "redis",
                   node_timeout: float = 5.0, require_full_coverage: bool = True, bus: bool = True,
                   **server: Any) -> list[ClusterNode]:
    """Build a cluster as ``redis-cli --cluster create --cluster-replicas R`` leaves it.

    Masters are ``{prefix}-0`` .. ``{prefix}-{masters-1}`` with the slot ranges of :func:`spread_slots`
    and config epochs 1..masters; then ``replicas`` replicas per master
    (``{prefix}-{masters}``...), replica ``j`` of master ``i`` named in that order.  The nodes are
    on network nodes of the same names (link them to each other and to clients yourself).
    Returns masters first, then replicas.
    """
    if int(replicas) != replicas or replicas < 0:
        raise UsageError(f"replicas must be an integer >= 0, got {replicas!r}")
    n = masters * (1 + replicas)
    nodes = [ClusterNode(world, f"{prefix}-{i}", node_timeout=node_timeout,
                         require_full_coverage=require_full_coverage, bus=bus, **server) for i in range(n)]
    ms = nodes[:masters]
    for i, m in enumerate(ms):
        m.myself.config_epoch = i + 1
    for j, r in enumerate(nodes[masters:]):
        r.myself.master = False
        r.myself.slaveof = ms[j % masters].id
    for x in nodes:
        for y in nodes:
            x.meet(y)
    for x in nodes:
        x.current_epoch = masters
        for i, (a, b) in enumerate(spread_slots(masters)):
            x.slots[a:b + 1] = [ms[i].id] * (b - a + 1)
        x._recount()
        x._first_state_call = -WRITABLE_DELAY_MS  # long settled: the cluster starts in state ok
        x.update_state()
    for r in nodes[masters:]:
        mv = r.master_view
        assert mv is not None
        r.set_master(mv.name, mv.server.port)  # CLUSTER REPLICATE: replicationSetMaster
    return nodes
