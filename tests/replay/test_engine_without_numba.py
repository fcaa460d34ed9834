"""Without compiled kernels the ``engine`` field says what ran, and a long replay suggests the fast extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from simcache import kernels
from simcache.replay import numba_hint, replay, source_from_args
from tests.conftest import ROOT


@pytest.fixture
def no_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    # the labels and the hint read kernels.COMPILED when they run (the loops stay as they are)
    monkeypatch.setattr(kernels, "COMPILED", False)


def test_auto_takes_the_reference_classes_and_fast_says_uncompiled(no_numba: None) -> None:
    src = source_from_args(synthetic="zipf", alpha=0.9, objects=500, requests=3000, seed=1)
    auto = replay(src, ["lru", "s3fifo"], [50])
    fast = replay(src, ["lru", "s3fifo"], [50], engine="fast")
    assert {r.engine for r in auto} == {"reference"}
    assert {r.engine for r in fast} == {"fast-uncompiled"}
    assert [r.hits for r in auto] == [r.hits for r in fast]
    assert numba_hint(auto) is None  # 6,000 request-configurations: quick either way


def test_the_hint_counts_uncompiled_work(no_numba: None) -> None:
    src = source_from_args(synthetic="uniform", objects=100, requests=1_000_000, seed=1)
    rows = replay(src, ["fifo"], [10, 20], engine="fast")
    hint = numba_hint(rows)
    assert hint is not None and "simcache[fast]" in hint


def test_compiled_kernels_say_fast_and_give_no_hint() -> None:
    if not kernels.COMPILED:
        pytest.skip("numba is not installed here")
    src = source_from_args(synthetic="uniform", objects=100, requests=1_000_000, seed=1)
    rows = replay(src, ["fifo"], [10, 20])
    assert {r.engine for r in rows} == {"fast"} and numba_hint(rows) is None


@pytest.mark.slow
def test_the_command_without_numba() -> None:
    env = {**os.environ, "SIMCACHE_NO_NUMBA": "1"}
    base = [sys.executable, "-m", "simcache", "replay", "--synthetic", "uniform", "--objects", "100",
            "--policy", "fifo", "--json"]
    long = subprocess.run([*base, "--requests", "1000000", "--size", "10,20"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300, check=True)
    assert "simcache[fast]" in long.stderr
    assert {r["engine"] for r in json.loads(long.stdout)} == {"reference"}
