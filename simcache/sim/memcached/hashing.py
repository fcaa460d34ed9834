"""Key routing for the hash client: one small interface and three hashers (modulo, ketama, rendezvous).

A hasher maps a key to the *name* of a node, exactly as pymemcache's
``HashClient`` uses its ``hasher`` (``pymemcache/client/hash.py``): it is a
class with ``add_node(node)``, ``remove_node(node)`` and ``get_node(key)``
(None when it has no node).  Nodes are names (strings); the client maps a
name to its server.

* :class:`ModuloHash` — ``hash(key) % n`` over the node list (twemproxy
  ``src/hashkit/nc_modula.c``: a weight repeats a node in the list).  Adding
  one node to ``n`` remaps about ``n / (n + 1)`` of the keys.
* :class:`KetamaHash` — libketama-compatible consistent hashing as twemproxy
  builds it (``src/hashkit/nc_ketama.c``): each server gets
  ``floorf(pct * 160 / 4 * n) * 4`` points (``pct`` its share of the total
  weight, in float32 as the C code computes it), named ``"NAME-i"``; every
  MD5 digest of a point name gives four 32-bit little-endian points; a key
  (MD5, first four bytes little-endian: ``hash_md5`` in ``nc_md5.c``) goes to
  the first point at or after its hash, wrapping round.  Adding one of ``n +
  1`` servers moves about ``1 / (n + 1)`` of the keys, all to the new server.
* :class:`RendezvousHash` — highest random weight with ``murmur3_32`` over
  ``f"{node}-{key}"``, line for line pymemcache's
  ``pymemcache/client/rendezvous.py`` and ``client/murmur3.py`` (it gives the
  same node for every key).

:func:`make_scheme` builds one over named servers with weights (modulo and
ketama; rendezvous has none), :func:`layout_change` measures what a change of
servers moves (``simcache shard``), and :func:`hash_fnv1a_64` is twemproxy's
default key hash (the proxy tier, :mod:`~simcache.sim.memcached.proxy`).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from simcache.errors import UsageError

#: a key as the client takes it
Key = str | bytes


@runtime_checkable
class Hasher(Protocol):
    """What the hash client needs from a hasher (pymemcache's ``hasher`` contract)."""

    def add_node(self, node: str) -> None:
        """Put ``node`` in rotation (no-op when it already is)."""

    def remove_node(self, node: str) -> None:
        """Take ``node`` out of rotation (ValueError when it is not in it)."""

    def get_node(self, key: Any) -> str | None:
        """The node ``key`` belongs to, or None when there is no node."""


def key_bytes(key: Any) -> bytes:
    """The bytes a key hashes as (a str is UTF-8 encoded)."""
    if isinstance(key, bytes):
        return key
    return str(key).encode()


def hash_md5(data: bytes) -> int:
    """The first four bytes of MD5, little-endian (twemproxy ``hash_md5``; libketama's key hash)."""
    return int.from_bytes(hashlib.md5(data).digest()[:4], "little")


def hash_fnv1a_64(data: bytes) -> int:
    """twemproxy's ``hash_fnv1a_64`` (``nc_fnv.c``): FNV-1a with the 64-bit constants cut to 32 bits.

    The C code keeps a ``uint32_t`` hash seeded with ``(uint32_t)FNV_64_INIT`` and multiplies by
    ``(uint32_t)FNV_64_PRIME``; each byte is ``(uint32_t)key[x]`` of a ``char``, so bytes >= 0x80
    are sign-extended (x86).
    """
    h = 0xCBF29CE484222325 & 0xFFFFFFFF
    prime = 0x100000001B3 & 0xFFFFFFFF
    for b in data:
        h ^= b if b < 0x80 else (b | 0xFFFFFF00)
        h = (h * prime) & 0xFFFFFFFF
    return h


def murmur3_32(data: str, seed: int = 0) -> int:
    """MurmurHash3 (x86, 32-bit) of a str, one byte per character, as pymemcache's ``murmur3_32``.

    pymemcache feeds ``ord(c) & 0xFF`` per character (so an ASCII string hashes
    as its bytes); the arithmetic here is masked to 32 bits, which gives the
    same result as its unmasked big-int version.
    """
    m = 0xFFFFFFFF
    c1, c2 = 0xCC9E2D51, 0x1B873593
    b = [ord(ch) & 0xFF for ch in data]
    length = len(b)
    h1 = seed & m
    rounded = length & ~3
    for i in range(0, rounded, 4):
        k1 = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)
        k1 = (k1 * c1) & m
        k1 = ((k1 << 15) | (k1 >> 17)) & m
        k1 = (k1 * c2) & m
        h1 ^= k1
        h1 = ((h1 << 13) | (h1 >> 19)) & m
        h1 = (h1 * 5 + 0xE6546B64) & m
    k1 = 0
    tail = length & 3
    if tail == 3:
        k1 = b[rounded + 2] << 16
    if tail >= 2:
        k1 |= b[rounded + 1] << 8
    if tail >= 1:
        k1 |= b[rounded]
        k1 = (k1 * c1) & m
        k1 = ((k1 << 15) | (k1 >> 17)) & m
        k1 = (k1 * c2) & m
        h1 ^= k1
    h1 ^= length
    h1 ^= h1 >> 16
    h1 = (h1 * 0x85EBCA6B) & m
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & m
    h1 ^= h1 >> 16
    return h1


