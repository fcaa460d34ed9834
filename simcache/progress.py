"""Progress bars for long work (tqdm on stderr): shown in a terminal or a notebook, silent otherwise unless asked.

``SIMCACHE_PROGRESS=1`` forces bars on (a log file, a CI job), ``SIMCACHE_PROGRESS=0`` silences them;
a command-line ``--progress``/``--quiet`` passes ``enabled`` explicitly.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

__all__ = ["progress_bar", "progress_wanted"]


def progress_wanted(enabled: bool | None = None) -> bool:
    """Whether to draw a bar: ``enabled`` when given, else ``SIMCACHE_PROGRESS``, else when stderr is a terminal
    or the code runs in a Jupyter kernel."""
    if enabled is not None:
        return enabled
    env = os.environ.get("SIMCACHE_PROGRESS", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(total: float | None, desc: str, unit: str = "it", enabled: bool | None = None,
                 **kw: Any) -> Any:
    """A ``tqdm.auto`` bar on stderr (a widget in a notebook), disabled unless :func:`progress_wanted`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm.auto warns when it falls back from widgets to text
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=not progress_wanted(enabled), file=sys.stderr,
                    dynamic_ncols=True, leave=False, **kw)
