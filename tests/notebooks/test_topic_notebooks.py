"""The topic notebooks: built by notebooks/make_topic_notebooks.py, stored with their outputs, and those outputs
are what the current code computes (re-executed and compared, text only: figures, widget ids and memory
addresses are not compared)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("make_topic_nb", ROOT / "notebooks" / "make_topic_notebooks.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BUILDER = _builder()
TOPICS = list(BUILDER.TOPICS)


def _stored(topic: str) -> Any:
    nbformat = pytest.importorskip("nbformat")
    path = BUILDER.path_of(topic)
    if not BUILDER.available(topic):
        pytest.skip(f"the {topic} scenarios or their models are not in this build")
    assert path.is_file(), f"{path.name} missing: run python notebooks/make_topic_notebooks.py {topic}"
    return nbformat.read(path, as_version=4)


def text_outputs(nb: Any) -> list[list[str]]:
    """Per code cell: its stdout and text/plain results, memory addresses masked."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for o in cell.outputs:
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                texts.append("".join(o["text"]))
            elif o.get("output_type") in ("execute_result", "display_data"):
                plain = o.get("data", {}).get("text/plain", "")
                texts.append("".join(plain) if isinstance(plain, list) else plain)
        out.append([re.sub(r"0x[0-9a-f]+", "0x…", t) for t in texts])
    return out


def test_every_topic_has_its_notebook_settings() -> None:
    from simcache.scenarios import TOPICS as SCENARIO_TOPICS
    from simcache.scenarios import load_scenarios

    assert set(TOPICS) == set(SCENARIO_TOPICS)
    for name in load_scenarios():
        assert name in BUILDER.SMALL, f"{name} has no small parameters in make_topic_notebooks.py"


@pytest.mark.parametrize("topic", TOPICS)
def test_stored_notebook_matches_its_builder_and_has_outputs(topic: str) -> None:
    stored = _stored(topic)
    assert [c.source for c in stored.cells] == [c.source for c in BUILDER.build(topic).cells]
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "stored without running"
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    kinds = {k for c in code for o in c.outputs for k in o.get("data", {})}
    assert {"image/png", "text/html", "application/vnd.jupyter.widget-view+json"} <= kinds  # figure, table, slider


@pytest.mark.slow
@pytest.mark.parametrize("topic", TOPICS)
def test_stored_outputs_are_what_the_code_computes(topic: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("nbclient")
    pytest.importorskip("ipywidgets")
    stored = _stored(topic)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("SIMCACHE_PROGRESS", "0")  # the kernel inherits it: no progress bars in the outputs
    fresh = BUILDER.execute(BUILDER.build(topic), tmp_path)
    assert text_outputs(fresh) == text_outputs(stored)
    assert (tmp_path / "figures").is_dir()
