"""Text trace readers: LIRS, plain one-id-per-line, and CSV with a column mapping.

All of them stream the (possibly gzip/xz/bz2-compressed) file in blocks and
report bad lines by their 1-based line number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from collections.abc import Iterator
from typing import IO

import numpy as np

from simcache.errors import TraceError, UsageError
from simcache.traces._io import DEFAULT_CHUNK, CompressedStream, TraceReader, sniff_compression
from simcache.traces.base import Chunk

_BLOCK = 1 << 20
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
#: plain decimal integers and numbers (no "_" digit separators, no "nan"/"inf")
_INT_RE = re.compile(r"[+]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def hash_id(token: bytes) -> int:
    """A deterministic int64 for a non-numeric id (the first 8 bytes of its BLAKE2b digest)."""
    return int.from_bytes(hashlib.blake2b(token, digest_size=8).digest(), "little", signed=True)


def _iter_line_blocks(stream: CompressedStream) -> Iterator[tuple[int, list[bytes]]]:
    """Yield (line number of the first line, lines) for whole lines of the stream."""
    rest = b""
    lineno = 1
    while True:
        data = stream.read(_BLOCK)
        if not data:
            break
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        if lines:
            yield lineno, lines
            lineno += len(lines)
    if rest:
        yield lineno, [rest]


class LineReader(TraceReader):
    """One object id per line (plain, gzip, xz or bz2).

    Args:
        path: the trace file.
        chunk_size: requests per chunk.
        numeric: when True every id must be an integer; when False a non-integer
            id is hashed to a deterministic int64 (:func:`hash_id`).
        skip_star: skip lines holding only ``*`` (LIRS breakpoint markers).
    """

    format = "txt"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        numeric: bool = False,
        skip_star: bool = False,
    ) -> None:
        super().__init__(path, chunk_size=chunk_size)
        self.numeric = bool(numeric)
        self.skip_star = bool(skip_star)
        self._compression = sniff_compression(self.path)

    def _chunks(self) -> Iterator[Chunk]:
        with CompressedStream(self.path, self._compression) as stream:
            for lineno, lines in _iter_line_blocks(stream):
                ids = self._parse_fast(lines)
                if ids is None:
                    ids = self._parse_slow(lineno, lines)
                yield Chunk(ids)

    def _parse_fast(self, lines: list[bytes]) -> np.ndarray | None:
        # the common case: every line is a plain integer; int() tolerates \r and spaces
        try:
            return np.array(list(map(int, lines)), dtype=np.int64)
        except (ValueError, OverflowError):
            return None

    def _parse_slow(self, lineno: int, lines: list[bytes]) -> np.ndarray:
        out: list[int] = []
        for i, line in enumerate(lines):
            tok = line.strip()
            if not tok or (self.skip_star and tok == b"*"):
                continue
            try:
                v = int(tok)
            except ValueError:
                if self.numeric:
                    what = "an integer object id" + (" (or '*')" if self.skip_star else "")
                    raise TraceError(f"{self.shown}: line {lineno + i}: expected {what}, got {_show(tok)}") from None
                v = hash_id(tok)
            if not _I64_MIN <= v <= _I64_MAX:
                if self.numeric:
                    raise TraceError(
                        f"{self.shown}: line {lineno + i}: object id {v} does not fit in a signed 64-bit integer"
                    )
                v = hash_id(tok)
            out.append(v)
        return np.array(out, dtype=np.int64)


class LirsReader(LineReader):
    """LIRS text traces: one integer id per line, ``*`` breakpoint lines skipped (gzip or plain)."""

    format = "lirs"

    def __init__(self, path: str | os.PathLike[str], *, chunk_size: int = DEFAULT_CHUNK) -> None:
        super().__init__(path, chunk_size=chunk_size, numeric=True, skip_star=True)


_READ_OPS = {"0", "get", "gets", "read", "r", "load", "head"}
_WRITE_OPS = {
    "1", "set", "add", "replace", "cas", "append", "prepend", "delete", "del", "incr", "decr",
    "write", "w", "put", "update", "insert", "remove",
}  # fmt: skip


class CsvReader(TraceReader):
    """Delimited text with a column mapping (plain, gzip, xz or bz2).

    Args:
        path: the trace file.
        chunk_size: requests per chunk.
        id: the object-id column, by header name or 0-based index.
        size: the size column (bytes), or None for unit sizes.
        time: the time column (seconds), or None.
        op: the operation column (``get``/``read``/0 are reads; ``set``/``write``/
            ``delete``/1 and other mutations are writes), or None.
        header: whether the first line names the columns; None: yes when any column
            is given by name, otherwise when the first line's id field is not a number.
        delimiter: the field separator.
        numeric: reject non-integer ids instead of hashing them.
    """

    format = "csv"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        id: str | int = 0,  # noqa: A002 - the column is called id
        size: str | int | None = None,
        time: str | int | None = None,
        op: str | int | None = None,
        header: bool | None = None,
        delimiter: str = ",",
        numeric: bool = False,
    ) -> None:
        super().__init__(path, chunk_size=chunk_size)
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise UsageError(f"csv delimiter must be a single character, got {delimiter!r}")
        self.columns: dict[str, str | int | None] = {"id": id, "size": size, "time": time, "op": op}
        for role, col in self.columns.items():
            if col is not None and not isinstance(col, str | int) or isinstance(col, bool):
                raise UsageError(f"csv column {role!r} must be a header name or a 0-based index, got {col!r}")
            if isinstance(col, int) and col < 0:
                raise UsageError(f"csv column {role!r} index must be >= 0, got {col}")
        self.header = header
        self.delimiter = delimiter
        self.numeric = bool(numeric)
        self._compression = sniff_compression(self.path)

    def _text(self, stream: CompressedStream) -> IO[str]:
        return io.TextIOWrapper(io.BufferedReader(_RawAdapter(stream)), encoding="utf-8", errors="replace", newline="")

    def _chunks(self) -> Iterator[Chunk]:
        with CompressedStream(self.path, self._compression) as stream:
            rows = csv.reader(self._text(stream), delimiter=self.delimiter)
            try:
                first = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TraceError(f"{self.shown}: line 1: {exc}") from None
            idx, has_header = self._resolve(first)
            want = {role: i for role, i in idx.items() if i is not None}
            need = max(want.values()) + 1
            ids: list[int] = []
            sizes: list[int] = []
            times: list[float] = []
            ops: list[int] = []
            lineno = 1
            pending = [] if has_header else [first]

            def parse(row: list[str], line: int) -> None:
                if len(row) < need:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        return  # blank line
                    raise TraceError(f"{self.shown}: line {line}: expected at least {need} fields, got {len(row)}")
                ids.append(self._id(row[want["id"]], line))
                if "size" in want:
                    sizes.append(self._int(row[want["size"]], line, "size"))
                if "time" in want:
                    times.append(self._float(row[want["time"]], line))
                if "op" in want:
                    ops.append(self._op(row[want["op"]], line))

            for row in pending:
                parse(row, lineno)
            try:
                for row in rows:
                    lineno += 1
                    parse(row, lineno)
                    if len(ids) >= self.chunk_size:
                        yield self._make(ids, sizes, times, ops)
                        ids, sizes, times, ops = [], [], [], []
            except csv.Error as exc:
                raise TraceError(f"{self.shown}: line {lineno + 1}: {exc}") from None
            if ids:
                yield self._make(ids, sizes, times, ops)

    def _make(self, ids: list[int], sizes: list[int], times: list[float], ops: list[int]) -> Chunk:
        return Chunk(
            np.array(ids, dtype=np.int64),
            sizes=np.array(sizes, dtype=np.int64) if self.columns["size"] is not None else None,
            times=np.array(times, dtype=np.float64) if self.columns["time"] is not None else None,
            ops=np.array(ops, dtype=np.int8) if self.columns["op"] is not None else None,
        )

    def _resolve(self, first: list[str]) -> tuple[dict[str, int | None], bool]:
        by_name = any(isinstance(c, str) for c in self.columns.values())
        has_header = self.header
        if has_header is None:
            id_col = self.columns["id"]
            has_header = by_name or (isinstance(id_col, int) and id_col < len(first) and not _is_number(first[id_col]))
        if by_name and not has_header:
            raise UsageError(f"{self.shown}: columns given by name need a header line; pass indexes or header=True")
        names = [c.strip() for c in first]
        idx: dict[str, int | None] = {}
        for role, col in self.columns.items():
            if col is None:
                idx[role] = None
            elif isinstance(col, str):
                if col not in names:
                    raise TraceError(
                        f"{self.shown}: line 1: no column {col!r} (for {role}) in the header; columns: {', '.join(names)}"
                    )
                idx[role] = names.index(col)
            else:
                idx[role] = col
        return idx, bool(has_header)

    def _id(self, text: str, line: int) -> int:
        tok = text.strip()
        try:
            v = int(tok)
            if _I64_MIN <= v <= _I64_MAX:
                return v
        except ValueError:
            pass
        if self.numeric:
            raise TraceError(f"{self.shown}: line {line}: expected an integer object id, got {_show(tok)}")
        return hash_id(tok.encode())

    def _int(self, text: str, line: int, what: str) -> int:
        # a size is a whole number of bytes in [0, 2**63 - 1]: "1.5", "1e-5", "-3", "1_0" or "1e30" are not sizes
        # (int() and float() would read them as 1, 0, -3, 10 and an overflow)
        tok = text.strip()
        value: int | None = None
        if _INT_RE.match(tok):
            value = int(tok)
        elif _FLOAT_RE.match(tok):
            f = float(tok)
            if math.isfinite(f) and f.is_integer():
                value = int(f)
        if value is None or not 0 <= value <= _I64_MAX:
            raise TraceError(
                f"{self.shown}: line {line}: expected an integer {what}, got {_show(text)} (a whole number of "
                f"bytes in [0, 2**63-1])"
            )
        return value

    def _float(self, text: str, line: int) -> float:
        tok = text.strip()
        f = float(tok) if _FLOAT_RE.match(tok) else math.nan
        if not math.isfinite(f):
            raise TraceError(f"{self.shown}: line {line}: expected a finite number of seconds for the time, "
                             f"got {_show(text)}")
        return f

    def _op(self, text: str, line: int) -> int:
        tok = text.strip().lower()
        if tok in _READ_OPS:
            return 0
        if tok in _WRITE_OPS:
            return 1
        raise TraceError(
            f"{self.shown}: line {line}: unknown operation {_show(text)}; expected one of "
            f"{', '.join(sorted(_READ_OPS))} (reads) or {', '.join(sorted(_WRITE_OPS))} (writes)"
        )


class _RawAdapter(io.RawIOBase):
    """Presents a CompressedStream as a raw binary file (so TextIOWrapper can decode it)."""

    def __init__(self, stream: CompressedStream) -> None:
        super().__init__()
        self._s = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._s.read(len(b))
        b[: len(data)] = data
        return len(data)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _show(tok: bytes | str, limit: int = 40) -> str:
    s = tok.decode("utf-8", "replace") if isinstance(tok, bytes) else tok
    return repr(s if len(s) <= limit else s[:limit] + "...")
