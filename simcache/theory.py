"""Analytic models: cache hit ratios under the independent reference model, and queueing formulas.

All are typed pure functions on numpy arrays. ``pdf`` is a popularity
distribution (request probabilities per object, summing to 1) and ``size``
the cache capacity in objects.

* LRU: Che, Tung & Wang (2002), the characteristic-time approximation.
* FIFO and RANDOM: Gelenbe (1973) showed they have the same IRM hit ratio;
  Martina, Garetto & Leonardi (2014) give the Che-style approximation
  ``h_i = p_i T / (1 + p_i T)``.
* TTL caches: Fofack, Nain, Neglia & Towsley (2012).
* Static LFU: the ``size`` most popular objects stay resident.
* Queues: M/M/1, M/M/c (Erlang C), M/D/1 and M/G/1 (Pollaczek-Khinchine).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq


def _pdf(pdf: np.ndarray) -> np.ndarray:
    p = np.asarray(pdf, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"pdf must be a non-empty 1-D array, got shape {p.shape}")
    if (p < 0).any() or not np.isfinite(p).all():
        raise ValueError("pdf must hold finite non-negative probabilities")
    total = p.sum()
    if not abs(total - 1.0) < 1e-6:
        raise ValueError(f"pdf must sum to 1, sums to {total!r}")
    return p


def _size(size: float) -> float:
    if not (math.isfinite(size) and size >= 0):
        raise ValueError(f"size must be a finite number >= 0, got {size!r}")
    return float(size)


def _solve_occupancy(p: np.ndarray, size: float, occupancy: object) -> float:
    """T such that sum(occupancy(p*T)) == size (the cache is full on average)."""
    hi = 1.0 / p.max()
    while occupancy(p * hi).sum() < size:  # type: ignore[operator]
        hi *= 2.0
    return float(brentq(lambda t: occupancy(p * t).sum() - size, 0.0, hi, xtol=1e-12 * hi, rtol=1e-14, maxiter=500))  # type: ignore[operator]


def _lru_occ(x: np.ndarray) -> np.ndarray:
    return -np.expm1(-x)


def _fifo_occ(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + x)


def _characteristic_time(pdf: np.ndarray, size: float, occ: Callable[[np.ndarray], np.ndarray]) -> float:
    """T solving sum(occ(p_i T)) = size; 0 for an empty cache, inf when every requested object fits."""
    p = _pdf(pdf)
    c = _size(size)
    if c == 0:
        return 0.0
    if c >= np.count_nonzero(p):
        return math.inf
    return _solve_occupancy(p, c, occ)


def _object_hit_ratios(pdf: np.ndarray, size: float, occ: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per-object hit probabilities occ(p_i T) at the characteristic time of ``occ``."""
    p = _pdf(pdf)
    t = _characteristic_time(p, size, occ)
    if math.isinf(t):
        return (p > 0).astype(np.float64)
    return occ(p * t)


def che_characteristic_time(pdf: np.ndarray, size: float) -> float:
    """Che's characteristic time T of an LRU cache: sum(1 - exp(-p_i T)) = size (in requests).

    Args:
        pdf: object request probabilities (sum to 1).
        size: capacity in objects; ``inf`` when every requested object fits.
    """
    return _characteristic_time(pdf, size, _lru_occ)


def che_object_hit_ratios(pdf: np.ndarray, size: float) -> np.ndarray:
    """Per-object LRU hit probabilities 1 - exp(-p_i T) (Che's approximation).

    Args:
        pdf: object request probabilities.
        size: capacity in objects.
    """
    return _object_hit_ratios(pdf, size, _lru_occ)


def che_hit_ratio(pdf: np.ndarray, size: float) -> float:
    """LRU hit ratio by Che's approximation: sum p_i (1 - exp(-p_i T)).

    Args:
        pdf: object request probabilities.
        size: capacity in objects.
    """
    p = _pdf(pdf)
    return float(np.dot(p, che_object_hit_ratios(p, size)))


def fifo_characteristic_time(pdf: np.ndarray, size: float) -> float:
    """T of the FIFO/RANDOM approximation: sum p_i T / (1 + p_i T) = size.

    Args:
        pdf: object request probabilities.
        size: capacity in objects.
    """
    return _characteristic_time(pdf, size, _fifo_occ)


def fifo_object_hit_ratios(pdf: np.ndarray, size: float) -> np.ndarray:
    """Per-object FIFO/RANDOM hit probabilities p_i T / (1 + p_i T).

    Args:
        pdf: object request probabilities.
        size: capacity in objects.
    """
    return _object_hit_ratios(pdf, size, _fifo_occ)


def fifo_hit_ratio(pdf: np.ndarray, size: float) -> float:
    """FIFO hit ratio under IRM (Gelenbe 1973; Martina et al. 2014 approximation).

    Args:
        pdf: object request probabilities.
        size: capacity in objects.
    """
    p = _pdf(pdf)
    return float(np.dot(p, fifo_object_hit_ratios(p, size)))


def random_hit_ratio(pdf: np.ndarray, size: float) -> float:
    """RANDOM-eviction hit ratio under IRM: equal to FIFO's (Gelenbe 1973).

    Args:
        pdf: object request probabilities.
        size: capacity in objects.
    """
    return fifo_hit_ratio(pdf, size)


