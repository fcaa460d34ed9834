"""Scripts: EVAL, EVALSHA and SCRIPT, with Python functions standing for Lua (``eval.c``, ``script.c``, ``script_lua.c``).

A script is a Python function ``fn(redis, keys, args)`` run atomically as
one command: ``redis.call(*command)`` runs a command on this server and
returns its raw reply (bytes for a bulk string, ``"OK"``-style str for a
status, int, list, None for nil), raising :class:`ScriptError` on an error
reply as Lua's ``redis.call`` does; ``redis.pcall`` returns the error
(a :class:`~simcache.sim.rpc.ResponseError`) instead.  ``keys`` and ``args``
are lists of bytes.  The return value becomes the reply as Lua's would:
int (a float is truncated, as a Lua number is), bytes (bulk), str (status),
list, None or False (nil), True (1), ``{"ok": s}``, ``{"err": s}`` or a
ResponseError (an error reply).

Two ways to name a script:

* :func:`register_lua` registers a Python equivalent for a Lua source text,
  so ``r.eval(source, numkeys, ...)``, ``r.register_script(source)`` and
  EVALSHA of ``sha1(source)`` (the same SHA a real server computes) run
  code written against real Lua scripts unchanged;
* a bare Python function gets a body of its own (:func:`python_body`).

As in Redis 7, each server keeps its own script cache, filled by EVAL and
SCRIPT LOAD and emptied by SCRIPT FLUSH and by a restart, so EVALSHA after a
failover answers NOSCRIPT (redis-py's Script then loads and retries).
A script runs with the clock stopped at its start, its commands count as
commands processed, blocked clients are served after it, and (with
``maxmemory``) its first denyoom command is refused with OOM when memory
was over the limit as it started (``scriptVerifyOOM``).  An uncaught error
reply carries Redis's suffix ``script: <sha>, on @user_script:<line>.``,
where the line is that of the first ``redis.call('<command>'`` in the Lua
source naming the failing command (1 when there is no Lua source).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, TypeVar

from simcache.errors import UsageError
from simcache.sim.redis.core import RedisCore, redis_command
from simcache.sim.redis.proto import NOSCRIPT, OOM, as_bytes, parse_int, upper_name
from simcache.sim.rpc import ReplyError, ResponseError

ScriptFn = Callable[..., Any]
F = TypeVar("F", bound=ScriptFn)

#: sha1 hex of a script body -> (Python equivalent, body): every script the simulation knows how to run
SCRIPTS: dict[str, tuple[ScriptFn, bytes]] = {}


def sha1hex(body: bytes | str) -> str:
    """The SHA1 a Redis server names a script body by (lower-case hex)."""
    return hashlib.sha1(as_bytes(body)).hexdigest()


def register_lua(source: str | bytes) -> Callable[[F], F]:
    """Decorator: ``fn`` is the Python equivalent of the Lua script ``source`` (returns ``fn`` unchanged).

    Example::

        @register_lua("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                      "else return 0 end")
        def release(redis, keys, args):
            return redis.call("del", keys[0]) if redis.call("get", keys[0]) == args[0] else 0
    """
    body = as_bytes(source)

    def deco(fn: F) -> F:
        sha = sha1hex(body)
        old = SCRIPTS.get(sha)
        if old is not None and old[0] is not fn and getattr(old[0], "__qualname__", None) != fn.__qualname__:
            raise UsageError(f"a Python equivalent of this Lua script is already registered ({old[0].__qualname__})")
        SCRIPTS[sha] = (fn, body)
        return fn

    return deco


_PY_BODIES: dict[Any, bytes] = {}


def python_body(fn: ScriptFn) -> bytes:
    """The body that names a bare Python script: one per function object, numbered in order of first use."""
    body = _PY_BODIES.get(fn)
    if body is None:
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
        body = f"-- simcache python script {name} #{len(_PY_BODIES) + 1}".encode()
        _PY_BODIES[fn] = body
        SCRIPTS[sha1hex(body)] = (fn, body)
    return body


class ScriptError(Exception):
    """An error reply inside a script (what Lua's ``redis.call`` raises); ``str(err)`` is the reply text."""


def _script_arg(a: Any) -> Any:
    """A ``redis.call`` argument as Lua hands it to Redis: numbers as ``%.17g`` text (``script_lua.c``
    ``luaArgsToRedisArgv``: "we can't use lua_tolstring() ... it loses precision")."""
    if isinstance(a, bool):
        raise ScriptError("ERR Lua redis lib command arguments must be strings or integers")
    if isinstance(a, float):
        return b"%.17g" % a
    if isinstance(a, bytes | str | int):
        return as_bytes(a)
    return a


class ScriptContext:
    """The ``redis`` object a script function receives."""

    def __init__(self, server: ScriptCommands, sha: str, body: bytes) -> None:
        self.server = server
        self.sha = sha
        self.body = body
        self.write_dirty = False
        self.failed_command = ""

    def _run(self, args: tuple[Any, ...]) -> Any:
        srv = self.server
        if not args:
            raise ScriptError("ERR Please specify at least one argument for this redis lib call")
        argv = tuple(_script_arg(a) for a in args)
        self.failed_command = upper_name(argv[0])
        spec, err = srv.lookup_command(argv)
        if spec is None:
            # scriptVerifyCommandArity: a command that exists but has the wrong arity, or no command at all
            if err and err.startswith("ERR wrong number of arguments"):
                return ResponseError("ERR Wrong number of args calling Redis command from script")
            return ResponseError("ERR Unknown Redis command called from script")
        if "noscript" in spec.flags:
            return ResponseError("ERR This Redis command is not allowed from script")
        if srv.maxmemory and not self.write_dirty and srv.pre_command_oom and "denyoom" in spec.flags:
            return ResponseError(OOM)
        if "write" in spec.flags:
            self.write_dirty = True
        return srv.call(spec, argv)

    def call(self, *args: Any) -> Any:
        """``redis.call``: the command's raw reply; an error reply raises :class:`ScriptError`."""
        r = self._run(args)
        if isinstance(r, ResponseError):
            raise ScriptError(str(r))
        return r

    def pcall(self, *args: Any) -> Any:
        """``redis.pcall``: the raw reply, an error reply returned as a ResponseError."""
        try:
            return self._run(args)
        except ScriptError as err:
            return ResponseError(str(err))

    @staticmethod
    def status_reply(s: str) -> dict[str, str]:
        """``redis.status_reply``."""
        return {"ok": s}

    @staticmethod
    def error_reply(s: str) -> ResponseError:
        """``redis.error_reply`` (an error without a code gets ``ERR``)."""
        t = s if s.startswith("-") else "-" + s
        t = t[1:]
        return ResponseError(t if " " in t else "ERR " + t)

    @staticmethod
    def sha1hex(s: bytes | str) -> str:
        """``redis.sha1hex``."""
        return sha1hex(s)

    def line_of_failure(self) -> int:
        """The Lua line an uncaught error is reported on (see the module docstring)."""
        try:
            text = self.body.decode()
        except UnicodeDecodeError:
            return 1
        name = re.escape(self.failed_command)
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"redis\.call\(\s*['\"]" + name + r"['\"]", line, re.IGNORECASE):
                return i
        for i, line in enumerate(text.splitlines(), 1):
            if "redis.call" in line:
                return i
        return 1


def to_reply(v: Any) -> Any:
    """A script's return value as the reply Lua's would become (``luaReplyToRedisReply``)."""
    if v is None or v is False:
        return None
    if v is True:
        return 1
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, ResponseError):
        return v
    if isinstance(v, dict):
        if "err" in v:
            return ResponseError(str(v["err"]))
        if "ok" in v:
            return str(v["ok"])
        return []
    if isinstance(v, list | tuple):
        return [to_reply(x) for x in v]
    return v


