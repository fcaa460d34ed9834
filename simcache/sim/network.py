"""The network: nodes, links with latency, loss and bandwidth, and partitions between groups of nodes.

The rules a message follows (the network half of the failure contract):

* A message from ``a`` to ``b`` takes the route with the fewest hops over
  links that are up (the direct link when there is one).  Its delay is the
  sum of one latency draw per link (plus ``size / bandwidth`` on links with a
  bandwidth, plus any extra delay set on the link), drawn **when it is sent**
  with the parameters in force then: a run-time change applies to what is
  sent after it.
* It is lost when a link's loss coin says so, when no route is up at the
  send, or when the route it took is no longer up when it is due (a link on
  it went down, or a partition now separates its ends): messages in flight
  across a cut are lost.
* A **partition** splits named groups of nodes: no message passes between
  two nodes in different groups, whatever the route, and no route uses a
  link whose ends are in different groups.  A partition is never routed
  around.  A single failed *link*, by contrast, is routed around when the
  topology has another path (a cable cut, not a partition).
* Each link has two random streams of its own: ``link:A-B:latency`` and
  ``link:A-B:loss``, so turning loss on does not change latency draws.

Loss drops a message outright (the sender learns of it only by its
timeout); TCP retransmission is not modelled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import simpy

from simcache.errors import UsageError
from simcache.sim.dists import Dist, uniform_sampler

if TYPE_CHECKING:
    from simcache.sim.world import World


class MessageLost(Exception):
    """A message was lost on the way (the sender learns of it only by its timeout)."""


class Link:
    """One bidirectional link between nodes ``a`` and ``b``."""

    __slots__ = ("a", "b", "latency", "loss", "bandwidth", "extra", "up", "_lat", "_coin", "_rng")

    def __init__(self, world: World, a: str, b: str, latency: Dist, loss: float, bandwidth: float | None) -> None:
        self.a = a
        self.b = b
        self._rng = world.rng(f"link:{a}-{b}:latency")
        self._coin = uniform_sampler(world.rng(f"link:{a}-{b}:loss"))
        self.latency = latency
        self._lat = latency.sampler(self._rng)
        self.loss = loss
        self.bandwidth = bandwidth
        self.extra = 0.0
        self.up = True

    def set_latency(self, latency: Dist | str | float) -> None:
        """Change the latency distribution (draws already made for messages in flight stand)."""
        self.latency = Dist.parse(latency)
        self._lat = self.latency.sampler(self._rng)

    def delay(self, size: float) -> float | None:
        """One traversal sent now: its delay, or None if the loss coin drops it."""
        if self.loss > 0.0 and self._coin() < self.loss:
            return None
        d = self._lat() + self.extra
        if self.bandwidth:
            d += size / self.bandwidth
        return d


class Cut:
    """An active partition: groups of nodes that cannot talk to each other."""

    __slots__ = ("groups", "side")

    def __init__(self, groups: Sequence[Iterable[str]]) -> None:
        self.groups = [frozenset(g) for g in groups]
        self.side = {n: i for i, g in enumerate(self.groups) for n in g}

    def separates(self, a: str, b: str) -> bool:
        sa = self.side.get(a)
        sb = self.side.get(b)
        return sa is not None and sb is not None and sa != sb

    def __repr__(self) -> str:
        return "|".join(",".join(sorted(g)) for g in self.groups)


class Network:
    """Nodes and links of one world (``world.network``)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.env = world.env
        self.nodes: dict[str, dict[str, Any]] = {}
        self._adj: dict[str, dict[str, Link]] = {}
        self.cuts: list[Cut] = []
        self._routes: dict[tuple[str, str], list[Link] | None] = {}
        #: bumped by every change of topology (link up/down, partition, heal); in-flight messages re-check on change
        self.epoch = 0
        self.lost = 0
        self.cut_in_flight = 0

    # -------------------------------------------------------------- build
    def add_node(self, name: str, kind: str = "host", region: str | None = None) -> str:
        """Add a node (idempotent for the same name)."""
        if name not in self.nodes:
            self.nodes[name] = {"kind": kind, "region": region}
            self._adj[name] = {}
        return name

    def add_link(self, a: str, b: str, latency: Dist | str | float, loss: float = 0.0,
                 bandwidth: float | None = None) -> Link:
        """Connect ``a`` and ``b`` (adding the nodes if needed) with a one-way latency distribution.

        Args:
            a, b: node names.
            latency: one-way delay distribution (e.g. ``"lognormal:0.0005,0.3"``).
            loss: probability that a message is dropped on this link.
            bandwidth: bytes per second (None: unlimited); adds ``size / bandwidth`` per message.
        """
        if a == b:
            raise UsageError(f"a link needs two different nodes, got {a!r} twice")
        if not 0.0 <= loss <= 1.0:
            raise UsageError(f"link {a}-{b}: loss must be in [0, 1], got {loss!r}")
        if bandwidth is not None and not bandwidth > 0:
            raise UsageError(f"link {a}-{b}: bandwidth must be > 0 bytes/s or None, got {bandwidth!r}")
        if b in self._adj.get(a, {}):
            raise UsageError(f"link {a}-{b} already exists")
        self.add_node(a)
        self.add_node(b)
        link = Link(self.world, a, b, Dist.parse(latency), float(loss), bandwidth)
        self._adj[a][b] = link
        self._adj[b][a] = link
        self._changed()
        return link

    def link(self, a: str, b: str) -> Link:
        """The link between ``a`` and ``b``; a missing one raises with the links there are."""
        lk = self._adj.get(a, {}).get(b)
        if lk is None:
            have = sorted({f"{x.a}-{x.b}" for d in self._adj.values() for x in d.values()})
            raise UsageError(f"no link {a}-{b}; links: {', '.join(have) or 'none'}")
        return lk

    # ------------------------------------------------------------ changes
    def _changed(self) -> None:
        self.epoch += 1
        self._routes.clear()

    def set_link(self, a: str, b: str, *, up: bool | None = None, latency: Dist | str | float | None = None,
                 extra: float | None = None, loss: float | None = None, bandwidth: float | None = None) -> None:
        """Change a link at run time; the change applies to messages sent after it.

        Args:
            up: take the link down (False) or bring it back (True).
            latency: a new latency distribution.
            extra: extra one-way delay in seconds added to every traversal (0 removes it).
            loss: a new loss probability.
            bandwidth: a new bandwidth in bytes per second.
        """
        lk = self.link(a, b)
        if latency is not None:
            lk.set_latency(latency)
        if extra is not None:
            if not extra >= 0:
                raise UsageError(f"link {a}-{b}: extra latency must be >= 0 seconds, got {extra!r}")
            lk.extra = float(extra)
        if loss is not None:
            if not 0.0 <= loss <= 1.0:
                raise UsageError(f"link {a}-{b}: loss must be in [0, 1], got {loss!r}")
            lk.loss = float(loss)
        if bandwidth is not None:
            lk.bandwidth = bandwidth
        if up is not None and up != lk.up:
            lk.up = up
            self._changed()

    def partition(self, *groups: Iterable[str]) -> Cut:
        """Separate groups of nodes (``partition(["app"], ["redis", "db"])``); returns the cut for :meth:`heal`."""
        gs = [list(g) for g in groups]
        if len(gs) < 2:
            raise UsageError("a partition needs at least two groups of nodes")
        seen: set[str] = set()
        for g in gs:
            if not g:
                raise UsageError("a partition group is empty")
            for n in g:
                if n not in self.nodes:
                    raise UsageError(f"partition: no node {n!r}; nodes: {', '.join(sorted(self.nodes))}")
                if n in seen:
                    raise UsageError(f"partition: node {n!r} is in two groups")
                seen.add(n)
        cut = Cut(gs)
        self.cuts.append(cut)
        self._changed()
        return cut

    def isolate(self, node: str) -> Cut:
        """Cut ``node`` off from every other node."""
        return self.partition([node], [n for n in self.nodes if n != node])

    def heal(self, cut: Cut | None = None) -> None:
        """End one partition (or all of them)."""
        if cut is None:
            self.cuts.clear()
        elif cut in self.cuts:
            self.cuts.remove(cut)
        self._changed()

    # ------------------------------------------------------------- routes
    def separated(self, a: str, b: str) -> bool:
        """Whether an active partition puts ``a`` and ``b`` in different groups."""
        return any(c.separates(a, b) for c in self.cuts)

    def route(self, a: str, b: str) -> list[Link] | None:
        """The links a message from ``a`` to ``b`` takes now (fewest hops), or None when there is no way."""
        key = (a, b)
        try:
            return self._routes[key]
        except KeyError:
            pass
        r = self._find(a, b)
        self._routes[key] = r
        return r

    def _find(self, a: str, b: str) -> list[Link] | None:
        if a == b:
            return []
        if a not in self._adj or b not in self._adj:
            raise UsageError(f"no node {a if a not in self._adj else b!r}; nodes: {', '.join(sorted(self.nodes))}")
        if self.separated(a, b):
            return None
        direct = self._adj[a].get(b)
        if direct is not None and direct.up:
            return [direct]
        prev: dict[str, Link] = {}
        seen = {a}
        todo = deque([a])
        while todo:
            n = todo.popleft()
            for m in sorted(self._adj[n]):
                lk = self._adj[n][m]
                if m in seen or not lk.up or self.separated(n, m):
                    continue
                seen.add(m)
                prev[m] = lk
                if m == b:
                    path = []
                    while m != a:
                        lk = prev[m]
                        path.append(lk)
                        m = lk.a if lk.b == m else lk.b
                    return path[::-1]
                todo.append(m)
        return None

    def reachable(self, a: str, b: str) -> bool:
        """Whether a message sent now from ``a`` could reach ``b``."""
        return self.route(a, b) is not None

    # ----------------------------------------------------------- messages
    def transit(self, a: str, b: str, size: float = 0.0) -> float | None:
        """Delay of a message sent now from ``a`` to ``b``, or None when it is lost (no route, a loss coin)."""
        r = self.route(a, b)
        if r is None:
            self.lost += 1
            return None
        d = 0.0
        for lk in r:
            x = lk.delay(size)
            if x is None:
                self.lost += 1
                return None
            d += x
        return d

    def still_up(self, a: str, b: str, epoch: int, route: list[Link] | None) -> bool:
        """Whether a message sent from ``a`` to ``b`` at network ``epoch`` over ``route`` may be delivered now."""
        if epoch == self.epoch:
            return True
        if route is None or self.separated(a, b) or not all(lk.up for lk in route):
            self.cut_in_flight += 1
            return False
        return True

    def hop(self, a: str, b: str, size: float = 0.0) -> Generator[simpy.Event, Any, None]:
        """Carry the active process from node ``a`` to node ``b`` (``yield from net.hop(a, b)``).

        Waits out the message's delay; raises :class:`MessageLost` when it is lost at the send or cut in flight.
        """
        if a == b:
            return
        d = self.transit(a, b, size)
        if d is None:
            raise MessageLost
        epoch, route = self.epoch, self._routes.get((a, b))
        yield self.env.timeout(d)
        if not self.still_up(a, b, epoch, route):
            raise MessageLost

    def send(self, a: str, b: str, size: float, deliver: Callable[[Any], Any], msg: Any) -> bool:
        """Send ``msg`` from ``a`` to ``b``: ``deliver(msg)`` is called when it arrives (if it does).

        Returns False when the message is lost at once (no route, a loss coin); a message cut in
        flight is dropped silently when it is due.
        """
        d = self.transit(a, b, size)
        if d is None:
            return False
        self.deliver_later(a, b, d, self.epoch, self._routes.get((a, b)), deliver, msg)
        return True

    def deliver_later(self, a: str, b: str, delay: float, epoch: int, route: list[Link] | None,
                      deliver: Callable[[Any], Any], msg: Any) -> None:
        """Call ``deliver(msg)`` after ``delay`` unless the path a message sent at ``epoch`` over ``route``
        took is no longer up then."""
        ev = self.env.timeout(delay, _InFlight(self, a, b, deliver, msg, epoch, route))
        ev.callbacks.append(_arrive)


class _InFlight:
    """A message on the wire: where it goes, and the topology it was sent under."""

    __slots__ = ("net", "a", "b", "deliver", "msg", "epoch", "route")

    def __init__(self, net: Network, a: str, b: str, deliver: Callable[[Any], Any], msg: Any, epoch: int,
                 route: list[Link] | None) -> None:
        self.net = net
        self.a = a
        self.b = b
        self.deliver = deliver
        self.msg = msg
        self.epoch = epoch
        self.route = route


def _arrive(ev: Any) -> None:
    m: _InFlight = ev.value
    if m.net.still_up(m.a, m.b, m.epoch, m.route):
        m.deliver(m.msg)
