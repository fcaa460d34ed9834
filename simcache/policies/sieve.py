"""SIEVE (Zhang et al., NSDI 2024): a FIFO queue, a visited bit and a moving hand."""

from __future__ import annotations

from typing import Any

import numpy as np

from simcache.policies.base import Key, Policy, register

# end-of-list marker: keys may be any hashable, including None
_NIL: Any = object()


@register
class Sieve(Policy):
    """SIEVE eviction, with the exact semantics of libCacheSim's ``Sieve.c``.

    * New keys go to the head (newest end) of the queue with ``visited = 0``;
      the hand does not move on insertion.
    * A hit sets ``visited = 1``; nothing moves.
    * Eviction starts at the hand (at the tail, the oldest key, when the hand
      is unset).  While the key under the hand is visited, its bit is cleared
      and the hand steps toward the head, wrapping to the tail past the head.
      The first unvisited key is evicted and the hand rests on its newer
      neighbour (unset if it was the head, so the next sweep restarts at the
      tail).
    * Removing a key from outside moves the hand to its newer neighbour when
      the hand was on it.
    * Variable sizes: evict one victim at a time until the new object fits.

    Args:
        capacity: entries or bytes.
        rng: unused.
    """

    name = "sieve"

    def __init__(self, capacity: int, *, rng: np.random.Generator | None = None) -> None:
        super().__init__(capacity, rng=rng)
        # a doubly linked list in two dicts: newer[k] is toward the head, older[k] toward the tail
        self._newer: dict[Key, Any] = {}
        self._older: dict[Key, Any] = {}
        self._visited: dict[Key, bool] = {}
        self._head: Any = _NIL  # newest
        self._tail: Any = _NIL  # oldest
        self._hand: Any = _NIL  # _NIL: the next sweep starts at the tail

    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        self._visited[key] = True

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        self._visited[key] = False
        self._newer[key] = _NIL
        self._older[key] = self._head
        if self._head is _NIL:
            self._tail = key
        else:
            self._newer[self._head] = key
        self._head = key

    def _victim(self) -> Key:
        key = self._tail if self._hand is _NIL else self._hand
        while self._visited[key]:
            self._visited[key] = False
            newer = self._newer[key]
            key = self._tail if newer is _NIL else newer
        self._hand = self._newer[key]
        self._unlink(key)
        return key

    def _remove(self, key: Key) -> None:
        if self._hand is not _NIL and self._hand == key:
            self._hand = self._newer[key]
        self._unlink(key)

    def _unlink(self, key: Key) -> None:
        newer = self._newer.pop(key)
        older = self._older.pop(key)
        del self._visited[key]
        if newer is _NIL:
            self._head = older
        else:
            self._older[newer] = older
        if older is _NIL:
            self._tail = newer
        else:
            self._newer[older] = newer
