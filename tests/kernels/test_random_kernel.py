"""The random-eviction kernel draws the reference's victims from the same generator, chunk after chunk."""

from __future__ import annotations

import numpy as np
import pytest

from simcache.kernels import ArraySource, hit_sequence
from simcache.policies import make_policy
from simcache.replay import replay


@pytest.mark.parametrize("bytes_mode", [False, True])
def test_both_engines_evict_the_same_keys_for_a_seed(bytes_mode: bool) -> None:
    rng = np.random.default_rng(5)
    ids = rng.zipf(1.1, 20_000) % 2000
    sizes = (ids % 13 + 1) * 10
    src = ArraySource(ids, sizes if bytes_mode else None, chunk=3000)  # state carried across chunks
    caps = [2000, 8000] if bytes_mode else [50, 400]
    fast = replay(src, ["random"], caps, bytes_mode=bytes_mode, engine="fast", seed=11)
    ref = replay(src, ["random"], caps, bytes_mode=bytes_mode, engine="reference", seed=11)
    assert [r.engine for r in fast] == ["fast"] * 2
    assert [(r.hits, r.byte_hits) for r in fast] == [(r.hits, r.byte_hits) for r in ref]


def test_hit_sequence_with_size_changes_and_an_explicit_generator() -> None:
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 300, 5000)
    sizes = rng.integers(1, 40, 5000)  # sizes change on hits: the refit evicts random keys too
    p = make_policy("random", 500, rng=np.random.default_rng(99))
    ref = [p.access(int(k), int(s)) for k, s in zip(ids, sizes, strict=True)]
    fast = hit_sequence("random", ids, sizes, 500, bytes_mode=True, chunk=777, rng=np.random.default_rng(99))
    assert fast.tolist() == ref
