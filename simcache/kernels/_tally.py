"""The hit and miss counters every kernel keeps: per request in local variables, per chunk into ``cnt``."""

from __future__ import annotations

import numpy as np

from simcache.kernels._jit import jit, jit_inline


@jit_inline
def tally(counted, hit, nbytes, nh, nm, nbh, nbm):  # noqa: ANN001, ANN201
    """Count one request (``counted``: past the warm-up) as a hit or a miss of ``nbytes`` bytes.

    Returns the new (hits, misses, byte hits, byte misses).  The counters live in the loop's locals: kept
    in ``cnt``, every store to a state array would make the compiler reload them.
    """
    if counted:
        if hit:
            nh += 1
            nbh += nbytes
        else:
            nm += 1
            nbm += nbytes
    return nh, nm, nbh, nbm


@jit
def add_counts(cnt: np.ndarray, nh: int, nm: int, nbh: int, nbm: int) -> None:
    """Add a chunk's counters to ``cnt`` [hits, misses, byte hits, byte misses]."""
    cnt[0] += nh
    cnt[1] += nm
    cnt[2] += nbh
    cnt[3] += nbm
