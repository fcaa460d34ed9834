"""Synthetic workloads: key popularity, object sizes, arrivals and read/write mix, all seeded.

Memory never grows with the catalogue: Zipf ranks come from rejection-inversion
sampling (Hörmann & Derflinger 1996), the rank->id scramble is a keyed Feistel
permutation with cycle walking, and per-object sizes are a hash of the id and
the seed, so ``n_objects = 10**8`` costs no more than ``10**3``.

:class:`SyntheticTrace` turns a declarative :class:`WorkloadSpec` into a
:class:`~simcache.traces.base.TraceSource`. It generates fixed internal blocks
of requests, each from its own ``SeedSequence(seed, spawn_key=(block, stream))``
stream, so the output does not depend on ``chunk_size``, a shorter trace is a
prefix of a longer one, and switching on writes or timestamps leaves the ids
unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from scipy.special import ndtri

from simcache.errors import UsageError
from simcache.traces._io import check_chunk_size, rechunk
from simcache.traces.base import Chunk

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = 0x9E3779B97F4A7C15
_U30, _U27, _U31, _U11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array: a bijective, well-mixed 64-bit hash."""
    z = np.asarray(x, dtype=np.uint64)
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return z ^ (z >> _U31)


def hash_unit(ids: np.ndarray, key: int) -> np.ndarray:
    """A uniform number in (0, 1) for every id, fixed by (id, key): the same id always gets the same value."""
    z = np.asarray(ids).astype(np.int64, copy=False).view(np.uint64) ^ np.uint64(key & 0xFFFFFFFFFFFFFFFF)
    h = mix64(mix64(z) + np.uint64(_GOLDEN))
    return ((h >> _U11).astype(np.float64) + 0.5) * (1.0 / (1 << 53))


def _seed_key(seed: int, *tag: int) -> int:
    """A 64-bit key derived from a seed and a tag (independent keys for independent uses)."""
    return int(np.random.SeedSequence(seed, spawn_key=tag).generate_state(1, dtype=np.uint64)[0])


