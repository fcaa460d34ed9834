"""Fault schedules: ``KIND:TARGET[=VALUE]@AT[+DURATION]``, applied through the components' failure seam.

==============  ===============================  ==============================================
kind            target                           effect
==============  ===============================  ==============================================
crash           a component                      its process dies, state lost (cold); with
                                                 ``+D`` it restarts D seconds later
crash-warm      a component                      as crash, state kept for the restart
down            a component                      its host goes down: no resets, peers time out;
                                                 with ``+D`` it comes back (cold)
power-loss      a component                      the host loses power: as ``down``, and what
                                                 the OS had not yet written to disk is lost
                                                 (:meth:`Component.power_loss`); ``+D`` restarts
restart         a component                      a crashed component comes back now
pause           a component                      stops working for D seconds (GC, fork)
partition       groups ``a,b|c,d``               no message between groups for D seconds
                                                 (forever without ``+D``)
latency         a link ``a-b``, ``=SECONDS``     extra one-way delay on the link
loss            a link ``a-b``, ``=PROBABILITY`` messages dropped on the link
link-down       a link ``a-b``                   the link is cut (routed around if possible)
clock-jump      a component, ``=SECONDS``        its host's wall clock jumps by SECONDS
                                                 (negative: backwards); ``+D`` jumps back
random-crash    a component, ``=MTBF``           crashes as a Poisson process from AT on:
                                                 exponential gaps of mean MTBF seconds, each
                                                 followed by a repair of exponential length,
                                                 mean ``+D`` (required), then a cold restart
random-down     a component, ``=MTBF``           as random-crash, the host going down
random-pause    a component, ``=MTBF``           pauses as a Poisson process, mean length ``+D``
==============  ===============================  ==============================================

Times are seconds of simulated time: ``crash:redis@10+5`` is down from
10 s to 15 s; ``partition:app|redis,db@5+3``; ``latency:app-redis=0.05@10+20``;
``random-crash:redis=600@0+30`` crashes redis on average every 10 minutes
(after each repair) and repairs it in 30 s on average.  The same fields appear
in sweep files and model configs as a ``[[faults]]`` table (``kind``,
``target``, ``value``, ``at``, ``duration``).

Every fault leaves markers on the run's timeline
(:meth:`~simcache.sim.metrics.Recorder.mark`): its kind when it starts, and
``KIND-end`` when it is undone (a random process marks each crash and restart
it causes), so figures and summaries can show what happened when.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import simpy

from simcache.errors import UsageError

if TYPE_CHECKING:
    from simcache.sim.world import World

KINDS = ("crash", "crash-warm", "down", "power-loss", "restart", "pause", "partition", "latency", "loss", "link-down",
         "clock-jump", "random-crash", "random-down", "random-pause")
#: kinds whose target is one component
COMPONENT_KINDS = ("crash", "crash-warm", "down", "power-loss", "restart", "pause", "clock-jump", "random-crash",
                   "random-down", "random-pause")
RANDOM_KINDS = ("random-crash", "random-down", "random-pause")
_NEEDS_VALUE = {"latency": "extra seconds of one-way delay", "loss": "a loss probability in [0, 1]",
                "clock-jump": "the jump in seconds, e.g. -2 or 30",
                **{k: "the mean time between faults in seconds" for k in RANDOM_KINDS}}
_NEEDS_DURATION = ("pause", *RANDOM_KINDS)
_NO_DURATION = ("restart",)
_LINE = re.compile(r"^(?P<kind>[a-z-]+):(?P<target>[^=@]+)(?:=(?P<value>[^@]+))?@(?P<at>[^+]+)(?:\+(?P<dur>.+))?$")


@dataclass(frozen=True)
class Fault:
    """One scheduled fault.

    Args:
        kind: one of :data:`KINDS`.
        target: a component name, a link ``a-b``, or partition groups ``a,b|c``.
        at: when it starts (seconds of simulated time, >= 0).
        duration: how long it lasts (None: until the end of the run; required for pause).
        value: latency seconds or loss probability.
    """

    kind: str
    target: str
    at: float
    duration: float | None = None
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"fault kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.target:
            raise UsageError(f"fault {self.kind}: needs a target")
        if not (isinstance(self.at, int | float) and math.isfinite(self.at) and self.at >= 0):
            raise UsageError(f"fault {self.kind}:{self.target}: at must be a time >= 0 seconds, got {self.at!r}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise UsageError(f"fault {self.kind}:{self.target}: duration must be > 0 seconds, got {self.duration!r}")
        if self.kind in _NEEDS_DURATION and self.duration is None:
            what = "the mean repair time" if self.kind in RANDOM_KINDS[:2] else "a duration"
            raise UsageError(f"fault {self.kind}:{self.target}: needs {what} (+SECONDS)")
        if self.kind in _NO_DURATION and self.duration is not None:
            raise UsageError(f"fault {self.kind}:{self.target}: takes no +DURATION")
        if self.kind in _NEEDS_VALUE:
            if self.value is None:
                raise UsageError(f"fault {self.kind}:{self.target}: needs =VALUE ({_NEEDS_VALUE[self.kind]})")
            if self.kind == "loss" and not 0 <= self.value <= 1:
                raise UsageError(f"fault loss:{self.target}: value must be a probability in [0, 1], "
                                 f"got {self.value!r}")
            if self.kind == "latency" and not (math.isfinite(self.value) and self.value >= 0):
                raise UsageError(f"fault latency:{self.target}: value must be >= 0 seconds, got {self.value!r}")
            if self.kind == "clock-jump" and not (math.isfinite(self.value) and self.value != 0):
                raise UsageError(f"fault clock-jump:{self.target}: value must be a finite, non-zero number of "
                                 f"seconds, got {self.value!r}")
            if self.kind in RANDOM_KINDS and not (math.isfinite(self.value) and self.value > 0):
                raise UsageError(f"fault {self.kind}:{self.target}: value must be a mean time between faults "
                                 f"> 0 seconds, got {self.value!r}")
        elif self.value is not None:
            raise UsageError(f"fault {self.kind}:{self.target}: takes no =VALUE")
        if self.kind == "partition":
            groups = self.groups
            if len(groups) < 2 or any(not g for g in groups):
                raise UsageError(f"fault partition: target must be two or more groups of nodes separated by '|' "
                                 f"(nodes in a group by ','), got {self.target!r}")
        if self.kind in ("latency", "loss", "link-down") and self.target.count("-") < 1:
            raise UsageError(f"fault {self.kind}: target must be a link 'a-b', got {self.target!r}")

    @property
    def groups(self) -> list[list[str]]:
        """Partition groups."""
        return [[n.strip() for n in g.split(",") if n.strip()] for g in self.target.split("|")]

    def __str__(self) -> str:
        s = f"{self.kind}:{self.target}"
        if self.value is not None:
            s += f"={self.value:g}"
        s += f"@{self.at:g}"
        if self.duration is not None:
            s += f"+{self.duration:g}"
        return s

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _num(text: str, what: str, line: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"fault {line!r}: {what} must be a number, got {text!r}") from None
    return v


def parse_fault(text: str) -> Fault:
    """Parse ``KIND:TARGET[=VALUE]@AT[+DURATION]``; a bad line raises naming the part that is wrong."""
    line = text.strip()
    m = _LINE.match(line)
    if m is None:
        if ":" not in line:
            raise UsageError(f"fault {line!r}: expected KIND:TARGET[=VALUE]@AT[+DURATION], e.g. crash:redis@10+5")
        if "@" not in line:
            raise UsageError(f"fault {line!r}: missing @AT (the start time in seconds)")
        raise UsageError(f"fault {line!r}: expected KIND:TARGET[=VALUE]@AT[+DURATION], e.g. crash:redis@10+5")
    kind = m["kind"]
    if kind not in KINDS:
        raise UsageError(f"fault {line!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    value = _num(m["value"], "the =VALUE", line) if m["value"] is not None else None
    at = _num(m["at"], "the @AT time", line)
    dur = _num(m["dur"], "the +DURATION", line) if m["dur"] is not None else None
    return Fault(kind, m["target"].strip(), at, dur, value)


def fault_from_mapping(d: Mapping[str, Any], where: str = "[[faults]]") -> Fault:
    """A fault from a sweep file's ``[[faults]]`` table (fields kind, target, at, duration, value)."""
    allowed = {"kind", "target", "at", "duration", "value"}
    extra = sorted(set(d) - allowed)
    if extra:
        raise UsageError(f"{where}: unknown field {extra[0]!r}; fields: {', '.join(sorted(allowed))}")
    for f in ("kind", "target", "at"):
        if f not in d:
            raise UsageError(f"{where}: missing field {f!r}")
    for f in ("at", "duration", "value"):
        if f in d and (isinstance(d[f], bool) or not isinstance(d[f], int | float)):
            raise UsageError(f"{where}: field {f!r} must be a number, got {d[f]!r}")
    if not isinstance(d["kind"], str) or not isinstance(d["target"], str):
        raise UsageError(f"{where}: fields 'kind' and 'target' must be strings")
    return Fault(d["kind"], d["target"], float(d["at"]), None if d.get("duration") is None else float(d["duration"]),
                 None if d.get("value") is None else float(d["value"]))