class ScriptCommands(RedisCore):
    """The scripting command group."""

    def compile_script(self, body: bytes) -> tuple[str, ScriptFn]:
        """``luaCreateFunction``: cache the script's Python equivalent on this server; its sha."""
        sha = sha1hex(body)
        cached = self.scripts.get(sha)
        if cached is not None:
            return sha, cached[0]
        known = SCRIPTS.get(sha)
        if known is None:
            raise ReplyError("ERR Error compiling script (new function): user_script:1: no Python equivalent is "
                             "registered for this script (see simcache.sim.redis.register_lua)")
        self.scripts[sha] = known
        return sha, known[0]

    def run_script(self, sha: str, fn: ScriptFn, numkeys: int, rest: tuple[Any, ...]) -> Any:
        """Run a script atomically; its reply."""
        keys, args = list(rest[:numkeys]), list(rest[numkeys:])
        ctx = ScriptContext(self, sha, self.scripts[sha][1])
        was = self.in_script
        self.in_script = True
        try:
            ret = fn(ctx, keys, args)
        except ScriptError as err:
            return ResponseError(f"{err} script: {sha}, on @user_script:{ctx.line_of_failure()}.")
        finally:
            self.in_script = was
        return to_reply(ret)

    @staticmethod
    def numkeys(arg: Any, nargs: int) -> int:
        """The EVAL numkeys argument, checked as ``evalGenericCommand`` does."""
        n = parse_int(arg)
        if n > nargs:
            raise ReplyError("ERR Number of keys can't be greater than number of args")
        if n < 0:
            raise ReplyError("ERR Number of keys can't be negative")
        return n

    @redis_command("EVAL", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale")
    def _eval(self, body: Any, numkeys: Any, *rest: Any) -> Any:
        n = self.numkeys(numkeys, len(rest))
        sha, fn = self.compile_script(as_bytes(body))
        return self.run_script(sha, fn, n, rest)

    @redis_command("EVALSHA", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale")
    def _evalsha(self, sha_arg: Any, numkeys: Any, *rest: Any) -> Any:
        sha = as_bytes(sha_arg).decode(errors="replace").lower()
        if len(as_bytes(sha_arg)) != 40:
            raise ReplyError(NOSCRIPT)
        n = self.numkeys(numkeys, len(rest))
        cached = self.scripts.get(sha)
        if cached is None:
            raise ReplyError(NOSCRIPT)
        return self.run_script(sha, cached[0], n, rest)

    @redis_command("SCRIPT|LOAD", 3, "noscript stale")
    def _script_load(self, body: Any) -> bytes:
        sha, _ = self.compile_script(as_bytes(body))
        return sha.encode()

    @redis_command("SCRIPT|EXISTS", -3, "noscript")
    def _script_exists(self, *shas: Any) -> list[int]:
        return [int(as_bytes(s).decode(errors="replace").lower() in self.scripts) for s in shas]

    @redis_command("SCRIPT|FLUSH", -2, "noscript")
    def _script_flush(self, *mode: Any) -> str:
        if len(mode) > 1 or (mode and upper_name(mode[0]) not in ("SYNC", "ASYNC")):
            raise ReplyError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
        self.scripts.clear()
        return "OK"
