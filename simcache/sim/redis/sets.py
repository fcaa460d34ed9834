"""Set commands, as ``t_set.c`` (Redis 7.0) runs them: SADD, SREM, SMEMBERS, SINTER, SUNION, SDIFF, SCARD, SISMEMBER.

A set is a dict used as an ordered set, so a simulation is reproducible
whatever Python's hash seed; members come back in insertion order (a real
server returns an intset's members sorted and a hash table's in hash order;
redis-py turns the reply into a Python ``set`` either way).
"""

from __future__ import annotations

from typing import Any

from simcache.sim.redis.core import ELEMENT_OVERHEAD, RedisCore, RObj, redis_command, value_bytes


def _member_bytes(m: Any) -> int:
    return value_bytes(m) + ELEMENT_OVERHEAD


class SetCommands(RedisCore):
    """The set command group."""

    @redis_command("SADD", -3, "write denyoom fast")
    def _sadd(self, key: Any, *members: Any) -> int:
        obj = self.lookup_write(key, "set")
        if obj is None:
            obj = RObj("set", {}, 0)
            self.db_add(key, obj)
        s: dict[Any, None] = obj.value
        added = 0
        for m in members:
            if m not in s:
                s[m] = None
                obj.size += _member_bytes(m)
                added += 1
        self.modified(key)
        return added

    @redis_command("SREM", -3, "write fast")
    def _srem(self, key: Any, *members: Any) -> int:
        obj = self.lookup_write(key, "set")
        if obj is None:
            return 0
        s: dict[Any, None] = obj.value
        deleted = 0
        for m in members:
            if m in s:
                del s[m]
                obj.size -= _member_bytes(m)
                deleted += 1
                if not s:
                    self.remove(key)
                    break
        if deleted and s:
            self.modified(key)
        return deleted

    def sets_of(self, keys: tuple[Any, ...]) -> list[dict[Any, None] | None]:
        """Each key's members (None for a missing key); WRONGTYPE as soon as a key is not a set."""
        out: list[dict[Any, None] | None] = []
        for k in keys:
            obj = self.lookup_read(k, "set")
            out.append(None if obj is None else obj.value)
        return out

    @redis_command("SMEMBERS", 2, "readonly")
    def _smembers(self, key: Any) -> list[Any]:
        return self._sinter(key)

    @redis_command("SINTER", -2, "readonly")
    def _sinter(self, *keys: Any) -> list[Any]:
        sets = self.sets_of(keys)
        if any(s is None for s in sets):
            return []
        present = [s for s in sets if s is not None]
        present.sort(key=len)  # qsortCompareSetsByCardinality: walk the smallest
        first, rest = present[0], present[1:]
        return [m for m in first if all(m in s for s in rest)]

    @redis_command("SUNION", -2, "readonly")
    def _sunion(self, *keys: Any) -> list[Any]:
        out: dict[Any, None] = {}
        for s in self.sets_of(keys):
            if s is not None:
                out.update(s)
        return list(out)

    @redis_command("SDIFF", -2, "readonly")
    def _sdiff(self, *keys: Any) -> list[Any]:
        sets = self.sets_of(keys)
        if sets[0] is None:
            return []
        others = [s for s in sets[1:] if s is not None]
        return [m for m in sets[0] if not any(m in s for s in others)]

    @redis_command("SCARD", 2, "readonly fast")
    def _scard(self, key: Any) -> int:
        obj = self.lookup_read(key, "set")
        return 0 if obj is None else len(obj.value)

    @redis_command("SISMEMBER", 3, "readonly fast")
    def _sismember(self, key: Any, member: Any) -> int:
        obj = self.lookup_read(key, "set")
        return int(obj is not None and member in obj.value)

    @redis_command("SMISMEMBER", -3, "readonly fast")
    def _smismember(self, key: Any, *members: Any) -> list[int]:
        obj = self.lookup_read(key, "set")
        s = {} if obj is None else obj.value
        return [int(m in s) for m in members]