def faults_of(items: Iterable[Fault | str | Mapping[str, Any]]) -> list[Fault]:
    """Faults from lines, mappings or Fault objects."""
    out = []
    for x in items:
        if isinstance(x, Fault):
            out.append(x)
        elif isinstance(x, str):
            out.append(parse_fault(x))
        else:
            out.append(fault_from_mapping(x))
    return out


def _link_ends(world: World, target: str) -> tuple[str, str]:
    nodes = world.network.nodes
    # node names may contain '-': try every split point
    for i, ch in enumerate(target):
        if ch == "-" and target[:i] in nodes and target[i + 1:] in nodes:
            world.network.link(target[:i], target[i + 1:])  # raises when there is no such link
            return target[:i], target[i + 1:]
    raise UsageError(f"fault target {target!r}: not a link between two nodes; nodes: {', '.join(sorted(nodes))}")


def check(world: World, fault: Fault) -> None:
    """Raise one clear line when ``fault``'s target does not exist in ``world``."""
    if fault.kind in COMPONENT_KINDS:
        if fault.target not in world.components:
            raise UsageError(f"fault {fault}: no component {fault.target!r}; components: "
                             f"{', '.join(sorted(world.components))}")
        if fault.kind == "clock-jump" and getattr(world.components[fault.target], "clock", None) is None:
            clocked = sorted(n for n, c in world.components.items() if getattr(c, "clock", None) is not None)
            raise UsageError(f"fault {fault}: component {fault.target!r} reads no host clock; components with "
                             f"one: {', '.join(clocked) or 'none'}")
    elif fault.kind == "partition":
        for g in fault.groups:
            for n in g:
                if n not in world.network.nodes:
                    raise UsageError(f"fault {fault}: no node {n!r}; nodes: {', '.join(sorted(world.network.nodes))}")
    else:
        try:
            _link_ends(world, fault.target)
        except UsageError as err:
            raise UsageError(f"fault {fault}: {err}") from None


