"""CLOCK (second chance / FIFO-reinsertion) with an n-bit reference counter.

Same semantics as libCacheSim's ``Clock.c`` so miss ratios agree exactly.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from simcache.policies.base import Key, Policy, PolicyError, register


@register
class Clock(Policy):
    """CLOCK as a FIFO queue with reinsertion, keeping a counter per key.

    New key: counter 0, appended at the tail of the queue. Hit: the counter
    goes up by one, saturating at ``2**bits - 1``. Victim: look at the head of
    the queue; while its counter is >= 1, decrement the counter and move the
    key to the tail ("the hand passes it"); the first key found with counter 0
    is evicted.  With ``bits=1`` this is classic second chance.

    Args:
        capacity: entries or bytes.
        bits: width of the per-key counter (1 = one reference bit); >= 1.
        rng: unused.
    """

    name = "clock"

    def __init__(self, capacity: int, *, bits: int = 1, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        if isinstance(bits, bool) or int(bits) != bits or not 1 <= bits <= 32:
            raise PolicyError(f"clock: bits must be an integer in [1, 32], got {bits!r}")
        self.bits: int = int(bits)
        self.max_freq: int = (1 << self.bits) - 1
        # head = oldest (where the hand is), tail = most recently (re)inserted
        self._queue: OrderedDict[Key, int] = OrderedDict()

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        freq = self._queue[key]
        if freq < self.max_freq:
            self._queue[key] = freq + 1

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self._queue[key] = 0

    def _victim(self) -> Key:
        queue = self._queue
        while True:
            key, freq = queue.popitem(last=False)
            if freq == 0:
                return key
            # second chance: spend one unit of the counter and go round again
            queue[key] = freq - 1

    def _remove(self, key: Key) -> None:
        del self._queue[key]
