"""FIFO: admission order decides, hits change nothing; FIFO is not a stack algorithm."""

from __future__ import annotations

from simcache.policies import make_policy
from tests.policies import hits_of, replay


def test_hand_sequence_hits_do_not_refresh() -> None:
    # A's hit at t4 does not save it: it is still the oldest admission when D arrives
    hits, evicted = replay(make_policy("fifo", 3), "ABCADAEB")
    assert hits == hits_of("mmmH mmmm")
    assert evicted == list("ABCD")


def test_byte_capacity_evicts_until_the_object_fits() -> None:
    p = make_policy("fifo", 10)
    hits, evicted = replay(p, [("a", 4), ("b", 4), ("c", 2), ("d", 5), ("b", 4), ("e", 10)])
    # d needs 5 with 10 used: a (4) then b (4) go; b comes back (evicting c); e needs everything
    assert hits == [False] * 6
    assert evicted == ["a", "b", "c", "d", "b"]
    assert list(p.sizes) == ["e"] and p.used == 10


def test_belady_anomaly_more_frames_more_faults() -> None:
    # Belady, Nelson & Shedler (1969): this string faults 9 times with 3 frames, 10 with 4
    trace = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]
    small, _ = replay(make_policy("fifo", 3), trace)
    large, _ = replay(make_policy("fifo", 4), trace)
    assert small.count(False) == 9
    assert large.count(False) == 10
    # so FIFO is not stack-inclusive: some hit of the small cache misses in the large one
    assert any(s and not g for s, g in zip(small, large, strict=True))
    # LRU is a stack algorithm: on the same string its hits only grow with size
    lru_small, _ = replay(make_policy("lru", 3), trace)
    lru_large, _ = replay(make_policy("lru", 4), trace)
    assert all(g for s, g in zip(lru_small, lru_large, strict=True) if s)


def test_removed_key_leaves_the_queue() -> None:
    p = make_policy("fifo", 2)
    replay(p, "AB")
    assert p.remove("A")
    hits, evicted = replay(p, "CD")
    assert hits == [False, False] and evicted == ["B"]