def _check_weight(node: str, weight: int) -> int:
    if int(weight) != weight or weight < 1:
        raise UsageError(f"node {node!r}: weight must be an integer >= 1, got {weight!r}")
    return int(weight)


class _WeightedHasher:
    """What the modulo and ketama hashers share: weighted nodes in the order they were added, rebuilt on change."""

    def __init__(self, nodes: Iterable[str] | None, hash_function: Callable[[bytes], int]) -> None:
        self.hash_function = hash_function
        self.weights: dict[str, int] = {}
        for n in nodes or ():
            self.add_node(n)

    @property
    def nodes(self) -> list[str]:
        """Node names in rotation, in the order they were added."""
        return list(self.weights)

    def _rebuild(self) -> None:
        raise NotImplementedError

    def add_node(self, node: str, weight: int = 1) -> None:
        """Add ``node`` with ``weight`` (a node already there is left as it is)."""
        if node not in self.weights:
            self.weights[node] = _check_weight(node, weight)
            self._rebuild()

    def remove_node(self, node: str) -> None:
        """Remove ``node``; ValueError when it is not there (as pymemcache's hashers)."""
        if node not in self.weights:
            raise ValueError(f"No such node {node} to remove")
        del self.weights[node]
        self._rebuild()


class ModuloHash(_WeightedHasher):
    """``hash(key) % n`` over the nodes in the order they were added (twemproxy ``nc_modula.c``).

    Args:
        nodes: initial node names.
        hash_function: key bytes -> 32-bit hash (default :func:`hash_md5`).
    """

    def __init__(self, nodes: Iterable[str] | None = None,
                 hash_function: Callable[[bytes], int] = hash_md5) -> None:
        self._slots: list[str] = []
        super().__init__(nodes, hash_function)

    def _rebuild(self) -> None:
        # nc_modula.c: one continuum slot per unit of weight, servers in order
        self._slots = [n for n, w in self.weights.items() for _ in range(w)]

    def get_node(self, key: Any) -> str | None:
        """The node for ``key``: ``slots[hash(key) % len(slots)]``."""
        if not self._slots:
            return None
        return self._slots[self.hash_function(key_bytes(key)) % len(self._slots)]


#: twemproxy's KETAMA_POINTS_PER_SERVER (40 MD5 digests x 4 points)
KETAMA_POINTS_PER_SERVER = 160
_KETAMA_POINTS_PER_HASH = 4


