"""Trace-driven replay: run a request stream through eviction policies and count hits.

:func:`replay` is the one entry point: it takes a trace source (a file reader
or a synthetic generator), a list of policy names and a list of cache sizes,
and returns one :class:`ReplayResult` per (policy, size).  Two engines run the
same simulation:

* ``reference`` -- the readable policy classes of :mod:`simcache.policies`,
  driven by one tight Python loop.  Every configuration advances together in a
  single streaming pass over the trace, so a trace larger than memory replays
  and each chunk is decoded once for all configurations.
* ``fast`` -- the compiled kernels of :mod:`simcache.kernels` (when installed
  and when they support the policy and its parameters).

``engine="auto"`` takes the fast one whenever it can and says which one ran in
each result's ``engine`` field.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from os import PathLike
from typing import Any

import numpy as np

from simcache.errors import KernelLimit, UsageError
from simcache.policies.base import Policy, make_policy, policy_class, policy_params
from simcache.traces.base import Chunk, TraceSource

__all__ = [
    "ENGINES",
    "SYNTHETIC_KINDS",
    "ReplayResult",
    "ReplayResults",
    "TraceStats",
    "choose_engine",
    "chunks_of",
    "count_requests",
    "parse_size",
    "policy_seed",
    "replay",
    "replay_frame",
    "resolve_params",
    "resolve_sizes",
    "source_from_args",
    "trace_stats",
]

ENGINES = ("auto", "fast", "reference")
#: the ``engine`` of a result: the policy classes, the compiled kernels, or the kernels run as plain
#: Python because numba is not installed (several times slower than the classes, ~100x the compiled loop)
ENGINES_RAN = ("reference", "fast", "fast-uncompiled")
#: request x configuration count above which a replay without numba prints a hint to install it
SLOW_WITHOUT_NUMBA = 2_000_000
SYNTHETIC_KINDS = ("zipf", "uniform", "hotspot", "shifting")

SizeSpec = int | str


@dataclass(frozen=True)
class ReplayResult:
    """The counts of one (policy, size) replay.

    Attributes:
        policy: registry name of the policy.
        size: cache capacity (entries, or bytes in bytes mode).
        requests: requests counted (after the warm-up).
        hits: counted requests that hit.
        misses: counted requests that missed.
        miss_ratio: misses / requests (0.0 when nothing was counted).
        byte_hits: bytes served from the cache (object sizes of the hits; 1 per
            request when the trace has no sizes).
        byte_misses: bytes fetched on misses.
        byte_miss_ratio: byte_misses / (byte_hits + byte_misses).
        seconds: wall time of the replay loop alone (not reading the trace).
        engine: what ran: "reference" (the policy classes), "fast" (the compiled
            kernels) or "fast-uncompiled" (the kernels as plain Python, numba absent).
        params: the policy parameters used (only non-default ones given).
        warmup_requests: requests replayed before counting started.
    """

    policy: str
    size: int
    requests: int
    hits: int
    misses: int
    miss_ratio: float
    byte_hits: int
    byte_misses: int
    byte_miss_ratio: float
    seconds: float
    engine: str
    params: Mapping[str, Any] = field(default_factory=dict)
    warmup_requests: int = 0

    def __post_init__(self) -> None:
        if self.hits + self.misses != self.requests:
            raise ValueError(f"hits + misses ({self.hits} + {self.misses}) != requests ({self.requests})")
        if self.engine not in ENGINES_RAN:
            raise ValueError(f"engine must be one of {', '.join(ENGINES_RAN)}, got {self.engine!r}")

    def as_dict(self) -> dict[str, Any]:
        """A flat JSON-able dict (params as a nested dict)."""
        row = asdict(self)
        row["params"] = dict(self.params)
        return row


class ReplayResults(list[ReplayResult]):
    """The results of one :func:`replay` call: a list, plus :meth:`to_frame`."""

    def to_frame(self) -> Any:
        """One row per (policy, size) as a pandas DataFrame (the ``params`` column holds dicts)."""
        import pandas as pd

        columns = [f.name for f in fields(ReplayResult)]
        return pd.DataFrame([r.as_dict() for r in self], columns=columns)


# ---------------------------------------------------------------- sizes
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(spec: SizeSpec) -> int | float:
    """Parse one cache size: an int, ``"1000"``, ``"64KiB"``/``"2M"``/``"1GB"``, or ``"1%"``.

    Args:
        spec: the size. Percentages return a float fraction in (0, 1]
            (``"1%"`` -> 0.01) to be resolved against the distinct objects or
            bytes; everything else returns an int >= 1.
    """
    if isinstance(spec, bool):
        raise UsageError(f"bad cache size {spec!r}: expected an integer, a percentage like '1%' or a size like '64MiB'")
    if isinstance(spec, (int, np.integer)):
        if spec < 1:
            raise UsageError(f"bad cache size {spec!r}: must be >= 1")
        return int(spec)
    if isinstance(spec, float) and spec.is_integer() and spec >= 1:
        return int(spec)
    m = _SIZE_RE.match(str(spec))
    if m is None:
        raise UsageError(f"bad cache size {spec!r}: expected an integer, a percentage like '1%' or a size like '64MiB'")
    number, unit = float(m.group(1)), (m.group(2) or "").lower()
    if unit == "%":
        if not 0 < number <= 100:
            raise UsageError(f"bad cache size {spec!r}: a percentage must be in (0, 100]")
        return number / 100.0
    base = 1024 if "i" in unit else 1000
    mult = 1 if unit in ("", "b") else base ** ("kmgt".index(unit[0]) + 1)
    value = number * mult
    if not value.is_integer() or value < 1:
        raise UsageError(f"bad cache size {spec!r}: must be a whole number >= 1")
    return int(value)


def resolve_sizes(specs: Iterable[SizeSpec], distinct: int | None) -> list[int]:
    """Turn size specs into capacities; percentages are of ``distinct`` (objects or bytes), at least 1."""
    out = []
    for spec in specs:
        value = parse_size(spec)
        if isinstance(value, float):
            if distinct is None:
                raise UsageError(f"cache size {spec!r} is a percentage but the distinct count is unknown")
            value = max(1, int(round(value * distinct)))
        out.append(value)
    return out


def _needs_distinct(specs: Iterable[SizeSpec]) -> bool:
    return any(isinstance(parse_size(s), float) for s in specs)


@dataclass(frozen=True)
class TraceStats:
    """What one counting pass over a trace learns.

    Attributes:
        requests: number of requests.
        distinct: number of distinct object ids.
        distinct_bytes: sum over distinct objects of their last size (== distinct without sizes).
        has_sizes: whether the trace carries object sizes.
    """

    requests: int
    distinct: int
    distinct_bytes: int
    has_sizes: bool


def trace_stats(source: TraceSource) -> TraceStats:
    """Count requests, distinct objects and distinct bytes in one streaming pass.

    Args:
        source: any trace source.
    """
    n = 0
    uniq_ids: list[np.ndarray] = []
    uniq_sizes: list[np.ndarray] = []
    has_sizes = False
    for chunk in source.iter_chunks():
        n += len(chunk)
        if len(chunk) == 0:
            continue
        # keep each id's last size: unique over the reversed chunk finds last occurrences
        rev = chunk.ids[::-1]
        ids, idx = np.unique(rev, return_index=True)
        uniq_ids.append(ids)
        if chunk.sizes is not None:
            has_sizes = True
            uniq_sizes.append(np.asarray(chunk.sizes[::-1][idx], dtype=np.int64))
        else:
            uniq_sizes.append(np.ones(len(ids), dtype=np.int64))
    if not uniq_ids:
        return TraceStats(0, 0, 0, has_sizes)
    all_ids = np.concatenate(uniq_ids[::-1])  # later chunks first, so "first index" is the last size
    all_sizes = np.concatenate(uniq_sizes[::-1])
    ids, idx = np.unique(all_ids, return_index=True)
    return TraceStats(n, int(len(ids)), int(all_sizes[idx].sum()), has_sizes)


def count_requests(source: TraceSource) -> int:
    """Number of requests in a source, without reading it when it knows its length."""
    if hasattr(source, "__len__"):
        return int(len(source))  # type: ignore[arg-type]
    count = getattr(source, "count", None)
    if callable(count):
        return int(count())
    return sum(len(c) for c in source.iter_chunks())


# --------------------------------------------------------------- params
def resolve_params(policies: Sequence[str], params: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Split parameters between policies: each goes to every selected policy that has it.

    Args:
        policies: selected policy names.
        params: either flat (``{"k": v}``; a key ``"policy.k"`` targets one
            policy) or per policy (``{"slru": {"k": v}}``). A flat key that no
            selected policy has is an error naming the valid parameters.
    """
    out: dict[str, dict[str, Any]] = {p: {} for p in policies}
    if not params:
        return out
    valid = {p: policy_params(p) for p in policies}
    for key, value in params.items():
        if key in out and isinstance(value, Mapping):
            for k, v in value.items():
                _check_param(key, k, valid[key])
                out[key][k] = v
            continue
        if "." in key:
            pol, _, k = key.partition(".")
            if pol not in out:
                raise UsageError(f"parameter {key!r} names policy {pol!r}, which is not selected ({', '.join(policies)})")
            _check_param(pol, k, valid[pol])
            out[pol][k] = value
            continue
        takers = [p for p in policies if key in valid[p]]
        if not takers:
            listing = "; ".join(f"{p}: {', '.join(valid[p]) or 'none'}" for p in policies)
            raise UsageError(f"no selected policy has a parameter {key!r} (valid parameters: {listing})")
        for p in takers:
            out[p][key] = value
    return out


