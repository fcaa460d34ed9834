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
from simcache.traces._io import DEFAULT_CHUNK, CompressedStream, TraceReader, sniff_compression
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


class NextAccessCheck:
    """Streaming check that a trace's next-access fields agree with its ids.

    A consistent field points from each request to the next request to the same object (or says
    "never"), so it never points backwards, at itself, past the end, at another object, or over a
    request to its object; random bytes, or a file whose fields disagree with its ids (on which Belady
    would give a different answer for each way of reading it), fail here. Checked exactly within each
    chunk; a pointer that leaves its chunk is held until the chunk holding its target arrives, and
    checked there (same object, and no request to the object in between). A "never" is checked within
    its chunk.

    Args:
        shown: the file, as error messages name it.
    """

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.seen = 0  # requests checked so far
        self._targets = np.empty(0, dtype=np.int64)  # pending pointers out of earlier chunks, sorted by target
        self._ids = np.empty(0, dtype=np.int64)

    def _fail(self, index: int, why: str) -> TraceError:
        return TraceError(f"{self.shown}: record {index} (byte offset {index * RECORD}): inconsistent next-access "
                          f"field: {why} (not an oracleGeneral trace, or a damaged one)")

    def feed(self, ids: np.ndarray, nxt: np.ndarray) -> None:
        """Check one chunk: ``ids`` and its 0-based next-access indexes (-1 for never).

        Without computing the next accesses (a stable sort, 10x the cost of reading): pointers inside the
        chunk must go forward to a request to the same object, at most one per target. They then cut each
        object's requests into chains; the field is exact when no two chain heads are the same object, since
        a forward chain through all of an object's requests visits them in order.
        """
        m = len(ids)
        lo, hi = self.seen, self.seen + m
        has = nxt >= 0
        back = has & (nxt < lo)
        if back.any():
            i = int(np.argmax(back))
            raise self._fail(lo + i, f"points at record {int(nxt[i])}, backwards")
        src = np.flatnonzero((nxt >= lo) & (nxt < hi))
        tgt = nxt[src] - lo
        bad = tgt <= src
        if bad.any():
            i = int(src[np.argmax(bad)])
            raise self._fail(lo + i, f"points at record {int(nxt[i])}, {'itself' if nxt[i] == lo + i else 'backwards'}")
        other = ids[tgt] != ids[src]
        if other.any():
            self._explain(ids, nxt, lo, hi)
        indeg = np.bincount(tgt, minlength=m)
        if m and indeg.max() > 1:
            j = int(np.argmax(indeg > 1))
            raise self._fail(lo + j, "two records point at it")
        # pending pointers into this chunk: each lands on the first request to its object here (a chain head)
        if self._targets.size:
            k = int(np.searchsorted(self._targets, hi))
            ptgt, pid = self._targets[:k] - lo, self._ids[:k]
            later_t, later_i = self._targets[k:], self._ids[k:]
            if k:
                wrong = (ids[ptgt] != pid) | (indeg[ptgt] > 0)
                if wrong.any():
                    j = int(np.argmax(wrong))
                    if ids[ptgt[j]] != pid[j]:
                        raise self._fail(lo + int(ptgt[j]), f"an earlier record of object {int(pid[j])} points "
                                         f"here, but this is object {int(ids[ptgt[j]])}")
                    raise self._fail(lo + int(ptgt[j]), f"an earlier record of object {int(pid[j])} points here, "
                                     f"over the requests to it before this one")
            if later_i.size:
                seen = np.isin(later_i, ids)
                if seen.any():
                    j = int(np.argmax(seen))
                    where = lo + int(np.argmax(ids == later_i[j]))
                    raise self._fail(where, f"an earlier record of object {int(later_i[j])} points past this one, "
                                     f"to record {int(later_t[j])}")
            self._targets, self._ids = later_t, later_i
        if m:
            # every object has a chain head here; the field is exact when no object has two
            heads = np.sort(ids[indeg == 0])
            if np.any(heads[1:] == heads[:-1]):
                self._explain(ids, nxt, lo, hi)
        out = has & (nxt >= hi)
        if out.any():
            t = np.concatenate([self._targets, nxt[out]])
            i2 = np.concatenate([self._ids, ids[out]])
            order = np.argsort(t, kind="stable")
            t, i2 = t[order], i2[order]
            if t.size > 1 and np.any(t[1:] == t[:-1]):
                j = int(np.argmax(t[1:] == t[:-1]))
                raise self._fail(int(t[j]), "two records point at it")
            self._targets, self._ids = t, i2
        self.seen = hi

    def _explain(self, ids: np.ndarray, nxt: np.ndarray, lo: int, hi: int) -> None:
        """Find and raise the first request of the chunk whose field is not its next request (the slow way)."""
        local = compute_next_access(ids)
        local = np.where(local >= 0, local + lo, -1)
        inside = local >= 0
        wrong = (inside & (nxt != local)) | (~inside & (nxt >= 0) & (nxt < hi))
        i = int(np.argmax(wrong)) if wrong.any() else 0
        want = int(local[i])
        raise self._fail(lo + i, f"says {int(nxt[i]) if nxt[i] >= 0 else 'never'} but the next request to "
                         f"object {int(ids[i])} is record {want if want >= 0 else 'none in this stretch'}")

    def finish(self) -> None:
        """At the end of the file: no pointer may be left pointing past it."""
        if self._targets.size:
            raise self._fail(int(self._targets[0]), f"a record of object {int(self._ids[0])} points here, past the "
                             f"last record ({self.seen - 1})")