def ketama_points(weight: int, total_weight: int, live_servers: int) -> int:
    """Points a server gets on the continuum, computed in float32 as ``nc_ketama.c`` does.

    ``pointer_per_server = floorf(pct * 160 / 4 * nlive + 1e-10) * 4`` with
    ``pct = (float)weight / (float)total_weight``: every step is single
    precision, so equal weights can give a server 156 points instead of 160.
    """
    f = np.float32
    pct = f(weight) / f(total_weight)
    x = f(f(pct * f(KETAMA_POINTS_PER_SERVER)) / f(_KETAMA_POINTS_PER_HASH)) * f(live_servers)
    # the double constant is added in double precision, then floorf narrows back to float
    return int(np.floor(f(float(x) + 0.0000000001))) * _KETAMA_POINTS_PER_HASH


class KetamaHash(_WeightedHasher):
    """libketama-compatible consistent hashing (twemproxy ``src/hashkit/nc_ketama.c``).

    Args:
        nodes: initial node names (weight 1 each).
        hash_function: key bytes -> 32-bit hash (default :func:`hash_md5`, as libketama).
    """

    def __init__(self, nodes: Iterable[str] | None = None,
                 hash_function: Callable[[bytes], int] = hash_md5) -> None:
        self._values: list[int] = []
        self._owners: list[str] = []
        super().__init__(nodes, hash_function)

    def _rebuild(self) -> None:
        total = sum(self.weights.values())
        live = len(self.weights)
        points: list[tuple[int, str]] = []
        for name, w in self.weights.items():
            per_server = ketama_points(w, total, live)
            for i in range(per_server // _KETAMA_POINTS_PER_HASH):
                digest = hashlib.md5(f"{name}-{i}".encode()).digest()
                for a in range(_KETAMA_POINTS_PER_HASH):
                    points.append((int.from_bytes(digest[4 * a:4 * a + 4], "little"), name))
        # qsort by value; equal values (a 32-bit collision) keep server order here, qsort leaves it unspecified
        points.sort(key=lambda p: p[0])
        self._values = [v for v, _ in points]
        self._owners = [n for _, n in points]

    def points(self) -> dict[str, int]:
        """Points per node on the continuum."""
        out = dict.fromkeys(self.weights, 0)
        for n in self._owners:
            out[n] += 1
        return out

    def get_node(self, key: Any) -> str | None:
        """The owner of the first point at or after ``hash(key)``, wrapping past the last (``ketama_dispatch``)."""
        if not self._values:
            return None
        if len(self.weights) == 1:
            return self._owners[0]  # nc_server.c skips hashing for a one-server pool
        i = bisect_left(self._values, self.hash_function(key_bytes(key)))
        return self._owners[i if i < len(self._values) else 0]


class RendezvousHash:
    """Highest random weight hashing, as pymemcache's ``RendezvousHash`` (same node for every key).

    Args:
        nodes: initial node names.
        seed: murmur3 seed.
        hash_function: ``(str, seed) -> int`` (default :func:`murmur3_32`).
    """

    def __init__(self, nodes: Iterable[str] | None = None, seed: int = 0,
                 hash_function: Callable[[str, int], int] = murmur3_32) -> None:
        self.nodes: list[str] = list(nodes) if nodes is not None else []
        self.seed = seed
        self._hash = hash_function

    def add_node(self, node: str) -> None:
        """Add ``node`` (no-op when present)."""
        if node not in self.nodes:
            self.nodes.append(node)

    def remove_node(self, node: str) -> None:
        """Remove ``node``; ValueError when it is not there."""
        if node in self.nodes:
            self.nodes.remove(node)
        else:
            raise ValueError(f"No such node {node} to remove")

    def get_node(self, key: Any) -> str | None:
        """The node with the highest ``murmur3_32(f"{node}-{key}")``; ties go to the greater name."""
        high_score = -1
        winner: str | None = None
        for node in self.nodes:
            score = self._hash(f"{node}-{key}", self.seed)
            if score > high_score:
                high_score, winner = score, node
            elif score == high_score:
                high_score, winner = score, max(str(node), str(winner))
        return winner


#: hasher names the hash client accepts
HASHERS: dict[str, type] = {"modulo": ModuloHash, "ketama": KetamaHash, "rendezvous": RendezvousHash}


def make_hasher(spec: str | type | Hasher) -> Hasher:
    """A hasher from a name (``modulo``, ``ketama``, ``rendezvous``), a class (called with no arguments, as
    pymemcache does) or an instance; an unknown name raises with the valid ones."""
    if isinstance(spec, str):
        cls = HASHERS.get(spec)
        if cls is None:
            raise UsageError(f"unknown hasher {spec!r}; valid: {', '.join(HASHERS)}")
        h: Any = cls()
    elif isinstance(spec, type):
        h = spec()
    else:
        h = spec
    if not isinstance(h, Hasher):
        raise UsageError(f"a hasher needs add_node, remove_node and get_node; {type(h).__name__} lacks one")
    return h


def make_scheme(scheme: str, nodes: Iterable[str], weights: Mapping[str, int] | None = None) -> Hasher:
    """A hasher of ``scheme`` (``modulo``, ``ketama``, ``rendezvous``) over ``nodes``, with weights where the
    scheme has them (twemproxy's modula and ketama; pymemcache's rendezvous has none: a weight other than 1
    is refused)."""
    h = make_hasher(scheme)
    for n in nodes:
        w = 1 if weights is None else weights.get(n, 1)
        if isinstance(h, _WeightedHasher):
            h.add_node(n, w)
        elif w != 1:
            raise UsageError(f"node {n!r}: the {scheme} scheme has no weights (weight {w!r})")
        else:
            h.add_node(n)
    return h


def layout_change(scheme: str, before: Sequence[str], after: Sequence[str], keys: Sequence[Any],
                  weights: Mapping[str, int] | None = None) -> dict[str, Any]:
    """How ``keys`` move when the servers change from ``before`` to ``after`` under ``scheme``.

    Returns ``moved_fraction`` (keys whose server changed), ``moved_to_other`` (keys that moved to a
    server that was already there before: 0 for a consistent scheme when servers are only added),
    ``ideal_moved_fraction`` (the least any scheme must move: the share of the added servers' weight,
    or of the removed ones'), ``shares`` (fraction of the keys per server after), ``max_mean_load``
    (the busiest server's keys over the mean) and the same for before.
    """
    if not keys:
        raise UsageError("keys must not be empty")
    h0 = make_scheme(scheme, before, weights)
    h1 = make_scheme(scheme, after, weights)
    old = [h0.get_node(k) for k in keys]
    new = [h1.get_node(k) for k in keys]
    moved = sum(1 for a, b in zip(old, new, strict=True) if a != b)
    kept_servers = set(before)
    to_other = sum(1 for a, b in zip(old, new, strict=True) if a != b and b in kept_servers)

    def shares(owners: list[str | None], servers: Sequence[str]) -> dict[str, float]:
        counts = dict.fromkeys(servers, 0)
        for o in owners:
            if o is not None:
                counts[o] += 1
        return {s: c / len(owners) for s, c in counts.items()}

    def max_mean(sh: dict[str, float]) -> float:
        return max(sh.values()) / (sum(sh.values()) / len(sh)) if sh else 0.0

    w = dict.fromkeys(set(before) | set(after), 1) if weights is None else \
        {n: weights.get(n, 1) for n in set(before) | set(after)}
    added = [n for n in after if n not in kept_servers]
    removed = [n for n in before if n not in set(after)]
    if added:
        ideal = sum(w[n] for n in added) / sum(w[n] for n in after)
    elif removed:
        ideal = sum(w[n] for n in removed) / sum(w[n] for n in before)
    else:
        ideal = 0.0
    sh0, sh1 = shares(old, before), shares(new, after)
    return {"scheme": scheme, "keys": len(keys), "nodes_before": len(before), "nodes_after": len(after),
            "moved": moved, "moved_fraction": moved / len(keys), "moved_to_other": to_other,
            "ideal_moved_fraction": ideal, "max_mean_load": max_mean(sh1), "max_mean_load_before": max_mean(sh0),
            "shares": sh1, "shares_before": sh0}
