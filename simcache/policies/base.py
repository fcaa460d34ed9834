"""The eviction-policy protocol and the policy registry.

A policy is a pure data structure: it decides which keys stay and which go.
It has no clock and no randomness of its own (time comes in as ``now`` on each
call, randomness as a ``numpy.random.Generator`` at construction) and it never
counts hits or misses: callers observe the return values and the eviction
callback.

Every policy subclasses :class:`Policy` and implements three hooks:

* ``_on_hit(key, now, next_access)`` -- update metadata for a resident key;
* ``_on_insert(key, now, next_access, expire_at)`` -- make room and admit a
  new key.  The default implementation evicts ``_victim()`` until the object
  fits, then calls ``_admit``; policies whose replacement depends on the
  incoming key (ARC, LIRS, W-TinyLFU, S3-FIFO, ...) override it;
* ``_victim() -> key`` -- choose a resident key to evict and forget its
  metadata (the base class then drops it from ``sizes`` and fires
  ``on_evict``); ``_remove(key)`` forgets metadata of a key removed from
  outside (delete, expiry).

The base class keeps ``sizes`` (resident key -> size) and ``used`` (sum of
sizes), and enforces the shared rules: an object larger than the whole cache is
a miss and is not admitted; a size change on a hit updates occupancy and
evicts until the cache fits again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Iterator
from typing import Any, ClassVar

import numpy as np

from simcache.errors import UsageError

Key = Hashable
EvictCallback = Callable[[Key, int], None]


class PolicyError(UsageError, ValueError):
    """A policy name or parameter that is not valid; the message says which."""


class Policy:
    """Base class of every eviction/admission policy.

    Args:
        capacity: how much the cache holds, in the same unit as object sizes
            (entries when every size is 1, bytes otherwise). Must be >= 1.
        rng: the random stream for randomised policies; ignored by the others.
    """

    name: ClassVar[str] = ""
    #: True when the policy needs each request's next-access index (Belady).
    needs_future: ClassVar[bool] = False
    #: True when the policy reads ``now`` or ``expire_at`` (the Redis family).
    uses_time: ClassVar[bool] = False
    #: what ``variant="libcachesim"`` changes (empty: libCacheSim 0.3.5 agrees, the variant is a no-op);
    #: listed by ``simcache policies``
    libcachesim_differs: ClassVar[str] = ""

    def __init__(self, capacity: int, *, rng: np.random.Generator | None = None) -> None:
        if int(capacity) != capacity or capacity < 1:
            raise PolicyError(f"{self.name or type(self).__name__}: capacity must be an integer >= 1, got {capacity!r}")
        self.capacity: int = int(capacity)
        self.rng: np.random.Generator = rng if rng is not None else np.random.default_rng(0)
        self.sizes: dict[Key, int] = {}
        self.used: int = 0
        self.on_evict: EvictCallback | None = None
        #: writes refused because the policy would not make room (noeviction)
        self.refused: int = 0

    # ------------------------------------------------------------------ API
    def __contains__(self, key: object) -> bool:
        return key in self.sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Iterator[Key]:
        return iter(self.sizes)

    def access(
        self,
        key: Key,
        size: int = 1,
        *,
        now: float = 0.0,
        next_access: int = -1,
        expire_at: float | None = None,
    ) -> bool:
        """Request ``key``: return True on a hit; on a miss, try to admit it.

        Args:
            key: any hashable object id.
            size: object size in capacity units (1 for entry-counted caches).
            now: the request's time (seconds), for time-aware policies.
            next_access: index of the next request to this key (-1: never);
                only Belady reads it.
            expire_at: absolute expiry time when the key has a TTL (Redis
                volatile-* policies read it).
        """
        if key in self.sizes:
            self.lookup(key, size, now=now, next_access=next_access)
            return True
        self.insert(key, size, now=now, next_access=next_access, expire_at=expire_at)
        return False

    def lookup(self, key: Key, size: int | None = None, *, now: float = 0.0, next_access: int = -1) -> bool:
        """Touch a key if resident (a hit); return whether it was resident.

        A miss changes nothing here; ``insert`` is the miss path.
        """
        old = self.sizes.get(key)
        if old is None:
            return False
        self._on_hit(key, now, next_access)
        if size is not None and size != old:
            self._resize(key, old, size)
        return True

    def insert(
        self,
        key: Key,
        size: int = 1,
        *,
        now: float = 0.0,
        next_access: int = -1,
        expire_at: float | None = None,
    ) -> bool:
        """Admit a key that is not resident; return whether it was admitted."""
        if key in self.sizes:
            self.lookup(key, size, now=now, next_access=next_access)
            return True
        if size > self.capacity or size < 0:
            return False
        self._on_insert(key, size, now, next_access, expire_at)
        return key in self.sizes

    def remove(self, key: Key) -> bool:
        """Remove a key from outside (delete, expiry): no eviction is reported."""
        size = self.sizes.pop(key, None)
        if size is None:
            return False
        self.used -= size
        self._remove(key)
        return True

    def set_expire(self, key: Key, expire_at: float | None) -> None:
        """Tell the policy a resident key's expiry changed (only Redis cares)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, used={self.used}, keys={len(self.sizes)})"

    # ------------------------------------------------------ for subclasses
    def _store(self, key: Key, size: int) -> None:
        """Record a key as resident (bookkeeping only)."""
        self.sizes[key] = size
        self.used += size

    def _drop(self, key: Key) -> None:
        """Forget a resident key whose metadata the policy already removed, and report it."""
        size = self.sizes.pop(key)
        self.used -= size
        if self.on_evict is not None:
            self.on_evict(key, size)

    def _evict_until_fits(self, size: int) -> None:
        """Evict ``_victim()`` until ``size`` more units fit."""
        while self.used + size > self.capacity and self.sizes:
            self._drop(self._victim())

    def _resize(self, key: Key, old: int, new: int) -> None:
        self.sizes[key] = new
        self.used += new - old
        if new > self.capacity:
            # the object no longer fits at all: it leaves the cache
            self.remove(key)
            if self.on_evict is not None:
                self.on_evict(key, new)
            return
        while self.used > self.capacity:
            self._drop(self._victim())

    # ---------------------------------------------------------------- hooks
    def _on_hit(self, key: Key, now: float, next_access: int) -> None:
        raise NotImplementedError

    def _on_insert(self, key: Key, size: int, now: float, next_access: int, expire_at: float | None) -> None:
        self._evict_until_fits(size)
        self._store(key, size)
        self._admit(key, now, next_access, expire_at)

    def _admit(self, key: Key, now: float, next_access: int, expire_at: float | None) -> None:
        raise NotImplementedError

    def _victim(self) -> Key:
        raise NotImplementedError

    def _remove(self, key: Key) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------- registry
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook in ("_on_hit", "_remove"):
            if getattr(cls, hook) is getattr(Policy, hook) and cls.name:
                raise TypeError(f"policy {cls.name!r} must implement {hook}")


