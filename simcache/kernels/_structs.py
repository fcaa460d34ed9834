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

from simcache.kernels._jit import jit


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


# The heap keeps its keys next to the object ids (hk1, hk2, hx: parallel arrays indexed by heap slot) so
# sifting walks a small contiguous array instead of jumping through per-object arrays; pos[x] is x's slot.


@jit
def heap_up(hk1: np.ndarray, hk2: np.ndarray, hx: np.ndarray, pos: np.ndarray, i: int) -> None:
    """Restore the min-heap order on (hk1, hk2) after the key at slot ``i`` decreased."""
    k1 = hk1[i]
    k2 = hk2[i]
    x = hx[i]
    while i > 0:
        p = (i - 1) >> 1
        if k1 < hk1[p] or (k1 == hk1[p] and k2 < hk2[p]):
            hk1[i] = hk1[p]
            hk2[i] = hk2[p]
            hx[i] = hx[p]
            pos[hx[i]] = i
            i = p
        else:
            break
    hk1[i] = k1
    hk2[i] = k2
    hx[i] = x
    pos[x] = i


@jit
def heap_down(hk1: np.ndarray, hk2: np.ndarray, hx: np.ndarray, pos: np.ndarray, n: int, i: int) -> None:
    """Restore the min-heap order after the key at slot ``i`` increased (``n`` = heap length)."""
    k1 = hk1[i]
    k2 = hk2[i]
    x = hx[i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and (hk1[c + 1] < hk1[c] or (hk1[c + 1] == hk1[c] and hk2[c + 1] < hk2[c])):
            c += 1
        if hk1[c] < k1 or (hk1[c] == k1 and hk2[c] < k2):
            hk1[i] = hk1[c]
            hk2[i] = hk2[c]
            hx[i] = hx[c]
            pos[hx[i]] = i
            i = c
        else:
            break
    hk1[i] = k1
    hk2[i] = k2
    hx[i] = x
    pos[x] = i


@jit
def heap_remove(hk1: np.ndarray, hk2: np.ndarray, hx: np.ndarray, pos: np.ndarray, n: int, x: int) -> int:
    """Remove object ``x`` from a heap of length ``n``; returns the new length."""
    i = pos[x]
    n -= 1
    pos[x] = -1
    if i < n:
        m = hx[n]
        hk1[i] = hk1[n]
        hk2[i] = hk2[n]
        hx[i] = m
        pos[m] = i
        heap_down(hk1, hk2, hx, pos, n, i)
        heap_up(hk1, hk2, hx, pos, pos[m])
    return n


@jit
def heap_push(hk1: np.ndarray, hk2: np.ndarray, hx: np.ndarray, pos: np.ndarray, n: int, x: int, k1: int,
              k2: int) -> int:
    """Add object ``x`` with key (k1, k2) to a heap of length ``n``; returns the new length."""
    hk1[n] = k1
    hk2[n] = k2
    hx[n] = x
    pos[x] = n
    heap_up(hk1, hk2, hx, pos, n)
    return n + 1
