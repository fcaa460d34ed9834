"""Per-run seeds derived from one root seed with ``numpy.random.SeedSequence``.

A run's seed depends only on (root, point index, replication), never on the
executor or on the order runs finish: it is the child
``SeedSequence(root, spawn_key=(point, replication))`` -- exactly what
``SeedSequence(root).spawn(...)`` would hand out at that position -- turned
into one 63-bit integer that every model accepts as ``seed``.
"""

from __future__ import annotations

import numpy as np


def run_seed(root: int, point: int, replication: int, *, common: bool = False) -> int:
    """The seed of one run.

    Args:
        root: the sweep's root seed.
        point: the grid point's index.
        replication: the replication's index.
        common: common random numbers: every point of replication ``r`` gets the same seed.
    """
    key = (int(replication),) if common else (int(point), int(replication))
    ss = np.random.SeedSequence(int(root), spawn_key=key)
    # 63 bits: a positive Python int that fits int64 columns and every RNG constructor
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def seed_table(root: int, n_points: int, replications: int, *, common: bool = False) -> list[list[int]]:
    """Seeds of every run as ``[point][replication]``."""
    return [[run_seed(root, p, r, common=common) for r in range(replications)] for p in range(n_points)]
