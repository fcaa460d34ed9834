"""Per-run seeds: SeedSequence children of the root, distinct, and independent of the order of computation."""

from __future__ import annotations

import numpy as np

from simcache.sweeps.seeds import run_seed, seed_table


def _state(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def test_seed_is_the_spawned_child_at_that_position() -> None:
    root = np.random.SeedSequence(1234)
    points = root.spawn(4)
    for p, child in enumerate(points):
        for r, grandchild in enumerate(child.spawn(3)):
            assert run_seed(1234, p, r) == _state(grandchild)


def test_seeds_are_distinct_and_depend_on_root() -> None:
    table = seed_table(99, 50, 8)
    flat = [s for row in table for s in row]
    assert len(set(flat)) == len(flat)
    assert all(0 <= s < 2**63 for s in flat)
    assert seed_table(100, 50, 8) != table


def test_common_random_numbers_share_a_seed_per_replication() -> None:
    table = seed_table(5, 6, 3, common=True)
    for r in range(3):
        assert len({row[r] for row in table}) == 1
    assert len(set(table[0])) == 3


def test_seed_does_not_depend_on_the_order_asked() -> None:
    order = [(p, r) for p in range(10) for r in range(4)]
    forward = {k: run_seed(7, *k) for k in order}
    backward = {k: run_seed(7, *k) for k in reversed(order)}
    assert forward == backward
