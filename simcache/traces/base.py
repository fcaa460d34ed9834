"""What every trace source yields: chunks of requests as numpy arrays.

A trace source is anything with ``iter_chunks()`` yielding :class:`Chunk`
objects in request order; readers stream files this way so a trace larger
than memory replays, and synthetic generators do the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(slots=True)
class Chunk:
    """A run of consecutive requests.

    Attributes:
        ids: object ids, int64 (or uint64 for raw 64-bit ids).
        sizes: object sizes in bytes (int64), or None for unit sizes.
        times: request times in seconds (float64), or None when the trace has none.
        next_access: global index of the next request to the same object
            (int64, -1 for never), or None when the trace does not carry it.
        ops: operation per request (0 read, 1 write), or None for all reads.
    """

    ids: np.ndarray
    sizes: np.ndarray | None = None
    times: np.ndarray | None = None
    next_access: np.ndarray | None = None
    ops: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@runtime_checkable
class TraceSource(Protocol):
    """Anything that streams requests as chunks, in order, every time it is iterated."""

    name: str

    def iter_chunks(self) -> Iterator[Chunk]: ...
