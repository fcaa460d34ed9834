"""Sweep files are checked whole before the first run; outputs never overwrite what is not a sweep's own;
tables land atomically; pool workers end with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import fails_in_one_line, run_cli

from .conftest import TOY_MODELS, write_sweep

REPLAY_BASE = 'target = "replay"\n[base]\nobjects = 50\nrequests = 200\n'


@pytest.mark.parametrize("text, needle", [
    ('target = "replay"\n[grid]\nsize = {start = 1, stop = inf, step = 1}\n', "grid.size.stop"),
    ('name = "' + "x" * 300 + '"\ntarget = "replay"\n', "at most 100"),
    ('name = "a\\u0000b"\ntarget = "replay"\n', "name"),
    (REPLAY_BASE + '[grid]\nsize = [1, 2]\n[[figures]]\nname = "../../escaped"\nx = "size"\ny = "miss_ratio"\n',
     "figures[0]: name"),
    ('target = "replay"\n[grid]\nsize = {start = 1, stop = 1000000000, step = 1}\n', "at most 100,000"),
    ('target = "replay"\n[grid]\nsize = {start = 1, stop = 50000, step = 1}\nobjects = {start = 1, stop = 50000, '
     'step = 1}\n', "2,500,000,000 runs"),
    ('target = "replay"\nreplications = 1000000000\n', "1,000,000,000 runs"),
    ('target = "replay"\n[base]\nbytes = true\n', "bytes = true"),
    ('target = "three-tier"\n[base]\ndb_connections = 0\n', "db_connections"),
    ('target = "three-tier"\n[base]\nloss = -1\n', "loss"),
    ('target = "three-tier"\n[base]\nquery_cache = -1\n', "query_cache"),
    ('target = "replay"\nmetrics = ["nosuch.metric"]\n', "metrics: 'nosuch.metric'"),
    (REPLAY_BASE + '[grid]\nsize = [1, 2]\n[[figures]]\nx = "size"\ny = "nosuch"\n', "figures[0].y"),
    ('target = "replay"\n[quick]\nwarmup = 2\n', "quick.warmup"),
    ('target = "replay"\n[quick]\nnosuch = 2\n', "quick.nosuch"),
])
def test_bad_sweep_files_fail_before_anything_runs(tmp_path: Path, text: str, needle: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, text)
    for extra in (["--dry-run"], ["--executor", "serial", "--out", str(tmp_path / "out")]):
        fails_in_one_line(["sweep", str(path), *extra], capsys, needle)
        assert not (tmp_path / "out").exists()


def test_unreadable_sweep_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b'name = "caf\xe9"\n')
    fails_in_one_line(["sweep", str(bad), "--dry-run"], capsys, "not UTF-8", "line 1")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    fails_in_one_line(["sweep", str(fifo), "--dry-run"], capsys, "not a regular file")
    fails_in_one_line(["sweep", "x" * 300, "--dry-run"], capsys)
    fails_in_one_line(["sweep", "x" * 300 + ".toml", "--dry-run"], capsys)


def test_max_runs_is_overridable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, 'target = "replay"\nreplications = 20\n')
    fails_in_one_line(["sweep", str(path), "--dry-run", "--max-runs", "10"], capsys, "at most 10 ")
    rc, out, _ = run_cli(["sweep", str(path), "--dry-run", "--max-runs", "20"], capsys)
    assert rc == 0 and "= 20 runs" in out


def test_out_folder_that_is_not_a_sweeps_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, REPLAY_BASE + "[grid]\nsize = [5, 10]\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.csv").write_text("precious\n")
    fails_in_one_line(["sweep", str(path), "--executor", "serial", "--out", str(mine)], capsys, "not empty")
    assert (mine / "summary.csv").read_text() == "precious\n"
    fails_in_one_line(["sweep", str(path), "--executor", "serial", "--out", "/"], capsys, "not empty")
    out = tmp_path / "res"
    for _ in range(2):  # a sweep's own folder is reused (resumed)
        rc, _, err = run_cli(["sweep", str(path), "--executor", "serial", "--out", str(out), "--quiet"], capsys)
        assert rc == 0, err
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".tmp")) == []
    assert (out / "runs.csv").read_text().count("\n") == 3


def test_figures_land_in_the_folder_and_nothing_temporary_is_left(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, REPLAY_BASE + '[grid]\nsize = [5, 10]\n[[figures]]\nname = "curve"\nx = "size"\n'
                       'y = "miss_ratio"\n')
    out = tmp_path / "res"
    rc, _, err = run_cli(["sweep", str(path), "--executor", "serial", "--out", str(out), "--quiet"], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["curve.png", "curve.svg"]
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]


def test_model_metric_names_stop_the_sweep_after_the_first_run(tmp_path: Path, toy_models: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, 'target = "sweep-toy"\nmetrics = ["nosuch"]\nreplications = 5\n[grid]\n'
                       'mu = [0.0, 1.0, 2.0]\n')
    fails_in_one_line(["sweep", str(path), "--executor", "serial", "--out", str(tmp_path / "o"), "--quiet"], capsys,
                      "reports no metric 'nosuch'")
    assert len(list((tmp_path / "o" / "runs").glob("p*.json"))) == 1


SLOW = 'name = "slow"\ntarget = "sweep-toy"\nreplications = 4\n[base]\nsleep = 30.0\n[grid]\nmu = [0.0, 1.0]\n'


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_pool_workers_exit_when_the_main_process_is_killed(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, SLOW)
    env = {**os.environ, "SIMCACHE_MODELS_PATH": str(TOY_MODELS)}
    proc = subprocess.Popen([sys.executable, "-m", "simcache", "sweep", str(path), "--executor", "local",
                             "--workers", "2", "--out", str(tmp_path / "out"), "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(proc.pid)], capture_output=True, text=True)
        workers = [int(line.split()[0]) for line in out.stdout.splitlines() if "multiprocessing" in line
                   and "resource_tracker" not in line]
    assert len(workers) >= 2, "pool workers did not start"
    time.sleep(1.0)  # the workers have run their initializer
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in workers if _alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == [], "pool workers outlived the sweep's main process"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_plot_where_value_cannot_escape_the_figures_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a.lirs", "b.lirs"):
        (tmp_path / name).write_text("1\n2\n1\n3\n1\n")
    path = write_sweep(tmp_path, f'target = "replay"\n[grid]\ntrace = ["{tmp_path / "a.lirs"}", '
                       f'"{tmp_path / "b.lirs"}"]\nsize = [1, 2]\n')
    out = tmp_path / "res"
    rc, _, err = run_cli(["sweep", str(path), "--executor", "serial", "--out", str(out), "--quiet"], capsys)
    assert rc == 0, err
    fails_in_one_line(["plot", str(out), "--x", "size", "--y", "miss_ratio", "--where",
                       f"trace={tmp_path / 'a.lirs'}"], capsys, "--where", "plain file name")
    assert not list(tmp_path.rglob("*.png"))
