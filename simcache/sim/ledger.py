"""The acknowledged-writes ledger: which writes a client was told succeeded, and which of them a dataset lost.

Jepsen-style tests of replicated stores count **acknowledged writes lost**:
writes the store answered OK to that are absent from the dataset that is
authoritative afterwards (the master after a failover, the dataset a
restart loaded).  :class:`Ledger` records each acknowledged write (key, the
value written, when it was acknowledged, when it was invoked) and, given
the final dataset, judges each key's writes against the one the dataset holds:

* the write whose value the dataset holds is **kept**;
* a write that began (was invoked) after the kept one had been
  acknowledged should have replaced it: the dataset does not reflect it, so
  it is **lost** — as is every write of a key whose value is absent, or is
  no acknowledged write at all;
* any other write (acknowledged before the kept one, or overlapping it) is
  **superseded**: some order of the writes puts it before the kept one.

So a master that acknowledged ten writes of one key in isolation and was
then resynchronised from the other side of the partition has lost all ten,
not only the last.  With ``until=T`` only writes acknowledged by time ``T``
are considered (the dataset as it was at ``T``: the snapshot a crash at
``T`` kept, say).  The count assumes the ledger sees every write of the keys
it judges (a key deleted or expired by other means counts as lost).

Values compare by equality: a simulation :class:`~simcache.sim.oracle.Value`
by its write id and size, bytes as bytes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledged write: the key, the value written, when it was acknowledged and invoked."""

    key: Any
    value: Any
    acked: float
    invoked: float


@dataclass(frozen=True)
class LossReport:
    """What a dataset kept of the acknowledged writes."""

    acknowledged: int
    lost: int
    kept: int
    superseded: int
    lost_writes: tuple[Ack, ...]

    @property
    def loss_window(self) -> float:
        """Seconds between the first and the last lost write's acknowledgement (0 without losses)."""
        if not self.lost_writes:
            return 0.0
        ts = [a.acked for a in self.lost_writes]
        return max(ts) - min(ts)

    def as_dict(self) -> dict[str, Any]:
        """The counts as a flat dict (for a model summary)."""
        return {"acknowledged_writes": self.acknowledged, "acknowledged_writes_lost": self.lost,
                "acknowledged_writes_kept": self.kept, "acknowledged_writes_superseded": self.superseded,
                "loss_window_s": self.loss_window,
                "first_lost_ack_at": min((a.acked for a in self.lost_writes), default=None),
                "last_lost_ack_at": max((a.acked for a in self.lost_writes), default=None)}


def dataset_of(server: Any) -> dict[Any, Any]:
    """A simulated Redis's string keys and their values (``{key: value}``), as a ledger compares them."""
    return {k: obj.value for k, obj in server.data.items() if obj.type == "string"}


class Ledger:
    """The acknowledged writes of a run (see the module docstring)."""

    def __init__(self) -> None:
        self._by_key: dict[Any, list[Ack]] = {}
        self.count = 0

    def record(self, key: Any, value: Any, acked: float, invoked: float | None = None) -> Ack:
        """A write of ``value`` to ``key`` was acknowledged at ``acked`` (invoked at ``invoked``)."""
        a = Ack(_norm(key), value, float(acked), float(acked if invoked is None else invoked))
        lst = self._by_key.setdefault(a.key, [])
        if lst and lst[-1].acked > a.acked:
            lst.insert(bisect_right([x.acked for x in lst], a.acked), a)
        else:
            lst.append(a)
        self.count += 1
        return a

    def acks(self, until: float | None = None) -> list[Ack]:
        """Every acknowledged write (by time ``until``), key by key in acknowledgement order."""
        return [a for lst in self._by_key.values() for a in lst if until is None or a.acked <= until]

    def losses(self, dataset: Mapping[Any, Any] | Any, until: float | None = None) -> LossReport:
        """Compare with ``dataset`` (a mapping, or a server with ``.data``): the :class:`LossReport`."""
        data = dataset if isinstance(dataset, Mapping) else dataset_of(dataset)
        norm = {_norm(k): v for k, v in data.items()}
        lost: list[Ack] = []
        kept = superseded = total = 0
        for key, lst in self._by_key.items():
            writes = [a for a in lst if until is None or a.acked <= until]
            if not writes:
                continue
            total += len(writes)
            present = norm.get(key, _ABSENT)
            final = next((a for a in reversed(writes) if a.value == present), None)
            for a in writes:
                if a is final:
                    kept += 1
                elif final is None or a.invoked > final.acked:
                    lost.append(a)
                else:
                    superseded += 1
        lost.sort(key=lambda a: a.acked)
        return LossReport(total, len(lost), kept, superseded, tuple(lost))

    def lost(self, dataset: Mapping[Any, Any] | Any, until: float | None = None) -> int:
        """How many acknowledged writes ``dataset`` lost."""
        return self.losses(dataset, until).lost

    def keys(self) -> Iterable[Any]:
        """The keys written."""
        return self._by_key.keys()


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _norm(key: Any) -> Any:
    """Keys as the server keeps them (bytes)."""
    if isinstance(key, str):
        return key.encode()
    return key
