"""Least Recently Used: evict the key whose last access is oldest."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, register


@register
class LRU(Policy):
    """Classic LRU over an ordered dict (oldest first).

    Args:
        capacity: entries or bytes.
        rng: unused.
    """

    name = "lru"

    def __init__(self, capacity: int, *, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        self._order: OrderedDict[Key, None] = OrderedDict()

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        self._order.move_to_end(key)

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self._order[key] = None

    def _victim(self) -> Key:
        return self._order.popitem(last=False)[0]

    def _remove(self, key: Key) -> None:
        del self._order[key]
