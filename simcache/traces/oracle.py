"""libCacheSim's ``oracleGeneral`` binary format: reader, writer and next-access computation.

Each request is a 24-byte little-endian record with no header::

    uint32 timestamp   (seconds)
    uint64 obj_id
    uint32 obj_size    (bytes)
    int64  next_access_vtime

libCacheSim counts virtual time from 1, so on disk ``next_access_vtime`` is
the 1-based position of the next request to the same object (verified on
libCacheSim's own ``cloudPhysicsIO.oracleGeneral.bin``), and -1 -- or, in some
converters, a huge value -- when there is none. In memory simcache uses the
0-based request index and -1 for "never": the reader converts (any value < 1
or >= 2**62 reads as -1) and the writer writes ``index + 1`` and -1.

Object ids are unsigned 64-bit on disk; in memory they are int64 with the
same bits, so every id keeps its identity (ids >= 2**63 become negative).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from simcache.errors import TraceError, UsageError
from simcache.traces._io import DEFAULT_CHUNK, TraceReader, sniff_compression
from simcache.traces.base import Chunk

ORACLE_DTYPE = np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
RECORD = ORACLE_DTYPE.itemsize  # 24
#: next-access values at or above this are "no next access" (converters use INT64_MAX-like sentinels)
_HUGE = 1 << 62


def compute_next_access(ids: np.ndarray) -> np.ndarray:
    """Index of the next request to the same id for every request (-1 when there is none).

    Args:
        ids: object ids of a whole trace, any integer dtype.

    Returns:
        int64 array of the same length.
    """
    ids = np.asarray(ids)
    n = ids.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return out
    # a stable sort keeps each id's requests in time order, so neighbours in the
    # sorted order with equal ids are consecutive requests to that id
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    same = s[1:] == s[:-1]
    out[order[:-1][same]] = order[1:][same]
    return out


class OracleGeneralReader(TraceReader):
    """Streams an oracleGeneral file with ``np.fromfile``, ``chunk_size`` records at a time.

    Args:
        path: the ``.oracleGeneral`` / ``.bin`` file (uncompressed).
        chunk_size: requests per chunk.
    """

    format = "oracleGeneral"

    def __init__(self, path: str | os.PathLike[str], *, chunk_size: int = DEFAULT_CHUNK) -> None:
        super().__init__(path, chunk_size=chunk_size)
        kind = sniff_compression(self.path)
        if kind is not None:
            raise TraceError(
                f"{self.path}: oracleGeneral file is {kind}-compressed; decompress it first "
                f"(oracleGeneral is read as raw 24-byte records)"
            )
        self._check_size()

    def _check_size(self) -> int:
        size = self.path.stat().st_size
        whole, partial = divmod(size, RECORD)
        if partial:
            raise TraceError(
                f"{self.path}: truncated oracleGeneral record {whole} at byte offset {whole * RECORD}: "
                f"file size {size} is not a multiple of {RECORD} bytes ({partial} trailing bytes)"
            )
        return whole

    def count(self) -> int:
        """Number of requests, from the file size."""
        return self._check_size()

    def _chunks(self) -> Iterator[Chunk]:
        n = self._check_size()
        done = 0
        with open(self.path, "rb") as f:
            while done < n:
                recs = np.fromfile(f, dtype=ORACLE_DTYPE, count=min(self.chunk_size, n - done))
                if recs.shape[0] == 0:  # the file shrank while we read it
                    raise TraceError(
                        f"{self.path}: unexpected end of file at record {done} (byte offset {done * RECORD})"
                    )
                nxt = recs["next"].astype(np.int64)
                nxt = np.where((nxt < 1) | (nxt >= _HUGE), -1, nxt - 1)
                yield Chunk(
                    ids=recs["id"].view(np.int64),
                    sizes=recs["size"].astype(np.int64),
                    times=recs["time"].astype(np.float64),
                    next_access=nxt,
                )
                done += recs.shape[0]


def write_oracle_general(
    path: str | os.PathLike[str],
    ids: np.ndarray,
    sizes: np.ndarray | None = None,
    times: np.ndarray | None = None,
    next_access: np.ndarray | None = None,
) -> Path:
    """Write a trace in oracleGeneral format; return the path.

    Args:
        path: output file (overwritten).
        ids: object ids (int64 or uint64; int64 is stored with the same bits).
        sizes: object sizes in bytes, 0..2**32-1 (default 1).
        times: request times in seconds, 0..2**32-1, truncated to whole seconds (default 0).
        next_access: 0-based index of the next request to the same object, -1 for
            never; computed from ``ids`` when omitted. Stored 1-based as libCacheSim does,
            with -1 for "no next access".
    """
    ids = np.asarray(ids)
    n = ids.shape[0]
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise UsageError(f"ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
    recs = np.zeros(n, dtype=ORACLE_DTYPE)
    recs["id"] = ids.astype(np.int64, copy=False).view(np.uint64) if ids.dtype != np.uint64 else ids
    recs["size"] = 1 if sizes is None else _checked("sizes", sizes, n, 0, 2**32 - 1)
    if times is not None:
        recs["time"] = _checked("times", np.floor(np.asarray(times, dtype=np.float64)), n, 0, 2**32 - 1)
    if next_access is None:
        nxt = compute_next_access(ids)
    else:
        nxt = np.asarray(_checked("next_access", next_access, n, -1, n - 1), dtype=np.int64)
    recs["next"] = np.where(nxt < 0, -1, nxt + 1)
    p = Path(path)
    recs.tofile(p)
    return p


def _checked(name: str, values: np.ndarray, n: int, lo: int, hi: int) -> np.ndarray:
    v = np.asarray(values)
    if v.shape != (n,):
        raise UsageError(f"{name} must have the same length as ids ({n}), got shape {v.shape}")
    if n and (v.min() < lo or v.max() > hi):
        raise UsageError(f"{name} must lie in [{lo}, {hi}], got values in [{v.min()}, {v.max()}]")
    return v
