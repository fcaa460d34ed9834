"""Write any trace source in the formats simcache reads: oracleGeneral, csv, txt, lirs, cache2k.

:func:`convert` streams chunk by chunk where the format allows (oracleGeneral needs each request's
next access: it is taken from the source when it carries it, else computed over the whole trace),
compresses by the output's suffix (``.gz``, ``.xz``, ``.bz2``, ``.zst``), and writes to a temporary
file renamed over the output at the end (``os.replace``), so a failed conversion leaves nothing behind.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from simcache.errors import UsageError, show_path
from simcache.traces._io import concat_chunks
from simcache.traces.base import Chunk, TraceSource
from simcache.traces.oracle import ORACLE_DTYPE, compute_next_access

WRITABLE = ("oracleGeneral", "csv", "txt", "lirs", "cache2k")
_BE_I32 = np.dtype(">i4")


@contextlib.contextmanager
def _open_out(path: Path) -> Iterator[IO[bytes]]:
    name = path.name.lower()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    raw = os.fdopen(fd, "wb")
    try:
        f: Any
        if name.endswith(".gz"):
            f = gzip.GzipFile(fileobj=raw, mode="wb")
        elif name.endswith(".xz"):
            f = lzma.LZMAFile(raw, mode="wb")
        elif name.endswith(".bz2"):
            f = bz2.BZ2File(raw, mode="wb")
        elif name.endswith((".zst", ".zstd")):
            import zstandard

            f = zstandard.ZstdCompressor(write_checksum=True).stream_writer(raw, closefd=False)
        else:
            f = raw
        yield f
        if f is not raw:
            f.close()
        raw.close()
        os.replace(tmp, path)
    except BaseException:
        raw.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _oracle_records(chunks: list[Chunk]) -> bytes:
    c = concat_chunks(chunks)
    recs = np.zeros(len(c), dtype=ORACLE_DTYPE)
    recs["id"] = c.ids.astype(np.int64, copy=False).view(np.uint64)
    if c.sizes is not None:
        if len(c) and (c.sizes.min() < 0 or c.sizes.max() > 2**32 - 1):
            raise UsageError("oracleGeneral stores sizes in [0, 2**32-1]; the trace has larger ones")
        recs["size"] = c.sizes
    else:
        recs["size"] = 1
    if c.times is not None:
        t = np.floor(np.asarray(c.times, dtype=np.float64))
        if len(t) and (t.min() < 0 or t.max() > 2**32 - 1):
            raise UsageError("oracleGeneral stores times as whole seconds in [0, 2**32-1]; the trace's do not fit")
        recs["time"] = t
    assert c.next_access is not None
    recs["next"] = np.where(c.next_access < 0, -1, c.next_access + 1)
    return recs.tobytes()


def convert(source: TraceSource, out: str | os.PathLike[str], fmt: str) -> int:
    """Write ``source`` to ``out`` in format ``fmt`` (one of :data:`WRITABLE`); returns the requests written."""
    path = Path(out)
    if fmt not in WRITABLE:
        raise UsageError(f"cannot write trace format {fmt!r}; formats written: {', '.join(WRITABLE)}")
    total = 0
    with _open_out(path) as f:
        if fmt == "oracleGeneral":
            chunks = list(source.iter_chunks())
            if chunks and any(c.next_access is None for c in chunks):
                whole = concat_chunks(chunks)
                whole.next_access = compute_next_access(whole.ids)
                chunks = [whole]
            for c in chunks:
                f.write(_oracle_records([c]))
                total += len(c)
            return total
        header = False
        for c in source.iter_chunks():
            if fmt == "cache2k":
                if len(c) and (c.ids.min() < -(2**31) or c.ids.max() > 2**31 - 1):
                    raise UsageError("cache2k stores ids as 32-bit integers; the trace has larger ones")
                f.write(c.ids.astype(_BE_I32).tobytes())
            elif fmt == "csv":
                cols = [("id", c.ids)] + [(k, getattr(c, k)) for k in ("sizes", "times", "ops")
                                          if getattr(c, k) is not None]
                if not header:
                    names = {"id": "id", "sizes": "size", "times": "time", "ops": "op"}
                    f.write((",".join(names[k] for k, _ in cols) + "\n").encode())
                    header = True
                rows = zip(*(v.tolist() for _, v in cols), strict=True)
                f.write("".join(",".join(map(repr_num, r)) + "\n" for r in rows).encode())
            else:  # txt, lirs: one id per line
                f.write(("\n".join(map(str, c.ids.tolist())) + "\n").encode())
            total += len(c)
    return total


def repr_num(v: Any) -> str:
    """A number as CSV text: integers plainly, floats with every digit (``repr``)."""
    return repr(v) if isinstance(v, float) else str(v)


def check_output(path: str | os.PathLike[str], source_path: str | os.PathLike[str] | None = None) -> Path:
    """The output path of a conversion: not the input itself, in an existing folder."""
    p = Path(path)
    if source_path is not None:
        with contextlib.suppress(OSError):
            if p.exists() and os.path.samefile(p, source_path):
                raise UsageError(f"{show_path(p)}: the output is the input; give another file name")
    if p.is_dir():
        raise UsageError(f"{show_path(p)}: is a folder, expected a file name")
    if not p.parent.is_dir():
        raise UsageError(f"{show_path(p)}: the folder {show_path(p.parent)} does not exist")
    return p
