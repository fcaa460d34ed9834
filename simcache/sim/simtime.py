"""The ``time`` module of a simulated host: ``time()`` reads its clock, ``sleep()`` waits in simulated time.

The seed's snippets call ``time.time()`` and ``time.sleep(...)``; run in the
simulation they read ``clock.time()`` and ``yield clock.sleep(...)``, where
``clock`` is the :class:`HostClock` of the host the code runs on.  A host's
clock is the simulation's clock plus an ``offset`` (a wall clock that is
ahead or behind) and a ``drift`` (seconds gained per second), so the timing
assumptions of locks and limiters can be broken on purpose.
"""

from __future__ import annotations

import simpy

from simcache.errors import UsageError

#: the wall-clock time (unix seconds) at simulated time 0
EPOCH = 1_700_000_000.0


class HostClock:
    """One host's view of time.

    Args:
        env: the SimPy environment.
        offset: seconds this host's clock is ahead of true time (negative: behind).
        drift: seconds the clock gains per true second (e.g. 1e-5 for 10 ppm fast).
        epoch: the wall-clock time at simulated time 0.
    """

    def __init__(self, env: simpy.Environment, offset: float = 0.0, drift: float = 0.0,
                 epoch: float = EPOCH) -> None:
        if not -0.5 < drift < 0.5:
            raise UsageError(f"clock drift must be in (-0.5, 0.5) seconds per second, got {drift!r}")
        self.env = env
        self.offset = float(offset)
        self.drift = float(drift)
        self.epoch = float(epoch)

    def time(self) -> float:
        """``time.time()``: this host's wall clock, in seconds."""
        now = self.env.now
        return self.epoch + self.offset + now * (1.0 + self.drift)

    def monotonic(self) -> float:
        """``time.monotonic()``: seconds since the start, at this host's rate."""
        return self.env.now * (1.0 + self.drift)

    def sleep(self, seconds: float) -> simpy.Timeout:
        """``time.sleep(seconds)``: an event to yield; the host's seconds, converted to true time."""
        if not seconds >= 0:
            raise ValueError("sleep length must be non-negative")
        return self.env.timeout(seconds / (1.0 + self.drift))
