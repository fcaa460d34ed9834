"""Fault lines: parsed with one clear error per bad part, applied through the components' failure seam."""

from __future__ import annotations

import pytest

from simcache.catalog import run_model
from simcache.errors import UsageError
from simcache.sim.faults import Fault, fault_from_mapping, parse_fault


@pytest.mark.parametrize(("line", "fault"), [
    ("crash:redis@10+5", Fault("crash", "redis", 10.0, 5.0)),
    ("crash-warm:redis@10", Fault("crash-warm", "redis", 10.0)),
    ("pause:redis@10+0.5", Fault("pause", "redis", 10.0, 0.5)),
    ("partition:app|redis@10+10", Fault("partition", "app|redis", 10.0, 10.0)),
    ("partition:clients,app|redis,db@5+3", Fault("partition", "clients,app|redis,db", 5.0, 3.0)),
    ("latency:app-redis=0.05@10+20", Fault("latency", "app-redis", 10.0, 20.0, 0.05)),
    ("loss:app-redis=0.3@10+5", Fault("loss", "app-redis", 10.0, 5.0, 0.3)),
])
def test_fault_lines_parse(line: str, fault: Fault) -> None:
    assert parse_fault(line) == fault
    assert str(fault) == line.replace("crash-warm:redis@10", "crash-warm:redis@10")


@pytest.mark.parametrize(("line", "message"), [
    ("crash:redis", "missing @AT"),
    ("explode:redis@1", "kind must be one of crash"),
    ("crash:redis@soon", "the @AT time must be a number"),
    ("crash:redis@1+x", "the +DURATION must be a number"),
    ("pause:redis@1", "needs a duration"),
    ("latency:app-redis@1+2", "needs =VALUE"),
    ("loss:app-redis=1.5@1", "probability in [0, 1]"),
    ("crash:redis=3@1", "takes no =VALUE"),
    ("partition:app@1+1", "two or more groups"),
    ("crash:redis@-1", "at must be a time >= 0"),
    ("redis", "expected KIND:TARGET"),
])
def test_bad_fault_lines_name_the_part_that_is_wrong(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]").replace("+", r"\+")):
        parse_fault(line)


def test_sweep_file_fault_tables() -> None:
    assert fault_from_mapping({"kind": "crash", "target": "redis", "at": 1, "duration": 2}) == \
        Fault("crash", "redis", 1.0, 2.0)
    with pytest.raises(UsageError, match="unknown field 'when'"):
        fault_from_mapping({"kind": "crash", "target": "redis", "when": 1})
    with pytest.raises(UsageError, match="field 'at' must be a number"):
        fault_from_mapping({"kind": "crash", "target": "redis", "at": "1"})


def test_unknown_targets_are_refused_before_the_run() -> None:
    with pytest.raises(UsageError, match="no component 'reddis'; components: app, db, redis"):
        run_model("three-tier", {"duration": 1.0}, 0, faults=["crash:reddis@0.5"])
    with pytest.raises(UsageError, match="not a link"):
        run_model("three-tier", {"duration": 1.0}, 0, faults=["latency:app-nowhere=0.1@0.5"])
    with pytest.raises(UsageError, match="no node 'x'"):
        run_model("three-tier", {"duration": 1.0}, 0, faults=["partition:app|x@0.5"])


BASE = {"duration": 4.0, "rate": 400.0, "n_objects": 2000, "app_cache": 0, "timeout": 0.2}


def test_a_redis_crash_makes_errors_only_while_it_is_down() -> None:
    calm = run_model("three-tier", BASE, 2)
    hit = run_model("three-tier", BASE, 2, faults=["crash:redis@1+1"])
    assert calm["outcomes"]["error"] == 0 and calm["outcomes"]["timeout"] == 0
    # every request reaching the app while redis is down fails at its first GET: refused
    assert 300 < hit["outcomes"]["error"] < 500  # about 400/s for 1 s
    assert hit["errors"] == {"ConnectionError": hit["outcomes"]["error"]}
    assert hit["faults"] == [{"kind": "crash", "target": "redis", "at": 1.0, "duration": 1.0}]
    # a cold restart empties the cache: a lower hit ratio afterwards than without the crash
    assert hit["hit_ratio"]["redis"] < calm["hit_ratio"]["redis"] - 0.05


def test_a_partition_between_app_and_redis_gives_timeouts_not_errors() -> None:
    hit = run_model("three-tier", BASE, 2, faults=["partition:app|redis@1+1"])
    assert hit["outcomes"]["error"] == 0
    assert 300 < hit["outcomes"]["timeout"] < 520  # requests waiting on redis across the cut time out


def test_a_pause_raises_the_tail_latency_without_failing_requests() -> None:
    calm = run_model("three-tier", BASE, 2)
    hit = run_model("three-tier", {**BASE, "timeout": 1.0}, 2, faults=["pause:redis@1+0.3"])
    assert hit["outcomes"]["timeout"] == 0 and hit["outcomes"]["error"] == 0
    assert hit["latency_ms"]["max"] > 250 > calm["latency_ms"]["max"]


def test_extra_latency_on_a_link_shows_in_the_latency() -> None:
    calm = run_model("three-tier", BASE, 2)
    slow = run_model("three-tier", BASE, 2, faults=["latency:app-redis=0.05@0"])
    # every request makes at least one GET to redis: 100 ms more (50 ms each way; quantiles within 1 %)
    assert slow["latency_ms"]["p50"] > (calm["latency_ms"]["p50"] + 100) * 0.98
