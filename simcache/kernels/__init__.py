"""Fast trace replay: one compiled kernel per policy over numpy arrays of dense ids.

The kernels reproduce the reference policies in :mod:`simcache.policies` hit
for hit (the differential tests in ``tests/kernels`` check every one), compiled
with numba when it is installed and run as plain Python otherwise.  Raw ids
are mapped to dense ids once per chunk; every capacity keeps its own state and
the chunk is replayed through all of them (on threads: the compiled loops
release the GIL), so memory depends on the number of distinct objects, never
on the number of requests.  For LRU, FIFO, SIEVE and CLOCK a slot-hashed layout,
and for ARC, S3-FIFO and 2Q a slot-mapped one that also holds their ghost entries
(:mod:`simcache.kernels.hashed`), bounds it by the cached objects instead, chosen
per capacity when the dense state would cost more than 80 bytes per cached object.
The kernel modules load on the first lookup in :data:`KERNELS`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, cast

import numpy as np

from simcache.errors import UsageError
from simcache.kernels._jit import COMPILED, jit
from simcache.kernels.base import EMPTY_TIMES, KernelSpec, KernelState
from simcache.kernels.hashed import (
    BUDGET,
    HASHED,
    SLOTTED,
    dense_bytes_per_object,
    hashed_policies,
    make_hashed_state,
    new_hashed_state,
)
from simcache.kernels.remap import Remapper

#: requests per chunk when a trace is re-chunked (Belady) or given as arrays
CHUNK = 1 << 20
#: next-access value meaning "never requested again"
NEVER = np.iinfo(np.int64).max

class _Registry(Mapping[str, KernelSpec]):
    """The kernels by policy name, loaded on first use.

    Importing this package (the MRC functions do, and every CLI command that replays) loads no kernel
    module: each defines a few dozen compiled functions, and only a lookup needs them.
    """

    def __init__(self) -> None:
        self._specs: dict[str, KernelSpec] = {}
        self._loaded = False

    def _all(self) -> dict[str, KernelSpec]:
        if not self._loaded:
            self._loaded = True
            _load()
        return self._specs

    def __getitem__(self, name: str) -> KernelSpec:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


KERNELS = _Registry()


def _register(*specs: KernelSpec) -> None:
    for spec in specs:
        KERNELS._specs[spec.name] = spec  # noqa: SLF001 - the registry's own loader


def load_kernels() -> None:
    """Import every kernel module (registering its specs and slot layouts) if not done yet."""
    KERNELS._all()  # noqa: SLF001


#: kernel modules; each defines SPECS, a tuple of KernelSpec
_MODULES = ("lru", "clock", "sieve", "lfu", "belady", "arc", "s3fifo", "slru", "twoq", "lirs", "wtinylfu", "gdsf",
            "random_policy", "redis")


def _load() -> None:
    import importlib

    for name in _MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            continue
        _register(*mod.SPECS)
        for sspec in getattr(mod, "SLOT_SPECS", ()):
            SLOTTED[sspec.name] = sspec


def kernel_names() -> list[str]:
    """Policies that have a fast kernel, sorted."""
    return sorted(KERNELS)


def supports(policy: str, params: Mapping[str, Any], bytes_mode: bool) -> bool:
    """Whether a kernel reproduces ``policy`` with these parameters and capacity unit.

    Args:
        policy: registry name.
        params: the policy's keyword parameters (unknown ones mean unsupported).
        bytes_mode: capacity in bytes (True) or entries (False).
    """
    spec = KERNELS.get(policy)
    return spec is not None and spec.supports(params, bytes_mode)


def _spec(policy: str, params: Mapping[str, Any], bytes_mode: bool) -> KernelSpec:
    if not supports(policy, params, bytes_mode):
        unit = "bytes" if bytes_mode else "entries"
        raise UsageError(
            f"no fast kernel for policy {policy!r} with params {dict(params)!r} in {unit}; "
            f"kernels exist for: {', '.join(kernel_names())} (use --engine reference)"
        )
    return KERNELS[policy]


@jit
def next_access_indexes(ids: np.ndarray, n_objects: int) -> np.ndarray:
    """Global index of each request's next access to the same object (``NEVER`` when none), one backward pass."""
    out = np.empty(ids.shape[0], dtype=np.int64)
    last = np.full(n_objects, np.iinfo(np.int64).max, dtype=np.int64)
    for i in range(ids.shape[0] - 1, -1, -1):
        x = ids[i]
        out[i] = last[x]
        last[x] = i
    return out


