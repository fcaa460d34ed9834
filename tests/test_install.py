"""Installed from a wheel outside the repository, simcache finds its models and sweeps and runs them by name."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_works_installed_outside_the_repository(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("simcache-*.whl")
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True)
    # the dependencies come from this interpreter's site-packages; simcache itself only from the wheel (an editable
    # install here is a .pth hook, which PYTHONPATH does not run)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def simcache(*args: str) -> str:
        r = subprocess.run([str(bin_dir / "simcache"), *args], cwd=work, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"simcache {' '.join(args)}: {r.stderr[-2000:]}"
        return r.stdout

    where = subprocess.run([str(bin_dir / "python"), "-c", "import simcache; print(simcache.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(env_dir) in where  # the installed copy, not the checkout
    listing = simcache("models")
    for name in ("three-tier", "hierarchy", "stampede", "consistency", "rate-limit", "lock", "mm1"):
        assert f"\n{name} " in f"\n{listing}", name
    assert "sim_requests" in simcache("run", "three-tier", "--duration", "2")
    assert "12 runs" in simcache("sweep", "smoke", "--out", str(work / "smoke"), "--quiet")
    simcache("tour", "--quick", "--out", str(work / "tour"))
    assert (work / "tour" / "replay.csv").is_file() and (work / "tour" / "systems" / "three_tier.json").is_file()
