"""CLOCK: second-chance sweeps with an n-bit counter, identical to libCacheSim's Clock."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.policies import PolicyError, make_policy
from tests.policies import hits_of, replay


def test_one_bit_sweep_by_hand() -> None:
    p = make_policy("clock", 3)
    # queue A B C; A's hit sets its bit; D: the hand clears A (moved behind C) and evicts B;
    # E: C has no bit, goes; B: A's bit was spent, so A goes
    hits, evicted = replay(p, "ABCADEB")
    assert hits == hits_of("mmmH mmm")
    assert evicted == ["B", "C", "A"]
    assert list(p._queue) == ["D", "E", "B"]


def test_all_bits_set_means_a_full_turn_then_the_oldest_goes() -> None:
    hits, evicted = replay(make_policy("clock", 3), "ABCABC" + "D" + "E")
    assert hits == hits_of("mmm HHH m m")
    # D: A, B, C are all passed once (bits cleared) and A is back at the hand
    assert evicted == ["A", "B"]


def test_new_keys_start_with_a_clear_counter() -> None:
    # C: the hand clears A's bit and evicts B; A is hit again; D: A's bit saves it once more
    # while C, inserted with counter 0, is evicted without a second chance
    hits, evicted = replay(make_policy("clock", 2), "AAB" + "C" + "A" + "D")
    assert hits == hits_of("mHm m H m")
    assert evicted == ["B", "C"]


def test_two_bit_counter_saturates_at_three() -> None:
    # A gets 4 hits, counter 0 -> 1 -> 2 -> 3 -> 3: it survives three sweeps, not four
    trace = "AAAAA" + "B" + "CDEF"
    _, two_bits = replay(make_policy("clock", 2, bits=2), trace)
    assert two_bits == ["B", "C", "D", "A"]
    _, one_bit = replay(make_policy("clock", 2, bits=1), trace)
    assert one_bit == ["B", "A", "C", "D"]


def test_byte_capacity_sweep() -> None:
    p = make_policy("clock", 10)
    hits, evicted = replay(p, [("a", 4), ("b", 4), ("a", 4), ("c", 7)])
    # c needs 7 with 8 used: a's bit sends it round, b goes (6 free, not enough), then a goes
    assert hits == [False, False, True, False]
    assert evicted == ["b", "a"]


def test_bits_validated() -> None:
    with pytest.raises(PolicyError, match="bits"):
        make_policy("clock", 4, bits=0)


@pytest.mark.parametrize("bits", [1, 2, 3])
@pytest.mark.parametrize("byte_sizes", [False, True])
def test_same_hits_as_libcachesim_clock(bits: int, byte_sizes: bool) -> None:
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(bits * 10 + byte_sizes)
    keys = rng.zipf(1.2, 3000) % 200 + 1
    sizes = keys * 7919 % 13 + 1 if byte_sizes else np.ones_like(keys)
    for cap in (7, 40):
        theirs = lcs.Clock(cache_size=cap, n_bit_counter=bits)
        ours = make_policy("clock", cap, bits=bits)
        for k, s in zip(keys, sizes, strict=True):
            req = lcs.Request()
            req.obj_id, req.obj_size = int(k), int(s)
            assert ours.access(int(k), int(s)) == bool(theirs.get(req))
