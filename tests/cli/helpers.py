"""Run the ``simcache`` entry point in-process and check the one-line error contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from simcache.cli import main


def run_cli(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    """``(exit status, stdout, stderr lines)`` of ``simcache ARGV`` (argparse's SystemExit included)."""
    capsys.readouterr()
    try:
        rc: Any = main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return int(rc or 0), out, err.splitlines()


def fails_in_one_line(argv: Sequence[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """Assert exit status 2, exactly one stderr line holding every needle, no traceback; return the line."""
    rc, _out, err = run_cli(argv, capsys)
    assert rc == 2, (rc, err)
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    return err[0]