_EMPTY_I64 = np.zeros(0, dtype=np.int64)


def catalogue_size(source: Any) -> int | None:
    """The id bound of a source whose ids are already dense (``0 <= id < n``), else None.

    A source says so with an integer ``n_objects`` attribute, or is a synthetic
    trace whose spec has ``n_objects`` and no scans (scans use fresh ids beyond it).
    """
    n = getattr(source, "n_objects", None)
    spec = getattr(source, "spec", None)
    if n is None and spec is not None and getattr(spec, "scan_fraction", 1.0) == 0.0:
        n = getattr(spec, "n_objects", None)
    if isinstance(n, int | np.integer) and not isinstance(n, bool) and 0 < n < 2**31:
        return int(n)
    return None


def _checked_ids(ids: np.ndarray, n_cat: int | None, base: int) -> np.ndarray:
    if n_cat is not None and ids.shape[0] and (int(ids.min()) < 0 or int(ids.max()) >= n_cat):
        raise UsageError(f"trace ids from request {base} on are outside the declared catalogue [0, {n_cat})")
    return ids


class DenseChunk(NamedTuple):
    """One chunk of a trace with dense ids, as the kernels read it (see :mod:`simcache.kernels.base`)."""

    ids: np.ndarray
    sizes: np.ndarray
    bsz: np.ndarray
    nxt: np.ndarray
    times: np.ndarray
    base: int
    n_objects: int


def _times(chunk: Any, need_time: bool) -> np.ndarray:
    """A chunk's request times for a kernel that reads them (zeros when the trace has none), else empty."""
    if not need_time:
        return EMPTY_TIMES
    if chunk.times is None:
        return np.zeros(len(chunk.ids), dtype=np.float64)
    return np.ascontiguousarray(chunk.times, dtype=np.float64)


def dense_chunks(
    source: Any, bytes_mode: bool, *, need_future: bool = False, need_raw: bool = False, need_time: bool = False
) -> Iterator[DenseChunk]:
    """Yield a :class:`DenseChunk` per chunk of a trace source, ids made dense.

    Args:
        source: a TraceSource (``iter_chunks()``); when it has an integer
            ``n_objects`` and ids already in ``[0, n_objects)`` (synthetic
            catalogues) the ids are used as they are.
        bytes_mode: sizes are the trace's byte sizes (True) or ones (False).
        need_future: also give next-access indexes; the whole trace is then
            held in memory (dense ids and sizes), as Belady needs the future.
        need_raw: give the chunk's raw ids (int64; uint64 ids keep their bits)
            in place of next-access indexes, for kernels that hash the original
            keys (W-TinyLFU); not combinable with ``need_future``.
        need_time: give the request times (``times``; empty otherwise).
    """
    if need_future and need_raw:
        raise ValueError("need_future and need_raw share one slot")
    n_cat = catalogue_size(source)
    # a declared catalogue's ids serve as dense ids, except when the whole trace is held for its future:
    # then (Belady) remapping is cheap beside it, and sizes the state by the objects requested, not declared
    remap = Remapper(None if need_future else n_cat)
    if not need_future:
        base = 0
        for chunk in source.iter_chunks():
            ids = remap.map(_checked_ids(chunk.ids, n_cat, base))
            bsz = np.ones(ids.shape[0], dtype=np.int64) if chunk.sizes is None else np.asarray(chunk.sizes, dtype=np.int64)
            sizes = bsz if bytes_mode else np.ones(ids.shape[0], dtype=np.int64)
            yield DenseChunk(ids, sizes, bsz, _raw_ids(chunk.ids) if need_raw else _EMPTY_I64,
                             _times(chunk, need_time), base, remap.n)
            base += ids.shape[0]
        return
    parts_ids: list[np.ndarray] = []
    parts_sz: list[np.ndarray | None] = []
    parts_tm: list[np.ndarray] = []
    for chunk in source.iter_chunks():
        parts_ids.append(remap.map(_checked_ids(chunk.ids, n_cat, sum(p.shape[0] for p in parts_ids))))
        parts_sz.append(None if chunk.sizes is None else np.asarray(chunk.sizes, dtype=np.int64))
        parts_tm.append(_times(chunk, need_time))
    ids = np.concatenate(parts_ids) if parts_ids else np.zeros(0, dtype=np.int32)
    if any(p is None for p in parts_sz):
        all_b = np.ones(ids.shape[0], dtype=np.int64)
    else:
        # no part is None on this branch
        all_b = np.concatenate(cast("list[np.ndarray]", parts_sz)) if parts_sz else np.zeros(0, dtype=np.int64)
    all_t = np.concatenate(parts_tm) if need_time and parts_tm else EMPTY_TIMES
    nxt = next_access_indexes(ids, max(remap.n, 1))
    for lo in range(0, ids.shape[0], CHUNK):
        hi = min(lo + CHUNK, ids.shape[0])
        bsz = all_b[lo:hi]
        sizes = bsz if bytes_mode else np.ones(hi - lo, dtype=np.int64)
        yield DenseChunk(ids[lo:hi], sizes, bsz, nxt[lo:hi], all_t[lo:hi] if need_time else EMPTY_TIMES, lo, remap.n)


