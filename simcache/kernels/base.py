"""What a kernel is: a compiled loop plus the description of its state arrays.

Every kernel function has the signature::

    fn(ids, sizes, bsz, nxt, times, base, warmup, cnt, hitout, cap, sc, fp, *arrays)

``ids`` are dense int32 ids of one chunk, ``sizes`` the sizes in capacity units
(ones when capacity counts entries), ``bsz`` the byte sizes counted in
byte_hits/byte_misses, ``nxt`` the global index of each request's next access
(only Belady reads it), or for a kernel with ``needs_raw`` the chunk's raw int64
ids (W-TinyLFU hashes the original keys), an empty array otherwise; ``times`` the float64 request
times in seconds for a kernel with ``needs_time`` (zeros when the trace has none, as the reference
replay gives), an empty array otherwise; ``base`` the global index of
the chunk's first request, ``warmup`` how many leading requests go uncounted,
``cnt`` the int64 counters [hits, misses, byte_hits, byte_misses], ``hitout``
an int8 per-request hit array (empty when not wanted), ``cap`` the capacity,
``sc`` int64 scalars (list heads, occupancy, integer parameters), ``fp``
float64 parameters, then the per-object and fixed arrays.  State persists
between calls, so a trace streams through chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from simcache.errors import KernelLimit

#: the ``times`` of a kernel that reads none
EMPTY_TIMES = np.zeros(0, dtype=np.float64)
#: per-object array: (name, dtype, fill value) or (name, dtype, fill value, width) for an (n, width) array
ObjArray = tuple[Any, ...]
#: what a kernel's ``init`` returns: ``(sc, fp, fixed_arrays)``
InitResult = tuple[np.ndarray, np.ndarray, list[Any]]
#: ``init(capacity, params, bytes_mode)`` of an unseeded kernel
PlainInit = Callable[[int, Mapping[str, Any], bool], InitResult]
#: ``init(capacity, params, bytes_mode, rng)`` of a seeded kernel (``KernelSpec.seeded``)
SeededInit = Callable[[int, Mapping[str, Any], bool, np.random.Generator], InitResult]


@dataclass(frozen=True)
class KernelSpec:
    """A replay kernel for one registered policy.

    Args:
        name: the policy's registry name.
        fn: the (possibly compiled) kernel loop.
        params: the reference policy's parameters this kernel implements, with defaults.
        init: builds ``(sc, fp, fixed_arrays)`` from (capacity, params, bytes_mode).
        obj_arrays: per-object arrays indexed by dense id, grown as new ids appear.
        needs_future: the kernel reads next-access indexes (Belady).
        check: optional extra validation of params/bytes_mode; returns False when unsupported.
        needs_raw: the kernel reads the chunk's raw ids (in the ``nxt`` argument).
        seeded: ``init`` takes a fourth argument, the cache's ``numpy.random.Generator``,
            from which it draws what the reference class draws at construction.
        needs_time: the kernel reads each request's time (``times``), as a time-aware
            reference policy (``uses_time``) reads ``now``.
        stop_slot: ``sc[stop_slot]``, -1 while the kernel can go on exactly; otherwise the global index
            of the request it stopped before, because int64 state would overflow there (the reference's
            Python integers do not): the run raises :class:`~simcache.errors.KernelLimit` saying so.
        stop_reason: what overflows, for that message.
    """

    name: str
    fn: Callable[..., None]
    params: Mapping[str, Any]
    init: PlainInit | SeededInit
    obj_arrays: tuple[ObjArray, ...]
    needs_future: bool = False
    check: Callable[[Mapping[str, Any], bool], bool] | None = None
    #: fixed arrays whose length follows the number of objects (e.g. a heap), grown like obj_arrays
    grow_fixed: tuple[tuple[int, int], ...] = field(default=())
    needs_raw: bool = False
    seeded: bool = False
    needs_time: bool = False
    stop_slot: int | None = None
    stop_reason: str = ""

    def check_stopped(self, sc: np.ndarray) -> None:
        """Raise :class:`~simcache.errors.KernelLimit` when a run stopped short (see ``stop_slot``)."""
        if self.stop_slot is not None and sc[self.stop_slot] >= 0:
            raise KernelLimit(f"policy {self.name!r}: {self.stop_reason} at request {int(sc[self.stop_slot])}, "
                             f"beyond the compiled kernel's int64 state; replay it with --engine reference")

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``params``; raises KeyError on a parameter the kernel does not know.

        ``variant`` is known to every kernel: one that does not list it (libCacheSim agrees
        with the paper there) drops it.
        """
        out = dict(self.params)
        for k, v in params.items():
            if k == "variant" and k not in out:
                continue
            if k not in out:
                raise KeyError(k)
            out[k] = v
        return out

    def supports(self, params: Mapping[str, Any], bytes_mode: bool) -> bool:
        """Whether this kernel reproduces the reference policy with these parameters."""
        if any(k not in self.params and k != "variant" for k in params):
            return False
        if params.get("variant", "paper") not in ("paper", "libcachesim"):
            return False  # the reference class reports the bad value
        if self.check is None:
            return True
        try:
            return bool(self.check(self.resolve(params), bytes_mode))
        except (TypeError, ValueError):  # a malformed value: the reference class reports it properly
            return False

    def new_state(self, capacity: int, params: Mapping[str, Any], bytes_mode: bool,
                  rng: np.random.Generator | None = None) -> KernelState:
        """Fresh state for one cache of ``capacity`` units.

        Args:
            capacity: entries or bytes.
            params: the policy's parameters.
            bytes_mode: capacity in bytes.
            rng: for a seeded kernel, the generator the reference class would get
                (None: ``default_rng(0)``, the reference's own default).
        """
        if self.seeded:
            gen = rng if rng is not None else np.random.default_rng(0)
            # ``seeded`` is what tells the two init signatures apart
            sc, fp, fixed = cast(SeededInit, self.init)(int(capacity), self.resolve(params), bytes_mode, gen)
        else:
            sc, fp, fixed = cast(PlainInit, self.init)(int(capacity), self.resolve(params), bytes_mode)
        return KernelState(self, int(capacity), sc, fp, fixed)


