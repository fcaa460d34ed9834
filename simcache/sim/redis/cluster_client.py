"""A Redis Cluster client (redis-py's ``RedisCluster`` routing) and a resharding process (``redis-cli --cluster reshard``).

:class:`ClusterRouter` plugs into :class:`~simcache.sim.redis.client.Redis`
as its router, following redis-py 5 ``redis/cluster.py``:

* the slot map comes from ``CLUSTER SLOTS`` of the first startup node that
  answers with every slot covered (``NodesManager.initialize``);
* a command goes to the master of its first key's slot (``keyslot``,
  ``determine_slot``); a keyless command to the first master;
* ``MOVED``: the slot is pointed at the named node
  (``_update_moved_slots``), and every ``reinitialize_steps``-th MOVED the whole
  map is read again; the command is resent to the named node;
* ``ASK``: ``ASKING`` and then the command to the named node, on one
  connection, without touching the map;
* ``TRYAGAIN``: resent after 50 ms; ``CLUSTERDOWN``: the map is re-read and the
  command resent after 250 ms, at most ``cluster_error_retry_attempts`` times;
* a connection error or timeout re-reads the map (without the failed node)
  before the client's :class:`~simcache.sim.redis.client.Retry` resends (or
  before the next command: the router turns ``stale`` and the client runs
  its ``resolve``);
* a command is redirected at most ``request_ttl`` (16) times.

Differences from redis-py: the first map is read without the network (at
construction, before the run); a full re-read after a MOVED runs in its own
process while the command follows the MOVED at once (redis-py blocks on it).

:func:`reshard` moves slots between masters while traffic continues, as
``redis-cli --cluster reshard`` does (``clusterManagerMoveSlot``): per slot,
``SETSLOT IMPORTING`` on the target, ``SETSLOT MIGRATING`` on the source, then
``GETKEYSINSLOT`` / ``MIGRATE ... KEYS`` batches of ``pipeline`` keys until
the slot is empty, then ``SETSLOT NODE`` on the target, the source and every
other master.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import simpy

from simcache.errors import UsageError
from simcache.sim.redis.client import Router
from simcache.sim.redis.cluster import CLUSTER_SLOTS, ClusterNode, command_keys, key_hash_slot
from simcache.sim.redis.proto import as_bytes, upper_name
from simcache.sim.rpc import ConnectionError, Deadlines, RemoteError, ResponseError, TimeoutError, call
from simcache.sim.server import Server

if TYPE_CHECKING:
    from simcache.sim.world import World

Gen = Generator[simpy.Event, Any, Any]


class ClusterRouter(Router):
    """redis-py ``RedisCluster`` routing over a simulated cluster (see the module docstring).

    Args:
        world: the simulation world.
        node: the network node the client runs on.
        startup_nodes: nodes to read the slot map from (redis-py's ``startup_nodes``).
        reinitialize_steps: re-read the whole map every this many MOVED (redis-py's default 5; 0: never).
        request_ttl: redirections allowed per command (``RedisClusterRequestTTL``).
        cluster_error_retry_attempts: CLUSTERDOWN retries per command (redis-py's default 3).
        socket_timeout: seconds to wait for ``CLUSTER SLOTS`` while re-reading the map.
    """

    def __init__(self, world: World, node: str, startup_nodes: Sequence[ClusterNode], *, reinitialize_steps: int = 5,
                 request_ttl: int = 16, cluster_error_retry_attempts: int = 3, socket_timeout: float = 1.0) -> None:
        if not startup_nodes:
            raise UsageError("a cluster client needs at least one startup node")
        for field, v in (("reinitialize_steps", reinitialize_steps), ("request_ttl", request_ttl),
                         ("cluster_error_retry_attempts", cluster_error_retry_attempts)):
            if int(v) != v or v < 0:
                raise UsageError(f"{field} must be an integer >= 0, got {v!r}")
        self.world = world
        self.env = world.env
        self.node = node
        self.startup_nodes: list[ClusterNode] = list(startup_nodes)
        self.reinitialize_steps = int(reinitialize_steps)
        self.request_ttl = int(request_ttl)
        self.cluster_error_retry_attempts = int(cluster_error_retry_attempts)
        self._deadlines = Deadlines(self.env, socket_timeout)
        self.slots: list[ClusterNode | None] = [None] * CLUSTER_SLOTS
        self.reinitialize_counter = 0
        self._ttl: dict[Any, int] = {}
        self._down: dict[Any, int] = {}
        self._asking: dict[Any, Server] = {}
        self._refreshing: simpy.Process | None = None
        self._exclude: Server | None = None
        self.stats = {"moved": 0, "ask": 0, "tryagain": 0, "clusterdown": 0, "connection_errors": 0,
                      "refreshes": 0, "refresh_failures": 0}
        for n in self.startup_nodes:
            if n.up and self._load(n._c_slots()):
                break

    # ----------------------------------------------------------- slot map
    def keyslot(self, key: Any) -> int:
        """The slot of ``key`` (``RedisCluster.keyslot``)."""
        return key_hash_slot(key)

    def _resolve(self, host: Any, port: Any) -> ClusterNode | None:
        name = as_bytes(host).decode()
        comp = self.world.components.get(name)
        if isinstance(comp, ClusterNode) and comp.port == int(port):
            return comp
        return None

    def _load(self, reply: Any) -> bool:
        """Take a ``CLUSTER SLOTS`` reply as the map; False (map unchanged) when it does not cover every slot."""
        new: list[ClusterNode | None] = [None] * CLUSTER_SLOTS
        covered = 0
        seen: list[ClusterNode] = []
        for entry in reply:
            start, end, master = int(entry[0]), int(entry[1]), entry[2]
            srv = self._resolve(master[0], master[1])
            if srv is None:
                continue
            new[start:end + 1] = [srv] * (end - start + 1)
            covered += end - start + 1
            seen.append(srv)
        if covered < CLUSTER_SLOTS:
            return False  # check_slots_coverage
        self.slots = new
        for srv in seen:
            if srv not in self.startup_nodes:
                self.startup_nodes.append(srv)
        return True

    def initialize(self, exclude: Server | None = None) -> Gen:
        """``NodesManager.initialize``: ``CLUSTER SLOTS`` from the startup nodes in turn (generator)."""
        self.stats["refreshes"] += 1
        for n in list(self.startup_nodes):
            if n is exclude:
                continue
            try:
                reply = yield from call(self.world, self.node, n, (b"CLUSTER", b"SLOTS"), deadlines=self._deadlines)
            except (ConnectionError, TimeoutError, ResponseError):
                continue
            if self._load(reply):
                return True
        self.stats["refresh_failures"] += 1
        return False

    def _refresh_later(self) -> None:
        if self._refreshing is None or not self._refreshing.is_alive:
            self._refreshing = self.env.process(self.initialize())

    # ------------------------------------------------------------ routing
    def node_for_slot(self, slot: int) -> ClusterNode:
        srv = self.slots[slot]
        if srv is None:
            return self.startup_nodes[0]
        return srv

    def target(self, args: tuple[Any, ...]) -> Server:
        proc = self.env.active_process
        self._ttl[proc] = self.request_ttl
        self._asking.pop(proc, None)
        keys = command_keys(upper_name(args[0]), args)
        if not keys:
            return self.node_for_slot(0) if self.slots[0] is not None else self.startup_nodes[0]
        return self.node_for_slot(key_hash_slot(keys[0]))

    def targets(self, stack: list[tuple[Any, ...]]) -> Server:
        for cmd in stack:
            if command_keys(upper_name(cmd[0]), cmd):
                return self.target(cmd)
        return self.target(stack[0])

    def redirected(self, server: Server, err: ResponseError) -> Server | None:
        proc = self.env.active_process
        ttl = self._ttl.get(proc, self.request_ttl) - 1
        if ttl < 0:
            self._forget(proc)
            return None  # redis-py: ClusterError("TTL exhausted.")
        self._ttl[proc] = ttl
        text = str(err)
        code, _, rest = text.partition(" ")
        if code in ("MOVED", "ASK"):
            slot_s, _, addr = rest.partition(" ")
            host, _, port = addr.rpartition(":")
            nxt = self._resolve(host, port)
            if nxt is None:
                return None
            if code == "ASK":
                self.stats["ask"] += 1
                self._asking[proc] = nxt
                return nxt
            self.stats["moved"] += 1
            self.reinitialize_counter += 1
            self.slots[int(slot_s)] = nxt  # _update_moved_slots
            if self.reinitialize_steps and self.reinitialize_counter % self.reinitialize_steps == 0:
                self._refresh_later()
            return nxt
        if code == "TRYAGAIN":
            self.stats["tryagain"] += 1
            return server
        if code == "CLUSTERDOWN":
            self.stats["clusterdown"] += 1
            n = self._down.get(proc, 0)
            if n >= self.cluster_error_retry_attempts:
                self._forget(proc)
                return None
            self._down[proc] = n + 1
            self._refresh_later()
            return server
        self._forget(proc)
        return None

    def _forget(self, proc: Any) -> None:
        self._ttl.pop(proc, None)
        self._down.pop(proc, None)
        self._asking.pop(proc, None)

    def retry_wait(self, err: ResponseError) -> float:
        code = str(err).partition(" ")[0]
        if code == "TRYAGAIN":
            return 0.05
        if code == "CLUSTERDOWN":
            return 0.25
        return 0.0

    def prelude(self, server: Server) -> tuple[Any, ...] | None:
        proc = self.env.active_process
        if self._asking.get(proc) is server:
            del self._asking[proc]
            return (b"ASKING",)
        return None

    def failed(self, server: Server, err: Exception) -> None:
        # redis-py re-reads the map (without the failed node) before the retry; here the client runs
        # resolve() before its next pick (the retry, or the next command)
        self.stats["connection_errors"] += 1
        self.stale = True
        self._exclude = server

    def resolve(self) -> Generator[simpy.Event, Any, None]:
        self.stale = False
        yield from self.initialize(exclude=self._exclude)


# ---------------------------------------------------------------- resharding
def _admin(world: World, node: str, srv: ClusterNode, *cmd: Any, deadlines: Deadlines | None = None) -> Gen:
    reply = yield from call(world, node, srv, tuple(as_bytes(c) if isinstance(c, str | int) else c for c in cmd),
                            deadlines=deadlines)
    return reply


def reshard(world: World, node: str, source: ClusterNode, target: ClusterNode, slots: Iterable[int], *,
            masters: Sequence[ClusterNode] = (), pipeline: int = 10, timeout_ms: int = 60000,
            call_timeout: float = 1.0, stats: dict[str, Any] | None = None) -> Gen:
    """Move ``slots`` (and their keys) from ``source`` to ``target`` (generator; run it as a process).

    As ``redis-cli --cluster reshard`` (``clusterManagerMoveSlot``); ``masters`` are told the new owner too
    (one that does not answer within ``call_timeout`` seconds is not asked again; redis-cli goes on after an
    error).
    MIGRATE gets ``timeout_ms`` (and ``call_timeout`` on top to answer); the other commands ``call_timeout``.
    ``stats`` (if given) collects ``slots_moved``, ``keys_moved``, ``migrate_calls`` and ``started_at``/``ended_at``.
    """
    if int(pipeline) != pipeline or pipeline < 1:
        raise UsageError(f"pipeline must be an integer >= 1, got {pipeline!r}")
    st = stats if stats is not None else {}
    st.setdefault("slots_moved", 0)
    st.setdefault("keys_moved", 0)
    st.setdefault("migrate_calls", 0)
    st["started_at"] = world.env.now
    silent: set[int] = set()
    if not call_timeout > 0:
        raise UsageError(f"call_timeout must be > 0 seconds, got {call_timeout!r}")
    deadlines = Deadlines(world.env, call_timeout)
    migrate_deadlines = Deadlines(world.env, timeout_ms / 1000 + call_timeout)
    for slot in slots:
        yield from _admin(world, node, target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.id,
                          deadlines=deadlines)
        yield from _admin(world, node, source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target.id,
                          deadlines=deadlines)
        while True:
            keys = yield from _admin(world, node, source, "CLUSTER", "GETKEYSINSLOT", slot, pipeline,
                                     deadlines=deadlines)
            if isinstance(keys, RemoteError):
                raise keys
            if not keys:
                break
            reply = yield from _admin(world, node, source, "MIGRATE", target.name, target.port, "", 0, timeout_ms,
                                      "REPLACE", "KEYS", *keys, deadlines=migrate_deadlines)
            st["migrate_calls"] += 1
            if isinstance(reply, RemoteError):
                raise reply
            st["keys_moved"] += len(keys)
        for m in [target, source] + [m for m in masters if m is not target and m is not source]:
            if id(m) in silent:
                continue
            try:
                yield from _admin(world, node, m, "CLUSTER", "SETSLOT", slot, "NODE", target.id, deadlines=deadlines)
            except (ConnectionError, TimeoutError):
                silent.add(id(m))  # gone: not asked again (it learns the new owners from the bus when it is back)
            except ResponseError:
                continue  # redis-cli goes on with the other nodes
        st["slots_moved"] += 1
    st["ended_at"] = world.env.now
    return st
