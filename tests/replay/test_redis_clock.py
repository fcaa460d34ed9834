"""Redis's 1-second LRU clock in replay: request timestamps decide how close sampled LRU gets to LRU."""

from __future__ import annotations

import pytest

from simcache.replay import replay, source_from_args


def _miss(policy: str, rate: float | None) -> float:
    src = source_from_args(synthetic="zipf", alpha=1.0, objects=20_000, requests=120_000, seed=3, rate=rate)
    (row,) = replay(src, [policy], [400], engine="reference", seed=1, warmup=0.25)
    return row.miss_ratio


def test_sampled_lru_tracks_lru_when_keys_are_seconds_apart_and_random_when_they_tie() -> None:
    lru = _miss("lru", None)
    random = _miss("redis-allkeys-random", None)
    assert random - lru > 0.03  # the two bounds are far apart at this size
    # 50 requests/s: the cache's 400 keys were last touched over many distinct seconds, so the
    # 1-second idle times order them nearly as LRU does
    slow = _miss("redis-allkeys-lru", 50.0)
    # all requests within the same second: every idle time ties, the pool keeps whatever it sampled first
    tied = _miss("redis-allkeys-lru", None)
    assert abs(slow - lru) < 0.25 * (random - lru)
    assert abs(tied - random) < 0.25 * (random - lru)


def test_rate_is_refused_for_trace_files(tmp_path) -> None:
    from simcache.errors import UsageError
    from simcache.replay import source_from_args as build

    with pytest.raises(UsageError):
        build(trace=tmp_path / "x.bin", synthetic="zipf", rate=1.0)
