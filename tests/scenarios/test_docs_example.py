"""The scenario example of docs/scenarios.md registers and runs as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import simcache.scenarios as scenarios

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_the_example_scenario_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(scenarios, "_SCENARIOS", dict(scenarios.load_scenarios()))  # leave the catalogue as it was
    src = next(b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "@scenario(" in b)
    module = types.ModuleType("scenario_doc_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look their module up
    exec(src, module.__dict__)  # noqa: S102 - our own documentation
    r = scenarios.run_scenario("db-load", {"duration": "2", "rate": "300"}, out=tmp_path)
    ops = r.table[0]["db_ops_per_s"]
    assert ops > 0 and r.takeaways == [f"At 300 req/s the database saw {scenarios.num(ops)} operations/s."]
    assert r.figures == [str(tmp_path / "db_load.png")]
    assert scenarios.get_scenario("db-load").narrative(scenarios.get_scenario("db-load").make_params({}))[0] == \
        "1000.0 requests/s for 30.0 s"
