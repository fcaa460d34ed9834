"""Helpers shared by the kernel tests: the reference replay and the trace generator."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from simcache.policies import make_policy


def reference_hits(policy: str, ids: np.ndarray, sizes: np.ndarray | None, capacity: int,
                   params: dict[str, Any] | None = None) -> np.ndarray:
    """Per-request hits of the reference policy class (next-access indexes given to every request)."""
    p = make_policy(policy, capacity, **(params or {}))
    n = len(ids)
    nxt = np.full(n, -1, dtype=np.int64)
    last: dict[int, int] = {}
    for i in range(n - 1, -1, -1):
        k = int(ids[i])
        nxt[i] = last.get(k, -1)
        last[k] = i
    out = np.zeros(n, dtype=bool)
    for i in range(n):
        out[i] = p.access(int(ids[i]), 1 if sizes is None else int(sizes[i]), next_access=int(nxt[i]))
    return out


@st.composite
def traces(draw: st.DrawFn, max_len: int = 300) -> tuple[np.ndarray, np.ndarray, int, int]:
    """A trace of repeats, scans and random picks, per-object sizes (some larger than the cache), a capacity, a chunk."""
    universe = draw(st.integers(2, 60))
    capacity = draw(st.integers(1, 24))
    ids: list[int] = []
    while len(ids) < max_len:
        kind = draw(st.sampled_from(["random", "repeat", "scan", "hot"]))
        if kind == "random":
            ids += draw(st.lists(st.integers(0, universe - 1), min_size=1, max_size=40))
        elif kind == "repeat":
            ids += [draw(st.integers(0, universe - 1))] * draw(st.integers(2, 6))
        elif kind == "scan":
            lo = draw(st.integers(0, universe - 1))
            ids += list(range(lo, min(universe, lo + draw(st.integers(2, 40)))))
        else:
            hot = draw(st.lists(st.integers(0, min(4, universe - 1)), min_size=1, max_size=20))
            ids += hot
        # stop after a segment with probability 1/4: traces of a few segments mix hits with evictions,
        # which is where policies differ (stopping half the time left too many traces too short to tell)
        if draw(st.integers(0, 3)) == 0:
            break
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    # fixed size per object, up to 1.5x the capacity so some objects never fit
    obj_size = rng.integers(1, max(2, int(1.5 * capacity) + 1), size=universe)
    raw = np.asarray(ids, dtype=np.int64) * 7919 + 3  # sparse raw ids, exercising the remap
    chunk = draw(st.integers(1, 128))
    return raw, obj_size[np.asarray(ids)], capacity, chunk
