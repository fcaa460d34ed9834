"""List commands, as ``t_list.c`` and ``blocked.c`` (Redis 7.0) run them, BLPOP/BRPOP included.

A blocking pop that finds every key empty parks the client (its reply is a
:class:`~simcache.sim.server.Deferred`): a push that creates one of its keys
makes the key ready, and after that command (or the whole MULTI/EXEC or
script) the clients blocked on it are served first blocked, first served
(``serveClientsBlockedOnListKey``) while the list has elements.  A client
whose timeout passes gets nil at the next ``beforeSleep`` or cron tick after
its deadline (``timeout < now`` in milliseconds), as Redis's timeout table
is checked; a timeout of 0 waits forever.  Inside MULTI (and scripts, which
may not call blocking commands at all) an empty pop answers nil at once.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from typing import Any

from simcache.sim.redis.core import ELEMENT_OVERHEAD, BlockRequest, RedisCore, RObj, redis_command, value_bytes
from simcache.sim.redis.proto import (
    LLONG_MAX,
    LLONG_MIN,
    index_range,
    parse_float,
    parse_positive_long,
    parse_range_long,
)
from simcache.sim.rpc import ReplyError


def _elem_bytes(e: Any) -> int:
    return value_bytes(e) + ELEMENT_OVERHEAD


def parse_long(b: Any) -> int:
    """``getLongFromObjectOrReply``."""
    return parse_range_long(b, LLONG_MIN, LLONG_MAX, None)


class ListCommands(RedisCore):
    """The list command group; a list is a deque."""

    def list_pop(self, key: Any, obj: RObj, where: str) -> Any:
        """``listTypePop`` + ``listElementsRemoved``: one element from the head (``"left"``) or tail."""
        q: deque[Any] = obj.value
        e = q.popleft() if where == "left" else q.pop()
        obj.size -= _elem_bytes(e)
        if q:
            self.modified(key)
        else:
            self.remove(key)
        return e

    def push_generic(self, key: Any, values: tuple[Any, ...], where: str, xx: bool = False) -> int:
        """``pushGenericCommand``."""
        obj = self.lookup_write(key, "list")
        if obj is None:
            if xx:
                return 0
            obj = RObj("list", deque(), 0)
            self.db_add(key, obj)
        q: deque[Any] = obj.value
        for v in values:
            if where == "left":
                q.appendleft(v)
            else:
                q.append(v)
            obj.size += _elem_bytes(v)
        self.modified(key)
        return len(q)

    @redis_command("LPUSH", -3, "write denyoom fast")
    def _lpush(self, key: Any, *values: Any) -> int:
        return self.push_generic(key, values, "left")

    @redis_command("RPUSH", -3, "write denyoom fast")
    def _rpush(self, key: Any, *values: Any) -> int:
        return self.push_generic(key, values, "right")

    @redis_command("LPUSHX", -3, "write denyoom fast")
    def _lpushx(self, key: Any, *values: Any) -> int:
        return self.push_generic(key, values, "left", xx=True)

    @redis_command("RPUSHX", -3, "write denyoom fast")
    def _rpushx(self, key: Any, *values: Any) -> int:
        return self.push_generic(key, values, "right", xx=True)

    def pop_generic(self, where: str, key: Any, *count_arg: Any) -> Any:
        """``popGenericCommand``: one element, or a list of up to ``count``."""
        if len(count_arg) > 1:
            raise ReplyError(f"ERR wrong number of arguments for '{'lpop' if where == 'left' else 'rpop'}' command")
        count = parse_positive_long(count_arg[0]) if count_arg else None
        obj = self.lookup_write(key, "list")
        if obj is None:
            return None
        if count is None:
            return self.list_pop(key, obj, where)
        return [self.list_pop(key, obj, where) for _ in range(min(count, len(obj.value)))]

    @redis_command("LPOP", -2, "write fast")
    def _lpop(self, key: Any, *count: Any) -> Any:
        return self.pop_generic("left", key, *count)

    @redis_command("RPOP", -2, "write fast")
    def _rpop(self, key: Any, *count: Any) -> Any:
        return self.pop_generic("right", key, *count)

    @redis_command("LLEN", 2, "readonly fast")
    def _llen(self, key: Any) -> int:
        obj = self.lookup_read(key, "list")
        return 0 if obj is None else len(obj.value)

    @redis_command("LRANGE", 4, "readonly")
    def _lrange(self, key: Any, start_arg: Any, end_arg: Any) -> list[Any]:
        start, end = parse_long(start_arg), parse_long(end_arg)
        obj = self.lookup_read(key, "list")
        if obj is None:
            return []
        q: deque[Any] = obj.value
        span = index_range(start, end, len(q))
        return [] if span is None else list(itertools.islice(q, *span))

    @redis_command("LINDEX", 3, "readonly")
    def _lindex(self, key: Any, index_arg: Any) -> Any:
        obj = self.lookup_read(key, "list")
        if obj is None:
            return None
        i = parse_long(index_arg)
        q = obj.value
        if i < 0:
            i += len(q)
        return q[i] if 0 <= i < len(q) else None

    @redis_command("LTRIM", 4, "write")
    def _ltrim(self, key: Any, start_arg: Any, end_arg: Any) -> str:
        start, end = parse_long(start_arg), parse_long(end_arg)
        obj = self.lookup_write(key, "list")
        if obj is None:
            return "OK"
        q: deque[Any] = obj.value
        span = index_range(start, end, len(q))
        keep = [] if span is None else list(itertools.islice(q, *span))
        obj.value = deque(keep)
        obj.size = sum(_elem_bytes(e) for e in keep)
        if keep:
            self.modified(key)
        else:
            self.remove(key)
        return "OK"

    # ------------------------------------------------------------ blocking
    def blocking_pop(self, where: str, args: tuple[Any, ...]) -> Any:
        """``blockingPopGenericCommand``: pop from the first non-empty key, or block."""
        keys, timeout_arg = args[:-1], args[-1]
        seconds = parse_float(timeout_arg, "ERR timeout is not a float or out of range")
        tval = math.ceil(seconds * 1000.0) if math.isfinite(seconds) else LLONG_MAX
        if tval < 0:
            raise ReplyError("ERR timeout is negative")
        deadline = tval + self.mstime() if tval > 0 else 0
        for key in keys:
            obj = self.lookup_write(key, "list")
            if obj is None or not obj.value:
                continue
            return [key, self.list_pop(key, obj, where)]
        if self.in_exec or self.in_script:
            return None  # not allowed to block: as if timed out at once
        return BlockRequest(tuple(keys), where, deadline)

    @redis_command("BLPOP", -3, "write noscript blocking")
    def _blpop(self, *args: Any) -> Any:
        return self.blocking_pop("left", args)

    @redis_command("BRPOP", -3, "write noscript blocking")
    def _brpop(self, *args: Any) -> Any:
        return self.blocking_pop("right", args)

    def serve_ready_keys(self) -> None:
        """``handleClientsBlockedOnKeys`` for lists: serve each ready key's clients in the order they blocked."""
        while self.ready_keys:
            keys = list(self.ready_keys)
            self.ready_keys.clear()
            for key in keys:
                obj = self.lookup(key, nostats=True)
                if obj is None or obj.type != "list":
                    continue
                q = self.blocking_keys.get(key)
                for b in list(q or ()):
                    if key not in self.data:
                        break  # the list is empty and gone
                    if not b.ready:
                        continue  # its blocking command is still in service (a pipeline resumed meanwhile)
                    value = self.list_pop(key, obj, b.where)
                    self.unblock_entry(b)
                    b.resume([key, value])
