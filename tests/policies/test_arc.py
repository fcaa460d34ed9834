"""ARC (Megiddo & Modha 2003): T1/T2/B1/B2 and the adaptive target p."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import make_policy
from tests.policies import replay


def _state(p) -> tuple[list, list, list, list, float]:
    return list(p.t1), list(p.t2), list(p.b1), list(p.b2), p.p


def test_ghost_hits_move_p_by_hand() -> None:
    p = make_policy("arc", 2)
    steps = [
        # request, hit, evicted, (T1, T2, B1, B2, p) after it (lists LRU first)
        ("A", False, [], (["A"], [], [], [], 0.0)),
        ("A", True, [], ([], ["A"], [], [], 0.0)),
        ("B", False, [], (["B"], ["A"], [], [], 0.0)),
        # case IV.B, cache full: REPLACE takes T1's LRU since |T1| = 1 > p = 0
        ("C", False, ["B"], (["C"], ["A"], ["B"], [], 0.0)),
        # B1 ghost hit: p += 1; REPLACE: |T1| = 1 is not > p = 1, so T2's LRU goes to B2
        ("B", False, ["A"], (["C"], ["B"], [], ["A"], 1.0)),
        # B2 ghost hit: p -= 1; REPLACE: |T1| = 1 > p = 0, so C goes to B1
        ("A", False, ["C"], ([], ["B", "A"], ["C"], [], 0.0)),
        # B1 ghost hit again: p = 1; T1 is empty so REPLACE must take T2's LRU
        ("C", False, ["B"], ([], ["A", "C"], [], ["B"], 1.0)),
    ]
    for key, hit, evicted, state in steps:
        got_hits, got_evicted = replay(p, [key])
        assert (got_hits[0], got_evicted, _state(p)) == (hit, evicted, state), key


def test_b2_tie_rule_evicts_from_t1_when_t1_equals_p() -> None:
    p = make_policy("arc", 3)
    hits, evicted = replay(p, "CDAA" + "E")  # E: |T1| = 2 > p = 0, C -> B1
    assert _state(p) == (["D", "E"], ["A"], ["C"], [], 0.0)
    replay(p, "C")  # B1 hit: p = 1; |T1| = 2 > 1, D -> B1
    replay(p, "D")  # B1 hit: p = 2; |T1| = 1 is not > 2, A (T2's LRU) -> B2
    assert _state(p) == (["E"], ["C", "D"], [], ["A"], 2.0)
    # A in B2: p = 1 = |T1|; only the "x in B2 and |T1| = p" clause sends E (T1) to B1
    # rather than C (T2's LRU) to B2
    hits, evicted = replay(p, "A")
    assert hits == [False] and evicted == ["E"]
    assert _state(p) == ([], ["C", "D", "A"], ["E"], [], 1.0)


def test_scan_after_hot_set_leaves_t2_alone() -> None:
    p = make_policy("arc", 4)
    hot = ["H1", "H2"]
    replay(p, hot + hot)
    assert list(p.t2) == hot
    hits, evicted = replay(p, [f"S{i}" for i in range(20)] + hot)
    # every scan key passes through T1 (and B1); T2 never shrinks because p stays 0
    assert not any(hits[:-2]) and all(hits[-2:])
    assert not set(hot) & set(evicted)
    assert p.p == 0.0
    lru_hits, _ = replay(make_policy("lru", 4), hot + hot + [f"S{i}" for i in range(20)] + hot)
    assert not any(lru_hits[-2:])


def test_p_rises_on_b1_hits_and_falls_on_b2_hits_by_the_paper_deltas() -> None:
    rng = np.random.default_rng(17)
    cap = 20
    p = make_policy("arc", cap)
    keys = rng.zipf(1.3, 20_000) % 120
    seen_b1 = seen_b2 = 0
    for k in keys:
        k = int(k)
        before, b1, b2 = p.p, p.b1_used, p.b2_used
        if k in p.b1:
            p.access(k)
            expected = min(before + (1 if b1 >= b2 else b2 / b1), cap)
            assert p.p == pytest.approx(expected) and p.p >= before
            seen_b1 += 1
        elif k in p.b2:
            p.access(k)
            expected = max(before - (1 if b2 >= b1 else b1 / b2), 0.0)
            assert p.p == pytest.approx(expected) and p.p <= before
            seen_b2 += 1
        else:
            p.access(k)
            assert p.p == before
        assert len(p.t1) + len(p.b1) <= cap
        assert len(p.t1) + len(p.t2) + len(p.b1) + len(p.b2) <= 2 * cap
    assert seen_b1 > 100 and seen_b2 > 100


def test_byte_capacity_by_hand() -> None:
    p = make_policy("arc", 10)
    hits, evicted = replay(p, [("a", 4), ("a", 4), ("b", 4), ("c", 4)])
    # c: case IV.B; used 8 + 4 > 10: REPLACE moves b (T1 = 4 > p = 0) to B1
    assert hits == [False, True, False, False] and evicted == ["b"]
    assert _state(p) == (["c"], ["a"], ["b"], [], 0.0)
    # b in B1: p += 4 (its size); REPLACE: T1 = 4 is not > 4, so a (T2) goes to B2
    hits, evicted = replay(p, [("b", 4)])
    assert evicted == ["a"] and _state(p) == (["c"], ["b"], [], ["a"], 4.0)
    # a (now 2 bytes) in B2: p -= 2; it fits without any eviction
    hits, evicted = replay(p, [("a", 2)])
    assert evicted == [] and _state(p) == (["c"], ["b", "a"], [], [], 2.0)
    # d: T1 = 4 > p = 2, so c goes to B1
    hits, evicted = replay(p, [("d", 3)])
    assert evicted == ["c"] and _state(p) == (["d"], ["b", "a"], ["c"], [], 2.0)
    assert p.used == 9 and p.b1_used == 4


def test_same_hits_as_libcachesim_arc() -> None:
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(8)
    keys = rng.zipf(1.1, 4000) % 300 + 1
    for cap in (5, 60):
        theirs = lcs.ARC(cache_size=cap)
        ours = make_policy("arc", cap)
        for k in keys:
            req = lcs.Request()
            req.obj_id, req.obj_size = int(k), 1
            assert ours.access(int(k)) == bool(theirs.get(req))
