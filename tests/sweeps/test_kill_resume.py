"""A sweep killed with SIGKILL mid-run and started again keeps every finished run and ends with the same table."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simcache.cli import main

from .conftest import TOY_MODELS, cli, write_sweep

SLOW = """
name = "slow"
target = "sweep-toy"
replications = 2
seed = 77
[base]
sleep = 0.08
[grid]
mu = [0.0, 1.0, 2.0, 3.0]
variant = ["a", "b"]
"""
TOTAL = 16


def _snapshot(runs: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in runs.glob("p*.json")}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("executor", ["serial", pytest.param("local", marks=pytest.mark.slow)])
def test_sigkill_then_resume(tmp_path: Path, executor: str, toy_models: Path) -> None:
    path = write_sweep(tmp_path, SLOW)
    out = tmp_path / "killed"
    env = {**os.environ, "SIMCACHE_MODELS_PATH": str(TOY_MODELS)}
    args = [sys.executable, "-m", "simcache", "sweep", str(path), "--executor", executor, "--workers", "2",
            "--out", str(out), "--quiet"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    runs = out / "runs"
    try:
        deadline = time.monotonic() + 90  # a safety net against a hung child, not a timing assertion
        while len(list(runs.glob("p*.json"))) < 4:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the sweep never produced a run file"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # pool workers orphaned by the kill
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    before = _snapshot(runs)
    assert 4 <= len(before) < TOTAL, "the kill has to land mid-sweep"
    assert not (out / "runs.csv").exists()

    resumed = cli("sweep", str(path), "--executor", executor, "--workers", "2", "--out", str(out), "--json",
                  cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    info = json.loads(resumed.stdout)
    assert info["computed"] == TOTAL - len(before) and info["reused"] == len(before)
    after = _snapshot(runs)
    assert len(after) == TOTAL
    # finished runs were not recomputed: byte-identical files, including the pid and time that computed them
    assert {k: after[k] for k in before} == before

    # the uninterrupted reference run needs no process of its own: in-process saves an interpreter start
    assert main(["sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    for name in ("runs.csv", "summary.csv"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
