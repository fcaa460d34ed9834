"""Client-side sharding arithmetic: keys moved when servers are added or removed, load per server, weights."""

from __future__ import annotations

import math

import pytest

from simcache.errors import UsageError
from simcache.sim.memcached import HashClient, KetamaHash, MemcachedServer
from simcache.sim.memcached.hashing import layout_change, make_scheme
from simcache.sim.world import World

KEYS = [f"key:{i}" for i in range(20000)]


def nodes(n: int) -> list[str]:
    return [f"node-{i}" for i in range(n)]


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_modulo_moves_n_over_n_plus_1(n: int) -> None:
    # a key stays iff h mod n == h mod (n+1): n of every n(n+1) hash values, so n/(n+1) move;
    # binomial sd sqrt(p(1-p)/M) < 0.0036 for M = 20000: 5 sd
    out = layout_change("modulo", nodes(n), nodes(n + 1), KEYS)
    p = n / (n + 1)
    assert abs(out["moved_fraction"] - p) < 5 * math.sqrt(p * (1 - p) / len(KEYS))
    assert out["ideal_moved_fraction"] == pytest.approx(1 / (n + 1))


@pytest.mark.parametrize("n", [2, 3, 4, 6, 9])
def test_ketama_adding_moves_only_to_the_new_server_about_its_share(n: int) -> None:
    out = layout_change("ketama", nodes(n), nodes(n + 1), KEYS)
    assert out["moved_to_other"] == 0  # every moved key went to the new server
    assert out["moved"] == round(out["shares"][f"node-{n}"] * len(KEYS))
    # 160 points per server: the new server's arc length has a relative sd of about 1/sqrt(160) ~ 8 %;
    # 35 % is more than 4 sd
    assert abs(out["moved_fraction"] * (n + 1) - 1) < 0.35


def test_ketama_mean_moved_fraction_over_many_sizes_is_one_over_n_plus_1() -> None:
    ratios = [layout_change("ketama", nodes(n), nodes(n + 1), KEYS[:5000])["moved_fraction"] * (n + 1)
              for n in range(2, 14)]
    assert abs(sum(ratios) / len(ratios) - 1) < 0.1


@pytest.mark.parametrize("n", [3, 5])
def test_rendezvous_adding_moves_only_to_the_new_server(n: int) -> None:
    keys = KEYS[:4000]
    out = layout_change("rendezvous", nodes(n), nodes(n + 1), keys)
    assert out["moved_to_other"] == 0
    p = 1 / (n + 1)
    assert abs(out["moved_fraction"] - p) < 5 * math.sqrt(p * (1 - p) / len(keys))


@pytest.mark.parametrize("scheme", ["ketama", "rendezvous"])
def test_removing_a_server_moves_only_its_keys(scheme: str) -> None:
    keys = KEYS[:4000]
    out = layout_change(scheme, nodes(5), nodes(4), keys)
    assert out["moved"] == round(out["shares_before"]["node-4"] * len(keys))
    assert out["ideal_moved_fraction"] == pytest.approx(0.2)


def test_load_imbalance_modulo_is_flat_ketama_less_so() -> None:
    mod = layout_change("modulo", nodes(8), nodes(8), KEYS)
    ket = layout_change("ketama", nodes(8), nodes(8), KEYS)
    assert mod["moved"] == ket["moved"] == 0
    assert mod["max_mean_load"] < 1.05  # balls in bins: max of 8 binomials with sd 0.7 % of the mean
    assert 1.0 < ket["max_mean_load"] < 1.4  # arcs of 160 points per server
    assert sum(ket["shares"].values()) == pytest.approx(1.0)


def test_ketama_weights_give_points_and_shares_in_proportion() -> None:
    h = make_scheme("ketama", ["a", "b", "c"], {"c": 2})
    assert isinstance(h, KetamaHash)
    # nc_ketama.c: floorf(w/total * 160 / 4 * live) * 4 = floor(0.25 * 40 * 3) * 4 = 120, and 240 for weight 2
    assert h.points() == {"a": 120, "b": 120, "c": 240}
    out = layout_change("ketama", ["a", "b", "c"], ["a", "b", "c"], KEYS, {"c": 2})
    assert 0.4 < out["shares"]["c"] < 0.6


def test_modulo_weight_repeats_a_server() -> None:
    out = layout_change("modulo", ["a", "b"], ["a", "b"], KEYS, {"b": 3})
    assert abs(out["shares"]["b"] - 0.75) < 0.02


def test_rendezvous_has_no_weights() -> None:
    with pytest.raises(UsageError, match="no weights"):
        make_scheme("rendezvous", ["a", "b"], {"a": 2})


def test_hash_client_takes_weights() -> None:
    w = World(0)
    servers = []
    for name in ("mc1", "mc2"):
        w.network.add_link("app", name, "const:0")
        servers.append(MemcachedServer(w, name))
    hc = HashClient(w, "app", servers, hasher="ketama", weights={"mc2": 3})
    assert isinstance(hc.hasher, KetamaHash) and hc.hasher.points() == {"mc1": 80, "mc2": 240}
    with pytest.raises(UsageError, match="weight"):
        HashClient(w, "app", servers, hasher="rendezvous", weights={"mc2": 3})


def test_sharding_model_ketama_dips_less_than_modulo() -> None:
    """Same arrivals and keys (same seed): the layouts differ only in which keys move."""
    from simcache.catalog import run_model

    base = {"duration": 14, "change_at": 8, "rate": 800, "keys": 2000, "servers": 4}
    ket = run_model("sharding", {**base, "scheme": "ketama"}, seed=5)
    mod = run_model("sharding", {**base, "scheme": "modulo"}, seed=5)
    mc = [f"mc{i}" for i in range(5)]
    assert ket["keys_moved_fraction"] == layout_change("ketama", mc[:4], mc, [f"key:{i}" for i in range(2000)]
                                                       )["moved_fraction"]
    assert abs(mod["keys_moved_fraction"] - 0.8) < 0.05
    assert mod["hit_ratio_before"] == ket["hit_ratio_before"]  # nothing differs before the change
    assert mod["hit_ratio_dip"] < ket["hit_ratio_dip"] < ket["hit_ratio_before"]
    assert set(ket["load"]) == {f"mc{i}" for i in range(5)} and sum(ket["load"].values()) == pytest.approx(1.0)
    assert ket["hot_keys"]["hottest"] == "key:0" and ket["hot_keys"]["hottest_server"] in ket["load"]


def test_sharding_model_remove_loses_only_the_removed_servers_share_under_ketama() -> None:
    from simcache.catalog import run_model

    s = run_model("sharding", {"duration": 10, "change_at": 6, "rate": 500, "keys": 1000, "change": "remove"}, seed=2)
    assert set(s["load"]) == {"mc0", "mc1", "mc2"}
    mc = [f"mc{i}" for i in range(4)]
    out = layout_change("ketama", mc, mc[:3], [f"key:{i}" for i in range(1000)])
    assert s["keys_moved_fraction"] == out["moved_fraction"]
    assert 0 < s["requests_moved_fraction"] < 1