# --------------------------------------------------------------------------- permutation
class FeistelPermutation:
    """A seeded bijection of [0, n) without any array over the domain.

    A 4-round balanced Feistel network permutes [0, 2**bits) (bits even, 2**bits
    >= n); cycle walking (re-apply until the value falls below n) restricts it
    to [0, n) while staying a bijection.

    Args:
        n: domain size (>= 1).
        seed: selects the permutation.
    """

    ROUNDS = 4

    def __init__(self, n: int, seed: int) -> None:
        if int(n) != n or n < 1:
            raise UsageError(f"permutation size must be an integer >= 1, got {n!r}")
        self.n = int(n)
        bits = max(2, (self.n - 1).bit_length())
        bits += bits % 2
        self._half = np.uint64(bits // 2)
        self._mask = np.uint64((1 << (bits // 2)) - 1)
        self._keys = [np.uint64(k) for k in np.random.SeedSequence(seed).generate_state(self.ROUNDS, dtype=np.uint64)]

    def _round(self, r: np.ndarray, key: np.uint64) -> np.ndarray:
        return mix64(r ^ key) & self._mask

    def _forward(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self._half, x & self._mask
        for k in self._keys:
            left, right = right, left ^ self._round(right, k)
        return (left << self._half) | right

    def _backward(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self._half, x & self._mask
        for k in reversed(self._keys):
            left, right = right ^ self._round(left, k), left
        return (left << self._half) | right

    def _walk(self, x: np.ndarray, step: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.size and (x.min() < 0 or x.max() >= self.n):
            raise ValueError(f"permutation input outside [0, {self.n})")
        y = step(x.astype(np.uint64))
        bad = np.flatnonzero(y >= np.uint64(self.n))
        while bad.size:  # expected < 4 rounds: the domain is < 4n
            y[bad] = step(y[bad])
            bad = bad[y[bad] >= np.uint64(self.n)]
        return y.astype(np.int64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Map values in [0, n) to their images (int64)."""
        return self._walk(x, self._forward)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """The preimages of values in [0, n)."""
        return self._walk(y, self._backward)


# --------------------------------------------------------------------------- samplers
class Sampler(Protocol):
    """Anything that draws k object ids at once."""

    def sample(self, k: int) -> np.ndarray: ...


def _check_n(n_objects: int) -> int:
    if isinstance(n_objects, bool) or int(n_objects) != n_objects or n_objects < 1:
        raise UsageError(f"n_objects must be an integer >= 1, got {n_objects!r}")
    return int(n_objects)


def _helper1(t: np.ndarray) -> np.ndarray:
    """log1p(t)/t, continuous at 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        big = np.log1p(t) / t
    small = 1.0 - t * (0.5 - t * (1.0 / 3.0 - 0.25 * t))
    return np.where(np.abs(t) > 1e-8, big, small)


def _helper2(t: np.ndarray) -> np.ndarray:
    """expm1(t)/t, continuous at 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        big = np.expm1(t) / t
    small = 1.0 + 0.5 * t * (1.0 + t / 3.0 * (1.0 + 0.25 * t))
    return np.where(np.abs(t) > 1e-8, big, small)


class ZipfSampler:
    """Zipf(alpha) popularity over n objects by rejection-inversion; O(1) memory in n.

    Rank r (0-based) has probability proportional to (r+1)**-alpha; the id is the
    rank unless ``scramble`` maps ranks through a seeded :class:`FeistelPermutation`.
    Valid for any alpha >= 0 (alpha = 0 is uniform, alpha = 1 needs no special case).

    Args:
        alpha: the Zipf exponent (>= 0).
        n_objects: catalogue size (>= 1).
        rng: the random stream.
        scramble: map rank -> id by a seeded bijection of [0, n) so popular ids are not the small ones.
    """

    def __init__(self, alpha: float, n_objects: int, rng: np.random.Generator, *, scramble: bool = False) -> None:
        if not (isinstance(alpha, int | float) and math.isfinite(alpha) and alpha >= 0):
            raise UsageError(f"alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.n = _check_n(n_objects)
        self.rng = rng
        self.permutation = FeistelPermutation(self.n, int(rng.integers(1 << 62))) if scramble else None
        # constants of Hörmann & Derflinger's method (as in Apache Commons RNG)
        self._h_x1 = float(self._h_integral(np.array(1.5))) - 1.0
        self._h_n = float(self._h_integral(np.array(self.n + 0.5)))
        self._s = 2.0 - float(self._h_integral_inv(self._h_integral(np.array(2.5)) - self._h(np.array(2.0))))

    def _h(self, x: np.ndarray) -> np.ndarray:
        return np.exp(-self.alpha * np.log(x))

    def _h_integral(self, x: np.ndarray) -> np.ndarray:
        # integral of h from 1 to x, written to stay exact when alpha -> 1
        lx = np.log(x)
        return _helper2((1.0 - self.alpha) * lx) * lx

    def _h_integral_inv(self, x: np.ndarray) -> np.ndarray:
        t = np.maximum(x * (1.0 - self.alpha), -1.0)
        return np.exp(_helper1(t) * x)

    def sample_ranks(self, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``k`` popularity ranks (0 = most popular), int64.

        Args:
            k: number of draws.
            rng: stream to draw from (default: the sampler's own).
        """
        rng = self.rng if rng is None else rng
        out = np.empty(k, dtype=np.int64)
        got = 0
        while got < k:
            # acceptance is > 90% for every alpha, so a slightly larger batch usually finishes in one pass
            m = k - got
            batch = min(m + (m >> 3) + 16, 1 << 20)
            u = self._h_n + rng.random(batch) * (self._h_x1 - self._h_n)
            x = self._h_integral_inv(u)
            kk = np.clip(np.floor(x + 0.5), 1, self.n)
            ok = (kk - x <= self._s) | (u >= self._h_integral(kk + 0.5) - self._h(kk))
            acc = kk[ok][:m].astype(np.int64) - 1
            out[got : got + acc.size] = acc
            got += acc.size
        return out

    def sample(self, k: int) -> np.ndarray:
        """``k`` object ids (int64)."""
        ranks = self.sample_ranks(k)
        return ranks if self.permutation is None else self.permutation(ranks)


class UniformSampler:
    """Every one of n objects equally likely.

    Args:
        n_objects: catalogue size.
        rng: the random stream.
    """

    def __init__(self, n_objects: int, rng: np.random.Generator) -> None:
        self.n = _check_n(n_objects)
        self.rng = rng

    def sample(self, k: int) -> np.ndarray:
        """``k`` object ids (int64)."""
        return self.rng.integers(0, self.n, size=k, dtype=np.int64)


def _hot_count(n: int, hot_object_fraction: float) -> int:
    return min(n - 1, max(1, round(hot_object_fraction * n)))


class HotspotSampler:
    """A fraction of requests goes uniformly to a small hot set, the rest uniformly to the others.

    Args:
        n_objects: catalogue size (>= 2).
        hot_request_fraction: share of requests that go to the hot set.
        hot_object_fraction: share of objects in the hot set (at least 1 object, at most n-1).
        rng: the random stream.
        scramble: spread the hot set over the id space instead of ids [0, hot).
    """

    def __init__(
        self,
        n_objects: int,
        hot_request_fraction: float,
        hot_object_fraction: float,
        rng: np.random.Generator,
        *,
        scramble: bool = False,
    ) -> None:
        self.n = _check_n(n_objects)
        if self.n < 2:
            raise UsageError("hotspot workloads need n_objects >= 2")
        self.hot_request_fraction = float(hot_request_fraction)
        self.hot = _hot_count(self.n, float(hot_object_fraction))
        self.rng = rng
        self.permutation = FeistelPermutation(self.n, int(rng.integers(1 << 62))) if scramble else None

    def sample(self, k: int) -> np.ndarray:
        """``k`` object ids (int64); without scramble the hot set is ids [0, hot)."""
        is_hot = self.rng.random(k) < self.hot_request_fraction
        hot = self.rng.integers(0, self.hot, size=k, dtype=np.int64)
        cold = self.rng.integers(self.hot, self.n, size=k, dtype=np.int64)
        ids = np.where(is_hot, hot, cold)
        return ids if self.permutation is None else self.permutation(ids)


class KeySampler:
    """Per-request draws from any sampler, served from a pre-sampled buffer (for SimPy clients).

    Args:
        sampler: anything with ``sample(k)``.
        batch: draws fetched at a time.
    """

    def __init__(self, sampler: Sampler, batch: int = 4096) -> None:
        self.sampler = sampler
        self.batch = check_chunk_size(batch)
        self._buf: list[int] = []
        self._i = 0

    def next(self) -> int:
        """The next object id."""
        if self._i >= len(self._buf):
            self._buf = self.sampler.sample(self.batch).tolist()
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return v

    __next__ = next

    def __iter__(self) -> Iterator[int]:
        return self


def zipf_pmf(alpha: float, n: int) -> np.ndarray:
    """Zipf probabilities of ranks 0..n-1: (r+1)**-alpha normalised (float64 array of length n)."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    w = np.arange(1, _check_n(n) + 1, dtype=np.float64) ** -float(alpha)
    return w / w.sum()


# --------------------------------------------------------------------------- sizes
_SIZE_PARAMS: dict[str, dict[str, Any]] = {
    "constant": {"size": 1},
    "uniform": {"low": 1, "high": 1000},
    "lognormal": {"mu": 8.0, "sigma": 1.0, "max": 1 << 40},
    "pareto": {"alpha": 1.5, "xm": 100, "max": 1 << 40},
    "empirical": {"values": (1,), "weights": None},
}
SIZE_DISTS = tuple(_SIZE_PARAMS)


def _size_params(dist: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every parameter checked; UsageError names the bad one."""
    if dist not in _SIZE_PARAMS:
        raise UsageError(f"WorkloadSpec.size_dist must be one of {', '.join(SIZE_DISTS)}, got {dist!r}")
    allowed = _SIZE_PARAMS[dist]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise UsageError(
            f"WorkloadSpec.size_params: {dist} sizes take {', '.join(allowed)}; got unknown {', '.join(unknown)}"
        )
    p = {**allowed, **params}

    def bad(name: str, want: str) -> UsageError:
        return UsageError(f"WorkloadSpec.size_params[{name!r}] for {dist} sizes must be {want}, got {p[name]!r}")

    if dist == "constant" and not (int(p["size"]) == p["size"] and p["size"] >= 1):
        raise bad("size", "an integer >= 1")
    if dist == "uniform":
        if not (int(p["low"]) == p["low"] and p["low"] >= 1):
            raise bad("low", "an integer >= 1")
        if not (int(p["high"]) == p["high"] and p["high"] >= p["low"]):
            raise bad("high", "an integer >= low")
    if dist == "lognormal" and not p["sigma"] >= 0:
        raise bad("sigma", ">= 0")
    if dist == "pareto":
        if not p["alpha"] > 0:
            raise bad("alpha", "> 0")
        if not p["xm"] >= 1:
            raise bad("xm", ">= 1")
    if dist in ("lognormal", "pareto") and not p["max"] >= 1:
        raise bad("max", ">= 1")
    if dist == "empirical":
        vals = np.asarray(p["values"], dtype=np.float64)
        if vals.ndim != 1 or vals.size == 0 or (vals < 1).any() or (vals != np.round(vals)).any():
            raise bad("values", "a non-empty list of integers >= 1")
        if p["weights"] is not None:
            w = np.asarray(p["weights"], dtype=np.float64)
            if w.shape != vals.shape or (w < 0).any() or w.sum() <= 0:
                raise bad("weights", "non-negative numbers, one per value, not all zero")
    return p


def object_sizes(
    ids: np.ndarray, dist: str = "constant", params: Mapping[str, Any] | None = None, *, seed: int = 0
) -> np.ndarray:
    """The size of each object, a deterministic function of (id, seed): the same id always has the same size.

    Args:
        ids: object ids.
        dist: one of :data:`SIZE_DISTS`.
        params: the distribution's parameters (constant: size; uniform: low, high inclusive;
            lognormal: mu, sigma of the log size, max; pareto: alpha, xm, max;
            empirical: values, weights).
        seed: selects which object gets which size.
    """
    p = _size_params(dist, params or {})
    ids = np.asarray(ids)
    if dist == "constant":
        return np.full(ids.shape, int(p["size"]), dtype=np.int64)
    u = hash_unit(ids, _seed_key(seed, 0x517E))
    if dist == "uniform":
        lo, hi = int(p["low"]), int(p["high"])
        return np.minimum(lo + np.floor(u * (hi - lo + 1)), hi).astype(np.int64)
    if dist == "lognormal":
        x = np.exp(p["mu"] + p["sigma"] * ndtri(u))
    elif dist == "pareto":
        x = p["xm"] * u ** (-1.0 / p["alpha"])  # u in (0,1) is as good as 1-u
    else:
        vals = np.asarray(p["values"], dtype=np.int64)
        w = np.ones(vals.size) if p["weights"] is None else np.asarray(p["weights"], dtype=np.float64)
        cdf = np.cumsum(w) / w.sum()
        return vals[np.minimum(np.searchsorted(cdf, u, side="right"), vals.size - 1)]
    return np.clip(np.round(x), 1, p["max"]).astype(np.int64)


# --------------------------------------------------------------------------- spec + trace
KINDS = ("zipf", "uniform", "hotspot", "shifting")
#: largest catalogue and trace length: ids and request positions are int64 (scan ids are n_objects + position)
MAX_OBJECTS = 1 << 62
#: longest span, in seconds, that synthetic timestamps may cover (2**53 microseconds, about 285 years)
MAX_SPAN = 2.0**53 / 1e6


@dataclass(frozen=True)
class WorkloadSpec:
    """A declarative synthetic workload.

    Args:
        kind: ``zipf`` (IRM Zipf), ``uniform``, ``hotspot`` (``hot_request_fraction`` of the
            requests to ``hot_object_fraction`` of the objects), ``shifting`` (Zipf whose
            popular set moves every ``shift_period`` requests).
        n_objects: catalogue size.
        alpha: Zipf exponent (zipf, shifting).
        hot_request_fraction: hotspot: share of requests to the hot set.
        hot_object_fraction: hotspot: share of objects in the hot set.
        shift_period: shifting: requests between popularity changes.
        shift_step: shifting: the ranking moves by this many ids each period
            (id = (rank + epoch*shift_step) mod n); 0 draws a fresh random ranking each period.
        scan_fraction: expected share of requests that belong to sequential scans
            over fresh ids (ids >= n_objects, never requested twice).
        scan_length: requests per scan.
        size_dist: object size distribution, one of :data:`SIZE_DISTS`.
        size_params: its parameters (see :func:`object_sizes`).
        write_ratio: share of requests that are writes (ops == 1).
        rate: Poisson arrival rate in requests/s, or None for no timestamps.
        scramble: spread popular objects over the id space (zipf, hotspot, shifting).
    """

    kind: str = "zipf"
    n_objects: int = 10_000
    alpha: float = 0.8
    hot_request_fraction: float = 0.9
    hot_object_fraction: float = 0.1
    shift_period: int = 100_000
    shift_step: int = 0
    scan_fraction: float = 0.0
    scan_length: int = 1_000
    size_dist: str = "constant"
    size_params: Mapping[str, Any] = field(default_factory=dict)
    write_ratio: float = 0.0
    rate: float | None = None
    scramble: bool = False

    def __post_init__(self) -> None:
        def bad(name: str, want: str) -> UsageError:
            return UsageError(f"WorkloadSpec.{name} must be {want}, got {getattr(self, name)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool)

        if self.kind not in KINDS:
            raise bad("kind", f"one of {', '.join(KINDS)}")
        if not is_int(self.n_objects) or not 1 <= self.n_objects <= MAX_OBJECTS:
            raise bad("n_objects", "an integer in [1, 2**62] (ids, scans past them included, are 64-bit)")
        if self.kind == "hotspot" and self.n_objects < 2:
            raise bad("n_objects", "an integer >= 2 for a hotspot workload")
        if not (isinstance(self.alpha, int | float) and math.isfinite(self.alpha) and self.alpha >= 0):
            raise bad("alpha", "a finite number >= 0")
        for name in ("hot_request_fraction", "scan_fraction", "write_ratio"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0 <= v <= 1):
                raise bad(name, "a number in [0, 1]")
        if not (isinstance(self.hot_object_fraction, int | float) and 0 < self.hot_object_fraction < 1):
            raise bad("hot_object_fraction", "a number in (0, 1)")
        if not is_int(self.shift_period) or self.shift_period < 1:
            raise bad("shift_period", "an integer >= 1")
        if not is_int(self.shift_step) or self.shift_step < 0:
            raise bad("shift_step", "an integer >= 0 (0: a fresh random ranking each period)")
        if not is_int(self.scan_length) or self.scan_length < 1:
            raise bad("scan_length", "an integer >= 1")
        if not isinstance(self.size_params, Mapping):
            raise bad("size_params", "a mapping of parameter names to values")
        _size_params(self.size_dist, self.size_params)
        object.__setattr__(self, "size_params", MappingProxyType(dict(self.size_params)))
        if self.rate is not None and not (
            isinstance(self.rate, int | float) and math.isfinite(self.rate) and self.rate > 0
        ):
            raise bad("rate", "a number > 0 (requests per second) or None")
        if not isinstance(self.scramble, bool):
            raise bad("scramble", "True or False")

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> WorkloadSpec:
        """Build a spec from ``name -> text`` pairs (e.g. command-line ``k=v``), converting by field type.

        ``size_params`` entries are given as ``size.NAME=value``.
        """
        types = {f.name: f.default for f in fields(cls)}
        kw: dict[str, Any] = {}
        sizes: dict[str, Any] = {}
        for name, text in params.items():
            if name.startswith("size."):
                sizes[name[5:]] = _number(name, text)
                continue
            if name not in types or name == "size_params":
                valid = ", ".join(n for n in types if n != "size_params")
                raise UsageError(f"workload has no parameter {name!r}; valid parameters: {valid}, size.NAME")
            default = types[name]
            if name in ("kind", "size_dist"):
                kw[name] = text
            elif name == "scramble":
                if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise UsageError(f"workload parameter scramble expects true/false, got {text!r}")
                kw[name] = text.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int) or name == "n_objects":
                v = _number(name, text)
                if v != int(v):
                    raise UsageError(f"workload parameter {name} expects an integer, got {text!r}")
                kw[name] = int(v)
            elif name == "rate" and text.lower() in ("none", ""):
                kw[name] = None
            else:
                kw[name] = float(_number(name, text))
        if sizes:
            kw["size_params"] = sizes
        return cls(**kw)


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"workload parameter {name} expects a number, got {text!r}") from None


# independent random streams inside a block
_S_KEYS, _S_OPS, _S_TIMES = 0, 1, 2
_BLOCK = 1 << 16


class SyntheticTrace:
    """A synthetic trace as a :class:`~simcache.traces.base.TraceSource`: regenerated identically on every iteration.

    Args:
        spec: the workload.
        n_requests: trace length.
        seed: the root seed.
        chunk_size: requests per chunk (the output does not depend on it).
    """

    def __init__(self, spec: WorkloadSpec, n_requests: int, seed: int = 0, chunk_size: int = 1 << 20) -> None:
        if not isinstance(spec, WorkloadSpec):
            raise UsageError(f"spec must be a WorkloadSpec, got {type(spec).__name__}")
        if isinstance(n_requests, bool) or int(n_requests) != n_requests or not 0 <= n_requests <= MAX_OBJECTS:
            raise UsageError(f"n_requests must be an integer in [0, 2**62], got {n_requests!r}")
        if spec.rate is not None and n_requests / spec.rate > MAX_SPAN:
            raise UsageError(f"rate {spec.rate:g} requests/s spreads {n_requests} requests over "
                             f"{n_requests / spec.rate:.3g} s; timestamps cover at most {MAX_SPAN:.3g} s (2**53 "
                             f"microseconds, where float seconds stop being exact to the microsecond)")
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise UsageError(f"seed must be an integer >= 0, got {seed!r}")
        self.spec = spec
        self.n_requests = int(n_requests)
        self.seed = int(seed)
        self.chunk_size = check_chunk_size(chunk_size)
        self.name = self._describe()
        self._root = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0xFFFF_FFFF,)))
        s = spec
        self._zipf = ZipfSampler(s.alpha, s.n_objects, self._root) if s.kind in ("zipf", "shifting") else None
        self._perm = FeistelPermutation(s.n_objects, _seed_key(self.seed, 1)) if s.scramble else None
        self._scan_key = _seed_key(self.seed, 2)
        self._size_seed = _seed_key(self.seed, 3)

    def _describe(self) -> str:
        s = self.spec
        bits = [f"synthetic-{s.kind}", f"n{s.n_objects}"]
        if s.kind in ("zipf", "shifting"):
            bits.append(f"a{s.alpha:g}")
        if s.kind == "hotspot":
            bits.append(f"hot{s.hot_request_fraction:g}/{s.hot_object_fraction:g}")
        if s.scan_fraction:
            bits.append(f"scan{s.scan_fraction:g}x{s.scan_length}")
        bits.append(f"seed{self.seed}")
        return "-".join(bits)

    def __len__(self) -> int:
        return self.n_requests

    def count(self) -> int:
        """Number of requests."""
        return self.n_requests

    def __repr__(self) -> str:
        return f"SyntheticTrace({self.spec!r}, n_requests={self.n_requests}, seed={self.seed})"

    def iter_chunks(self) -> Iterator[Chunk]:
        """Yield the requests, ``chunk_size`` at a time."""
        return rechunk(self._blocks(), self.chunk_size)

    def _rng(self, block: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(block, stream)))

    def _blocks(self) -> Iterator[Chunk]:
        s = self.spec
        t0 = 0.0
        for b in range(-(-self.n_requests // _BLOCK)):
            start = b * _BLOCK
            m = min(_BLOCK, self.n_requests - start)
            # every block draws a full block and keeps its prefix, so a shorter trace is a prefix of a longer one
            ids = self._ids(self._rng(b, _S_KEYS), start)[:m]
            sizes = None
            if not (s.size_dist == "constant" and s.size_params.get("size", 1) == 1):
                sizes = object_sizes(ids, s.size_dist, s.size_params, seed=self._size_seed)
            ops = None
            if s.write_ratio > 0:
                ops = (self._rng(b, _S_OPS).random(_BLOCK)[:m] < s.write_ratio).astype(np.int8)
            times = None
            if s.rate is not None:
                times = t0 + np.cumsum(self._rng(b, _S_TIMES).exponential(1.0 / s.rate, _BLOCK)[:m])
                t0 = float(times[-1])
            yield Chunk(ids, sizes=sizes, times=times, ops=ops)

    def _ids(self, rng: np.random.Generator, start: int) -> np.ndarray:
        s = self.spec
        n = s.n_objects
        if s.kind == "uniform":
            ids = rng.integers(0, n, size=_BLOCK, dtype=np.int64)
        elif s.kind == "hotspot":
            hot = _hot_count(n, s.hot_object_fraction)
            is_hot = rng.random(_BLOCK) < s.hot_request_fraction
            ids = np.where(
                is_hot,
                rng.integers(0, hot, size=_BLOCK, dtype=np.int64),
                rng.integers(hot, n, size=_BLOCK, dtype=np.int64),
            )
        else:
            assert self._zipf is not None
            ids = self._zipf.sample_ranks(_BLOCK, rng)
        if self._perm is not None:
            ids = self._perm(ids)
        if s.kind == "shifting":
            ids = self._shift(ids, start)
        if s.scan_fraction > 0:
            ids = self._scans(ids, start)
        return ids

    def _shift(self, ranks: np.ndarray, start: int) -> np.ndarray:
        s = self.spec
        epoch = (start + np.arange(ranks.size, dtype=np.int64)) // s.shift_period
        if s.shift_step:
            return (ranks + (epoch % s.n_objects) * s.shift_step) % s.n_objects
        out = np.empty_like(ranks)
        for e in np.unique(epoch):
            sel = epoch == e
            out[sel] = FeistelPermutation(s.n_objects, _seed_key(self.seed, 4, int(e)))(ranks[sel])
        return out

    def _scans(self, ids: np.ndarray, start: int) -> np.ndarray:
        # the trace is cut into aligned slots of scan_length requests; a slot is a scan with probability
        # scan_fraction, decided by a hash of its index, and position p of a scan requests the fresh id n + p
        s = self.spec
        pos = start + np.arange(ids.size, dtype=np.int64)
        slot = pos // s.scan_length
        is_scan = hash_unit(slot, self._scan_key) < s.scan_fraction
        return np.where(is_scan, s.n_objects + pos, ids)


def zipf_trace(alpha: float, n_objects: int, n_requests: int, seed: int = 0) -> np.ndarray:
    """Object ids of an IRM Zipf trace (ranks as ids), as one int64 array.

    Args:
        alpha: Zipf exponent.
        n_objects: catalogue size.
        n_requests: trace length.
        seed: the seed.
    """
    rng = np.random.default_rng(seed)
    return ZipfSampler(alpha, n_objects, rng).sample(int(n_requests))


def make_sampler(spec: WorkloadSpec, rng: np.random.Generator) -> Sampler:
    """A per-request key sampler for a stationary workload (zipf, uniform, hotspot).

    Args:
        spec: the workload; shifting popularity and scans depend on the request's position, so
            they need a :class:`SyntheticTrace`.
        rng: the random stream.
    """
    if spec.kind == "zipf":
        return ZipfSampler(spec.alpha, spec.n_objects, rng, scramble=spec.scramble)
    if spec.kind == "uniform":
        return UniformSampler(spec.n_objects, rng)
    if spec.kind == "hotspot":
        return HotspotSampler(
            spec.n_objects, spec.hot_request_fraction, spec.hot_object_fraction, rng, scramble=spec.scramble
        )
    raise UsageError(f"workload kind {spec.kind!r} depends on request position; use SyntheticTrace instead")
