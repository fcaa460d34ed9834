"""Run files: atomic writes, resume by listing, refusal to mix two sweeps in one folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simcache.errors import UsageError
from simcache.sweeps.store import RunStore, atomic_write_json, run_filename


def test_atomic_write_leaves_only_the_final_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    atomic_write_json(path, {"x": np.float64(1.5), "n": np.int64(3), "arr": np.arange(3), "t": (1, 2)})
    assert json.loads(path.read_text()) == {"x": 1.5, "n": 3, "arr": [0, 1, 2], "t": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    atomic_write_json(path, {"v": 1})

    class Boom:
        def __repr__(self) -> str:  # json falls back to str(), which raises
            raise RuntimeError("no")

        __str__ = __repr__

    with pytest.raises(RuntimeError):
        atomic_write_json(path, {"v": Boom()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_store_resumes_by_listing_and_cleans_partial_writes(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "out", "s", "f1")
    store.open()
    for p, r in [(0, 0), (2, 1)]:
        store.write({"point": p, "replication": r, "status": "ok"})
    (store.runs_dir / ".tmp-abc.json").write_text('{"point": 9, "replicat')  # a write cut by SIGKILL
    (store.runs_dir / run_filename(5, 0)).write_text("not json")  # only a hand edit can do this
    again = RunStore(tmp_path / "out", "s", "f1")
    again.open()
    assert set(again.load()) == {(0, 0), (2, 1)}
    assert not list(again.runs_dir.glob(".tmp-*"))


def test_folder_of_another_sweep_is_refused(tmp_path: Path) -> None:
    RunStore(tmp_path, "s", "f1").open()
    with pytest.raises(UsageError, match="holds results of a different sweep"):
        RunStore(tmp_path, "s", "f2").open()
