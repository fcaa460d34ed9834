"""The acknowledged-writes ledger: hand-worked datasets with exactly k lost writes."""

from __future__ import annotations

from simcache.sim.ledger import Ledger, dataset_of
from simcache.sim.oracle import Value
from simcache.sim.redis import RedisServer
from simcache.sim.world import World


def test_every_write_kept_loses_nothing() -> None:
    led = Ledger()
    for i in range(5):
        led.record(f"k{i}", Value(i + 1), acked=float(i))
    data = {f"k{i}".encode(): Value(i + 1) for i in range(5)}
    rep = led.losses(data)
    assert (rep.acknowledged, rep.lost, rep.kept, rep.superseded) == (5, 0, 5, 0)
    assert rep.loss_window == 0.0


def test_exactly_k_missing_keys_are_lost() -> None:
    led = Ledger()
    for i in range(10):
        led.record(f"k{i}", Value(i + 1), acked=1.0 + i)
    data = {f"k{i}".encode(): Value(i + 1) for i in range(7)}  # k7, k8, k9 never reached the new master
    rep = led.losses(data)
    assert rep.lost == 3
    assert [a.key for a in rep.lost_writes] == [b"k7", b"k8", b"k9"]
    assert rep.loss_window == 2.0
    assert rep.as_dict()["acknowledged_writes_lost"] == 3


def test_an_older_value_in_place_loses_every_write_that_began_after_it_was_acknowledged() -> None:
    led = Ledger()
    led.record("k", Value(1), acked=1.0)
    led.record("k", Value(2), acked=2.0)
    led.record("k", Value(3), acked=3.0)
    # the dataset went back to w1: w2 and w3 both began after w1's acknowledgement, and the dataset
    # reflects neither (a replica resynchronised from a master that never saw them)
    rep = led.losses({b"k": Value(1)})
    assert (rep.lost, rep.kept, rep.superseded) == (2, 1, 0)
    assert [a.value for a in rep.lost_writes] == [Value(2), Value(3)]
    # the newest in place: the older ones were overwritten in order, nothing is lost
    assert led.losses({b"k": Value(3)}).as_dict()["acknowledged_writes_superseded"] == 2
    assert led.lost({b"k": Value(3)}) == 0
    assert led.lost({}) == 3


def test_a_write_overlapping_the_kept_one_is_superseded_not_lost() -> None:
    led = Ledger()
    led.record("k", Value(1), acked=2.0, invoked=0.5)
    led.record("k", Value(2), acked=3.0, invoked=1.0)  # began before w1 was acknowledged: may come first
    led.record("k", Value(3), acked=4.0, invoked=2.5)  # began after w1 was acknowledged
    rep = led.losses({b"k": Value(1)})
    assert (rep.lost, rep.kept, rep.superseded) == (1, 1, 1)
    assert rep.lost_writes[0].value == Value(3)


def test_until_only_counts_writes_acknowledged_by_then() -> None:
    led = Ledger()
    led.record("a", Value(1), acked=1.0)
    led.record("b", Value(2), acked=5.0)
    snapshot_at_3 = {b"a": Value(1)}
    assert led.lost(snapshot_at_3, until=3.0) == 0
    assert led.lost(snapshot_at_3) == 1


def test_out_of_order_records_are_sorted_by_ack_time() -> None:
    led = Ledger()
    led.record("k", Value(2), acked=2.0, invoked=1.5)
    led.record("k", Value(1), acked=1.0, invoked=0.5)
    assert led.lost({b"k": Value(2)}) == 0
    assert led.lost({b"k": Value(1)}) == 1


def test_dataset_of_a_server() -> None:
    w = World(0)
    srv = RedisServer(w, "r")
    srv.dispatch((b"SET", b"x", Value(7)))
    srv.dispatch((b"LPUSH", b"l", b"a"))
    assert dataset_of(srv) == {b"x": Value(7)}
    led = Ledger()
    led.record(b"x", Value(7), acked=0.0)
    led.record(b"y", Value(8), acked=0.0)
    assert led.lost(srv) == 1
