"""First In, First Out: evict the key admitted longest ago; hits change nothing."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, register


@register
class FIFO(Policy):
    """FIFO over an ordered dict of resident keys in admission order.

    New key: appended at the tail of the queue. Hit: nothing changes.
    Victim: the head of the queue (the oldest admission).

    Args:
        capacity: entries or bytes.
        rng: unused.
    """

    name = "fifo"

    def __init__(self, capacity: int, *, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        self._queue: OrderedDict[Key, None] = OrderedDict()

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        # FIFO ignores hits: that is what makes it cheap and scan-neutral
        pass

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self._queue[key] = None

    def _victim(self) -> Key:
        return self._queue.popitem(last=False)[0]

    def _remove(self, key: Key) -> None:
        del self._queue[key]