def lfu_hit_ratio(pdf: np.ndarray, size: float) -> float:
    """Static (perfect) LFU hit ratio: the probability mass of the ``size`` most popular objects.

    Args:
        pdf: object request probabilities.
        size: capacity in objects (a fractional part counts as that fraction of the next object).
    """
    p = _pdf(pdf)
    c = _size(size)
    top = np.sort(p)[::-1]
    whole = int(min(math.floor(c), top.size))
    mass = float(top[:whole].sum())
    if whole < top.size:
        mass += (c - whole) * float(top[whole])
    return min(mass, 1.0)


def ttl_object_hit_ratios(rates: np.ndarray, ttl: float | np.ndarray, reset_on_hit: bool) -> np.ndarray:
    """Per-object hit probability of a TTL cache fed by Poisson requests (Fofack et al. 2012).

    Args:
        rates: request rate of each object (requests per second).
        ttl: time to live in seconds (a scalar or one per object).
        reset_on_hit: True when a hit restarts the timer (hit iff the previous request was
            within ``ttl``: 1 - exp(-rate*ttl)); False when the timer starts at the miss that
            inserts the object (a renewal cycle of one miss and rate*ttl hits: rate*ttl / (1 + rate*ttl)).
    """
    lam = np.asarray(rates, dtype=np.float64)
    t = np.asarray(ttl, dtype=np.float64)
    if (lam < 0).any() or not np.isfinite(lam).all():
        raise ValueError("rates must be finite and >= 0")
    if (t < 0).any():
        raise ValueError("ttl must be >= 0")
    x = lam * t
    if reset_on_hit:
        return -np.expm1(-x)
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(x), 1.0, x / (1.0 + x))


def ttl_hit_ratio(rates: np.ndarray, ttl: float | np.ndarray, reset_on_hit: bool) -> float:
    """Overall hit ratio of a TTL cache: per-object hit probabilities averaged by request rate.

    Args:
        rates: request rate of each object (requests per second).
        ttl: time to live in seconds (scalar or per object).
        reset_on_hit: whether a hit restarts the timer (see :func:`ttl_object_hit_ratios`).
    """
    lam = np.asarray(rates, dtype=np.float64)
    total = lam.sum()
    if not total > 0:
        raise ValueError("rates must not all be zero")
    return float(np.dot(lam, ttl_object_hit_ratios(lam, ttl, reset_on_hit)) / total)


def ttl_occupancy(rates: np.ndarray, ttl: float, reset_on_hit: bool) -> float:
    """Expected number of objects resident in an (unbounded) TTL cache.

    Args:
        rates: request rate of each object.
        ttl: time to live in seconds.
        reset_on_hit: whether a hit restarts the timer.
    """
    lam = np.asarray(rates, dtype=np.float64)
    x = lam * ttl
    if reset_on_hit:
        return float((-np.expm1(-x)).sum())
    return float((x / (1.0 + x)).sum())


# --------------------------------------------------------------------------- queues
def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _stable(lam: float, capacity: float, what: str) -> None:
    if lam >= capacity:
        raise ValueError(f"lam must be < {what} = {capacity:g} for a stable queue, got lam={lam:g}")


def mm1_response_time(lam: float, mu: float) -> float:
    """Mean response time (wait + service) of an M/M/1 queue: 1 / (mu - lam).

    Args:
        lam: arrival rate.
        mu: service rate.
    """
    lam, mu = _positive("lam", lam), _positive("mu", mu)
    _stable(lam, mu, "mu")
    return 1.0 / (mu - lam)


def mmc_erlang_c(lam: float, mu: float, c: int) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C).

    Args:
        lam: arrival rate.
        mu: service rate of one server.
        c: number of servers.
    """
    lam, mu = _positive("lam", lam), _positive("mu", mu)
    if isinstance(c, bool) or int(c) != c or c < 1:
        raise ValueError(f"c must be an integer >= 1, got {c!r}")
    c = int(c)
    _stable(lam, c * mu, "c*mu")
    a = lam / mu
    # Erlang B by its stable recursion, then C = B / (1 - rho (1 - B))
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


def mmc_response_time(lam: float, mu: float, c: int) -> float:
    """Mean response time of an M/M/c queue: C(c, a) / (c mu - lam) + 1/mu.

    Args:
        lam: arrival rate.
        mu: service rate of one server.
        c: number of servers.
    """
    pw = mmc_erlang_c(lam, mu, c)
    return pw / (int(c) * mu - lam) + 1.0 / mu


def mg1_response_time(lam: float, mean_s: float, scv_s: float) -> float:
    """Mean response time of an M/G/1 queue (Pollaczek-Khinchine): lam E[S^2] / (2 (1 - rho)) + E[S].

    Args:
        lam: arrival rate.
        mean_s: mean service time.
        scv_s: squared coefficient of variation of the service time (0 deterministic, 1 exponential).
    """
    lam, mean_s = _positive("lam", lam), _positive("mean_s", mean_s)
    if not (isinstance(scv_s, int | float) and math.isfinite(scv_s) and scv_s >= 0):
        raise ValueError(f"scv_s must be a finite number >= 0, got {scv_s!r}")
    _stable(lam, 1.0 / mean_s, "1/mean_s")
    rho = lam * mean_s
    es2 = mean_s * mean_s * (1.0 + scv_s)
    return lam * es2 / (2.0 * (1.0 - rho)) + mean_s


def md1_response_time(lam: float, mu: float) -> float:
    """Mean response time of an M/D/1 queue: rho / (2 mu (1 - rho)) + 1/mu.

    Args:
        lam: arrival rate.
        mu: service rate (service time is exactly 1/mu).
    """
    mu = _positive("mu", mu)
    return mg1_response_time(lam, 1.0 / mu, 0.0)
