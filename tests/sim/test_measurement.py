"""Honest measurement: staleness judged at invocation, warmup everywhere, one random stream per purpose."""

from __future__ import annotations

import pytest

from simcache.catalog import run_model
from simcache.sim.oracle import CONCURRENT, DIRTY, FRESH, STALE, Oracle
from simcache.sim.world import World


def oracle(history: int = 1024) -> Oracle:
    return Oracle(World(0), history)


def test_a_read_is_stale_only_when_the_newer_version_committed_before_it_was_invoked() -> None:
    o = oracle()
    o.commit("k", 1, 10.0)  # version 1 at t=10
    o.commit("k", 2, 20.0)  # version 2 at t=20
    # returned v0, invoked at 12: v1 had committed at 10 -> stale by 1 version, aged 2 s
    v = o.judge("k", 0, 12.0, 12.5)
    assert (v.kind, v.behind, v.age) == (STALE, 1, 2.0)
    # returned v0, invoked at 25: two versions behind, aged from the first newer commit
    v = o.judge("k", 0, 25.0, 25.1)
    assert (v.kind, v.behind, v.age) == (STALE, 2, 15.0)
    # returned v1, invoked at 19 and answered at 21: v2 committed while it was in progress -> concurrent
    assert o.judge("k", 1, 19.0, 21.0).kind == CONCURRENT
    # returned v1, invoked at 15, answered at 16: nothing newer by then -> fresh
    assert o.judge("k", 1, 15.0, 16.0).kind == FRESH
    # the latest version is always fresh; a never-written key's initial value too
    assert o.judge("k", 2, 30.0, 31.0).kind == FRESH
    assert o.judge("other", 0, 30.0, 31.0).kind == FRESH
    # a write id that never committed is dirty
    assert o.judge("k", 99, 30.0, 31.0).kind == DIRTY


def test_forgotten_history_still_judges_old_values_stale() -> None:
    o = oracle(history=2)
    for i in range(1, 8):
        o.commit("k", i, float(i))
    v = o.judge("k", 1, 10.0, 10.0)  # version 1's successor is forgotten: a lower bound
    assert v.kind == STALE and v.behind >= 2 and o.truncated == 1


def test_late_commits_count_writes_whose_caller_had_given_up() -> None:
    o = oracle()
    o.abandoned(5)
    o.commit("k", 5, 1.0)
    o.commit("k", 6, 2.0)
    assert o.late_commits == 1


def test_write_ids_are_unique_in_the_world() -> None:
    w = World(0)
    ids = {w.new_write_id() for _ in range(1000)}
    assert len(ids) == 1000 and 0 not in ids


def test_warmup_applies_to_every_metric() -> None:
    base = {"duration": 4.0, "rate": 500.0, "n_objects": 2000, "app_cache": 100}
    cold = run_model("three-tier", base, 1)
    warm = run_model("three-tier", {**base, "warmup": 2.0}, 1)
    # the same run, measured from 2 s: strictly fewer of everything, and the caches are warmer
    assert warm["outcomes"]["ok"] < cold["outcomes"]["ok"]
    assert warm["tiers"]["redis"]["lookups"] < cold["tiers"]["redis"]["lookups"]
    assert warm["db"]["reads"] < cold["db"]["reads"]
    assert warm["hit_ratio"]["redis"] > cold["hit_ratio"]["redis"]
    # throughput is per measured second: about the arrival rate either way
    assert warm["throughput"] == pytest.approx(500, rel=0.1) and cold["throughput"] == pytest.approx(500, rel=0.1)


def test_turning_loss_or_retries_on_does_not_change_the_workload() -> None:
    def keys(**kw: object) -> list[int]:
        import sys

        from simcache.catalog import get_model
        from simcache.sim.runner import simulate_system

        spec = get_model("three-tier")
        mod = sys.modules[spec.source]
        s = mod.build(spec.make_params({"duration": 1.0, "rate": 300.0, **kw}), 4)
        drawn: list[int] = []
        orig = s.clients[0].draws.next

        def spy() -> tuple[int, str, int]:
            r = orig()
            drawn.append(r[0])
            return r

        s.clients[0].draws.next = spy  # type: ignore[method-assign]
        simulate_system(s, 1.0, timeseries=False)
        return drawn

    plain = keys()
    lossy = keys(loss=0.2, retries=2, timeout=0.05)
    n = min(len(plain), len(lossy))
    assert n > 200 and plain[:n] == lossy[:n]
