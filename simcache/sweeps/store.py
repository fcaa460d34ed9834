"""Per-run result files: each finished run lands atomically, and a restart resumes from them.

Layout of an output folder::

    OUT/sweep.json               what the folder holds (sweep name, fingerprint, the sweep text)
    OUT/runs/p00003-r001.json    one finished run (point 3, replication 1), ok or error

Each run file is written to a temporary name in the same folder and renamed
over its final name with ``os.replace`` -- atomic on POSIX
and Windows -- so a sweep killed at any moment (even with SIGKILL) leaves
only whole run files behind, plus perhaps a ``.tmp-*`` file that the next
start removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from simcache.errors import UsageError

RUNS = "runs"
MANIFEST = "sweep.json"


def run_filename(point: int, replication: int) -> str:
    """The file of one run: ``p{point:05d}-r{replication:03d}.json``."""
    return f"p{point:05d}-r{replication:03d}.json"


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays come back from models; tuples from parameters
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so readers see the old file or the whole new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # no fsync: a killed process cannot lose what it wrote to the page cache, and a file cut short by a
            # power failure does not parse, so it counts as missing and is recomputed; fsync would cost
            # milliseconds per run on sweeps of many tiny runs
            json.dump(data, f, default=_json_default, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path`` (``os.replace``)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class RunStore:
    """The per-run files of one sweep in one output folder.

    Args:
        out: the output folder (created if missing).
        name: the sweep's name.
        fingerprint: what decides which runs exist; a folder holding another sweep's runs is refused.
        sweep_text: the sweep's definition, kept next to its results.
    """

    def __init__(self, out: str | Path, name: str, fingerprint: str, sweep_text: str = "") -> None:
        self.out = Path(out)
        self.runs_dir = self.out / RUNS
        self.name = name
        self.fingerprint = fingerprint
        self.sweep_text = sweep_text

    def open(self) -> None:
        """Create the folder, or check that an existing one holds this same sweep."""
        manifest = self.out / MANIFEST
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise UsageError(
                    f"{manifest}: unreadable sweep manifest ({err}); remove the folder or pick another --out"
                ) from None
            if old.get("fingerprint") != self.fingerprint:
                raise UsageError(
                    f"{self.out}: holds results of a different sweep ({old.get('name')!r}, fingerprint "
                    f"{old.get('fingerprint')}); its grid, seed or target changed -- pick another --out or remove it"
                )
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UsageError(f"{self.out}: cannot create output folder: {err.strerror or err}") from None
        for stale in self.runs_dir.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                stale.unlink()  # a write cut short by a kill; its run is simply missing
        if not manifest.exists():
            atomic_write_json(manifest, {"name": self.name, "fingerprint": self.fingerprint, "sweep": self.sweep_text})

    def path(self, point: int, replication: int) -> Path:
        return self.runs_dir / run_filename(point, replication)

    def write(self, record: Mapping[str, Any]) -> Path:
        """Store one finished run atomically."""
        path = self.path(int(record["point"]), int(record["replication"]))
        atomic_write_json(path, dict(record))
        return path

    def load(self) -> dict[tuple[int, int], dict[str, Any]]:
        """Every stored run, keyed by (point, replication); unreadable files count as missing."""
        out: dict[tuple[int, int], dict[str, Any]] = {}
        if not self.runs_dir.is_dir():
            return out
        for path in sorted(self.runs_dir.glob("p*-r*.json")):
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
                out[(int(rec["point"]), int(rec["replication"]))] = rec
            except (OSError, ValueError, KeyError, TypeError):
                continue  # only a hand-edited file can be damaged: recompute it
        return out
