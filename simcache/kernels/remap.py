"""Dense ids: map a trace's raw object ids to 0..n-1 once, chunk by chunk, with flat memory.

Kernels index per-object arrays by dense id, so every raw id (int64 or uint64,
sparse, huge) is mapped once through an open-addressing hash table that lives
in two numpy arrays and grows by doubling.  Hashes are computed vectorised in
numpy (uint64 wrap-around arithmetic) so the probe loop is the same code
compiled or not.
"""

from __future__ import annotations

import numpy as np

from simcache.kernels._jit import jit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _hash(raw: np.ndarray, bits: int) -> np.ndarray:
    """Fibonacci hashing of 64-bit ids to ``bits``-bit table slots."""
    with np.errstate(over="ignore"):
        h = raw.view(np.uint64) * _GOLDEN
    return (h >> np.uint64(64 - bits)).astype(np.int64)


@jit
def _probe(raw: np.ndarray, slot: np.ndarray, keys: np.ndarray, vals: np.ndarray, n: np.ndarray, out: np.ndarray) -> None:
    mask = keys.shape[0] - 1
    nxt = n[0]
    for i in range(raw.shape[0]):
        k = raw[i]
        j = slot[i]
        while True:
            v = vals[j]
            if v < 0:
                keys[j] = k
                vals[j] = nxt
                out[i] = nxt
                nxt += 1
                break
            if keys[j] == k:
                out[i] = v
                break
            j = (j + 1) & mask
    n[0] = nxt


class Remapper:
    """Streaming raw-id -> dense-id map (first appearance order: the first new id gets 0).

    Args:
        identity_below: when not None, ids are taken as already dense (a
            synthetic catalogue of this many objects) and returned unchanged.
    """

    def __init__(self, identity_below: int | None = None) -> None:
        self.identity_below = identity_below
        self._bits = 16
        self._keys = np.zeros(1 << self._bits, dtype=np.int64)
        self._vals = np.full(1 << self._bits, -1, dtype=np.int64)
        self._n = np.zeros(1, dtype=np.int64)

    @property
    def n(self) -> int:
        """Number of distinct ids seen (for identity maps: the catalogue size)."""
        return int(self.identity_below) if self.identity_below is not None else int(self._n[0])

    def map(self, raw: np.ndarray) -> np.ndarray:
        """Dense int32 ids of one chunk of raw ids, remembering new ids for later chunks."""
        if self.identity_below is not None:
            return raw.astype(np.int32, copy=False)
        raw = np.ascontiguousarray(raw)
        if raw.dtype != np.int64:
            raw = raw.view(np.int64) if raw.dtype == np.uint64 else raw.astype(np.int64)
        # grow before the chunk so the table stays at most half full whatever it holds
        while 2 * (int(self._n[0]) + raw.shape[0]) > (1 << self._bits):
            self._grow()
        out = np.empty(raw.shape[0], dtype=np.int64)
        _probe(raw, _hash(raw, self._bits), self._keys, self._vals, self._n, out)
        if self._n[0] >= 2**31 - 1:
            raise OverflowError("more than 2**31 distinct objects")
        return out.astype(np.int32)

    def _grow(self) -> None:
        used = self._vals >= 0
        keys, vals = self._keys[used], self._vals[used]
        self._bits += 1
        self._keys = np.zeros(1 << self._bits, dtype=np.int64)
        self._vals = np.full(1 << self._bits, -1, dtype=np.int64)
        n = np.zeros(1, dtype=np.int64)
        out = np.empty(keys.shape[0], dtype=np.int64)
        # reinsert in dense-id order so each key keeps its value
        order = np.argsort(vals, kind="stable")
        keys = keys[order]
        _probe(keys, _hash(keys, self._bits), self._keys, self._vals, n, out)
        self._n = n