class KernelState:
    """The arrays of one running cache: grows with the number of distinct objects, never with requests."""

    def __init__(self, spec: KernelSpec, capacity: int, sc: np.ndarray, fp: np.ndarray, fixed: list[Any]) -> None:
        self.spec = spec
        self.capacity = capacity
        self.sc = sc
        self.fp = fp
        self.fixed = fixed
        self.obj = [np.full(_shape(0, a), a[2], dtype=a[1]) for a in spec.obj_arrays]
        self.cnt = np.zeros(4, dtype=np.int64)
        self.seconds = 0.0

    @property
    def n_objects(self) -> int:
        return self.obj[0].shape[0] if self.obj else 0

    def ensure(self, n: int) -> None:
        """Make room for dense ids below ``n`` (amortised doubling)."""
        have = self.n_objects
        if n <= have:
            return
        new = max(n, have + have // 2)
        for j, a in enumerate(self.spec.obj_arrays):
            grown = np.full(_shape(new, a), a[2], dtype=a[1])
            grown[:have] = self.obj[j]
            self.obj[j] = grown
        for j, fill in self.spec.grow_fixed:
            old = self.fixed[j]
            grown = np.full((new, *old.shape[1:]), fill, dtype=old.dtype)
            grown[: old.shape[0]] = old
            self.fixed[j] = grown

    def nbytes(self) -> int:
        """Bytes held by this state's arrays."""
        # a fixed entry may be a numpy Generator (the random kernel's stream): it holds no array
        return int(sum(a.nbytes for a in self.obj) + sum(getattr(a, "nbytes", 0) for a in self.fixed)
                   + self.sc.nbytes + self.fp.nbytes)

    def run(
        self,
        ids: np.ndarray,
        sizes: np.ndarray,
        bsz: np.ndarray,
        nxt: np.ndarray,
        base: int,
        warmup: int,
        hitout: np.ndarray,
        times: np.ndarray = EMPTY_TIMES,
    ) -> None:
        """Replay one chunk of dense ids through this cache (``times``: request times, for ``needs_time``)."""
        self.spec.fn(ids, sizes, bsz, nxt, times, base, warmup, self.cnt, hitout, self.capacity, self.sc, self.fp,
                     *self.obj, *self.fixed)
        self.spec.check_stopped(self.sc)


def _shape(n: int, a: ObjArray) -> int | tuple[int, int]:
    return (n, int(a[3])) if len(a) > 3 else n