def _raw_ids(raw: np.ndarray) -> np.ndarray:
    raw = np.ascontiguousarray(raw)
    if raw.dtype == np.uint64:
        return raw.view(np.int64)
    return raw.astype(np.int64, copy=False)


def warm_up(spec: KernelSpec, params: Mapping[str, Any], bytes_mode: bool) -> None:
    """Compile (or load from the on-disk cache) a kernel by running it on an empty chunk, so timings exclude it."""
    st = spec.new_state(1, params, bytes_mode)
    st.ensure(1)
    z64 = np.zeros(0, dtype=np.int64)
    st.run(np.zeros(0, dtype=np.int32), z64, z64, z64, 0, 0, np.zeros(0, dtype=np.int8), EMPTY_TIMES)


def _run_timed(st: KernelState, ids: np.ndarray, sizes: np.ndarray, bsz: np.ndarray, nxt: np.ndarray,
               times: np.ndarray, base: int, warmup: int, hitout: np.ndarray) -> None:
    t0 = time.perf_counter()
    st.run(ids, sizes, bsz, nxt, base, warmup, hitout, times)
    st.seconds += time.perf_counter() - t0


def _workers(n_caps: int) -> int:
    # threads only help when the compiled loops release the GIL
    return max(1, min(n_caps, os.cpu_count() or 1)) if COMPILED else 1