def _check_param(policy: str, key: str, valid: Mapping[str, Any]) -> None:
    if key not in valid:
        raise UsageError(f"policy {policy!r} has no parameter {key!r}; valid parameters: {', '.join(valid) or 'none'}")


def policy_seed(seed: int, policy: str, size: int) -> np.random.Generator:
    """The random stream of one (policy, size) replay: independent of which others run beside it."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(policy.encode()), int(size)))
    return np.random.default_rng(ss)


# --------------------------------------------------------------- engines
def choose_engine(engine: str, policy: str, params: Mapping[str, Any], bytes_mode: bool) -> str:
    """Which engine replays ``policy``: "fast" or "reference" (``engine`` is auto|fast|reference).

    Without numba, ``auto`` takes the reference classes: the kernels would run as plain Python, slower
    than the classes; ``fast`` still runs them (each result then says ``fast-uncompiled``).
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    if engine == "reference":
        return "reference"
    try:
        from simcache import kernels

        supports = kernels.supports
    except (ImportError, AttributeError) as err:
        if engine == "fast":
            raise UsageError(f"engine 'fast' needs simcache.kernels, which is not available ({err})") from None
        return "reference"
    if supports(policy, params, bytes_mode):
        return "fast" if engine == "fast" or kernels.COMPILED else "reference"
    if engine == "fast":
        mode = "bytes" if bytes_mode else "entries"
        detail = f" with parameters {dict(params)}" if params else ""
        raise UsageError(f"engine 'fast' has no kernel for policy {policy!r} in {mode} mode{detail}; use --engine auto")
    return "reference"


