"""The getting-started notebook: stored with its outputs, built from its builder, runs top to bottom on small
parameters (SIMCACHE_QUICK=1), and re-executed at full size gives the outputs it is stored with (text only:
figures and progress bars are not compared)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "getting-started.ipynb"
#: models the notebook needs; without them it is skipped with that reason
NEEDS = ["three-tier"]


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("make_nb", ROOT / "notebooks" / "make_getting_started.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _text_outputs(nb: Any) -> list[list[str]]:
    """Per code cell: its stdout and text/plain results, with wall times and memory addresses masked."""
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts = []
        for o in cell["outputs"]:
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                texts.append("".join(o["text"]))
            elif o.get("output_type") in ("execute_result", "display_data"):
                plain = o.get("data", {}).get("text/plain", "")
                texts.append("".join(plain) if isinstance(plain, list) else plain)
        joined = re.sub(r"0x[0-9a-f]+", "0x…", "\n".join(texts))
        out.append([re.sub(r"\d+(\.\d+)? s\b", "… s", joined)])
    return out


def test_getting_started_is_stored_with_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] is not None for c in code), "every code cell executed"
    kinds = {o["output_type"] for c in code for o in c["outputs"]}
    assert "execute_result" in kinds
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"]), "figures stored"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    html = [o["data"].get("text/html", "") for c in code for o in c["outputs"] if "data" in o]
    assert any("<table" in "".join(h) for h in html), "a DataFrame is shown as a table"


def test_getting_started_matches_its_builder() -> None:
    import nbformat

    stored = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.source for c in stored.cells] == [c.source for c in _builder().build().cells]


def _execute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick: bool) -> Any:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from simcache.catalog import load_models

    missing = [m for m in NEEDS if m not in load_models()]
    if missing:
        pytest.skip(f"the notebook needs model(s) {', '.join(missing)}, not registered in this build")
    if quick:
        monkeypatch.setenv("SIMCACHE_QUICK", "1")
    else:
        monkeypatch.delenv("SIMCACHE_QUICK", raising=False)
    monkeypatch.setenv("SIMCACHE_PROGRESS", "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # run two levels below the repository's parent, as notebooks/ is, so the trace cell finds the same traces
    cwd = ROOT / "build" / tmp_path.name
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        return _builder().execute(nbformat.read(NOTEBOOK, as_version=4), cwd), cwd
    except BaseException:
        import shutil

        shutil.rmtree(cwd, ignore_errors=True)
        raise


def test_notebook_executes_quick_and_reruns_after_the_grid_changes(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    nb, cwd = _execute(tmp_path, monkeypatch, quick=True)
    try:
        text = "\n".join(t for cell in _text_outputs(nb) for t in cell)
        assert "quick mode" in text and "0 failed" in text
        folders = sorted(p.name for p in (cwd / "results").iterdir() if p.name.startswith("getting-started-"))
        assert len(folders) == 1 and (cwd / "results" / folders[0] / "mrc.svg").is_file()
        # the user edits the grid and runs again: a new folder, no clash with the old runs
        import nbformat

        edited = nbformat.read(NOTEBOOK, as_version=4)
        for cell in edited.cells:
            cell.source = cell.source.replace('"sieve"]', '"sieve", "arc"]')
        _builder().execute(edited, cwd)
        after = sorted(p.name for p in (cwd / "results").iterdir() if p.name.startswith("getting-started-"))
        assert len(after) == 2 and set(folders) < set(after)
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


@pytest.mark.slow
def test_notebook_outputs_are_what_it_computes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import nbformat

    nb, cwd = _execute(tmp_path, monkeypatch, quick=False)
    shutil.rmtree(cwd, ignore_errors=True)
    assert _text_outputs(nb) == _text_outputs(nbformat.read(NOTEBOOK, as_version=4))