def replay_fast(
    source: Any,
    policy: str,
    capacities: Sequence[int],
    *,
    bytes_mode: bool,
    warmup: int = 0,
    params: Mapping[str, Any] | None = None,
    workers: int | None = None,
    seed: int | None = None,
    state: str = "auto",
) -> list[dict[str, Any]]:
    """Replay a trace through ``policy`` at each capacity with the fast kernel.

    Args:
        source: a TraceSource (streamed chunk by chunk).
        policy: registry name with a kernel (see :func:`supports`).
        capacities: cache sizes, entries or bytes.
        bytes_mode: capacities and object sizes in bytes (True) or entries (False).
        warmup: leading requests replayed but not counted.
        params: the policy's parameters.
        workers: threads replaying capacities in parallel (default: one per
            core when compiled; 1 otherwise).
        seed: for randomised policies (W-TinyLFU's sketch seeds), each capacity
            draws from ``simcache.replay.policy_seed(seed, policy, capacity)``,
            the stream the reference engine gives that (policy, size); None: the
            reference class's default generator, ``default_rng(0)``.
        state: kernel state layout: ``"dense"`` (arrays over every distinct
            object), ``"hashed"`` (slots for resident objects only, raw ids
            hashed in the loop; lru, fifo, sieve, clock, and arc, s3fifo, 2q with
            their ghosts) or ``"auto"``: hashed
            for a capacity whose dense state would exceed 80 bytes per cached
            object (distinct objects x per-object bytes > 64 x capacity) and
            :data:`DENSE_FLOOR` (64 MiB) in all -- below that the faster dense
            layout costs little memory -- judged
            up front from a declared catalogue, else as the remap counts
            distinct objects (the state then moves to the hashed layout).

    Returns one dict per capacity: capacity, requests, hits, misses, byte_hits,
    byte_misses, seconds (the kernel loop alone, summed over chunks), state
    (the layout that ran at the end: ``"dense"`` or ``"hashed"``), state_bytes
    (the final size of that state's arrays).
    """
    params = dict(params or {})
    spec = _spec(policy, params, bytes_mode)
    for c in capacities:
        if int(c) != c or c < 1:
            raise UsageError(f"capacity must be an integer >= 1, got {c!r}")
    plan = _plan(source, spec, [int(c) for c in capacities], state)
    states = [_new_state(spec, int(c), params, bytes_mode, how, _policy_rng(seed, policy, int(c)) if spec.seeded
                         else None) for c, how in zip(capacities, plan, strict=True)]
    empty = np.zeros(0, dtype=np.int8)
    warm_up(spec, params, bytes_mode)
    if "dense" not in plan or "auto" in plan:
        _warm_up_hashed(spec, params, bytes_mode)
    workers = _workers(len(states)) if workers is None else max(1, min(int(workers), len(states)))
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        for chunk_states, sizes, bsz, nxt, times, base in _stream(source, spec, states, plan, bytes_mode):
            if pool is None:
                for st, ids in chunk_states:
                    _run_timed(st, ids, sizes, bsz, nxt, times, base, warmup, empty)
            else:
                futs = [pool.submit(_run_timed, st, ids, sizes, bsz, nxt, times, base, warmup, empty)
                        for st, ids in chunk_states]
                for f in futs:
                    f.result()
    finally:
        if pool is not None:
            pool.shutdown()
    return [_result(st) for st in states]


_LAYOUTS = ("auto", "dense", "hashed")


def object_count_hint(source: Any) -> int | None:
    """Objects a source declares (``n_objects`` on it or its synthetic spec), a lower bound when it adds scans."""
    n = getattr(source, "n_objects", None)
    if n is None:
        n = getattr(getattr(source, "spec", None), "n_objects", None)
    if isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0:
        return int(n)
    return None


#: below this much dense state in all, auto keeps the dense layout: it is 2-4x faster and costs little memory
DENSE_FLOOR = 64 << 20


def _over_budget(n_objects: int, bytes_per_object: int, capacity: int) -> bool:
    """Whether dense state for ``n_objects`` exceeds both :data:`BUDGET` per cached object and :data:`DENSE_FLOOR`."""
    dense = n_objects * bytes_per_object
    return dense > BUDGET * capacity and dense > DENSE_FLOOR


def _plan(source: Any, spec: KernelSpec, capacities: list[int], state: str) -> list[str]:
    """Per capacity: "dense", "hashed", or "auto" (dense until the distinct count says hashed)."""
    if state not in _LAYOUTS:
        raise UsageError(f"state must be one of {', '.join(_LAYOUTS)}, got {state!r}")
    # a needs_raw kernel's bounded layout reads the raw ids it is given in place of dense ones
    hashable = spec.name in hashed_policies() and not spec.needs_future
    if state == "hashed" and not hashable:
        raise UsageError(f"no hashed kernel for policy {spec.name!r}; hashed kernels exist for: "
                         f"{', '.join(hashed_policies())} (use state='dense')")
    if state != "auto" or not hashable:
        return [state if state != "auto" else "dense"] * len(capacities)
    hint = object_count_hint(source)
    exact = catalogue_size(source) is not None
    bpo = dense_bytes_per_object(spec)
    out = []
    for c in capacities:
        if hint is not None and _over_budget(hint, bpo, c):
            out.append("hashed")
        else:
            out.append("dense" if exact else "auto")
    return out