class _Run:
    """One (policy, size) configuration advancing through the reference loop."""

    __slots__ = ("policy", "name", "size", "params", "hits", "misses", "byte_hits", "byte_misses", "seconds",
                 "generic", "bytes_mode")

    def __init__(self, name: str, size: int, params: dict[str, Any], seed: int, bytes_mode: bool) -> None:
        self.name = name
        self.size = size
        self.params = params
        self.bytes_mode = bytes_mode
        self.policy: Policy = make_policy(name, size, rng=policy_seed(seed, name, size), **params)
        cls = policy_class(name)
        # only Belady and the time-aware policies need the keyword path; the rest call access(key[, size])
        self.generic = cls.needs_future or cls.uses_time
        self.hits = self.misses = self.byte_hits = self.byte_misses = 0
        self.seconds = 0.0

    def step(self, ids: list[Any], sizes: list[int] | None, size_arr: np.ndarray | None,
             next_access: list[int] | None, times: list[float] | None, count: bool) -> None:
        """Replay one slice of requests; add its counts when ``count`` (after the warm-up)."""
        access = self.policy.access
        t0 = time.perf_counter()
        if not self.generic:
            # map() over a bound method is the tightest loop CPython offers: no per-request bytecode
            flags = list(map(access, ids)) if sizes is None else list(map(access, ids, sizes))
        else:
            n = len(ids)
            sz = sizes if sizes is not None else [1] * n
            na = next_access if next_access is not None else [-1] * n
            tm = times if times is not None else [0.0] * n
            flags = [access(k, s, now=t, next_access=a) for k, s, t, a in zip(ids, sz, tm, na, strict=True)]
        self.seconds += time.perf_counter() - t0
        if not count:
            return
        hits = sum(flags)
        self.hits += hits
        self.misses += len(flags) - hits
        if size_arr is None:
            self.byte_hits += hits
            self.byte_misses += len(flags) - hits
        else:
            hit_bytes = int(size_arr[np.asarray(flags, dtype=bool)].sum())
            self.byte_hits += hit_bytes
            self.byte_misses += int(size_arr.sum()) - hit_bytes

    def result(self, warmup_requests: int) -> ReplayResult:
        requests = self.hits + self.misses
        byte_total = self.byte_hits + self.byte_misses
        return ReplayResult(
            policy=self.name, size=self.size, requests=requests, hits=self.hits, misses=self.misses,
            miss_ratio=self.misses / requests if requests else 0.0,
            byte_hits=self.byte_hits, byte_misses=self.byte_misses,
            byte_miss_ratio=self.byte_misses / byte_total if byte_total else 0.0,
            seconds=self.seconds, engine="reference", params=dict(self.params), warmup_requests=warmup_requests,
        )


