"""LRU: hits refresh recency; hit iff the stack distance fits (Mattson et al. 1970)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simcache.policies import make_policy
from tests.policies import hits_of, replay


def test_hand_sequence_hits_refresh() -> None:
    # A's hit at t4 moves it to the MRU end, so D evicts B (FIFO would evict A); A's hit at t6
    # saves it again and E evicts C; B's return evicts D
    p = make_policy("lru", 3)
    hits, evicted = replay(p, "ABCADAEB")
    assert hits == hits_of("mmmH mHmm")
    assert evicted == list("BCD")
    assert set(p) == set("AEB")


def test_byte_capacity_evicts_least_recent_until_the_object_fits() -> None:
    p = make_policy("lru", 10)
    hits, evicted = replay(p, [("a", 4), ("b", 3), ("c", 3), ("a", 4), ("d", 5), ("e", 10)])
    # d needs 5 with 10 used: b (3) then c (3) go, a (refreshed by its hit) stays; e needs everything
    assert hits == [False, False, False, True, False, False]
    assert evicted == ["b", "c", "a", "d"]
    assert list(p.sizes) == ["e"] and p.used == 10


def test_removed_key_is_not_the_next_victim() -> None:
    p = make_policy("lru", 3)
    replay(p, "ABC")
    assert p.remove("A")
    hits, evicted = replay(p, "DE")
    assert hits == [False, False] and evicted == ["B"]


def stack_distances(keys: list[int]) -> list[int]:
    """Brute-force LRU stack distance per request: distinct keys since its last use, itself included (0: first use)."""
    out = []
    for i, k in enumerate(keys):
        prev = max((j for j in range(i) if keys[j] == k), default=-1)
        out.append(0 if prev < 0 else len(set(keys[prev:i])))
    return out


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.integers(0, 15), min_size=1, max_size=150), capacity=st.integers(1, 17))
def test_hit_iff_stack_distance_fits(keys: list[int], capacity: int) -> None:
    hits, _ = replay(make_policy("lru", capacity), keys)
    want = [0 < d <= capacity for d in stack_distances(keys)]
    assert hits == want
