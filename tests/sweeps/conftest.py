"""Fixtures for the sweep tests: the toy models folder on SIMCACHE_MODELS_PATH, sweep files in tmp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simcache.catalog import load_models

TOY_MODELS = Path(__file__).resolve().parent / "toy_models"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def toy_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put the toy models on SIMCACHE_MODELS_PATH and reload the catalogue."""
    monkeypatch.setenv("SIMCACHE_MODELS_PATH", str(TOY_MODELS))
    load_models(force=True)
    yield TOY_MODELS


def write_sweep(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    """Write a sweep file into ``folder`` and return its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str, cwd: Path, env_extra: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m simcache ARGS`` in a fresh process with the toy models visible."""
    env = {**os.environ, "SIMCACHE_MODELS_PATH": str(TOY_MODELS), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "simcache", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


TOY_SWEEP = """
name = "toy"
target = "sweep-toy"
replications = 3
seed = 11
[base]
sigma = 2.0
n = 50
[grid]
mu = [0.0, 1.0, 5.0]
variant = ["a", "b"]
[[figures]]
kind = "line"
x = "mu"
y = "mean"
hue = "variant"
"""
