"""The differential test: random command sequences give the same replies from a real redis-server and the model.

Hypothesis draws sequences of commands over three keys (so they collide and
hit WRONGTYPE), through redis-py's methods, raw ``execute_command`` calls
(to reach option combinations redis-py would refuse to build), pipelines,
MULTI/EXEC transactions and Lua scripts with registered Python equivalents.
Each sequence runs against a real server through the real redis-py client
and against :class:`RedisServer` through the simulated client inside a SimPy
process; replies must be identical, up to: sets compared as sets, KEYS as a
multiset, TTL-like replies within a tolerance (the simulated clock does not
follow the wall clock), and errors compared as (exception class name, message).

Expiry times are drawn so that no outcome depends on a few milliseconds of
clock drift: every relative TTL in a sequence is unique and at least ten
seconds from every other, absolute times are far in the past or future.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcache.sim.redis import Redis, RedisServer, register_lua
from simcache.sim.world import World
from tests.sim.redis.conftest import reset_real

# redis-py warns that SETEX, HMSET ... are deprecated; the tests use them on purpose
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

KEYS = ["a", "b", "c"]
FIELDS = ["f", "g"]
MEMBERS = ["m", "n", "o"]
VALUES = ["1", "x", "-5", "007", "10", "", "9223372036854775807", "3.5"]
SCORES: list[Any] = [0, 1, 2.5, -3, float("inf"), float("-inf"), "1", "2.5", "-inf", "+inf", "abc", "1e400", "(1",
                     "0x10", " 1"]
# score bounds: mostly the scores the writers use, inclusive and exclusive, plus the odd ones strtod accepts
BOUNDS = ["-inf", "+inf", "(-inf", "(+inf", "0", "(0", "1", "(1", "1", "(1", "2.5", "(2.5", "-3", "(-3", "x", "",
          " 1", "(", "inf"]
LEX = ["-", "+", "[m", "(m", "[n", "(o", "m", "["]
INDEXES = [0, 0, 1, 1, 2, -1, -1, -2, 3, -3, 100, -100, "x", "1.5"]
PATTERNS = ["*", "a", "[ab]", "[^a]", "?", "a*", "\\a", "[", "*[bc]"]

# ----------------------------------------------------------------- scripts
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
else
    return 0
end
"""
INCR_EXPIRE = "local n = redis.call('incr', KEYS[1])\nif n == 1 then redis.call('expire', KEYS[1], ARGV[1]) end\nreturn n"
LRANGE_ALL = "return redis.call('lrange', KEYS[1], 0, -1)"
MIXED = "return {redis.call('exists', KEYS[1]), redis.pcall('incr', KEYS[1]), 'done'}"
SET_GET = "redis.call('set', KEYS[1], ARGV[1])\nreturn redis.call('get', KEYS[1])"
ZADD_ONE = "return redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])"
STATUS = "return redis.call('set', KEYS[1], 'v')"
SCRIPT_SOURCES = [RELEASE, INCR_EXPIRE, LRANGE_ALL, MIXED, SET_GET, ZADD_ONE, STATUS]


