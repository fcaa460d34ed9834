"""Array-backed data structures shared by the kernels: doubly-linked lists and an indexed min-heap.

Lists live in a per-object int32 array of links, shape (n, 2): ``lk[x, 0]``
points towards the head (newer), ``lk[x, 1]`` towards the tail (older), -1
ends a list; an object is in at most one list per links array.  Both links of
an object share a cache line, which made list-heavy kernels up to 3x faster
than separate prev/next arrays.  A list's head and tail are
plain integers that the kernel keeps in local variables and the helpers take
and return: kept in an array, every store to ``prev``/``nxt`` would force the
compiler to reload them (it cannot prove the arrays do not alias), which made
the loops several times slower.
"""

from __future__ import annotations

import numpy as np

from simcache.kernels._jit import jit


@jit
def push_front(lk: np.ndarray, head: int, tail: int, x: int) -> tuple[int, int]:
    """Link ``x`` at the head; returns the new (head, tail)."""
    lk[x, 0] = -1
    lk[x, 1] = head
    if head >= 0:
        lk[head, 0] = x
    else:
        tail = x
    return x, tail


@jit
def unlink(lk: np.ndarray, head: int, tail: int, x: int) -> tuple[int, int]:
    """Remove ``x`` from its list; returns the new (head, tail)."""
    p = lk[x, 0]
    n = lk[x, 1]
    if p >= 0:
        lk[p, 1] = n
    else:
        head = n
    if n >= 0:
        lk[n, 0] = p
    else:
        tail = p
    return head, tail


# A heap slot is one row of an int64 (n, 3) array: key1, key2, object id; sifting walks this one
# array (no jumps through per-object arrays) and each slot is one contiguous record. pos[x] is x's slot.


@jit
def heap_up(hp: np.ndarray, pos: np.ndarray, i: int) -> None:
    """Restore the min-heap order on (key1, key2) after the key at slot ``i`` decreased."""
    k1 = hp[i, 0]
    k2 = hp[i, 1]
    x = hp[i, 2]
    while i > 0:
        p = (i - 1) >> 1
        if k1 < hp[p, 0] or (k1 == hp[p, 0] and k2 < hp[p, 1]):
            hp[i, 0] = hp[p, 0]
            hp[i, 1] = hp[p, 1]
            hp[i, 2] = hp[p, 2]
            pos[hp[i, 2]] = i
            i = p
        else:
            break
    hp[i, 0] = k1
    hp[i, 1] = k2
    hp[i, 2] = x
    pos[x] = i


@jit
def heap_down(hp: np.ndarray, pos: np.ndarray, n: int, i: int) -> None:
    """Restore the min-heap order after the key at slot ``i`` increased (``n`` = heap length)."""
    k1 = hp[i, 0]
    k2 = hp[i, 1]
    x = hp[i, 2]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and (hp[c + 1, 0] < hp[c, 0] or (hp[c + 1, 0] == hp[c, 0] and hp[c + 1, 1] < hp[c, 1])):
            c += 1
        if hp[c, 0] < k1 or (hp[c, 0] == k1 and hp[c, 1] < k2):
            hp[i, 0] = hp[c, 0]
            hp[i, 1] = hp[c, 1]
            hp[i, 2] = hp[c, 2]
            pos[hp[i, 2]] = i
            i = c
        else:
            break
    hp[i, 0] = k1
    hp[i, 1] = k2
    hp[i, 2] = x
    pos[x] = i


@jit
def heap_remove(hp: np.ndarray, pos: np.ndarray, n: int, x: int) -> int:
    """Remove object ``x`` from a heap of length ``n``; returns the new length."""
    i = pos[x]
    n -= 1
    pos[x] = -1
    if i < n:
        m = hp[n, 2]
        hp[i, 0] = hp[n, 0]
        hp[i, 1] = hp[n, 1]
        hp[i, 2] = m
        pos[m] = i
        heap_down(hp, pos, n, i)
        heap_up(hp, pos, pos[m])
    return n


@jit
def heap_push(hp: np.ndarray, pos: np.ndarray, n: int, x: int, k1: int, k2: int) -> int:
    """Add object ``x`` with key (k1, k2) to a heap of length ``n``; returns the new length."""
    hp[n, 0] = k1
    hp[n, 1] = k2
    hp[n, 2] = x
    pos[x] = n
    heap_up(hp, pos, n)
    return n + 1

@jit
def push_front_at(rec: np.ndarray, c: int, head: int, tail: int, x: int) -> tuple[int, int]:
    """:func:`push_front` on the links in columns ``c`` (newer) and ``c + 1`` (older) of a record array."""
    rec[x, c] = -1
    rec[x, c + 1] = head
    if head >= 0:
        rec[head, c] = x
    else:
        tail = x
    return x, tail


@jit
def unlink_at(rec: np.ndarray, c: int, head: int, tail: int, x: int) -> tuple[int, int]:
    """:func:`unlink` on the links in columns ``c`` and ``c + 1`` of a record array."""
    p = rec[x, c]
    n = rec[x, c + 1]
    if p >= 0:
        rec[p, c + 1] = n
    else:
        head = n
    if n >= 0:
        rec[n, c] = p
    else:
        tail = p
    return head, tail