def _new_state(spec: KernelSpec, capacity: int, params: Mapping[str, Any], bytes_mode: bool, how: str,
               rng: np.random.Generator | None) -> Any:
    if how == "hashed":
        return new_hashed_state(spec, capacity, params, bytes_mode, rng)
    return spec.new_state(capacity, params, bytes_mode, rng=rng)


def _warm_up_hashed(spec: KernelSpec, params: Mapping[str, Any], bytes_mode: bool) -> None:
    st = new_hashed_state(spec, 1, params, bytes_mode)
    z64 = np.zeros(0, dtype=np.int64)
    st.run(z64, z64, z64, z64, 0, 0, np.zeros(0, dtype=np.int8), EMPTY_TIMES)


def _raw_of(remap: Remapper) -> np.ndarray:
    """Raw id of every dense id so far (the remap's table inverted)."""
    out = np.zeros(remap.n, dtype=np.int64)
    used = remap._vals >= 0  # noqa: SLF001 - the table is the only record of the raw ids
    out[remap._vals[used]] = remap._keys[used]  # noqa: SLF001
    return out


def _stream(source: Any, spec: KernelSpec, states: list[Any], plan: list[str],
            bytes_mode: bool) -> Iterator[tuple[list[tuple[Any, np.ndarray]], np.ndarray, np.ndarray, np.ndarray,
                                                np.ndarray, int]]:
    """Yield ``([(state, ids it reads)], sizes, bsz, nxt, times, base)`` per chunk: dense ids or raw ids by layout.

    States planned "auto" move to the hashed layout (taking over their residents) before the first chunk
    at which the distinct objects seen make their dense state cost more than the budget; the remap stops
    once no state reads dense ids.
    """
    if spec.needs_future or all(p == "dense" for p in plan):
        for dc in dense_chunks(source, bytes_mode, need_future=spec.needs_future, need_raw=spec.needs_raw,
                               need_time=spec.needs_time):
            for st in states:
                st.ensure(dc.n_objects)
            yield [(st, dc.ids) for st in states], dc.sizes, dc.bsz, dc.nxt, dc.times, dc.base
        return
    n_cat = catalogue_size(source)
    pending = [p == "auto" for p in plan]
    remap: Remapper | None = Remapper(n_cat) if any(p != "hashed" for p in plan) else None
    bpo = dense_bytes_per_object(spec)
    base = 0
    for chunk in source.iter_chunks():
        raw = _raw_ids(_checked_ids(chunk.ids, n_cat, base))
        m = raw.shape[0]
        bsz = np.ones(m, dtype=np.int64) if chunk.sizes is None else np.asarray(chunk.sizes, dtype=np.int64)
        sizes = bsz if bytes_mode else np.ones(m, dtype=np.int64)
        ids = _EMPTY_I64
        if remap is not None:
            ids = remap.map(raw)
            raw_of = None
            for j, st in enumerate(states):
                if pending[j] and _over_budget(remap.n, bpo, st.capacity):
                    raw_of = _raw_of(remap) if raw_of is None else raw_of
                    hst = make_hashed_state(spec, st.capacity, st.sc, st.fp)
                    hst.adopt(st, raw_of)
                    states[j] = hst
                    pending[j] = False
            if all(getattr(st, "layout", "dense") == "hashed" for st in states):
                remap = None  # nothing reads dense ids any more: stop remapping and free the table
            else:
                for st in states:
                    if getattr(st, "layout", "dense") == "dense":
                        st.ensure(remap.n)
        nxt = raw if spec.needs_raw else _EMPTY_I64  # a dense needs_raw kernel reads the raw ids there
        yield [(st, raw if getattr(st, "layout", "dense") == "hashed" else ids) for st in states], sizes, bsz, \
            nxt, _times(chunk, spec.needs_time), base
        base += m


