"""The fast queueing engine against the event-by-event one: identical outcomes under crashes, pauses and cuts."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simcache.sim.database import Database, DatabaseClient
from simcache.sim.oracle import Value
from simcache.sim.rpc import ConnectionError, TimeoutError
from simcache.sim.world import World

Schedule = list[tuple[float, str, float]]


def outcomes(queueing: str, seed: int, faults: Schedule, workers: int, timeout: float) -> tuple[list[Any], Any]:
    """Run 300 reads and writes from 20 callers against one database; every call's (end time, outcome)."""
    w = World(seed)
    w.network.add_link("app", "db", "exp:0.01")
    db = Database(w, "db", read_service="exp:0.02", write_service="exp:0.03", connections=workers,
                  queueing=queueing)  # type: ignore[arg-type]
    d = DatabaseClient(w, "app", db, timeout=timeout)
    rng = np.random.default_rng(seed)
    out: list[Any] = []

    def caller(i: int) -> Generator[simpy.Event, Any, None]:
        for j in range(15):
            yield w.env.timeout(float(rng.exponential(0.05)))
            key = int(rng.integers(5))
            try:
                if j % 3 == 0:
                    v = yield from d.set(key, Value(w.new_write_id()))
                else:
                    v = (yield from d.get(key)).wid
            except (ConnectionError, TimeoutError) as err:
                v = type(err).__name__
            out.append((i, j, round(w.env.now, 12), v))

    for i in range(20):
        w.process(caller(i))
    for t, kind, x in faults:
        def fault(t: float = t, kind: str = kind, x: float = x) -> Generator[simpy.Event, Any, None]:
            yield w.env.timeout(t)
            if kind == "pause":
                db.pause(x)
            elif kind == "crash":
                db.crash(warm=True, host_down=x > 0.5)
                yield w.env.timeout(0.1)
                db.restart()
            else:
                cut = w.network.partition(["app"], ["db"])
                yield w.env.timeout(x)
                w.network.heal(cut)
        w.process(fault())
    w.run(30)
    return sorted(out), {k: v.wid for k, v in db.data.items()}


FAULTS = st.lists(st.tuples(st.floats(0.01, 1.0), st.sampled_from(["pause", "crash", "cut"]), st.floats(0.01, 0.3)),
                  max_size=4)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), faults=FAULTS, workers=st.integers(1, 3), timeout=st.sampled_from([0.05, 0.3]))
def test_fast_engine_equals_events_engine(seed: int, faults: Schedule, workers: int, timeout: float) -> None:
    fast = outcomes("fast", seed, faults, workers, timeout)
    events = outcomes("events", seed, faults, workers, timeout)
    assert fast == events


@pytest.mark.parametrize("workers", [1, 4])
def test_the_comparison_has_power(workers: int) -> None:
    # a crash makes a visible difference, so equal outcomes above are not an accident of nothing happening
    calm = outcomes("fast", 1, [], workers, 0.3)
    hit = outcomes("fast", 1, [(0.2, "crash", 0.0), (0.4, "pause", 0.2)], workers, 0.3)
    assert calm != hit
    assert any(o[3] == "ConnectionError" for o in hit[0])
