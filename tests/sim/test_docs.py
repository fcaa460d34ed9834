"""The examples in docs/simulation.md run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulation.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_component_example_works() -> None:
    src = next(b for b in blocks() if "class Counter" in b)
    ns: dict[str, Any] = {}
    exec(src, ns)  # noqa: S102 - our own documentation
    from simcache.sim.rpc import ConnectionError, call
    from simcache.sim.world import World

    w = World(0)
    w.network.add_link("app", "counter", "const:0.001")
    c = ns["Counter"](w, "counter")
    got: list[Any] = []

    def proc() -> Any:
        got.append((yield from call(w, "app", c, ("INCR", "k"))))
        got.append((yield from call(w, "app", c, ("INCR", "k"))))
        c.crash()
        c.restart()
        got.append((yield from call(w, "app", c, ("INCR", "k"))))
        c.crash()
        try:
            yield from call(w, "app", c, ("INCR", "k"))
        except ConnectionError as err:
            got.append(str(err))

    w.process(proc())
    w.run(1)
    assert got == [1, 2, 1, "Connection refused"]


def test_the_strategy_example_registers_and_runs() -> None:
    from simcache.catalog import run_model

    src = next(b for b in blocks() if "register_strategy(\"aside-short-ttl\")" in b)
    exec(src, {})  # noqa: S102
    s = run_model("three-tier", {"duration": 1.0, "rate": 200.0, "strategy": "aside-short-ttl", "strategy.ttl": 10},
                  0)
    assert s["outcomes"]["ok"] > 150


@pytest.mark.parametrize("block", [b for b in blocks() if "run_model(" in b and "class " not in b])
def test_the_python_usage_block_runs(block: str, tmp_path: Path) -> None:
    src = block.replace('"out/"', repr(str(tmp_path))).replace('{"duration": 30}', '{"duration": 1}')
    src = src.replace('{"rate": 1000, "strategy.ttl": 60}', '{"rate": 200, "duration": 1, "strategy.ttl": 60}')
    exec(src, {})  # noqa: S102
