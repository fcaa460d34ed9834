"""The notebooks run top to bottom on small parameters (SIMCACHE_QUICK=1), so they never rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: models each notebook needs; a notebook whose model is not registered yet is skipped with that reason
NEEDS = {"getting-started.ipynb": ["three-tier"]}


def test_notebooks_are_stored_without_outputs() -> None:
    assert NOTEBOOKS, "notebooks/ holds at least the getting-started notebook"
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has outputs"


def test_getting_started_matches_its_builder() -> None:
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("make_nb", ROOT / "notebooks" / "make_getting_started.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    stored = nbformat.read(ROOT / "notebooks" / "getting-started.ipynb", as_version=4)
    assert [c.source for c in stored.cells] == [c.source for c in mod.build().cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from simcache.catalog import load_models

    missing = [m for m in NEEDS.get(path.name, []) if m not in load_models()]
    if missing:
        pytest.skip(f"{path.name} needs model(s) {', '.join(missing)}, not registered in this build")
    monkeypatch.setenv("SIMCACHE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if path.name == "getting-started.ipynb":
        assert (tmp_path / "results" / "getting-started" / "runs.csv").is_file()
        assert (tmp_path / "results" / "getting-started" / "mrc.svg").is_file()
        text = "".join(o.get("text", "") for o in outputs)
        assert "quick mode" in text and "0 failed" in text
