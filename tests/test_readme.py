"""The README's commands run as written: every ``sh`` block line and the Python example, from a copy of the
repository root (with ``../shared/traces`` beside it when the real traces exist), with the virtualenv's
``bin`` first on PATH as ``source .venv/bin/activate`` puts it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TRACES = ROOT.parent / "shared" / "traces"

#: commands not run here, with the reason: set-up and the suite itself, long runs (the slow marker runs these)
NOT_RUN = {
    "make ": "sets up .venv and runs the tour or the suite (make test runs this file)",
    "pip install": "installs into the current environment (make test-install checks the wheel)",
    "source .venv/bin/activate": "PATH is set here as activating does",
    "--executor dask": "starts a Dask cluster and runs the full sweep (minutes)",
    "benchmarks/": "benchmarks print ratios over minutes",
}
#: commands that take more than a few seconds: behind the slow marker
SLOW = ("--policy all", "--duration 20", "--requests 10000000", "run hierarchy", "--duration 30", "--requests 1000000 ",
        "stampede_protections", "run lock", "run stampede", "cloudphysics_io", "strategy=write-behind",
        "strategy.ttl=60", "cache_policy=s3fifo")


def shell_commands(text: str) -> list[str]:
    """Each command of the README's ``sh`` blocks, continuation lines joined, comments kept (bash drops them)."""
    out: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        out += [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return out


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


COMMANDS = shell_commands(README.read_text(encoding="utf-8"))


def _params() -> list[object]:
    out: list[object] = []
    for cmd in COMMANDS:
        marks = []
        skip = next((why for key, why in NOT_RUN.items() if key in cmd), None)
        if skip:
            marks.append(pytest.mark.skip(reason=skip))
        elif any(key in cmd for key in SLOW):
            marks.append(pytest.mark.slow)
        out.append(pytest.param(cmd, marks=marks, id=cmd[:60]))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base/repo`` holding the repository's experiments, with ``base/shared/traces`` when they exist."""
    base = tmp_path_factory.mktemp("readme")
    repo = base / "repo"
    repo.mkdir()
    for name in ("experiments", "models", "notebooks", "README.md"):
        (repo / name).symlink_to(ROOT / name)
    if TRACES.is_dir():
        (base / "shared").mkdir()
        (base / "shared" / "traces").symlink_to(TRACES)
    return repo


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "MPLBACKEND": "Agg",
            "SIMCACHE_PROGRESS": "0"}


def test_the_readme_has_commands_and_only_known_subcommands() -> None:
    assert len(COMMANDS) >= 20
    import contextlib
    import io

    from simcache.cli import build_parser

    def known(word: str) -> bool:
        """Whether ``simcache WORD --help`` is a subcommand's help (argparse exits 0), not an error."""
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                build_parser().parse_args([word, "--help"])
            except SystemExit as done:
                return done.code == 0
        return False

    assert not known("nosuch")
    for cmd in COMMANDS:
        words = cmd.split()
        if words[0] == "simcache":
            assert words[1] == "--help" or known(words[1]), cmd


@pytest.mark.parametrize("cmd", _params())
def test_readme_command_runs_as_written(cmd: str, workdir: Path) -> None:
    if "../shared/traces" in cmd and not TRACES.is_dir():
        pytest.skip(f"needs the real traces in {TRACES}")
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    if "simcache plot results/policy_vs_skew-quick" in cmd and not (workdir / "results" / "policy_vs_skew-quick").is_dir():
        run = subprocess.run(["bash", "-c", "simcache sweep policy_vs_skew --quick --quiet"], cwd=workdir,
                             env=_env(), capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=workdir, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"{cmd}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_readme_python_example_runs(workdir: Path) -> None:
    (code,) = python_blocks(README.read_text(encoding="utf-8"))
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (workdir / "timeline.png").is_file()