def schedule(world: World, faults: Iterable[Fault | str | Mapping[str, Any]]) -> list[Fault]:
    """Check every fault against the world, then start one process per fault; returns the faults."""
    fs = faults_of(faults)
    for f in fs:
        check(world, f)
    for i, f in enumerate(fs):
        # a random fault process draws from a stream of its own, named by its place in the schedule
        rng = world.rng(f"faults:{i}:{f.kind}:{f.target}") if f.kind in RANDOM_KINDS else None
        world.env.process(_random(world, f, rng) if rng is not None else _run(world, f))
        world.faults_applied.append(f.as_dict())
    return fs


def _mark(world: World, f: Fault, kind: str, detail: str = "") -> None:
    world.recorder.mark(world.env.now, f.target, kind, detail)


def _random(world: World, f: Fault, rng: Any) -> Generator[simpy.Event, Any, None]:
    """A Poisson process of crashes (or host failures, or pauses) with exponential repair times."""
    env = world.env
    assert f.value is not None and f.duration is not None
    if f.at > env.now:
        yield env.timeout(f.at - env.now)
    c = world.component(f.target)
    base = f.kind.removeprefix("random-")
    while True:
        yield env.timeout(float(rng.exponential(f.value)))
        length = float(rng.exponential(f.duration))
        if base == "pause":
            _mark(world, f, "pause", f"{length:.3g} s ({f.kind})")
            c.pause(length)
            continue
        if not c.up:  # already down through another fault: this failure is absorbed
            continue
        _mark(world, f, base, f"repair {length:.3g} s ({f.kind})")
        c.crash(host_down=base == "down")
        yield env.timeout(length)
        if not c.up:
            c.restart()
            _mark(world, f, "restart", f"({f.kind})")


def _run(world: World, f: Fault) -> Generator[simpy.Event, Any, None]:
    env = world.env
    if f.at > env.now:
        yield env.timeout(f.at - env.now)
    net = world.network
    undo: Any = None
    _mark(world, f, f.kind, "" if f.duration is None else f"+{f.duration:g} s")
    if f.kind in ("crash", "crash-warm", "down", "power-loss"):
        c = world.component(f.target)
        if f.kind == "power-loss":
            c.power_loss()
        else:
            c.crash(warm=f.kind == "crash-warm", host_down=f.kind == "down")
        undo = c.restart
    elif f.kind == "restart":
        world.component(f.target).restart()
        return
    elif f.kind == "pause":
        assert f.duration is not None
        world.component(f.target).pause(f.duration)
        return
    elif f.kind == "clock-jump":
        clock = world.component(f.target).clock  # type: ignore[attr-defined]
        jump = f.value or 0.0
        clock.offset += jump
        undo = lambda: setattr(clock, "offset", clock.offset - jump)  # noqa: E731
    elif f.kind == "partition":
        cut = net.partition(*f.groups)
        undo = lambda: net.heal(cut)  # noqa: E731
    else:
        a, b = _link_ends(world, f.target)
        lk = net.link(a, b)
        if f.kind == "latency":
            old = lk.extra
            net.set_link(a, b, extra=old + (f.value or 0.0))
            undo = lambda: net.set_link(a, b, extra=max(lk.extra - (f.value or 0.0), 0.0))  # noqa: E731
        elif f.kind == "loss":
            old_loss = lk.loss
            net.set_link(a, b, loss=f.value)
            undo = lambda: net.set_link(a, b, loss=old_loss)  # noqa: E731
        else:
            net.set_link(a, b, up=False)
            undo = lambda: net.set_link(a, b, up=True)  # noqa: E731
    if f.duration is None:
        return
    yield env.timeout(f.duration)
    undo()
    _mark(world, f, f"{f.kind}-end")