def _source_name(source: TraceSource) -> str:
    return str(getattr(source, "name", source))


def _reference(source: TraceSource, configs: Sequence[tuple[str, int, dict[str, Any]]], *, bytes_mode: bool,
               warmup_n: int, seed: int, next_access_all: np.ndarray | None) -> list[ReplayResult]:
    """Replay every configuration together in one streaming pass over ``source``."""
    runs = [_Run(name, size, params, seed, bytes_mode) for name, size, params in configs]
    want_future = any(policy_class(r.name).needs_future for r in runs)
    want_time = any(policy_class(r.name).uses_time for r in runs)
    pos = 0
    for chunk in source.iter_chunks():
        n = len(chunk)
        if n == 0:
            continue
        if bytes_mode and chunk.sizes is None:
            raise UsageError(f"bytes mode needs object sizes, but trace {_source_name(source)!r} has none")
        # decode the chunk once for every configuration
        ids = chunk.ids.tolist()
        size_arr = np.asarray(chunk.sizes, dtype=np.int64) if chunk.sizes is not None else None
        sizes = size_arr.tolist() if (bytes_mode and size_arr is not None) else None
        na: list[int] | None = None
        if want_future:
            if chunk.next_access is not None:
                na = np.asarray(chunk.next_access).tolist()
            elif next_access_all is not None:
                na = next_access_all[pos:pos + n].tolist()
        times = np.asarray(chunk.times).tolist() if (want_time and chunk.times is not None) else None
        cut = min(max(warmup_n - pos, 0), n)  # the warm-up ends inside or after this chunk
        for lo, hi, count in ((0, cut, False), (cut, n, True)):
            if lo == hi:
                continue
            whole = lo == 0 and hi == n
            args = (
                ids if whole else ids[lo:hi],
                sizes if (whole or sizes is None) else sizes[lo:hi],
                size_arr if (whole or size_arr is None) else size_arr[lo:hi],
                na if (whole or na is None) else na[lo:hi],
                times if (whole or times is None) else times[lo:hi],
            )
            for run in runs:
                run.step(*args, count)
        pos += n
    return [r.result(min(warmup_n, pos)) for r in runs]


