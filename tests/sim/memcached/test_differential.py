"""Differential tests: the simulated server + client against a real memcached driven by pymemcache.

A module fixture starts ``memcached -p PORT -U 0 -l 127.0.0.1 -m 64`` on a
free port (skipped when memcached is not installed).  hypothesis draws
command sequences over a few keys; each runs against the real server via
``pymemcache.Client(default_noreply=False)`` and against a fresh simulated
server via :class:`simcache.sim.memcached.Client`; the replies (values,
True/False/None, error types and texts) and the stats counters they move
must be identical.  CAS values are compared by what they do: a cas uses the
token its own side's last ``gets`` returned.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pymemcache = pytest.importorskip("pymemcache")
from pymemcache.client.base import Client as PmClient  # noqa: E402

from simcache.sim.memcached import Client, MemcachedServer  # noqa: E402
from simcache.sim.memcached.server import item_ntotal, slab_sizes  # noqa: E402
from simcache.sim.world import World  # noqa: E402

MEMCACHED = shutil.which("memcached")
ITEM_MAX = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(port: int, *extra: str) -> list[str]:
    assert MEMCACHED is not None
    cmd = [MEMCACHED, "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-m", "64", *extra]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]  # memcached refuses to run as root without naming a user
    return cmd


@contextlib.contextmanager
def _memcached() -> Iterator[int]:
    """A real memcached on a free port for the duration of the block (skips the test when it cannot run)."""
    if MEMCACHED is None:
        pytest.skip("memcached is not installed: the differential tests need a memcached binary on PATH")
    port = _free_port()
    proc = subprocess.Popen(_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5.0
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.skip(f"memcached did not start on port {port}: {err.strip()[:200]}")
            time.sleep(0.02)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture(scope="module")
def real_port() -> Iterator[int]:
    with _memcached() as port:
        yield port


@pytest.fixture
def fresh_port() -> Iterator[int]:
    """A server of the test's own: nothing expiring in the background moves its stats."""
    with _memcached() as port:
        yield port


# ------------------------------------------------------------ strategies
KEYS = ["a", "b", "c", ""]
VALUES = st.one_of(
    st.sampled_from([b"", b"0", b"1", b"42", b"99", b"100", b" 7", b"+5", b"-3", b"-0", b"abc", b"12 34",
                     b"18446744073709551615", b"18446744073709551616", b"9" * 30]),
    st.binary(max_size=12),
)
EXPIRES = st.sampled_from([0, 0, 0, 100, 2592000, 2592001, -1, "future", "past"])
DELTAS = st.sampled_from([0, 1, 5, 100, 2**63, 2**64 - 1, -1, 2**64])
key = st.sampled_from(KEYS)
# no empty key for commands with a data line: the real server answers ERROR to the command line and then reads
# the data as a command of its own (a value b"flush_all" would flush it), which is beyond the simulation
data_key = st.sampled_from(KEYS[:-1])
STORE = ["set", "add", "replace", "append", "prepend"]

op = st.one_of(
    st.tuples(st.sampled_from(STORE), data_key, VALUES, EXPIRES),
    st.tuples(st.just("cas"), data_key, VALUES, EXPIRES, st.sampled_from(["last", "last", "zero", "bogus"])),
    st.tuples(st.sampled_from(["get", "gets", "delete"]), key),
    st.tuples(st.sampled_from(["get_many", "gets_many"]), st.lists(key, min_size=1, max_size=3)),
    st.tuples(st.sampled_from(["incr", "decr"]), key, DELTAS),
    st.tuples(st.just("touch"), key, EXPIRES),
    # noreply writes (on keys the server can parse: an ERROR would still be answered and desync the real side)
    st.tuples(st.just("noreply"), st.sampled_from(["a", "b", "c"]), st.sampled_from([*STORE, "delete", "touch"]),
              VALUES, EXPIRES),
)
# rare: values at the item size limit (the largest that fits, and one byte more)
big = st.tuples(st.just("big"), st.sampled_from(["a", "b"]), st.sampled_from([0, 1]))
ops = st.lists(st.integers(0, 15).flatmap(lambda i: big if i == 0 else op), min_size=1, max_size=25)

# not get_expired: the real server's LRU maintainer and crawler threads reclaim expired items in the background,
# so whether a later command finds one expired depends on their timing
STATS = [b"cmd_get", b"get_hits", b"get_misses", b"cmd_set", b"cmd_touch", b"delete_hits",
         b"delete_misses", b"incr_hits", b"incr_misses", b"decr_hits", b"decr_misses", b"cas_hits", b"cas_misses",
         b"cas_badval", b"touch_hits", b"touch_misses", b"store_too_large"]


def _expire(e: Any, now: float) -> int:
    if e == "future":
        return int(now) + 1000
    if e == "past":
        return int(now) - 1000
    return int(e)


