"""Hashers: rendezvous against pymemcache's own, ketama against twemproxy's C code, modulo against arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymemcache.client.murmur3 import murmur3_32 as pm_murmur3_32
from pymemcache.client.rendezvous import RendezvousHash as PmRendezvousHash

from simcache.errors import UsageError
from simcache.sim.memcached.hashing import (
    KetamaHash,
    ModuloHash,
    RendezvousHash,
    ketama_points,
    make_hasher,
    murmur3_32,
)

NODES = [f"10.0.0.{i}:11211" for i in range(1, 6)]


def _keys(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"user:{int(x)}:{'abcdefgh'[int(x) % 8] * int(x % 5)}" for x in rng.integers(0, 10**9, n)]


# -------------------------------------------------------------- rendezvous
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_murmur3_is_pymemcaches(s: str) -> None:
    assert murmur3_32(s) == pm_murmur3_32(s)
    assert murmur3_32(s, 7) == pm_murmur3_32(s, 7)


def test_rendezvous_picks_the_node_pymemcache_picks() -> None:
    ours, theirs = RendezvousHash(), PmRendezvousHash()
    for n in NODES:
        ours.add_node(n)
        theirs.add_node(n)
    keys = _keys(3000) + [b"bytes-key", b"\x00\xff", "ünï"]
    assert [ours.get_node(k) for k in keys] == [theirs.get_node(k) for k in keys]
    ours.remove_node(NODES[2])
    theirs.remove_node(NODES[2])
    ours.add_node("mc-new")
    theirs.add_node("mc-new")
    assert [ours.get_node(k) for k in keys] == [theirs.get_node(k) for k in keys]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6, unique=True), st.text(max_size=30))
def test_rendezvous_agrees_on_any_nodes_and_key(nodes: list[str], key: str) -> None:
    assert RendezvousHash(list(nodes)).get_node(key) == PmRendezvousHash(list(nodes)).get_node(key)


def test_rendezvous_moves_only_the_removed_nodes_keys() -> None:
    h = RendezvousHash(list(NODES))
    keys = _keys(5000)
    before = {k: h.get_node(k) for k in keys}
    h.remove_node(NODES[0])
    after = {k: h.get_node(k) for k in keys}
    assert all(after[k] == before[k] for k in keys if before[k] != NODES[0])
    with pytest.raises(ValueError):
        h.remove_node(NODES[0])


# ------------------------------------------------------------------ ketama
# Known answers from twemproxy's src/hashkit/nc_ketama.c (ketama_update's point loop and ketama_dispatch,
# compiled with its nc_md5.c): servers given as (name, weight), then key -> server.
KETAMA_WEIGHTED = [("10.0.0.1:11211", 1), ("10.0.0.2:11211", 2), ("10.0.0.3:11211", 3), ("cache-d", 5)]
KETAMA_WEIGHTED_POINTS = {"10.0.0.1:11211": 56, "10.0.0.2:11211": 116, "10.0.0.3:11211": 172, "cache-d": 288}
KETAMA_WEIGHTED_ANSWERS = {
    "key0": "10.0.0.3:11211", "key1": "cache-d", "key2": "10.0.0.3:11211", "key3": "cache-d",
    "key4": "10.0.0.2:11211", "key5": "cache-d", "key6": "cache-d", "key7": "10.0.0.3:11211", "key8": "cache-d",
    "key9": "10.0.0.1:11211", "key10": "cache-d", "key11": "cache-d", "key12": "10.0.0.2:11211",
    "key13": "cache-d", "key14": "cache-d", "key15": "10.0.0.3:11211",
}
KETAMA_3_ANSWERS = {"foo": "mc1", "bar": "mc1", "baz": "mc2", "key:1": "mc2", "key:2": "mc1", "user:42": "mc1"}
KETAMA_25_ANSWERS = {"k0": "s22", "k1": "s7", "k2": "s9", "k3": "s20", "k4": "s7", "k5": "s22", "k6": "s11",
                     "k7": "s7", "k8": "s19", "k9": "s7"}


def test_ketama_known_answers_from_twemproxy() -> None:
    h = KetamaHash()
    for name, weight in KETAMA_WEIGHTED:
        h.add_node(name, weight)
    assert h.points() == KETAMA_WEIGHTED_POINTS
    assert {k: h.get_node(k) for k in KETAMA_WEIGHTED_ANSWERS} == KETAMA_WEIGHTED_ANSWERS
    h3 = KetamaHash(["mc1", "mc2", "mc3"])
    assert {k: h3.get_node(k) for k in KETAMA_3_ANSWERS} == KETAMA_3_ANSWERS
    h25 = KetamaHash([f"s{i}" for i in range(1, 26)])
    assert {k: h25.get_node(k) for k in KETAMA_25_ANSWERS} == KETAMA_25_ANSWERS


def test_ketama_points_are_computed_in_single_precision() -> None:
    # 160 points per server, except where float32 rounding of (1/n) * 160 / 4 * n falls just under 40
    assert ketama_points(1, 3, 3) == 160
    assert ketama_points(1, 25, 25) == 156
    assert set(KetamaHash([f"s{i}" for i in range(1, 26)]).points().values()) == {156}


def test_ketama_adding_a_server_moves_about_its_share_only_to_it() -> None:
    n = 10
    h = KetamaHash([f"mc{i}" for i in range(n)])
    keys = _keys(20000, seed=1)
    before = {k: h.get_node(k) for k in keys}
    h.add_node("mc-new")
    after = {k: h.get_node(k) for k in keys}
    moved = [k for k in keys if after[k] != before[k]]
    assert all(after[k] == "mc-new" for k in moved)
    # the new server's expected share is 1/(n+1); with 160 points each the spread is a few tenths of that
    assert len(moved) / len(keys) == pytest.approx(1 / (n + 1), rel=0.3)


def test_ketama_removing_a_server_moves_only_its_keys() -> None:
    h = KetamaHash([f"mc{i}" for i in range(8)])
    keys = _keys(10000, seed=2)
    before = {k: h.get_node(k) for k in keys}
    h.remove_node("mc3")
    after = {k: h.get_node(k) for k in keys}
    assert all(after[k] == before[k] for k in keys if before[k] != "mc3")
    assert all(after[k] != "mc3" for k in keys)


def test_ketama_is_deterministic_and_weighted() -> None:
    a, b = KetamaHash(["x", "y", "z"]), KetamaHash(["x", "y", "z"])
    keys = _keys(2000, seed=3)
    assert [a.get_node(k) for k in keys] == [b.get_node(k) for k in keys]
    w = KetamaHash()
    w.add_node("small", 1)
    w.add_node("big", 3)
    share = sum(w.get_node(k) == "big" for k in _keys(20000, seed=4)) / 20000
    assert share == pytest.approx(0.75, abs=0.08)
    assert KetamaHash().get_node("k") is None
    assert KetamaHash(["only"]).get_node("k") == "only"


# ------------------------------------------------------------------ modulo
@pytest.mark.parametrize("n", [3, 4, 9])
def test_modulo_adding_a_node_remaps_most_keys(n: int) -> None:
    h = ModuloHash([f"mc{i}" for i in range(n)])
    keys = _keys(20000, seed=5)
    before = [h.get_node(k) for k in keys]
    h.add_node("mc-new")
    after = [h.get_node(k) for k in keys]
    moved = sum(x != y for x, y in zip(before, after, strict=True)) / len(keys)
    # a key stays only when hash % n == hash % (n+1): 1 in n+1 of uniform hashes
    assert moved == pytest.approx(n / (n + 1), abs=0.02)


def test_make_hasher_takes_names_classes_and_instances() -> None:
    assert isinstance(make_hasher("ketama"), KetamaHash)
    assert isinstance(make_hasher(ModuloHash), ModuloHash)
    r = RendezvousHash()
    assert make_hasher(r) is r
    with pytest.raises(UsageError, match="valid: modulo, ketama, rendezvous"):
        make_hasher("consistent")
    with pytest.raises(UsageError, match="lacks one"):
        make_hasher(object())  # type: ignore[arg-type]
