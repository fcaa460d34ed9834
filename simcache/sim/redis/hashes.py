"""Hash commands, as ``t_hash.c`` (Redis 7.0) runs them: HSET, HGET, HGETALL, HDEL, HMGET, HLEN, HEXISTS, HINCRBY."""

from __future__ import annotations

from typing import Any

from simcache.sim.redis.core import ELEMENT_OVERHEAD, RedisCore, RObj, redis_command, value_bytes
from simcache.sim.redis.proto import LLONG_MAX, LLONG_MIN, parse_int, string2ll
from simcache.sim.rpc import ReplyError


def _pair_bytes(field: Any, value: Any) -> int:
    return value_bytes(field) + value_bytes(value) + ELEMENT_OVERHEAD


class HashCommands(RedisCore):
    """The hash command group; a hash is a dict in insertion order (a small Redis hash is a listpack, same order)."""

    def hash_for_write(self, key: Any) -> RObj:
        """``hashTypeLookupWriteOrCreate``."""
        obj = self.lookup_write(key, "hash")
        if obj is None:
            obj = RObj("hash", {}, 0)
            self.db_add(key, obj)
        return obj

    def hash_set(self, key: Any, obj: RObj, field: Any, value: Any) -> bool:
        """``hashTypeSet``: whether the field is new."""
        h: dict[Any, Any] = obj.value
        old = h.get(field)
        if old is not None:
            obj.size -= _pair_bytes(field, old)
        h[field] = value
        obj.size += _pair_bytes(field, value)
        self.modified(key)
        return old is None

    @redis_command("HSET", -4, "write denyoom fast")
    def _hset(self, key: Any, *pairs: Any) -> int:
        if len(pairs) % 2:
            raise ReplyError("ERR wrong number of arguments for 'hset' command")
        obj = self.hash_for_write(key)
        return sum(self.hash_set(key, obj, f, v) for f, v in zip(pairs[::2], pairs[1::2], strict=True))

    @redis_command("HMSET", -4, "write denyoom fast")
    def _hmset(self, key: Any, *pairs: Any) -> str:
        if len(pairs) % 2:
            raise ReplyError("ERR wrong number of arguments for 'hmset' command")
        obj = self.hash_for_write(key)
        for f, v in zip(pairs[::2], pairs[1::2], strict=True):
            self.hash_set(key, obj, f, v)
        return "OK"

    @redis_command("HSETNX", 4, "write denyoom fast")
    def _hsetnx(self, key: Any, field: Any, value: Any) -> int:
        obj = self.hash_for_write(key)
        if field in obj.value:
            return 0
        return int(self.hash_set(key, obj, field, value))

    @redis_command("HGET", 3, "readonly fast")
    def _hget(self, key: Any, field: Any) -> Any:
        obj = self.lookup_read(key, "hash")
        return None if obj is None else obj.value.get(field)

    @redis_command("HMGET", -3, "readonly fast")
    def _hmget(self, key: Any, *fields: Any) -> list[Any]:
        obj = self.lookup_read(key, "hash")
        h = {} if obj is None else obj.value
        return [h.get(f) for f in fields]

    @redis_command("HGETALL", 2, "readonly")
    def _hgetall(self, key: Any) -> list[Any]:
        obj = self.lookup_read(key, "hash")
        if obj is None:
            return []
        return [x for kv in obj.value.items() for x in kv]

    @redis_command("HKEYS", 2, "readonly")
    def _hkeys(self, key: Any) -> list[Any]:
        obj = self.lookup_read(key, "hash")
        return [] if obj is None else list(obj.value)

    @redis_command("HVALS", 2, "readonly")
    def _hvals(self, key: Any) -> list[Any]:
        obj = self.lookup_read(key, "hash")
        return [] if obj is None else list(obj.value.values())

    @redis_command("HLEN", 2, "readonly fast")
    def _hlen(self, key: Any) -> int:
        obj = self.lookup_read(key, "hash")
        return 0 if obj is None else len(obj.value)

    @redis_command("HEXISTS", 3, "readonly fast")
    def _hexists(self, key: Any, field: Any) -> int:
        obj = self.lookup_read(key, "hash")
        return int(obj is not None and field in obj.value)

    @redis_command("HDEL", -3, "write fast")
    def _hdel(self, key: Any, *fields: Any) -> int:
        obj = self.lookup_write(key, "hash")
        if obj is None:
            return 0
        h = obj.value
        deleted = 0
        for f in fields:
            if f in h:
                obj.size -= _pair_bytes(f, h.pop(f))
                deleted += 1
                if not h:
                    self.remove(key)
                    break
        if deleted and h:
            self.modified(key)
        return deleted

    @redis_command("HINCRBY", 4, "write denyoom fast")
    def _hincrby(self, key: Any, field: Any, incr: Any) -> int:
        n = parse_int(incr)
        obj = self.hash_for_write(key)
        cur = obj.value.get(field)
        value = 0 if cur is None else string2ll(cur)
        if value is None:
            raise ReplyError("ERR hash value is not an integer")
        if (n < 0 and value < 0 and n < LLONG_MIN - value) or (n > 0 and value > 0 and n > LLONG_MAX - value):
            raise ReplyError("ERR increment or decrement would overflow")
        value += n
        self.hash_set(key, obj, field, str(value).encode())
        return value
