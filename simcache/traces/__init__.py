"""Trace readers and writers: every reader streams a file as :class:`Chunk` objects.

Formats and how :func:`open_trace` recognises them from the file name
(case-insensitive; the first rule that matches wins; pass ``format=`` to override):

=================  =====================================================  ==============================
format             name rule                                              content
=================  =====================================================  ==============================
``oracleGeneral``  contains ``oraclegeneral``, or ends in ``.bin``        libCacheSim 24-byte records
``lirs``           ends in ``.lirs``, or ``lirs_*.trace`` (``.gz``)       one integer id per line, ``*`` skipped
``cache2k``        starts with ``cache2k``, or ends in ``.trace.xz``      big-endian int32 ids (xz)
``csv``            ends in ``.csv`` (``.gz``/``.xz``/``.bz2``)             columns mapped by name/index
``txt``            ends in ``.txt`` (``.gz``/``.xz``/``.bz2``)             one id per line, strings hashed
=================  =====================================================  ==============================

Compression (gzip, xz, bz2, zstd) is detected from the file's magic bytes, not from its name, and a
``.gz``/``.xz``/``.bz2``/``.zst`` suffix is ignored by the name rules. When no name rule matches
(``multi2.trace.gz``), the format is told from the first decompressed bytes (:func:`detect_content`):
text whose lines are integers or ``*`` is ``lirs``, text with a comma in every line ``csv``, other
text ``txt``; binary records whose next-access fields are consistent are ``oracleGeneral``.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from simcache.errors import TraceError, UsageError, show_path
from simcache.traces._io import (
    DEFAULT_CHUNK,
    CompressedStream,
    TraceReader,
    check_file,
    concat_chunks,
    rechunk,
    sniff_compression,
)
from simcache.traces.base import Chunk, TraceSource
from simcache.traces.cache2k import Cache2kReader
from simcache.traces.oracle import (
    ORACLE_DTYPE,
    NextAccessCheck,
    OracleGeneralReader,
    compute_next_access,
    write_oracle_general,
)
from simcache.traces.text import CsvReader, LineReader, LirsReader, hash_id

READERS: dict[str, type[TraceReader]] = {
    "oracleGeneral": OracleGeneralReader,
    "lirs": LirsReader,
    "cache2k": Cache2kReader,
    "csv": CsvReader,
    "txt": LineReader,
}
FORMATS = tuple(READERS)

_COMPRESSED = (".gz", ".xz", ".bz2", ".zst", ".zstd")
#: bytes of a file's (decompressed) beginning that :func:`detect_content` looks at
SNIFF_BYTES = 1 << 16
_LIRS_LINE = re.compile(rb"\s*([+-]?[0-9]+|\*)?\s*\Z")


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The format a file name implies (see the module docstring), or None."""
    name = Path(path).name.lower()
    base = name
    for ext in _COMPRESSED:
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    if "oraclegeneral" in name or base.endswith(".bin"):
        return "oracleGeneral"
    if base.endswith(".lirs") or (name.startswith("lirs_") and base.endswith(".trace")):
        return "lirs"
    if name.startswith("cache2k") or name.endswith(".trace.xz"):
        return "cache2k"
    if base.endswith(".csv"):
        return "csv"
    if base.endswith(".txt"):
        return "txt"
    return None


def detect_content(path: str | os.PathLike[str]) -> str | None:
    """The format the first bytes of a file (decompressed) look like, or None (see the module docstring)."""
    p = check_file(path)
    with CompressedStream(p, sniff_compression(p)) as stream:
        head = stream.read(SNIFF_BYTES)
    if not head:
        return None
    if b"\0" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as err:
            if err.start < len(head) - 4:  # not just a character cut at the end of the window
                text = None
            else:
                text = head[: err.start].decode("utf-8")
        if text is not None:
            lines = head.split(b"\n")
            if len(head) == SNIFF_BYTES and len(lines) > 1:
                lines = lines[:-1]  # the last line may be cut by the window
            lines = [ln for ln in lines if ln.strip()]
            if lines and all(_LIRS_LINE.match(ln) for ln in lines):
                return "lirs"
            if lines and all(b"," in ln for ln in lines):
                return "csv"
            if lines:
                return "txt"
    usable = len(head) - len(head) % ORACLE_DTYPE.itemsize
    if usable:
        recs = np.frombuffer(head[:usable], dtype=ORACLE_DTYPE)
        nxt = recs["next"].astype(np.int64)
        nxt = np.where((nxt < 1) | (nxt >= 1 << 62), -1, nxt - 1)
        try:
            NextAccessCheck(show_path(p)).feed(recs["id"].view(np.int64), nxt)
        except TraceError:
            return None
        return "oracleGeneral"
    return None


def _format_key(fmt: str) -> str:
    for known in READERS:
        if known.lower() == fmt.lower():
            return known
    raise UsageError(f"unknown trace format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def reader_options(fmt: str) -> dict[str, Any]:
    """The keyword options a format's reader takes, with their defaults."""
    sig = inspect.signature(READERS[_format_key(fmt)].__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def open_trace(path: str | os.PathLike[str], format: str | None = None, **options: Any) -> TraceReader:  # noqa: A002
    """Open a trace file for streaming.

    Args:
        path: the file.
        format: one of :data:`FORMATS` (case-insensitive); None detects it from the name.
        **options: reader options, e.g. ``chunk_size``, and for csv ``id``, ``size``,
            ``time``, ``op``, ``header``, ``delimiter``, ``numeric``; unknown ones raise
            :class:`UsageError` naming the valid ones.
    """
    if format is None:
        format = detect_format(path) or detect_content(path)
        if format is None:
            raise UsageError(
                f"{show_path(path)}: cannot tell the trace format from the file name or its contents; give "
                f"--format, one of: {', '.join(FORMATS)} (name rules: *oracleGeneral*/*.bin, "
                f"*.lirs/lirs_*.trace[.gz], cache2k*/*.trace.xz, *.csv[.gz], *.txt[.gz])"
            )
    key = _format_key(format)
    valid = reader_options(key)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UsageError(
            f"trace format {key!r} has no option {', '.join(map(repr, unknown))}; valid options: "
            + ", ".join(f"{k}={v!r}" for k, v in valid.items())
        )
    return READERS[key](path, **options)


def read_all(source: TraceSource) -> Chunk:
    """The whole trace as one chunk (concatenating every chunk of ``source``)."""
    return concat_chunks(list(source.iter_chunks()))


__all__ = [
    "DEFAULT_CHUNK",
    "FORMATS",
    "ORACLE_DTYPE",
    "READERS",
    "Cache2kReader",
    "Chunk",
    "CsvReader",
    "LineReader",
    "LirsReader",
    "OracleGeneralReader",
    "TraceReader",
    "TraceSource",
    "compute_next_access",
    "detect_content",
    "detect_format",
    "hash_id",
    "open_trace",
    "read_all",
    "rechunk",
    "reader_options",
    "write_oracle_general",
]
