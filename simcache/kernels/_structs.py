"""Array-backed data structures shared by the kernels: doubly-linked lists and an indexed min-heap.

Lists live in per-object ``prev``/``nxt`` int32 arrays (an object is in at most
one list per pair of arrays); head is the newest end, ``prev`` points towards
the head, ``nxt`` towards the tail, -1 ends a list.  A list's head and tail are
plain integers that the kernel keeps in local variables and the helpers take
and return: kept in an array, every store to ``prev``/``nxt`` would force the
compiler to reload them (it cannot prove the arrays do not alias), which made
the loops several times slower.
"""

from __future__ import annotations

import numpy as np

from simcache.kernels._jit import jit, jit_inline


@jit
def push_front(prev: np.ndarray, nxt: np.ndarray, head: int, tail: int, x: int) -> tuple[int, int]:
    """Link ``x`` at the head; returns the new (head, tail)."""
    prev[x] = -1
    nxt[x] = head
    if head >= 0:
        prev[head] = x
    else:
        tail = x
    return x, tail


@jit
def unlink(prev: np.ndarray, nxt: np.ndarray, head: int, tail: int, x: int) -> tuple[int, int]:
    """Remove ``x`` from its list; returns the new (head, tail)."""
    p = prev[x]
    n = nxt[x]
    if p >= 0:
        nxt[p] = n
    else:
        head = n
    if n >= 0:
        prev[n] = p
    else:
        tail = p
    return head, tail


@jit_inline
def _less(k1: np.ndarray, k2: np.ndarray, a: int, b: int) -> bool:
    return k1[a] < k1[b] or (k1[a] == k1[b] and k2[a] < k2[b])


@jit_inline
def heap_up(heap: np.ndarray, pos: np.ndarray, k1: np.ndarray, k2: np.ndarray, i: int) -> None:
    """Restore the min-heap order on (k1, k2) after the key of ``heap[i]`` decreased."""
    x = heap[i]
    while i > 0:
        p = (i - 1) >> 1
        y = heap[p]
        if _less(k1, k2, x, y):
            heap[i] = y
            pos[y] = i
            i = p
        else:
            break
    heap[i] = x
    pos[x] = i


@jit_inline
def heap_down(heap: np.ndarray, pos: np.ndarray, k1: np.ndarray, k2: np.ndarray, n: int, i: int) -> None:
    """Restore the min-heap order after the key of ``heap[i]`` increased (``n`` = heap length)."""
    x = heap[i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and _less(k1, k2, heap[c + 1], heap[c]):
            c += 1
        y = heap[c]
        if _less(k1, k2, y, x):
            heap[i] = y
            pos[y] = i
            i = c
        else:
            break
    heap[i] = x
    pos[x] = i


@jit_inline
def heap_remove(heap: np.ndarray, pos: np.ndarray, k1: np.ndarray, k2: np.ndarray, n: int, x: int) -> int:
    """Remove object ``x`` from a heap of length ``n``; returns the new length."""
    i = pos[x]
    n -= 1
    pos[x] = -1
    if i < n:
        last = heap[n]
        heap[i] = last
        pos[last] = i
        heap_down(heap, pos, k1, k2, n, i)
        heap_up(heap, pos, k1, k2, pos[last])
    return n


@jit_inline
def heap_push(heap: np.ndarray, pos: np.ndarray, k1: np.ndarray, k2: np.ndarray, n: int, x: int) -> int:
    """Add object ``x`` (its keys already set) to a heap of length ``n``; returns the new length."""
    heap[n] = x
    pos[x] = n
    heap_up(heap, pos, k1, k2, n)
    return n + 1
