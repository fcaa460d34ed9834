"""Shared plumbing of the trace readers: the reader base class, compressed streams, re-chunking.

Compression is recognised by the file's magic bytes (not its name), so a
gzip file called ``x.trace`` still reads; errors inside a compressed stream
become :class:`~simcache.errors.TraceError` naming the file and offset.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from simcache.errors import TraceError, UsageError
from simcache.traces.base import Chunk

DEFAULT_CHUNK = 1 << 20

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bz2",
    b"\x28\xb5\x2f\xfd": "zstd",
}


def sniff_compression(path: Path) -> str | None:
    """The compression of a file from its first bytes: 'gzip', 'xz', 'bz2', 'zstd' or None."""
    with open(path, "rb") as f:
        head = f.read(6)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


class CompressedStream:
    """A binary read stream over a possibly compressed file that turns decoder errors into TraceErrors.

    Args:
        path: the file.
        kind: the compression (None: plain), usually from :func:`sniff_compression`.
    """

    def __init__(self, path: Path, kind: str | None) -> None:
        self.path = path
        self.kind = kind
        self.raw: IO[bytes] = open(path, "rb")
        self.decoded = 0  # decompressed bytes handed out so far
        self._f: Any
        if kind is None:
            self._f = self.raw
        elif kind == "gzip":
            self._f = gzip.GzipFile(fileobj=self.raw, mode="rb")
        elif kind == "xz":
            self._f = lzma.LZMAFile(self.raw, mode="rb")
        elif kind == "bz2":
            self._f = bz2.BZ2File(self.raw, mode="rb")
        else:
            self.raw.close()
            raise TraceError(f"{path}: {kind}-compressed files are not supported; decompress it first (e.g. `zstd -d`)")

    def read(self, n: int) -> bytes:
        """Up to ``n`` decompressed bytes (b'' at the end)."""
        try:
            data = self._f.read(n)
        except EOFError:
            raise TraceError(
                f"{self.path}: truncated {self.kind} stream: it ends (compressed offset {self._raw_pos()}) "
                f"before its end-of-stream marker, after {self.decoded} decompressed bytes"
            ) from None
        except (OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise TraceError(
                f"{self.path}: corrupt {self.kind} stream near compressed offset {self._raw_pos()} "
                f"(after {self.decoded} decompressed bytes): {exc}"
            ) from None
        self.decoded += len(data)
        return data

    def _raw_pos(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return -1

    def close(self) -> None:
        if self._f is not self.raw:
            self._f.close()
        self.raw.close()

    def __enter__(self) -> CompressedStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def check_chunk_size(chunk_size: int) -> int:
    """Validate a chunk size (an int >= 1)."""
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise UsageError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    return int(chunk_size)


def check_file(path: str | os.PathLike[str]) -> Path:
    """The path of an existing, non-empty regular file, or a TraceError saying why not."""
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{p}: no such trace file")
    if not p.is_file():
        raise TraceError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise TraceError(f"{p}: empty file (expected at least one request)")
    return p


class TraceReader:
    """Base class of the file readers: a :class:`~simcache.traces.base.TraceSource` over one file.

    Subclasses implement ``_chunks()`` yielding chunks of any length; the base
    re-cuts them to exactly ``chunk_size`` requests (the last may be shorter)
    and raises a TraceError when the file holds no request at all.

    Args:
        path: the trace file.
        chunk_size: requests per chunk.
    """

    format: str = ""

    def __init__(self, path: str | os.PathLike[str], *, chunk_size: int = DEFAULT_CHUNK) -> None:
        self.path = check_file(path)
        self.name = self.path.name
        self.chunk_size = check_chunk_size(chunk_size)
        self._count: int | None = None

    def iter_chunks(self) -> Iterator[Chunk]:
        """Yield the requests in order, ``chunk_size`` at a time."""
        total = 0
        for chunk in rechunk(self._chunks(), self.chunk_size):
            total += len(chunk)
            yield chunk
        if total == 0:
            raise TraceError(f"{self.path}: no requests in the file (expected at least one)")
        self._count = total

    def count(self) -> int:
        """Number of requests (reads the file once unless the format makes it cheap)."""
        if self._count is None:
            self._count = sum(len(c) for c in self.iter_chunks())
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, chunk_size={self.chunk_size})"

    def _chunks(self) -> Iterator[Chunk]:
        raise NotImplementedError


_FIELDS = ("ids", "sizes", "times", "next_access", "ops")


def concat_chunks(chunks: list[Chunk]) -> Chunk:
    """One chunk holding the given chunks back to back (a field is None when it is None in the first)."""
    if not chunks:
        return Chunk(np.empty(0, dtype=np.int64))
    if len(chunks) == 1:
        return chunks[0]
    out: dict[str, np.ndarray | None] = {}
    for field in _FIELDS:
        if getattr(chunks[0], field) is None:
            out[field] = None
        else:
            out[field] = np.concatenate([getattr(c, field) for c in chunks])
    ids = out.pop("ids")
    assert ids is not None
    return Chunk(ids, **out)


def slice_chunk(chunk: Chunk, start: int, stop: int) -> Chunk:
    """Requests ``start:stop`` of a chunk (views, no copy)."""
    parts = {f: None if getattr(chunk, f) is None else getattr(chunk, f)[start:stop] for f in _FIELDS[1:]}
    return Chunk(chunk.ids[start:stop], **parts)


def rechunk(chunks: Iterator[Chunk], chunk_size: int) -> Iterator[Chunk]:
    """Re-cut a stream of chunks of any lengths into chunks of exactly ``chunk_size`` (last may be short)."""
    pending: list[Chunk] = []
    held = 0
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        pending.append(chunk)
        held += len(chunk)
        if held < chunk_size:
            continue
        merged = concat_chunks(pending)
        start = 0
        while held - start >= chunk_size:
            yield slice_chunk(merged, start, start + chunk_size)
            start += chunk_size
        pending = [slice_chunk(merged, start, held)] if start < held else []
        held -= start
    if held:
        yield concat_chunks(pending)
