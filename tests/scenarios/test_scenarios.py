"""Every scenario runs on small parameters, deterministically by seed, and its takeaways quote this run's numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simcache.errors import UsageError
from simcache.scenarios import TOPICS, load_scenarios, num, pct, run_scenario, scenario_names

#: per scenario: smaller than --quick (so the suite stays quick), and a second setting whose numbers differ
TINY: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "eviction-policies": ({"requests": 20_000, "objects": 2_000, "size": 100, "scan_length": 200,
                           "shift_period": 5_000}, {"size": 300}),
    "mrc-belady": ({"objects": 2_000, "requests": 30_000, "points": 5}, {"alpha": 1.1}),
    "cache-hierarchy": ({"rate": 300.0, "duration": 4.0}, {"cdn_ttl": 2.0}),
    "cold-start": ({"rate": 300.0, "duration": 8.0, "flush_at": 5.0, "objects": 1_000, "db_connections": 2},
                   {"db_read_ms": 4.0}),
    "connection-pool": ({"rate": 400.0, "duration": 3.0, "pause_at": 1.5, "pool": 20}, {"pool": 10}),
    "global-cdn": ({"rate": 200.0, "objects": 2_000, "edge_capacity": 500, "shield_capacity": 2_000,
                    "duration": 6.0, "purge_at": 4.0, "warmup": 1.0, "edge_ttl": 5.0}, {"edge_ttl": 2.0}),
    "memcached-vs-redis": ({"duration": 1.0, "rates": "500,2500"}, {"service_us": 200.0}),
    "monitoring": ({"rate": 300.0, "duration": 5.0, "objects": 5_000, "cache_capacity": 500}, {"cache_capacity": 1_000}),
    "pipelining": ({"keys": 300, "every": 50}, {"rtt_ms": 3.0}),
    "write-strategies": ({"duration": 2.0, "crash_at": 1.0, "rate": 200.0,
                          "strategies": "cache-aside,write-through,write-behind,write-around"}, {"rate": 300.0}),
    "stale-set-race": ({"duration": 3.0, "read_rate": 300.0, "write_rate": 60.0, "users": 20}, {"write_rate": 120.0}),
    "ttl-vs-invalidation": ({"duration": 4.0, "read_rate": 200.0, "users": 40}, {"short_ttl": 1.0}),
    "recommendations": ({"segments": 10, "rate": 100.0, "ttl": 3.0, "duration": 5.0}, {"recompute": 0.4}),
    "stampede": ({"rate": 200.0, "duration": 7.0, "ttl": 3.0, "protections": "none,seed-lock,single-flight,xfetch"},
                 {"rate": 400.0}),
    "lock-pause": ({"duration": 6.0}, {"mean_pause": 0.8}),
    "rate-limiter": ({"duration": 8.0}, {"offered": 40.0}),
    "geo-replication": ({"duration": 14.0, "warmup": 7.0, "cut_at": 9.0, "cut_s": 3.0, "read_rate": 150.0,
                         "write_rate": 50.0}, {"wan_ms": 80.0}),
    "session-store": ({"duration": 14.0, "fault_at": 8.0, "write_rate": 80.0, "sample": 100}, {"session_bytes": 2000}),
    "sentinel-failover": ({"duration": 26.0, "fault_at": 15.0, "fault_duration": 6.0, "rate": 40.0,
                           "faults": "crash,partition"}, {"rate": 60.0}),
    "social-feed": ({"duration": 6.0, "change_at": 4.0, "rate": 300.0, "keys": 2_000}, {"alpha": 0.8}),
    "feed-fanout": ({"duration": 3.0, "users": 300, "follows": 20, "celebrity_followers": 200, "read_rate": 100.0},
                    {"celebrity_followers": 250}),
    "cluster-resharding": ({"rate": 60.0, "duration": 25.0, "reshard_at": 5.0, "fault_at": 12.0}, {"rate": 100.0}),
    "split-brain": ({"rate": 40.0, "fault_at": 12.0, "fault_duration": 8.0, "duration": 36.0,
                     "min_replicas_max_lag": 3}, {"min_replicas_max_lag": 5}),
}


def test_every_scenario_has_a_tiny_setting() -> None:
    assert sorted(TINY) == sorted(scenario_names())


def test_catalogue_entries_are_complete() -> None:
    for name, sc in load_scenarios().items():
        assert sc.topic in TOPICS
        assert sc.summary and sc.question and sc.source and sc.setup and sc.watch and sc.runtime
        assert sc.figures is not None, name
        sc.narrative(sc.make_params({}, quick=True))  # every placeholder names a parameter


@pytest.mark.parametrize("name", sorted(TINY))
def test_runs_deterministically_by_seed(name: str, tmp_path: Path) -> None:
    small, _ = TINY[name]
    a = run_scenario(name, small, quick=True, seed=3, out=tmp_path)
    b = run_scenario(name, small, quick=True, seed=3)
    assert a.table and a.findings.columns
    assert a.table == b.table and a.numbers == b.numbers and a.takeaways == b.takeaways
    assert a.figures and all(Path(x).is_file() and Path(x).stat().st_size > 1000 for x in a.figures)
    assert b.figures == []  # no folder, no figures


@pytest.mark.parametrize("name", sorted(TINY))
def test_takeaways_follow_the_numbers(name: str) -> None:
    small, other = TINY[name]
    a = run_scenario(name, small, quick=True, seed=0)
    b = run_scenario(name, {**small, **other}, quick=True, seed=0)
    assert a.takeaways and all(isinstance(t, str) and t for t in a.takeaways)
    assert a.table != b.table or a.numbers != b.numbers, "the second setting should change the results"
    assert a.takeaways != b.takeaways, "different numbers, same sentences: canned text"


def rows(r: Any, key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in r.table}


def test_stampede_takeaways_quote_the_table() -> None:
    r = run_scenario("stampede", TINY["stampede"][0], quick=True)
    none = rows(r, "protection")["none"]
    assert num(none["recomputes_per_expiry"]) in r.takeaways[0]
    assert num(none["db_peak_rps"]) in r.takeaways[0]
    seed_lock = rows(r, "protection")["seed-lock"]
    assert any(num(seed_lock["waiting_cache_commands"]) in t for t in r.takeaways)


def test_rate_limiter_takeaways_quote_the_starvation() -> None:
    r = run_scenario("rate-limiter", TINY["rate-limiter"][0])
    seed = rows(r, "limiter")["seed"]
    assert pct(seed["accepted_fraction"]) in r.takeaways[0]
    assert pct(seed["exact_accepted_fraction"]) in r.takeaways[0]
    # the seed's log starves the client: far below what an exact limiter accepts on the same arrivals
    assert seed["accepted_fraction"] < 0.5 * seed["exact_accepted_fraction"]
    fixed = rows(r, "limiter")["fixed-window"]
    assert fixed["max_in_any_window"] > 10  # a burst across the window boundary
    assert any(num(fixed["max_in_any_window"]) in t and "fixed-window" in t for t in r.takeaways)


def test_pipelining_counts_the_seeds_batches() -> None:
    # hand-worked: 300 SETs, execute when i % 50 == 0: batches of 1, 50 x 5 (i = 50..250), then 49 (251..299)
    r = run_scenario("pipelining", {"keys": 300, "every": 50})
    one, seed, even = r.table
    assert (one["round_trips"], seed["round_trips"], even["round_trips"]) == (300, 7, 6)
    assert (seed["first_batch"], seed["last_batch"], seed["largest_batch"]) == (1, 49, 50)
    assert seed["keys_stored"] == even["keys_stored"] == 300
    assert seed["server_commands"] == 300 + 2 * 7  # MULTI and EXEC around each batch
    # one round trip (1 ms) per SET at least
    assert one["elapsed_ms"] >= 300 * 1.0
    assert "7 round trips" in r.takeaways[1] and "need 6" in r.takeaways[1]


def test_write_strategies_write_behind_loses_writes_at_the_crash() -> None:
    r = run_scenario("write-strategies", TINY["write-strategies"][0])
    by = rows(r, "strategy")
    assert by["write-behind"]["writes_lost"] > 0
    assert all(by[s]["writes_lost"] == 0 for s in ("cache-aside", "write-through", "write-around"))
    assert f"write-behind lost {num(by['write-behind']['writes_lost'])}" in " ".join(r.takeaways)


def test_eviction_loop_defeats_lru() -> None:
    r = run_scenario("eviction-policies", {**TINY["eviction-policies"][0], "workloads": "loop",
                                           "policies": "lru,fifo,belady"})
    row = r.table[0]
    # a cyclic sweep over 1.2 x the cache: LRU and FIFO miss every request; Belady misses (n - c)/(n - 1) of the
    # requests after the first pass (c = 100 entries, n = 120 objects) plus the 120 cold misses
    assert row["lru"] == row["fifo"] == 1.0
    n, c, m = 120, 100, 20_000
    assert row["belady"] == pytest.approx((n + (m - n) * (n - c) / (n - 1)) / m, abs=0.01)


def test_feed_fanout_modes_serve_the_same_timelines() -> None:
    r = run_scenario("feed-fanout", TINY["feed-fanout"][0])
    by = rows(r, "mode")
    # the same posts and reads (same seed) under each mode: the same timelines, only the work moves
    assert len({row["mean_timeline"] for row in r.table}) == 1 and by["push"]["mean_timeline"] > 0
    assert by["push"]["memory_mb"] > by["pull"]["memory_mb"]
    assert by["pull"]["commands_per_s"] > by["push"]["commands_per_s"]
    assert by["hybrid"]["celebrity_post_ms"] < by["push"]["celebrity_post_ms"]


def test_quick_set_then_user_values() -> None:
    sc = load_scenarios()["stampede"]
    p = sc.make_params({"rate": "123"}, quick=True)
    assert p.rate == 123.0 and p.duration == sc.quick["duration"]
    assert sc.make_params({}, quick=False).duration == sc.defaults()["duration"]
    setup, _ = sc.narrative(p)
    assert "123.0 times/s" in setup


@pytest.mark.parametrize("values, match", [
    ({"nope": 1}, "has no parameter 'nope'"),
    ({"rate": "fast"}, "rate expects float"),
    ({"rate": "-1"}, "rate must be a number > 0"),
    ({"protections": "none,magic"}, "protections must be a comma-separated list"),
])
def test_bad_parameters_are_one_line_usage_errors(values: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match) as err:
        run_scenario("stampede", values)
    assert "\n" not in str(err.value)


def test_unknown_scenario_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="unknown scenario 'nope'; valid scenarios: .*stampede"):
        run_scenario("nope")


def test_bad_seed() -> None:
    with pytest.raises(UsageError, match="seed must be an integer >= 0"):
        run_scenario("pipelining", {"keys": 10}, seed=-1)


def test_split_brain_min_replicas_bounds_the_isolated_window() -> None:
    # with min-replicas-to-write 1 the isolated master refuses writes within (max-lag - 1, max-lag + 2] s of the
    # split (lag in whole seconds, refreshed each second), and every write it acknowledged alone is lost
    r = run_scenario("split-brain", TINY["split-brain"][0], seed=2)
    by = {row["min_replicas_to_write"]: row for row in r.findings.table}
    assert by[0]["stopped_s"] is None
    assert 3 - 1 < by[1]["stopped_s"] <= 3 + 2
    assert by[1]["acknowledged_writes_lost"] >= by[1]["isolated_writes_acked"] > 0
    assert by[0]["acknowledged_writes_lost"] > by[1]["acknowledged_writes_lost"]
    assert f"from {num(by[0]['acknowledged_writes_lost'])} to {num(by[1]['acknowledged_writes_lost'])}" in \
        r.takeaways[0]
