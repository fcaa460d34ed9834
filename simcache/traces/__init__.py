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

Compression is detected from the file's magic bytes, not from its name.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from simcache.errors import UsageError
from simcache.traces._io import DEFAULT_CHUNK, TraceReader, concat_chunks, rechunk
from simcache.traces.base import Chunk, TraceSource
from simcache.traces.cache2k import Cache2kReader
from simcache.traces.oracle import (
    ORACLE_DTYPE,
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

_COMPRESSED = (".gz", ".xz", ".bz2")


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The format a file name implies (see the module docstring), or None."""
    name = Path(path).name.lower()
    base = name
    for ext in _COMPRESSED:
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    if "oraclegeneral" in name or name.endswith(".bin"):
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
        format = detect_format(path)
        if format is None:
            raise UsageError(
                f"{path}: cannot tell the trace format from the file name; give one of: {', '.join(FORMATS)} "
                f"(rules: *oracleGeneral*/*.bin, *.lirs/lirs_*.trace[.gz], cache2k*/*.trace.xz, *.csv[.gz], *.txt[.gz])"
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
    "detect_format",
    "hash_id",
    "open_trace",
    "read_all",
    "rechunk",
    "reader_options",
    "write_oracle_general",
]