def numba_hint(results: Sequence[ReplayResult]) -> str | None:
    """One line suggesting the ``fast`` extra when this replay ran without compiled kernels and was large."""
    slow = [r for r in results if r.engine != "fast"]
    if not slow or sum(r.requests + r.warmup_requests for r in slow) < SLOW_WITHOUT_NUMBA:
        return None
    from simcache.kernels import COMPILED

    if COMPILED:
        return None
    return ("note: numba is not installed, so no replay loop was compiled; pip install 'simcache[fast]' "
            "for compiled kernels (typically 100x faster)")


def _fast(source: TraceSource, policy: str, sizes: Sequence[int], params: Mapping[str, Any], *,
          bytes_mode: bool, warmup_n: int, seed: int = 0) -> list[ReplayResult]:
    """Replay one policy at several sizes through the compiled kernels."""
    from simcache import kernels

    rows = kernels.replay_fast(source, policy, list(sizes), bytes_mode=bytes_mode, warmup=warmup_n, params=params,
                               seed=seed)
    out = []
    for size, row in zip(sizes, rows, strict=True):
        requests, misses = int(row["requests"]), int(row["misses"])
        byte_hits, byte_misses = int(row["byte_hits"]), int(row["byte_misses"])
        out.append(ReplayResult(
            policy=policy, size=int(size), requests=requests, hits=int(row["hits"]), misses=misses,
            miss_ratio=misses / requests if requests else 0.0, byte_hits=byte_hits, byte_misses=byte_misses,
            byte_miss_ratio=byte_misses / (byte_hits + byte_misses) if byte_hits + byte_misses else 0.0,
            seconds=float(row["seconds"]), engine="fast" if kernels.COMPILED else "fast-uncompiled",
            params=dict(params), warmup_requests=warmup_n,
        ))
    return out


