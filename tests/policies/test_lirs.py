"""LIRS (Jiang & Zhang 2002): LIR/HIR status, stack S with pruning, queue Q."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import PolicyError, make_policy
from tests.policies import replay


def _state(p) -> tuple[str, str, str, str]:
    """S bottom->top with non-resident entries in lower case, Q front->end, LIR set, HIR resident set."""
    stack = "".join(k.lower() if k in p.nonresident else k for k in p.stack)
    return stack, "".join(p.queue), "".join(sorted(p.lir)), "".join(sorted(p.queue))


def test_worked_example_all_transitions() -> None:
    # Llirs = 2, Lhirs = 1 as in the paper's example (capacity 3)
    p = make_policy("lirs", 3, hir_ratio=0.34)
    assert (p.lir_limit, p.hir_limit) == (2, 1)
    steps = [
        # request, hit, evicted, (S bottom->top, Q front->end, LIR, resident HIR)
        ("A", False, [], ("A", "", "A", "")),  # LIR set not full: new blocks are LIR
        ("B", False, [], ("AB", "", "AB", "")),
        ("C", False, [], ("ABC", "C", "AB", "C")),  # LIR full: a new block is resident HIR
        # HIR non-resident, not in S: Q's front (C) is evicted but stays in S as non-resident
        ("D", False, ["C"], ("ABcD", "D", "AB", "D")),
        # LIR hit at the bottom of S: A goes to the top, B (LIR) is the new bottom, no pruning
        ("A", True, [], ("BcDA", "D", "AB", "D")),
        # non-resident HIR in S: D is evicted; C becomes LIR; the bottom LIR B is demoted to
        # Q's end and leaves S; pruning then removes d (non-resident) from the bottom
        ("C", False, ["D"], ("AC", "B", "AC", "B")),
        # not in S: B evicted from Q and forgotten (it is not in S); D is resident HIR
        ("D", False, ["B"], ("ACD", "D", "AC", "D")),
        ("B", False, ["D"], ("ACdB", "B", "AC", "B")),
        # D is a non-resident in S again: it becomes LIR and the bottom LIR A is demoted
        ("D", False, ["B"], ("CbD", "A", "CD", "A")),
        # resident HIR not in S: a hit, A stays HIR, goes to S's top and Q's end
        ("A", True, [], ("CbDA", "A", "CD", "A")),
        # resident HIR in S: A becomes LIR, C (bottom LIR) is demoted, pruning drops b
        ("A", True, [], ("DA", "C", "AD", "C")),
    ]
    for key, hit, evicted, state in steps:
        got_hits, got_evicted = replay(p, [key])
        assert (got_hits[0], got_evicted, _state(p)) == (hit, evicted, state), key


def test_loop_one_larger_than_the_cache() -> None:
    # LRU never hits on a loop of capacity + 1 keys; LIRS keeps its LIR set (capacity - 1
    # keys here) and hits on each of them in every pass after the first
    for cap in (10, 50):
        n = cap + 1
        trace = [i % n for i in range(n * 12)]
        lru_hits, _ = replay(make_policy("lru", cap), trace)
        lirs = make_policy("lirs", cap)
        lirs_hits, _ = replay(lirs, trace)
        assert sum(lru_hits) == 0
        assert lirs.lir_limit == cap - 1
        for k in range(1, 12):
            assert sum(lirs_hits[k * n : (k + 1) * n]) == lirs.lir_limit


def test_hot_lir_set_survives_a_scan() -> None:
    hot = list(range(8))
    scan = list(range(100, 400))
    p = make_policy("lirs", 10, hir_ratio=0.2)  # 8 LIR + 2 HIR
    replay(p, hot * 3)
    assert set(p.lir) == set(hot)
    hits, _ = replay(p, scan + hot)
    assert all(hits[-8:])
    # the scan's blocks only ever occupy the HIR slots, and the bound keeps S from growing
    assert len(p.nonresident) <= p.nonresident_limit


def test_nonresident_bound() -> None:
    p = make_policy("lirs", 4, hir_ratio=0.5, nonresident_factor=0.5)  # 2 LIR, 2 HIR, 2 non-resident
    assert p.nonresident_limit == 2
    replay(p, "AB" + "CD" + "EFG")
    # C, D, E were evicted while in S; keeping at most 2 of them drops the oldest (C)
    assert "".join(p.nonresident) == "DE"
    assert "C" not in p.stack
    # E is still remembered: its return promotes it to LIR; C's return is a first reference
    replay(p, "E")
    assert "E" in p.lir
    replay(p, "C")
    assert "C" in p.queue and "C" not in p.lir
    q = make_policy("lirs", 4, hir_ratio=0.5, nonresident_factor=0.0)
    replay(q, "AB" + "CD" + "EFG")
    assert not q.nonresident and "".join(q.stack) == "ABFG"


def test_byte_capacity_by_hand() -> None:
    p = make_policy("lirs", 10, hir_ratio=0.3)  # LIR may hold 7 units, 3 are kept for HIR
    assert (p.lir_limit, p.hir_limit) == (7, 3)
    hits, evicted = replay(p, [("A", 4), ("B", 3), ("C", 2), ("D", 3)])
    # A, B fill the LIR budget; C is HIR; D (3) needs room: C is evicted (non-resident in S)
    assert not any(hits) and evicted == ["C"]
    assert _state(p) == ("ABcD", "D", "AB", "D")
    # C again: first Q's front D is evicted to make room; C is a non-resident in S, so it
    # becomes LIR; LIR then holds 9 > 7 units, so the bottom LIR A is demoted to Q
    hits, evicted = replay(p, [("C", 2)])
    assert evicted == ["D"]
    assert _state(p) == ("BdC", "A", "BC", "A")
    assert p.used == 9 and p.lir_used == 5


def test_params_validated() -> None:
    with pytest.raises(PolicyError, match="hir_ratio"):
        make_policy("lirs", 10, hir_ratio=-0.1)
    with pytest.raises(PolicyError, match="nonresident_factor"):
        make_policy("lirs", 10, nonresident_factor=-1.0)


def test_beats_lru_on_a_loop_plus_zipf_mix() -> None:
    # weak-locality workload from the paper's motivation: a long loop interleaved with hot keys
    rng = np.random.default_rng(21)
    trace = []
    for i in range(30_000):
        trace.append(int(rng.zipf(1.3)) % 30 if i % 2 else 1000 + i // 2 % 120)
    lirs_hits, _ = replay(make_policy("lirs", 100), trace)
    lru_hits, _ = replay(make_policy("lru", 100), trace)
    assert sum(lirs_hits) > 1.3 * sum(lru_hits)


def test_a_lir_key_that_grows_demotes_the_overflow_at_once() -> None:
    # bytes: capacity 100, HIR reserve 10, LIR limit 90. a and b (40 each) are LIR, c (15) resident HIR
    p = make_policy("lirs", 100, hir_ratio=0.1)
    evicted: list = []
    p.on_evict = lambda k, s: evicted.append(k)
    for k, s in (("a", 40), ("b", 40), ("c", 15)):
        p.access(k, s)
    assert (p.lir_used, list(p.queue)) == (80, ["c"])
    # a grows to 60: LIR would hold 100 > 90, so the bottom LIR key b is demoted to Q's end at once;
    # then the cache (115 bytes) evicts Q's front c
    assert p.access("a", 60)
    assert p.lir_used == 60 <= p.lir_limit
    assert list(p.queue) == ["b"] and evicted == ["c"]
    assert p.used == 100


def test_lir_share_stays_within_its_limit_under_size_changes() -> None:
    from simcache.kernels import hit_sequence

    rng = np.random.default_rng(7)
    ids = np.concatenate([rng.zipf(1.3, 3000) % 50, np.arange(1000, 1400)])  # hot set, then a scan
    sizes = rng.integers(1, 30, ids.shape[0])  # every request may change its object's size
    p = make_policy("lirs", 200, hir_ratio=0.1)
    ref = []
    for k, s in zip(ids, sizes, strict=True):
        ref.append(p.access(int(k), int(s)))
        assert p.lir_used <= p.lir_limit
    fast = hit_sequence("lirs", ids, sizes, 200, bytes_mode=True, params={"hir_ratio": 0.1})
    assert fast.tolist() == ref
