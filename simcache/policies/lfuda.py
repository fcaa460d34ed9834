"""LFU with Dynamic Aging (Arlitt et al. 2000): evict the lowest L + F*C."""

from __future__ import annotations

import numpy as np

from simcache.policies.base import register
from simcache.policies.gdsf import GreedyDualBase


@register
class LFUDA(GreedyDualBase):
    """LFU-DA: ``H = L + F * C``; L (the H of the last victim) ages out formerly hot keys.

    See :class:`simcache.policies.gdsf.GreedyDualBase` for the exact rules
    (F starts at 1 and counts hits while resident; ties go to the earliest
    inserted key).  Sizes only matter for how many keys are evicted.

    Args:
        capacity: entries or bytes.
        cost: the retrieval cost C of every object (> 0).
        rng: unused.
    """

    name = "lfuda"

    def __init__(self, capacity: int, *, cost: float = 1.0, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, cost=cost, rng=rng)

    def _priority(self, freq: int, size: int) -> float:
        return freq * self.cost
