"""One switch between compiled and plain-Python kernels: the same source runs either way.

Kernels are decorated with :func:`jit`.  With numba installed (and neither
``NUMBA_DISABLE_JIT=1`` nor ``SIMCACHE_NO_NUMBA=1`` set) they compile with
``cache=True`` (compiled code is reused across processes) and ``nogil=True``
(so capacities replay on threads in parallel); otherwise the decorator returns
the function unchanged and the kernels run as ordinary Python over numpy arrays.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# typed as a plain module: numba's own stubs make njit return a Dispatcher, not the function type kept here
_numba: ModuleType | None
try:  # numba is an optional extra (simcache[fast])
    import numba as _numba_module
except ImportError:  # pragma: no cover - exercised only where numba is absent
    _numba = None
else:
    _numba = _numba_module

#: True when kernels are compiled to machine code; False when they run as plain Python.
COMPILED: bool = (
    _numba is not None
    and os.environ.get("SIMCACHE_NO_NUMBA", "") in ("", "0")
    and not bool(_numba.config.DISABLE_JIT)
)


def jit(fn: F) -> F:
    """Compile ``fn`` with numba (cached, GIL released) when :data:`COMPILED`, else return it as is."""
    if COMPILED and _numba is not None:  # COMPILED implies numba; the test narrows the type
        return _numba.njit(cache=True, nogil=True)(fn)  # type: ignore[no-any-return]
    return fn


def jit_inline(fn: F) -> F:
    """Like :func:`jit`, for small helpers: compiled into their callers at the IR level (numba's ``inline="always"``).

    Inlining matters: a call that passes arrays costs reference counting and
    argument packing on every request, several times the work of the list update itself.
    """
    if COMPILED and _numba is not None:  # COMPILED implies numba; the test narrows the type
        return _numba.njit(cache=True, nogil=True, inline="always")(fn)  # type: ignore[no-any-return]
    return fn
