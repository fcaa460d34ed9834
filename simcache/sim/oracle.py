"""The truth: every committed write, so that every read anywhere can be judged against it.

The database is the source of truth; when it commits a write it tells the
world's :class:`Oracle` (key, write id, commit time).  A read anywhere —
from a cache, a replica, a browser — returns a :class:`Value` carrying the
write id it holds, and the client that invoked the read asks the oracle how
that compares with the truth:

* **dirty** — the write id was never committed (a cache written before a
  database write that then failed);
* **stale** — a newer version of the key had been committed *before the
  read was invoked*; its age is the time from that commit to the
  invocation, and ``behind`` counts the versions committed by then;
* **concurrent** — a newer version was committed while the read was in
  progress (between invocation and response): neither stale nor fresh;
* **fresh** — otherwise.

Write ids are unique in the world (:meth:`World.new_write_id`); 0 is every
key's initial value (version 0, committed at time 0).

Memory stays flat: per key the oracle keeps the commit times of at most
``2 * history`` recent versions and a bit per write id; a read of a
version older than what is kept is judged stale by at least the versions
kept, since at least the oldest kept commit (counted in ``truncated``).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simcache.sim.world import World

FRESH, STALE, CONCURRENT, DIRTY = "fresh", "stale", "concurrent", "dirty"


@dataclass(frozen=True, slots=True)
class Value:
    """A versioned value as the simulation moves it around: the write that made it, and its size in bytes."""

    wid: int
    size: int = 100

    def __repr__(self) -> str:
        return f"Value(w{self.wid}, {self.size}B)"


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a read compares with the truth (see the module docstring)."""

    kind: str
    behind: int = 0
    age: float = 0.0


class _History:
    __slots__ = ("times", "wids", "base")

    def __init__(self) -> None:
        self.times: list[float] = []  # commit time of versions base+1, base+2, ...
        self.wids: dict[int, int] = {}  # write id -> version (kept versions only)
        self.base = 0  # versions forgotten


class Oracle:
    """The committed history of every key (``world.oracle``).

    Args:
        world: the simulation world.
        history: versions per key whose commit times are kept exactly.
    """

    def __init__(self, world: World, history: int = 1024) -> None:
        self.world = world
        self.history_limit = int(history)
        self._keys: dict[Any, _History] = {}
        self._committed = bytearray(1024)
        self._abandoned: set[int] = set()
        self.commits = 0
        self.late_commits = 0
        self.truncated = 0

    # ------------------------------------------------------------ writes
    def commit(self, key: Any, wid: int, t: float) -> int:
        """Record that write ``wid`` of ``key`` committed at time ``t``; return its version."""
        h = self._keys.get(key)
        if h is None:
            h = self._keys[key] = _History()
        h.times.append(t)
        v = h.base + len(h.times)
        h.wids[wid] = v
        self._mark(wid)
        self.commits += 1
        if wid in self._abandoned:
            self._abandoned.discard(wid)
            self.late_commits += 1
        k = self.history_limit
        if len(h.times) > 2 * k:
            h.base += k
            del h.times[:k]
            base = h.base
            h.wids = {w: ver for w, ver in h.wids.items() if ver > base}
        return v

    def abandoned(self, wid: int) -> None:
        """A caller gave up waiting for write ``wid`` (a timeout); a later commit of it counts as late."""
        if not self.committed(wid):
            self._abandoned.add(wid)

    def _mark(self, wid: int) -> None:
        i = wid >> 3
        if i >= len(self._committed):
            self._committed.extend(bytearray(max(i + 1 - len(self._committed), len(self._committed))))
        self._committed[i] |= 1 << (wid & 7)

    def committed(self, wid: int) -> bool:
        """Whether write ``wid`` has committed (id 0, the initial value, always has)."""
        if wid == 0:
            return True
        i = wid >> 3
        return i < len(self._committed) and bool(self._committed[i] & (1 << (wid & 7)))

    # ------------------------------------------------------------- reads
    def latest(self, key: Any) -> int:
        """The latest committed version of ``key``."""
        h = self._keys.get(key)
        return 0 if h is None else h.base + len(h.times)

    def version_at(self, key: Any, t: float) -> int:
        """The version of ``key`` committed by time ``t``."""
        h = self._keys.get(key)
        return 0 if h is None else h.base + bisect_right(h.times, t)

    def version_of(self, key: Any, wid: int) -> int | None:
        """The version write ``wid`` made of ``key`` (None when unknown or forgotten)."""
        if wid == 0:
            return 0
        h = self._keys.get(key)
        return None if h is None else h.wids.get(wid)

    def judge(self, key: Any, wid: int, invoked: float, answered: float) -> Verdict:
        """Judge a read of ``key`` invoked at ``invoked`` that returned write ``wid`` at ``answered``."""
        if not self.committed(wid):
            return Verdict(DIRTY)
        h = self._keys.get(key)
        if h is None:
            return Verdict(FRESH)
        times, base = h.times, h.base
        v = 0 if wid == 0 else h.wids.get(wid)
        if v is None or v < base:
            # committed, but older than the kept history: its successor committed by times[0] at the latest
            self.truncated += 1
            first_newer = times[0] if times else 0.0
            v = base
        elif v - base < len(times):
            first_newer = times[v - base]
        else:
            return Verdict(FRESH)  # no newer version at all
        if first_newer < invoked:
            return Verdict(STALE, base + bisect_right(times, invoked) - v, invoked - first_newer)
        if first_newer <= answered:
            return Verdict(CONCURRENT)
        return Verdict(FRESH)
