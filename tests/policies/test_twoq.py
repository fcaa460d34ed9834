"""Full 2Q (Johnson & Shasha 1994): A1in FIFO, A1out ghost ids, Am LRU."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import PolicyError, make_policy
from tests.policies import hits_of, replay


def test_correlated_references_do_not_promote() -> None:
    p = make_policy("2q", 4)  # Kin = 1, Kout = 2
    assert (p.kin_units, p.kout_units) == (1, 2)
    hits, evicted = replay(p, "AA" + "BCD" + "E" + "AA" + "FG" + "BC")
    # A's quick second reference (a correlated one) is a hit in A1in that changes nothing, so A
    # leaves first; its id in A1out turns its next reference into an admission to Am. B and C,
    # pushed out of A1out by newer ids, come back as first-timers into A1in.
    assert hits == hits_of("mH mmm m mH mm mm")
    assert evicted == list("ABCDEF")
    assert list(p.am) == ["A"]
    assert list(p.a1in) == ["G", "B", "C"]
    assert list(p.a1out) == ["E", "F"]


def test_am_is_reclaimed_when_a1in_is_within_kin() -> None:
    p = make_policy("2q", 4)
    hits, evicted = replay(p, "XYZWV" + "XYZ" + "U" + "X")
    # X, Y, Z return from A1out into Am; once A1in is down to Kin (V alone) U must take the
    # Am LRU (X), which leaves no ghost: X's next reference is a first-timer again
    assert not any(hits)
    assert evicted == list("XYZWXV")
    assert list(p.am) == ["Y", "Z"]
    assert list(p.a1in) == ["U", "X"]
    assert list(p.a1out) == ["W", "V"]


def test_hot_keys_in_am_survive_a_scan() -> None:
    hot = [f"h{i}" for i in range(5)]
    scan = [f"s{i}" for i in range(100)]
    warm = hot + [f"w{i}" for i in range(10)] + hot  # hot keys pass through A1out into Am
    p = make_policy("2q", 10)
    replay(p, warm)
    assert set(hot) <= set(p.am)
    hits, _ = replay(p, scan + hot)
    assert all(hits[-5:])
    lru_hits, _ = replay(make_policy("lru", 10), warm + scan + hot)
    assert not any(lru_hits[-5:])


def test_byte_capacity() -> None:
    p = make_policy("2q", 8)  # Kin = 2, Kout = 4 (units)
    hits, evicted = replay(p, [("a", 2), ("b", 3), ("c", 3), ("d", 2), ("a", 2), ("e", 4), ("b", 3)])
    # the last b needs two A1in evictions (d then e); A1out keeps at most 4 units of ids
    assert not any(hits)
    assert evicted == ["a", "b", "c", "d", "e"]
    assert (list(p.am), list(p.a1in), list(p.a1out)) == (["a"], ["b"], ["e"])
    assert p.used == 5 and p.a1out_used == 4


def test_params_validated() -> None:
    with pytest.raises(PolicyError, match="kin"):
        make_policy("2q", 8, kin=2.0)


def test_same_hits_as_libcachesim_twoq() -> None:
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(4)
    keys = rng.zipf(1.2, 3000) % 150 + 1
    for cap in (8, 50):
        theirs = lcs.TwoQ(cache_size=cap)
        ours = make_policy("2q", cap)
        for k in keys:
            req = lcs.Request()
            req.obj_id, req.obj_size = int(k), 1
            assert ours.access(int(k)) == bool(theirs.get(req))
