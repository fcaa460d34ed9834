"""Shared fixtures: the real traces in ../shared/traces (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRACES_DIR = ROOT.parent / "shared" / "traces"


def shared_trace(name: str) -> Path:
    """Path of a shared trace; skips the test with a reason when it is absent."""
    path = TRACES_DIR / name
    if not path.exists():
        pytest.skip(f"shared trace {name} not found under {TRACES_DIR} (a fresh clone has no ../shared)")
    return path


@pytest.fixture
def traces_dir() -> Path:
    if not TRACES_DIR.is_dir():
        pytest.skip(f"shared traces folder {TRACES_DIR} not found (a fresh clone has no ../shared)")
    return TRACES_DIR
