"""A twemproxy-like proxy tier: clients speak memcached to it, it forwards each key to a backend by hashing.

:class:`TwemproxyServer` follows nutcracker (twitter/twemproxy ``src/``):

* **Routing** (``nc_server.c`` ``server_pool_idx`` + ``src/hashkit``): the
  key's hash (``hash: md5`` or ``fnv1a_64``, :func:`~simcache.sim.memcached.hashing.hash_fnv1a_64`)
  picks a server by ``distribution: ketama`` (``nc_ketama.c``) or ``modula``
  (``nc_modula.c``) over the *live* servers, with their weights; a multi-key
  ``get``/``gets`` is split into one request per server (``msg_fragment``)
  and the answers are merged in the keys' order.
* **auto_eject_hosts** (``server_failure``): each connection error or timeout
  of a server counts a failure; a success resets the count (``server_ok``);
  at ``server_failure_limit`` consecutive failures the server is ejected
  until ``server_retry_timeout`` from then (``next_retry``) and the
  continuum is rebuilt without it (``server_pool_run``); every request
  first checks whether the earliest ``next_retry`` has passed and, if so,
  rebuilds with the servers whose time has come (``server_pool_update``) —
  a server that is still down then fails again and is ejected again after
  ``server_failure_limit`` more failures.  Without ``auto_eject_hosts`` a
  dead server's keys keep failing.  While a server is ejected its keys go
  to the other servers (misses there, and writes that the server, when it
  returns, does not have).
* **Errors** reach the client as memcached error lines
  (``SERVER_ERROR Connection refused``, ``SERVER_ERROR Connection timed out``;
  and ``SERVER_ERROR Connection refused`` too when every server is ejected:
  ``server_pool_update`` sets ``ECONNREFUSED``); commands nutcracker does not
  proxy (``stats``, ``flush_all``) answer ``ERROR``.

Simplifications: one request at a time per backend is not enforced (each
forwarded request is its own call, no connection object, no
``server_connections`` limit); ``timeout`` is the per-request wait for a
backend (nutcracker's pool ``timeout``, default none); the proxy's own work
is its service time (one event loop: ``workers=1``).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

import simpy

from simcache.errors import UsageError
from simcache.sim.dists import Dist
from simcache.sim.memcached.hashing import KetamaHash, ModuloHash, hash_fnv1a_64, hash_md5
from simcache.sim.memcached.server import Hits, MemcachedServer
from simcache.sim.rpc import Call, ConnectionError, Deadlines, ResponseError, TimeoutError, call, send
from simcache.sim.server import NO_REPLY, Deferred, Server
from simcache.sim.world import World

Gen = Generator[simpy.Event, Any, Any]

DISTRIBUTIONS = ("ketama", "modula")
HASHES = {"md5": hash_md5, "fnv1a_64": hash_fnv1a_64}
#: commands with one key in argument 1, forwarded to that key's server
KEYED = frozenset({"SET", "ADD", "REPLACE", "APPEND", "PREPEND", "CAS", "DELETE", "INCR", "DECR", "TOUCH"})


class TwemproxyServer(Server):
    """A nutcracker-like memcached proxy in front of ``backends`` (see the module docstring).

    Args:
        world: the simulation world.
        name: component name (also its node).
        backends: the memcached servers of the pool, in configuration order.
        distribution: ``"ketama"`` or ``"modula"``.
        hash: ``"fnv1a_64"`` (nutcracker's default) or ``"md5"`` (libketama's).
        weights: server name -> weight (default 1).
        auto_eject_hosts: take failing servers out of the continuum.
        server_failure_limit: consecutive failures that eject a server.
        server_retry_timeout: seconds an ejected server stays out.
        timeout: seconds to wait for a backend's answer (None: forever).
        service: the proxy's own time per command.
    """

    GAUGES = ("up", "queued", "busy_workers", "live_servers")

    def __init__(self, world: World, name: str, backends: Sequence[MemcachedServer], *,
                 distribution: str = "ketama", hash: str = "fnv1a_64", weights: Mapping[str, int] | None = None,
                 auto_eject_hosts: bool = False, server_failure_limit: int = 2, server_retry_timeout: float = 30.0,
                 timeout: float | None = None, service: Dist | str | float = "exp:0.00002") -> None:
        super().__init__(world, name, service=service, workers=1)
        if not backends:
            raise UsageError(f"{name}: a proxy needs at least one backend server")
        if distribution not in DISTRIBUTIONS:
            raise UsageError(f"{name}: distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")
        if hash not in HASHES:
            raise UsageError(f"{name}: hash must be one of {', '.join(HASHES)}, got {hash!r}")
        if int(server_failure_limit) != server_failure_limit or server_failure_limit < 1:
            raise UsageError(f"{name}: server_failure_limit must be an integer >= 1, got {server_failure_limit!r}")
        if not server_retry_timeout >= 0:
            raise UsageError(f"{name}: server_retry_timeout must be >= 0 seconds, got {server_retry_timeout!r}")
        if timeout is not None and not timeout > 0:
            raise UsageError(f"{name}: timeout must be > 0 seconds or None, got {timeout!r}")
        self.backends: dict[str, MemcachedServer] = {b.name: b for b in backends}
        self.weights = {b.name: int((weights or {}).get(b.name, 1)) for b in backends}
        self.distribution = distribution
        self.hash_function = HASHES[hash]
        self.auto_eject_hosts = bool(auto_eject_hosts)
        self.server_failure_limit = int(server_failure_limit)
        self.server_retry_timeout = float(server_retry_timeout)
        self.failure_count = dict.fromkeys(self.backends, 0)
        self.next_retry = dict.fromkeys(self.backends, 0.0)
        self.next_rebuild = 0.0
        self._deadlines = Deadlines(self.env, timeout) if timeout else None
        self.connections: dict[int, Any] = {}
        self.total_connections = 0
        self.stats_proxy = {"forwarded": 0, "fragments": 0, "server_errors": 0, "ejections": 0, "timeouts": 0}
        #: (time, kind, server): ejections and returns
        self.events: list[tuple[float, str, str]] = []
        self.hasher: KetamaHash | ModuloHash = self._continuum(list(self.backends))
        self.live = list(self.backends)
        self.watch()

    # ------------------------------------------------------------ the pool
    def _continuum(self, live: list[str]) -> KetamaHash | ModuloHash:
        h: KetamaHash | ModuloHash = (KetamaHash(hash_function=self.hash_function) if self.distribution == "ketama"
                                      else ModuloHash(hash_function=self.hash_function))
        for n in live:
            h.add_node(n, self.weights[n])
        return h

    def server_pool_run(self) -> None:
        """``server_pool_run`` / ``ketama_update``: rebuild over the servers whose ``next_retry`` has passed."""
        now = self.env.now
        live: list[str] = []
        self.next_rebuild = 0.0
        for n in self.backends:
            if not self.auto_eject_hosts or self.next_retry[n] <= now:
                if self.next_retry[n]:
                    self.events.append((now, "retry", n))
                    self.world.recorder.mark(now, self.name, "retry", n)
                self.next_retry[n] = 0.0
                live.append(n)
            elif self.next_rebuild == 0.0 or self.next_retry[n] < self.next_rebuild:
                self.next_rebuild = self.next_retry[n]
        self.live = live
        self.hasher = self._continuum(live)

    def server_pool_update(self) -> None:
        """``server_pool_update``: put back the ejected servers whose retry time has come."""
        if not self.auto_eject_hosts or self.next_rebuild == 0.0:
            return
        if self.env.now <= self.next_rebuild:
            return
        self.server_pool_run()

    def server_failure(self, name: str) -> None:
        """``server_failure``: count a failure; eject at ``server_failure_limit``."""
        if not self.auto_eject_hosts:
            return
        self.failure_count[name] += 1
        if self.failure_count[name] < self.server_failure_limit:
            return
        now = self.env.now
        self.failure_count[name] = 0
        self.next_retry[name] = now + self.server_retry_timeout
        self.stats_proxy["ejections"] += 1
        self.events.append((now, "eject", name))
        self.world.recorder.mark(now, self.name, "eject", name)
        self.server_pool_run()

    def server_for(self, key: bytes) -> MemcachedServer | None:
        """``server_pool_idx``: the live server of ``key`` (None when every server is ejected)."""
        self.server_pool_update()
        name = self.hasher.get_node(key) if self.live else None
        return None if name is None else self.backends[name]

    # ---------------------------------------------------------- connections
    def accept(self, conn: Any) -> int:
        """A client connected (as :meth:`MemcachedServer.accept`)."""
        self.total_connections += 1
        self.connections[id(conn)] = conn
        return self.epoch

    def hang_up(self, conn: Any) -> None:
        self.connections.pop(id(conn), None)

    def wrong_arity(self, cmd: tuple[Any, ...]) -> str:
        return "ERROR"

    def unknown_command(self, cmd: tuple[Any, ...]) -> str:
        return "ERROR"

    # ------------------------------------------------------------ serving
    def execute(self, call: Call) -> Any:
        """Parse the request(s) and forward them; the reply comes when the backends have answered."""
        cmds: list[tuple[Any, ...]] = list(call.cmd) if call.batch else [call.cmd]
        noreply = all(c and c[-1] == b"noreply" for c in cmds)
        if noreply:
            for c in cmds:
                self._send_only(c)
            return NO_REPLY
        d = Deferred()
        self.env.process(self._forward(cmds, call.batch, d))
        return d

    def _forward(self, cmds: list[tuple[Any, ...]], batch: bool, d: Deferred) -> Gen:
        if len(cmds) == 1:
            reply = yield from self._one(cmds[0])
            d.resolve([reply] if batch else reply)
            return
        procs = [self.env.process(self._one(c)) for c in cmds]
        yield self.env.all_of(procs)
        d.resolve([p.value for p in procs])

    def _send_only(self, cmd: tuple[Any, ...]) -> None:
        name = _name(cmd)
        if name in KEYED and len(cmd) > 1:
            srv = self.server_for(_key(cmd[1]))
            if srv is not None:
                self.stats_proxy["forwarded"] += 1
                send(self.world, self.node, srv, cmd, size=_wire_size(cmd))

    def _one(self, cmd: tuple[Any, ...]) -> Gen:
        name = _name(cmd)
        if name in ("GET", "GETS"):
            keys = [_key(k) for k in cmd[1:]]
            if not keys:
                return ResponseError("ERROR")
            groups: dict[str, list[bytes]] = {}
            for k in keys:
                srv = self.server_for(k)
                if srv is None:
                    return ResponseError("SERVER_ERROR Connection refused")
                groups.setdefault(srv.name, []).append(k)
            if len(groups) == 1:
                (sname, ks), = groups.items()
                r = yield from self._to(self.backends[sname], (cmd[0], *ks))
                return r
            self.stats_proxy["fragments"] += len(groups)
            procs = [self.env.process(self._to(self.backends[s], (cmd[0], *ks))) for s, ks in groups.items()]
            yield self.env.all_of(procs)
            hits: dict[bytes, Any] = {}
            for p in procs:
                if isinstance(p.value, ResponseError):
                    return p.value  # a fragment failed: the whole request fails
                for item in p.value or ():
                    hits[item[0]] = item
            return Hits(hits[k] for k in keys if k in hits)
        if name in KEYED and len(cmd) > 1:
            srv = self.server_for(_key(cmd[1]))
            if srv is None:
                return ResponseError("SERVER_ERROR Connection refused")
            r = yield from self._to(srv, cmd)
            return r
        if name == "VERSION":
            return b"VERSION 0.5.0"  # nutcracker answers it itself
        return ResponseError("ERROR")

    def _to(self, srv: MemcachedServer, cmd: tuple[Any, ...]) -> Gen:
        """Forward one request to ``srv``: its reply, or the error line the client gets."""
        self.stats_proxy["forwarded"] += 1
        try:
            reply = yield from call(self.world, self.node, srv, cmd, size=_wire_size(cmd), deadlines=self._deadlines)
        except ResponseError as err:
            return err
        except (ConnectionError, TimeoutError) as err:
            self.stats_proxy["server_errors"] += 1
            if isinstance(err, TimeoutError):
                self.stats_proxy["timeouts"] += 1
            self.server_failure(srv.name)
            return ResponseError("SERVER_ERROR Connection timed out" if isinstance(err, TimeoutError)
                                 else "SERVER_ERROR Connection refused")
        if self.failure_count[srv.name]:
            self.failure_count[srv.name] = 0  # server_ok
        return reply

    def counters(self) -> dict[str, float]:
        d = super().counters()
        d.update({k: float(v) for k, v in self.stats_proxy.items()})
        d["live_servers"] = float(len(self.live))
        return d


def _name(cmd: tuple[Any, ...]) -> str:
    n = cmd[0]
    return (n.decode(errors="replace") if isinstance(n, bytes) else str(n)).upper()


def _key(k: Any) -> bytes:
    return k if isinstance(k, bytes) else str(k).encode()


def _wire_size(cmd: tuple[Any, ...]) -> int:
    n = 2
    for a in cmd:
        n += (len(a) if isinstance(a, bytes) else int(getattr(a, "size", 0) or len(str(a)))) + 1
    return n
