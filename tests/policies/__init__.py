"""Tests of the eviction policies; ``replay`` is the shared hand-worked-sequence driver."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from simcache.policies.base import Policy


def replay(policy: Policy, requests: Iterable[Hashable | tuple[Hashable, int]]) -> tuple[list[bool], list[Hashable]]:
    """Feed requests (keys, or ``(key, size)`` pairs) to a policy; return its hits and evictions in order."""
    evicted: list[Hashable] = []
    policy.on_evict = lambda key, size: evicted.append(key)
    hits = []
    for request in requests:
        key, size = request if isinstance(request, tuple) else (request, 1)
        hits.append(policy.access(key, size))
    return hits, evicted


def hits_of(text: str) -> list[bool]:
    """Decode a hit pattern written as a string of 'H' (hit) and 'm' (miss)."""
    return [c == "H" for c in text.replace(" ", "")]