class OracleGeneralReader(TraceReader):
    """Streams an oracleGeneral file, ``chunk_size`` records at a time, plain (``np.fromfile``) or compressed.

    libCacheSim publishes its traces as ``*.oracleGeneral.zst``; gzip, xz, bz2 and zstd files are decoded
    on the fly. Each chunk's next-access fields are checked against its ids (:class:`NextAccessCheck`).

    Args:
        path: the ``.oracleGeneral`` / ``.bin`` file (``.zst``, ``.gz``, ``.xz`` or ``.bz2`` too).
        chunk_size: requests per chunk.
        check: verify the next-access fields (on by default; off saves a sort per chunk).
    """

    format = "oracleGeneral"

    def __init__(self, path: str | os.PathLike[str], *, chunk_size: int = DEFAULT_CHUNK, check: bool = True) -> None:
        super().__init__(path, chunk_size=chunk_size)
        self._compression = sniff_compression(self.path)
        self.check = bool(check)
        if self._compression is None:
            self._check_size()

    def _check_size(self) -> int:
        size = self.path.stat().st_size
        whole, partial = divmod(size, RECORD)
        if partial:
            raise TraceError(
                f"{self.shown}: truncated oracleGeneral record {whole} at byte offset {whole * RECORD}: "
                f"file size {size} is not a multiple of {RECORD} bytes ({partial} trailing bytes)"
            )
        return whole

    def count(self) -> int:
        """Number of requests: from the file size when uncompressed, else by reading it."""
        if self._compression is None:
            return self._check_size()
        return super().count()

    def _records(self) -> Iterator[np.ndarray]:
        if self._compression is None:
            n = self._check_size()
            done = 0
            with open(self.path, "rb") as f:
                while done < n:
                    recs = np.fromfile(f, dtype=ORACLE_DTYPE, count=min(self.chunk_size, n - done))
                    if recs.shape[0] == 0:  # the file shrank while we read it
                        raise TraceError(
                            f"{self.shown}: unexpected end of file at record {done} (byte offset {done * RECORD})"
                        )
                    yield recs
                    done += recs.shape[0]
            return
        want = RECORD * self.chunk_size
        rest = b""
        with CompressedStream(self.path, self._compression) as stream:
            while True:
                data = stream.read(want)
                if not data:
                    break
                data = rest + data
                whole = len(data) - len(data) % RECORD
                rest = data[whole:]
                if whole:
                    yield np.frombuffer(data, dtype=ORACLE_DTYPE, count=whole // RECORD)
            if rest:
                off = stream.decoded - len(rest)
                raise TraceError(
                    f"{self.shown}: truncated oracleGeneral record {off // RECORD} at decompressed byte offset "
                    f"{off}: {len(rest)} trailing bytes, expected {RECORD} per record"
                )

    def _chunks(self) -> Iterator[Chunk]:
        checker = NextAccessCheck(self.shown) if self.check else None
        for recs in self._records():
            nxt = recs["next"].astype(np.int64)
            nxt = np.where((nxt < 1) | (nxt >= _HUGE), -1, nxt - 1)
            ids = np.ascontiguousarray(recs["id"]).view(np.int64)  # a contiguous copy: the field has a 24-byte stride
            if checker is not None:
                checker.feed(ids, nxt)
            yield Chunk(
                ids=ids,
                sizes=recs["size"].astype(np.int64),
                times=recs["time"].astype(np.float64),
                next_access=nxt,
            )
        if checker is not None:
            checker.finish()


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
