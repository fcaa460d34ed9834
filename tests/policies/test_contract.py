"""Contract tests run over every registered policy (a new policy gets them for free)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcache import Cache
from simcache.policies import Policy, PolicyError, make_policy, policy_class, policy_names, policy_params, register
from simcache.policies.base import coerce_param

ALL = policy_names()


def next_access_of(keys: list[int]) -> list[int]:
    """Brute-force next-access index per request (-1 when never again)."""
    nxt = [-1] * len(keys)
    last: dict[int, int] = {}
    for i in range(len(keys) - 1, -1, -1):
        nxt[i] = last.get(keys[i], -1)
        last[keys[i]] = i
    return nxt


def drive(name: str, capacity: int, keys: list[int], sizes: list[int], seed: int = 7,
          ttl_keys: bool = True) -> tuple[Policy, list[bool], list[object]]:
    """Replay a trace through a policy checking the invariants after every request."""
    policy = make_policy(name, capacity, rng=np.random.default_rng(seed))
    evicted: list[object] = []
    policy.on_evict = lambda k, s: evicted.append(k)
    nxt = next_access_of(keys)
    hits: list[bool] = []
    for i, (k, s) in enumerate(zip(keys, sizes, strict=True)):
        was_resident = k in policy
        n_ev = len(evicted)
        expire = (i * 0.5 + 100.0 + k) if (ttl_keys and k % 2 == 0) else None
        hit = policy.access(k, s, now=i * 0.5, next_access=nxt[i], expire_at=expire)
        hits.append(hit)
        assert hit == was_resident, f"{name}: access({k}) returned {hit} but residency was {was_resident}"
        assert policy.used == sum(policy.sizes.values()), f"{name}: used out of sync with sizes"
        assert policy.used <= policy.capacity, f"{name}: occupancy {policy.used} > capacity {policy.capacity}"
        assert len(policy) == len(policy.sizes)
        for gone in evicted[n_ev:]:
            # an evicted key is gone (the requested key itself may be evicted and re-admitted)
            assert gone == k or gone not in policy, f"{name}: evicted key {gone} still resident"
        if s > capacity:
            assert k not in policy, f"{name}: object of size {s} > capacity {capacity} was admitted"
    return policy, hits, evicted


trace_strategy = st.lists(
    st.tuples(st.integers(0, 30), st.integers(1, 12)), min_size=1, max_size=250
)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace=trace_strategy, capacity=st.integers(1, 40), unit=st.booleans())
def test_invariants_on_random_traces(name: str, trace: list[tuple[int, int]], capacity: int, unit: bool) -> None:
    keys = [k for k, _ in trace]
    # sizes fixed per key (a size change is its own test) unless unit sizes
    size_of = {k: s for k, s in trace}
    sizes = [1 if unit else size_of[k] for k in keys]
    drive(name, capacity, keys, sizes)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_for_a_seed(name: str) -> None:
    rng = np.random.default_rng(1)
    keys = [int(x) for x in rng.zipf(1.3, 3000) % 200]
    sizes = [1] * len(keys)
    _, a, ea = drive(name, 25, keys, sizes, seed=3)
    _, b, eb = drive(name, 25, keys, sizes, seed=3)
    assert a == b and ea == eb


@pytest.mark.parametrize("name", ALL)
def test_hits_plus_misses_equal_requests_through_store(name: str) -> None:
    rng = np.random.default_rng(2)
    cache = Cache(name, 50, rng=np.random.default_rng(5))
    keys = rng.integers(0, 300, 2000)
    for k in keys:
        cache.access(int(k))
    st_ = cache.stats
    assert st_.hits + st_.misses == len(keys)
    assert st_.hits > 0 and st_.misses > 0
    assert len(cache) <= 50


@pytest.mark.parametrize("name", ALL)
def test_remove_forgets_the_key(name: str) -> None:
    # 100 entries: S3-FIFO's small queue (10) admits unit objects (the paper's code refuses any as large as it)
    policy = make_policy(name, 100, rng=np.random.default_rng(0))
    for k in range(8):
        policy.access(k, 1, now=float(k), next_access=-1, expire_at=1000.0)
    resident = [k for k in range(8) if k in policy]
    assert resident, f"{name}: nothing admitted into an empty cache"
    victim = resident[0]
    before = policy.used
    assert policy.remove(victim)
    assert victim not in policy
    assert policy.used == before - 1
    assert not policy.remove(victim)
    # the policy keeps working after a removal: fill it and check occupancy
    for k in range(100, 140):
        policy.access(k, 1, now=50.0 + k, next_access=-1, expire_at=1000.0)
        assert policy.used <= policy.capacity
        assert policy.used == sum(policy.sizes.values())


@pytest.mark.parametrize("name", ALL)
def test_size_change_on_hit_updates_occupancy(name: str) -> None:
    policy = make_policy(name, 40, rng=np.random.default_rng(0))
    for k in range(4):
        policy.access(k, 2, now=float(k), expire_at=500.0)
    resident = [k for k in range(4) if k in policy]
    assert resident
    k = resident[-1]
    used = policy.used
    assert policy.lookup(k, 5, now=10.0)
    assert policy.used == used + 3
    assert policy.sizes[k] == 5
    # growing past the capacity forces evictions until everything fits again
    policy.lookup(k, 39, now=11.0)
    assert policy.used <= policy.capacity
    assert policy.used == sum(policy.sizes.values())


@pytest.mark.parametrize("name", ALL)
def test_oversized_object_is_a_miss_and_not_admitted(name: str) -> None:
    policy = make_policy(name, 10, rng=np.random.default_rng(0))
    assert policy.access("a", 3, expire_at=100.0) is False
    assert policy.access("big", 11, expire_at=100.0) is False
    assert "big" not in policy
    assert policy.access("big", 11, expire_at=100.0) is False


@pytest.mark.parametrize("name", ALL)
def test_documented_and_validated_parameters(name: str) -> None:
    cls = policy_class(name)
    assert cls.__doc__ and cls.__doc__.strip(), f"{name} has no docstring"
    with pytest.raises(PolicyError, match="valid parameters"):
        make_policy(name, 10, no_such_parameter=1)
    for param, default in policy_params(name).items():
        # every parameter has a default, and its command-line form round-trips
        assert default is not inspect_empty()
        if isinstance(default, (bool, int, float)):
            assert coerce_param(name, param, str(default).lower() if isinstance(default, bool) else str(default)) == default


def inspect_empty() -> object:
    import inspect

    return inspect.Parameter.empty


def test_registry_fails_fast() -> None:
    with pytest.raises(PolicyError, match="valid policies: .*lru"):
        make_policy("lur", 10)

    class Dup(Policy):
        name = "lru"

        def _on_hit(self, key: object, now: float, next_access: int) -> None: ...

        def _remove(self, key: object) -> None: ...

    with pytest.raises(PolicyError, match="duplicate policy name 'lru'"):
        register(Dup)
    assert policy_class("lru").__name__ == "LRU"


def test_required_names_are_registered() -> None:
    required = {
        "lru", "fifo", "lfu", "random", "clock", "slru", "2q", "arc", "lirs", "wtinylfu", "s3fifo", "sieve",
        "gdsf", "lfuda", "belady", "redis-allkeys-lru", "redis-allkeys-lfu", "redis-allkeys-random",
        "redis-volatile-lru", "redis-volatile-lfu", "redis-volatile-random", "redis-volatile-ttl",
        "redis-noeviction",
    }
    missing = required - set(ALL)
    assert not missing, f"policies not registered: {sorted(missing)}"


def test_bad_capacity_is_rejected() -> None:
    for bad in (0, -3, 2.5):
        with pytest.raises(PolicyError, match="capacity"):
            make_policy("lru", bad)  # type: ignore[arg-type]
