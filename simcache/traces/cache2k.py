"""cache2k binary traces: a (usually xz-compressed) stream of big-endian signed 32-bit object ids."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from simcache.errors import TraceError
from simcache.traces._io import DEFAULT_CHUNK, CompressedStream, TraceReader, sniff_compression
from simcache.traces.base import Chunk

_BE_I32 = np.dtype(">i4")


class Cache2kReader(TraceReader):
    """Streams a cache2k trace: 4 bytes per request, big-endian int32 ids (xz, gzip, bz2 or plain).

    Args:
        path: the trace file.
        chunk_size: requests per chunk.
    """

    format = "cache2k"

    def __init__(self, path: str | os.PathLike[str], *, chunk_size: int = DEFAULT_CHUNK) -> None:
        super().__init__(path, chunk_size=chunk_size)
        self._compression = sniff_compression(self.path)

    def _chunks(self) -> Iterator[Chunk]:
        want = 4 * self.chunk_size
        rest = b""
        with CompressedStream(self.path, self._compression) as stream:
            while True:
                data = stream.read(want)
                if not data:
                    break
                data = rest + data
                whole = len(data) - len(data) % 4
                rest = data[whole:]
                if whole:
                    yield Chunk(np.frombuffer(data, dtype=_BE_I32, count=whole // 4).astype(np.int64))
            if rest:
                off = stream.decoded - len(rest)
                raise TraceError(
                    f"{self.shown}: truncated cache2k record {off // 4} at decompressed byte offset {off}: "
                    f"{len(rest)} trailing bytes, expected 4 per request"
                )