# ------------------------------------------------------------------ API
def replay(
    source: TraceSource | str | PathLike[str],
    policies: str | Sequence[str],
    sizes: SizeSpec | Sequence[SizeSpec],
    *,
    bytes_mode: bool = False,
    warmup: float = 0.0,
    params: Mapping[str, Any] | None = None,
    engine: str = "auto",
    seed: int = 0,
    progress: bool | None = False,
) -> ReplayResults:
    """Replay a trace through each policy at each cache size (``replay(...).to_frame()``: a DataFrame).

    Belady (and any policy with ``needs_future``) reads each request's
    next-access index: from the trace when it carries one (oracleGeneral),
    otherwise computed over the whole id array, which holds the trace in memory.

    Args:
        source: a trace source, or a path opened with ``open_trace``.
        policies: registry names (or one name).
        sizes: capacities: ints, or strings like ``"1000"``, ``"64MiB"`` or
            ``"1%"`` (a percentage of the distinct objects, or of the distinct
            bytes in bytes mode, found by one counting pass).
        bytes_mode: capacity in bytes and each request weighs its object size;
            otherwise the capacity counts entries.
        warmup: fraction in [0, 1) of the first requests replayed but not counted.
        params: policy parameters, flat or per policy (see :func:`resolve_params`).
        engine: "auto" (compiled kernels when they support the policy),
            "fast" (kernels or an error) or "reference" (policy classes).
        seed: root seed; each (policy, size) derives its own stream from it.
        progress: a progress bar on stderr, one step per compiled policy and one for the shared reference pass
            (None: when stderr is a terminal or in a notebook; see :mod:`simcache.progress`).

    Returns:
        one result per (policy, size), policies outer, sizes inner.
    """
    if isinstance(source, (str, PathLike)):
        from simcache.traces import open_trace

        source = open_trace(source)
    names = [policies] if isinstance(policies, str) else list(policies)
    if not names:
        raise UsageError("no policy given")
    for name in names:
        policy_class(name)  # unknown names fail here, listing the valid ones
    if len(set(names)) != len(names):
        raise UsageError(f"policy listed twice in {', '.join(names)}")
    specs = [sizes] if isinstance(sizes, (int, str, np.integer)) else list(sizes)
    if not specs:
        raise UsageError("no cache size given")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be an integer >= 0, got {seed!r}")
    if not (isinstance(warmup, (int, float)) and 0.0 <= warmup < 1.0):
        raise UsageError(f"warm-up must be a fraction in [0, 1), got {warmup!r}")
    per_policy = resolve_params(names, params)
    engines = {name: choose_engine(engine, name, per_policy[name], bytes_mode) for name in names}

    stats: TraceStats | None = None
    if _needs_distinct(specs):
        stats = trace_stats(source)
        if bytes_mode and not stats.has_sizes:
            raise UsageError(f"bytes mode needs object sizes, but trace {_source_name(source)!r} has none")
        capacities = resolve_sizes(specs, stats.distinct_bytes if bytes_mode else stats.distinct)
    else:
        capacities = resolve_sizes(specs, None)
    warmup_n = 0
    if warmup > 0:
        warmup_n = int(warmup * (stats.requests if stats is not None else count_requests(source)))

    needs_future = any(policy_class(n).needs_future and engines[n] == "reference" for n in names)
    first = next(iter(source.iter_chunks()), None) if (bytes_mode or needs_future) else None
    if bytes_mode and first is not None and first.sizes is None:
        raise UsageError(f"bytes mode needs object sizes, but trace {_source_name(source)!r} has none")
    next_access_all = None
    if needs_future and first is not None and first.next_access is None:
        # the trace does not carry next accesses: compute them over the whole id array (held in memory)
        from simcache.traces import compute_next_access, read_all

        next_access_all = np.asarray(compute_next_access(read_all(source).ids), dtype=np.int64)

    from simcache.progress import progress_bar

    results: dict[tuple[str, int], ReplayResult] = {}
    ref_configs: list[tuple[str, int, dict[str, Any]]] = []
    steps = sum(engines[n] == "fast" for n in names) + any(engines[n] != "fast" for n in names)
    with progress_bar(steps, "replay", unit="pass", enabled=progress if steps > 1 or progress else False) as bar:
        for name in names:
            if engines[name] == "fast":
                bar.set_postfix_str(name, refresh=False)
                try:
                    rows = _fast(source, name, capacities, per_policy[name], bytes_mode=bytes_mode,
                                 warmup_n=warmup_n, seed=seed)
                except KernelLimit:
                    if engine == "fast":
                        raise
                    # the kernel's int64 state would overflow on this trace: the reference classes replay it
                    ref_configs.extend((name, c, per_policy[name]) for c in dict.fromkeys(capacities))
                    rows = []
                for r in rows:
                    results[(name, r.size)] = r
                bar.update(1)
            else:
                ref_configs.extend((name, c, per_policy[name]) for c in dict.fromkeys(capacities))
        if ref_configs:
            bar.set_postfix_str(f"{len(ref_configs)} reference configurations", refresh=False)
            for r in _reference(source, ref_configs, bytes_mode=bytes_mode, warmup_n=warmup_n, seed=seed,
                                next_access_all=next_access_all):
                results[(r.policy, r.size)] = r
            bar.update(1)
    return ReplayResults(results[(name, c)] for name in names for c in capacities)


def replay_frame(source: TraceSource | str | PathLike[str], policies: str | Sequence[str],
                 sizes: SizeSpec | Sequence[SizeSpec], **kw: Any) -> Any:
    """:func:`replay` (same arguments) as a pandas DataFrame, one row per (policy, size)."""
    return replay(source, policies, sizes, **kw).to_frame()