@register_lua(RELEASE)
def _release(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    if redis.call("get", keys[0]) == args[0]:
        return redis.call("del", keys[0])
    return 0


@register_lua(INCR_EXPIRE)
def _incr_expire(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    n = redis.call("incr", keys[0])
    if n == 1:
        redis.call("expire", keys[0], args[0])
    return n


@register_lua(LRANGE_ALL)
def _lrange_all(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    return redis.call("lrange", keys[0], 0, -1)


@register_lua(MIXED)
def _mixed(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    return [redis.call("exists", keys[0]), redis.pcall("incr", keys[0]), b"done"]


@register_lua(SET_GET)
def _set_get(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    redis.call("set", keys[0], args[0])
    return redis.call("get", keys[0])


@register_lua(ZADD_ONE)
def _zadd_one(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    return redis.call("zadd", keys[0], args[0], args[1])


@register_lua(STATUS)
def _status(redis: Any, keys: list[bytes], args: list[bytes]) -> Any:
    return redis.call("set", keys[0], "v")


# ------------------------------------------------------------ placeholders
@dataclass(frozen=True)
class Ttl:
    """A relative expiry resolved per position: unique, and 10 s or more from any other in the sequence."""

    large: bool
    ms: bool = False

    def resolve(self, pos: int, base: float) -> int:
        s = (1_000_000 if self.large else 10_000) + 10 * pos
        return s * 1000 if self.ms else s


@dataclass(frozen=True)
class At:
    """An absolute Unix time far in the past or the future of the example's clock base."""

    future: bool
    ms: bool = False

    def resolve(self, pos: int, base: float) -> int:
        s = int(base) + (2_000_000 + 10 * pos if self.future else -2_000_000 - 10 * pos)
        return s * 1000 if self.ms else s


def resolve(x: Any, pos: int, base: float) -> Any:
    """Placeholders in an argument structure replaced by numbers."""
    if isinstance(x, Ttl | At):
        return x.resolve(pos, base)
    if isinstance(x, list):
        return [resolve(v, pos, base) for v in x]
    if isinstance(x, tuple):
        return tuple(resolve(v, pos, base) for v in x)
    if isinstance(x, dict):
        return {resolve(k, pos, base): resolve(v, pos, base) for k, v in x.items()}
    return x


@dataclass
class Op:
    """One step: a client method (``name``), ``raw`` execute_command, ``pipe``/``multi`` of sub-steps, or ``script``."""

    kind: str
    name: str = ""
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    raise_on_error: bool = True

    def __repr__(self) -> str:
        if self.kind in ("pipe", "multi"):
            return f"{self.kind}(raise={self.raise_on_error})[{', '.join(map(repr, self.ops))}]"
        kw = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.name}({', '.join(map(repr, self.args))}{kw})"


# -------------------------------------------------------------- strategies
key = st.sampled_from(KEYS)
keys = st.lists(key, min_size=1, max_size=3)
value = st.sampled_from(VALUES)
fld = st.sampled_from(FIELDS)
member = st.sampled_from(MEMBERS)
score = st.sampled_from(SCORES)
bound = st.sampled_from(BOUNDS)
index = st.sampled_from(INDEXES)
ttl = st.builds(Ttl, st.booleans())
ttl_ms = st.builds(Ttl, st.booleans(), st.just(True))
seconds = st.one_of(ttl, st.sampled_from([0, -1, "abc"]))
millis = st.one_of(ttl_ms, st.sampled_from([0, -5, "x"]))


def cmd(name: str, *args: Any, **kwargs: Any) -> st.SearchStrategy[Op]:
    """A client-method step; each argument may be a strategy."""
    return st.tuples(*[a if isinstance(a, st.SearchStrategy) else st.just(a) for a in args],
                     st.fixed_dictionaries({k: v if isinstance(v, st.SearchStrategy) else st.just(v)
                                            for k, v in kwargs.items()})).map(
        lambda t: Op("cmd", name, tuple(t[:-1]), dict(t[-1])))


def raw(*args: Any) -> st.SearchStrategy[Op]:
    """An execute_command step."""
    return st.tuples(*[a if isinstance(a, st.SearchStrategy) else st.just(a) for a in args]).map(
        lambda t: Op("raw", str(t[0]), tuple(t)))


def maybe(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), s)



def _set_options(expiry: str, cond: str, get: bool, rel: Ttl, rel_ms: Ttl) -> dict[str, Any]:
    kw: dict[str, Any] = {"ex": rel, "px": rel_ms, "exat": At(True), "pxat": At(True, True), "keepttl": True,
                          "none": None}
    out = {expiry: kw[expiry]} if expiry != "none" else {}
    if cond != "none":
        out[cond] = True
    if get:
        out["get"] = True
    return out


# mostly a valid combination of SET's options, sometimes any (redis-py refuses some with DataError)
set_kwargs = st.one_of(
    st.builds(_set_options, st.sampled_from(["none", "ex", "px", "exat", "pxat", "keepttl", "keepttl"]),
              st.sampled_from(["none", "none", "nx", "xx"]), st.booleans(), ttl, ttl_ms),
    st.fixed_dictionaries({}, optional={
        "ex": ttl, "px": ttl_ms, "nx": st.booleans(), "xx": st.booleans(), "keepttl": st.booleans(),
        "get": st.booleans(), "exat": st.builds(At, st.just(True)),
        "pxat": st.builds(At, st.just(True), st.just(True))}))
set_tokens = st.lists(st.sampled_from(["NX", "XX", "GET", "KEEPTTL", "EX", "PX", "EXAT", "PXAT", "nx", "FOO", "10",
                                       "0", "-1", "abc"]), max_size=5)
zadd_flags = st.fixed_dictionaries({}, optional={k: st.booleans() for k in ("nx", "xx", "ch", "incr", "gt", "lt")})
zset_map = st.one_of(st.dictionaries(member, score, min_size=1, max_size=3), st.just({}))
zrange_tokens = st.lists(st.sampled_from(["BYSCORE", "BYLEX", "REV", "WITHSCORES", "LIMIT", "0", "1", "-1", "x"]),
                         max_size=4)


expire_opts = st.fixed_dictionaries({}, optional={o: st.booleans() for o in ("nx", "xx", "gt", "lt")})

STRINGS = [
    cmd("get", key),
    st.builds(lambda k, v, kw: Op("cmd", "set", (k, v), kw), key, value, set_kwargs),
    cmd("setex", key, seconds, value),
    cmd("psetex", key, millis, value),
    cmd("setnx", key, value),
    cmd("getset", key, value),
    cmd("getdel", key),
    cmd("strlen", key),
    cmd("mget", keys),
    cmd("mset", st.dictionaries(key, value, min_size=1, max_size=3)),
    cmd("incr", key),
    cmd("incrby", key, st.sampled_from([1, -1, 5, 9223372036854775807, "x"])),
    cmd("decr", key),
    cmd("decrby", key, st.sampled_from([2, -9223372036854775808, "y"])),
    st.builds(lambda k, toks: Op("raw", "SET", ("SET", k, "v", *toks)), key, set_tokens),
    raw("INCRBY", key, "1.5"), raw("SET", key), raw("GET"),
]
KEYSPACE = [
    keys.map(lambda ks: Op("cmd", "delete", tuple(ks))),
    keys.map(lambda ks: Op("cmd", "exists", tuple(ks))),
    st.builds(lambda k, t, kw: Op("cmd", "expire", (k, t), kw), key, seconds, expire_opts),
    st.builds(lambda k, t, kw: Op("cmd", "pexpire", (k, t), kw), key, millis, expire_opts),
    st.builds(lambda k, t, kw: Op("cmd", "expireat", (k, t), kw), key, st.builds(At, st.booleans()), expire_opts),
    cmd("pexpireat", key, st.builds(At, st.booleans(), st.just(True))),
    cmd("ttl", key),
    cmd("pttl", key),
    cmd("expiretime", key),
    cmd("persist", key),
    cmd("type", key),
    cmd("keys", st.sampled_from(PATTERNS)),
    cmd("dbsize"),
    st.builds(lambda k, t, toks: Op("raw", "EXPIRE", ("EXPIRE", k, t, *toks)), key, seconds,
              st.lists(st.sampled_from(["NX", "XX", "GT", "LT", "nx", "BAD"]), max_size=3)),
    raw("EXPIRE", key, "1", "NX", "XX"), raw("FLUSHALL", "FOO"),
]
HASHES = [
    cmd("hset", key, fld, value),
    cmd("hset", key, mapping=st.dictionaries(fld, value, min_size=1, max_size=2)),
    cmd("hget", key, fld),
    cmd("hgetall", key),
    st.builds(lambda k, fs: Op("cmd", "hdel", (k, *fs)), key, st.lists(fld, min_size=1, max_size=3)),
    cmd("hlen", key),
    cmd("hexists", key, fld),
    cmd("hincrby", key, fld, st.sampled_from([1, -3, "z"])),
    cmd("hmget", key, st.lists(fld, min_size=1, max_size=2)),
    cmd("hsetnx", key, fld, value),
    raw("HSET", key, "f"), raw("HSET", key, "f", "1", "g"),
]
LISTS = [
    st.builds(lambda k, vs: Op("cmd", "lpush", (k, *vs)), key, st.lists(value, min_size=1, max_size=3)),
    st.builds(lambda k, vs: Op("cmd", "rpush", (k, *vs)), key, st.lists(value, min_size=1, max_size=3)),
    st.builds(lambda k, vs: Op("cmd", "rpushx", (k, *vs)), key, st.lists(value, min_size=1, max_size=2)),
    cmd("lpop", key, maybe(st.sampled_from([0, 1, 2, 5]))),
    cmd("rpop", key, maybe(st.sampled_from([0, 1, 3]))),
    cmd("lrange", key, index, index),
    cmd("llen", key),
    cmd("lindex", key, index),
    cmd("ltrim", key, index, index),
    cmd("brpop", keys, timeout=0.01),
    cmd("blpop", keys, timeout=0.01),
    st.builds(lambda k, n: Op("raw", "LPOP", ("LPOP", k, *n)), key,
              st.lists(st.sampled_from(["1", "-1", "0", "x", "2"]), max_size=2)),
    raw("BRPOP", key, "-1"), raw("BRPOP", key, "x"),
]
SETS = [
    st.builds(lambda k, vs: Op("cmd", "sadd", (k, *vs)), key, st.lists(member, min_size=1, max_size=3)),
    st.builds(lambda k, vs: Op("cmd", "srem", (k, *vs)), key, st.lists(member, min_size=1, max_size=2)),
    cmd("smembers", key),
    cmd("sinter", keys),
    cmd("sunion", keys),
    cmd("sdiff", keys),
    cmd("scard", key),
    cmd("sismember", key, member),
    cmd("smismember", key, st.lists(member, min_size=1, max_size=3)),
]
ZSETS = [
    st.builds(lambda k, m, kw: Op("cmd", "zadd", (k, m), kw), key, zset_map, zadd_flags),
    cmd("zincrby", key, score, member),
    st.builds(lambda k, ms: Op("cmd", "zrem", (k, *ms)), key, st.lists(member, min_size=1, max_size=2)),
    cmd("zrange", key, index, index, withscores=st.booleans(), desc=st.booleans()),
    cmd("zrange", key, bound, bound, byscore=True, withscores=st.booleans(), desc=st.booleans(),
        offset=maybe(st.sampled_from([0, 1, -1])), num=maybe(st.sampled_from([1, 2, -1]))),
    cmd("zrange", key, st.sampled_from(LEX), st.sampled_from(LEX), bylex=True, desc=st.booleans()),
    cmd("zrevrange", key, index, index, withscores=st.booleans()),
    cmd("zrangebyscore", key, bound, bound, withscores=st.booleans()),
    cmd("zrevrangebyscore", key, bound, bound),
    cmd("zremrangebyscore", key, bound, bound),
    cmd("zremrangebyrank", key, index, index),
    cmd("zcount", key, bound, bound),
    cmd("zcount", key, bound, bound),
    cmd("zrangebyscore", key, bound, bound, withscores=st.booleans(), start=maybe(st.sampled_from([0, 1, -1])),
        num=maybe(st.sampled_from([1, 2, -1]))),
    cmd("zcard", key),
    cmd("zscore", key, member),
    cmd("zmscore", key, st.lists(member, min_size=1, max_size=2)),
    cmd("zrank", key, member),
    cmd("zrevrank", key, member),
    st.builds(lambda k, toks: Op("raw", "ZADD", ("ZADD", k, *toks)), key,
              st.lists(st.sampled_from(["NX", "XX", "GT", "LT", "CH", "INCR", "1", "m", "2", "n", "x"]),
                       min_size=1, max_size=6)),
    st.builds(lambda k, toks: Op("raw", "ZRANGE", ("ZRANGE", k, "0", "-1", *toks)), key, zrange_tokens),
    st.builds(lambda k, toks: Op("raw", "ZREVRANGE", ("ZREVRANGE", k, "0", "-1", *toks)), key, zrange_tokens),
    raw("ZADD", key, "nan", "m"), raw("ZADD", key, "INCR", "1", "m", "2", "n"),
]
SERVER = [
    cmd("publish", key, value),
    cmd("ping"),
    cmd("echo", value),
    cmd("config_get", st.sampled_from(["maxmemory", "maxmemory-policy", "maxmemory-samples", "nosuch"])),
    cmd("config_set", "maxmemory-samples", st.sampled_from([3, 0, "x"])),
    cmd("config_set", "maxmemory-policy", st.sampled_from(["allkeys-lru", "volatile-ttl", "bogus"])),
    raw("NOSUCH", key, value), raw("MSET", key), raw("PING", "a", "b"), raw("CONFIG"), raw("CONFIG", "NOPE"),
    raw("CONFIG", "GET"), raw("EVAL", "return 1", "2", key), raw("EVAL", "return 1", "-1"),
    raw("EVALSHA", "abc", "0"), raw("EVALSHA", "a" * 40, "0"), raw("SCRIPT", "LOAD"), raw("DISCARD"), raw("EXEC"),
    st.builds(lambda src, k, a: Op("script", "eval", (src, 1, k, *a)), st.sampled_from(SCRIPT_SOURCES), key,
              st.lists(value, min_size=2, max_size=2)),
]
GROUPS = {"strings": STRINGS, "keyspace": KEYSPACE, "hashes": HASHES, "lists": LISTS, "sets": SETS,
          "zsets": ZSETS, "server": SERVER}
# writes that give each key a type, so the reads meet keys of their group's type and of others (WRONGTYPE)
WRITERS: dict[str, Any] = {
    "zsets": lambda k: st.builds(lambda m: Op("cmd", "zadd", (k, m)),
                                 st.dictionaries(member, st.sampled_from([0, 1, 1, 2.5, -3, float("inf")]),
                                                 min_size=1, max_size=3)),
    "lists": lambda k: st.builds(lambda vs: Op("cmd", "rpush", (k, *vs)), st.lists(value, min_size=1, max_size=4)),
    "sets": lambda k: st.builds(lambda vs: Op("cmd", "sadd", (k, *vs)), st.lists(member, min_size=1, max_size=3)),
    "hashes": lambda k: cmd("hset", k, mapping=st.dictionaries(fld, value, min_size=1, max_size=2)),
    "strings": lambda k: st.one_of(cmd("set", k, value), cmd("setex", k, ttl, value)),
}


def setup(*groups: str) -> st.SearchStrategy[list[Op]]:
    """Writes that give a and b a type of the groups' (when they have one) and c any type, or none."""
    own = [g for g in groups if g in WRITERS] or list(WRITERS)
    mine = st.sampled_from(own)
    return st.tuples(mine.flatmap(lambda g: WRITERS[g]("a")), mine.flatmap(lambda g: WRITERS[g]("b")),
                     st.lists(st.sampled_from(list(WRITERS)).flatmap(lambda g: WRITERS[g]("c")), max_size=1),
                     st.lists(st.sampled_from(list(WRITERS)).flatmap(lambda g: key.flatmap(WRITERS[g])),
                              max_size=2)).map(lambda t: [t[0], t[1], *t[2], *t[3]])


def _blocking(o: Op) -> bool:
    return o.name in ("brpop", "blpop") or o.kind == "script"


def _in_multi(o: Op) -> bool:
    # a DISCARD or EXEC inside would end the transaction early and let a later BRPOP block for good
    return o.kind != "script" and o.name not in ("DISCARD", "EXEC")


def sequences(*groups: str) -> st.SearchStrategy[list[Op]]:
    """Sequences of steps from ``groups``: a few writes, then single commands, pipelines and transactions."""
    one = st.one_of(*[s for g in groups for s in GROUPS[g]])
    pipe = st.builds(lambda ops, roe: Op("pipe", ops=ops, raise_on_error=roe),
                     st.lists(one.filter(lambda o: not _blocking(o)), min_size=1, max_size=4), st.booleans())
    # inside MULTI a blocking pop answers at once, so it may appear there
    multi = st.builds(lambda ops, roe: Op("multi", ops=ops, raise_on_error=roe),
                      st.lists(st.one_of(one.filter(_in_multi), cmd("brpop", keys, timeout=0),
                                         raw("MULTI")), min_size=1, max_size=4), st.booleans())
    body = st.lists(st.one_of(one, one, one, one, pipe, multi), min_size=3, max_size=20)
    return st.tuples(setup(*groups), body).map(lambda t: t[0] + t[1])


sequence = sequences(*GROUPS)


# ------------------------------------------------------------------ running
def _apply(client: Any, op: Op, pos: int, base: float) -> Any:
    """Call one step on a client or pipeline: what the method returns (a generator for the simulated client)."""
    args = resolve(op.args, pos, base)
    kwargs = resolve(op.kwargs, pos, base)
    if op.kind == "raw":
        return client.execute_command(*args)
    return getattr(client, op.name)(*args, **kwargs)


def _error(e: BaseException) -> tuple[str, str, str]:
    return ("err", type(e).__name__, str(e))


def _norm(v: Any) -> Any:
    if isinstance(v, BaseException):
        return _error(v)
    if isinstance(v, set | frozenset):
        return ("set", sorted(v))
    if isinstance(v, dict):
        return ("dict", sorted((_norm(k), _norm(x)) for k, x in v.items()))
    if isinstance(v, tuple):
        return ("tuple", [_norm(x) for x in v])
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def run_real(r: Any, ops: list[Op], base: float) -> list[Any]:
    """Each step's outcome on the real server."""
    out = []
    for pos, op in enumerate(ops):
        try:
            if op.kind in ("pipe", "multi"):
                p = r.pipeline(transaction=op.kind == "multi")
                for i, sub in enumerate(op.ops):
                    _apply(p, sub, pos * 10 + i, base)
                out.append(("ok", _norm(p.execute(raise_on_error=op.raise_on_error))))
            else:
                out.append(("ok", _norm(_apply(r, op, pos * 10, base))))
        except Exception as e:  # noqa: BLE001 - every outcome is compared
            out.append(_error(e))
    return out


def run_sim(ops: list[Op], base: float, **server: Any) -> list[Any]:
    """Each step's outcome on the simulated server, run through the simulated client in one SimPy process."""
    w = World(0)
    w.network.add_link("app", "redis", "const:0.0001")
    srv = RedisServer(w, "redis", service="const:0.00001", unix_start=base, **server)
    r = Redis(w, "app", srv, socket_timeout=5)
    out: list[Any] = []

    def proc() -> Any:
        for pos, op in enumerate(ops):
            try:
                if op.kind in ("pipe", "multi"):
                    p = r.pipeline(transaction=op.kind == "multi")
                    for i, sub in enumerate(op.ops):
                        _apply(p, sub, pos * 10 + i, base)
                    res = yield from p.execute(raise_on_error=op.raise_on_error)
                else:
                    res = yield from _apply(r, op, pos * 10, base)
                out.append(("ok", _norm(res)))
            except Exception as e:  # noqa: BLE001 - every outcome is compared
                out.append(_error(e))

    done = w.process(proc())
    w.env.run(until=done)
    return out


TIME_LIKE = {"ttl": 3, "pttl": 3000, "expiretime": 3}


def same(op: Op, real: Any, sim: Any) -> bool:
    """Whether two outcomes of ``op`` agree (TTL-like replies within a tolerance, KEYS as a multiset)."""
    if op.kind in ("pipe", "multi"):
        if real[0] != "ok" or sim[0] != "ok" or len(real[1]) != len(sim[1]):
            return bool(real == sim)
        return all(same(sub, ("ok", a), ("ok", b)) for sub, a, b in zip(op.ops, real[1], sim[1], strict=True))
    if real[0] == "ok" and sim[0] == "ok":
        a, b = real[1], sim[1]
        tol = TIME_LIKE.get(op.name)
        if tol is not None and isinstance(a, int) and isinstance(b, int) and a >= 0 and b >= 0:
            return abs(a - b) <= tol
        if op.name == "keys" and isinstance(a, list) and isinstance(b, list):
            return sorted(a) == sorted(b)
    return bool(real == sim)


def check(r: Any, ops: list[Op], **server: Any) -> None:
    """Run ``ops`` on both (``server``: the simulated server's options) and fail with the first disagreement."""
    reset_real(r)
    base = float(int(time.time()))
    real = run_real(r, ops, base)
    sim = run_sim(ops, base, **server)
    for i, (op, a, b) in enumerate(zip(ops, real, sim, strict=True)):
        assert same(op, a, b), f"step {i} {op!r}:\n  redis-server: {a!r}\n  simulated:    {b!r}\n  steps: {ops!r}"


DIFF = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])


@DIFF
@given(ops=sequences("strings", "keyspace"))
def test_strings_and_expiry_answer_like_redis(real_redis: Any, ops: list[Op]) -> None:
    check(real_redis, ops)


@DIFF
@given(ops=sequences("hashes", "sets"))
def test_hashes_and_sets_answer_like_redis(real_redis: Any, ops: list[Op]) -> None:
    check(real_redis, ops)


@DIFF
@given(ops=sequences("lists", "keyspace"))
def test_lists_answer_like_redis(real_redis: Any, ops: list[Op]) -> None:
    check(real_redis, ops)


@DIFF
@given(ops=sequences("zsets"))
def test_sorted_sets_answer_like_redis(real_redis: Any, ops: list[Op]) -> None:
    check(real_redis, ops)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=sequence)
def test_random_sequences_answer_like_redis(real_redis: Any, ops: list[Op]) -> None:
    check(real_redis, ops)


@pytest.mark.parametrize("ops", [
    [Op("cmd", "set", ("a", "1"), {"ex": Ttl(False)}), Op("cmd", "expire", ("a", Ttl(True)), {"gt": True}),
     Op("cmd", "ttl", ("a",)), Op("cmd", "expire", ("a", Ttl(False)), {"lt": True}), Op("cmd", "pttl", ("a",))],
    [Op("cmd", "rpush", ("a", "x", "y", "z")), Op("cmd", "rpop", ("a", 2)), Op("cmd", "lrange", ("a", 0, -1)),
     Op("cmd", "brpop", (["b", "a"],), {"timeout": 0}), Op("cmd", "exists", ("a",))],
    [Op("multi", ops=[Op("cmd", "set", ("a", "1")), Op("raw", "SET", ("SET", "a")), Op("cmd", "incr", ("a",))]),
     Op("cmd", "get", ("a",))],
    [Op("multi", ops=[Op("cmd", "set", ("a", "1")), Op("cmd", "lpush", ("a", "x")), Op("cmd", "incr", ("a",))],
        raise_on_error=False)],
    [Op("script", "eval", (RELEASE, 1, "a", "tok")), Op("cmd", "set", ("a", "tok")),
     Op("script", "eval", (RELEASE, 1, "a", "tok")), Op("cmd", "lpush", ("b", "x")),
     Op("script", "eval", (MIXED, 1, "b")), Op("script", "eval", (LRANGE_ALL, 1, "c")),
     Op("cmd", "set", ("c", "s")), Op("script", "eval", (LRANGE_ALL, 1, "c"))],
    [Op("cmd", "zadd", ("a", {"m": 1, "n": 2, "o": 2}), {}), Op("cmd", "zremrangebyscore", ("a", "(1", "+inf")),
     Op("cmd", "zrange", ("a", 0, -1), {"withscores": True}), Op("cmd", "zadd", ("a", {"m": 5}), {"incr": True}),
     Op("cmd", "zadd", ("a", {"m": 1}), {"gt": True, "ch": True}), Op("cmd", "zscore", ("a", "m"))],
])
def test_hand_picked_sequences_answer_like_redis(real_redis: Any, ops: list[Op]) -> None:
    check(real_redis, ops)


def test_decoded_responses_answer_like_redis(real_redis: Any) -> None:
    import redis

    reset_real(real_redis)
    kw = real_redis.connection_pool.connection_kwargs
    dec = redis.Redis(host=kw["host"], port=kw["port"], decode_responses=True)
    ops = [Op("cmd", "set", ("a", "x")), Op("cmd", "get", ("a",)), Op("cmd", "type", ("a",)),
           Op("cmd", "hset", ("b",), {"mapping": {"f": "1"}}), Op("cmd", "hgetall", ("b",)),
           Op("cmd", "zadd", ("c", {"m": 1.5})), Op("cmd", "zrange", ("c", 0, -1), {"withscores": True}),
           Op("cmd", "lpush", ("a", "x"))]
    real = run_real(dec, ops, 0.0)
    dec.close()
    w = World(0)
    w.network.add_link("app", "redis", "const:0.0001")
    srv = RedisServer(w, "redis", service="const:0.00001")
    r = Redis(w, "app", srv, decode_responses=True)
    out: list[Any] = []

    def proc() -> Any:
        for op in ops:
            try:
                out.append(("ok", _norm((yield from _apply(r, op, 0, 0.0)))))
            except Exception as e:  # noqa: BLE001
                out.append(_error(e))

    w.env.run(until=w.process(proc()))
    assert out == real


def _over_maxmemory(t: tuple[list[Op], list[Op]]) -> list[Op]:
    return [*t[0], Op("cmd", "config_set", ("maxmemory", 1)), *t[1]]


@DIFF
@given(ops=st.tuples(setup(*WRITERS), sequences(*GROUPS)).map(_over_maxmemory))
def test_over_maxmemory_answers_like_redis(real_redis: Any, ops: list[Op]) -> None:
    # a real server's used_memory is never under 1 byte; the model gets a baseline to be over it too: every
    # denyoom command is refused with OOM, the rest run, and a policy change evicts all it may
    check(real_redis, ops, baseline_memory=2_000_000)


def _methods_only(ops: list[Op]) -> bool:
    return all(o.kind != "raw" and all(s.kind != "raw" for s in o.ops) for o in ops)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.filter_too_much])
@given(ops=sequence.filter(_methods_only))
def test_methods_answer_like_redis_py_defaults(real_redis_resp3: Any, ops: list[Op]) -> None:
    # redis-py's default connection speaks RESP3 and converts replies back to the RESP2 shapes
    # (legacy_responses): its methods must return what the simulated client's do
    check(real_redis_resp3, ops)
