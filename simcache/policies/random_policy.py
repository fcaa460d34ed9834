"""Random replacement: evict a resident key chosen uniformly at random."""

from __future__ import annotations

import numpy as np

from simcache.policies.base import Key, Policy, register


@register
class RandomPolicy(Policy):
    """Uniform random eviction with O(1) pick (array of keys + position dict).

    New key: appended to the key array. Hit: nothing changes. Victim: the key
    at index ``self.rng.integers(n)`` of the array (``n`` resident keys); it is
    removed by moving the last key of the array into its slot (swap-remove), so
    the array order depends only on the sequence of admissions and removals
    and a run is reproducible from the seed of ``rng``.

    Args:
        capacity: entries or bytes.
        rng: the random stream the victims are drawn from.
    """

    name = "random"

    def __init__(self, capacity: int, *, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        self._keys: list[Key] = []
        self._pos: dict[Key, int] = {}

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        pass

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self._pos[key] = len(self._keys)
        self._keys.append(key)

    def _take(self, index: int) -> Key:
        keys = self._keys
        key = keys[index]
        last = keys.pop()
        if index < len(keys):
            # fill the hole with the last key so removal stays O(1)
            keys[index] = last
            self._pos[last] = index
        del self._pos[key]
        return key

    def _victim(self) -> Key:
        return self._take(int(self.rng.integers(len(self._keys))))

    def _remove(self, key: Key) -> None:
        self._take(self._pos[key])
