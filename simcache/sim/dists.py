"""Distributions of times and sizes, drawn in batches from a component's own stream.

A :class:`Dist` is a frozen description (``Dist.parse("lognormal:0.0005,0.5")``);
``dist.sampler(rng)`` returns a zero-argument callable that hands out one draw
at a time from a pre-drawn numpy batch, because one numpy call per draw would
dominate a simulation's cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simcache.errors import UsageError

Sampler = Callable[[], float]

KINDS = ("constant", "uniform", "exponential", "lognormal", "empirical")
_ALIASES = {"const": "constant", "fixed": "constant", "det": "constant", "exp": "exponential", "lognorm": "lognormal",
            "uni": "uniform", "emp": "empirical"}


@dataclass(frozen=True)
class Dist:
    """A non-negative distribution.

    Args:
        kind: one of constant (a), uniform (a..b), exponential (mean a),
            lognormal (median a, sigma b), empirical (values drawn uniformly).
        a, b: the parameters above.
        values: the empirical sample.
    """

    kind: str
    a: float = 0.0
    b: float = 0.0
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"distribution kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "empirical":
            if not self.values or min(self.values) < 0:
                raise UsageError("empirical distribution needs at least one value, all >= 0")
        elif self.a < 0 or self.b < 0 or not math.isfinite(self.a) or not math.isfinite(self.b):
            raise UsageError(f"{self.kind} distribution parameters must be finite and >= 0, got {self.a}, {self.b}")
        if self.kind == "uniform" and self.b < self.a:
            raise UsageError(f"uniform distribution needs low <= high, got {self.a}, {self.b}")
        if self.kind in ("exponential", "lognormal") and self.a <= 0:
            raise UsageError(f"{self.kind} distribution needs a mean/median > 0, got {self.a}")

    @classmethod
    def parse(cls, text: str | float | Dist) -> Dist:
        """Parse ``"kind:p1,p2"`` (or a bare number: a constant)."""
        if isinstance(text, Dist):
            return text
        if isinstance(text, int | float):
            return cls("constant", float(text))
        s = str(text).strip()
        kind, _, rest = s.partition(":")
        kind = _ALIASES.get(kind.strip().lower(), kind.strip().lower())
        try:
            if not rest:
                return cls("constant", float(kind))
            nums = [float(x) for x in rest.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"cannot read distribution {s!r}; expected e.g. 'exp:0.001', 'lognormal:0.001,0.5', "
                             "'uniform:0.001,0.002', 'const:0.001', 'empirical:0.1,0.2'") from None
        if kind == "empirical":
            return cls("empirical", values=tuple(nums))
        need = {"constant": 1, "exponential": 1, "uniform": 2, "lognormal": 2}.get(kind)
        if need is None:
            raise UsageError(f"distribution kind must be one of {', '.join(KINDS)}, got {kind!r} in {s!r}")
        if len(nums) != need:
            raise UsageError(f"{kind} distribution takes {need} parameter(s), got {len(nums)} in {s!r}")
        if need == 1:
            return cls(kind, nums[0])
        return cls(kind, nums[0], nums[1])

    def mean(self) -> float:
        """The distribution's mean."""
        if self.kind in ("constant", "exponential"):
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "lognormal":
            return self.a * math.exp(self.b**2 / 2)
        return float(np.mean(self.values))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws as a numpy array."""
        if self.kind == "constant":
            return np.full(n, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, n)
        if self.kind == "exponential":
            return rng.exponential(self.a, n)
        if self.kind == "lognormal":
            return rng.lognormal(math.log(self.a), self.b, n)
        return rng.choice(np.asarray(self.values, dtype=float), n)

    def sampler(self, rng: np.random.Generator, batch: int = 2048) -> Sampler:
        """A callable returning one draw per call, refilled ``batch`` draws at a time."""
        if self.kind == "constant" or (self.kind == "uniform" and self.a == self.b):
            v = float(self.a)
            return lambda: v
        buf: list[float] = []

        def draw() -> float:
            if not buf:
                buf.extend(self.draw(rng, batch)[::-1].tolist())
            return buf.pop()

        return draw

    def __str__(self) -> str:
        if self.kind == "empirical":
            return "empirical:" + ",".join(f"{v:g}" for v in self.values)
        if self.kind in ("constant", "exponential"):
            return f"{self.kind}:{self.a:g}"
        return f"{self.kind}:{self.a:g},{self.b:g}"


def check_dists(params: object, *fields: str) -> None:
    """Parse each named field of a model's parameters as a distribution; a bad one raises ``ValueError`` naming
    the field (``"db_read: ..."``), as a parameter dataclass's ``__post_init__`` reports errors."""
    for f in fields:
        try:
            Dist.parse(getattr(params, f))
        except UsageError as err:
            raise ValueError(f"{f}: {err}") from None


def constant(v: float) -> Dist:
    """A constant."""
    return Dist("constant", v)


def exponential(mean: float) -> Dist:
    """Exponential with the given mean."""
    return Dist("exponential", mean)


def uniform(lo: float, hi: float) -> Dist:
    """Uniform on [lo, hi]."""
    return Dist("uniform", lo, hi)


def lognormal(median: float, sigma: float) -> Dist:
    """Lognormal with the given median and log-space sigma."""
    return Dist("lognormal", median, sigma)


def empirical(values: list[float] | tuple[float, ...]) -> Dist:
    """Draws uniformly from observed values."""
    return Dist("empirical", values=tuple(float(v) for v in values))


def uniform_sampler(rng: np.random.Generator, batch: int = 2048) -> Sampler:
    """Uniform(0, 1) draws, batched."""
    return Dist("uniform", 0.0, 1.0).sampler(rng, batch)