def _policy_rng(seed: int | None, policy: str, capacity: int) -> np.random.Generator | None:
    if seed is None:
        return None
    from simcache.replay import policy_seed  # imported late: simcache.replay imports this package lazily too

    return policy_seed(seed, policy, capacity)


def _result(st: Any) -> dict[str, Any]:
    hits, misses, bh, bm = (int(v) for v in st.cnt)
    return {
        "capacity": st.capacity,
        "requests": hits + misses,
        "hits": hits,
        "misses": misses,
        "byte_hits": bh,
        "byte_misses": bm,
        "seconds": st.seconds,
        "state": getattr(st, "layout", "dense"),
        "state_bytes": st.nbytes(),
    }


class ArraySource:
    """A TraceSource over in-memory arrays of raw ids (and optional sizes), chunked.

    Args:
        ids: raw object ids (any integers).
        sizes: byte sizes, or None for unit sizes.
        name: label.
        chunk: requests per chunk.
        times: request times in seconds, or None for an untimed trace.
    """

    def __init__(self, ids: np.ndarray, sizes: np.ndarray | None = None, *, name: str = "arrays",
                 chunk: int = CHUNK, times: np.ndarray | None = None) -> None:
        from simcache.traces.base import Chunk

        self._chunk_cls = Chunk
        self.ids = np.asarray(ids, dtype=np.int64)
        self.sizes = None if sizes is None else np.asarray(sizes, dtype=np.int64)
        self.times = None if times is None else np.asarray(times, dtype=np.float64)
        self.name = name
        self.chunk = chunk

    def iter_chunks(self) -> Iterator[Any]:
        for lo in range(0, self.ids.shape[0], self.chunk):
            hi = lo + self.chunk
            yield self._chunk_cls(self.ids[lo:hi], None if self.sizes is None else self.sizes[lo:hi],
                                  None if self.times is None else self.times[lo:hi])


def hit_sequence(
    policy: str,
    ids: np.ndarray,
    sizes: np.ndarray | None,
    capacity: int,
    *,
    bytes_mode: bool,
    params: Mapping[str, Any] | None = None,
    chunk: int = CHUNK,
    rng: np.random.Generator | None = None,
    state: str = "dense",
    times: np.ndarray | None = None,
) -> np.ndarray:
    """Per-request hit (True) / miss (False) array of one kernel run, for differential tests.

    Args:
        policy: registry name with a kernel.
        ids: raw object ids.
        sizes: byte sizes (None: unit sizes).
        capacity: entries or bytes.
        bytes_mode: capacity in bytes.
        params: policy parameters.
        chunk: requests per chunk (small values exercise state carried across chunks).
        rng: the generator the reference class would get (seeded kernels only; None: ``default_rng(0)``).
        state: layout as in :func:`replay_fast` (default: the dense kernels).
        times: request times in seconds (None: all 0, as the reference replays an untimed trace).
    """
    params = dict(params or {})
    spec = _spec(policy, params, bytes_mode)
    src = ArraySource(ids, sizes, chunk=chunk, times=times)
    plan = _plan(src, spec, [int(capacity)], state)
    states = [_new_state(spec, int(capacity), params, bytes_mode, plan[0], rng)]
    out = np.zeros(len(src.ids), dtype=np.int8)
    for chunk_states, c_sizes, bsz, nxt, c_times, base in _stream(src, spec, states, plan, bytes_mode):
        for st, c_ids in chunk_states:
            st.run(c_ids, c_sizes, bsz, nxt, base, 0, out[base : base + c_sizes.shape[0]], c_times)
    return out.astype(bool)


__all__ = ["COMPILED", "HASHED", "KERNELS", "ArraySource", "DenseChunk", "dense_chunks", "hit_sequence", "kernel_names", "load_kernels",
           "object_count_hint", "replay_fast", "supports"]