def _issue(mc: Any, o: tuple[Any, ...], tokens: _Tokens, now: float) -> Any:
    """Op ``o`` on either client: a real one returns the reply, a simulated one the generator to run."""
    name, k = o[0], o[1]
    if name in STORE:
        return getattr(mc, name)(k, o[2], expire=_expire(o[3], now))
    if name == "cas":
        return mc.cas(k, o[2], tokens.token(o[4], k), expire=_expire(o[3], now))
    if name in ("get", "gets", "delete", "get_many", "gets_many"):
        return getattr(mc, name)(k)
    if name in ("incr", "decr"):
        return getattr(mc, name)(k, o[2])
    if name == "touch":
        return mc.touch(k, _expire(o[2], now))
    if name == "noreply":
        _, k, cmd, value, e = o
        if cmd == "delete":
            return mc.delete(k, noreply=True)
        if cmd == "touch":
            return mc.touch(k, _expire(e, now), noreply=True)
        return getattr(mc, cmd)(k, value, expire=_expire(e, now), noreply=True)
    # big: the largest value that fits, or one byte more
    return mc.set(k, b"x" * (ITEM_MAX - item_ntotal(len(k), 0, 0) + o[2]))


class _Tokens:
    """Each side's latest cas token per key (from gets / gets_many); results get the token masked."""

    def __init__(self) -> None:
        self.last: dict[str, bytes] = {}

    def _one(self, k: str, result: Any) -> Any:
        if isinstance(result, tuple) and len(result) == 2 and result[1] is not None:
            self.last[k] = result[1]
            return (result[0], "<cas>")
        return result

    def note(self, o: tuple[Any, ...], outcome: tuple[Any, ...]) -> tuple[Any, ...]:
        if outcome[0] != "ok":
            return outcome
        if o[0] == "gets":
            return ("ok", self._one(o[1], outcome[1]))
        if o[0] == "gets_many":
            return ("ok", {k: self._one(k, v) for k, v in outcome[1].items()})
        return outcome

    def token(self, kind: str, k: str) -> bytes:
        if kind == "zero":
            return b"0"
        if kind == "bogus":
            return b"987654321987654"
        return self.last.get(k, b"987654321987654")


def _run_real(port: int, seq: list[tuple[Any, ...]], now: float) -> tuple[list[Any], dict[bytes, int]]:
    mc = PmClient(("127.0.0.1", port), default_noreply=False)
    mc.flush_all()
    before = mc.stats()
    tokens = _Tokens()
    out = []
    for o in seq:
        try:
            outcome: tuple[Any, ...] = ("ok", _issue(mc, o, tokens, now))
        except Exception as e:  # every error is an outcome to compare
            outcome = ("err", type(e).__name__, e.args)
        out.append(tokens.note(o, outcome))
    after = mc.stats()
    mc.close()
    return out, {s: after[s] - before[s] for s in STATS}


def _run_sim(seq: list[tuple[Any, ...]], now: float) -> tuple[list[Any], dict[bytes, int]]:
    w = World(0)
    w.network.add_link("app", "mc", "const:0.0001")
    srv = MemcachedServer(w, "mc", service="const:0.00001", memory=64 << 20, unix_epoch=now)
    mc = Client(w, "app", srv, default_noreply=False)
    tokens = _Tokens()
    out: list[Any] = []

    def body() -> Generator[Any, Any, Any]:
        for o in seq:
            try:
                outcome: tuple[Any, ...] = ("ok", (yield from _issue(mc, o, tokens, now)))
            except Exception as e:
                outcome = ("err", type(e).__name__, e.args)
            out.append(tokens.note(o, outcome))
        return (yield from mc.stats())

    p = w.env.process(body())
    stats = w.env.run(until=p)
    return out, {s: stats[s] for s in STATS}


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seq=ops)
def test_replies_match_a_real_memcached(real_port: int, seq: list[tuple[Any, ...]]) -> None:
    now = time.time()
    real, real_stats = _run_real(real_port, seq, now)
    sim, sim_stats = _run_sim(seq, now)
    for i, (o, a, b) in enumerate(zip(seq, real, sim, strict=True)):
        assert a == b, f"op {i} {o[:2]}...: real {a!r:.200} != simulated {b!r:.200}"
    assert sim_stats == real_stats


def test_item_bytes_match_a_real_memcached(fresh_port: int) -> None:
    mc = PmClient(("127.0.0.1", fresh_port), default_noreply=False)
    for nkey, nvalue, flags in [(1, 1, 0), (10, 0, 0), (40, 300, 3), (200, 5000, 1)]:
        k = uuid.uuid4().hex[:nkey].ljust(nkey, "k")
        before = mc.stats()[b"bytes"]
        mc.set(k, b"v" * nvalue, flags=flags)
        assert mc.stats()[b"bytes"] - before == item_ntotal(nkey, nvalue, flags)
        mc.delete(k)
    mc.close()


def test_slab_classes_match_a_real_memcached() -> None:
    if MEMCACHED is None:
        pytest.skip("memcached is not installed")
    proc = subprocess.Popen(_command(_free_port(), "-vv"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    sizes: list[int] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("slab class"):
                sizes.append(int(line.split()[5]))  # "slab class   1: chunk size        96 perslab   10922"
                if sizes[-1] == 1 << 19:
                    break
    finally:
        proc.terminate()
        proc.wait(5)
    assert sizes == slab_sizes()
