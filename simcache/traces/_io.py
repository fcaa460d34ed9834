"""Shared plumbing of the trace readers: the reader base class, compressed streams, re-chunking.

Compression is recognised by the file's magic bytes (not its name), so a
gzip file called ``x.trace`` still reads; gzip, xz, bz2 and zstd (the format
of libCacheSim's public trace collections, ``*.oracleGeneral.zst``, read
streaming through the ``zstandard`` package) are decoded on the fly. Errors
inside a compressed stream become :class:`~simcache.errors.TraceError` naming
the file and offset; so does a file that cannot be opened (missing, a folder,
a FIFO, unreadable, a name too long for the OS).
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from simcache.errors import TraceError, UsageError, show_path
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
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as err:
        raise TraceError(f"{show_path(path)}: cannot read the trace file: {err.strerror or err}") from None
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
        try:
            self.raw: IO[bytes] = open(path, "rb")
        except OSError as err:
            raise TraceError(f"{show_path(path)}: cannot read the trace file: {err.strerror or err}") from None
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
        elif kind == "zstd":
            self._f = ZstdStream(self.raw)
        else:
            self.raw.close()
            raise TraceError(f"{show_path(path)}: {kind}-compressed files are not supported; decompress it first")

    def read(self, n: int) -> bytes:
        """Up to ``n`` decompressed bytes (b'' at the end)."""
        try:
            data = self._f.read(n)
        except EOFError:
            raise TraceError(
                f"{show_path(self.path)}: truncated {self.kind} stream: it ends (compressed offset {self._raw_pos()}) "
                f"before its end-of-stream marker, after {self.decoded} decompressed bytes"
            ) from None
        except _DECODE_ERRORS as exc:
            raise TraceError(
                f"{show_path(self.path)}: corrupt {self.kind} stream near compressed offset {self._raw_pos()} "
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


def _zstd_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard
    except ImportError:
        return ()
    return (zstandard.ZstdError,)


#: what the decoders raise for a damaged stream
_DECODE_ERRORS: tuple[type[BaseException], ...] = (OSError, zlib.error, lzma.LZMAError, ValueError, *_zstd_errors())


class ZstdStream:
    """Reads a zstd file streaming, frame after frame, and raises EOFError when the last frame is cut short.

    ``zstandard``'s own ``stream_reader`` returns a clean end of file for a truncated frame, so this feeds
    a decompression object block by block (its ``eof`` says whether the frame reached its end), the way
    the ``zstd`` tool does (``programs/fileio.c``: "Read error (39) : premature end").
    """

    _BLOCK = 1 << 17

    def __init__(self, raw: IO[bytes]) -> None:
        try:
            import zstandard
        except ImportError:
            raise TraceError("reading zstd-compressed traces needs the 'zstandard' package: pip install zstandard"
                             ) from None
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._in_frame = False  # bytes of a frame were fed and it has not ended yet
        self._buf = bytearray()
        self._done = False

    def read(self, n: int) -> bytes:
        while len(self._buf) < n and not self._done:
            data = self._raw.read(self._BLOCK)
            if not data:
                self._done = True
                if self._in_frame:
                    raise EOFError("zstd frame cut short")
                break
            while data:
                self._buf += self._obj.decompress(data)
                self._in_frame = not self._obj.eof
                data = self._obj.unused_data if self._obj.eof else b""
                if self._obj.eof:
                    self._obj = self._dctx.decompressobj()  # the next frame, if any
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def close(self) -> None:
        self._done = True


def check_chunk_size(chunk_size: int) -> int:
    """Validate a chunk size (an int >= 1)."""
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise UsageError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    return int(chunk_size)


def check_file(path: str | os.PathLike[str]) -> Path:
    """The path of an existing, readable, non-empty regular file, or a TraceError saying why not.

    The name is checked as given (``file.bin/`` is not the file ``file.bin``), and every OS error --
    a name too long, a component that is a file, no permission -- is one line naming the path.
    """
    raw = os.fspath(path)
    shown = show_path(raw)
    try:
        st = os.stat(raw)
    except OSError as err:
        if err.errno == errno.ENOENT:
            raise TraceError(f"{shown}: no such trace file") from None
        if err.errno == errno.ENOTDIR:
            raise TraceError(f"{shown}: not a trace file (a part of the path before the last '/' is a file)"
                             ) from None
        raise TraceError(f"{shown}: cannot open the trace file: {err.strerror or err}") from None
    except ValueError as err:  # an embedded NUL byte
        raise TraceError(f"{shown}: not a usable file name ({err})") from None
    if not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "special"
        raise TraceError(f"{shown}: not a regular file ({what})")
    if st.st_size == 0:
        raise TraceError(f"{shown}: empty file (expected at least one request)")
    try:
        os.close(os.open(raw, os.O_RDONLY))
    except OSError as err:
        raise TraceError(f"{shown}: cannot read the trace file: {err.strerror or err}") from None
    return Path(raw)


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
            raise TraceError(f"{show_path(self.path)}: no requests in the file (expected at least one)")
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

    @property
    def shown(self) -> str:
        """The file's path as error messages print it (quoted when it holds a newline)."""
        return show_path(self.path)

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
