"""The network: a graph of nodes and links with latency, loss, bandwidth and partitions.

A message from ``a`` to ``b`` follows the direct link when there is one and
otherwise the lowest-mean-latency route over links that are up.  A message is
dropped when a link on its route loses it (Bernoulli ``loss``) or when no
route is up (a partition); the sender learns of it only through its timeout.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx
import numpy as np

from simcache.errors import UsageError
from simcache.sim.dists import Dist, uniform_sampler
from simcache.sim.world import World


class Link:
    """One bidirectional link.

    Latency draws come from a pre-drawn batch (``buf``, popped from the end);
    hot callers pop it directly when ``plain`` (lossless, no bandwidth limit)
    and ``up``, and call :meth:`refill` when it is empty.
    """

    __slots__ = ("a", "b", "latency", "loss", "bandwidth", "rng", "buf", "coin", "up", "cuts", "plain", "batch")

    def __init__(self, a: str, b: str, latency: Dist, loss: float, bandwidth: float | None,
                 rng: np.random.Generator, batch: int = 2048) -> None:
        self.a = a
        self.b = b
        self.latency = latency
        self.loss = loss
        self.bandwidth = bandwidth
        self.rng = rng
        self.batch = batch
        self.buf: list[float] = []
        self.coin = uniform_sampler(rng)
        self.up = True
        self.cuts: set[int] = set()
        # lossless links without a bandwidth limit need nothing but a latency draw
        self.plain = loss == 0.0 and not bandwidth

    def refill(self) -> float:
        """Draw the next batch of latencies; return the first."""
        self.buf = self.latency.draw(self.rng, self.batch)[::-1].tolist()
        return self.buf.pop()

    def draw(self) -> float:
        """One latency draw."""
        buf = self.buf
        return buf.pop() if buf else self.refill()

    def delay(self, size: float) -> float | None:
        """One traversal: the latency (plus transmission time), or None if the message is lost."""
        if self.loss > 0.0 and self.coin() < self.loss:
            return None
        buf = self.buf
        d = buf.pop() if buf else self.refill()
        if self.bandwidth:
            d += size / self.bandwidth
        return d


class Network:
    """Nodes and links of one world (``world.network``).

    Args:
        world: the simulation world.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        world.network = self
        self.graph = nx.Graph()
        self._links: dict[tuple[str, str], Link] = {}
        self._routes: dict[tuple[str, str], list[Link] | None] = {}
        self._next_cut = 1
        self.dropped = 0

    def add_node(self, name: str, kind: str = "host", region: str | None = None) -> str:
        """Add a node (client, app, cache, db, region...)."""
        self.graph.add_node(name, kind=kind, region=region)
        return name

    def add_link(self, a: str, b: str, latency: Dist | str | float, loss: float = 0.0,
                 bandwidth: float | None = None) -> Link:
        """Connect ``a`` and ``b``; ``latency`` one way, ``loss`` probability, ``bandwidth`` bytes/s."""
        if not 0.0 <= loss < 1.0:
            raise UsageError(f"link {a}-{b}: loss must be in [0, 1), got {loss}")
        if bandwidth is not None and bandwidth <= 0:
            raise UsageError(f"link {a}-{b}: bandwidth must be > 0 bytes/s or None, got {bandwidth}")
        for n in (a, b):
            if n not in self.graph:
                self.add_node(n)
        dist = Dist.parse(latency)
        rng = self.world.rng(f"link:{a}|{b}")
        link = Link(a, b, dist, loss, bandwidth, rng)
        self._links[(a, b)] = self._links[(b, a)] = link
        self.graph.add_edge(a, b, link=link, weight=dist.mean())
        self._routes.clear()
        return link

    def link(self, a: str, b: str) -> Link:
        """The direct link between two nodes."""
        try:
            return self._links[(a, b)]
        except KeyError:
            raise UsageError(f"no link between {a!r} and {b!r}") from None

    def delay(self, a: str, b: str, size: float = 0.0) -> float | None:
        """One-way delay of a message from ``a`` to ``b``; None when it is dropped."""
        if a == b:
            return 0.0
        link = self._links.get((a, b))
        if link is not None and link.up:
            if link.plain:
                buf = link.buf
                return buf.pop() if buf else link.refill()
            d = link.delay(size)
            if d is None:
                self.dropped += 1
            return d
        route = self._route(a, b)
        if route is None:
            self.dropped += 1
            return None
        total = 0.0
        for hop in route:
            d = hop.delay(size)
            if d is None:
                self.dropped += 1
                return None
            total += d
        return total

    def reachable(self, a: str, b: str) -> bool:
        """Whether a route between ``a`` and ``b`` is up now."""
        if a == b:
            return True
        link = self._links.get((a, b))
        if link is not None and link.up:
            return True
        return self._route(a, b) is not None

    def _route(self, a: str, b: str) -> list[Link] | None:
        key = (a, b)
        if key in self._routes:
            return self._routes[key]
        up = nx.subgraph_view(self.graph, filter_edge=lambda u, v: self.graph.edges[u, v]["link"].up)
        try:
            path = nx.shortest_path(up, a, b, weight="weight")
            route: list[Link] | None = [self._links[(u, v)] for u, v in zip(path, path[1:], strict=False)]
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            route = None
        self._routes[key] = route
        return route

    # --------------------------------------------------------- failure seam
    def partition(self, nodes_a: Iterable[str], nodes_b: Iterable[str]) -> int:
        """Cut every link between the two node sets; return a cut id for :meth:`heal`."""
        sa, sb = set(nodes_a), set(nodes_b)
        for n in sa | sb:
            if n not in self.graph:
                raise UsageError(f"partition: unknown node {n!r}; nodes: {', '.join(sorted(self.graph))}")
        cut = self._next_cut
        self._next_cut += 1
        for u, v, data in self.graph.edges(data=True):
            if (u in sa and v in sb) or (u in sb and v in sa):
                link: Link = data["link"]
                link.cuts.add(cut)
                link.up = False
        self._routes.clear()
        return cut

    def isolate(self, node: str) -> int:
        """Cut a node off from every neighbour; return the cut id."""
        return self.partition([node], set(self.graph) - {node})

    def heal(self, cut: int | None = None) -> None:
        """Restore the links of one cut (or of every cut)."""
        for _, _, data in self.graph.edges(data=True):
            link: Link = data["link"]
            if cut is None:
                link.cuts.clear()
            else:
                link.cuts.discard(cut)
            link.up = not link.cuts
        self._routes.clear()