_REGISTRY: dict[str, type[Policy]] = {}

#: values of the ``variant`` parameter every registered policy accepts: ``paper`` (the published
#: algorithm, the default) or ``libcachesim`` (libCacheSim 0.3.5's implementation, hit for hit)
VARIANTS = ("paper", "libcachesim")


def check_variant(name: str, variant: object) -> str:
    """Validate a ``variant`` parameter value; returns it."""
    if variant not in VARIANTS:
        raise PolicyError(f"{name}: variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return str(variant)


def _declares_variant(cls: type[Policy]) -> bool:
    return "variant" in inspect.signature(cls.__init__).parameters


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: add a policy to the registry under ``cls.name``."""
    name = cls.name
    if not name or name != name.lower():
        raise PolicyError(f"policy class {cls.__name__} needs a lower-case 'name', got {name!r}")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise PolicyError(f"duplicate policy name {name!r} ({_REGISTRY[name].__name__} and {cls.__name__})")
    _REGISTRY[name] = cls
    return cls


def policy_names() -> list[str]:
    """All registered policy names, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def policy_class(name: str) -> type[Policy]:
    """The class registered under ``name``; unknown names raise with the valid list."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PolicyError(f"unknown policy {name!r}; valid policies: {', '.join(sorted(_REGISTRY))}") from None


def policy_params(name: str) -> dict[str, Any]:
    """The tunable parameters of a policy with their defaults.

    Every policy has ``variant`` (see :data:`VARIANTS`); where libCacheSim agrees
    with the paper the class does not declare it and the registry accepts it as a no-op.
    """
    sig = inspect.signature(policy_class(name).__init__)
    out: dict[str, Any] = {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "rng"
    }
    out.setdefault("variant", "paper")
    return out


def coerce_param(name: str, param: str, text: str) -> Any:
    """Convert a command-line ``k=v`` value to the type of the parameter's default."""
    default = policy_params(name)[param]
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise PolicyError(
            f"policy {name!r}: parameter {param!r} expects {type(default).__name__}, got {text!r}"
        ) from None
    return text


def make_policy(name: str, capacity: int, *, rng: np.random.Generator | None = None, **params: Any) -> Policy:
    """Build a registered policy by name, validating its parameters.

    Args:
        name: a registry name (see :func:`policy_names`).
        capacity: entries, or bytes when sizes are bytes.
        rng: random stream for randomised policies.
        **params: the policy's own keyword parameters; unknown ones raise
            :class:`PolicyError` naming the valid ones.
    """
    cls = policy_class(name)
    valid = policy_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none"
        raise PolicyError(f"policy {name!r} has no parameter {', '.join(map(repr, unknown))}; valid parameters: {listing}")
    if "variant" in params and not _declares_variant(cls):
        params = dict(params)
        check_variant(name, params.pop("variant"))  # libCacheSim agrees here: nothing to select
    return cls(capacity, rng=rng, **params)


def _load_all() -> None:
    # importing the package registers every policy module exactly once
    import simcache.policies  # noqa: F401
