"""String commands, as ``t_string.c`` (Redis 7.0) runs them: GET, SET and its options, SETEX, MGET, INCR..."""

from __future__ import annotations

from typing import Any

from simcache.sim.redis.core import RedisCore, RObj, redis_command, value_bytes
from simcache.sim.redis.proto import LLONG_MAX, LLONG_MIN, SYNTAX, WRONGTYPE, parse_int, string2ll
from simcache.sim.rpc import ReplyError

# which SET options exclude which (parseExtendedStringArgumentsOrReply)
_EXPIRY_OPTS = {b"EX", b"PX", b"EXAT", b"PXAT"}


def string_obj(value: Any) -> RObj:
    """A string object holding ``value`` (bytes, or an opaque simulation Value)."""
    return RObj("string", value, value_bytes(value))


class StringCommands(RedisCore):
    """The string command group (a part of :class:`~simcache.sim.redis.server.RedisServer`)."""

    def expire_ms_or_reply(self, arg: Any, unit_ms: bool, relative: bool, cmd: str) -> int:
        """``getExpireMillisecondsOrReply``: an absolute unix-ms expiry from a SET-family argument."""
        ms = parse_int(arg)
        if ms <= 0 or (not unit_ms and ms > LLONG_MAX // 1000):
            raise ReplyError(f"ERR invalid expire time in '{cmd}' command")
        if not unit_ms:
            ms *= 1000
        if relative:
            ms += self.mstime()
        if ms > LLONG_MAX:  # C's overflow to a negative number
            raise ReplyError(f"ERR invalid expire time in '{cmd}' command")
        return ms

    def get_generic(self, key: Any) -> Any:
        """``getGenericCommand``: the string at ``key`` or None; WRONGTYPE for another type."""
        obj = self.lookup_read(key)
        if obj is None:
            return None
        if obj.type != "string":
            raise ReplyError(WRONGTYPE)
        return obj.value

    def set_generic(self, key: Any, value: Any, *, nx: bool = False, xx: bool = False, get: bool = False,
                    keepttl: bool = False, when: int | None = None, ok: Any = "OK", abort: Any = None) -> Any:
        """``setGenericCommand`` once the expiry is known (absolute unix ms, or None)."""
        old = self.get_generic(key) if get else None
        found = self.lookup_write(key) is not None
        if (nx and found) or (xx and not found):
            return old if get else abort
        self.set_key(key, string_obj(value), keepttl=keepttl, exists=found)
        if when is not None:
            self.set_expire(key, when)
        return old if get else ok

    @redis_command("GET", 2, "readonly fast")
    def _get(self, key: Any) -> Any:
        return self.get_generic(key)

    @redis_command("SET", -3, "write denyoom")
    def _set(self, key: Any, value: Any, *opts: Any) -> Any:
        flags: set[bytes] = set()
        expire: Any = None
        j = 0
        while j < len(opts):
            o = opts[j].upper() if isinstance(opts[j], bytes) else b""
            has_next = j + 1 < len(opts)
            if o == b"NX" and b"XX" not in flags:
                flags.add(o)
            elif o == b"XX" and b"NX" not in flags:
                flags.add(o)
            elif o == b"GET":
                flags.add(o)
            elif o == b"KEEPTTL" and not flags & _EXPIRY_OPTS:
                flags.add(o)
            elif o in _EXPIRY_OPTS and b"KEEPTTL" not in flags and not flags & (_EXPIRY_OPTS - {o}) and has_next:
                flags.add(o)
                expire = opts[j + 1]
                j += 1
            else:
                raise ReplyError(SYNTAX)
            j += 1
        when = None
        if expire is not None:
            unit_ms = bool(flags & {b"PX", b"PXAT"})
            when = self.expire_ms_or_reply(expire, unit_ms, bool(flags & {b"EX", b"PX"}), "set")
        return self.set_generic(key, value, nx=b"NX" in flags, xx=b"XX" in flags, get=b"GET" in flags,
                                keepttl=b"KEEPTTL" in flags, when=when)

    @redis_command("SETEX", 4, "write denyoom")
    def _setex(self, key: Any, seconds: Any, value: Any) -> Any:
        return self.set_generic(key, value, when=self.expire_ms_or_reply(seconds, False, True, "setex"))

    @redis_command("PSETEX", 4, "write denyoom")
    def _psetex(self, key: Any, ms: Any, value: Any) -> Any:
        return self.set_generic(key, value, when=self.expire_ms_or_reply(ms, True, True, "psetex"))

    @redis_command("SETNX", 3, "write denyoom fast")
    def _setnx(self, key: Any, value: Any) -> Any:
        return self.set_generic(key, value, nx=True, ok=1, abort=0)

    @redis_command("GETSET", 3, "write denyoom fast")
    def _getset(self, key: Any, value: Any) -> Any:
        old = self.get_generic(key)
        self.set_key(key, string_obj(value))
        return old

    @redis_command("GETDEL", 2, "write fast")
    def _getdel(self, key: Any) -> Any:
        old = self.get_generic(key)
        if old is not None:
            self.remove(key)
        return old

    @redis_command("STRLEN", 2, "readonly fast")
    def _strlen(self, key: Any) -> int:
        obj = self.lookup_read(key, "string")
        return 0 if obj is None else value_bytes(obj.value)

    @redis_command("MGET", -2, "readonly fast")
    def _mget(self, *keys: Any) -> list[Any]:
        out = []
        for k in keys:
            obj = self.lookup_read(k)
            out.append(obj.value if obj is not None and obj.type == "string" else None)
        return out

    @redis_command("MSET", -3, "write denyoom")
    def _mset(self, *pairs: Any) -> str:
        if len(pairs) % 2:
            raise ReplyError("ERR wrong number of arguments for 'mset' command")
        for k, v in zip(pairs[::2], pairs[1::2], strict=True):
            self.set_key(k, string_obj(v))
        return "OK"

    @redis_command("MSETNX", -3, "write denyoom")
    def _msetnx(self, *pairs: Any) -> int:
        if len(pairs) % 2:
            raise ReplyError("ERR wrong number of arguments for 'msetnx' command")
        if any(self.lookup_write(k) is not None for k in pairs[::2]):
            return 0
        for k, v in zip(pairs[::2], pairs[1::2], strict=True):
            self.set_key(k, string_obj(v))
        return 1

    def incr_decr(self, key: Any, incr: int) -> int:
        """``incrDecrCommand``: add ``incr`` to the integer at ``key`` (its TTL stays)."""
        obj = self.lookup_write(key, "string")
        value = 0 if obj is None else string2ll(obj.value)
        if value is None:
            raise ReplyError("ERR value is not an integer or out of range")
        if (incr < 0 and value < 0 and incr < LLONG_MIN - value) or \
                (incr > 0 and value > 0 and incr > LLONG_MAX - value):
            raise ReplyError("ERR increment or decrement would overflow")
        value += incr
        text = str(value).encode()
        if obj is None:
            self.db_add(key, string_obj(text))
        else:
            obj.value, obj.size = text, len(text)  # dbOverwrite: the expiry stays
            self.modified(key)
        return value

    @redis_command("INCR", 2, "write denyoom fast")
    def _incr(self, key: Any) -> int:
        return self.incr_decr(key, 1)

    @redis_command("DECR", 2, "write denyoom fast")
    def _decr(self, key: Any) -> int:
        return self.incr_decr(key, -1)

    @redis_command("INCRBY", 3, "write denyoom fast")
    def _incrby(self, key: Any, incr: Any) -> int:
        return self.incr_decr(key, parse_int(incr))

    @redis_command("DECRBY", 3, "write denyoom fast")
    def _decrby(self, key: Any, decr: Any) -> int:
        n = parse_int(decr)
        if n == LLONG_MIN:
            raise ReplyError("ERR decrement would overflow")
        return self.incr_decr(key, -n)
