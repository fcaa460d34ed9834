"""The one small interface every component that can fail implements: crash, restart, pause.

Servers, cache nodes, databases and app servers all derive from
:class:`Component`; fault schedules (:mod:`simcache.sim.faults`) and
failover logic call these methods and nothing else, so a new component can
fail without the fault code knowing about it.

* ``crash(warm=False, host_down=False)`` — the component's process dies.
  With ``host_down=False`` the host stays up, so peers get a TCP reset
  (callers waiting on it see a connection error one network delay later,
  new connections are refused); with ``host_down=True`` the machine is gone
  and peers hear nothing (they wait until their timeouts).  ``warm`` keeps
  the component's state for its restart (a persisted dataset, a warm page
  cache); a cold crash loses it.
* ``restart()`` — the component comes back (cold or warm, as it crashed).
* ``pause(duration)`` — the component stops working for ``duration`` seconds
  (a GC pause, a fork): work in progress is suspended and resumes after,
  requests queue, every other clock keeps running.
* ``power_loss()`` — the host loses power: as ``crash(host_down=True)``
  (peers hear nothing), and what the operating system held in its page
  cache but had not written to disk is gone too (a process crash keeps it:
  the kernel still writes it back).  ``restart()`` brings it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simcache.errors import UsageError

if TYPE_CHECKING:
    from simcache.sim.world import World


class Component:
    """Base of everything with a name, a network node and a failure seam.

    Args:
        world: the simulation world (the component registers itself there).
        name: unique component name (metrics, random streams, fault targets).
        node: the network node it runs on (added to the network if new; default: ``name``).
    """

    #: scraped values that are levels (reported as they are), not cumulative counts (reported as rates)
    GAUGES: tuple[str, ...] = ("up",)

    def __init__(self, world: World, name: str, node: str | None = None) -> None:
        if not name:
            raise UsageError("a component needs a name")
        self.world = world
        self.env = world.env
        self.name = name
        self.node = node or name
        world.network.add_node(self.node)
        self.up = True
        self.host_up = True
        self.warm = False
        #: bumped at every crash: work started before it belongs to a dead process
        self.epoch = 0
        self.paused_until = 0.0
        #: total seconds of pauses begun so far (work in service is extended by what was added since it started)
        self.pause_total = 0.0
        self.crashes = 0
        self.pauses = 0
        world.add(self)

    # ------------------------------------------------------------ faults
    def crash(self, warm: bool = False, host_down: bool = False) -> None:
        """The component's process dies (see the module docstring)."""
        if not self.up:
            return
        self.up = False
        self.host_up = not host_down
        self.warm = warm
        self.epoch += 1
        self.crashes += 1
        self.paused_until = min(self.paused_until, self.env.now)
        self.on_crash()

    def power_loss(self) -> None:
        """The host loses power: the process dies with its host (no resets) and the OS page cache is lost."""
        if self.up:
            self.crash(warm=False, host_down=True)
        else:
            self.host_up = False
            self.warm = False
        self.on_power_loss()

    def restart(self) -> None:
        """Bring a crashed component back (its state kept if it crashed warm, lost otherwise)."""
        if self.up:
            return
        self.up = True
        self.host_up = True
        if not self.warm:
            self.reset_state()
        self.on_restart()

    def pause(self, duration: float) -> None:
        """Stop working for ``duration`` seconds from now (overlapping pauses merge)."""
        if not duration >= 0:
            raise UsageError(f"{self.name}: pause duration must be >= 0 seconds, got {duration!r}")
        if not self.up:
            return
        now = self.env.now
        start = max(self.paused_until, now)
        end = max(start, now + duration)
        self.pause_total += end - start
        self.paused_until = end
        self.pauses += 1
        if end > start:
            self.on_pause(end)

    @property
    def paused(self) -> bool:
        """Whether the component is inside a pause now."""
        return self.env.now < self.paused_until

    # ------------------------------------------------------------- hooks
    def on_crash(self) -> None:
        """Called when the process dies (drop work in progress, reset peers)."""

    def on_restart(self) -> None:
        """Called when the component is back."""

    def on_pause(self, until: float) -> None:
        """Called when a pause starts that lasts until ``until``."""

    def on_power_loss(self) -> None:
        """Called after :meth:`power_loss` crashed the component: drop what only the page cache held."""

    def reset_state(self) -> None:
        """Forget the component's data (a cold restart)."""

    def counters(self) -> dict[str, float]:
        """Cumulative counters (and the gauges in ``GAUGES``) scraped by the recorder."""
        return {"up": float(self.up)}

    def watch(self) -> None:
        """Have the recorder scrape :meth:`counters` every window."""
        self.world.recorder.watch(self.name, self.counters, gauges=self.GAUGES)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def pause_gate(host: Component) -> Any:
    """Generator: wait until ``host`` is out of its pause (``yield from pause_gate(app)``)."""
    env = host.env
    while env.now < host.paused_until:
        yield env.timeout(host.paused_until - env.now)