# -------------------------------------------------------------- sources
def source_from_args(
    *,
    trace: str | PathLike[str] | None = None,
    format: str | None = None,
    synthetic: str | None = None,
    alpha: float | None = None,
    objects: int | None = None,
    requests: int | None = None,
    seed: int = 0,
    rate: float | None = None,
    trace_options: Mapping[str, Any] | None = None,
) -> TraceSource:
    """Build a trace source from command-line style arguments.

    Args:
        trace: a trace file path (exclusive with ``synthetic``).
        format: the trace format, or None to detect it from the file.
        synthetic: a synthetic workload kind: zipf, uniform, hotspot or shifting (Zipf whose popular set
            moves to a fresh random ranking every 100,000 requests; :class:`simcache.workloads.WorkloadSpec`).
        alpha: Zipf exponent (zipf and shifting; required there).
        objects: number of distinct objects (synthetic; required).
        requests: number of requests (synthetic; required).
        seed: seed of the synthetic generator.
        rate: synthetic only: Poisson arrivals at this many requests per second give each
            request a timestamp (time-aware policies such as Redis's read it); None: no times.
        trace_options: reader options for ``trace`` (e.g. csv column mapping); see ``open_trace``.
    """
    if (trace is None) == (synthetic is None):
        raise UsageError("give exactly one of --trace PATH or --synthetic KIND")
    if trace is not None:
        from simcache.traces import open_trace

        return open_trace(trace, format=format, **dict(trace_options or {}))
    if synthetic not in SYNTHETIC_KINDS:
        raise UsageError(f"unknown synthetic workload {synthetic!r}; valid kinds: {', '.join(SYNTHETIC_KINDS)}")
    if synthetic in ("zipf", "shifting") and alpha is None:
        raise UsageError(f"--synthetic {synthetic} needs --alpha (the Zipf exponent, e.g. 0.8)")
    if synthetic not in ("zipf", "shifting") and alpha is not None:
        raise UsageError(f"--alpha applies to --synthetic zipf and shifting only, not {synthetic!r}")
    for flag, value in (("--objects", objects), ("--requests", requests)):
        if value is None:
            raise UsageError(f"--synthetic {synthetic} needs {flag}")
        if value < 1:
            raise UsageError(f"{flag} must be >= 1, got {value}")
    from simcache.workloads import SyntheticTrace, WorkloadSpec

    kwargs: dict[str, Any] = {"kind": synthetic, "n_objects": int(objects)}  # type: ignore[arg-type]
    if alpha is not None:
        kwargs["alpha"] = float(alpha)
    if rate is not None:
        kwargs["rate"] = float(rate)
    try:
        spec = WorkloadSpec(**kwargs)
    except (TypeError, ValueError) as err:
        raise UsageError(f"bad synthetic workload: {err}") from None
    return SyntheticTrace(spec, int(requests), seed=seed)  # type: ignore[arg-type]


def chunks_of(ids: Sequence[int] | np.ndarray, sizes: Sequence[int] | np.ndarray | None = None,
              chunk_size: int = 65536, name: str = "memory") -> TraceSource:
    """An in-memory trace source over id (and size) arrays, chunked like a file reader."""
    return _ArraySource(np.asarray(ids, dtype=np.int64),
                        None if sizes is None else np.asarray(sizes, dtype=np.int64), chunk_size, name)


@dataclass
class _ArraySource:
    ids: np.ndarray
    sizes: np.ndarray | None
    chunk_size: int
    name: str

    def __len__(self) -> int:
        return int(len(self.ids))

    def iter_chunks(self) -> Iterator[Chunk]:
        for lo in range(0, len(self.ids), self.chunk_size):
            hi = lo + self.chunk_size
            yield Chunk(self.ids[lo:hi], None if self.sizes is None else self.sizes[lo:hi])
