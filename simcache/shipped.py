"""Where the project's ready-made models and sweep files are, in a source checkout and when installed.

The repository keeps them in its top-level ``models/`` and ``experiments/``
folders; a built wheel carries the same files inside the package
(``simcache/models``, ``simcache/experiments``, mapped in ``setup.py``), so
installed simcache runs every model and shipped sweep by name.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (``"models"`` or ``"experiments"``): inside the installed package, else the checkout's."""
    inside = _HERE / name
    if inside.is_dir():
        return inside
    root = _HERE.parent
    if (root / "pyproject.toml").is_file() and (root / name).is_dir():
        return root / name
    return inside
